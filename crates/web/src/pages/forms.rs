//! What every page `POST` handler starts with, as extractors: the request must come from one of
//! our own pages ([`SameSite`]), and its `application/x-www-form-urlencoded` body is read into
//! [`FormFields`] ([`PostedForm`]). A handler that also needs a signed-in person takes a
//! [`SignedIn`](crate::pages::SignedIn) beside them; one that sends strangers to sign-in
//! somewhere other than back to the posting page takes a [`Viewer`](crate::pages::Viewer).
//!
//! [`audit`] writes the same audit entry the API writes for the same action.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use medibook_core::audit::{Actor, AuditEvent};
use uuid::Uuid;

use crate::pages::error::{PageError, PageResult};
use crate::pages::viewer::Person;
use crate::shell::AppState;
use crate::shell::client::ClientIp;
use crate::shell::csrf;

/// The longest form body a page accepts (the longest field is a 2,000-character note).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A posted form's fields (the first value of each name, trimmed).
#[derive(Clone, Debug, Default)]
pub struct FormFields(HashMap<String, String>);

impl FormFields {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Self {
        let mut fields = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            fields
                .entry(key.into_owned())
                .or_insert_with(|| value.trim().to_owned());
        }
        Self(fields)
    }

    /// The field `name`, if the form has it.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The field `name`, empty when missing.
    pub fn get(&self, name: &str) -> &str {
        self.value(name).unwrap_or_default()
    }

    /// The field `name` as an id, if it is one.
    pub fn id(&self, name: &str) -> Option<Uuid> {
        self.get(name).parse().ok()
    }

    /// Whether a checkbox `name` was ticked (browsers send ticked boxes only).
    pub fn checked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// A request sent from one of our own pages. Anything else (a form on another website) gets a
/// 403 page saying so; requests that name no origin at all (not from a browser page) pass.
#[derive(Clone, Copy, Debug)]
pub struct SameSite;

/// The refusal of a form sent from another website.
pub fn cross_site() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was sent from another website. Open the page here and try again.",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for SameSite {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, PageError> {
        if csrf::same_origin(&parts.headers) {
            Ok(Self)
        } else {
            Err(cross_site())
        }
    }
}

/// A form posted from one of our own pages, its fields read.
#[derive(Clone, Debug)]
pub struct PostedForm(pub FormFields);

impl<S: Send + Sync> FromRequest<S> for PostedForm {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        SameSite::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "This form carried more than a page ever sends. Go back and try again.",
            )
        })?;
        if body.len() > MAX_FORM_BYTES {
            return Err(PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "This form carried more than a page ever sends. Shorten what you typed and try \
                 again.",
            ));
        }
        Ok(Self(FormFields::parse(&body)))
    }
}

/// `person`, acting from `client`, as the audit trail names them.
pub fn actor(person: &Person, client: &ClientIp) -> Actor {
    Actor::user(person.auth.id, person.auth.role, client.key())
}

/// Writes an audit entry for `person`, as the API does for the same action.
pub async fn audit(
    state: &AppState,
    person: &Person,
    client: &ClientIp,
    event: AuditEvent,
) -> PageResult<()> {
    state.audit.record(&actor(person, client), event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::header;

    use super::*;

    fn post(origin: Option<&str>, body: impl Into<Body>) -> Request {
        let mut builder = Request::post("/book/hold").header(header::HOST, "clinic.example");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(body.into()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_form_from_our_own_page_is_read() {
        let request = post(Some("https://clinic.example"), "a=+1+&a=2&box=on&id=x");
        let PostedForm(form) = PostedForm::from_request(request, &()).await.unwrap();
        assert_eq!(form.get("a"), "1");
        assert!(form.checked("box"));
        assert!(!form.checked("other"));
        assert_eq!(form.value("other"), None);
        assert_eq!(form.id("id"), None);
    }

    #[tokio::test]
    async fn a_form_from_another_site_is_refused() {
        let request = post(Some("https://evil.example"), "a=1");
        let refused = PostedForm::from_request(request, &()).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let request = post(Some("null"), "a=1");
        assert!(PostedForm::from_request(request, &()).await.is_err());
    }

    #[tokio::test]
    async fn an_oversized_form_is_refused() {
        let big = "a=".repeat(MAX_FORM_BYTES);
        let refused = PostedForm::from_request(post(None, big), &())
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
