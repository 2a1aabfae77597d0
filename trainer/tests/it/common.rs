//! Helpers shared by the test modules: running the `churn-trainer` binary of this build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_churn-trainer");

/// The repository root (examples/ and ../shared are found from it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `churn-trainer --quiet ARGS` from the repository root.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(repo())
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run churn-trainer")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let output = trainer(args);
    assert!(
        output.status.success(),
        "churn-trainer {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf8")
}

/// Runs a command that must fail with exit code 1; returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let output = trainer(args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "churn-trainer {args:?} should fail"
    );
    String::from_utf8(output.stderr).expect("utf8")
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}
