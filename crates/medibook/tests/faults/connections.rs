//! Slow and half-sent requests cannot hold the server: a header must arrive within the header
//! timeout, a body must keep arriving, and beyond the connection cap a client is told 503 at
//! once; meanwhile `/healthz` keeps answering promptly.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::server::{Server, medibook};
use crate::common::{Backend, TestDatabase};

/// Opens `count` connections that each send half a request header and then nothing.
async fn half_sent(server: &Server, count: usize) -> Vec<TcpStream> {
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /api/v1/doctors HTTP/1.1\r\nHost: clinic\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(stream);
    }
    held
}

/// Waits until the server has closed `stream` (end of file or reset), or `patience` passes.
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buffer = [0_u8; 1024];
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 the server sends before closing is fine; keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

async fn healthz(server: &Server) -> (StatusCode, Duration) {
    let began = Instant::now();
    let status = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(server.url("/healthz"))
        .send()
        .await
        .map_or(StatusCode::REQUEST_TIMEOUT, |response| response.status());
    (status, began.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_half_sent_requests_are_cut_after_the_header_timeout_and_healthz_stays_fast() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let server = Server::start(
        &database.url,
        medibook(
            "slowloris",
            &[("MEDIBOOK_HEADER_TIMEOUT_SECONDS", "2")],
            false,
        ),
    )
    .await;
    let mut held = half_sent(&server, 400).await;
    let began = Instant::now();
    let (status, took) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    let mut open = 0;
    for stream in &mut held {
        if !closed_within(stream, Duration::from_secs(6)).await {
            open += 1;
        }
    }
    assert_eq!(
        open,
        0,
        "half-sent requests still open after {:?}",
        began.elapsed()
    );
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_a_prompt_503_until_others_end() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let server = Server::start(
        &database.url,
        medibook(
            "capped",
            &[
                ("MEDIBOOK_MAX_CONNECTIONS", "20"),
                ("MEDIBOOK_HEADER_TIMEOUT_SECONDS", "3"),
            ],
            false,
        ),
    )
    .await;
    let held = half_sent(&server, 20).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    let response = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let took = began.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(1), "the refusal took {took:?}");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "busy");

    // Once the half-sent requests are cut, the server takes new connections again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = healthz(&server).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stops_arriving_gets_408() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let server = Server::start(
        &database.url,
        medibook(
            "slow-body",
            &[("MEDIBOOK_BODY_TIMEOUT_SECONDS", "1")],
            false,
        ),
    )
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: clinic\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let began = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("request_timeout")
        && began.elapsed() < Duration::from_secs(5)
    {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
}
