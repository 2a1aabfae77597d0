//! Reasons per group of features: correlated features are one reason whose contribution is their sum,
//! every reason is said in words, and artifacts without a grouping still load and give one reason per
//! feature.

use chrono::NaiveDate;
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use churn_models::train::{NoProgress, ValidationPlan, train};
use churn_models::{
    CalibrationMethod, ChurnModel, LogisticParams, ModelArtifact, ModelParams, ReasonGroup, TrainOptions,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::path::Path;

fn numeric(name: &str, values: Vec<f64>) -> FeatureColumn {
    FeatureColumn {
        name: name.into(),
        role: ColumnRole::Numeric,
        description: None,
        values: ColumnValues::Numeric(values.into_iter().map(Some).collect()),
    }
}

/// `x_a` and `x_b = x_a + small noise` (|r| ≈ 0.99) with the label driven by their difference, so a
/// logistic regression weighs them with opposite signs; `c` independent, with its own effect.
fn correlated_table(rows: usize, seed: u64) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut a, mut b, mut c, mut labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rows {
        let x: f64 = rng.random_range(-2.0..2.0);
        let noise: f64 = rng.random_range(-1.0..1.0);
        let other: f64 = rng.random_range(-1.0..1.0);
        let logit = 3.0 * noise + other;
        a.push(x);
        b.push(x + 0.3 * noise);
        c.push(other);
        labels.push(Some(i8::from(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()))));
    }
    FeatureTable {
        customer_ids: CustomerIds::Int((0..rows as i64).collect()),
        as_of: vec![NaiveDate::from_ymd_opt(2024, 6, 30); rows],
        labels,
        columns: vec![numeric("x_a", a), numeric("x_b", b), numeric("c", c)],
    }
}

fn logistic_options() -> TrainOptions {
    let mut options = TrainOptions::new(ModelParams::Logistic(LogisticParams::default()));
    options.validation = ValidationPlan::CrossValidation { folds: 3, seed: 1 };
    options.importance = None;
    options.calibration = CalibrationMethod::None;
    options
}

#[test]
fn correlated_features_with_opposite_coefficients_are_one_reason_whose_contribution_is_their_sum() {
    let table = correlated_table(3000, 5);
    let artifact = train(&table, &logistic_options(), &NoProgress)
        .expect("train")
        .artifact;
    let weights = artifact.model.linear_weights().expect("logistic weights");
    assert!(
        weights[0] * weights[1] < 0.0,
        "the correlated features get opposite-sign coefficients: {weights:?}"
    );
    let groups = artifact.reason_groups.as_ref().expect("a grouping");
    assert_eq!(
        groups.groups,
        [
            ReasonGroup {
                label: "x_a + x_b".into(),
                features: vec![0, 1]
            },
            ReasonGroup {
                label: "c".into(),
                features: vec![2]
            },
        ]
    );

    let rows: Vec<usize> = (0..table.len()).collect();
    let explanations = artifact.scorer().explain_table(&table, &rows).expect("explain");
    let scores = artifact.scorer().score_table(&table, &rows, 3).expect("score");
    let mut opposite = 0;
    for (explanation, score) in explanations.iter().zip(&scores) {
        assert_eq!(explanation.contributions.len(), 2);
        let logit = (explanation.probability / (1.0 - explanation.probability)).ln();
        assert!((explanation.total() - logit).abs() < 1e-9);
        let pair = explanation
            .contributions
            .iter()
            .find(|r| r.label == "x_a + x_b")
            .expect("the pair's reason");
        let [a, b] = [&pair.features[0], &pair.features[1]];
        assert_eq!((a.name.as_str(), b.name.as_str()), ("x_a", "x_b"));
        assert!((pair.contribution - (a.contribution + b.contribution)).abs() < 1e-12);
        if a.contribution * b.contribution < 0.0 {
            opposite += 1;
        }
        assert!(pair.feature == "x_a" || pair.feature == "x_b");
        // The column in words: `x_a` reads `x a`.
        assert!(
            pair.text
                .starts_with(&format!("{} is ", pair.feature.replace('_', " "))),
            "{}",
            pair.text
        );
        for reason in &score.reasons {
            assert!(reason.contribution > 0.0);
            assert!(
                reason.features.is_empty(),
                "scores do not list a reason's features"
            );
            let same = explanation
                .contributions
                .iter()
                .find(|r| r.label == reason.label)
                .expect("the score's reason is among the explanation's");
            assert_eq!(
                (&same.feature, &same.value, &same.text),
                (&reason.feature, &reason.value, &reason.text)
            );
            assert!(
                reason.label == "x_a + x_b" || reason.label == "c",
                "{}",
                reason.label
            );
        }
        assert!(score.reasons.len() <= 2);
    }
    assert!(
        opposite > table.len() / 2,
        "the two features' own contributions contradict each other in most rows ({opposite})"
    );
}

#[test]
fn artifacts_without_reason_groups_load_and_give_one_reason_per_feature() {
    let table = correlated_table(600, 6);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let mut trained = train(&table, &logistic_options(), &NoProgress)
        .expect("train")
        .artifact;
    trained.reason_groups = None;
    let format_2 = ModelArtifact::from_json(&trained.to_json().expect("json"), Path::new("v2.json"))
        .expect("a format-2 artifact without groups loads");
    assert!(!format_2.to_json().expect("json").contains("reason_groups"));

    let old_table = crate::models_api::table(50, 11);
    for (artifact, table) in [
        (
            ModelArtifact::read(&fixtures.join("v1-logistic.json")).expect("v1 logistic"),
            &old_table,
        ),
        (
            ModelArtifact::read(&fixtures.join("v1-forest.json")).expect("v1 forest"),
            &old_table,
        ),
        (format_2, &table),
    ] {
        assert!(artifact.reason_groups.is_none());
        let rows: Vec<usize> = (0..table.len()).collect();
        let features = artifact.schema.features.len();
        for explanation in artifact.explain(table).expect("explain") {
            assert_eq!(explanation.contributions.len(), features);
            for reason in &explanation.contributions {
                assert_eq!(reason.features.len(), 1);
                assert_eq!(reason.features[0].name, reason.feature);
                assert_eq!(reason.features[0].contribution, reason.contribution);
            }
        }
        for score in artifact.scorer().score_table(table, &rows, 3).expect("score") {
            for reason in &score.reasons {
                assert!(!reason.label.is_empty() && !reason.text.is_empty());
            }
        }
    }
}

#[test]
fn a_grouping_that_does_not_cover_the_schema_is_refused_on_load() {
    let table = correlated_table(600, 7);
    let artifact = train(&table, &logistic_options(), &NoProgress)
        .expect("train")
        .artifact;
    let mut broken = artifact.clone();
    broken.reason_groups.as_mut().expect("groups").groups.pop();
    let error = ModelArtifact::from_json(&broken.to_json().expect("json"), Path::new("m.json"))
        .expect_err("a feature in no group");
    assert!(error.to_string().contains("feature 2 is in no group"), "{error}");
    let mut twice = artifact;
    twice.reason_groups.as_mut().expect("groups").groups[1].features = vec![0, 2];
    let error = ModelArtifact::from_json(&twice.to_json().expect("json"), Path::new("m.json"))
        .expect_err("a feature in two groups");
    assert!(error.to_string().contains("more than one group"), "{error}");
}
