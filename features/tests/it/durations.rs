//! Durations for survival models: `[labels] duration` in its unit, contractual durations to the churn
//! date or censored at the end of the data, and the refusals (inactivity labels, bad durations, a
//! missing unit).

use crate::common::*;
use arrow_array::{ArrayRef, StringArray};
use churn_features::table::{DURATION_COLUMN, EVENT_COLUMN};
use churn_features::{BuildRequest, ColumnRole, Config, FeatureTable, Inputs, OnInvalid};
use std::sync::Arc;

fn build_with_durations(
    config: &Config,
    as_of: &[&str],
    horizon: Option<u32>,
) -> churn_features::Result<FeatureTable> {
    let inputs = Inputs::load(config, OnInvalid::Fail, &churn_features::input::NoProgress)?;
    let request = BuildRequest {
        as_of: as_of.iter().map(|d| date(d)).collect(),
        horizon_days: horizon,
        durations: true,
    };
    churn_features::build(config, inputs, &request).map(|(table, _)| table)
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} should mention {part:?}");
    }
}

/// The number in `column` of snapshot customer `id`.
fn snapshot_value(table: &FeatureTable, id: &str, column: &str) -> Option<f64> {
    let row = (0..table.len())
        .find(|&r| table.customer_id_string(r) == id)
        .unwrap_or_else(|| panic!("no row for {id}"));
    match &table
        .column(column)
        .unwrap_or_else(|| panic!("no {column}"))
        .values
    {
        churn_features::ColumnValues::Numeric(values) => values[row],
        churn_features::ColumnValues::Categorical(_) => panic!("{column} is not numeric"),
    }
}

fn outcome_role(table: &FeatureTable, name: &str) -> ColumnRole {
    table.column(name).unwrap_or_else(|| panic!("no {name}")).role
}

const SNAPSHOT: &str = "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nexclude = [\"tenure\"]\n\
                        [labels]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nlabel = \"churned\"\n\
                        duration = \"tenure\"\nduration_unit = \"months\"\n";

fn write_snapshot(dir: &std::path::Path, tenure: ArrayRef) {
    write_batch(
        &dir.join("customers.parquet"),
        vec![
            ("id", strings(&["a", "b", "c"])),
            ("plan", strings(&["x", "y", "x"])),
            ("tenure", tenure),
            (
                "churned",
                Arc::new(arrow_array::Int64Array::from(vec![1i64, 0, 1])) as ArrayRef,
            ),
        ],
    );
}

#[test]
fn given_durations_are_stored_in_days_with_the_label_as_the_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_snapshot(dir.path(), floats(&[2.0, 0.0, 5.5]));
    let config = config(dir.path(), SNAPSHOT);
    // [labels] duration writes the durations without being asked.
    let (table, _) = build(&config, &[], None, OnInvalid::Fail).expect("build");
    let month = 365.25 / 12.0;
    for (id, days, event) in [("a", 2.0 * month, 1.0), ("b", 0.0, 0.0), ("c", 5.5 * month, 1.0)] {
        assert_eq!(snapshot_value(&table, id, DURATION_COLUMN), Some(days), "{id}");
        assert_eq!(snapshot_value(&table, id, EVENT_COLUMN), Some(event), "{id}");
    }
    assert_eq!(outcome_role(&table, DURATION_COLUMN), ColumnRole::Outcome);
    assert_eq!(outcome_role(&table, EVENT_COLUMN), ColumnRole::Outcome);
    assert!(table.column("tenure").is_none(), "excluded from the features");
    // Like the label, a duration in the customers file is never a feature, even when not excluded:
    // it is the outcome itself.
    let unexcluded = crate::common::config(dir.path(), &SNAPSHOT.replace("exclude = [\"tenure\"]\n", ""));
    let (leaky, _) = build(&unexcluded, &[], None, OnInvalid::Fail).expect("build");
    assert!(leaky.column("tenure").is_none(), "the duration is not a feature");
    assert!(leaky.column("plan").is_some());

    // The Parquet form keeps them as outcomes.
    let path = dir.path().join("table.parquet");
    table.write_parquet(&path).expect("write");
    let read = FeatureTable::read_parquet(&path).expect("read");
    assert_eq!(read, table);
}

#[test]
fn null_and_negative_durations_are_refused_naming_file_column_and_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_snapshot(dir.path(), floats(&[2.0, -1.0, 5.0]));
    let error = build(&config(dir.path(), SNAPSHOT), &[], None, OnInvalid::Fail).expect_err("negative");
    assert_mentions(
        &error.to_string(),
        &["customers.parquet", "`tenure`", "row 1", "negative duration -1"],
    );

    let nulls: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![Some(2.0), Some(1.0), None]));
    write_snapshot(dir.path(), nulls);
    let error = build(&config(dir.path(), SNAPSHOT), &[], None, OnInvalid::Fail).expect_err("null");
    assert_mentions(
        &error.to_string(),
        &["customers.parquet", "`tenure`", "row 2", "null duration"],
    );
    // Skipped, the row is left out with its label.
    let (table, _) = build(&config(dir.path(), SNAPSHOT), &[], None, OnInvalid::Skip).expect("skip");
    assert_eq!(table.labels.iter().filter(|l| l.is_some()).count(), 2);
    let known: Vec<bool> = match &table.column(DURATION_COLUMN).expect("durations").values {
        churn_features::ColumnValues::Numeric(values) => values.iter().map(Option::is_some).collect(),
        churn_features::ColumnValues::Categorical(_) => panic!("numeric"),
    };
    assert_eq!(known.iter().filter(|&&k| k).count(), 2);
}

#[test]
fn a_duration_without_its_unit_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = SNAPSHOT.replace("duration_unit = \"months\"\n", "");
    let error = Config::parse(&text, dir.path()).expect_err("no unit");
    assert_mentions(
        &error,
        &["[labels]", "duration = \"tenure\"", "needs duration_unit"],
    );
    let text = SNAPSHOT.replace("duration_unit = \"months\"", "duration_unit = \"fortnights\"");
    assert!(Config::parse(&text, dir.path()).is_err());
}

/// Customers `a` (churns 2024-04-10), `b` (never churns) and `c` (churned 2024-02-01), with
/// transactions up to 2024-06-30, the end of the data.
fn contractual(dir: &std::path::Path) -> Config {
    write_transactions(
        dir,
        &[
            ("a", "2024-01-05", 10.0),
            ("b", "2024-01-06", 20.0),
            ("c", "2024-01-07", 30.0),
            ("b", "2024-06-30", 20.0),
        ],
    );
    let churn: ArrayRef = Arc::new(StringArray::from(vec![
        Some("2024-04-10"),
        None,
        Some("2024-02-01"),
    ]));
    write_batch(
        &dir.join("c.parquet"),
        vec![
            ("id", strings(&["a", "b", "c"])),
            ("signup", strings(&["2024-01-01", "2024-01-01", "2024-01-01"])),
            ("cancelled", churn),
        ],
    );
    config(
        dir,
        &format!(
            "{TX_CONFIG}[customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\nsignup_date = \"signup\"\n\
             churn_date = \"cancelled\"\nattributes = []\n"
        ),
    )
}

#[test]
fn contractual_durations_run_to_the_churn_date_or_are_censored_at_the_end_of_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = contractual(dir.path());
    let table = build_with_durations(&config, &["2024-03-31", "2024-05-31"], Some(30)).expect("build");
    // As of March 31: a churns 10 days later (within the 30-day horizon: label 1); b is censored at the
    // end of the data, 91 days later; c churned before and is not a customer any more.
    assert_eq!(value(&table, "a", "2024-03-31", DURATION_COLUMN), Some(10.0));
    assert_eq!(value(&table, "a", "2024-03-31", EVENT_COLUMN), Some(1.0));
    assert_eq!(value(&table, "b", "2024-03-31", DURATION_COLUMN), Some(91.0));
    assert_eq!(value(&table, "b", "2024-03-31", EVENT_COLUMN), Some(0.0));
    assert!(!has_row(&table, "c", "2024-03-31"));
    // As of May 31 the label's horizon runs past the end of the data (null label), but the duration is
    // known: censored 30 days later.
    assert_eq!(value(&table, "b", "2024-05-31", DURATION_COLUMN), Some(30.0));
    assert_eq!(table.labels[row_of(&table, "b", "2024-05-31")], Some(0));
    // Without --durations there are no outcome columns.
    let (plain, _) = build(&config, &["2024-03-31"], Some(30), OnInvalid::Fail).expect("build");
    assert!(plain.column(DURATION_COLUMN).is_none() && plain.column(EVENT_COLUMN).is_none());
}

#[test]
fn inactivity_labels_and_labels_without_durations_refuse_to_give_durations() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(
        dir.path(),
        &[("a", "2024-01-05", 10.0), ("b", "2024-06-30", 20.0)],
    );
    let inactivity = config(dir.path(), TX_CONFIG);
    let error = build_with_durations(&inactivity, &["2024-03-31"], Some(30)).expect_err("inactivity");
    assert!(matches!(error, churn_features::FeatureError::NoDurations(_)));
    assert_mentions(
        &error.to_string(),
        &["inactivity labels", "no observed churn time", "churn_date"],
    );

    write_snapshot(dir.path(), floats(&[1.0, 2.0, 3.0]));
    let text = "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\n\
                [labels]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nlabel = \"churned\"\n";
    let error = build_with_durations(&config(dir.path(), text), &[], None).expect_err("no duration");
    assert_mentions(
        &error.to_string(),
        &["[labels] has no duration column", "duration_unit"],
    );
}

#[test]
fn contractual_durations_without_a_horizon_and_given_durations_at_as_of_dates_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error =
        build_with_durations(&contractual(dir.path()), &["2024-03-31"], None).expect_err("no horizon");
    assert!(matches!(error, churn_features::FeatureError::NoDurations(_)));
    assert_mentions(&error.to_string(), &["--durations needs --horizon DAYS"]);

    // A snapshot's durations count from when it was taken, so they say nothing as of another date.
    write_snapshot(dir.path(), floats(&[2.0, 0.0, 5.5]));
    let error = build(
        &config(dir.path(), SNAPSHOT),
        &["2024-03-31"],
        None,
        OnInvalid::Fail,
    )
    .expect_err("dated build of given durations");
    assert!(matches!(error, churn_features::FeatureError::NoDurations(_)));
    assert_mentions(
        &error.to_string(),
        &[
            "[labels] duration",
            "not the time from an as-of date",
            "build without --as-of",
        ],
    );
}
