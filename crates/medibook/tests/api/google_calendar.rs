//! Google Calendar end to end, against a local server speaking Google's OAuth and Calendar
//! protocol (`fake_google`): connect from the profile (authorization code with PKCE), book →
//! event inserted with the right instants and reminders, reschedule → the same event updated,
//! cancel → deleted, an expired access token → refreshed, reconnecting → still one event per
//! appointment, revoked at Google → shown on the profile with the reason and a Reconnect button.
//!
//! Sync rounds are run directly (`TestApp::calendar`), as the server's worker runs them, so
//! nothing waits on a timer.

#![allow(clippy::expect_used)]

use medibook_core::calendar_sync::SyncReport;
use reqwest::StatusCode;
use reqwest::header;
use serde_json::json;

use crate::fake_google::{FakeGoogle, PUBLIC_URL};
use crate::harness::{Backend, TestApp, launch, launch_with, tuesday};
use crate::pages::{browser_like, get_page, post_form};
use crate::pages_booking::signed_in;

macro_rules! google_tests {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let google = super::FakeGoogle::start().await;
                    if let Some(app) = super::launch_with(
                        super::Backend::Sqlite,
                        |settings| google.configure(settings),
                    ).await {
                        super::$scenario(app, google).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let google = super::FakeGoogle::start().await;
                    if let Some(app) = super::launch_with(
                        super::Backend::Postgres,
                        |settings| google.configure(settings),
                    ).await {
                        super::$scenario(app, google).await;
                    }
                }
            )*
        }
    };
}

google_tests!(
    google_calendar_follows_bookings_from_connect_to_revocation,
    connecting_needs_a_fresh_state_of_ones_own_and_consent,
    a_google_outage_is_shown_and_retried,
);

mod without_google {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = launch(Backend::Sqlite).await {
            google_calendar_is_off_without_a_client(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = launch(Backend::Postgres).await {
            google_calendar_is_off_without_a_client(app).await;
        }
    }
}

/// The event id of an appointment: `mb` and its UUID without dashes.
fn event_id(appointment_id: &str) -> String {
    format!("mb{}", appointment_id.replace('-', ""))
}

async fn sync(app: &TestApp) -> SyncReport {
    app.calendar
        .as_ref()
        .expect("Google Calendar is configured")
        .sync_round()
        .await
        .expect("a sync round")
}

/// Connect (or Reconnect) on the profile, through Google's consent page and back; returns the
/// notice the profile is sent to.
async fn connect(app: &TestApp, google: &FakeGoogle, cookie: &str) -> String {
    let started = post_form(app, "/profile/google/connect", &[], Some(cookie)).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let consent_url = started.header(header::LOCATION).to_owned();
    assert!(
        consent_url.starts_with(&format!("{}/o/oauth2/v2/auth?", google.base)),
        "{consent_url}"
    );
    let consent = browser_like()
        .get(&consent_url)
        .send()
        .await
        .expect("the consent page answers");
    assert_eq!(consent.status(), StatusCode::SEE_OTHER, "the fake consents");
    let back = consent
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a redirect back")
        .to_owned();
    let path = back
        .strip_prefix(PUBLIC_URL)
        .expect("Google sends the person back to the public URL");
    assert!(path.starts_with("/profile/google/callback?"), "{path}");
    let finished = get_page(app, path, Some(cookie)).await;
    assert_eq!(finished.status, StatusCode::SEE_OTHER, "{}", finished.html);
    finished.header(header::LOCATION).to_owned()
}

async fn google_calendar_follows_bookings_from_connect_to_revocation(
    app: TestApp,
    google: FakeGoogle,
) {
    let email = "ada@example.org";
    let cookie = signed_in(&app, email).await;
    let token = app.sign_in(email).await;

    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(
        profile.html.contains("Connect Google Calendar"),
        "{}",
        profile.html
    );
    // The Connect form may lead to Google's consent page; every other page keeps 'self' only.
    assert!(
        profile
            .header(header::CONTENT_SECURITY_POLICY)
            .contains(&format!("form-action 'self' {};", google.base)),
        "{}",
        profile.header(header::CONTENT_SECURITY_POLICY)
    );
    let home = get_page(&app, "/", Some(&cookie)).await;
    assert!(
        !home
            .header(header::CONTENT_SECURITY_POLICY)
            .contains(&google.base)
    );
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(status.body["enabled"], true, "{}", status.body);
    assert_eq!(status.body["connected"], false, "{}", status.body);

    // Connect.
    assert_eq!(
        connect(&app, &google, &cookie).await,
        "/profile?notice=google-connected#google-calendar"
    );
    assert_eq!(google.counts().code_exchanges, 1);
    let profile = get_page(&app, "/profile?notice=google-connected", Some(&cookie)).await;
    assert!(profile.html.contains("Your Google Calendar is connected."));
    assert!(profile.html.contains("Connected since"), "{}", profile.html);
    assert!(profile.html.contains("Disconnect Google Calendar"));
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(status.body["status"], "active", "{}", status.body);

    // The refresh token is stored encrypted.
    let refresh_token = google.refresh_tokens().pop().expect("a refresh token");
    let stored: String = {
        medibook_store::sql::query(
            "SELECT refresh_token_ciphertext || nonce AS sealed FROM google_connections",
        )
        .fetch_one(app.database.pool())
        .await
        .expect("a connection")
        .try_get("sealed")
        .expect("text")
    };
    assert!(!stored.contains(&refresh_token));
    assert!(!stored.contains(&hex_of(&refresh_token)));

    // Book → one event, at the right instants, in the doctor's zone, with our reminders.
    let first = app.book(&token, &tuesday("10:00")).await;
    let report = sync(&app).await;
    assert_eq!(report.sent, 1, "{report:?}");
    let event = google.event(&event_id(&first)).expect("the event exists");
    assert_eq!(event["start"]["dateTime"], "2027-03-02T09:00:00Z");
    assert_eq!(event["end"]["dateTime"], "2027-03-02T09:30:00Z");
    assert_eq!(event["start"]["timeZone"], "Europe/Berlin");
    assert_eq!(event["summary"], "Appointment with Dr. Anna Smith");
    assert_eq!(event["location"], "MediBook clinic");
    assert_eq!(
        event["reminders"],
        json!({ "useDefault": false, "overrides": [
            { "method": "email", "minutes": 1440 },
            { "method": "popup", "minutes": 60 },
        ]})
    );
    assert!(
        !event.to_string().contains("Check-up"),
        "the reason for the visit stays private"
    );
    assert_eq!(google.counts().inserts, 1);
    assert_eq!(
        google.counts().refreshes,
        0,
        "the access token of the code exchange is reused"
    );
    // Nothing changed: nothing is sent.
    let calls = google.counts().calendar_requests;
    assert_eq!(sync(&app).await, SyncReport::default());
    assert_eq!(google.counts().calendar_requests, calls);

    // Reschedule → the same event moves.
    app.advance(1);
    let hold = app.hold(&token, app.doctor, &tuesday("11:00")).await;
    let moved = app.reschedule(&token, &first, &hold.id()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(sync(&app).await.sent, 1);
    let event = google.event(&event_id(&first)).expect("the event exists");
    assert_eq!(event["start"]["dateTime"], "2027-03-02T10:00:00Z");
    assert_eq!(event["end"]["dateTime"], "2027-03-02T10:30:00Z");
    assert_eq!(google.counts().updates, 1);
    assert_eq!(google.live_events().len(), 1);

    // Google stops accepting the access token → 401 → refreshed once, and the change goes out.
    google.expire_access_tokens();
    let second = app.book(&token, &tuesday("14:00")).await;
    assert_eq!(sync(&app).await.sent, 1);
    assert_eq!(google.counts().unauthorized, 1);
    assert_eq!(google.counts().refreshes, 1);
    assert!(google.event(&event_id(&second)).is_some());
    // An hour later the cached token has expired: a fresh one is asked for before any call.
    app.advance(61);
    let cancelled = app.cancel(&token, &second).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(sync(&app).await.sent, 1);
    assert_eq!(google.counts().refreshes, 2);
    assert_eq!(
        google.counts().unauthorized,
        1,
        "no call with a stale token"
    );
    // Cancel → deleted.
    assert_eq!(
        google.event(&event_id(&second)).expect("kept")["status"],
        "cancelled"
    );
    assert_eq!(google.counts().deletes, 1);
    assert_eq!(google.live_events().len(), 1);

    // Reconnecting (a second consent) never duplicates: the insert meets 409 and updates.
    assert_eq!(
        connect(&app, &google, &cookie).await,
        "/profile?notice=google-connected#google-calendar"
    );
    let report = sync(&app).await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(google.counts().conflicts, 1);
    assert_eq!(google.live_events().len(), 1);
    assert_eq!(google.all_events(), 2, "one event per appointment, ever");

    // Disconnect: the token is revoked at Google and forgotten; nothing is synced meanwhile.
    let disconnected = post_form(&app, "/profile/google/disconnect", &[], Some(&cookie)).await;
    assert_eq!(
        disconnected.status,
        StatusCode::SEE_OTHER,
        "{}",
        disconnected.html
    );
    assert_eq!(google.revoked_by_client().len(), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM google_connections").await,
        0
    );
    let profile = get_page(&app, "/profile?notice=google-disconnected", Some(&cookie)).await;
    assert!(
        profile
            .html
            .contains("Your Google Calendar is disconnected.")
    );
    assert!(profile.html.contains("Connect Google Calendar"));
    let third = app.book(&token, &tuesday("15:00")).await;
    app.advance(1);
    let hold = app.hold(&token, app.doctor, &tuesday("16:00")).await;
    let moved = app.reschedule(&token, &first, &hold.id()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let calls = google.counts().calendar_requests;
    assert_eq!(sync(&app).await, SyncReport::default());
    assert_eq!(google.counts().calendar_requests, calls);
    // … and after connecting again, still exactly one event per appointment, and the event
    // that already existed (409 to the insert) shows the move made while disconnected.
    connect(&app, &google, &cookie).await;
    sync(&app).await;
    assert_eq!(google.live_events().len(), 2);
    assert_eq!(google.all_events(), 3);
    assert_eq!(
        google.event(&event_id(&first)).expect("kept")["start"]["dateTime"],
        "2027-03-02T15:00:00Z"
    );
    assert_eq!(
        google.event(&event_id(&third)).expect("inserted")["start"]["dateTime"],
        "2027-03-02T14:00:00Z"
    );

    // The person removes MediBook's access in their Google account: the next change finds out,
    // the connection is marked revoked with Google's reason, and nothing is retried silently.
    google.revoke_all_grants();
    app.advance(1);
    app.cancel(&token, &third).await;
    let report = sync(&app).await;
    assert_eq!(report.revoked, 1, "{report:?}");
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(status.body["status"], "revoked", "{}", status.body);
    let reason = status.body["last_error"].as_str().expect("a reason");
    assert!(reason.contains("invalid_grant"), "{reason}");
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(
        profile.html.contains(
            "Google stopped accepting MediBook's access (invalid_grant: Token has been expired or \
             revoked). Your appointments are no longer updated"
        ),
        "{}",
        profile.html
    );
    assert!(profile.html.contains("Reconnect Google Calendar"));
    let refused = google.counts().refused_refreshes;
    assert_eq!(
        sync(&app).await,
        SyncReport::default(),
        "a revoked calendar waits"
    );
    assert_eq!(google.counts().refused_refreshes, refused);

    // Reconnect: the cancellation made meanwhile reaches the calendar.
    connect(&app, &google, &cookie).await;
    let report = sync(&app).await;
    assert_eq!(report.failed + report.revoked, 0, "{report:?}");
    assert_eq!(
        google.event(&event_id(&third)).expect("kept")["status"],
        "cancelled"
    );
    assert_eq!(google.live_events().len(), 1);
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(status.body["status"], "active", "{}", status.body);
    assert_eq!(status.body["last_error"], serde_json::Value::Null);
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn connecting_needs_a_fresh_state_of_ones_own_and_consent(app: TestApp, google: FakeGoogle) {
    let ada = signed_in(&app, "ada@example.org").await;
    let bob = signed_in(&app, "bob@example.org").await;

    // Refused consent: a friendly notice, nothing stored.
    google.deny_next_consent();
    assert_eq!(
        connect(&app, &google, &ada).await,
        "/profile?notice=google-denied#google-calendar"
    );
    let profile = get_page(&app, "/profile?notice=google-denied", Some(&ada)).await;
    assert!(
        profile.html.contains("access was not granted"),
        "{}",
        profile.html
    );

    // A state started by Ada does not work for Bob, and is used up by trying.
    let started = post_form(&app, "/profile/google/connect", &[], Some(&ada)).await;
    let consent = browser_like()
        .get(started.header(header::LOCATION))
        .send()
        .await
        .expect("consent");
    let back = consent.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .strip_prefix(PUBLIC_URL)
        .expect("public URL")
        .to_owned();
    let stolen = get_page(&app, &back, Some(&bob)).await;
    assert_eq!(
        stolen.header(header::LOCATION),
        "/profile?notice=google-expired#google-calendar"
    );
    let replayed = get_page(&app, &back, Some(&ada)).await;
    assert_eq!(
        replayed.header(header::LOCATION),
        "/profile?notice=google-expired#google-calendar"
    );
    assert_eq!(google.counts().code_exchanges, 0, "no code was exchanged");

    // A state older than ten minutes is refused.
    let started = post_form(&app, "/profile/google/connect", &[], Some(&ada)).await;
    let consent = browser_like()
        .get(started.header(header::LOCATION))
        .send()
        .await
        .expect("consent");
    let back = consent.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .strip_prefix(PUBLIC_URL)
        .expect("public URL")
        .to_owned();
    app.advance(11);
    let late = get_page(&app, &back, Some(&ada)).await;
    assert_eq!(
        late.header(header::LOCATION),
        "/profile?notice=google-expired#google-calendar"
    );
    let profile = get_page(&app, "/profile?notice=google-expired", Some(&ada)).await;
    assert!(profile.html.contains("Please connect again."));

    // Made-up parameters, and a connect posted from another site.
    let forged = get_page(
        &app,
        "/profile/google/callback?code=x&state=nope",
        Some(&ada),
    )
    .await;
    assert_eq!(
        forged.header(header::LOCATION),
        "/profile?notice=google-expired#google-calendar"
    );
    let empty = get_page(&app, "/profile/google/callback", Some(&ada)).await;
    assert_eq!(empty.status, StatusCode::SEE_OTHER);
    let cross_site = browser_like()
        .post(app.url("/profile/google/connect"))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &ada)
        .send()
        .await
        .expect("a response");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let stranger = get_page(&app, "/profile/google/callback?code=x&state=y", None).await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
    assert!(
        stranger
            .header(header::LOCATION)
            .starts_with("/login?next=")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM google_connections").await,
        0
    );
}

async fn a_google_outage_is_shown_and_retried(app: TestApp, google: FakeGoogle) {
    let email = "ada@example.org";
    let cookie = signed_in(&app, email).await;
    let token = app.sign_in(email).await;
    connect(&app, &google, &cookie).await;
    let booked = app.book(&token, &tuesday("10:00")).await;

    google.fail_calendar_requests(1);
    let report = sync(&app).await;
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(report.revoked, 0);
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(status.body["status"], "active", "{}", status.body);
    assert!(
        status.body["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{}",
        status.body
    );
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(
        profile.html.contains("did not go through") && profile.html.contains("tries again"),
        "{}",
        profile.html
    );

    // The next round sends it and clears the error.
    assert_eq!(sync(&app).await.sent, 1);
    assert!(google.event(&event_id(&booked)).is_some());
    let status = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(
        status.body["last_error"],
        serde_json::Value::Null,
        "{}",
        status.body
    );
}

async fn google_calendar_is_off_without_a_client(app: TestApp) {
    assert!(app.calendar.is_none());
    let cookie = signed_in(&app, "ada@example.org").await;
    let token = app.sign_in("ada@example.org").await;
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(
        !profile.html.contains("id=\"google-calendar\""),
        "{}",
        profile.html
    );
    let connect = post_form(&app, "/profile/google/connect", &[], Some(&cookie)).await;
    assert_eq!(connect.status, StatusCode::NOT_FOUND);
    connect.assert_html();
    let callback = get_page(
        &app,
        "/profile/google/callback?code=x&state=y",
        Some(&cookie),
    )
    .await;
    assert_eq!(callback.status, StatusCode::NOT_FOUND);
    let api = app.get(Some(&token), "/api/v1/me/google").await;
    assert_eq!(api.status, StatusCode::OK);
    assert_eq!(api.body["enabled"], false, "{}", api.body);
    assert_eq!(api.body["connected"], false);
}
