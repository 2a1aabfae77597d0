//! Training from a feature table: the labelled rows of the population only, preprocessing fitted on
//! training rows only, honest held-out metrics (stratified k-fold out-of-fold predictions, or out of
//! time, overall and per segment), a decision threshold chosen on held-out scores, the training
//! distributions drift is measured against (`crate::drift`), and an artifact ready for the registry.

use crate::artifact::{LabelInfo, ModelArtifact, TrainingInfo, Validation};
use crate::bands::RiskBands;
use crate::calibration::{CalibrationMethod, Calibrator};
use crate::drift::{DriftReference, ScoreSource};
use crate::error::{ModelError, Result};
use crate::importance::{PermutationParams, permutation_importance};
use crate::kinds::{FittedModel, ModelParams};
use crate::matrix::Matrix;
use crate::metrics::{
    Candidate, Metrics, ProbabilityQuality, ThresholdRule, brier, log_loss, table_segment_metrics,
};
use crate::model::{ChurnModel, ValidationSet};
use crate::population::Population;
use crate::preprocess::{FeatureSchema, PreprocessParams};
use crate::reason_groups::ReasonGroups;
use crate::survival::Survival;
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
    /// How probabilities are calibrated.
    pub calibration: CalibrationMethod,
    /// Share of the training rows held out (stratified) for early stopping and calibration when they
    /// have a single as-of date (with several, the latest date is held out).
    pub held_out_fraction: f64,
    /// The rows the model is for: training and validation use only these, before any split; stored in
    /// the artifact.
    pub population: Population,
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
            calibration: CalibrationMethod::Auto,
            held_out_fraction: 0.15,
            population: Population::everyone(),
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
    /// The rows of the feature table held out.
    pub rows: Vec<usize>,
    /// Labels.
    pub labels: Vec<u8>,
    /// Predicted probabilities (calibrated when the model is).
    pub probabilities: Vec<f64>,
    /// The model's probabilities before calibration.
    pub uncalibrated: Vec<f64>,
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
    let all: Vec<usize> = (0..table.len()).collect();
    labelled_rows_in(table, &all)
}

/// The labelled rows among `candidates` (e.g. a population's rows), as [`labelled_rows`].
pub fn labelled_rows_in(table: &FeatureTable, candidates: &[usize]) -> Result<(Vec<usize>, Vec<u8>, usize)> {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut skipped = 0;
    for &i in candidates {
        match &table.labels[i] {
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
        return Err(ModelError::Training(format!(
            "there are no labelled rows in {what}"
        )));
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
    /// Fitting the model (and its calibration) on the encoded rows.
    pub model: f64,
}

/// What [`fit_rows`] returns.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The preprocessing fitted on the rows.
    pub schema: FeatureSchema,
    /// The model.
    pub model: FittedModel,
    /// The calibration, when asked for and possible.
    pub calibration: Option<Calibrator>,
    /// Time taken.
    pub time: FitTime,
}

/// The positions of `rows` held out from the fit, for early stopping and calibration: the rows of the
/// latest as-of date when `rows` span several dates (out of time, like the test they will face), else a
/// stratified `held_out_fraction` of them. Out of time, the rows whose label window reaches the held-out
/// date are purged from the fit, as in [`purged_split`], so the rows deciding when to stop and how to
/// calibrate are not ones whose outcome the fitted rows have seen. Returns (fitted on, held out), or
/// `None` when nothing can be held out.
fn held_out_split(
    table: &FeatureTable,
    rows: &[usize],
    labels: &[u8],
    options: &TrainOptions,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let latest = rows.iter().filter_map(|&i| table.as_of[i]).max();
    let several_dates = latest.is_some()
        && rows
            .iter()
            .any(|&i| table.as_of[i].is_some_and(|d| Some(d) < latest));
    if let (true, Some(latest)) = (several_dates, latest) {
        let purge_days = purge_days(options);
        let mut purged = 0;
        let (mut fit_at, mut held_at) = (Vec::new(), Vec::new());
        for (k, &i) in rows.iter().enumerate() {
            match table.as_of[i] {
                Some(d) if d == latest => held_at.push(k),
                Some(d) if label_reaches(d, purge_days, latest) => purged += 1,
                _ => fit_at.push(k),
            }
        }
        let classes = |at: &[usize]| at.iter().any(|&k| labels[k] == 1) && at.iter().any(|&k| labels[k] == 0);
        if classes(&fit_at) && !held_at.is_empty() {
            tracing::debug!(
                "early stopping and calibration hold out the {} rows of {latest}; {purged} earlier rows \
                 whose label window reaches {latest} are not fitted on",
                held_at.len()
            );
            return Some((fit_at, held_at));
        }
        tracing::debug!(
            "too few rows are left before {latest} once those whose label window reaches it are purged: \
             early stopping and calibration hold out a stratified share of the rows instead"
        );
    }
    let (fit_at, held_at) = crate::boosting::stratified_holdout(labels, options.held_out_fraction, 0);
    (!fit_at.is_empty() && !held_at.is_empty()).then_some((fit_at, held_at))
}

/// Days after its as-of date whose data a row's label depends on (the look-ahead, else the horizon),
/// with the gap added: the purge of a time-ordered split. `None` when the horizon is unknown (nothing is
/// purged).
fn purge_days(options: &TrainOptions) -> Option<u32> {
    let label = &options.label;
    label
        .lookahead_days
        .max(label.horizon_days)
        .map(|days| days.saturating_add(options.gap_days))
}

/// The last day whose churn the survival outcome of a row fitted before an out-of-time `test_as_of`
/// may count: the test date less the gap and the label's look-ahead beyond its horizon. A subscription
/// churn on day `d` is known only `grace_days` later (no new period by then), so a churn within the
/// grace period before the test date is known only from data after it; like [`purge_days`], the cut
/// keeps what the fitted rows see before the test date.
fn churn_known_until(test_as_of: NaiveDate, options: &TrainOptions) -> NaiveDate {
    let label = &options.label;
    let wait = match (label.lookahead_days, label.horizon_days) {
        (Some(lookahead), Some(horizon)) => lookahead.saturating_sub(horizon),
        _ => 0,
    };
    test_as_of
        .checked_sub_days(chrono::Days::new(u64::from(wait) + u64::from(options.gap_days)))
        .unwrap_or(NaiveDate::MIN)
}

/// Whether the label window of a row as of `as_of`, `purge_days` long, reaches past `date`.
fn label_reaches(as_of: NaiveDate, purge_days: Option<u32>, date: NaiveDate) -> bool {
    purge_days.is_some_and(|days| {
        as_of
            .checked_add_days(chrono::Days::new(days.into()))
            .is_none_or(|end| end > date)
    })
}

/// Fits preprocessing, a model and (when `calibration` asks for one) a calibration on `rows` of `table`.
///
/// When the kind stops early ([`ModelParams::uses_validation`]) or a calibration is asked for, the rows of
/// [`held_out_split`] are held out: the model is fitted on the others, stops early on them, and the
/// calibration is fitted on its predictions for them, so neither is fitted on rows the model was fitted
/// on. Preprocessing is fitted on all of `rows` either way. With [`CalibrationMethod::Auto`], a held-out
/// slice without both classes leaves the model uncalibrated (with a warning); an explicit method fails.
///
/// A survival kind ([`crate::ModelKind::is_survival`]) is fitted on the rows' durations and churn events
/// ([`survival_outcome`], censored at `censor_at` when given) and is not calibrated: its churn
/// probabilities come from its survival curves, which a calibration to one horizon's labels would no
/// longer match.
pub fn fit_rows(
    table: &FeatureTable,
    rows: &[usize],
    labels: &[u8],
    options: &TrainOptions,
    calibration: CalibrationMethod,
    censor_at: Option<NaiveDate>,
    progress: &dyn Progress,
) -> Result<Fitted> {
    let started = Instant::now();
    let (schema, x) = FeatureSchema::fit_encode(table, rows, &options.preprocess)?;
    let encoded = Instant::now();
    let params = &options.params;
    if params.kind().is_survival() {
        let (durations, events) = survival_outcome(table, rows, censor_at)?;
        let outcome = Survival {
            durations: &durations,
            events: &events,
        };
        let model = params.fit_survival(&x, &outcome, &|| progress.step())?;
        return Ok(Fitted {
            schema,
            model,
            calibration: None,
            time: FitTime {
                preprocess: (encoded - started).as_secs_f64(),
                model: encoded.elapsed().as_secs_f64(),
            },
        });
    }
    let hold_out = params.uses_validation() || calibration != CalibrationMethod::None;
    let split = if hold_out {
        held_out_split(table, rows, labels, options)
    } else {
        None
    };
    let (model, calibration) = match split {
        Some((fit_at, held_at)) => {
            let pick = |at: &[usize]| -> (Matrix, Vec<u8>) {
                (x.select_rows(at), at.iter().map(|&k| labels[k]).collect())
            };
            let (fit_x, fit_y) = pick(&fit_at);
            let (held_x, held_y) = pick(&held_at);
            let validation = ValidationSet {
                x: &held_x,
                y: &held_y,
            };
            let model = params.fit(&fit_x, &fit_y, Some(validation), &|| progress.step())?;
            let calibrator = calibrate(
                calibration,
                &held_y,
                &model.predict_encoded(&held_x),
                None,
                "the held-out calibration rows",
            )?
            .map(|(calibrator, _)| calibrator);
            (model, calibrator)
        }
        None => {
            let model = params.fit(&x, labels, None, &|| progress.step())?;
            if hold_out && calibration != CalibrationMethod::None {
                let reason = "no rows could be held out for calibration";
                if calibration != CalibrationMethod::Auto {
                    return Err(ModelError::Training(format!(
                        "--calibration {calibration}: {reason}"
                    )));
                }
                tracing::warn!("the model is not calibrated: {reason}");
            }
            (model, None)
        }
    };
    let time = FitTime {
        preprocess: (encoded - started).as_secs_f64(),
        model: encoded.elapsed().as_secs_f64(),
    };
    Ok(Fitted {
        schema,
        model,
        calibration,
        time,
    })
}

/// The durations in days and churn events of `rows` of `table`, from its outcome columns
/// ([`churn_features::table::DURATION_COLUMN`] and [`churn_features::table::EVENT_COLUMN`]), for survival
/// kinds. With `censor_at`, what happened after that date is unknown: a row's duration is cut at the days
/// from its as-of date to it, censored, so rows fitted before an out-of-time test date never see the
/// test period.
pub fn survival_outcome(
    table: &FeatureTable,
    rows: &[usize],
    censor_at: Option<NaiveDate>,
) -> Result<(Vec<f64>, Vec<u8>)> {
    use churn_features::table::{DURATION_COLUMN, EVENT_COLUMN};
    let column = |name: &str| -> Result<&[Option<f64>]> {
        match table.column(name).map(|c| &c.values) {
            Some(churn_features::ColumnValues::Numeric(values)) => Ok(values),
            _ => Err(ModelError::Training(format!(
                "a survival model needs each row's time to churn, and the feature table has no numeric \
                 `{name}` column: build it with `churn-trainer features --durations` (from a churn date \
                 or [subscriptions]) or with a duration column in [labels]"
            ))),
        }
    };
    let (durations, events) = (column(DURATION_COLUMN)?, column(EVENT_COLUMN)?);
    let mut out = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
    for &i in rows {
        let (Some(mut duration), Some(event)) = (durations[i], events[i]) else {
            return Err(ModelError::Training(format!(
                "row {i} (customer {}) is labelled but has no {DURATION_COLUMN} or {EVENT_COLUMN}",
                table.customer_id_string(i)
            )));
        };
        let mut event = if event == 0.0 {
            0
        } else if event == 1.0 {
            1
        } else {
            return Err(ModelError::Training(format!(
                "row {i} has {EVENT_COLUMN} {event}; it must be 0 (censored) or 1 (churned)"
            )));
        };
        if let (Some(cut), Some(as_of)) = (censor_at, table.as_of[i]) {
            let known = (cut - as_of).num_days() as f64;
            if duration > known {
                duration = known.max(0.0);
                event = 0;
            }
        }
        out.0.push(duration);
        out.1.push(event);
    }
    Ok(out)
}

/// Folds the calibration rows are cross-fitted over when no folds are given.
const CALIBRATION_FOLDS: usize = 5;

/// A calibration of the model's probabilities `raw` against `labels` (rows the model was not fitted
/// on), with the rows' own probabilities calibrated out of fold: each fold (`fold`, else a stratified
/// split of the rows) by a calibration fitted on the other folds.
///
/// An explicit method is always fitted (and fails without both classes). [`CalibrationMethod::Auto`]
/// keeps a calibration only when it helps where it can be checked: each of its candidates
/// ([`CalibrationMethod::auto_candidates`]) is judged out of fold, and of those that lower both the log
/// loss and the Brier score of the uncalibrated probabilities the one with the lowest log loss is kept (the
/// log loss guards against a map that is sure of customers it should not be, which the Brier score
/// barely sees). It returns `None` (with a message) when the rows lack a class, are too few to
/// cross-fit, or no candidate helps, so an already calibrated model is left alone.
fn calibrate(
    method: CalibrationMethod,
    labels: &[u8],
    raw: &[f64],
    fold: Option<&[usize]>,
    what: &str,
) -> Result<Option<(Calibrator, Vec<f64>)>> {
    if method == CalibrationMethod::None {
        return Ok(None);
    }
    let auto = method == CalibrationMethod::Auto;
    let own_folds;
    let fold = match fold {
        Some(fold) => Some(fold),
        None => {
            own_folds = stratified_folds(labels, CALIBRATION_FOLDS, 0).ok();
            own_folds.as_deref()
        }
    };
    let Some(fold) = fold else {
        if auto {
            tracing::info!("the model is not calibrated: {what} are too few to check a calibration on");
            return Ok(None);
        }
        let calibrator = crate::calibration::fit(method, labels, raw, what)?;
        return Ok(calibrator.map(|c| {
            let calibrated = c.apply_all(raw);
            (c, calibrated)
        }));
    };
    if !auto {
        let Some(calibrator) = crate::calibration::fit(method, labels, raw, what)? else {
            return Ok(None);
        };
        return Ok(Some((calibrator, out_of_fold(method, labels, raw, fold)?)));
    }
    if !labels.contains(&0) || !labels.contains(&1) {
        tracing::info!("the model is not calibrated: {what} lack a class");
        return Ok(None);
    }
    let (log_loss_before, brier_before) = (log_loss(labels, raw)?, brier(labels, raw)?);
    let mut best: Option<(CalibrationMethod, Vec<f64>, f64)> = None;
    for candidate in CalibrationMethod::auto_candidates(labels.len()) {
        let calibrated = out_of_fold(candidate, labels, raw, fold)?;
        let (log_loss_after, brier_after) = (log_loss(labels, &calibrated)?, brier(labels, &calibrated)?);
        tracing::debug!(
            method = %candidate,
            log_loss_before,
            log_loss_after,
            brier_before,
            brier_after,
            "calibration judged out of fold on {what}"
        );
        let helps = log_loss_after < log_loss_before && brier_after < brier_before;
        if helps && best.as_ref().is_none_or(|(_, _, best)| log_loss_after < *best) {
            best = Some((candidate, calibrated, log_loss_after));
        }
    }
    let Some((chosen, calibrated, _)) = best else {
        tracing::info!(
            "the model is not calibrated: no calibration lowered both the log loss and the Brier score of \
             {what} out of fold"
        );
        return Ok(None);
    };
    let calibrator = crate::calibration::fit(chosen, labels, raw, what)?;
    Ok(calibrator.map(|c| (c, calibrated)))
}

/// `raw` calibrated out of fold by `method`: each fold by a calibration fitted on the other folds (a
/// fold whose other folds lack a class keeps its raw probabilities).
fn out_of_fold(method: CalibrationMethod, labels: &[u8], raw: &[f64], fold: &[usize]) -> Result<Vec<f64>> {
    let folds = fold.iter().max().map_or(0, |&k| k + 1);
    let mut calibrated = raw.to_vec();
    for k in 0..folds {
        let (others, own): (Vec<usize>, Vec<usize>) = (0..raw.len()).partition(|&i| fold[i] != k);
        let other_labels: Vec<u8> = others.iter().map(|&i| labels[i]).collect();
        let other_raw: Vec<f64> = others.iter().map(|&i| raw[i]).collect();
        if let Some(fold_calibrator) =
            crate::calibration::fit(method, &other_labels, &other_raw, "the other folds' predictions")?
        {
            for i in own {
                calibrated[i] = fold_calibrator.apply(raw[i]);
            }
        }
    }
    Ok(calibrated)
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

/// Trains a model on the labelled rows of `table` in the population of `options` as `options` say.
///
/// The probabilities held out for metrics are calibrated the way the stored model's will be, but by a
/// calibration that never saw them: out of time, the calibration comes from the training rows' held-out
/// slice; under cross-validation, each fold's out-of-fold predictions are calibrated by a calibration
/// fitted on the other folds' (the stored calibration is fitted on all of them).
pub fn train(table: &FeatureTable, options: &TrainOptions, progress: &dyn Progress) -> Result<TrainOutcome> {
    options
        .risk_bands
        .validate()
        .map_err(|reason| ModelError::InvalidParameter {
            name: "risk_bands",
            reason,
        })?;
    options.params.check()?;
    let mut tied = options.clone();
    tied.params.follow_label_horizon(options.label.horizon_days)?;
    let options = &tied;
    let population = options.population.rows(table)?;
    let population_excluded = table.len() - population.len();
    if population.is_empty() && !table.is_empty() {
        return Err(ModelError::Training(format!(
            "the population ({}) leaves out every one of the {} rows of the feature table",
            options.population,
            table.len()
        )));
    }
    let (rows, labels, skipped) = labelled_rows_in(table, &population)?;
    if rows.is_empty() {
        return Err(ModelError::Training(format!(
            "the feature table has no labelled rows ({} rows{}, all with an unknown label)",
            population.len(),
            if options.population.is_everyone() {
                ""
            } else {
                " in the population"
            }
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

    let (fitted, fit_rows_used, validation, holdout, importance);
    // Under k-fold, a survival model is judged by the folds' models on the rows each held out.
    let mut out_of_fold_survival = None;
    match plan {
        ValidationPlan::OutOfTime { test_as_of } => {
            let split = purged_split(table, &rows, &labels, test_as_of, options)?;
            progress.stage("training", steps);
            let model = fit_rows(
                table,
                &split.train_rows,
                &split.train_labels,
                options,
                options.calibration,
                Some(churn_known_until(test_as_of, options)),
                progress,
            )?;
            let x = model.schema.encode_table(table, &split.test_rows)?;
            let raw = model.model.predict_encoded(&x);
            let probabilities = match &model.calibration {
                Some(calibrator) => calibrator.apply_all(&raw),
                None => raw.clone(),
            };
            importance =
                evaluate_importance(&model.model, &model.schema, &split.test_rows, &split.test_labels)?;
            fitted = model;
            validation = Validation::OutOfTime {
                test_as_of: test_as_of.to_string(),
                purge_days: split.purge_days,
                purged_rows: split.purged_rows,
            };
            holdout = Some(Holdout {
                rows: split.test_rows,
                labels: split.test_labels,
                probabilities,
                uncalibrated: raw,
            });
            fit_rows_used = (split.train_rows, split.train_labels);
        }
        ValidationPlan::CrossValidation { folds, seed } => {
            let fold = stratified_folds(&labels, folds, seed)?;
            let mut raw = vec![0.0; rows.len()];
            let mut fold_importance = None;
            let mut survival_folds = Vec::new();
            progress.stage("cross-validation", steps * folds as u64);
            for k in 0..folds {
                let (train_at, test_at): (Vec<usize>, Vec<usize>) =
                    (0..rows.len()).partition(|&i| fold[i] != k);
                let pick = |at: &[usize]| -> (Vec<usize>, Vec<u8>) {
                    at.iter().map(|&i| (rows[i], labels[i])).unzip()
                };
                let (train_rows, train_labels) = pick(&train_at);
                let (test_rows, test_labels) = pick(&test_at);
                let model = fit_rows(
                    table,
                    &train_rows,
                    &train_labels,
                    options,
                    CalibrationMethod::None,
                    None,
                    progress,
                )?;
                let x = model.schema.encode_table(table, &test_rows)?;
                for (&i, p) in test_at.iter().zip(model.model.predict_encoded(&x)) {
                    raw[i] = p;
                }
                if k == 0 {
                    fold_importance =
                        evaluate_importance(&model.model, &model.schema, &test_rows, &test_labels)?;
                }
                if model.model.as_survival().is_some() {
                    survival_folds.push((model.model, x, test_at));
                }
            }
            out_of_fold_survival =
                crate::evaluation::out_of_fold_survival_metrics(table, &rows, &survival_folds)?;
            progress.stage("training on all rows", steps);
            let mut model = fit_rows(
                table,
                &rows,
                &labels,
                options,
                CalibrationMethod::None,
                None,
                progress,
            )?;
            // Survival kinds are not calibrated (see `fit_rows`).
            let method = if options.params.kind().is_survival() {
                CalibrationMethod::None
            } else {
                options.calibration
            };
            let probabilities =
                match calibrate(method, &labels, &raw, Some(&fold), "the out-of-fold predictions")? {
                    Some((calibrator, calibrated)) => {
                        model.calibration = Some(calibrator);
                        calibrated
                    }
                    None => raw.clone(),
                };
            fitted = model;
            importance = fold_importance;
            fit_rows_used = (rows.clone(), labels.clone());
            validation = Validation::CrossValidation { folds, seed };
            holdout = Some(Holdout {
                rows: rows.clone(),
                labels: labels.clone(),
                probabilities,
                uncalibrated: raw,
            });
        }
        ValidationPlan::None | ValidationPlan::Auto => {
            progress.stage("training", steps);
            fitted = fit_rows(
                table,
                &rows,
                &labels,
                options,
                options.calibration,
                None,
                progress,
            )?;
            importance = None;
            fit_rows_used = (rows.clone(), labels.clone());
            validation = Validation::None;
            holdout = None;
        }
    }

    // The probabilities the score's drift reference is taken from (see `ScoreSource` for why).
    let mut training_probabilities = Vec::new();
    let (threshold, metrics) = match &holdout {
        Some(h) => {
            let mut metrics = Metrics::compute(&h.labels, &h.probabilities, options.threshold_rule)?;
            metrics.importance = importance.unwrap_or_default();
            let mut ranking = &h.probabilities;
            if let Some(calibrator) = &fitted.calibration {
                metrics.calibration_method = Some(calibrator.method());
                metrics.before_calibration = Some(ProbabilityQuality::of(&h.labels, &h.uncalibrated)?);
                // The stored calibration is one strictly increasing map, so the stored model ranks
                // customers as its uncalibrated scores do; cross-fitted calibrations differ from fold to
                // fold and would add their noise to the ranking, so ranking metrics use the scores.
                metrics.rank_by(&h.labels, &h.uncalibrated)?;
                ranking = &h.uncalibrated;
            }
            metrics.by_segment = table_segment_metrics(table, &h.rows, &h.labels, &h.probabilities, ranking)?;
            // Out of time the held-out rows were scored by the fitted model itself; under k-fold by the
            // folds' models, so the stored model's survival curves would be judged on its own rows.
            metrics.survival = match (fitted.model.as_survival(), &plan) {
                (Some(model), ValidationPlan::OutOfTime { .. }) => {
                    let x = fitted.schema.encode_table(table, &h.rows)?;
                    crate::evaluation::survival_metrics(model, table, &h.rows, &x)?
                }
                _ => out_of_fold_survival.take(),
            };
            metrics.population = options.population.clone();
            (metrics.threshold, Some(metrics))
        }
        None => {
            let x = fitted.schema.encode_table(table, &fit_rows_used.0)?;
            let mut probabilities = fitted.model.predict_encoded(&x);
            if let Some(calibrator) = &fitted.calibration {
                probabilities = calibrator.apply_all(&probabilities);
            }
            let threshold = options.threshold_rule.choose(&fit_rows_used.1, &probabilities)?;
            training_probabilities = probabilities;
            (threshold, None)
        }
    };
    // Out of time, the features' reference is the held-out date's rows too: the latest customers the
    // data shows, so features that grow with time (tenure, customer age) are not flagged for the months
    // between the first training date and today. The model never reads the reference.
    let (score_source, reference_rows, reference_probabilities) = match (&holdout, &plan) {
        (Some(h), ValidationPlan::OutOfTime { .. }) => (ScoreSource::HeldOut, &h.rows, &h.probabilities),
        (Some(h), _) => (ScoreSource::OutOfFold, &h.rows, &h.probabilities),
        (None, _) => (ScoreSource::Training, &fit_rows_used.0, &training_probabilities),
    };
    let drift_reference = DriftReference::fit(
        &fitted.schema,
        table,
        reference_rows,
        score_source,
        reference_probabilities,
    )?;
    let as_of_dates: BTreeSet<String> = fit_rows_used
        .0
        .iter()
        .filter_map(|&i| table.as_of[i].map(|d| d.to_string()))
        .collect();
    let Fitted {
        schema,
        model,
        calibration,
        time,
    } = fitted;
    let reason_groups = ReasonGroups::fit(&schema, &schema.encode_table(table, &fit_rows_used.0)?);
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
        calibration,
        threshold,
        threshold_rule: options.threshold_rule,
        // Every band lies wholly below or wholly above the threshold (see `crate::bands`).
        risk_bands: options
            .risk_bands
            .aligned_logged(threshold, "the new model")
            .map_err(|reason| ModelError::InvalidParameter {
                name: "risk_bands",
                reason,
            })?,
        label: options.label.clone(),
        population: options.population.clone(),
        training: TrainingInfo {
            source: options.source.clone(),
            rows: fit_rows_used.0.len(),
            positives: fit_rows_used.1.iter().filter(|&&l| l == 1).count(),
            skipped_unlabelled: skipped,
            population_excluded,
            as_of_dates: as_of_dates.into_iter().collect(),
            validation,
            fit_seconds: time.preprocess + time.model,
            preprocess_seconds: time.preprocess,
        },
        metrics,
        descriptors: table
            .columns
            .iter()
            .filter(|c| c.role == ColumnRole::Descriptor)
            .map(|c| c.name.clone())
            .collect(),
        reason_groups: Some(reason_groups),
        drift_reference: Some(drift_reference),
    };
    Ok(TrainOutcome { artifact, holdout })
}

/// The rows of an out-of-time split.
struct PurgedSplit {
    train_rows: Vec<usize>,
    train_labels: Vec<u8>,
    test_rows: Vec<usize>,
    test_labels: Vec<u8>,
    purge_days: Option<u32>,
    purged_rows: usize,
}

/// Training rows before `test_as_of` and test rows of that date. A training row's label looks at
/// (as-of, as-of + horizon]: when that window reaches past the test date, the row has seen the test
/// period's outcome, so it is purged (with the gap added).
fn purged_split(
    table: &FeatureTable,
    rows: &[usize],
    labels: &[u8],
    test_as_of: NaiveDate,
    options: &TrainOptions,
) -> Result<PurgedSplit> {
    let purge_days = purge_days(options);
    let overlaps_test = |d: NaiveDate| label_reaches(d, purge_days, test_as_of);
    let mut split = PurgedSplit {
        train_rows: Vec::new(),
        train_labels: Vec::new(),
        test_rows: Vec::new(),
        test_labels: Vec::new(),
        purge_days,
        purged_rows: 0,
    };
    for (&i, &l) in rows.iter().zip(labels) {
        match table.as_of[i] {
            Some(d) if d < test_as_of && overlaps_test(d) => split.purged_rows += 1,
            Some(d) if d < test_as_of => {
                split.train_rows.push(i);
                split.train_labels.push(l);
            }
            Some(d) if d == test_as_of => {
                split.test_rows.push(i);
                split.test_labels.push(l);
            }
            _ => {}
        }
    }
    if let (true, Some(days)) = (split.train_rows.is_empty() && split.purged_rows > 0, purge_days) {
        return Err(ModelError::Training(format!(
            "all {} labelled rows before {test_as_of} were purged: their label window \
             ({days} days after the as-of date) reaches past {test_as_of}, so they have seen the test \
             period; add as-of dates at least {days} days before it, or test on a later date",
            split.purged_rows
        )));
    }
    if split.train_rows.is_empty() {
        let mut dates: Vec<NaiveDate> = rows.iter().filter_map(|&i| table.as_of[i]).collect();
        dates.sort_unstable();
        dates.dedup();
        if dates.is_empty() {
            return Err(ModelError::Training(format!(
                "--test-as-of {test_as_of} needs as-of dates, and this table has none (a snapshot table): \
                 leave out --test-as-of to validate on a held-out share, or use --cv K"
            )));
        }
        let mut shown: Vec<String> = dates.iter().take(3).map(NaiveDate::to_string).collect();
        if dates.len() > 3 {
            shown.push(format!("{} more", dates.len() - 3));
        }
        return Err(ModelError::Training(format!(
            "no rows to train on before the test date {test_as_of}: the table's labelled rows are as of {}; \
             build the features at earlier as-of dates too (features --as-of-range), or leave out \
             --test-as-of to validate on a held-out share",
            shown.join(", ")
        )));
    }
    check_classes(&split.train_labels, &format!("the rows before {test_as_of}"))?;
    check_classes(&split.test_labels, &format!("the rows of {test_as_of}"))?;
    Ok(split)
}

/// A ROC AUC gain a more complex kind must exceed to be chosen over a simpler one by
/// [`train_auto`]: smaller differences are ties, which go to the simpler kind.
pub const AUTO_TIE_AUC: f64 = 0.001;

/// Trains every kind of `candidates` with the same options and validation (the same folds or test date),
/// and keeps the one with the best held-out ROC AUC; a kind later in the list (more complex) must beat
/// the best so far by more than [`AUTO_TIE_AUC`]. Every candidate's metrics are recorded in the winner's
/// [`Metrics::candidates`].
pub fn train_auto(
    table: &FeatureTable,
    options: &TrainOptions,
    candidates: &[ModelParams],
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    if matches!(options.validation, ValidationPlan::None) {
        return Err(ModelError::InvalidParameter {
            name: "model",
            reason: "auto compares kinds on held-out rows, so it needs validation".into(),
        });
    }
    let mut outcomes = Vec::with_capacity(candidates.len());
    for params in candidates {
        params.check()?;
        let options = TrainOptions {
            params: params.clone(),
            ..options.clone()
        };
        outcomes.push(train(table, &options, progress)?);
    }
    let auc = |outcome: &TrainOutcome| outcome.artifact.metrics.as_ref().map_or(f64::NAN, |m| m.roc_auc);
    let mut best = 0;
    for (i, outcome) in outcomes.iter().enumerate().skip(1) {
        if auc(outcome) > auc(&outcomes[best]) + AUTO_TIE_AUC {
            best = i;
        }
    }
    let records: Vec<Candidate> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, outcome)| {
            let metrics = outcome.artifact.metrics.as_ref()?;
            Some(Candidate {
                kind: outcome.artifact.kind,
                chosen: i == best,
                roc_auc: metrics.roc_auc,
                pr_auc: metrics.pr_auc,
                log_loss: metrics.log_loss,
                brier: metrics.brier,
                fit_seconds: outcome.artifact.training.fit_seconds,
            })
        })
        .collect();
    let mut outcome = outcomes.swap_remove(best);
    if let Some(metrics) = &mut outcome.artifact.metrics {
        metrics.candidates = records;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{labelled_table, survival_table};

    #[test]
    fn auto_calibration_keeps_only_a_map_that_lowers_out_of_fold_log_loss_and_brier() {
        // Probabilities bent along a sigmoid (which Platt scaling undoes exactly), the top twentieth all
        // churned except the very top customer. Isotonic regression fitted without that customer gives the
        // top of the scale a probability of 1, so holding it out costs a near-infinite loss, which the
        // Brier score hardly notices.
        let n = 4_000;
        let raw: Vec<f64> = (0..n).map(|i| 0.05 + 0.9 * i as f64 / (n - 1) as f64).collect();
        let labels: Vec<u8> = raw
            .iter()
            .enumerate()
            .map(|(i, &p)| match i {
                _ if i == n - 1 => 0,
                _ if i >= n - n / 20 => 1,
                _ => {
                    let truth = crate::logistic::sigmoid(1.5 * (p / (1.0 - p)).ln() - 1.0);
                    u8::from((i as f64 * 0.618_033_988_75).fract() < truth)
                }
            })
            .collect();
        let folds = stratified_folds(&labels, CALIBRATION_FOLDS, 0).expect("folds");
        let out_of_fold_loss = |method| {
            let calibrated = out_of_fold(method, &labels, &raw, &folds).expect("out of fold");
            log_loss(&labels, &calibrated).expect("log loss")
        };
        assert!(
            out_of_fold_loss(CalibrationMethod::Isotonic) > out_of_fold_loss(CalibrationMethod::Platt),
            "the case must make isotonic regression worse than Platt scaling out of fold"
        );
        let raw_loss = log_loss(&labels, &raw).expect("log loss");
        let (calibrator, calibrated) = calibrate(CalibrationMethod::Auto, &labels, &raw, None, "rows")
            .expect("calibrate")
            .expect("Platt scaling helps here");
        assert_eq!(calibrator.method(), CalibrationMethod::Platt);
        assert!(log_loss(&labels, &calibrated).expect("log loss") < raw_loss);
        assert!(brier(&labels, &calibrated).expect("brier") < brier(&labels, &raw).expect("brier"));
    }

    #[test]
    fn a_cox_model_trains_out_of_time_on_durations_censored_at_the_test_date() {
        let table = survival_table(800, 4);
        let test_as_of = NaiveDate::from_ymd_opt(2024, 6, 30).expect("date");
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::Cox));
        options.label.horizon_days = Some(90);
        options.validation = ValidationPlan::OutOfTime { test_as_of };
        options.importance = None;
        let outcome = train(&table, &options, &NoProgress).expect("train");
        let artifact = &outcome.artifact;
        assert!(
            artifact.calibration.is_none(),
            "survival models are not calibrated"
        );
        let metrics = artifact.metrics.as_ref().expect("metrics");
        let survival = metrics.survival.as_ref().expect("survival metrics");
        assert_eq!(survival.rows, 800);
        assert!(survival.harrell_concordance > 0.6, "{survival:?}");
        let days: Vec<u32> = survival.time_dependent_auc.iter().map(|v| v.days).collect();
        assert_eq!(days, [30, 60, 90]);
        assert!(survival.integrated_brier_score.is_some());
        assert_eq!(survival.calibration.len(), 3);
        assert!(survival.calibration.iter().all(|h| h.bins.len() == 10));
        // The riskiest third of customers churns faster than the safest third (x has hazard ratio e).
        let curves = &survival.kaplan_meier_by_risk;
        assert_eq!(curves.iter().map(|c| c.rows).sum::<usize>(), 800);
        let last = |c: &crate::survival::RiskGroupSurvival| *c.survival.last().expect("steps");
        assert!(last(&curves[2]) < last(&curves[0]), "{curves:?}");
        // The held-out probability is churn within the model's 90-day horizon, judged against the label.
        assert!(metrics.roc_auc > 0.6, "{}", metrics.roc_auc);

        // Rows fitted on saw nothing after the test date: a January row churning in 200 days is
        // censored at the 151 days to June 30.
        let january: Vec<usize> = (0..800).collect();
        let (durations, events) = survival_outcome(&table, &january, Some(test_as_of)).expect("outcome");
        let (raw, _) = survival_outcome(&table, &january, None).expect("outcome");
        for ((&cut, &event), &full) in durations.iter().zip(&events).zip(&raw) {
            assert!(cut <= 151.0);
            assert!(full <= 151.0 || (cut == 151.0 && event == 0));
        }
        assert!(raw.iter().any(|&d| d > 151.0));

        // A subscription churn is known only a grace period after it: with a 30-day grace (a look-ahead
        // of 120 days for a 90-day horizon) and a 5-day gap, the fitted churns stop 35 days before the
        // test date.
        options.label.lookahead_days = Some(120);
        options.gap_days = 5;
        let cut = churn_known_until(test_as_of, &options);
        assert_eq!(cut, NaiveDate::from_ymd_opt(2024, 5, 26).expect("date"));
        let (durations, events) = survival_outcome(&table, &january, Some(cut)).expect("outcome");
        for ((&d, &e), &full) in durations.iter().zip(&events).zip(&raw) {
            assert!(d <= 116.0 && (full <= 116.0 || (d == 116.0 && e == 0)));
        }
    }

    #[test]
    fn a_cox_models_probability_looks_as_far_ahead_as_its_labels() {
        let table = survival_table(400, 5);
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::Cox));
        options.validation = ValidationPlan::None;
        options.importance = None;
        options.label.horizon_days = Some(60);
        let model = train(&table, &options, &NoProgress)
            .expect("train")
            .artifact
            .model;
        let survival = model.as_survival().expect("a survival model");
        assert_eq!(survival.horizon_days(), 60);

        // Set in [cox] to another window than the labels', it is refused before any fit.
        options.params = ModelParams::Cox(crate::CoxParams {
            horizon_days: Some(90),
            ..Default::default()
        });
        let error = train(&table, &options, &NoProgress)
            .expect_err("90 against 60")
            .to_string();
        assert!(
            error.contains("horizon_days") && error.contains("--horizon 90"),
            "{error}"
        );
    }

    #[test]
    fn under_k_fold_a_cox_model_is_judged_on_every_row_by_the_fold_that_held_it_out() {
        let table = survival_table(300, 6);
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::Cox));
        options.validation = ValidationPlan::CrossValidation { folds: 4, seed: 1 };
        options.importance = None;
        options.label.horizon_days = Some(90);
        let metrics = train(&table, &options, &NoProgress)
            .expect("train")
            .artifact
            .metrics
            .expect("metrics");
        let survival = metrics.survival.expect("out-of-fold survival metrics");
        assert_eq!(survival.rows, 600);
        assert!(survival.harrell_concordance > 0.6, "{survival:?}");
        assert_eq!(survival.calibration.len(), 3);
    }

    #[test]
    fn a_survival_kind_without_durations_says_how_to_get_them() {
        let table = labelled_table(200, 1);
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::Cox));
        options.validation = ValidationPlan::None;
        let error = train(&table, &options, &NoProgress)
            .expect_err("no durations")
            .to_string();
        assert!(
            error.contains("churn_duration_days") && error.contains("--durations"),
            "{error}"
        );
    }

    #[test]
    fn rows_whose_label_window_reaches_the_held_out_date_are_not_fitted_on() {
        // Month ends from January to June 2024, 100 rows each; June is held out.
        let month_ends = [31, 29, 31, 30, 31, 30];
        let mut table = labelled_table(100 * month_ends.len(), 3);
        for (i, as_of) in table.as_of.iter_mut().enumerate() {
            *as_of = NaiveDate::from_ymd_opt(2024, i as u32 / 100 + 1, month_ends[i / 100]);
        }
        let rows: Vec<usize> = (0..table.len()).filter(|&i| table.labels[i].is_some()).collect();
        let labels: Vec<u8> = rows.iter().map(|&i| table.labels[i].unwrap_or(0) as u8).collect();
        let month = |k: usize| table.as_of[rows[k]].map(|d| d.format("%m").to_string());
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::GradientBoosting));
        // 45 days: May 31 + 45 = July 15 reaches past June 30 and is purged; April 30 + 45 = June 14 is not.
        options.label.horizon_days = Some(45);
        let (fit_at, held_at) = held_out_split(&table, &rows, &labels, &options).expect("a split");
        assert!(held_at.iter().all(|&k| month(k).as_deref() == Some("06")));
        assert_eq!(held_at.len(), rows.iter().filter(|&&i| i >= 500).count());
        let fitted: std::collections::BTreeSet<String> = fit_at.iter().filter_map(|&k| month(k)).collect();
        assert_eq!(fitted.into_iter().collect::<Vec<_>>(), ["01", "02", "03", "04"]);
        assert_eq!(fit_at.len(), rows.iter().filter(|&&i| i < 400).count());

        // A look-ahead beyond the horizon (a subscription label's grace period) purges by the look-ahead.
        options.label.horizon_days = Some(15);
        options.label.lookahead_days = Some(45);
        let (purged_by_lookahead, _) = held_out_split(&table, &rows, &labels, &options).expect("a split");
        assert_eq!(purged_by_lookahead, fit_at);

        // Without a known horizon nothing is purged.
        options.label.horizon_days = None;
        options.label.lookahead_days = None;
        let (fit_at, _) = held_out_split(&table, &rows, &labels, &options).expect("a split");
        assert_eq!(fit_at.len(), rows.iter().filter(|&&i| i < 500).count());
    }
}
