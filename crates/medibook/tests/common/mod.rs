//! Shared by the test binaries outside the API suite: a throw-away PostgreSQL database, the
//! Redis server, a real `medibook serve` process ([`server`]) and a doctor with plain rules
//! ([`clinic`]).

#[allow(
    dead_code,
    reason = "not every test binary that shares this module seeds a doctor"
)]
pub mod clinic;
#[allow(
    dead_code,
    reason = "not every test binary that shares this module starts server processes"
)]
pub mod server;

use medibook_store::Database;

/// A fresh database on the server of `MEDIBOOK_TEST_POSTGRES_URL`, dropped when this is dropped.
pub struct FreshPostgres {
    /// URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl FreshPostgres {
    /// Creates the database, or returns `None` (outside CI) when no server is configured. Under
    /// `CI=true` a missing server is a failure, not a skip.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("MEDIBOOK_TEST_POSTGRES_URL") else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "MEDIBOOK_TEST_POSTGRES_URL must be set under CI=true"
            );
            eprintln!("skipping: MEDIBOOK_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("medibook_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .expect("postgres reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.pool())
            .await
            .expect("create database");
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(admin.pool())
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// The Redis server of `MEDIBOOK_TEST_REDIS_URL`, or `None` (outside CI) when none is
/// configured. Under `CI=true` a missing server is a failure, not a skip.
#[allow(
    dead_code,
    reason = "not every test binary that shares this module uses Redis"
)]
pub fn redis_url() -> Option<String> {
    let Ok(url) = std::env::var("MEDIBOOK_TEST_REDIS_URL") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "MEDIBOOK_TEST_REDIS_URL must be set under CI=true"
        );
        eprintln!("skipping: MEDIBOOK_TEST_REDIS_URL is not set");
        return None;
    };
    Some(url)
}

/// A Redis channel no other test run uses, so parallel runs on one server stay apart.
#[allow(
    dead_code,
    reason = "not every test binary that shares this module uses Redis"
)]
pub fn fresh_redis_channel() -> String {
    format!("medibook:test:{}", uuid::Uuid::new_v4().simple())
}
