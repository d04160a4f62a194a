//! Signing in on the pages: email, then the one-time code (read from the server's log), then
//! back to the page the patient came from, with an HttpOnly session cookie that same-origin
//! scripts' API calls use and that signing out makes worthless at once.

use reqwest::StatusCode;

use crate::harness::{Look, browser_test};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_by_email_comes_back_to_the_page_and_signing_out_ends_the_session() {
    browser_test("sign_in", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        let next = format!("/doctors/{doctor}");
        browser.open(&next).await;

        // The header's "Sign in" remembers the page.
        browser.click(".site-nav a[href^='/login']").await;
        browser
            .wait_for_path("the sign-in page", |path| {
                path.starts_with("/login?next=%2Fdoctors%2F")
            })
            .await;

        // An address the server cannot use is explained on the page, and kept in the form.
        browser.type_into("input[name=email]", "ada@example").await;
        browser.click("form[action='/login'] button[type=submit]").await;
        let alert = browser.find(".alert").await.text().await.unwrap();
        assert!(alert.contains("email address like"), "{alert}");
        let kept = browser.find("input[name=email]").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("ada@example"));

        // A code is sent; a wrong one is refused on the page with the address kept.
        let mark = rig.server.log_len();
        browser.type_into("input[name=email]", "ada@example.org").await;
        browser.click("form[action='/login'] button[type=submit]").await;
        browser.find("input[name=code]").await;
        let code = rig.server.code_for("ada@example.org", mark).await;
        assert_eq!(code.len(), 6, "a six-digit code in the log");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        browser.type_into("input[name=code]", wrong).await;
        browser.click("form[action='/login/code'] button[type=submit]").await;
        let alert = browser.find(".alert").await.text().await.unwrap();
        assert!(alert.contains("not right"), "{alert}");
        let main = browser.find("main").await.text().await.unwrap();
        assert!(main.contains("ada@example.org"), "{main}");

        // The right code signs a new patient in; they are welcomed (name and date of birth,
        // a date in the future refused) and go on to the doctor's page they came from.
        browser.type_into("input[name=code]", &code).await;
        browser.click("form[action='/login/code'] button[type=submit]").await;
        browser
            .wait_for_path("the welcome step", |path| path.starts_with("/welcome"))
            .await;
        browser.type_into("input[name=name]", "Ada Lovelace").await;
        browser
            .eval("document.querySelector('input[name=date_of_birth]').value = '2999-01-01'; return true;")
            .await;
        browser.click("form[action='/welcome'] button[type=submit]").await;
        let alert = browser.find(".alert").await.text().await.unwrap();
        assert!(alert.contains("future"), "{alert}");
        crate::booking::complete_welcome(&browser, "Ada Lovelace").await;
        browser
            .wait_for_path("the page the patient came from", |path| path == next)
            .await;
        let header = browser.find(".site-header").await.text().await.unwrap();
        assert!(
            header.contains("Ada Lovelace") && header.contains("Sign out"),
            "{header}"
        );

        let cookie = browser
            .client
            .get_named_cookie("medibook_session")
            .await
            .expect("the session cookie");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Lax)");
        assert_eq!(cookie.path(), Some("/"));
        let token = cookie.value().to_owned();

        // Same-origin scripts call the API signed in with the cookie alone.
        let email = browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch('/api/v1/me').then(r => r.json()).then(me => done(me.email), e => done(String(e)));",
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(email, "ada@example.org");

        // Signing out ends the session: the old cookie is worthless at once.
        browser.click("form[action='/logout'] button").await;
        browser.wait_for_path("the home page", |path| path == "/").await;
        let header = browser.find(".site-header").await.text().await.unwrap();
        assert!(header.contains("Sign in") && !header.contains("ada@example.org"), "{header}");
        let replayed = reqwest::Client::new()
            .get(rig.server.url("/api/v1/me"))
            .header("cookie", format!("medibook_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
}
