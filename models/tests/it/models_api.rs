//! The public API end to end on feature tables built in code: training every kind, additive reasons,
//! artifact round trips, the registry, and bad inputs that must fail with clear errors.

use chrono::NaiveDate;
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use churn_models::train::{NoProgress, ValidationPlan, train};
use churn_models::{
    ContributionScale, FeatureRow, FeatureValue, ForestParams, GradientBoostingParams, LogisticParams,
    ModelArtifact, ModelError, ModelKind, ModelParams, Registry, TrainOptions, Validation,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A churn-like table: spend (heavy tailed, some nulls), recency, a plan category with a rare level and
/// nulls, a descriptor, and a label driven by recency, spend and plan; every 10th label unknown.
pub(crate) fn table(rows: usize, seed: u64) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut spend, mut recency, mut plan, mut segment, mut labels) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..rows {
        let s: f64 = (rng.random::<f64>() * 6.0).exp();
        let r: f64 = rng.random_range(0.0..365.0);
        let p = match rng.random_range(0..100) {
            0 => Some("legacy"),
            1..=5 => None,
            6..=50 => Some("basic"),
            _ => Some("premium"),
        };
        let logit = -1.0 + r / 120.0 - 0.3 * s.ln_1p() + if p == Some("basic") { 0.8 } else { 0.0 };
        let churned = rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
        spend.push((rng.random::<f64>() > 0.05).then_some(s));
        recency.push(Some(r));
        plan.push(p.map(str::to_string));
        segment.push(Some(if r > 180.0 { "lapsed" } else { "active" }.to_string()));
        labels.push((i % 10 != 9).then_some(i8::from(churned)));
    }
    FeatureTable {
        customer_ids: CustomerIds::Int((0..rows as i64).collect()),
        as_of: vec![NaiveDate::from_ymd_opt(2024, 6, 30); rows],
        labels,
        columns: vec![
            FeatureColumn {
                name: "total_spend".into(),
                role: ColumnRole::Numeric,
                description: Some("sum of purchase amounts".into()),
                values: ColumnValues::Numeric(spend),
            },
            FeatureColumn {
                name: "days_since_last_purchase".into(),
                role: ColumnRole::Numeric,
                description: None,
                values: ColumnValues::Numeric(recency),
            },
            FeatureColumn {
                name: "plan".into(),
                role: ColumnRole::Categorical,
                description: None,
                values: ColumnValues::Categorical(plan),
            },
            FeatureColumn {
                name: "lifecycle_stage".into(),
                role: ColumnRole::Descriptor,
                description: None,
                values: ColumnValues::Categorical(segment),
            },
        ],
    }
}

fn small_forest() -> ModelParams {
    ModelParams::RandomForest(ForestParams {
        n_trees: 40,
        max_depth: 6,
        ..ForestParams::default()
    })
}

fn small_boosting() -> ModelParams {
    ModelParams::GradientBoosting(GradientBoostingParams {
        n_rounds: 150,
        learning_rate: 0.1,
        ..GradientBoostingParams::default()
    })
}

/// One model of each kind, with parameters small enough for tests.
fn every_kind() -> [ModelParams; 4] {
    let ModelParams::GradientBoosting(gradient_boosting) = small_boosting() else {
        unreachable!("small_boosting is gradient boosting")
    };
    [
        ModelParams::Logistic(LogisticParams::default()),
        small_forest(),
        small_boosting(),
        ModelParams::Ensemble(churn_models::ensemble::EnsembleParams {
            gradient_boosting,
            ..Default::default()
        }),
    ]
}

fn options(params: ModelParams) -> TrainOptions {
    let mut options = TrainOptions::new(params);
    options.validation = ValidationPlan::CrossValidation { folds: 3, seed: 1 };
    options.importance = None;
    options
}

fn row_of(table: &FeatureTable, i: usize) -> FeatureRow {
    let mut row = FeatureRow::new();
    for column in &table.columns {
        let value = match &column.values {
            ColumnValues::Numeric(v) => v[i].into(),
            ColumnValues::Categorical(v) => v[i]
                .as_ref()
                .map_or(FeatureValue::Missing, |s| FeatureValue::Text(s.clone())),
        };
        row.insert(column.name.clone(), value);
    }
    row
}

#[test]
fn every_kind_learns_skips_unknown_labels_and_leaves_descriptors_out() {
    let table = table(3000, 1);
    for params in every_kind() {
        let outcome = train(&table, &options(params), &NoProgress).expect("train");
        let artifact = &outcome.artifact;
        assert_eq!(artifact.training.skipped_unlabelled, 300);
        assert_eq!(artifact.training.rows, 2700);
        assert_eq!(artifact.descriptors, ["lifecycle_stage"]);
        assert!(artifact.schema.feature_names().all(|n| n != "lifecycle_stage"));
        let metrics = artifact.metrics.as_ref().expect("metrics");
        assert!(
            metrics.roc_auc > 0.7,
            "{:?} auc {}",
            artifact.kind,
            metrics.roc_auc
        );
        assert_eq!(metrics.rows, 2700);
        assert_eq!(outcome.holdout.expect("holdout").probabilities.len(), 2700);
    }
}

#[test]
fn contributions_add_up_to_the_logit_or_the_probability_for_every_kind() {
    let table = table(2000, 2);
    for params in every_kind() {
        let mut options = options(params);
        options.calibration = churn_models::CalibrationMethod::Platt;
        let artifact = train(&table, &options, &NoProgress).expect("train").artifact;
        let probabilities = artifact.predict_proba(&table).expect("predict");
        let explanations = artifact.explain(&table).expect("explain");
        // Contributions explain the model's score before calibration.
        let uncalibrated = ModelArtifact {
            calibration: None,
            ..artifact.clone()
        }
        .predict_proba(&table)
        .expect("predict");
        assert!(
            artifact.calibration.is_some(),
            "{:?} is calibrated by default",
            artifact.kind
        );
        for ((explanation, &p), &raw) in explanations.iter().zip(&probabilities).zip(&uncalibrated) {
            let score = match explanation.scale {
                ContributionScale::Logit => (raw / (1.0 - raw)).ln(),
                ContributionScale::Probability => raw,
                ContributionScale::LogCumulativeHazard => (-(-raw).ln_1p()).ln(),
            };
            assert!(
                (explanation.total() - score).abs() < 1e-9,
                "{:?}: {} vs {score}",
                artifact.kind,
                explanation.total()
            );
            assert!((explanation.probability - p).abs() < 1e-12);
            // One reason per input feature, largest first, top reasons positive only.
            assert_eq!(explanation.contributions.len(), 3);
            assert!(explanation.top_reasons(3).all(|r| r.contribution > 0.0));
        }
        // The same row through the name → value API gives the same answer.
        for i in [0, 7, 42] {
            let row = row_of(&table, i);
            let p = artifact.predict_proba_row(&row).expect("row");
            assert!((p - probabilities[i]).abs() < 1e-12);
            assert_eq!(artifact.explain_row(&row).expect("explain row"), explanations[i]);
        }
    }
}

#[test]
fn save_load_gives_identical_predictions_for_every_kind() {
    let table = table(1500, 3);
    let dir = tempfile::tempdir().expect("temp dir");
    for params in every_kind() {
        let artifact = train(&table, &options(params), &NoProgress)
            .expect("train")
            .artifact;
        let path = dir.path().join("model.json");
        artifact.write(&path).expect("write");
        let loaded = ModelArtifact::read(&path).expect("read");
        assert_eq!(loaded, artifact);
        let before = artifact.predict_proba(&table).expect("predict");
        let after = loaded.predict_proba(&table).expect("predict");
        assert!(before.iter().zip(&after).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn registry_versions_promotion_and_rollback() {
    let table = table(1200, 4);
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::create(dir.path()).expect("registry");
    let artifact = train(
        &table,
        &options(ModelParams::Logistic(LogisticParams::default())),
        &NoProgress,
    )
    .expect("train")
    .artifact;
    let v1 = registry.save("churn", &artifact).expect("save");
    let v2 = registry.save("churn", &artifact).expect("save");
    assert_eq!((v1.as_str(), v2.as_str()), ("v1", "v2"));
    assert!(dir.path().join("churn/v1/metrics.json").is_file());
    assert_eq!(registry.versions("churn").expect("versions"), ["v1", "v2"]);
    assert!(matches!(
        registry.load_promoted("churn"),
        Err(ModelError::NotPromoted { .. })
    ));
    // A bare name means the promoted version: without one it is an error that says how to go on, never
    // the latest version in silence; NAME@VERSION names any version.
    let error = registry.resolve("churn").expect_err("nothing promoted");
    assert!(matches!(&error, ModelError::NotPromoted { versions, .. } if versions == &["v1", "v2"]));
    let message = error.to_string();
    assert!(
        message.contains("no promoted version")
            && message.contains("churn-trainer models promote churn@v2 --registry")
            && message.contains("(churn@v2)"),
        "{message}"
    );
    assert_eq!(registry.resolve("churn@v1").expect("resolve").version, "v1");
    assert_eq!(
        registry.resolve_version("churn@v7").expect("not loaded"),
        ("churn".to_string(), "v7".to_string())
    );
    assert!(matches!(registry.resolve("nobody"), Err(ModelError::NotFound(_))));

    registry.promote("churn", "v1").expect("promote");
    assert_eq!(registry.resolve("churn").expect("resolve").version, "v1");
    registry.promote("churn", "v2").expect("promote");
    let pointer = registry.promotion_pointer("churn").expect("pointer");
    assert_eq!(std::fs::read_to_string(&pointer).expect("pointer"), "v2\n");
    let loaded = registry.load_promoted("churn").expect("load");
    assert_eq!((loaded.name.as_str(), loaded.version.as_str()), ("churn", "v2"));
    assert_eq!(loaded.artifact.version, "v2");

    assert_eq!(registry.rollback("churn").expect("rollback"), "v1");
    assert_eq!(
        registry.promoted_version("churn").expect("promoted").as_deref(),
        Some("v1")
    );
    let error = registry.rollback("churn").expect_err("nothing before v1");
    assert!(error.to_string().contains("nothing to roll back to"), "{error}");

    assert!(registry.promote("churn", "v9").is_err());
    assert!(registry.save("../escape", &artifact).is_err());
    // An artifact copied under another version's directory is refused.
    std::fs::create_dir_all(dir.path().join("churn/v3")).expect("dir");
    std::fs::copy(
        dir.path().join("churn/v1/model.json"),
        dir.path().join("churn/v3/model.json"),
    )
    .expect("copy");
    let error = registry.load("churn", "v3").expect_err("mismatch");
    assert!(error.to_string().contains("sits at churn@v3"), "{error}");
}

#[test]
fn training_without_labels_or_with_one_class_fails_clearly() {
    let mut unlabelled = table(200, 5);
    unlabelled.labels = vec![None; 200];
    let error = train(&unlabelled, &options(small_forest()), &NoProgress).expect_err("no labels");
    assert!(error.to_string().contains("no labelled rows"), "{error}");

    let mut one_class = table(200, 5);
    one_class.labels = vec![Some(0); 200];
    let error = train(&one_class, &options(small_forest()), &NoProgress).expect_err("one class");
    assert!(error.to_string().contains("both classes are needed"), "{error}");

    let mut odd_label = table(200, 5);
    odd_label.labels[3] = Some(2);
    let error = train(&odd_label, &options(small_forest()), &NoProgress).expect_err("label 2");
    assert!(error.to_string().contains("row 3 has label 2"), "{error}");

    let mut nan = table(200, 5);
    if let ColumnValues::Numeric(values) = &mut nan.columns[1].values {
        values[11] = Some(f64::NAN);
    }
    let error = train(&nan, &options(small_forest()), &NoProgress).expect_err("nan");
    assert!(
        error
            .to_string()
            .contains("`days_since_last_purchase` holds a non-finite value (NaN) at row 11"),
        "{error}"
    );

    let mut out_of_time = table(200, 5);
    let mut plan = options(small_forest());
    plan.validation = ValidationPlan::OutOfTime {
        test_as_of: NaiveDate::from_ymd_opt(2024, 7, 31).expect("date"),
    };
    out_of_time.as_of = vec![NaiveDate::from_ymd_opt(2024, 6, 30); 200];
    let error = train(&out_of_time, &plan, &NoProgress).expect_err("no test rows");
    assert!(error.to_string().contains("2024-07-31"), "{error}");
}

#[test]
fn scoring_with_missing_features_wrong_types_or_nan_fails_clearly() {
    let table = table(600, 6);
    let artifact = train(
        &table,
        &options(ModelParams::Logistic(LogisticParams::default())),
        &NoProgress,
    )
    .expect("train")
    .artifact;

    let mut missing = table.clone();
    missing.columns.retain(|c| c.name != "plan");
    let error = artifact.predict_proba(&missing).expect_err("missing");
    assert_eq!(
        error.to_string(),
        "feature `plan` is required by the model but missing from the input"
    );

    let mut wrong_type = table.clone();
    wrong_type.columns[2].values = ColumnValues::Numeric(vec![Some(1.0); 600]);
    let error = artifact.predict_proba(&wrong_type).expect_err("wrong type");
    assert!(error.to_string().contains("`plan` must be text"), "{error}");

    let mut nan = table.clone();
    if let ColumnValues::Numeric(values) = &mut nan.columns[0].values {
        values[5] = Some(f64::INFINITY);
    }
    let error = artifact.explain(&nan).expect_err("inf");
    assert!(
        error.to_string().contains("non-finite value (inf) at row 5"),
        "{error}"
    );

    let mut row = row_of(&table, 0);
    row.insert("total_spend".into(), FeatureValue::Text("a lot".into()));
    assert!(matches!(
        artifact.predict_proba_row(&row),
        Err(ModelError::WrongFeatureType { .. })
    ));
    row.remove("total_spend");
    assert!(matches!(
        artifact.explain_row(&row),
        Err(ModelError::MissingFeature { .. })
    ));
    // Unknown extra features are ignored; missing values are imputed.
    let mut row = row_of(&table, 0);
    row.insert("favourite_colour".into(), "teal".into());
    row.insert("total_spend".into(), FeatureValue::Missing);
    row.insert("plan".into(), FeatureValue::Missing);
    let p = artifact.predict_proba_row(&row).expect("imputed");
    assert!((0.0..=1.0).contains(&p));
}

#[test]
fn corrupt_truncated_and_future_artifacts_are_refused() {
    let table = table(500, 7);
    let artifact = train(&table, &options(small_forest()), &NoProgress)
        .expect("train")
        .artifact;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.json");
    let text = artifact.to_json().expect("json");

    let read = |content: &str| {
        std::fs::write(&path, content).expect("write");
        ModelArtifact::read(&path).expect_err("must fail").to_string()
    };
    let message = read(&text[..text.len() / 2]);
    assert!(message.contains("truncated"), "{message}");

    // Change one digit of the creation date inside the payload: still valid JSON, but the checksum no
    // longer matches.
    let position = text.find("\"created_at\":\"").expect("created_at") + "\"created_at\":\"".len();
    let mut corrupt = text.clone().into_bytes();
    corrupt[position] = if corrupt[position] == b'1' { b'2' } else { b'1' };
    let message = read(&String::from_utf8(corrupt).expect("utf8"));
    assert!(message.contains("checksum mismatch"), "{message}");

    let future = text.replacen("\"format_version\":2", "\"format_version\":3", 1);
    let message = read(&future);
    assert!(
        message.contains("format version 3 is newer than the supported version 2"),
        "{message}"
    );

    let message = read("{\"hello\": \"world\"}");
    assert!(message.contains("not a model artifact"), "{message}");

    std::fs::write(&path, [0xff, 0xfe, 0x00]).expect("write");
    let message = ModelArtifact::read(&path).expect_err("binary").to_string();
    assert!(message.contains("not UTF-8"), "{message}");

    // A payload edited consistently (checksum recomputed) but pointing a tree node out of range is still
    // refused by the consistency checks rather than panicking at scoring time.
    let mut broken = artifact.clone();
    if let churn_models::FittedModel::RandomForest(forest) = &mut broken.model {
        let root = &mut forest.trees[0];
        root.left[0] = 10_000;
    }
    broken.write(&path).expect("write");
    let message = ModelArtifact::read(&path).expect_err("broken tree").to_string();
    assert!(message.contains("tree 0 node 0 is malformed"), "{message}");

    // The same for gradient boosting: a child index out of range, a cycle back to the root, and covers
    // that no longer add up (which would make TreeSHAP reasons inexact) are all refused on load.
    let boosted = train(&table, &options(small_boosting()), &NoProgress)
        .expect("train")
        .artifact;
    type Corruption = fn(&mut churn_models::BoostedTree);
    let corruptions: [(&str, Corruption); 3] = [
        ("tree 0: node 0 is malformed", |tree| tree.left[0] = 10_000),
        ("tree 0: node 0 is malformed", |tree| tree.right[0] = 0),
        ("do not add up", |tree| tree.cover[1] += 1.0),
    ];
    for (expected, corrupt) in corruptions {
        let mut broken = boosted.clone();
        let churn_models::FittedModel::GradientBoosting(model) = &mut broken.model else {
            panic!("a gradient boosting model");
        };
        corrupt(&mut model.trees[0]);
        broken.write(&path).expect("write");
        let message = ModelArtifact::read(&path).expect_err("broken tree").to_string();
        assert!(message.contains(expected), "{message}");
    }
}

/// `fixtures/v1-logistic.json` and `fixtures/v1-forest.json` are format-1 artifacts as written before
/// gradient boosting existed (the kinds they hold serialise the same way since): they must still load and
/// score.
#[test]
fn format_1_artifacts_written_before_gradient_boosting_still_load() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let table = table(50, 11);
    for (file, kind) in [
        ("v1-logistic.json", churn_models::ModelKind::Logistic),
        ("v1-forest.json", churn_models::ModelKind::RandomForest),
    ] {
        let artifact = ModelArtifact::read(&fixtures.join(file)).expect("an old artifact loads");
        assert_eq!(artifact.kind, kind);
        // Written with bands 0 / 0.3 / 0.6 and a threshold near 0.40: `medium` now starts at it.
        let edges: Vec<f64> = artifact
            .risk_bands
            .bands()
            .iter()
            .map(|b| b.min_probability)
            .collect();
        assert_eq!(edges, [0.0, artifact.threshold, 0.6], "{file}");
        let probabilities = artifact.predict_proba(&table).expect("scores");
        assert!(probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}

#[test]
fn training_rows_whose_label_window_reaches_the_test_date_never_reach_the_fit() {
    // Month ends from January to September 2024, 300 rows each; the test date is 2024-09-30.
    let month_ends = [31, 29, 31, 30, 31, 30, 31, 31, 30];
    let mut stacked = table(300 * month_ends.len(), 11);
    for (i, as_of) in stacked.as_of.iter_mut().enumerate() {
        let month = i / 300;
        *as_of = NaiveDate::from_ymd_opt(2024, month as u32 + 1, month_ends[month]);
    }
    let test_as_of = NaiveDate::from_ymd_opt(2024, 9, 30).expect("date");
    let fit = |horizon: Option<u32>, gap: u32| {
        let mut options = options(ModelParams::default_for(ModelKind::Logistic));
        options.validation = ValidationPlan::OutOfTime { test_as_of };
        options.label.horizon_days = horizon;
        options.gap_days = gap;
        train(&stacked, &options, &NoProgress)
            .expect("train")
            .artifact
            .training
    };
    let labelled_before = |last: NaiveDate| {
        (0..stacked.len())
            .filter(|&i| stacked.labels[i].is_some() && stacked.as_of[i].is_some_and(|d| d <= last))
            .count()
    };
    // 90 days: as-of + 90 must not pass 2024-09-30, so June 30 (+90 = Sep 28) is the last month kept.
    let purged = fit(Some(90), 0);
    assert_eq!(
        purged.rows,
        labelled_before(NaiveDate::from_ymd_opt(2024, 6, 30).expect("date"))
    );
    let Validation::OutOfTime {
        purged_rows,
        purge_days,
        ..
    } = purged.validation
    else {
        panic!("out of time expected");
    };
    assert_eq!(purge_days, Some(90));
    assert_eq!(
        purged_rows,
        labelled_before(NaiveDate::from_ymd_opt(2024, 8, 31).expect("date")) - purged.rows
    );
    // A gap of 5 days also purges June 30 (+95 = Oct 3).
    let wider = fit(Some(90), 5);
    assert_eq!(
        wider.rows,
        labelled_before(NaiveDate::from_ymd_opt(2024, 5, 31).expect("date"))
    );
    // Without a known horizon nothing is purged, and the artifact says so.
    let unknown = fit(None, 0);
    assert_eq!(
        unknown.rows,
        labelled_before(NaiveDate::from_ymd_opt(2024, 8, 31).expect("date"))
    );
    assert!(matches!(
        unknown.validation,
        Validation::OutOfTime {
            purge_days: None,
            purged_rows: 0,
            ..
        }
    ));
}

/// A forest of shallow trees with large leaves squashes probabilities toward the base rate.
fn squashed_forest() -> ModelParams {
    ModelParams::RandomForest(ForestParams {
        n_trees: 30,
        max_depth: 2,
        min_samples_leaf: 400,
        ..ForestParams::default()
    })
}

#[test]
fn calibration_of_a_miscalibrated_forest_lowers_brier_and_ece_and_survives_save_and_load() {
    let table = table(6000, 11);
    let mut options = options(squashed_forest());
    options.calibration = churn_models::CalibrationMethod::Isotonic;
    let artifact = train(&table, &options, &NoProgress).expect("train").artifact;
    let metrics = artifact.metrics.as_ref().expect("metrics");
    let before = metrics.before_calibration.as_ref().expect("before calibration");
    // Held-out (cross-fitted) probabilities: calibration was never fitted on the rows it is judged on.
    assert!(
        metrics.brier < before.brier
            && metrics.expected_calibration_error < before.expected_calibration_error,
        "brier {} -> {}, ece {} -> {}",
        before.brier,
        metrics.brier,
        before.expected_calibration_error,
        metrics.expected_calibration_error
    );
    assert!(
        before.expected_calibration_error > 0.03,
        "the forest was not miscalibrated"
    );
    assert_eq!(
        metrics.calibration_method,
        Some(churn_models::CalibrationMethod::Isotonic)
    );

    // Isotonic output is strictly increasing, so the ranking is the model's.
    let calibrator = artifact.calibration.as_ref().expect("calibrator");
    let grid: Vec<f64> = (0..=1000).map(|i| f64::from(i) / 1000.0).collect();
    assert!(
        grid.windows(2)
            .all(|w| calibrator.apply(w[0]) < calibrator.apply(w[1]))
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.json");
    artifact.write(&path).expect("write");
    let loaded = ModelArtifact::read(&path).expect("read");
    assert_eq!(
        loaded.predict_proba(&table).expect("loaded"),
        artifact.predict_proba(&table).expect("original")
    );
}

#[test]
fn an_explicit_calibration_needs_both_classes_in_its_rows_and_auto_then_leaves_the_model_alone() {
    // Two as-of dates: the later one, held out for calibration, has only customers who stayed.
    let mut table = table(2000, 12);
    let later = NaiveDate::from_ymd_opt(2024, 7, 31);
    for i in 1000..2000 {
        table.as_of[i] = later;
        if table.labels[i].is_some() {
            table.labels[i] = Some(0);
        }
    }
    let mut options = options(ModelParams::Logistic(LogisticParams::default()));
    options.validation = ValidationPlan::None;
    options.calibration = churn_models::CalibrationMethod::Platt;
    let error = train(&table, &options, &NoProgress).expect_err("one class");
    assert!(error.to_string().contains("both classes"), "{error}");
    options.calibration = churn_models::CalibrationMethod::Auto;
    let artifact = train(&table, &options, &NoProgress).expect("auto").artifact;
    assert!(artifact.calibration.is_none());
}

#[test]
fn auto_keeps_the_best_kind_on_the_same_rows_and_records_every_candidate() {
    let table = table(3000, 13);
    let candidates = every_kind();
    let outcome =
        churn_models::train::train_auto(&table, &options(squashed_forest()), &candidates, &NoProgress)
            .expect("auto");
    let metrics = outcome.artifact.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.candidates.len(), 4);
    let kinds: Vec<ModelKind> = metrics.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ModelKind::classifiers().collect::<Vec<_>>());
    let chosen: Vec<_> = metrics.candidates.iter().filter(|c| c.chosen).collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].kind, outcome.artifact.kind);
    assert_eq!(chosen[0].roc_auc, metrics.roc_auc);
    let best = metrics
        .candidates
        .iter()
        .map(|c| c.roc_auc)
        .fold(f64::MIN, f64::max);
    assert!(metrics.roc_auc >= best - churn_models::train::AUTO_TIE_AUC);

    let mut unvalidated = options(squashed_forest());
    unvalidated.validation = ValidationPlan::None;
    let error = churn_models::train::train_auto(&table, &unvalidated, &candidates, &NoProgress)
        .expect_err("auto without validation");
    assert!(error.to_string().contains("validation"), "{error}");
}

#[test]
fn unknown_kinds_and_invalid_parameters_fail_before_any_data_is_read() {
    let error = "xgboost".parse::<ModelKind>().expect_err("unknown kind");
    assert!(
        error
            .to_string()
            .contains("logistic, random-forest, gradient-boosting"),
        "{error}"
    );
    let config =
        churn_models::ModelConfig::parse("[gradient_boosting]\nlearning_rate = 2.0\n").expect("parse");
    let error = config
        .params(ModelKind::GradientBoosting)
        .check()
        .expect_err("learning rate");
    assert!(error.to_string().contains("learning_rate"), "{error}");
    let error = churn_models::ModelConfig::parse("[random_forest]\ntrees = 10\n").expect_err("unknown field");
    assert!(
        error.contains("[random_forest]") && error.contains("trees"),
        "{error}"
    );
}

/// Every band of a trained model lies wholly below or wholly above its threshold, so a flagged customer
/// is never in a band below it (the boundary nearest the threshold is moved onto it).
#[test]
fn trained_risk_bands_agree_with_the_decision_threshold() {
    let table = table(1200, 4);
    for kind in [ModelKind::Logistic, ModelKind::RandomForest] {
        let artifact = train(&table, &options(ModelParams::default_for(kind)), &NoProgress)
            .expect("train")
            .artifact;
        let bands = artifact.risk_bands.bands();
        let first_flagged = bands
            .iter()
            .position(|b| b.min_probability == artifact.threshold)
            .unwrap_or_else(|| panic!("{kind}: no band starts at {}: {bands:?}", artifact.threshold));
        for score in artifact
            .scorer()
            .score_table(&table, &(0..table.len()).collect::<Vec<_>>(), 0)
            .expect("scores")
        {
            let band = bands
                .iter()
                .position(|b| b.name == score.risk_band)
                .expect("a band");
            assert_eq!(band >= first_flagged, score.above_threshold, "{kind}: {score:?}");
        }
    }
}
