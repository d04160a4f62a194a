//! The one test harness of every MediBook crate.
//!
//! - [`TestDatabase::create`] gives a throw-away database of either [`Backend`]: a SQLite file
//!   in a temporary directory, or a fresh PostgreSQL database ([`FreshPostgres`]) on the server
//!   of `MEDIBOOK_TEST_POSTGRES_URL`; both are removed when dropped.
//! - [`redis_url`] and [`fresh_redis_channel`]: the Redis server of `MEDIBOOK_TEST_REDIS_URL`,
//!   and a channel no other run uses.
//! - [`server::Server::launch`] starts the real `medibook serve` on a throw-away database of a
//!   backend; [`server::Server::start`] starts more instances on the same database.
//!
//! - [`proxy::FaultyProxy`]: a TCP proxy that refuses or swallows on demand, to take a database
//!   away from a server under test.
//!
//! Outside CI a missing PostgreSQL or Redis skips the test with a note; under `CI=true` it is a
//! failure. The harness has no SQL driver (it runs `psql`), so the bench's tests use it too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness: anything unexpected is a failed test, said where it happened"
)]

mod database;
pub mod proxy;
mod redis;
pub mod server;

pub use database::{Backend, FreshPostgres, TestDatabase, psql};
pub use redis::{fresh_redis_channel, redis_url};

/// Whether the tests run under CI (`CI=true`), where a missing service fails instead of skipping.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips (returns `None`, with a note) outside CI; fails under `CI=true`.
pub fn missing<T>(what: &str) -> Option<T> {
    assert!(
        !in_ci(),
        "{what} (CI=true: every test must run; .ci/run installs and starts what they need)"
    );
    eprintln!("note: skipping: {what}");
    None
}
