//! The public contact form.

use axum::extract::State;
use axum::http::StatusCode;
use medibook_core::contact::ContactForm;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::shell::AppState;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiJson;

/// A message to the clinic.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactRequest {
    /// Your name, 1 to 100 characters.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Where we answer.
    #[schema(example = "ada@example.org")]
    pub email: String,
    /// Your message, 1 to 5,000 characters.
    pub message: String,
    /// Leave empty. (A field people never see; forms that fill it are dropped as spam.)
    #[serde(default)]
    pub website: Option<String>,
}

/// Sends a message to the clinic's inbox. At most 10 messages an hour per client address.
#[utoipa::path(post, path = "/api/v1/contact", tag = "contact",
    request_body = ContactRequest,
    responses(
        (status = 202, description = "Received"),
        (status = 422, description = "Empty or too long fields, or an invalid email", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many messages (`rate_limited`, see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<ContactRequest>,
) -> ApiResult<StatusCode> {
    let form = ContactForm {
        name: body.name,
        email: body.email,
        message: body.message,
        website: body.website,
    };
    // A bot caught by the honeypot gets the same answer as a person.
    state
        .contact
        .submit(form, client.limit_key().as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}
