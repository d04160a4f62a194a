//! Shared by the test binaries of the `medibook` crate: the workspace's one harness
//! (`medibook-testkit`: throw-away databases of either backend, the Redis server, a real
//! `medibook serve` process) with this crate's binary ([`server`]), and a doctor with plain
//! rules ([`clinic`]).

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

#[allow(
    unused_imports,
    reason = "not every test binary that shares this module uses all of the harness"
)]
pub use medibook_testkit::{
    Backend, FreshPostgres, TestDatabase, fresh_redis_channel, missing, redis_url,
};
