//! Browser tests: the web app in real headless Chromium, driven through Debian's chromedriver
//! (fantoccini), against the real `medibook serve --demo` binary.
//!
//! Run them with `cargo nextest run -p medibook --test browser` after
//! `apt-get install chromium chromium-driver` and, for the accessibility scans,
//! `npm ci --prefix tests/browser-npm` (axe-core). Without Chromium, chromedriver or axe-core
//! they are skipped with a note, except under `CI=true`, where that is a failure. A failing test
//! leaves screenshots and HTML in `target/browser-artifacts/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod accessibility;
mod admin_console;
mod booking;
mod browse;
mod doctor_console;
mod front_desk;
mod live;
mod screenshots;
mod signin;
