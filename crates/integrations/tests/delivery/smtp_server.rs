//! The SMTP server lives in the crate (feature `test-support`) so other crates' tests use it too.

pub use medibook_integrations::test_smtp::*;
