//! Training from a feature table: labelled rows only, preprocessing fitted on training rows only, honest
//! held-out metrics (stratified k-fold out-of-fold predictions, or out of time), a decision threshold
//! chosen on held-out scores, and an artifact ready for the registry.

use crate::artifact::{LabelInfo, ModelArtifact, TrainingInfo, Validation};
use crate::bands::RiskBands;
use crate::boosting::ValidationSet;
use crate::error::{ModelError, Result};
use crate::importance::{PermutationParams, permutation_importance};
use crate::matrix::Matrix;
use crate::metrics::{Metrics, ThresholdRule};
use crate::model::{ChurnModel, FittedModel, ModelParams};
use crate::preprocess::{FeatureSchema, PreprocessParams};
use chrono::NaiveDate;
use churn_features::{ColumnRole, FeatureTable};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::collections::BTreeSet;
use std::time::Instant;

/// How held-out metrics are obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationPlan {
    /// Out of time on the latest as-of date when the labelled rows have several, else 5-fold.
    Auto,
    /// Stratified k-fold with shuffling.
    CrossValidation {
        /// Number of folds (at least 2).
        folds: usize,
        /// Seed of the fold assignment.
        seed: u64,
    },
    /// Fit on rows with an earlier as-of date, test on rows of this date.
    OutOfTime {
        /// The test date.
        test_as_of: NaiveDate,
    },
    /// No held-out metrics; the threshold is chosen on the training rows.
    None,
}

/// Everything a training run needs besides the table.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Model kind and hyperparameters.
    pub params: ModelParams,
    /// Preprocessing parameters.
    pub preprocess: PreprocessParams,
    /// Validation.
    pub validation: ValidationPlan,
    /// How the decision threshold is chosen.
    pub threshold_rule: ThresholdRule,
    /// Risk bands stored with the model.
    pub risk_bands: RiskBands,
    /// What the label means.
    pub label: LabelInfo,
    /// Name of the feature table file, recorded in the artifact.
    pub source: Option<String>,
    /// Permutation importance settings; `None` skips it.
    pub importance: Option<PermutationParams>,
    /// Days added to the label horizon when purging training rows before an out-of-time test date.
    pub gap_days: u32,
}

impl TrainOptions {
    /// Default options for a model kind's parameters.
    pub fn new(params: ModelParams) -> Self {
        Self {
            params,
            preprocess: PreprocessParams::default(),
            validation: ValidationPlan::Auto,
            threshold_rule: ThresholdRule::MaxF1,
            risk_bands: RiskBands::default(),
            label: LabelInfo::default(),
            source: None,
            importance: Some(PermutationParams::default()),
            gap_days: 0,
        }
    }
}

/// Reports training progress (e.g. to a progress bar).
pub trait Progress: Sync {
    /// A new stage begins, with this many steps.
    fn stage(&self, name: &str, steps: u64);
    /// One step of the current stage is done.
    fn step(&self);
}

/// Progress reporting that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: u64) {}
    fn step(&self) {}
}

/// Held-out labels and probabilities (out-of-fold or out-of-time), for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    /// Labels.
    pub labels: Vec<u8>,
    /// Predicted probabilities.
    pub probabilities: Vec<f64>,
}

/// The result of training.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The artifact (name and version are filled in by the registry).
    pub artifact: ModelArtifact,
    /// Held-out predictions, when validated.
    pub holdout: Option<Holdout>,
}

/// The labelled rows of a table: indices and 0/1 labels, and the number of rows with an unknown label.
pub fn labelled_rows(table: &FeatureTable) -> Result<(Vec<usize>, Vec<u8>, usize)> {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut skipped = 0;
    for (i, label) in table.labels.iter().enumerate() {
        match label {
            None => skipped += 1,
            Some(l @ (0 | 1)) => {
                rows.push(i);
                labels.push(*l as u8);
            }
            Some(other) => {
                return Err(ModelError::Training(format!(
                    "row {i} has label {other}; labels must be 0 (stayed), 1 (churned) or null (unknown)"
                )));
            }
        }
    }
    Ok((rows, labels, skipped))
}

fn check_classes(labels: &[u8], what: &str) -> Result<usize> {
    let positives = labels.iter().filter(|&&l| l == 1).count();
    if labels.is_empty() {
        return Err(ModelError::Training(format!("{what} has no labelled rows")));
    }
    if positives == 0 || positives == labels.len() {
        let class = if positives == 0 {
            "0 (stayed)"
        } else {
            "1 (churned)"
        };
        return Err(ModelError::Training(format!(
            "every labelled row of {what} has label {class}; both classes are needed"
        )));
    }
    Ok(positives)
}

/// Wall-clock seconds of one fit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FitTime {
    /// Fitting the preprocessing and encoding the training rows.
    pub preprocess: f64,
    /// Fitting the model on the encoded rows.
    pub model: f64,
}

/// Fits preprocessing and a model on `rows` of `table`; returns them with the time each took.
///
/// A kind that stops early ([`ModelParams::uses_validation`]) is given the rows of the latest as-of date
/// as validation rows when `rows` span several dates (out of time, like the test it will face), and fits
/// on the earlier ones; otherwise it holds out a stratified slice itself. Preprocessing is fitted on all
/// of `rows` either way.
pub fn fit_rows(
    table: &FeatureTable,
    rows: &[usize],
    labels: &[u8],
    params: &ModelParams,
    preprocess: &PreprocessParams,
    progress: &dyn Progress,
) -> Result<(FeatureSchema, FittedModel, FitTime)> {
    let started = Instant::now();
    let (schema, x) = FeatureSchema::fit_encode(table, rows, preprocess)?;
    let encoded = Instant::now();
    let latest = rows.iter().filter_map(|&i| table.as_of[i]).max();
    let out_of_time = params.uses_validation()
        && rows
            .iter()
            .any(|&i| table.as_of[i].is_some_and(|d| Some(d) < latest))
        && latest.is_some();
    let model = if out_of_time {
        let (fit_at, validation_at): (Vec<usize>, Vec<usize>) =
            (0..rows.len()).partition(|&k| table.as_of[rows[k]] != latest);
        let pick = |at: &[usize]| -> (Matrix, Vec<u8>) {
            (x.select_rows(at), at.iter().map(|&k| labels[k]).collect())
        };
        let (fit_x, fit_y) = pick(&fit_at);
        let (validation_x, validation_y) = pick(&validation_at);
        let validation = ValidationSet {
            x: &validation_x,
            y: &validation_y,
        };
        params.fit(&fit_x, &fit_y, Some(validation), &|| progress.step())?
    } else {
        params.fit(&x, labels, None, &|| progress.step())?
    };
    let time = FitTime {
        preprocess: (encoded - started).as_secs_f64(),
        model: encoded.elapsed().as_secs_f64(),
    };
    Ok((schema, model, time))
}

/// Stratified fold of each position: positives and negatives are shuffled separately and dealt to the
/// folds in turn, so every fold has nearly the same churn rate (as scikit-learn's `StratifiedKFold`).
pub fn stratified_folds(labels: &[u8], folds: usize, seed: u64) -> Result<Vec<usize>> {
    if folds < 2 {
        return Err(ModelError::InvalidParameter {
            name: "folds",
            reason: format!("cross-validation needs at least 2 folds, got {folds}"),
        });
    }
    let positives = labels.iter().filter(|&&l| l == 1).count();
    let minority = positives.min(labels.len() - positives);
    if minority < folds {
        return Err(ModelError::Training(format!(
            "{folds}-fold cross-validation needs at least {folds} rows of each class, the smaller class has {minority}"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold = vec![0; labels.len()];
    for class in [0u8, 1] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        for (k, &i) in members.iter().enumerate() {
            fold[i] = k % folds;
        }
    }
    Ok(fold)
}

/// Trains a model on the labelled rows of `table` as `options` say.
pub fn train(table: &FeatureTable, options: &TrainOptions, progress: &dyn Progress) -> Result<TrainOutcome> {
    options
        .risk_bands
        .validate()
        .map_err(|reason| ModelError::InvalidParameter {
            name: "risk_bands",
            reason,
        })?;
    options.params.check()?;
    let (rows, labels, skipped) = labelled_rows(table)?;
    if rows.is_empty() {
        return Err(ModelError::Training(format!(
            "the feature table has no labelled rows ({} rows, all with an unknown label)",
            table.len()
        )));
    }
    check_classes(&labels, "the feature table")?;
    let dates: BTreeSet<NaiveDate> = rows.iter().filter_map(|&i| table.as_of[i]).collect();
    let plan = match &options.validation {
        ValidationPlan::Auto if dates.len() >= 2 => ValidationPlan::OutOfTime {
            test_as_of: *dates.last().unwrap_or(&NaiveDate::MIN),
        },
        ValidationPlan::Auto => ValidationPlan::CrossValidation { folds: 5, seed: 0 },
        other => other.clone(),
    };
    let steps = options.params.steps();
    let evaluate_importance =
        |model: &FittedModel, schema: &FeatureSchema, test_rows: &[usize], test_labels: &[u8]| {
            options
                .importance
                .map(|params| {
                    let x = schema.encode_table(table, test_rows)?;
                    permutation_importance(model, schema, &x, test_labels, params)
                })
                .transpose()
        };

    let (schema, model, fit_seconds, fit_rows_used, validation, holdout, importance);
    match plan {
        ValidationPlan::OutOfTime { test_as_of } => {
            // A training row's label looks at (as-of, as-of + horizon]: when that window reaches past the
            // test date, the row has seen the test period's outcome, so it is purged (with the gap added).
            let purge_days = options
                .label
                .horizon_days
                .map(|h| h.saturating_add(options.gap_days));
            let overlaps_test = |d: NaiveDate| {
                purge_days.is_some_and(|days| {
                    d.checked_add_days(chrono::Days::new(days.into()))
                        .is_none_or(|end| end > test_as_of)
                })
            };
            let (mut train_rows, mut train_labels, mut test_rows, mut test_labels) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut purged_rows = 0;
            for (&i, &l) in rows.iter().zip(&labels) {
                match table.as_of[i] {
                    Some(d) if d < test_as_of && overlaps_test(d) => purged_rows += 1,
                    Some(d) if d < test_as_of => {
                        train_rows.push(i);
                        train_labels.push(l);
                    }
                    Some(d) if d == test_as_of => {
                        test_rows.push(i);
                        test_labels.push(l);
                    }
                    _ => {}
                }
            }
            if let (true, Some(days)) = (train_rows.is_empty() && purged_rows > 0, purge_days) {
                return Err(ModelError::Training(format!(
                    "all {purged_rows} labelled rows before {test_as_of} were purged: their label window \
                     ({days} days after the as-of date) reaches past {test_as_of}, so they have seen the test \
                     period; add as-of dates at least {days} days before it, or test on a later date"
                )));
            }
            check_classes(&train_labels, &format!("the rows before {test_as_of}"))?;
            check_classes(&test_labels, &format!("the rows of {test_as_of}"))?;
            progress.stage("training", steps);
            let fitted = fit_rows(
                table,
                &train_rows,
                &train_labels,
                &options.params,
                &options.preprocess,
                progress,
            )?;
            let x = fitted.0.encode_table(table, &test_rows)?;
            let probabilities = fitted.1.predict_encoded(&x);
            importance = evaluate_importance(&fitted.1, &fitted.0, &test_rows, &test_labels)?;
            (schema, model, fit_seconds) = fitted;
            fit_rows_used = (train_rows, train_labels);
            validation = Validation::OutOfTime {
                test_as_of: test_as_of.to_string(),
                purge_days,
                purged_rows,
            };
            holdout = Some(Holdout {
                labels: test_labels,
                probabilities,
            });
        }
        ValidationPlan::CrossValidation { folds, seed } => {
            let fold = stratified_folds(&labels, folds, seed)?;
            let mut probabilities = vec![0.0; rows.len()];
            let mut fold_importance = None;
            progress.stage("cross-validation", steps * folds as u64);
            for k in 0..folds {
                let (train_at, test_at): (Vec<usize>, Vec<usize>) =
                    (0..rows.len()).partition(|&i| fold[i] != k);
                let pick = |at: &[usize]| -> (Vec<usize>, Vec<u8>) {
                    at.iter().map(|&i| (rows[i], labels[i])).unzip()
                };
                let (train_rows, train_labels) = pick(&train_at);
                let (test_rows, test_labels) = pick(&test_at);
                let (fold_schema, fold_model, _) = fit_rows(
                    table,
                    &train_rows,
                    &train_labels,
                    &options.params,
                    &options.preprocess,
                    progress,
                )?;
                let x = fold_schema.encode_table(table, &test_rows)?;
                for (&i, p) in test_at.iter().zip(fold_model.predict_encoded(&x)) {
                    probabilities[i] = p;
                }
                if k == 0 {
                    fold_importance =
                        evaluate_importance(&fold_model, &fold_schema, &test_rows, &test_labels)?;
                }
            }
            progress.stage("training on all rows", steps);
            (schema, model, fit_seconds) = fit_rows(
                table,
                &rows,
                &labels,
                &options.params,
                &options.preprocess,
                progress,
            )?;
            importance = fold_importance;
            fit_rows_used = (rows.clone(), labels.clone());
            validation = Validation::CrossValidation { folds, seed };
            holdout = Some(Holdout {
                labels: labels.clone(),
                probabilities,
            });
        }
        ValidationPlan::None | ValidationPlan::Auto => {
            progress.stage("training", steps);
            (schema, model, fit_seconds) = fit_rows(
                table,
                &rows,
                &labels,
                &options.params,
                &options.preprocess,
                progress,
            )?;
            importance = None;
            fit_rows_used = (rows.clone(), labels.clone());
            validation = Validation::None;
            holdout = None;
        }
    }

    let (threshold, metrics) = match &holdout {
        Some(h) => {
            let mut metrics = Metrics::compute(&h.labels, &h.probabilities, options.threshold_rule)?;
            metrics.importance = importance.unwrap_or_default();
            (metrics.threshold, Some(metrics))
        }
        None => {
            let x = schema.encode_table(table, &fit_rows_used.0)?;
            let threshold = options
                .threshold_rule
                .choose(&fit_rows_used.1, &model.predict_encoded(&x))?;
            (threshold, None)
        }
    };
    let as_of_dates: BTreeSet<String> = fit_rows_used
        .0
        .iter()
        .filter_map(|&i| table.as_of[i].map(|d| d.to_string()))
        .collect();
    let artifact = ModelArtifact {
        name: String::new(),
        version: String::new(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        library_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: model.kind(),
        schema,
        preprocess: options.preprocess.clone(),
        params: options.params.clone(),
        model,
        threshold,
        threshold_rule: options.threshold_rule,
        risk_bands: options.risk_bands.clone(),
        label: options.label.clone(),
        training: TrainingInfo {
            source: options.source.clone(),
            rows: fit_rows_used.0.len(),
            positives: fit_rows_used.1.iter().filter(|&&l| l == 1).count(),
            skipped_unlabelled: skipped,
            as_of_dates: as_of_dates.into_iter().collect(),
            validation,
            fit_seconds: fit_seconds.preprocess + fit_seconds.model,
            preprocess_seconds: fit_seconds.preprocess,
        },
        metrics,
        descriptors: table
            .columns
            .iter()
            .filter(|c| c.role == ColumnRole::Descriptor)
            .map(|c| c.name.clone())
            .collect(),
    };
    Ok(TrainOutcome { artifact, holdout })
}
