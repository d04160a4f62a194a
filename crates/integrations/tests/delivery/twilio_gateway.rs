//! An HTTP server standing in for Twilio: it records every request it gets, whatever the
//! path, and answers each with one fixed status and body, so tests can assert on exactly what
//! the client sent.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A request as the gateway received it.
#[derive(Debug)]
pub struct GatewayRequest {
    /// The HTTP method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// All request headers.
    pub headers: HeaderMap,
    /// The decoded form fields, in the order sent.
    pub form: Vec<(String, String)>,
}

impl GatewayRequest {
    /// A header's value as text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Reply {
    status: StatusCode,
    body: &'static str,
    requests: mpsc::Sender<GatewayRequest>,
}

/// Starts the gateway on an ephemeral port; returns its base URL and the requests it records.
pub async fn spawn_gateway(
    status: StatusCode,
    body: &'static str,
) -> (String, mpsc::Receiver<GatewayRequest>) {
    let (requests, rx) = mpsc::channel(16);
    let reply = Arc::new(Reply {
        status,
        body,
        requests,
    });
    let app = Router::new().fallback(record).with_state(reply);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base_url, rx)
}

async fn record(
    State(reply): State<Arc<Reply>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let form = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let _ = reply
        .requests
        .send(GatewayRequest {
            method,
            uri,
            headers,
            form,
        })
        .await;
    (
        reply.status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "30"),
        ],
        reply.body,
    )
}
