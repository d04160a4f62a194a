//! The HTML error page: what a person sees when a page cannot be shown (an unknown address, a
//! doctor that does not exist, a malformed date in a link, a failure on our side). Never a raw
//! problem document: those are for the JSON API.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;

use crate::pages::Layout;

/// Why a page could not be shown, in words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    status: StatusCode,
    heading: String,
    message: String,
    /// A way on, shown before the link home: `(href, text)`.
    link: Option<(String, String)>,
    /// Seconds to wait before trying again (`Retry-After`), when the failure passes.
    retry_after_seconds: Option<u64>,
}

/// Result of a page handler.
pub type PageResult<T> = Result<T, PageError>;

impl PageError {
    /// An error page with an explicit status, heading and explanation.
    pub fn new(status: StatusCode, heading: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            heading: heading.into(),
            message: message.into(),
            link: None,
            retry_after_seconds: None,
        }
    }

    /// Adds a link onward (e.g. back to the slot picker) to the page.
    pub fn with_link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.link = Some((href.into(), text.into()));
        self
    }

    /// 404: nothing lives at this address.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "We could not find the page you asked for. It may have moved, or the link may be \
             mistyped.",
        )
    }

    /// 400: a link or form carried something we cannot use; `message` says what.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Something in that link is not right",
            message,
        )
    }

    /// 405: a page was asked for with a method it does not take (e.g. reloading a form post).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "This page cannot be opened this way",
            "Go back and use the page's buttons and links, or start again from the home page.",
        )
    }

    /// The status the page is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<BookingError> for PageError {
    /// The status comes from the table every door shares ([`crate::shell::error::status_of`]); only
    /// the words are the pages' own.
    fn from(error: BookingError) -> Self {
        let status = crate::shell::error::status_of(&error);
        let retry_after_seconds = crate::shell::error::retry_after_of(&error);
        let page = match error {
            BookingError::NotFound(what) => Self::new(
                status,
                format!("{} not found", capitalised(what)),
                format!(
                    "We could not find that {what}. It may have been removed, or the link may \
                     be mistyped."
                ),
            ),
            BookingError::Validation(message) | BookingError::SlotUnavailable(message) => {
                Self::new(
                    status,
                    "Something in that link is not right",
                    sentence(&message),
                )
            }
            BookingError::RateLimited {
                retry_after_seconds,
            } => Self::new(
                status,
                "Too many requests",
                format!(
                    "Please wait {} and try again.",
                    crate::pages::format::wait_time(retry_after_seconds)
                ),
            ),
            BookingError::Unauthorized => {
                Self::new(status, "Please sign in", "Sign in to see this page.")
            }
            BookingError::Forbidden => {
                Self::new(status, "Not allowed", "Your account cannot open this page.")
            }
            BookingError::Storage(message) => {
                tracing::error!(error = %message, "storage failure on a page");
                Self::internal()
            }
            BookingError::StorageFull | BookingError::DatabaseUnavailable => {
                tracing::warn!(code = error.code(), "a page could not be served: {error}");
                Self::new(
                    status,
                    "We cannot save anything right now",
                    "Nothing was changed. The clinic's system is briefly unable to store or \
                     read appointments; please try again in a few minutes.",
                )
            }
            other => Self::new(status, "That did not work", sentence(&other.to_string())),
        };
        Self {
            retry_after_seconds,
            ..page
        }
    }
}

/// The answer to a page handler that panicked: the 500 page (the panic itself is logged by
/// the tracing layer and the panic hook).
pub fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    PageError::internal().into_response()
}

impl PageError {
    /// 500: a failure on our side.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "Please try again in a moment. If it keeps happening, contact the clinic.",
        )
    }
}

/// A domain message as a sentence: capital first letter, full stop at the end.
pub fn sentence(message: &str) -> String {
    let mut text = capitalised(message.trim());
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: String,
    message: String,
    link: Option<(String, String)>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            layout: Layout::anonymous(self.heading.clone()),
            status: self.status.as_u16(),
            heading: self.heading,
            message: self.message,
            link: self.link,
        };
        let mut response = (self.status, page).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_become_sentences_for_people_with_the_apis_status() {
        let page = PageError::from(BookingError::NotFound("doctor"));
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(page.heading, "Doctor not found");
        let page = PageError::from(BookingError::validation("date is out of range"));
        assert_eq!(page.message, "Date is out of range.");
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = PageError::from(BookingError::HoldNotFound);
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        let page = PageError::from(BookingError::Storage("disk on fire".into()));
        assert!(!page.message.contains("disk"));
        let page = PageError::from(BookingError::StorageFull);
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.retry_after_seconds, Some(30));
    }

    #[test]
    fn the_error_page_is_html() {
        let response = PageError::not_found().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[tokio::test]
    async fn a_page_handler_that_panics_shows_the_html_error_page() {
        use axum::routing::get;
        use tower::ServiceExt;
        use tower_http::catch_panic::CatchPanicLayer;

        async fn broken() -> &'static str {
            panic!("a bug in a page handler")
        }
        let router: axum::Router = axum::Router::new()
            .route("/broken", get(broken))
            .layer(CatchPanicLayer::custom(panicked));
        let request = axum::http::Request::get("/broken")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}
