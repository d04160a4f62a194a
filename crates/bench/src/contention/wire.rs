//! One HTTP/1.1 connection per client, opened before the measured moment, and one request on
//! it.

use std::fmt;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{BenchError, BenchResult};
use crate::supply::at_most;

use super::CONNECT_CONCURRENCY;

/// One client's HTTP/1.1 connection, used for one request at a time.
pub(super) type Connection = SendRequest<Full<Bytes>>;

/// Opens `count` connections to `address`, each proven live by one `GET /healthz`.
pub(super) async fn open_connections(address: &str, count: usize) -> BenchResult<Vec<Connection>> {
    at_most(CONNECT_CONCURRENCY, count, |_| async move {
        let mut connection = connect(address).await?;
        let request = request(Method::GET, address, "/healthz", None, Bytes::new())?;
        let (status, _) = exchange(&mut connection, request).await?;
        if status != 200 {
            return Err(BenchError::Unexpected {
                call: "GET /healthz".into(),
                status,
                body: String::new(),
            });
        }
        Ok(connection)
    })
    .await
}

/// An HTTP/1.1 connection to `address`, its driver running on its own task.
pub(super) async fn connect(address: &str) -> BenchResult<Connection> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| BenchError::io(format!("cannot connect to {address}"), e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| BenchError::io("cannot set TCP_NODELAY", e))?;
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| BenchError::Feed(format!("HTTP/1.1 handshake failed: {e}")))?;
    // The driver ends with the connection; its error shows up in the next request's.
    tokio::spawn(async move {
        let _ = driver.await;
    });
    Ok(sender)
}

/// A request to `path` with the headers a browser's fetch would send.
pub(super) fn request(
    method: Method,
    address: &str,
    path: &str,
    token: Option<&str>,
    body: Bytes,
) -> BenchResult<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, address);
    if let Some(token) = token {
        builder = builder
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::CONTENT_TYPE, "application/json");
    }
    builder
        .body(Full::new(body))
        .map_err(|e| BenchError::Usage(format!("cannot build a request: {e}")))
}

/// Sends `request` on `connection` and reads the whole response.
pub(super) async fn exchange(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> BenchResult<(u16, Bytes)> {
    let failed = |e: &dyn fmt::Display| BenchError::Feed(format!("HTTP/1.1 exchange failed: {e}"));
    connection.ready().await.map_err(|e| failed(&e))?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(&e))?
        .to_bytes();
    Ok((status, body))
}
