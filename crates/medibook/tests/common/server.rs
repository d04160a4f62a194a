//! A `medibook serve` process of the real binary, for the test binaries that start, kill and
//! restart servers: started on a free port with an environment of only what the test sets, its
//! log collected line by line, and signing patients in by reading their one-time codes from
//! that log (development mode).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a server may take to migrate, seed and listen.
pub const START_PATIENCE: Duration = Duration::from_secs(120);
/// The secret all servers of a test share (tokens signed by one are accepted by the others).
pub const SECRET: &str = "a test secret shared by both instances, long enough";
/// The bound address is logged after this.
const LISTENING: &str = "MediBook is listening on http://";

/// A running `medibook serve` process, killed when dropped.
pub struct Server {
    /// The name the test gave it, shown in failure messages.
    pub name: &'static str,
    /// The process.
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _data_dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary on a free port with its own data directory and an environment of
    /// only what is set here, and waits until it listens.
    pub async fn start(
        name: &'static str,
        database_url: &str,
        extra: &[(&str, &str)],
        demo: bool,
    ) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_medibook"));
        command
            .arg("serve")
            .env_clear()
            .current_dir(data_dir.path())
            .env("MEDIBOOK_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("MEDIBOOK_DATA_DIR", data_dir.path())
            .env("MEDIBOOK_SECRET", SECRET)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if demo {
            command.arg("--demo");
        }
        let mut child = command.spawn().expect("the medibook binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().unwrap(), Arc::clone(&log));
        collect_lines(child.stderr.take().unwrap(), Arc::clone(&log));
        let mut server = Self {
            name,
            child,
            log,
            base: String::new(),
            _data_dir: data_dir,
        };
        let line = server
            .wait_for_line(|line| line.contains(LISTENING), START_PATIENCE)
            .await;
        let address = line
            .split(LISTENING)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address after the listening message");
        assert!(!address.ends_with(":0"), "the bound port is logged: {line}");
        server.base = format!("http://{address}");
        server
    }

    /// The first line of the log `matches`, waiting up to `patience` for it. Fails, showing the
    /// log, when the server exits or the time is up.
    pub async fn wait_for_line(
        &self,
        matches: impl Fn(&str) -> bool,
        patience: Duration,
    ) -> String {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server {} did not log what was expected in time; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails, showing the log, unless some line of the log contains `text`.
    pub fn assert_logged(&self, text: &str) {
        assert!(
            self.log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(text)),
            "server {} should have logged {text:?}; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Fails, showing the log, if some line of the log contains `text`.
    pub fn assert_not_logged(&self, text: &str) {
        assert!(
            !self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(text)),
            "server {} should not have logged {text:?}; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// The whole log so far, one line per line.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Kills the process at once (`SIGKILL`): no shutdown, no draining.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `stream` line by line into `log` on a thread of its own (the reads block).
fn collect_lines(stream: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            log.lock().unwrap().push(line);
        }
    });
}

/// Signs `email` in on `server`, reading the one-time code from its log (development mode);
/// returns the bearer token.
pub async fn sign_in(http: &reqwest::Client, server: &Server, email: &str) -> String {
    sign_in_user(http, server, email).await.0
}

/// Like [`sign_in`], but returns the bearer token and the user's id.
pub async fn sign_in_user(
    http: &reqwest::Client,
    server: &Server,
    email: &str,
) -> (String, String) {
    let response = http
        .post(format!("{}/api/v1/auth/otp", server.base))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED, "requesting a code");
    let line = server
        .wait_for_line(
            |line| line.contains(&format!("message for {email}")) && line.contains("code is "),
            START_PATIENCE,
        )
        .await;
    let code: String = line
        .split("code is ")
        .nth(1)
        .expect("the code follows")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let response = http
        .post(format!("{}/api/v1/auth/verify", server.base))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "verifying the code");
    let session: Value = response.json().await.unwrap();
    (
        session["token"].as_str().expect("a token").to_owned(),
        session["user"]["id"]
            .as_str()
            .expect("a user id")
            .to_owned(),
    )
}
