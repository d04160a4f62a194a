//! `medibook serve` processes of this crate's binary, through the workspace's harness
//! ([`medibook_testkit::server`]).

#[allow(
    unused_imports,
    reason = "not every test binary that starts servers destructures a launch"
)]
pub use medibook_testkit::server::{Launch, Launched, Server};

/// The binary under test.
pub const MEDIBOOK: &str = env!("CARGO_BIN_EXE_medibook");

/// What to start: this crate's binary named `name` (in failure messages), with `env` besides
/// the database and the secret, seeding the demo clinic when `demo`.
pub fn medibook<'a>(name: &'static str, env: &'a [(&'a str, &'a str)], demo: bool) -> Launch<'a> {
    Launch {
        binary: MEDIBOOK,
        name,
        env,
        demo,
    }
}
