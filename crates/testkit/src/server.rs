//! A `medibook serve` process of the real binary: started on a free port with its own data
//! directory and an environment of only what the test sets, its log collected line by line,
//! and patients signed in by reading their one-time codes from that log (development mode).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Backend, TestDatabase};

/// How long a server may take to migrate, seed and listen.
pub const START_PATIENCE: Duration = Duration::from_secs(120);
/// The secret all servers of a test share (tokens signed by one are accepted by the others).
pub const SECRET: &str = "a test secret shared by both instances, long enough";
/// The bound address is logged after this.
const LISTENING: &str = "MediBook is listening on http://";

/// What to start: the binary, the environment it gets besides the database and the secret, and
/// whether it seeds the demo clinic.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    /// The `medibook` binary (`env!("CARGO_BIN_EXE_medibook")` in the binary crate's tests).
    pub binary: &'a str,
    /// The name shown in failure messages.
    pub name: &'static str,
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// `serve --demo`: seed the demo clinic first.
    pub demo: bool,
}

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

/// A server on a database of its own: the database lives as long as the server.
pub struct Launched {
    /// The running server.
    pub server: Server,
    /// Its database (start more instances on `database.url`).
    pub database: TestDatabase,
}

impl Server {
    /// The app under test: a throw-away database on `backend` and the binary serving it, or
    /// `None` (outside CI) when the backend is not configured.
    pub async fn launch(backend: Backend, launch: Launch<'_>) -> Option<Launched> {
        let database = TestDatabase::create(backend).await?;
        let server = Self::start(&database.url, launch).await;
        Some(Launched { server, database })
    }

    /// Starts the binary on `database_url` (another instance on a database already in use, or
    /// the database of [`Server::launch`]), and waits until it listens.
    pub async fn start(database_url: &str, launch: Launch<'_>) -> Self {
        let data_dir = tempfile::tempdir().expect("a data directory");
        let mut command = Command::new(launch.binary);
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
            .envs(launch.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if launch.demo {
            command.arg("--demo");
        }
        let mut child = command.spawn().expect("the medibook binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().expect("piped"), Arc::clone(&log));
        collect_lines(child.stderr.take().expect("piped"), Arc::clone(&log));
        let mut server = Self {
            name: launch.name,
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

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many lines the server has logged so far (a mark for [`Server::wait_for_line_after`]
    /// and [`Server::code_for`]).
    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The first line of the log `matches`, waiting up to `patience` for it. Fails, showing the
    /// log, when the time is up.
    pub async fn wait_for_line(
        &self,
        matches: impl Fn(&str) -> bool,
        patience: Duration,
    ) -> String {
        self.wait_for_line_after(0, matches, patience).await
    }

    /// The first line after line `from` that `matches`, waiting up to `patience`.
    pub async fn wait_for_line_after(
        &self,
        from: usize,
        matches: impl Fn(&str) -> bool,
        patience: Duration,
    ) -> String {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let found = self
                .log
                .lock()
                .unwrap()
                .iter()
                .skip(from)
                .find(|line| matches(line))
                .cloned();
            if let Some(line) = found {
                return line;
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
            self.logged(text),
            "server {} should have logged {text:?}; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Fails, showing the log, if some line of the log contains `text`.
    pub fn assert_not_logged(&self, text: &str) {
        assert!(
            !self.logged(text),
            "server {} should not have logged {text:?}; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(text))
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

    /// The one-time code sent to `to` after log line `from` (development mode writes messages,
    /// codes included, to the log).
    pub async fn code_for(&self, to: &str, from: usize) -> String {
        let line = self
            .wait_for_line_after(
                from,
                |line| {
                    line.contains("one-time code") && line.contains(to) && line.contains("code is ")
                },
                START_PATIENCE,
            )
            .await;
        line.rsplit("code is ")
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect()
    }

    /// Signs `email` in through the JSON API; returns the bearer token and the user's id.
    pub async fn sign_in_user(&self, http: &reqwest::Client, email: &str) -> (String, String) {
        let mark = self.log_len();
        let response = http
            .post(self.url("/api/v1/auth/otp"))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "requesting a code");
        let code = self.code_for(email, mark).await;
        let response = http
            .post(self.url("/api/v1/auth/verify"))
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

    /// Signs `email` in through the JSON API and returns the bearer token.
    pub async fn sign_in(&self, http: &reqwest::Client, email: &str) -> String {
        self.sign_in_user(http, email).await.0
    }

    /// The clinic's doctors, as `GET /api/v1/doctors` lists them.
    pub async fn doctors(&self) -> Vec<Value> {
        reqwest::get(self.url("/api/v1/doctors"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The id of the doctor named `name`.
    pub async fn doctor_id(&self, name: &str) -> String {
        self.doctors()
            .await
            .iter()
            .find(|doctor| doctor["name"] == name)
            .and_then(|doctor| doctor["id"].as_str())
            .unwrap_or_else(|| panic!("no doctor named {name}"))
            .to_owned()
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
