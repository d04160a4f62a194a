//! The Redis server the tests share.

/// The Redis server of `MEDIBOOK_TEST_REDIS_URL`, or `None` (outside CI) when none is
/// configured. Under `CI=true` a missing server is a failure, not a skip.
pub fn redis_url() -> Option<String> {
    match std::env::var("MEDIBOOK_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => crate::missing("MEDIBOOK_TEST_REDIS_URL is not set"),
    }
}

/// A Redis channel no other test run uses, so parallel runs on one server stay apart.
pub fn fresh_redis_channel() -> String {
    format!("medibook:test:{}", uuid::Uuid::new_v4().simple())
}
