//! Signing in on the pages with a one-time code, and signing out.
//!
//! 1. `GET /login?next=/path` asks for an email address (or, with `?by=phone`, a phone number).
//! 2. `POST /login` sends a code through the same core service as `POST /api/v1/auth/otp`
//!    (same rate limits) and asks for it.
//! 3. `POST /login/code` checks it like `POST /api/v1/auth/verify`, starts a session and sets
//!    the [`SESSION_COOKIE`](crate::shell::auth::SESSION_COOKIE): an access token that expires with the
//!    session, HttpOnly, `SameSite=Lax`, `Path=/`, `Secure` over HTTPS. Then it redirects to
//!    `next` if that is a path of this site, else to `/`.
//!
//! `POST /logout` ends the session on the server, so the cookie stops working at once even if
//! a copy of it survives, and clears it.
//!
//! Whatever goes wrong (a malformed address, a wrong or expired code, too many tries) is said
//! on the page, with what the person typed kept in the form. Both posts refuse a request from
//! another site, so no site can sign a visitor in to an account of its choosing.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::identity::{Email, Identifier, PhoneNumber};

use crate::pages::browse::query_param;
use crate::pages::error::PageError;
use crate::pages::format;
use crate::pages::forms::{FormFields, PostedForm, SameSite};
use crate::pages::{Layout, Section, Viewer};
use crate::shell::AppState;
use crate::shell::auth::{clear_session_cookie, session_cookie, session_cookie_token};
use crate::shell::client::ClientIp;

/// Percent-encodes `text` for a query parameter value.
pub fn encode_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Where to go after signing in: `next` if it is a path on this site (one leading `/`, not
/// `//` or `/\`, which browsers read as another host; printable ASCII only), else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.chars().all(|c| c.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Whether the person signs in by email or by phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A code by email (`input[name=email]`).
    Email,
    /// A code by text message (`input[name=phone]`).
    Phone,
}

/// The fields of a sign-in form.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SignInForm {
    channel: Channel,
    /// What was typed as the email or phone, kept to show it again.
    address: String,
    code: String,
    next: String,
}

impl SignInForm {
    /// Reads the posted fields.
    fn read(fields: &FormFields) -> Self {
        let (channel, address) = match fields.value("phone") {
            Some(phone) if fields.value("email").is_none() || !phone.is_empty() => {
                (Channel::Phone, phone)
            }
            _ => (Channel::Email, fields.get("email")),
        };
        Self {
            channel,
            address: address.to_owned(),
            code: fields.get("code").to_owned(),
            next: safe_next(fields.value("next")),
        }
    }

    /// The email or phone as the core takes it, or what to tell the person.
    fn identifier(&self) -> Result<Identifier, String> {
        match self.channel {
            Channel::Email if self.address.is_empty() => Err("Enter your email address.".into()),
            Channel::Email => Email::parse(&self.address)
                .map(Identifier::Email)
                .map_err(|_| "Enter an email address like name@example.org.".into()),
            Channel::Phone if self.address.is_empty() => {
                Err("Enter your mobile phone number.".into())
            }
            Channel::Phone => PhoneNumber::parse(&self.address)
                .map(Identifier::Phone)
                .map_err(|_| {
                    "Enter a mobile number in international form, like +49 151 2345678.".into()
                }),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct AddressPage {
    layout: Layout,
    by_phone: bool,
    address: String,
    next: String,
    error: Option<String>,
    /// The link that switches between email and phone.
    switch_href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "login_code.html")]
struct CodePage {
    layout: Layout,
    by_phone: bool,
    address: String,
    next: String,
    error: Option<String>,
    restart_href: String,
    /// Development mode without a delivery channel: the code, shown in a marked banner.
    development_code: Option<String>,
}

fn login_href(next: &str, channel: Channel) -> String {
    let mut href = "/login".to_owned();
    let mut separator = '?';
    if channel == Channel::Phone {
        href.push_str("?by=phone");
        separator = '&';
    }
    if next != "/" {
        href.push(separator);
        href.push_str("next=");
        href.push_str(&encode_component(next));
    }
    href
}

fn address_page(
    viewer: &Viewer,
    uri: &Uri,
    channel: Channel,
    address: String,
    next: String,
    error: Option<String>,
) -> AddressPage {
    let other = match channel {
        Channel::Email => Channel::Phone,
        Channel::Phone => Channel::Email,
    };
    AddressPage {
        layout: Layout::new(viewer, "Sign in", Section::SignIn, uri),
        by_phone: channel == Channel::Phone,
        address,
        switch_href: login_href(&next, other),
        next,
        error,
    }
}

fn code_page(viewer: &Viewer, uri: &Uri, form: &SignInForm, error: Option<String>) -> CodePage {
    CodePage {
        development_code: None,
        layout: Layout::new(viewer, "Enter your code", Section::SignIn, uri),
        by_phone: form.channel == Channel::Phone,
        address: form.address.clone(),
        next: form.next.clone(),
        error,
        restart_href: login_href(&form.next, form.channel),
    }
}

/// `GET /login?next=/path[&by=phone]`: step 1, the email or phone.
pub async fn form(viewer: Viewer, uri: Uri, RawQuery(raw): RawQuery) -> Response {
    let next = safe_next(query_param(raw.as_deref(), "next").as_deref());
    if viewer.person.is_some() {
        return Redirect::to(&next).into_response();
    }
    let channel = match query_param(raw.as_deref(), "by").as_deref() {
        Some("phone") => Channel::Phone,
        _ => Channel::Email,
    };
    address_page(&viewer, &uri, channel, String::new(), next, None).into_response()
}

/// What to tell a person whose code request or code check was refused, and with what status.
fn refusal(error: BookingError, channel: Channel) -> (StatusCode, String) {
    match error {
        BookingError::RateLimited {
            retry_after_seconds,
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many codes were asked for. Please wait {} and try again.",
                format::wait_time(retry_after_seconds)
            ),
        ),
        BookingError::OtpInvalid => (
            StatusCode::BAD_REQUEST,
            "That code is not right, or it is no longer valid: codes last 10 minutes and stop \
             working after 5 wrong tries. Check the latest message, or ask for a new code."
                .to_owned(),
        ),
        BookingError::Validation(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the 6-digit code from the message we sent you.".to_owned(),
        ),
        BookingError::StorageFull | BookingError::DatabaseUnavailable => {
            tracing::warn!(code = error.code(), "sign-in could not be served: {error}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "We cannot sign you in right now. Please try again in a few minutes.".to_owned(),
            )
        }
        BookingError::Storage(message) => {
            tracing::error!(error = %message, "storage failure while signing in");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Please try again in a moment.".to_owned(),
            )
        }
        other => {
            let what = match channel {
                Channel::Email => "email address",
                Channel::Phone => "phone number",
            };
            tracing::warn!(error = %other, "sign-in refused");
            (
                StatusCode::BAD_REQUEST,
                format!("We could not sign you in with that {what}. Please try again."),
            )
        }
    }
}

/// Step 1 again, with `message` about the email or phone number given (422).
fn address_refused(viewer: &Viewer, uri: &Uri, form: SignInForm, message: String) -> Response {
    let page = address_page(
        viewer,
        uri,
        form.channel,
        form.address,
        form.next,
        Some(message),
    );
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

/// `POST /login`: sends a code and asks for it (step 2).
pub async fn send_code(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    client: ClientIp,
    PostedForm(fields): PostedForm,
) -> Result<Response, PageError> {
    let form = SignInForm::read(&fields);
    let identifier = match form.identifier() {
        Ok(identifier) => identifier,
        Err(message) => return Ok(address_refused(&viewer, &uri, form, message)),
    };
    match state
        .signin
        .request_code(&identifier, client.limit_key().as_deref())
        .await
    {
        Ok(development_code) => Ok(CodePage {
            development_code,
            ..code_page(&viewer, &uri, &form, None)
        }
        .into_response()),
        Err(error) => {
            let (status, message) = match error {
                // The clinic cannot reach this kind of address (no SMS channel, say): say so.
                BookingError::Validation(message) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    crate::pages::error::sentence(&message),
                ),
                other => refusal(other, form.channel),
            };
            let page = address_page(
                &viewer,
                &uri,
                form.channel,
                form.address,
                form.next,
                Some(message),
            );
            Ok((status, page).into_response())
        }
    }
}

/// `POST /login/code`: checks the code, starts a session, sets the cookie and goes to `next`.
pub async fn verify_code(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    client: ClientIp,
    PostedForm(fields): PostedForm,
) -> Result<Response, PageError> {
    let form = SignInForm::read(&fields);
    let identifier = match form.identifier() {
        Ok(identifier) => identifier,
        Err(message) => return Ok(address_refused(&viewer, &uri, form, message)),
    };
    let user = match state.signin.verify(&identifier, &form.code).await {
        Ok(user) => user,
        Err(error) => {
            let (status, message) = refusal(error, form.channel);
            let page = code_page(&viewer, &uri, &form, Some(message));
            return Ok((status, page).into_response());
        }
    };
    let grant = state.sessions.start(&user).await?;
    let session = grant.session;
    let issued = state
        .tokens
        .issue_until(&user, session.id, session.expires_at)?;
    let max_age = session
        .expires_at
        .duration_since(state.sessions.now())
        .as_secs();
    let cookie = session_cookie(&issued.token, max_age, state.web.secure_cookies);
    // A patient without a name or date of birth on record is welcomed first, then goes on
    // (holding the slot they chose, if they came from one).
    let record = state.records.own(user.id).await?;
    let to = if crate::pages::welcome::needs_welcome(&record) {
        crate::pages::welcome::welcome_href(&form.next)
    } else {
        let actor = Actor::user(user.id, user.role, client.key());
        crate::pages::resume::after_sign_in(&state, &actor, user.id, &form.next).await?
    };
    Ok(redirect_with_cookie(&to, &cookie))
}

/// A 303 to `to` that sets `cookie`.
fn redirect_with_cookie(to: &str, cookie: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Err(_) => return PageError::internal().into_response(),
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /logout`: ends the page session and clears its cookie, then goes home.
pub async fn sign_out(
    State(state): State<AppState>,
    _: SameSite,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(token) = session_cookie_token(&headers)
        && let Ok(user) = state.tokens.verify(token)
    {
        state.sessions.end(user.session_id).await?;
    }
    Ok(redirect_with_cookie(
        "/",
        &clear_session_cookie(state.web.secure_cookies),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/doctors/1?week=2027-03-01")),
            "/doctors/1?week=2027-03-01"
        );
        for unsafe_next in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a b",
            "/ümlaut",
            "",
        ] {
            assert_eq!(safe_next(Some(unsafe_next)), "/", "{unsafe_next}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_form_keeps_what_was_typed() {
        let form = SignInForm::read(&FormFields::parse(
            b"email=+Ada%40Example.org+&next=%2Fdoctors%2F1&code=+123456",
        ));
        assert_eq!(form.channel, Channel::Email);
        assert_eq!(form.address, "Ada@Example.org");
        assert_eq!(form.code, "123456");
        assert_eq!(form.next, "/doctors/1");
        assert!(form.identifier().is_ok());

        let form = SignInForm::read(&FormFields::parse(
            b"phone=12&next=https%3A%2F%2Fevil.example",
        ));
        assert_eq!(form.channel, Channel::Phone);
        assert_eq!(form.next, "/");
        assert!(form.identifier().unwrap_err().contains("international"));

        let form = SignInForm::read(&FormFields::parse(b"email="));
        assert_eq!(form.identifier().unwrap_err(), "Enter your email address.");
    }

    #[test]
    fn sign_in_links_keep_next_and_the_channel() {
        assert_eq!(login_href("/", Channel::Email), "/login");
        assert_eq!(login_href("/", Channel::Phone), "/login?by=phone");
        assert_eq!(
            login_href("/doctors/1", Channel::Phone),
            "/login?by=phone&next=%2Fdoctors%2F1"
        );
    }
}
