//! Date attributes of `[customers]`: ages and days-until at each as-of date, computed by hand here, with
//! dates, 64-bit dates and timestamps with a time zone; a date column left out of `date_attributes` is not
//! used; a configured date attribute that is not a date.

use crate::common::*;
use arrow_array::{ArrayRef, Date32Array, Date64Array, TimestampMillisecondArray};
use churn_features::{BuildRequest, Inputs, OnInvalid};
use std::path::Path;
use std::sync::Arc;

const AS_OF: [&str; 2] = ["2024-03-31", "2024-06-30"];

/// Days since the epoch of a `YYYY-MM-DD` date.
fn epoch_days(text: &str) -> i32 {
    (date(text) - date("1970-01-01")).num_days() as i32
}

/// Milliseconds since the epoch of an RFC 3339 time with its offset.
fn millis(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 literal")
        .timestamp_millis()
}

/// Purchases of a, b and c early in January, and their customer rows: `date_of_birth` (Date32, configured
/// as an age), `contract_end` (Date64, configured as days until), `renewed_at` (a timestamp in New York
/// time, configured as an age) and `last_login_at` (Date32, not configured).
fn write_inputs(dir: &Path) {
    write_transactions(
        dir,
        &[
            ("a", "2024-01-05", 10.0),
            ("b", "2024-01-06", 20.0),
            ("c", "2024-01-07", 30.0),
            ("a", "2024-07-01", 10.0),
        ],
    );
    let birth: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(epoch_days("1990-03-31")),
        None,
        Some(epoch_days("2024-04-15")),
    ]));
    let contract_end: ArrayRef = Arc::new(Date64Array::from(vec![
        Some(i64::from(epoch_days("2024-05-01")) * 86_400_000),
        Some(i64::from(epoch_days("2024-02-29")) * 86_400_000),
        None,
    ]));
    // 23:30 in New York on 30 April is 03:30 UTC on 1 May; 22:00 on 31 March is 02:00 UTC on 1 April:
    // the UTC day counts, as for every date of the engine.
    let renewed_at: ArrayRef = Arc::new(
        TimestampMillisecondArray::from(vec![
            Some(millis("2024-04-30T23:30:00-04:00")),
            None,
            Some(millis("2024-03-31T22:00:00-04:00")),
        ])
        .with_timezone("America/New_York"),
    );
    let last_login: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(epoch_days("2024-07-01")),
        Some(epoch_days("2024-01-06")),
        None,
    ]));
    write_batch(
        &dir.join("customers.parquet"),
        vec![
            ("customer_id", strings(&["a", "b", "c"])),
            ("date_of_birth", birth),
            ("contract_end", contract_end),
            ("renewed_at", renewed_at),
            ("last_login_at", last_login),
            ("plan", strings(&["x", "y", "x"])),
        ],
    );
}

const CUSTOMERS: &str = r#"
[customers]
path = "customers.parquet"
customer_id = "customer_id"
date_attributes = { contract_end = "in_days", date_of_birth = "age", renewed_at = "age" }
"#;

#[test]
fn ages_and_days_until_are_counted_at_each_as_of_date() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path());
    let config = config(dir.path(), &format!("{TX_CONFIG}{CUSTOMERS}"));
    let (table, summary) = build(&config, &AS_OF, None, OnInvalid::Fail).expect("build");
    // (customer, column, value as of 2024-03-31, value as of 2024-06-30); null: `None`.
    let expected: [(&str, &str, Option<f64>, Option<f64>); 9] = [
        // Born 1990-03-31: 12,419 days old on 2024-03-31, 91 days more on 2024-06-30.
        ("a", "date_of_birth_age_days", Some(12_419.0), Some(12_510.0)),
        // Contract ending 2024-05-01: in 31 days, then 60 days ago.
        ("a", "contract_end_in_days", Some(31.0), Some(-60.0)),
        // Renewed 2024-05-01 (UTC): after the first as-of date, so no age yet; 60 days on 2024-06-30.
        ("a", "renewed_at_age_days", None, Some(60.0)),
        ("b", "date_of_birth_age_days", None, None),
        // Contract ended 2024-02-29: 31 days before the first as-of date, 122 before the second.
        ("b", "contract_end_in_days", Some(-31.0), Some(-122.0)),
        ("b", "renewed_at_age_days", None, None),
        // A birth date after the first as-of date never shows as a negative age: null, then 76 days.
        ("c", "date_of_birth_age_days", None, Some(76.0)),
        ("c", "contract_end_in_days", None, None),
        // 2024-04-01 UTC (31 March in New York): after 2024-03-31, so null; then 90 days.
        ("c", "renewed_at_age_days", None, Some(90.0)),
    ];
    for (id, column, first, second) in expected {
        assert_eq!(
            value(&table, id, AS_OF[0], column),
            first,
            "{id} {column} {}",
            AS_OF[0]
        );
        assert_eq!(
            value(&table, id, AS_OF[1], column),
            second,
            "{id} {column} {}",
            AS_OF[1]
        );
    }
    assert!(table.column("date_of_birth").is_none() && table.column("contract_end").is_none());
    assert_eq!(text(&table, "a", AS_OF[0], "plan").as_deref(), Some("x"));
    // An age that hid dates after an as-of date is said once per column, with the count and without
    // suggesting days-until for a date recorded after the fact.
    for (column, count) in [
        ("`date_of_birth`", "in 1 of 6 rows"),
        ("`renewed_at`", "in 2 of 6 rows"),
    ] {
        let hidden: Vec<&String> = summary
            .warnings
            .iter()
            .filter(|w| w.contains(column) && w.contains("after the as-of date"))
            .collect();
        assert_eq!(hidden.len(), 1, "{column}: {:?}", summary.warnings);
        for part in ["customers.parquet", count, "take it out of date_attributes"] {
            assert!(hidden[0].contains(part), "{part}: {}", hidden[0]);
        }
        assert!(!hidden[0].contains("= \"in_days\""), "{}", hidden[0]);
    }
}

#[test]
fn a_date_column_not_named_in_date_attributes_is_left_out_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path());
    let config = config(dir.path(), &format!("{TX_CONFIG}{CUSTOMERS}"));
    let (table, summary) = build(&config, &AS_OF, None, OnInvalid::Fail).expect("build");
    // `last_login_at` (a's login on 2024-07-01, after both as-of dates) would say who came back.
    assert!(table.column("last_login_at_age_days").is_none());
    assert!(table.column("last_login_at").is_none());
    let left_out: Vec<&String> = summary
        .warnings
        .iter()
        .filter(|w| w.contains("`last_login_at`"))
        .collect();
    assert_eq!(left_out.len(), 1, "{:?}", summary.warnings);
    for part in [
        "customers.parquet",
        "left out",
        "date_attributes = { last_login_at = \"age\" }",
        "fixed in advance",
    ] {
        assert!(left_out[0].contains(part), "{part}: {}", left_out[0]);
    }
    assert!(!left_out[0].contains("in_days"), "{}", left_out[0]);
}

#[test]
fn the_catalog_gives_each_date_attribute_its_unit_and_meaning() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_inputs(dir.path());
    let config = config(dir.path(), &format!("{TX_CONFIG}{CUSTOMERS}"));
    let inputs = Inputs::load(&config, OnInvalid::Fail, &churn_features::input::NoProgress).expect("load");
    let request = BuildRequest {
        as_of: vec![date(AS_OF[0])],
        horizon_days: None,
        durations: false,
    };
    let layout = churn_features::engine::columns(&config, &inputs, &request).expect("columns");
    let spec = |name: &str| {
        layout
            .specs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in the catalog"))
    };
    for name in [
        "date_of_birth_age_days",
        "contract_end_in_days",
        "renewed_at_age_days",
    ] {
        assert_eq!(spec(name).unit, "days", "{name}");
        assert_eq!(spec(name).role.as_str(), "numeric", "{name}");
    }
    assert!(
        spec("date_of_birth_age_days")
            .meaning
            .contains("null when the date is missing or after the as-of date")
    );
    assert!(
        spec("contract_end_in_days")
            .meaning
            .contains("negative once it has passed")
    );
    assert_eq!(
        churn_features::engine::family::Family::of("contract_end_in_days").label(),
        "contract_end_in_days"
    );
}

#[test]
fn a_configured_date_attribute_that_is_not_a_date_names_the_file_column_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-05", 10.0)]);
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("customer_id", strings(&["a"])),
            ("contract_end", strings(&["2024-05-01"])),
        ],
    );
    let config = config(
        dir.path(),
        &format!(
            "{TX_CONFIG}\n[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\n\
             date_attributes = {{ contract_end = \"in_days\" }}\n"
        ),
    );
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let message = build(&config, &["2024-01-05"], None, on_invalid)
            .expect_err("a string is not a date")
            .to_string();
        for part in [
            "customers.parquet",
            "`contract_end`",
            "Utf8",
            "a date or timestamp",
            "[customers] date_attributes",
            "contract_end = \"in_days\"",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }
}

#[test]
fn date_attributes_that_do_not_fit_the_configuration_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = "[customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\n";
    let cases = [
        (
            format!("{TX_CONFIG}{base}signup_date = \"since\"\ndate_attributes = {{ since = \"age\" }}\n"),
            "`since` is already mapped as signup_date",
        ),
        (
            format!("{TX_CONFIG}{base}exclude = [\"dob\"]\ndate_attributes = {{ dob = \"age\" }}\n"),
            "`dob` is also in exclude",
        ),
        (
            format!("{TX_CONFIG}{base}date_attributes = {{ dob = \"until\" }}\n"),
            "unknown variant `until`",
        ),
        (
            format!(
                "{base}date_attributes = {{ dob = \"age\" }}\n[labels]\npath = \"c.parquet\"\ncustomer_id = \"id\"\nlabel = \"y\"\n"
            ),
            "these inputs carry no time",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("churn.toml");
        std::fs::write(&path, &text).expect("write");
        let message = churn_features::Config::load(&path)
            .expect_err(expected)
            .to_string();
        assert!(message.contains(expected), "{expected}: {message}");
        assert!(
            message.contains("date_attributes") || message.contains("until"),
            "{message}"
        );
    }
}

#[test]
fn a_date_attribute_outside_the_calendar_is_an_invalid_row_named_by_file_column_and_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(
        dir.path(),
        &[
            ("a", "2024-01-05", 10.0),
            ("b", "2024-01-06", 20.0),
            ("c", "2024-01-07", 30.0),
        ],
    );
    // i32::MIN days (a sentinel some exporters write for "no date") and a timestamp far beyond any
    // calendar: neither is a date, and neither may pass as a missing one.
    let birth: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(epoch_days("1990-03-31")),
        Some(i32::MIN),
        None,
    ]));
    let contract_end: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![None, None, Some(i64::MAX)]));
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("customer_id", strings(&["a", "b", "c"])),
            ("date_of_birth", birth),
            ("contract_end", contract_end),
        ],
    );
    let config = config(
        dir.path(),
        &format!(
            "{TX_CONFIG}\n[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\n\
             date_attributes = {{ contract_end = \"in_days\", date_of_birth = \"age\" }}\n"
        ),
    );
    let message = build(&config, &["2024-01-07"], None, OnInvalid::Fail)
        .expect_err("not a date")
        .to_string();
    for part in ["customers.parquet", "date_of_birth", "row 1", "calendar"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let (table, summary) = build(&config, &["2024-01-07"], None, OnInvalid::Skip).expect("skip");
    let rejected = &summary.rows_rejected;
    for column in ["date_of_birth", "contract_end"] {
        let key = format!("customers.{column}: date outside the calendar's range (years -262144 to 262143)");
        assert_eq!(rejected.get(&key), Some(&1), "{rejected:?}");
    }
    // The rejected customers keep their purchases but have no attributes.
    assert_eq!(
        value(&table, "a", "2024-01-07", "date_of_birth_age_days"),
        Some(12_335.0)
    );
    assert_eq!(value(&table, "b", "2024-01-07", "date_of_birth_age_days"), None);
    assert_eq!(value(&table, "c", "2024-01-07", "contract_end_in_days"), None);
}
