//! The customer-value columns of the feature build: fitted at each as-of date on the customers with
//! purchases by then, finite where a customer has purchases, null with a recorded reason when a model
//! cannot be fitted, and absent when `[value]` is off.

use crate::common::*;
use chrono::Days;
use churn_features::engine::value::{FitOutcome, ValueFits};
use churn_features::value::{PurchaseModel, clv};
use churn_features::{BuildRequest, BuildSummary, ColumnValues, FeatureTable, Inputs, OnInvalid};

const VALUE_COLUMNS: [&str; 7] = [
    "p_alive",
    "expected_purchases_30d",
    "expected_purchases_60d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_spend_per_purchase",
    "clv_12m",
];

/// `customers` customers buying on generated days from 2023-01-01 to 2024-06-29: customer `i` buys
/// every `gap` days from a start day, at an amount that varies around their own level, and some stop
/// buying part-way; and one customer in ten with a return only.
fn generated(customers: u32) -> Vec<(String, String, f64)> {
    let start = date("2023-01-01");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |below: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % below
    };
    let mut rows = Vec::new();
    for i in 0..customers {
        let first = next(400);
        let gap = 5 + next(90);
        let stop = first + 30 + next(600);
        let level = 10.0 + next(200) as f64;
        let mut day = first;
        while day < 545 && day <= stop {
            let stamp = (start + Days::new(day)).to_string();
            let amount = level * (0.5 + next(100) as f64 / 100.0);
            rows.push((format!("c{i}"), stamp, (amount * 100.0).round() / 100.0));
            day += gap + next(gap);
        }
        // Every tenth customer also has a customer with only a return: no purchase, so no value.
        if i % 10 == 0 {
            let stamp = (start + Days::new(first)).to_string();
            rows.push((format!("r{i}"), stamp, -level));
        }
    }
    rows
}

fn write(dir: &std::path::Path, rows: &[(String, String, f64)], value: &str) -> churn_features::Config {
    let rows: Vec<(&str, &str, f64)> = rows
        .iter()
        .map(|(id, day, amount)| (id.as_str(), day.as_str(), *amount))
        .collect();
    write_transactions(dir, &rows);
    config(dir, &format!("{TX_CONFIG}{value}"))
}

fn numbers(table: &FeatureTable, column: &str) -> Vec<Option<f64>> {
    match &table
        .column(column)
        .unwrap_or_else(|| panic!("no {column}"))
        .values
    {
        ColumnValues::Numeric(values) => values.clone(),
        ColumnValues::Categorical(_) => panic!("{column} is not numeric"),
    }
}

fn fits(summary: &BuildSummary) -> &ValueFits {
    summary.as_of[0]
        .value
        .as_ref()
        .expect("value fits in the summary")
}

#[test]
fn fitted_columns_are_finite_and_follow_from_the_recorded_parameters() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The label horizon adds no column: 60 days are listed for their column.
    let horizons = "\n[value]\npurchase_horizons = [30, 60, 90, 365]\n";
    let config = write(dir.path(), &generated(300), horizons);
    let (table, summary) = build(&config, &["2024-03-31"], Some(60), OnInvalid::Fail).expect("build");
    let fits = fits(&summary);
    let (FitOutcome::Fitted(purchases), FitOutcome::Fitted(spend)) = (&fits.purchases, &fits.spend) else {
        panic!("both models fit on generated data: {fits:?}");
    };
    assert_eq!(fits.period_days, 1);
    assert_eq!(fits.non_finite_values, 0);
    let frequency = numbers(&table, "btyd_frequency");
    let recency = numbers(&table, "btyd_recency");
    let age = numbers(&table, "btyd_t");
    let monetary = numbers(&table, "btyd_monetary_value");
    let buyers = frequency.iter().filter(|f| f.is_some()).count();
    assert_eq!(purchases.customers, buyers);
    assert_eq!(fits.customers, buyers);
    let columns: Vec<Vec<Option<f64>>> = VALUE_COLUMNS.iter().map(|c| numbers(&table, c)).collect();
    let tiers = match &table.column("value_tier_clv").expect("value_tier_clv").values {
        ColumnValues::Categorical(values) => values.clone(),
        ColumnValues::Numeric(_) => panic!("value_tier_clv is text"),
    };
    let mut high = 0;
    for row in 0..table.len() {
        let Some(x) = frequency[row] else {
            assert!(columns.iter().all(|c| c[row].is_none()) && tiers[row].is_none());
            continue;
        };
        let values: Vec<f64> = columns
            .iter()
            .map(|c| c[row].expect("a value for a customer with purchases"))
            .collect();
        assert!(values.iter().all(|v| v.is_finite()), "row {row}: {values:?}");
        let [p_alive, e30, e60, e90, e365, per_purchase, value] = values[..] else {
            unreachable!()
        };
        assert!((0.0..=1.0).contains(&p_alive), "{p_alive}");
        assert!(
            0.0 <= e30 && e30 <= e60 && e60 <= e90 && e90 <= e365,
            "{values:?}"
        );
        assert!(per_purchase > 0.0 && value >= 0.0, "{values:?}");
        let (t_x, t, m) = (
            recency[row].expect("t_x"),
            age[row].expect("T"),
            monetary[row].expect("m"),
        );
        let model = purchases.params;
        assert!((model.p_alive(x, t_x, t) - p_alive).abs() < 1e-12);
        assert!((model.expected_purchases(60.0, x, t_x, t) - e60).abs() < 1e-12);
        let expected_spend = spend.params.expected_spend(x, m);
        assert!((expected_spend - per_purchase).abs() < 1e-9 * expected_spend);
        let expected = clv(&model, expected_spend, (x, t_x, t), 12, 0.01, 365.25 / 12.0);
        assert!(
            (expected - value).abs() <= 1e-9 * expected.abs().max(1.0),
            "{expected} {value}"
        );
        let tier = tiers[row].as_deref().expect("a tier with a CLV");
        assert!(["high", "medium", "low"].contains(&tier));
        high += usize::from(tier == "high");
    }
    assert!(high > 0 && high < buyers, "{high} of {buyers} high");
    assert!(buyers < table.len(), "customers without purchases have rows too");
}

#[test]
fn rows_after_the_as_of_date_change_no_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = generated(300);
    let as_of = "2024-03-31";
    let values = |rows: &[(String, String, f64)]| {
        let config = write(dir.path(), rows, "");
        let (table, summary) = build(&config, &[as_of], None, OnInvalid::Fail).expect("build");
        let mut by_customer: Vec<(String, Vec<Option<f64>>, Option<String>)> = (0..table.len())
            .map(|row| {
                let numbers = VALUE_COLUMNS
                    .iter()
                    .filter(|c| **c != "expected_purchases_60d")
                    .map(|c| value(&table, &table.customer_id_string(row), as_of, c))
                    .collect();
                let id = table.customer_id_string(row);
                let tier = text(&table, &id, as_of, "value_tier_clv");
                (id, numbers, tier)
            })
            .collect();
        by_customer.sort_by(|a, b| a.0.cmp(&b.0));
        (by_customer, fits(&summary).clone())
    };
    let past: Vec<(String, String, f64)> = rows.iter().filter(|r| r.1.as_str() <= as_of).cloned().collect();
    assert!(past.len() < rows.len());
    let (with_future, fits_with_future) = values(&rows);
    let (only_past, fits_only_past) = values(&past);
    assert!(fits_only_past.purchases.params().is_some() && fits_only_past.spend.params().is_some());
    assert_eq!(fits_only_past, fits_with_future);
    assert_eq!(only_past, with_future);
}

#[test]
fn each_as_of_date_is_fitted_on_its_own_customers_and_recorded_in_the_summary_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(
        dir.path(),
        &generated(200),
        "[value]\nperiod_days = 7\nclv_months = 6\n",
    );
    let inputs = Inputs::load(&config, OnInvalid::Fail, &churn_features::input::NoProgress).expect("load");
    let request = BuildRequest {
        as_of: vec![date("2023-09-30"), date("2024-03-31")],
        horizon_days: None,
        durations: false,
    };
    let path = dir.path().join("features.parquet");
    let summary = churn_features::build_to_parquet(&config, inputs, &request, &path).expect("build");
    let [early, late] = &summary.as_of[..] else {
        panic!("two as-of dates")
    };
    let (early, late) = (
        early.value.as_ref().expect("fits"),
        late.value.as_ref().expect("fits"),
    );
    assert!(
        early.customers < late.customers,
        "{} {}",
        early.customers,
        late.customers
    );
    assert!(matches!(early.purchases, FitOutcome::Fitted(_)) && matches!(late.spend, FitOutcome::Fitted(_)));
    assert_ne!(early.purchases, late.purchases);
    let text = std::fs::read_to_string(churn_features::output::summary_path(&path)).expect("summary");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let value = &json["as_of"][1]["value"];
    assert_eq!(value["period_days"], 7);
    assert_eq!(value["purchases"]["outcome"], "fitted");
    assert!(
        value["purchases"]["params"]["alpha"]
            .as_f64()
            .is_some_and(|a| a > 0.0),
        "{value}"
    );
    assert!(
        value["spend"]["params"]["q"].as_f64().is_some_and(|q| q > 1.0),
        "{value}"
    );
    assert!(value["purchases"]["customers"].as_u64() == Some(late.customers as u64));
    let table = FeatureTable::read_parquet(&path).expect("read");
    assert!(table.column("clv_6m").is_some() && table.column("clv_12m").is_none());
    let clv = numbers(&table, "clv_6m");
    assert!(clv.iter().flatten().all(|v| v.is_finite()) && clv.iter().flatten().count() > 100);
}

#[test]
fn data_the_models_cannot_fit_give_null_columns_and_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 40 customers with one purchase each: nobody repeats, so neither model can be fitted.
    let once: Vec<(String, String, f64)> = (0..40)
        .map(|i| {
            (
                format!("c{i}"),
                format!("2024-01-{:02}", 1 + i % 28),
                20.0 + f64::from(i),
            )
        })
        .collect();
    let config = write(dir.path(), &once, "");
    let (table, summary) =
        build(&config, &["2024-01-28"], None, OnInvalid::Fail).expect("the build succeeds");
    assert_eq!(table.len(), 40);
    for column in [
        "p_alive",
        "expected_purchases_90d",
        "expected_spend_per_purchase",
        "clv_12m",
    ] {
        assert!(numbers(&table, column).iter().all(Option::is_none), "{column}");
    }
    let fitted = fits(&summary);
    for reason in [fitted.purchases.failure(), fitted.spend.failure()] {
        let reason = reason.expect("no fit without repeat purchases");
        assert!(
            reason.contains("no customer has a repeat purchase") && reason.contains("40 customers"),
            "{reason}"
        );
    }
    let fits_json = serde_json::to_value(fitted).expect("json");
    assert_eq!(fits_json["purchases"]["outcome"], "failed");

    // Three customers with repeats are fewer than min_customers (20 by default).
    let few = [
        ("a", "2024-01-01", 5.0),
        ("a", "2024-01-09", 7.0),
        ("b", "2024-01-02", 3.0),
        ("b", "2024-01-20", 4.0),
        ("c", "2024-01-05", 9.0),
    ];
    write_transactions(dir.path(), &few);
    let (table, summary) =
        build(&config, &["2024-01-20"], None, OnInvalid::Fail).expect("the build succeeds");
    assert!(numbers(&table, "clv_12m").iter().all(Option::is_none));
    let FitOutcome::Failed { reason } = &fits(&summary).purchases else {
        panic!("fitted on three customers")
    };
    assert!(
        reason.contains("3 customers") && reason.contains("min_customers = 20"),
        "{reason}"
    );
}

#[test]
fn switched_off_there_are_no_value_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(dir.path(), &generated(50), "[value]\nenabled = false\n");
    let (table, summary) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    for column in VALUE_COLUMNS.iter().chain(&["value_tier_clv"]) {
        assert!(table.column(column).is_none(), "{column}");
    }
    assert!(table.column("value_tier").is_some());
    assert!(summary.as_of[0].value.is_none());
}
