//! Dates outside an input's accepted range, the label horizon, and exact duplicate rows.

use crate::common::*;
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, Inputs, LoadOptions, OnInvalid};
use std::path::Path;

/// 50 customers buying every 12 days from 2024-01-01 to 2024-12-25: 1,500 rows, enough for the 0.1%
/// quantiles to leave one stray row out.
fn year_of_purchases() -> Vec<(String, String, f64)> {
    let start = date("2024-01-01");
    (0..50)
        .flat_map(|c| {
            (0..30).map(move |k| {
                let day = start + chrono::Days::new(k * 12 + c % 12);
                (format!("c{c:02}"), day.to_string(), 10.0 + c as f64)
            })
        })
        .collect()
}

fn write_rows(dir: &Path, rows: &[(String, String, f64)]) {
    let rows: Vec<(&str, &str, f64)> = rows
        .iter()
        .map(|(id, ts, amount)| (id.as_str(), ts.as_str(), *amount))
        .collect();
    write_transactions(dir, &rows);
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
}

fn labels_at(table: &churn_features::FeatureTable, as_of: &str) -> Vec<Option<i8>> {
    let as_of = Some(date(as_of));
    (0..table.len())
        .filter(|&r| table.as_of[r] == as_of)
        .map(|r| table.labels[r])
        .collect()
}

#[test]
fn a_row_dated_2204_leaves_late_labels_null_and_late_as_of_dates_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = year_of_purchases();
    rows.push(("c07".into(), "2204-03-05".into(), 25.0));
    write_rows(dir.path(), &rows);
    let config = config(dir.path(), TX_CONFIG);

    // 2024-09-26 + 90 days is the last day of the data; 2024-11-30 + 90 days is past it (not past 2204).
    let (table, summary) = build(&config, &["2024-09-26", "2024-11-30"], Some(90), OnInvalid::Skip)
        .expect("build with the row skipped");
    let labels = labels_at(&table, "2024-11-30");
    assert_eq!(labels.len(), 50);
    assert!(labels.iter().all(Option::is_none), "{labels:?}");
    assert!(labels_at(&table, "2024-09-26").iter().all(Option::is_some));
    assert_eq!(summary.last_labelled_as_of, Some(date("2024-09-26")));
    assert_eq!(
        summary
            .rows_rejected
            .get("transactions.ts: date outside the accepted range 2023-01-01 .. 2025-12-25"),
        Some(&1),
        "{:?}",
        summary.rows_rejected
    );
    let range = &summary.input_ranges["transactions"];
    assert_eq!(
        (range.first, range.last),
        (date("2024-01-01"), date("2024-12-25"))
    );
    assert_eq!(summary.label_data_end, Some(date("2024-12-25")));

    let message = build(&config, &["2030-01-01"], Some(90), OnInvalid::Skip)
        .expect_err("as-of after the data")
        .to_string();
    assert_mentions(
        &message,
        &[
            "2030-01-01",
            "2024-01-01 .. 2024-12-25",
            "the last usable as-of date is 2024-12-25",
        ],
    );
}

#[test]
fn a_row_dated_2204_fails_the_run_naming_file_column_row_value_and_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = year_of_purchases();
    rows.insert(700, ("c07".into(), "2204-03-05".into(), 25.0));
    write_rows(dir.path(), &rows);
    let config = config(dir.path(), TX_CONFIG);
    let message = build(&config, &["2024-11-30"], Some(90), OnInvalid::Fail)
        .expect_err("outlier fails the run")
        .to_string();
    assert_mentions(
        &message,
        &[
            "tx.parquet",
            "`ts`",
            "row 700",
            "2204-03-05",
            "accepted range 2023-01-01 .. 2025-12-25",
            "0.1% and 99.9% quantiles",
            "min_date / max_date under [data]",
            "--on-invalid skip",
        ],
    );
}

#[test]
fn a_row_dated_1900_is_rejected_and_tenure_stays_within_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = year_of_purchases();
    rows.push(("c03".into(), "1900-01-01".into(), 5.0));
    write_rows(dir.path(), &rows);
    let config = config(dir.path(), TX_CONFIG);
    let (table, summary) = build(&config, &["2024-12-25"], None, OnInvalid::Skip).expect("build");
    assert_eq!(
        summary.rows_rejected.values().sum::<u64>(),
        1,
        "{:?}",
        summary.rows_rejected
    );
    let tenure = value(&table, "c03", "2024-12-25", "tenure_days").expect("tenure");
    assert_eq!(tenure, 356.0, "from the first purchase in 2024-01-04");
    assert_eq!(summary.data_range.map(|r| r.0), Some(date("2024-01-01")));

    let message = build(&config, &["2024-12-25"], None, OnInvalid::Fail)
        .expect_err("fails")
        .to_string();
    assert_mentions(&message, &["tx.parquet", "`ts`", "row 1500", "1900-01-01"]);
}

const BOUNDED: &str = "[data]\nmin_date = \"2024-01-01\"\nmax_date = \"2024-06-30\"\n";

fn write_bounded_inputs(dir: &Path) {
    write_transactions(
        dir,
        &[
            ("a", "2024-01-05", 1.0),
            ("a", "2023-12-31", 2.0),
            ("b", "2024-03-01", 3.0),
            ("b", "2024-07-01", 4.0),
        ],
    );
    write_events(
        dir,
        &[
            ("a", "2024-02-01", "login"),
            ("b", "2024-08-01T09:30:00", "login"),
        ],
    );
    write_batch(
        &dir.join("customers.parquet"),
        vec![
            ("customer_id", strings(&["a", "b", "c"])),
            ("signup", timestamps(&["2024-01-02", "2024-01-03", "1999-05-05"])),
        ],
    );
}

fn bounded_config(dir: &Path) -> churn_features::Config {
    let customers = "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\nsignup_date = \"signup\"\n";
    config(dir, &format!("{TX_CONFIG}{EVENTS_CONFIG}{customers}{BOUNDED}"))
}

#[test]
fn configured_min_and_max_dates_bound_every_dated_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_bounded_inputs(dir.path());
    let config = bounded_config(dir.path());
    let (table, summary) = build(&config, &["2024-03-01"], None, OnInvalid::Skip).expect("build");
    let reason = "date outside the accepted range 2024-01-01 .. 2024-06-30";
    assert_eq!(
        summary.rows_rejected.get(&format!("transactions.ts: {reason}")),
        Some(&2)
    );
    assert_eq!(
        summary.rows_rejected.get(&format!("events.ts: {reason}")),
        Some(&1)
    );
    assert_eq!(
        summary.rows_rejected.get(&format!("customers.signup: {reason}")),
        Some(&1)
    );
    assert_eq!(value(&table, "a", "2024-03-01", "total_spend"), Some(1.0));
    assert_eq!(value(&table, "b", "2024-03-01", "total_spend"), Some(3.0));
    assert!(!has_row(&table, "c", "2024-03-01"));
    let events = &summary.input_ranges["events"];
    assert_eq!(events.last, date("2024-02-01"));
    assert_eq!(events.accepted_to, Some(date("2024-06-30")));

    let message = build(&config, &["2024-07-01"], None, OnInvalid::Skip)
        .expect_err("as-of after the rows kept")
        .to_string();
    assert_mentions(
        &message,
        &["2024-07-01", "the last usable as-of date is 2024-03-01"],
    );
}

#[test]
fn configured_range_fails_on_the_first_row_outside_with_how_to_change_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_bounded_inputs(dir.path());
    let config = bounded_config(dir.path());
    let message = build(&config, &["2024-06-30"], None, OnInvalid::Fail)
        .expect_err("fails")
        .to_string();
    assert_mentions(
        &message,
        &[
            "tx.parquet",
            "`ts`",
            "row 1:",
            "2023-12-31",
            "2024-01-01 .. 2024-06-30",
            "[data] min_date and max_date",
        ],
    );

    write_transactions(dir.path(), &[("a", "2024-01-05", 1.0)]);
    let message = build(&config, &["2024-06-30"], None, OnInvalid::Fail)
        .expect_err("fails on events")
        .to_string();
    assert_mentions(&message, &["events.parquet", "`ts`", "row 1:", "2024-08-01"]);
}

#[test]
fn as_of_dates_whose_horizon_runs_past_the_data_are_unlabelled_and_all_of_them_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_rows(dir.path(), &year_of_purchases());
    let config = config(dir.path(), TX_CONFIG);

    // Some: built, labels null where the horizon runs past 2024-12-25, the last labelled date recorded.
    let (table, summary) =
        build(&config, &["2024-06-30", "2024-10-31"], Some(60), OnInvalid::Fail).expect("partly labelled");
    assert!(labels_at(&table, "2024-06-30").iter().all(Option::is_some));
    assert!(labels_at(&table, "2024-10-31").iter().all(Option::is_none));
    assert_eq!(summary.last_labelled_as_of, Some(date("2024-10-26")));
    assert_eq!(summary.as_of[1].labelled, 0);

    // All: refused, naming the dates, the horizon, the end of the data and the last date that works.
    let error = build(&config, &["2024-11-30", "2024-12-25"], Some(60), OnInvalid::Fail)
        .expect_err("no row can be labelled");
    let message = error.to_string();
    match error {
        churn_features::FeatureError::Unlabellable {
            as_of,
            horizon_days,
            data_end,
            last_labelled_as_of,
            ..
        } => {
            assert_eq!(as_of, [date("2024-11-30"), date("2024-12-25")]);
            assert_eq!(horizon_days, 60);
            assert_eq!(data_end, date("2024-12-25"));
            assert_eq!(last_labelled_as_of, Some(date("2024-10-26")));
        }
        other => panic!("{other}"),
    }
    assert_mentions(
        &message,
        &[
            "no row can be labelled",
            "2024-11-30",
            "60-day label horizon",
            "2025-01-29",
            "past 2024-12-25",
            "the last as-of date that can be labelled is 2024-10-26",
            "leave out --horizon",
        ],
    );

    // A horizon longer than the data: no as-of date could ever be labelled.
    let message = build(&config, &["2024-12-25"], Some(400), OnInvalid::Fail)
        .expect_err("horizon longer than the data")
        .to_string();
    assert_mentions(
        &message,
        &["the data are shorter than the horizon", "shorter --horizon"],
    );

    // Without a horizon, no labels were asked for: a table to score, built without complaint.
    let (table, summary) = build(&config, &["2024-12-25"], None, OnInvalid::Fail).expect("scoring table");
    assert!(table.labels.iter().all(Option::is_none));
    assert_eq!(summary.last_labelled_as_of, None);
}

#[test]
fn a_horizon_of_zero_days_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("a", "2024-03-01", 1.0)]);
    let config = config(dir.path(), TX_CONFIG);
    let message = build(&config, &["2024-01-31"], Some(0), OnInvalid::Fail)
        .expect_err("horizon 0")
        .to_string();
    assert_mentions(&message, &["horizon", "at least 1 day"]);
    let request = BuildRequest {
        as_of: vec![date("2024-01-31")],
        horizon_days: Some(0),
        durations: false,
    };
    assert!(request.validate().is_err());
    assert!(build(&config, &["2024-01-31"], Some(1), OnInvalid::Fail).is_ok());
}

fn load_and_build(
    config: &churn_features::Config,
    dedupe: bool,
) -> (churn_features::FeatureTable, churn_features::BuildSummary) {
    let options = LoadOptions {
        on_invalid: OnInvalid::Fail,
        dedupe,
    };
    let inputs = Inputs::load(config, options, &NoProgress).expect("load");
    let request = BuildRequest {
        as_of: vec![date("2024-01-06")],
        horizon_days: None,
        durations: false,
    };
    churn_features::build(config, inputs, &request).expect("build")
}

#[test]
fn exact_duplicate_rows_are_counted_and_dropped_with_dedupe() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(
        dir.path(),
        &[
            ("a", "2024-01-05T10:00:00", 10.0),
            ("a", "2024-01-05T10:00:00", 10.0),
            ("a", "2024-01-05T11:00:00", 10.0),
            ("a", "2024-01-05T10:00:00", 12.0),
            ("b", "2024-01-05T10:00:00", 10.0),
            ("a", "2024-01-05T10:00:00", 10.0),
        ],
    );
    write_events(
        dir.path(),
        &[
            ("a", "2024-01-06T08:00:00", "login"),
            ("a", "2024-01-06T08:00:00", "login"),
            ("a", "2024-01-06T08:00:00", "ticket"),
        ],
    );
    let config = config(dir.path(), &format!("{TX_CONFIG}{EVENTS_CONFIG}"));

    let (kept, summary) = load_and_build(&config, false);
    assert_eq!(summary.duplicate_rows["transactions"], 2);
    assert_eq!(summary.duplicate_rows["events"], 1);
    assert!(!summary.duplicates_dropped);
    assert_eq!(value(&kept, "a", "2024-01-06", "total_spend"), Some(52.0));

    let (deduped, summary) = load_and_build(&config, true);
    assert_eq!(summary.duplicate_rows["transactions"], 2);
    assert!(summary.duplicates_dropped);
    assert_eq!(value(&deduped, "a", "2024-01-06", "total_spend"), Some(32.0));
    assert_eq!(value(&deduped, "b", "2024-01-06", "total_spend"), Some(10.0));
    assert_eq!(value(&deduped, "a", "2024-01-06", "events_login_30d"), Some(1.0));
}
