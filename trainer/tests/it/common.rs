//! Helpers shared by the test modules: running the `churn-trainer` binary of this build, and finding the
//! real data sets ([`RealData`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_churn-trainer");

/// The repository root (examples/ is found from it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The CDNOW transactions under the data directory ([`RealData`]).
pub const CDNOW: &str = "data/cdnow/cdnow_master_transactions.parquet";
/// The IBM Telco customer table under the data directory ([`RealData`]).
pub const TELCO: &str = "data/telco/telco_customer_churn.parquet";

/// The real data sets some tests read (CDNOW and IBM Telco under `data/`, what peer libraries compute on
/// them under `reference/`): in the directory `CHURN_DATA_DIR` names, by default `../shared` beside the
/// repository. The one way this crate's tests find them.
pub struct RealData {
    root: PathBuf,
    configs: tempfile::TempDir,
}

impl RealData {
    /// The real data for the calling test, when the files it `needs` (paths under the data directory,
    /// e.g. `data/cdnow/cdnow_master_transactions.parquet`) are there. Otherwise it says on stderr that
    /// the test is skipped and how to get the data, and returns `None` for the test to return early; with
    /// `CHURN_REQUIRE_DATA=1` (as CI sets) it fails the test instead.
    pub fn find(needs: &[&str]) -> Option<Self> {
        let root = match std::env::var_os("CHURN_DATA_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            // `<repo>/../shared`, spelled without `..`.
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .map_or_else(|| repo().join("../shared"), |parent| parent.join("shared")),
        };
        let Some(missing) = needs.iter().find(|need| !root.join(need).is_file()) else {
            let configs = tempfile::tempdir().expect("temp dir");
            return Some(Self { root, configs });
        };
        let test = std::thread::current()
            .name()
            .unwrap_or("this real-data test")
            .to_string();
        let message = format!(
            "no real data in {} ({missing} is missing). To run it, set CHURN_DATA_DIR to a directory with \
             data/cdnow/, data/telco/ and reference/ (the CDNOW and IBM Telco data sets and peer \
             libraries' results; default: ../shared beside the repository)",
            root.display()
        );
        if std::env::var("CHURN_REQUIRE_DATA").is_ok_and(|v| v.trim() == "1") {
            panic!("{test}: {message}. CHURN_REQUIRE_DATA=1 is set, so a missing data set fails the test");
        }
        // Straight to the process's stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED {test}: {message}. CHURN_REQUIRE_DATA=1 makes a skip a failure."
        );
        None
    }

    /// `relative` under the data directory, e.g. `reference/peer_baselines.json`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The example configuration `examples/NAME.toml` reading its inputs from this data directory: a
    /// copy, in a temporary folder, whose `../../shared/data/` paths point into `data/` here.
    pub fn config(&self, name: &str) -> PathBuf {
        const EXAMPLE_DATA: &str = "\"../../shared/data/";
        let example = repo().join("examples").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&example).expect("read example config");
        assert!(
            text.contains(EXAMPLE_DATA),
            "{} no longer reads {EXAMPLE_DATA}...: update RealData::config",
            example.display()
        );
        let data = self.root.join("data/");
        let data = data.to_str().expect("utf8 data path");
        let quoted = data.replace('\\', "\\\\").replace('"', "\\\"");
        let copy = self.configs.path().join(format!("{name}.toml"));
        std::fs::write(&copy, text.replace(EXAMPLE_DATA, &format!("\"{quoted}"))).expect("write config");
        copy
    }
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

/// Writes `churn-trainer generate`'s data set of `customers` customers from `seed` into `out`.
pub fn generate(out: &Path, customers: u32, seed: u64) {
    ok(&[
        "generate",
        "--out",
        path(out),
        "--customers",
        &customers.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}
