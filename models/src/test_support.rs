//! Small tables and models for this crate's unit tests.

use crate::artifact::ModelArtifact;
use crate::calibration::CalibrationMethod;
use crate::kinds::ModelParams;
use crate::logistic::LogisticParams;
use crate::train::{NoProgress, TrainOptions, ValidationPlan, train};
use chrono::NaiveDate;
use churn_features::table::{DURATION_COLUMN, EVENT_COLUMN};
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A numeric column named `name` without a description.
pub fn numeric_column(name: &str, values: Vec<Option<f64>>) -> FeatureColumn {
    FeatureColumn {
        name: name.into(),
        role: ColumnRole::Numeric,
        description: None,
        values: ColumnValues::Numeric(values),
    }
}

/// A churn-like table of `rows` customers as of 2024-06-30: `days_since_last_purchase` and
/// `spend_365d` (with a description, as the feature engine writes them), a `plan` category, the
/// descriptors `lifecycle_stage` and `rfm_segment`, and a label driven by recency and plan; every 10th
/// label unknown. String customer ids `C0000`...
pub fn labelled_table(rows: usize, seed: u64) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut recency, mut spend, mut plan, mut stage, mut rfm, mut labels) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for i in 0..rows {
        let r: f64 = rng.random_range(0.0..365.0);
        let s: f64 = (rng.random::<f64>() * 6.0).exp();
        let p = if rng.random::<bool>() { "basic" } else { "premium" };
        let logit = -1.5 + r / 100.0 + if p == "basic" { 0.7 } else { 0.0 };
        let churned = rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
        recency.push(Some(r));
        spend.push((i % 7 != 3).then_some(s));
        plan.push(Some(p.to_string()));
        stage.push(Some(if r > 180.0 { "lapsed" } else { "active" }.to_string()));
        rfm.push(Some(
            if s > 100.0 { "champions" } else { "hibernating" }.to_string(),
        ));
        labels.push((i % 10 != 9).then_some(i8::from(churned)));
    }
    let column = |name: &str, role, description: Option<&str>, values| FeatureColumn {
        name: name.into(),
        role,
        description: description.map(str::to_string),
        values,
    };
    FeatureTable {
        customer_ids: CustomerIds::Str((0..rows).map(|i| format!("C{i:04}")).collect()),
        as_of: vec![NaiveDate::from_ymd_opt(2024, 6, 30); rows],
        labels,
        columns: vec![
            column(
                "days_since_last_purchase",
                ColumnRole::Numeric,
                Some("days from the last purchase to the as-of date"),
                ColumnValues::Numeric(recency),
            ),
            column(
                "spend_365d",
                ColumnRole::Numeric,
                Some("sum of purchase amounts in the window"),
                ColumnValues::Numeric(spend),
            ),
            column(
                "plan",
                ColumnRole::Categorical,
                None,
                ColumnValues::Categorical(plan),
            ),
            column(
                "lifecycle_stage",
                ColumnRole::Descriptor,
                None,
                ColumnValues::Categorical(stage),
            ),
            column(
                "rfm_segment",
                ColumnRole::Descriptor,
                None,
                ColumnValues::Categorical(rfm),
            ),
        ],
    }
}

/// A logistic model trained on every labelled row of `table`, uncalibrated and without validation.
pub fn trained(table: &FeatureTable) -> ModelArtifact {
    trained_with(table, CalibrationMethod::None)
}

/// A logistic model trained on `table` with a calibration.
pub fn trained_with(table: &FeatureTable, calibration: CalibrationMethod) -> ModelArtifact {
    let mut options = TrainOptions::new(ModelParams::Logistic(LogisticParams::default()));
    options.validation = ValidationPlan::None;
    options.importance = None;
    options.calibration = calibration;
    let mut artifact = train(table, &options, &NoProgress).expect("train").artifact;
    artifact.name = "churn".into();
    artifact.version = "v1".into();
    artifact
}

/// Customers as of 2024-01-31 and 2024-06-30 with one feature `x` and exponential times to churn of
/// hazard `0.004·exp(x)` per day, censored at the end of the data, 2024-12-31; the label is churn
/// within 90 days.
pub fn survival_table(rows_per_date: usize, seed: u64) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut table = labelled_table(2 * rows_per_date, seed);
    let end = NaiveDate::from_ymd_opt(2024, 12, 31).expect("date");
    let (mut x, mut durations, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..table.len() {
        let as_of = if i < rows_per_date {
            (2024, 1, 31)
        } else {
            (2024, 6, 30)
        };
        let as_of = NaiveDate::from_ymd_opt(as_of.0, as_of.1, as_of.2).expect("date");
        let value = rng.random::<f64>() * 4.0 - 2.0;
        let time = (-(1.0 - rng.random::<f64>()).ln() / (0.004 * value.exp())).ceil();
        let known = (end - as_of).num_days() as f64;
        table.as_of[i] = Some(as_of);
        table.labels[i] = Some(i8::from(time <= 90.0));
        x.push(Some(value));
        durations.push(Some(time.min(known)));
        events.push(Some(f64::from(u8::from(time <= known))));
    }
    table.columns.push(numeric_column("x", x));
    for (name, values) in [(DURATION_COLUMN, durations), (EVENT_COLUMN, events)] {
        let mut column = numeric_column(name, values);
        column.role = ColumnRole::Outcome;
        table.columns.push(column);
    }
    table
}
