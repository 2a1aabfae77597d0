//! Edge cases with hand-computed expected rows. As-of 2024-01-31 (and 2024-01-15), horizon 30 days, so
//! the label window is 2024-02-01 ..= 2024-03-01; customer `anchor` extends the data to 2024-03-15.

use crate::common::*;
use churn_features::OnInvalid;

const LONG_PREFIX: &str = "Zoë-客户-Ωμέγα-";

fn long_id() -> String {
    LONG_PREFIX.repeat(20)
}

fn scenario() -> (
    tempfile::TempDir,
    churn_features::FeatureTable,
    churn_features::BuildSummary,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = long_id();
    write_transactions(
        dir.path(),
        &[
            ("anchor", "2023-12-01", 1.0),
            ("anchor", "2024-03-15", 1.0),
            // one purchase only
            ("one", "2024-01-10", 10.0),
            // several purchases on one day
            ("sameday", "2024-01-05", 5.0),
            ("sameday", "2024-01-05T18:30:00", 7.0),
            ("sameday", "2024-01-20", 3.0),
            // at the as-of instant and at window boundaries
            ("edges", "2024-01-24", 1.0),
            ("edges", "2024-01-25", 2.0),
            ("edges", "2024-01-31T23:59:59", 4.0),
            ("edges", "2024-02-01T00:00:00", 8.0),
            // returns only
            ("returns", "2024-01-15", -20.0),
            // a long non-ASCII id
            (&long, "2024-01-30", 2.5),
        ],
    );
    write_events(
        dir.path(),
        &[
            ("eventsonly", "2024-01-30", "login"),
            ("eventsonly", "2024-02-10", "login"),
        ],
    );
    let config = config(dir.path(), &format!("{TX_CONFIG}{EVENTS_CONFIG}"));
    let (table, summary) =
        build(&config, &["2024-01-31", "2024-01-15"], Some(30), OnInvalid::Fail).expect("build");
    (dir, table, summary)
}

const AS_OF: &str = "2024-01-31";

#[test]
fn one_purchase_only() {
    let (_dir, t, _) = scenario();
    let v = |c| value(&t, "one", AS_OF, c);
    assert_eq!(v("btyd_frequency"), Some(0.0));
    assert_eq!(v("btyd_recency"), Some(0.0));
    assert_eq!(v("btyd_t"), Some(21.0));
    assert_eq!(v("btyd_monetary_value"), Some(0.0));
    assert_eq!(v("days_since_last_purchase"), Some(21.0));
    assert_eq!(v("purchase_count"), Some(1.0));
    assert_eq!(v("total_spend"), Some(10.0));
    assert_eq!(v("mean_spend"), Some(10.0));
    assert_eq!(v("interpurchase_mean_days"), None);
    assert_eq!(v("overdue_ratio"), None);
    assert_eq!(v("purchases_7d"), Some(0.0));
    assert_eq!(v("purchases_30d"), Some(1.0));
    assert_eq!(v("tenure_days"), Some(21.0));
    let row = row_of(&t, "one", AS_OF);
    assert_eq!(t.labels[row], Some(1), "no purchase in 2024-02-01 ..= 2024-03-01");
}

#[test]
fn several_purchases_on_one_day() {
    let (_dir, t, _) = scenario();
    let v = |c| value(&t, "sameday", AS_OF, c);
    assert_eq!(v("btyd_frequency"), Some(1.0));
    assert_eq!(v("btyd_recency"), Some(15.0));
    assert_eq!(v("btyd_t"), Some(26.0));
    assert_eq!(v("btyd_monetary_value"), Some(3.0));
    assert_eq!(v("purchase_count"), Some(3.0));
    assert_eq!(v("total_spend"), Some(15.0));
    assert_eq!(v("mean_spend"), Some(5.0));
    assert_eq!(v("interpurchase_mean_days"), Some(15.0));
    assert_eq!(v("interpurchase_std_days"), None, "one gap has no spread");
    assert_eq!(v("overdue_ratio"), Some(11.0 / 15.0));
}

#[test]
fn as_of_instant_and_window_boundaries() {
    let (_dir, t, _) = scenario();
    let v = |c| value(&t, "edges", AS_OF, c);
    // 23:59:59 on the as-of day is in; midnight after it is out.
    assert_eq!(v("purchase_count"), Some(3.0));
    assert_eq!(v("total_spend"), Some(7.0));
    assert_eq!(v("days_since_last_purchase"), Some(0.0));
    // The 7-day window holds the as-of day and the six before it: 01-25 is in, 01-24 is out.
    assert_eq!(v("purchases_7d"), Some(2.0));
    assert_eq!(v("spend_7d"), Some(6.0));
    assert_eq!(v("purchases_30d"), Some(3.0));
    // Distinct purchase days 01-24, 01-25, 01-31: gaps of 1 and 6 days.
    assert_eq!(v("interpurchase_std_days"), Some(sample_std(&[1.0, 6.0])));
    let row = row_of(&t, "edges", AS_OF);
    assert_eq!(
        t.labels[row],
        Some(0),
        "bought at 2024-02-01T00:00:00, inside the horizon"
    );
}

fn sample_std(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

#[test]
fn returns_only() {
    let (_dir, t, _) = scenario();
    let v = |c| value(&t, "returns", AS_OF, c);
    assert_eq!(v("purchase_count"), Some(0.0));
    assert_eq!(v("total_spend"), Some(0.0));
    assert_eq!(v("return_count"), Some(1.0));
    assert_eq!(v("return_amount"), Some(20.0));
    assert_eq!(v("returns_30d"), Some(1.0));
    assert_eq!(v("btyd_frequency"), None);
    assert_eq!(v("days_since_last_purchase"), None);
    assert_eq!(v("days_since_last_activity"), Some(16.0));
    assert_eq!(
        text(&t, "returns", AS_OF, "rfm_segment").as_deref(),
        Some("no_purchases")
    );
    assert_eq!(text(&t, "returns", AS_OF, "value_tier").as_deref(), Some("low"));
    let row = row_of(&t, "returns", AS_OF);
    assert_eq!(t.labels[row], None, "never purchased: no inactivity label");
}

#[test]
fn events_but_no_purchases() {
    let (_dir, t, _) = scenario();
    let v = |c| value(&t, "eventsonly", AS_OF, c);
    assert_eq!(v("purchase_count"), Some(0.0));
    assert_eq!(v("days_since_last_login"), Some(1.0));
    assert_eq!(
        v("events_login_7d"),
        Some(1.0),
        "the 2024-02-10 login is after the as-of date"
    );
    assert_eq!(v("events_login_365d"), Some(1.0));
    assert_eq!(v("tenure_days"), Some(1.0));
    assert_eq!(
        text(&t, "eventsonly", AS_OF, "lifecycle_stage").as_deref(),
        Some("new")
    );
    assert!(
        !has_row(&t, "eventsonly", "2024-01-15"),
        "no activity yet on 2024-01-15"
    );
}

#[test]
fn long_non_ascii_ids_survive() {
    let (dir, t, _) = scenario();
    let long = long_id();
    assert_eq!(value(&t, &long, AS_OF, "total_spend"), Some(2.5));
    let path = dir.path().join("out.parquet");
    t.write_parquet(&path).expect("write");
    let back = churn_features::FeatureTable::read_parquet(&path).expect("read");
    assert_eq!(back, t);
}

#[test]
fn several_as_of_dates_in_one_run() {
    let (_dir, t, summary) = scenario();
    assert_eq!(summary.as_of.len(), 2);
    // On 2024-01-15 `sameday` had bought twice on one day only.
    let v = |c| value(&t, "sameday", "2024-01-15", c);
    assert_eq!(v("btyd_frequency"), Some(0.0));
    assert_eq!(v("purchase_count"), Some(2.0));
    assert_eq!(v("total_spend"), Some(12.0));
    assert_eq!(v("btyd_t"), Some(10.0));
    assert!(has_row(&t, "one", "2024-01-15"));
    assert!(
        !has_row(&t, "edges", "2024-01-15"),
        "first purchase on 2024-01-24"
    );
}

#[test]
fn order_lines_count_once_and_quantity_times_price_is_the_amount() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("tx.parquet"),
        vec![
            ("customer_id", strings(&["a", "a", "a", "a", "b"])),
            (
                "ts",
                timestamps(&[
                    "2024-01-02",
                    "2024-01-02",
                    "2024-01-09",
                    "2024-01-10",
                    "2024-02-20",
                ]),
            ),
            ("order", strings(&["o1", "o1", "o2", "o3", "o9"])),
            ("qty", floats(&[2.0, 1.0, 3.0, -1.0, 1.0])),
            ("price", floats(&[2.5, 10.0, 1.0, 4.0, 1.0])),
        ],
    );
    let text = "[transactions]\npath = \"tx.parquet\"\ncustomer_id = \"customer_id\"\ntimestamp = \"ts\"\n\
                quantity = \"qty\"\nunit_price = \"price\"\norder_id = \"order\"\n";
    let config = config(dir.path(), text);
    let (t, _) = build(&config, &["2024-01-31"], None, OnInvalid::Fail).expect("build");
    let v = |c| value(&t, "a", "2024-01-31", c);
    // Orders o1 (two lines: 2 × 2.5 + 1 × 10) and o2 (3 × 1); o3 is a return of 1 × 4.
    assert_eq!(v("purchase_count"), Some(2.0));
    assert_eq!(v("total_spend"), Some(18.0));
    assert_eq!(v("mean_spend"), Some(9.0));
    assert_eq!(v("return_count"), Some(1.0));
    assert_eq!(v("return_amount"), Some(4.0));
    assert_eq!(v("btyd_frequency"), Some(1.0));
    assert_eq!(v("btyd_monetary_value"), Some(3.0));
    let row = row_of(&t, "a", "2024-01-31");
    assert_eq!(t.labels[row], None, "no horizon given: no label");
}

#[test]
fn writing_straight_to_parquet_gives_the_same_table() {
    let (dir, table, _) = scenario();
    let config = churn_features::Config::load(&dir.path().join("churn.toml")).expect("config");
    let inputs = churn_features::Inputs::load(&config, OnInvalid::Fail, &churn_features::input::NoProgress)
        .expect("inputs");
    let request = churn_features::BuildRequest {
        as_of: vec![date("2024-01-31"), date("2024-01-15")],
        horizon_days: Some(30),
        durations: false,
    };
    let path = dir.path().join("direct.parquet");
    churn_features::build_to_parquet(&config, inputs, &request, &path).expect("build to parquet");
    assert_eq!(
        churn_features::FeatureTable::read_parquet(&path).expect("read"),
        table
    );
}
