//! Independent checkers the API tests hand documents to: Python programs in `tests/support`
//! that read a document on standard input and print what they find as JSON, exiting with 3 when
//! the package they check with is missing.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `tests/support/<script>` on `input` and returns what it printed. Fails the test when
/// the checker cannot run, when its `package` is missing (saying how to install it), and when
/// it fails.
pub(crate) async fn run(script: &'static str, package: &'static str, input: Vec<u8>) -> Vec<u8> {
    let path = format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "python3 runs (install Python 3 and `python3 -m pip install {package}`): {e}"
                )
            });
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("the document written to the checker");
        child.wait_with_output().expect("the checker finishes")
    })
    .await
    .expect("checker task");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(3),
        "{script} cannot check: python3 -m pip install {package} ({stderr})"
    );
    assert!(output.status.success(), "{script} refused: {stderr}");
    output.stdout
}
