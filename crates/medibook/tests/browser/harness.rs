//! The rig of every browser test: the real `medibook serve --demo` binary on a throw-away
//! SQLite file and a free port, Debian's `chromedriver` on another free port, and headless
//! Chromium sessions driven through WebDriver (fantoccini).
//!
//! [`browser_test`] runs a test's body and, if it fails, saves each open browser's screenshot
//! and HTML (and the server's log) under `target/browser-artifacts/<test name>…` before
//! failing. Without Chromium or chromedriver the test is skipped with a note, except under
//! `CI=true`, where that is a failure.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub use crate::common::missing;
use crate::common::server::{Launched, Server, medibook};
use crate::common::{Backend, TestDatabase};

/// How long chromedriver may take to answer.
const START_PATIENCE: Duration = Duration::from_secs(120);
/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);
/// How long a script or a page load may take.
const SCRIPT_PATIENCE: Duration = Duration::from_secs(120);

/// The program named by the environment variable `env_override` if set, else the first of
/// `candidates` that exists, else the first of `names` found on `PATH`.
fn find_program(env_override: &str, candidates: &[&str], names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_override) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(
            names
                .iter()
                .flat_map(|name| on_path.iter().map(move |dir| dir.join(name))),
        )
        .find(|path| path.is_file())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl Driver {
    /// Starts chromedriver, or `None` (a skip) when it or Chromium is not installed.
    async fn start() -> Option<Self> {
        let Some(chromium) = find_program(
            "MEDIBOOK_CHROMIUM",
            &["/usr/lib/chromium/chromium"],
            &["chromium", "chromium-browser", "google-chrome"],
        ) else {
            return missing("Chromium is not installed (apt-get install chromium)");
        };
        let Some(chromedriver) = find_program(
            "MEDIBOOK_CHROMEDRIVER",
            &["/usr/bin/chromedriver"],
            &["chromedriver"],
        ) else {
            return missing("chromedriver is not installed (apt-get install chromium-driver)");
        };
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        };
        driver.wait_until_ready().await;
        Some(driver)
    }

    async fn wait_until_ready(&self) {
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            let status = reqwest::get(format!("{}/status", self.url)).await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a browser looks at the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    /// Viewport width in CSS pixels.
    pub width: u32,
    /// Viewport height in CSS pixels.
    pub height: u32,
    /// Whether the system asks for dark mode (`prefers-color-scheme: dark`).
    pub dark: bool,
    /// Whether scripts run.
    pub javascript: bool,
}

impl Look {
    /// A desktop window, light mode, scripts on.
    pub const DESKTOP: Self = Self {
        width: 1280,
        height: 900,
        dark: false,
        javascript: true,
    };

    /// A 360-pixel-wide phone.
    pub const PHONE: Self = Self {
        width: 360,
        height: 780,
        ..Self::DESKTOP
    };

    /// The same, in dark mode.
    pub const fn dark(self) -> Self {
        Self { dark: true, ..self }
    }

    /// The same, with JavaScript disabled.
    pub fn without_javascript(self) -> Self {
        Self {
            javascript: false,
            ..self
        }
    }

    /// A short name for artifact files.
    pub fn label(self) -> String {
        format!(
            "{}x{}{}{}",
            self.width,
            self.height,
            if self.dark { "-dark" } else { "" },
            if self.javascript { "" } else { "-nojs" }
        )
    }
}

/// The server, the driver, and the browsers a test opened.
pub struct Rig {
    /// The MediBook server under test.
    pub server: Server,
    _database: TestDatabase,
    driver: Driver,
    browsers: Mutex<Vec<(String, Client)>>,
    name: &'static str,
}

impl Rig {
    async fn start(name: &'static str) -> Option<Self> {
        let driver = Driver::start().await?;
        let Launched { server, database } =
            Server::launch(Backend::Sqlite, medibook("browser", &[], true)).await?;
        Some(Self {
            server,
            _database: database,
            driver,
            browsers: Mutex::new(Vec::new()),
            name,
        })
    }

    /// Opens a new headless Chromium session looking at the pages as `look` says.
    pub async fn browser(&self, look: Look) -> Browser {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--lang=en-GB".to_owned(),
            format!("--window-size={},{}", look.width, look.height),
        ];
        if look.dark {
            args.push("--force-dark-mode".to_owned());
        }
        let mut options = json!({
            "binary": self.driver.chromium.to_string_lossy(),
            "args": args,
        });
        if !look.javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::rustls()
            .expect("TLS roots for the WebDriver client")
            .capabilities(capabilities)
            .connect(&self.driver.url)
            .await
            .expect("chromedriver opens a Chromium session");
        let label = {
            let mut browsers = self.browsers.lock().unwrap();
            let label = if browsers.is_empty() {
                self.name.to_owned()
            } else {
                format!("{}-{}", self.name, browsers.len() + 1)
            };
            browsers.push((label.clone(), client.clone()));
            label
        };
        let browser = Browser {
            client,
            base: self.server.base.clone(),
            label,
        };
        // A loaded machine can take long to run a big script (axe-core) or load a page.
        let mut timeouts = browser.client.get_timeouts().await.unwrap();
        timeouts.set_script(Some(SCRIPT_PATIENCE));
        timeouts.set_page_load(Some(SCRIPT_PATIENCE));
        browser.client.update_timeouts(timeouts).await.unwrap();
        browser.fit_viewport(look).await;
        if look.dark {
            let dark: bool = browser
                .eval("return matchMedia('(prefers-color-scheme: dark)').matches")
                .await
                .as_bool()
                .unwrap_or(false);
            assert!(dark, "Chromium should report prefers-color-scheme: dark");
        }
        browser
    }

    fn open_browsers(&self) -> Vec<(String, Client)> {
        self.browsers.lock().unwrap().clone()
    }

    /// Saves every open browser's screenshot and HTML, and the server's log.
    async fn save_artifacts(&self) {
        let dir = artifacts_dir();
        let _ = std::fs::create_dir_all(&dir);
        for (label, client) in self.open_browsers() {
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(dir.join(format!("{label}.png")), png);
            }
            if let Ok(html) = client.source().await {
                let _ = std::fs::write(dir.join(format!("{label}.html")), html);
            }
        }
        let _ = std::fs::write(
            dir.join(format!("{}.log", self.name)),
            self.server.log_text(),
        );
        eprintln!(
            "browser test {} failed: screenshots, HTML and the server log are in {}",
            self.name,
            dir.display()
        );
    }

    async fn close_browsers(&self) {
        for (_, client) in self.open_browsers() {
            let _ = client.close().await;
        }
    }
}

/// `target/browser-artifacts` (under `CARGO_TARGET_DIR` when set).
fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("browser-artifacts")
}

/// Runs a browser test: starts the rig (or skips), runs `body`, and on failure saves the
/// artifacts before failing.
pub async fn browser_test<F, Fut>(name: &'static str, body: F)
where
    F: FnOnce(Arc<Rig>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(rig) = Rig::start(name).await else {
        return;
    };
    let rig = Arc::new(rig);
    let outcome = tokio::spawn(body(Arc::clone(&rig))).await;
    if let Err(error) = outcome {
        rig.save_artifacts().await;
        rig.close_browsers().await;
        if error.is_panic() {
            std::panic::resume_unwind(error.into_panic());
        }
        panic!("browser test {name} did not finish: {error}");
    }
    rig.close_browsers().await;
}

/// One Chromium session.
#[derive(Clone)]
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    base: String,
    /// The session's name in artifact files.
    pub label: String,
}

impl Browser {
    /// Makes the viewport (not the window) exactly `look.width` × `look.height`.
    async fn fit_viewport(&self, look: Look) {
        self.client
            .set_window_size(look.width, look.height)
            .await
            .unwrap();
        let inner = self
            .eval("return [window.innerWidth, window.innerHeight]")
            .await;
        let inner_width = u32::try_from(inner[0].as_u64().unwrap_or(0)).unwrap_or(0);
        let inner_height = u32::try_from(inner[1].as_u64().unwrap_or(0)).unwrap_or(0);
        if (inner_width, inner_height) != (look.width, look.height) {
            let width = 2 * look.width - inner_width.min(2 * look.width);
            let height = 2 * look.height - inner_height.min(2 * look.height);
            self.client.set_window_size(width, height).await.unwrap();
        }
        let width = self.eval("return window.innerWidth").await;
        assert_eq!(
            width.as_u64(),
            Some(u64::from(look.width)),
            "the viewport should be {} CSS pixels wide",
            look.width
        );
    }

    /// Opens `path` of the server.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The first element matching `css`, waiting up to [`PATIENCE`] for it.
    /// A page still loading after a form post can abort a lookup ("aborted by navigation"):
    /// that is asked again until the patience runs out.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let found = self
                .client
                .wait()
                .at_most(deadline.saturating_duration_since(std::time::Instant::now()))
                .for_element(Locator::Css(css))
                .await;
            match found {
                Ok(element) => return element,
                Err(e) if std::time::Instant::now() >= deadline => {
                    panic!("no element matches {css:?}: {e}")
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| {
                let start: String = script.chars().take(120).collect();
                panic!("running {start:?}…: {e}")
            })
    }

    /// Waits up to [`PATIENCE`] until `script` (a function body) returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} waited in vain for {what}",
                self.label
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits until the page's path (with query) satisfies `matches`.
    pub async fn wait_for_path(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let path = self.path().await;
            if matches(&path) {
                return path;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never reached {what}; it is at {path}",
                self.label
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Keeps a screenshot of the page shown when `MEDIBOOK_SCREENSHOTS` names a directory.
pub async fn keep_screenshot(browser: &Browser, name: &str) {
    let Ok(dir) = std::env::var("MEDIBOOK_SCREENSHOTS") else {
        return;
    };
    let png = browser.client.screenshot().await.unwrap();
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(std::path::Path::new(&dir).join(format!("{file}.png")), png).unwrap();
}
