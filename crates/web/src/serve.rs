//! The HTTP server around the router: HTTP/1.1 connections accepted up to a cap, each held to
//! a header-read timeout (which also ends a keep-alive connection idle that long) and a
//! request-body timeout, so that slow or half-sent requests cannot hold sockets for long
//! ("slowloris"). Beyond the cap a connection gets a canned 503 at once and is closed, without
//! reaching the router.
//!
//! Upgraded connections (the live feed's WebSockets) leave the cap when they are handed over;
//! the feed's own heartbeat and idle timeout govern them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How the server treats connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// A client must send a request's whole header within this long of the connection being
    /// ready for it (so a keep-alive connection idle this long is closed too).
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long fails (408).
    pub body_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

/// Default of [`ServeLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServeLimits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServeLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The problem document a connection beyond the cap is told before it is closed.
const BUSY_PROBLEM: &str = "{\"type\":\"urn:medibook:problem:busy\",\"title\":\"Service Unavailable\",\
\"status\":503,\"detail\":\"the server is at its connection limit; try again in a moment\",\
\"code\":\"busy\"}";

/// The whole answer to a connection beyond the cap.
fn busy_answer() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BUSY_PROBLEM}",
        BUSY_PROBLEM.len()
    )
}

/// How long a stopping server waits for open requests to finish.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// How long a refused connection may take to be told.
const BUSY_WRITE_PATIENCE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets open
/// requests finish (connections are told to close after their current request).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pass, instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!("medibook_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            })
            .map_err(|never: Infallible| match never {});
        let http = Arc::clone(&http);
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let connection = http
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            // Resolves when the server stops (never, if it is gone without saying so).
            let stop_requested = async move {
                if stopping.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let finished = tokio::select! {
                _ = connection.as_mut() => true,
                () = stop_requested => false,
            };
            if !finished {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its permit back when it ends; one that will not (a client that
    // never reads its answer) is left behind after the drain's deadline.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_DEADLINE, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open when the drain's deadline passed");
    }
    Ok(())
}

/// Tells a connection beyond the cap that the server is busy, and closes it. The request's
/// head is read first (a client may not expect an answer before it has asked), for at most
/// [`BUSY_WRITE_PATIENCE`] and [`BUSY_HEAD_LIMIT`] bytes.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(BUSY_WRITE_PATIENCE, async {
        let mut head = Vec::with_capacity(1024);
        let mut buffer = [0_u8; 1024];
        while head.len() < BUSY_HEAD_LIMIT && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        stream.write_all(busy_answer().as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// The most of a refused request's head that is read before the answer.
const BUSY_HEAD_LIMIT: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_a_whole_problem_document() {
        let text = busy_answer();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|value| value.parse().ok())
            .unwrap_or_default();
        assert_eq!(length, body.len());
        let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(problem["code"], "busy");
        assert_eq!(problem["status"], 503);
    }
}
