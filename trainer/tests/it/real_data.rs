//! Runs `churn-trainer features` on the real data sets ([`RealData`]: `CHURN_DATA_DIR`, by default
//! ../shared beside the repository; skipped when they are absent): CDNOW against the BTYD summary that
//! `lifetimes.utils.summary_data_from_transaction_data` computes (`reference/`) and the inactivity labels
//! of the classic calibration/holdout split; Telco as a snapshot with a given label.

use crate::common::{CDNOW, RealData, TELCO, repo};
use churn_features::{ColumnValues, CustomerIds, FeatureTable};
use std::collections::HashMap;
use std::process::Command;

fn numeric<'a>(table: &'a FeatureTable, name: &str) -> &'a [Option<f64>] {
    match &table
        .column(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .values
    {
        ColumnValues::Numeric(values) => values,
        ColumnValues::Categorical(_) => panic!("{name} is not numeric"),
    }
}

/// The reference file prints 10 significant digits (e.g. `353.2063636`), so a conformant value is within
/// half a unit of the 10th significant digit of the printed one (and within 1e-9 for exact values).
fn printed_tolerance(reference: f64) -> f64 {
    let magnitude = if reference == 0.0 {
        0
    } else {
        reference.abs().log10().floor() as i32
    };
    0.5 * 10f64.powi(magnitude - 9) + 1e-9
}

#[test]
fn btyd_summary_and_labels_match_lifetimes() {
    const SUMMARY: &str = "reference/cdnow_master_btyd_summary_1997-09-30_days.csv";
    let Some(data) = RealData::find(&[CDNOW, SUMMARY]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cdnow.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .current_dir(repo())
        .args(["--quiet", "features", "--config"])
        .arg(data.config("cdnow"))
        .args(["--as-of", "1997-09-30", "--horizon", "273", "--out"])
        .arg(&out)
        .status()
        .expect("run churn-trainer");
    assert!(status.success());
    assert!(dir.path().join("cdnow.summary.json").exists());
    let table = FeatureTable::read_parquet(&out).expect("read features");
    assert_eq!(table.len(), 23_570);
    assert_eq!(table.labels.iter().filter(|l| **l == Some(1)).count(), 16_512);
    assert!(table.labels.iter().all(Option::is_some));

    let CustomerIds::Int(ids) = &table.customer_ids else {
        panic!("CDNOW ids are integers");
    };
    let row_of: HashMap<i64, usize> = ids.iter().enumerate().map(|(row, &id)| (id, row)).collect();
    let columns =
        ["btyd_frequency", "btyd_recency", "btyd_t", "btyd_monetary_value"].map(|n| numeric(&table, n));
    let reference = data.path(SUMMARY);
    let text = std::fs::read_to_string(&reference).expect("reference csv");
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let id: i64 = fields[0].parse().expect("id");
        let row = row_of[&id];
        for (k, column) in columns.iter().enumerate() {
            let expected: f64 = fields[k + 1].parse().expect("number");
            let actual = column[row].unwrap_or_else(|| panic!("customer {id}: null {k}"));
            let tolerance = if k < 3 { 0.0 } else { printed_tolerance(expected) };
            assert!(
                (actual - expected).abs() <= tolerance,
                "customer {id}, column {k}: {actual} vs lifetimes {expected}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 23_570);
}

#[test]
fn telco_snapshot_uses_the_given_label_and_never_the_label_in_words() {
    let Some(data) = RealData::find(&[TELCO]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("telco.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .current_dir(repo())
        .args(["--quiet", "features", "--config"])
        .arg(data.config("telco"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run churn-trainer");
    assert!(status.success());
    let table = FeatureTable::read_parquet(&out).expect("read features");
    assert_eq!(table.len(), 7_043);
    assert_eq!(table.labels.iter().filter(|l| **l == Some(1)).count(), 1_869);
    assert!(table.as_of.iter().all(Option::is_none));
    for forbidden in ["Churn", "churn_label", "customerID"] {
        assert!(
            table.column(forbidden).is_none(),
            "{forbidden} must not be a feature"
        );
    }
    let total_charges = numeric(&table, "TotalCharges");
    assert_eq!(total_charges.iter().filter(|v| v.is_none()).count(), 11);
    assert!(matches!(
        table.column("Contract").map(|c| c.role),
        Some(churn_features::ColumnRole::Categorical)
    ));
}

#[test]
fn usage_errors_exit_2_and_bad_input_exits_1() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
            .current_dir(repo())
            .args(args)
            .output()
            .expect("run churn-trainer")
    };
    let usage = run(&[
        "features",
        "--as-of",
        "not-a-date",
        "--config",
        "examples/cdnow.toml",
    ]);
    assert_eq!(usage.status.code(), Some(2));
    // Usage errors found before any data is read: exit 2, naming what was wrong.
    let score = |extra: &[&'static str]| {
        let mut args = vec![
            "score",
            "--model",
            "m",
            "--registry",
            "r",
            "--features",
            "f.parquet",
        ];
        args.extend(extra);
        args
    };
    for (args, says) in [
        (score(&["--out", "s.parquet", "--call-list", "0"]), "--call-list"),
        (
            vec!["models", "promote", "m", "--registry", "examples"],
            "NAME@VERSION",
        ),
        (score(&["--out", "s.csv"]), ".parquet"),
    ] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let Some(data) = RealData::find(&[CDNOW]) else {
        return;
    };
    let config = data.config("cdnow");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.parquet");
    let outside = run(&[
        "features",
        "-c",
        config.to_str().expect("utf8"),
        "--as-of",
        "2001-01-01",
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(outside.status.code(), Some(1));
    let message = String::from_utf8_lossy(&outside.stderr);
    assert!(
        message.contains("outside the data range 1997-01-01 .. 1998-06-30"),
        "{message}"
    );
}

#[test]
fn monthly_as_of_range_stacks_month_ends() {
    let Some(data) = RealData::find(&[CDNOW]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cdnow.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .current_dir(repo())
        .args(["-q", "features", "-c"])
        .arg(data.config("cdnow"))
        .args(["--as-of-range", "1997-03-31..1997-06-30"])
        .args(["--step", "monthly", "--horizon", "90", "-o"])
        .arg(&out)
        .status()
        .expect("run churn-trainer");
    assert!(status.success());
    let table = FeatureTable::read_parquet(&out).expect("read features");
    let mut dates: Vec<String> = table.as_of.iter().flatten().map(|d| d.to_string()).collect();
    dates.dedup();
    assert_eq!(dates, ["1997-03-31", "1997-04-30", "1997-05-31", "1997-06-30"]);
    // Every CDNOW customer made a first purchase in Q1 1997, so each month end holds all of them.
    assert_eq!(table.len(), 4 * 23_570);
}
