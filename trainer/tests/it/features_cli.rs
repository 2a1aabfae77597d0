//! `churn-trainer features` through the binary: the horizon's range, duplicate rows, the run report and
//! the catalog.

use crate::common::{generate, ok, path, trainer};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{Field, Schema};
use churn_features::{ColumnValues, FeatureTable};
use parquet::arrow::ArrowWriter;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

const CONFIG: &str = "[transactions]\npath = \"tx.parquet\"\ncustomer_id = \"customer_id\"\n\
                      timestamp = \"ts\"\namount = \"amount\"\n";

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS` (UTC).
fn micros(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .expect("timestamp literal")
        .and_utc()
        .timestamp_micros()
}

/// Writes `dir/tx.parquet` from (id, timestamp, amount) rows and `dir/churn.toml` mapping it.
fn write_inputs(dir: &Path, rows: &[(&str, &str, f64)]) {
    let ids: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
    let ts: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(rows.iter().map(|r| micros(r.1)).collect::<Vec<_>>())
            .with_timezone("UTC"),
    );
    let amounts: ArrayRef = Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()));
    let fields: Vec<Field> = [("customer_id", &ids), ("ts", &ts), ("amount", &amounts)]
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, ts, amounts]).expect("batch");
    let file = std::fs::File::create(dir.join("tx.parquet")).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    std::fs::write(dir.join("churn.toml"), CONFIG).expect("write config");
}

fn features(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .current_dir(dir)
        .args(["features", "-c", "churn.toml", "-o", "features.parquet"])
        .args(extra)
        .output()
        .expect("run churn-trainer")
}

fn total_spend(dir: &Path, id: &str) -> Option<f64> {
    let table = FeatureTable::read_parquet(&dir.join("features.parquet")).expect("read features");
    let row = (0..table.len())
        .find(|&r| table.customer_id_string(r) == id)
        .expect("customer row");
    match &table.column("total_spend").expect("total_spend").values {
        ColumnValues::Numeric(values) => values[row],
        ColumnValues::Categorical(_) => panic!("total_spend is numeric"),
    }
}

#[test]
fn a_horizon_of_zero_days_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path(), &[("a", "2024-01-01T10:00:00", 1.0)]);
    let output = features(dir.path(), &["--as-of", "2024-01-01", "--horizon", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--horizon") && stderr.contains("0 is not in 1.."),
        "{stderr}"
    );
    assert!(!dir.path().join("features.parquet").exists());
}

#[test]
fn exact_duplicates_are_reported_and_dropped_with_dedupe() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(
        dir.path(),
        &[
            ("a", "2024-01-01T10:00:00", 10.0),
            ("a", "2024-01-01T10:00:00", 10.0),
            ("a", "2024-01-01T10:00:01", 10.0),
            ("b", "2024-01-10T08:00:00", 5.0),
        ],
    );
    let output = features(dir.path(), &["--as-of", "2024-01-10"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("exact duplicate rows in transactions: 1 (used; --dedupe drops them)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("data range of transactions: 2024-01-01 .. 2024-01-10"),
        "{stderr}"
    );
    assert_eq!(total_spend(dir.path(), "a"), Some(30.0));

    let output = features(dir.path(), &["--as-of", "2024-01-10", "--dedupe"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("exact duplicate rows in transactions: 1 (dropped)"),
        "{stderr}"
    );
    assert_eq!(total_spend(dir.path(), "a"), Some(20.0));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("features.summary.json")).expect("summary"))
            .expect("summary json");
    assert_eq!(summary["duplicate_rows"]["transactions"], 1);
    assert_eq!(summary["duplicates_dropped"], true);
    assert_eq!(summary["input_ranges"]["transactions"]["last"], "2024-01-10");
}

/// (name, meaning) of every feature of `churn-trainer features --catalog --format json ARGS`.
fn catalog(args: &[&str]) -> Vec<(String, String)> {
    let mut argv = vec!["features", "--catalog", "--format", "json"];
    argv.extend(args);
    let json: serde_json::Value = serde_json::from_str(&ok(&argv)).expect("catalog json");
    json.as_array()
        .expect("a list")
        .iter()
        .map(|spec| {
            let text = |key: &str| spec[key].as_str().expect(key).to_string();
            (text("name"), text("meaning"))
        })
        .collect()
}

/// (name, meaning) of every feature column of the table at `path`, as written.
fn written_columns(path: &Path) -> Vec<(String, String)> {
    FeatureTable::read_parquet(path)
        .expect("read features")
        .columns
        .into_iter()
        .map(|c| (c.name, c.description.unwrap_or_default()))
        .collect()
}

#[test]
fn the_catalog_lists_the_columns_the_build_writes_for_the_same_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    generate(&data, 300, 5);
    let config = data.join("churn.toml");
    let config = path(&config);

    let out = dir.path().join("features.parquet");
    ok(&[
        "features",
        "-c",
        config,
        "--as-of",
        "2023-03-31",
        "-o",
        path(&out),
    ]);
    let listed = catalog(&["-c", config, "--as-of", "2023-03-31"]);
    assert_eq!(listed, written_columns(&out));
    let names: Vec<&str> = listed.iter().map(|(name, _)| name.as_str()).collect();
    for name in [
        "days_since_last_login",
        "events_support_ticket_30d",
        "plan",
        "age",
        "tenure_days",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains('<') || n.contains("event_type") || *n == "days_since_last_event_type"),
        "placeholders in {names:?}"
    );

    // Without --as-of: the columns of a build as of the last day of the data.
    let latest = dir.path().join("latest.parquet");
    ok(&[
        "features",
        "-c",
        config,
        "--as-of",
        "2024-12-31",
        "-o",
        path(&latest),
    ]);
    assert_eq!(catalog(&["-c", config]), written_columns(&latest));

    let text = ok(&["features", "--catalog", "-c", config]);
    assert!(text.lines().any(|l| l.starts_with("events_login_7d ")), "{text}");
}

#[test]
fn the_catalog_without_a_config_says_what_it_needs() {
    let output = trainer(&["features", "--catalog"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--catalog needs --config FILE"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// Purchases up to 2024-03-31: a 30-day horizon labels as-of dates up to 2024-03-01.
const ROWS_TO_MARCH: [(&str, &str, f64); 5] = [
    ("a", "2024-01-01T10:00:00", 10.0),
    ("b", "2024-01-10T10:00:00", 5.0),
    ("a", "2024-02-15T10:00:00", 10.0),
    ("b", "2024-03-01T10:00:00", 5.0),
    ("a", "2024-03-31T10:00:00", 10.0),
];

#[test]
fn a_build_whose_horizon_runs_past_the_data_warns_and_fails_when_no_row_can_be_labelled() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path(), &ROWS_TO_MARCH);

    // No as-of date can be labelled: a usage error naming the date, the horizon, the end of the data
    // and the last as-of date that can be labelled; nothing written.
    let output = features(dir.path(), &["--as-of", "2024-03-15", "--horizon", "30"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for part in [
        "no row can be labelled",
        "2024-03-15",
        "30-day label horizon",
        "past 2024-03-31",
        "the last as-of date that can be labelled is 2024-03-01",
        "leave out --horizon",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert!(!dir.path().join("features.parquet").exists());

    // Some can: built, with a warning and the unlabelled date marked as rows to score.
    let output = features(
        dir.path(),
        &[
            "--as-of",
            "2024-01-31",
            "--as-of",
            "2024-03-15",
            "--horizon",
            "30",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for part in [
        "as-of dates 2024-03-15 cannot be labelled: their 30-day label horizon runs past 2024-03-31",
        "The last as-of date that can be labelled is 2024-03-01",
        "as of 2024-01-31: 2 customers, 2 labelled",
        "as of 2024-03-15: 2 customers, unlabelled: the 30-day horizon runs past 2024-03-31, the end of the \
         data: rows to score, not to train on",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("features.summary.json")).expect("summary"))
            .expect("summary json");
    assert_eq!(summary["last_labelled_as_of"], "2024-03-01");
}

#[test]
fn a_table_without_horizon_is_built_for_scoring_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path(), &ROWS_TO_MARCH);
    let output = features(dir.path(), &["--as-of", "2024-03-31"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "as of 2024-03-31: 2 customers, unlabelled (no --horizon): rows to score, not to train on"
        ),
        "{stderr}"
    );
}

#[test]
fn a_customers_table_with_several_rows_per_customer_is_refused_with_the_section_that_fits() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(
        dir.path(),
        &[
            ("a", "2024-01-01T10:00:00", 1.0),
            ("b", "2024-01-02T10:00:00", 2.0),
        ],
    );
    // A table of orders mapped as [customers]: two rows for `a`.
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
    let ordered_at: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(vec![
            micros("2024-01-01T10:00:00"),
            micros("2024-01-02T10:00:00"),
            micros("2024-01-03T10:00:00"),
        ])
        .with_timezone("UTC"),
    );
    let amounts: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]));
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", ids.data_type().clone(), true),
        Field::new("ordered_at", ordered_at.data_type().clone(), true),
        Field::new("amount", amounts.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, ordered_at, amounts]).expect("batch");
    let file = std::fs::File::create(dir.path().join("orders.parquet")).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    std::fs::write(
        dir.path().join("churn.toml"),
        format!("{CONFIG}[customers]\npath = \"orders.parquet\"\ncustomer_id = \"customer_id\"\n"),
    )
    .expect("write config");
    for policy in ["fail", "skip"] {
        let output = features(dir.path(), &["--as-of", "2024-01-02", "--on-invalid", policy]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{policy}: {stderr}");
        for part in [
            "orders.parquet",
            "[customers] needs one row per customer",
            "rows 0 and 2",
            "this looks like transactions: map it as [transactions]",
        ] {
            assert!(stderr.contains(part), "{policy}: {part}: {stderr}");
        }
        assert!(!dir.path().join("features.parquet").exists());
    }
}

#[test]
fn a_horizon_with_nothing_to_label_with_is_a_usage_error_before_any_input_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Events and customer attributes without a churn date, and no file at all: the refusal comes from
    // the configuration and the flags.
    std::fs::write(
        dir.path().join("churn.toml"),
        "[events]\npath = \"events.parquet\"\ncustomer_id = \"id\"\ntimestamp = \"ts\"\nevent_type = \"kind\"\n\
         [customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\n",
    )
    .expect("write config");
    let output = features(dir.path(), &["--as-of", "2024-01-31", "--horizon", "90"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for part in [
        "--horizon 90 asks for labels",
        "[transactions]",
        "churn_date",
        "leave out --horizon",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert!(!stderr.contains("events.parquet"), "nothing was read: {stderr}");
}

#[test]
fn a_mapped_column_null_in_every_row_is_warned_about_before_the_build() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(
        dir.path(),
        &[
            ("a", "2024-01-01T10:00:00", 1.0),
            ("b", "2024-01-02T10:00:00", 2.0),
        ],
    );
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
    let limits: ArrayRef = Arc::new(Float64Array::from(vec![None::<f64>, None]));
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", ids.data_type().clone(), true),
        Field::new("credit_limit", limits.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![ids, limits]).expect("batch");
    let file = std::fs::File::create(dir.path().join("customers.parquet")).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    std::fs::write(
        dir.path().join("churn.toml"),
        format!("{CONFIG}[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\n"),
    )
    .expect("write config");
    let output = features(dir.path(), &["--as-of", "2024-01-02"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warned = stderr
        .find("column `credit_limit`, mapped in [customers], is null in every row")
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(stderr[..warned].contains("customers.parquet"), "{stderr}");
    let built = stderr
        .find("wrote 2 rows")
        .unwrap_or_else(|| panic!("no report: {stderr}"));
    assert!(warned < built, "warned after the build: {stderr}");
}
