//! Training for a population: only the population's rows are fitted and validated on (the same model as
//! training on a table holding only them), the rule and the rows it left out are stored in the artifact,
//! and held-out metrics come per lifecycle stage and RFM segment.

use chrono::NaiveDate;
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use churn_models::train::{NoProgress, ValidationPlan, train};
use churn_models::{
    CalibrationMethod, LogisticParams, ModelArtifact, ModelError, ModelParams, Population, TrainOptions,
    Validation,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn numeric(name: &str, values: Vec<Option<f64>>) -> FeatureColumn {
    FeatureColumn {
        name: name.into(),
        role: ColumnRole::Numeric,
        description: None,
        values: ColumnValues::Numeric(values),
    }
}

fn descriptor(name: &str, values: Vec<Option<String>>) -> FeatureColumn {
    FeatureColumn {
        name: name.into(),
        role: ColumnRole::Descriptor,
        description: None,
        values: ColumnValues::Categorical(values),
    }
}

/// Customers at three month ends: recency (null for a tenth who never purchased), spend, a lifecycle
/// stage and an RFM segment read from recency; lapsed customers nearly always churn, the others by
/// recency and spend.
fn table(customers: usize, seed: u64) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let dates = [(2024, 4, 30), (2024, 5, 31), (2024, 6, 30)];
    let (mut ids, mut as_of, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let (mut recency, mut spend, mut stage, mut rfm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (y, m, d) in dates {
        for c in 0..customers {
            let never = rng.random::<f64>() < 0.1;
            let r: f64 = rng.random_range(0.0..400.0);
            let s: f64 = rng.random_range(0.0..5.0);
            let lifecycle = match r {
                _ if never => "lapsed",
                r if r <= 60.0 => "active",
                r if r <= 180.0 => "at_risk",
                _ => "lapsed",
            };
            let logit = if lifecycle == "lapsed" {
                4.0
            } else {
                -2.0 + r / 60.0 - 0.4 * s
            };
            let churned = rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
            ids.push(c as i64);
            as_of.push(NaiveDate::from_ymd_opt(y, m, d));
            labels.push(Some(i8::from(churned)));
            recency.push((!never).then_some(r));
            spend.push(Some(s));
            stage.push(Some(lifecycle.to_string()));
            rfm.push(Some(if r < 100.0 { "loyal" } else { "hibernating" }.to_string()));
        }
    }
    FeatureTable {
        customer_ids: CustomerIds::Int(ids),
        as_of,
        labels,
        columns: vec![
            numeric("days_since_last_purchase", recency),
            numeric("total_spend", spend),
            descriptor("lifecycle_stage", stage),
            descriptor("rfm_segment", rfm),
        ],
    }
}

fn options(population: Population) -> TrainOptions {
    let mut options = TrainOptions::new(ModelParams::Logistic(LogisticParams::default()));
    options.validation = ValidationPlan::OutOfTime {
        test_as_of: NaiveDate::from_ymd_opt(2024, 6, 30).expect("date"),
    };
    options.importance = None;
    options.calibration = CalibrationMethod::None;
    options.population = population;
    options
}

fn active_or_at_risk() -> Population {
    Population {
        lifecycle_stages: Some(vec!["active".into(), "at_risk".into()]),
        ..Population::default()
    }
}

#[test]
fn training_for_a_population_fits_and_validates_on_its_rows_only() {
    let table = table(1500, 11);
    let population = active_or_at_risk();
    let rows = population.rows(&table).expect("rows");
    assert!(rows.len() > 1000 && rows.len() < table.len(), "{}", rows.len());

    let outcome = train(&table, &options(population.clone()), &NoProgress).expect("train");
    let artifact = &outcome.artifact;
    assert_eq!(artifact.population, population);
    assert_eq!(artifact.training.population_excluded, table.len() - rows.len());
    let holdout = outcome.holdout.as_ref().expect("holdout");
    assert!(holdout.rows.iter().all(|i| rows.contains(i)));
    let test_date = NaiveDate::from_ymd_opt(2024, 6, 30);
    let population_test_rows = rows.iter().filter(|&&i| table.as_of[i] == test_date).count();
    assert_eq!(holdout.rows.len(), population_test_rows);
    assert_eq!(
        artifact.training.rows,
        rows.len() - population_test_rows,
        "every population row before the test date is trained on (no horizon, nothing purged)"
    );
    assert!(matches!(
        artifact.training.validation,
        Validation::OutOfTime { purged_rows: 0, .. }
    ));

    // The same model as training on a table that holds only the population's rows.
    let only = table.select_rows(&rows);
    let reference = train(&only, &options(Population::everyone()), &NoProgress)
        .expect("train")
        .artifact;
    assert_eq!(reference.training.population_excluded, 0);
    assert_eq!(artifact.model, reference.model);
    assert_eq!(artifact.schema, reference.schema);
    assert_eq!(artifact.threshold, reference.threshold);
    let mut same_metrics = artifact.metrics.clone().expect("metrics");
    assert_eq!(same_metrics.population, population);
    same_metrics.population = Population::everyone();
    assert_eq!(Some(same_metrics), reference.metrics);

    // Per-segment metrics of the held-out rows: only the population's stages, adding up to the rows.
    let metrics = artifact.metrics.as_ref().expect("metrics");
    let stages: Vec<&str> = metrics
        .by_segment
        .iter()
        .filter(|s| s.column == "lifecycle_stage")
        .map(|s| s.segment.as_str())
        .collect();
    assert_eq!(stages, ["active", "at_risk"]);
    for column in ["lifecycle_stage", "rfm_segment"] {
        let segments = metrics.by_segment.iter().filter(|s| s.column == column);
        assert_eq!(segments.map(|s| s.rows).sum::<usize>(), metrics.rows, "{column}");
    }

    // Without the rule the lapsed customers, who nearly all churn, make the model look better.
    let everyone = train(&table, &options(Population::everyone()), &NoProgress)
        .expect("train")
        .artifact;
    let everyone_auc = everyone.metrics.as_ref().expect("metrics").roc_auc;
    assert!(
        everyone_auc > metrics.roc_auc + 0.02,
        "{everyone_auc} vs {}",
        metrics.roc_auc
    );
    assert_eq!(everyone.population, Population::everyone());
}

#[test]
fn the_population_is_stored_and_old_artifacts_are_for_everyone() {
    let table = table(400, 12);
    let population = Population {
        max_days_since_last_purchase: Some(200),
        exclude_never_purchased: true,
        ..Population::default()
    };
    let artifact = train(&table, &options(population.clone()), &NoProgress)
        .expect("train")
        .artifact;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.json");
    artifact.write(&path).expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains(r#""population":{"max_days_since_last_purchase":200,"exclude_never_purchased":true}"#)
    );
    assert_eq!(ModelArtifact::read(&path).expect("load").population, population);

    // A model for everyone writes no population, so its file reads as before.
    let everyone = train(&table, &options(Population::everyone()), &NoProgress)
        .expect("train")
        .artifact;
    everyone.write(&path).expect("write");
    assert!(
        !std::fs::read_to_string(&path)
            .expect("read")
            .contains("\"population\":")
    );
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let old = ModelArtifact::read(&fixtures.join("v1-logistic.json")).expect("an old artifact loads");
    assert!(old.population.is_everyone());
    assert_eq!(old.training.population_excluded, 0);
}

#[test]
fn a_population_the_table_cannot_select_fails_clearly() {
    let mut table = table(200, 13);
    let tenure = Population {
        min_tenure_days: Some(30),
        ..Population::default()
    };
    let error = train(&table, &options(tenure), &NoProgress).expect_err("no tenure_days");
    assert!(
        matches!(
            error,
            ModelError::PopulationColumn {
                column: "tenure_days",
                ..
            }
        ),
        "{error}"
    );

    let new_only = Population {
        lifecycle_stages: Some(vec!["new".into()]),
        ..Population::default()
    };
    let message = train(&table, &options(new_only), &NoProgress)
        .expect_err("nobody is new")
        .to_string();
    assert!(
        message.contains("lifecycle_stage in (new)") && message.contains("every one"),
        "{message}"
    );

    table.columns.retain(|c| c.name != "lifecycle_stage");
    let message = train(&table, &options(active_or_at_risk()), &NoProgress)
        .expect_err("no stages")
        .to_string();
    assert!(message.contains("`lifecycle_stage`"), "{message}");
}
