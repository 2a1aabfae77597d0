//! The catalog (`engine::columns`) names exactly the columns a build writes, with their meanings, for the
//! same configuration, inputs and as-of dates.

use crate::common::*;
use churn_features::engine::{columns, last_data_day};
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, Inputs, OnInvalid};

/// (name, meaning) of each feature column.
type Columns = Vec<(String, String)>;

/// The columns of the catalog and of a built table.
fn catalog_and_table(config: &churn_features::Config, as_of: &[&str]) -> (Columns, Columns) {
    let inputs = Inputs::load(config, OnInvalid::Fail, &NoProgress).expect("inputs");
    let request = BuildRequest {
        as_of: as_of.iter().map(|d| date(d)).collect(),
        horizon_days: None,
        durations: false,
    };
    let catalog = columns(config, &inputs, &request)
        .expect("catalog")
        .specs
        .into_iter()
        .map(|spec| (spec.name, spec.meaning))
        .collect();
    let (table, _) = churn_features::build(config, inputs, &request).expect("build");
    let built = table
        .columns
        .into_iter()
        .map(|column| (column.name, column.description.unwrap_or_default()))
        .collect();
    (catalog, built)
}

#[test]
fn the_catalog_names_the_columns_a_build_writes_including_its_event_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(
        dir.path(),
        &[
            ("a", "2024-01-01", 5.0),
            ("b", "2024-02-10", 7.0),
            ("a", "2024-03-01", 2.0),
        ],
    );
    // `Support Ticket` events start after 2024-01-31: a build as of then has no columns for them.
    write_events(
        dir.path(),
        &[
            ("a", "2024-01-05", "login"),
            ("b", "2024-02-12", "Support Ticket"),
            ("a", "2024-03-01", "login"),
            // The same types spelled otherwise: counted with them, never a second column of one name.
            ("b", "2024-01-06", "Login "),
            ("a", "2024-02-20", "support_ticket"),
        ],
    );
    let config = config(
        dir.path(),
        &format!("{TX_CONFIG}{EVENTS_CONFIG}\n[features]\nwindows = [14, 60]\ntrend_days = 45\n"),
    );

    let (catalog, built) = catalog_and_table(&config, &["2024-01-31"]);
    assert_eq!(catalog, built);
    let names: Vec<&str> = catalog.iter().map(|(name, _)| name.as_str()).collect();
    for name in [
        "purchases_14d",
        "spend_trend_45d",
        "events_login_60d",
        "days_since_last_login",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("support_ticket")), "{names:?}");

    let (catalog, built) = catalog_and_table(&config, &["2024-01-31", "2024-03-01"]);
    assert_eq!(catalog, built);
    let names: Vec<&str> = catalog.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"events_support_ticket_14d"), "{names:?}");
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");

    let inputs = Inputs::load(&config, OnInvalid::Fail, &NoProgress).expect("inputs");
    assert_eq!(last_data_day(&inputs), Some(date("2024-03-01")));
}

#[test]
fn the_catalog_of_a_snapshot_names_its_attributes() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("id", strings(&["a", "b", "c"])),
            ("plan", strings(&["basic", "pro", "basic"])),
            ("monthly_fee", floats(&[10.0, 30.0, 10.0])),
            ("churned", floats(&[0.0, 1.0, 0.0])),
        ],
    );
    let config = config(
        dir.path(),
        "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nexclude = [\"churned\"]\n",
    );
    let (catalog, built) = catalog_and_table(&config, &[]);
    assert_eq!(catalog, built);
    let names: Vec<&str> = catalog.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["monthly_fee", "plan"]);
}
