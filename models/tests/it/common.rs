//! Helpers shared by the test modules: finding the real data sets ([`real_data`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The IBM Telco customer table under the data directory.
pub const TELCO: &str = "data/telco/telco_customer_churn.parquet";

/// The directory of the real data sets (Telco under `data/`, what peer libraries compute on it under
/// `reference/`) when the files a test `needs` (paths under it) are there: `CHURN_DATA_DIR`, by default
/// `../shared` beside the repository. Otherwise it says on stderr that the test is skipped and returns
/// `None` for the test to return early; with `CHURN_REQUIRE_DATA=1` (as CI sets) it fails the test. The
/// one way this crate's tests find them.
pub fn real_data(needs: &[&str]) -> Option<PathBuf> {
    let root = match std::env::var_os("CHURN_DATA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        // `<repo>/../shared`, spelled without `..`.
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .map_or_else(
                || Path::new("../../shared").to_path_buf(),
                |parent| parent.join("shared"),
            ),
    };
    let Some(missing) = needs.iter().find(|need| !root.join(need).is_file()) else {
        return Some(root);
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this real-data test")
        .to_string();
    let message = format!(
        "no real data in {} ({missing} is missing). To run it, set CHURN_DATA_DIR to a directory with \
         data/telco/ and reference/ (the IBM Telco data set and peer libraries' results; default: \
         ../shared beside the repository)",
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
