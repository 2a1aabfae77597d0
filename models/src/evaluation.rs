//! Evaluating a trained model on a labelled feature table: the labelled rows, their probabilities through
//! the [`Scorer`], every metric at the model's own threshold, the quality of the probabilities before
//! calibration when the model is calibrated, permutation importance, and the call list. What
//! `churn-trainer evaluate` writes and its report shows.

use crate::FittedModel;
use crate::call_list::{CallList, CallListOptions, call_list};
use crate::error::{ModelError, Result};
use crate::importance::{PermutationParams, permutation_importance};
use crate::metrics::{Candidate, Metrics, ProbabilityQuality, table_segment_metrics};
use crate::model::ChurnModel;
use crate::population::Population;
use crate::scorer::Scorer;
use crate::survival::{Survival, SurvivalMetrics};
use crate::train::labelled_rows_in;
use chrono::NaiveDate;
use churn_features::FeatureTable;
use std::collections::BTreeSet;

/// Which rows an evaluation is on, and what it computes besides the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationOptions {
    /// The customers evaluated: usually the model's own population (`ModelArtifact::population`).
    pub population: Population,
    /// Permutation importance settings; `None` skips it.
    pub importance: Option<PermutationParams>,
    /// The call list (size 0 for none).
    pub call_list: CallListOptions,
}

impl Default for EvaluationOptions {
    fn default() -> Self {
        Self {
            population: Population::everyone(),
            importance: Some(PermutationParams::default()),
            call_list: CallListOptions::default(),
        }
    }
}

/// A model's evaluation on the labelled rows of a table.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Every metric at the model's threshold, with importance and, for a calibrated model,
    /// [`Metrics::before_calibration`].
    pub metrics: Metrics,
    /// The table rows evaluated (those of the population with a known label), in table order.
    pub rows: Vec<usize>,
    /// Their labels.
    pub labels: Vec<u8>,
    /// Their probabilities, as the scorer gives them (calibrated when the model is).
    pub probabilities: Vec<f64>,
    /// Rows of the population left out because their label is unknown.
    pub skipped_unlabelled: usize,
    /// Rows left out because they are outside the population (also in [`Metrics::population_excluded`]).
    pub outside_population: usize,
    /// The distinct as-of dates of the rows evaluated, ascending (empty for a table without dates).
    pub as_of_dates: Vec<NaiveDate>,
    /// The kinds `--model auto` compared when the model was trained (from its training metrics), on
    /// the training run's held-out rows.
    pub training_candidates: Vec<Candidate>,
    /// The customers most worth a call among the rows evaluated.
    pub call_list: CallList,
}

/// Evaluates the scorer's model on the labelled rows of `table` in the options' population, with
/// metrics also per lifecycle stage and RFM segment. Fails when no such row has a known label, when a
/// population rule needs a column the table lacks, when the table does not fit the model, or when the
/// labels hold a single class.
pub fn evaluate(scorer: Scorer<'_>, table: &FeatureTable, options: &EvaluationOptions) -> Result<Evaluation> {
    let artifact = scorer.artifact();
    let candidates = options.population.rows(table)?;
    let outside_population = table.len() - candidates.len();
    let (rows, labels, skipped_unlabelled) = labelled_rows_in(table, &candidates)?;
    if rows.is_empty() {
        let population = match options.population.is_everyone() {
            true => String::new(),
            false => format!(" in the population ({})", options.population),
        };
        return Err(ModelError::Metrics(format!(
            "no labelled rows ({} rows{population}, all with an unknown label): nothing to evaluate",
            candidates.len()
        )));
    }
    let x = artifact.schema.encode_table(table, &rows)?;
    let probabilities = scorer.predict_encoded(&x);
    let mut metrics = Metrics::at_threshold(
        &labels,
        &probabilities,
        artifact.threshold,
        artifact.threshold_rule,
    )?;
    if let Some(calibrator) = &artifact.calibration {
        let uncalibrated = artifact.model.predict_encoded(&x);
        metrics.calibration_method = Some(calibrator.method());
        metrics.before_calibration = Some(ProbabilityQuality::of(&labels, &uncalibrated)?);
    }
    // Calibration is strictly increasing, so the probabilities rank rows as the model does.
    metrics.by_segment = table_segment_metrics(table, &rows, &labels, &probabilities, &probabilities)?;
    metrics.population = options.population.clone();
    metrics.population_excluded = outside_population;
    if let Some(model) = artifact.model.as_survival() {
        metrics.survival = survival_metrics(model, table, &rows, &x)?;
    }
    if let Some(params) = options.importance {
        metrics.importance = permutation_importance(&artifact.model, &artifact.schema, &x, &labels, params)?;
    }
    let as_of_dates: BTreeSet<NaiveDate> = rows.iter().filter_map(|&row| table.as_of[row]).collect();
    let call_list = call_list(scorer, table, &rows, &probabilities, &options.call_list)?;
    Ok(Evaluation {
        metrics,
        training_candidates: artifact
            .metrics
            .as_ref()
            .map(|m| m.candidates.clone())
            .unwrap_or_default(),
        rows,
        labels,
        probabilities,
        skipped_unlabelled,
        outside_population,
        as_of_dates: as_of_dates.into_iter().collect(),
        call_list,
    })
}

/// The survival metrics of a survival model on `rows` (encoded as `x`), when `table` has their
/// durations ([`judged_outcome`]).
pub(crate) fn survival_metrics(
    model: &dyn crate::model::SurvivalModel,
    table: &FeatureTable,
    rows: &[usize],
    x: &crate::matrix::Matrix,
) -> Result<Option<SurvivalMetrics>> {
    let Some((durations, events)) = judged_outcome(table, rows)? else {
        return Ok(None);
    };
    let outcome = Survival {
        durations: &durations,
        events: &events,
    };
    SurvivalMetrics::compute(model, x, &outcome).map(Some)
}

/// The survival metrics of cross-validation's out-of-fold predictions: `folds` holds each fold's model,
/// its held-out rows encoded, and their positions in `rows`; each row is judged by the model of the fold
/// that held it out (the risks of different folds' models are compared with each other, as pooled
/// out-of-fold predictions are). `None` without folds (a model that is not a survival model).
pub(crate) fn out_of_fold_survival_metrics(
    table: &FeatureTable,
    rows: &[usize],
    folds: &[(FittedModel, crate::matrix::Matrix, Vec<usize>)],
) -> Result<Option<SurvivalMetrics>> {
    if folds.is_empty() {
        return Ok(None);
    }
    let Some((durations, events)) = judged_outcome(table, rows)? else {
        return Ok(None);
    };
    let mut place = vec![(0, 0); rows.len()];
    let mut horizon_days = crate::cox::DEFAULT_HORIZON_DAYS;
    let mut models = Vec::with_capacity(folds.len());
    for (k, (model, _, positions)) in folds.iter().enumerate() {
        let Some(model) = model.as_survival() else {
            return Ok(None);
        };
        horizon_days = model.horizon_days();
        models.push(model);
        for (j, &position) in positions.iter().enumerate() {
            place[position] = (k, j);
        }
    }
    let risk: Vec<f64> = place
        .iter()
        .map(|&(k, j)| models[k].risk(folds[k].1.row(j)))
        .collect();
    let survival_at = |t: f64| -> Vec<f64> {
        place
            .iter()
            .map(|&(k, j)| models[k].survival_curve(folds[k].1.row(j), &[t])[0])
            .collect()
    };
    let outcome = Survival {
        durations: &durations,
        events: &events,
    };
    SurvivalMetrics::of_predictions(&risk, survival_at, horizon_days, &outcome).map(Some)
}

/// The durations and churn events of `rows` to judge a survival model on; `None` (with a message) when
/// `table` has no durations, as a table built without `--durations`, or when none of the rows churned.
fn judged_outcome(table: &FeatureTable, rows: &[usize]) -> Result<Option<(Vec<f64>, Vec<u8>)>> {
    if table.column(churn_features::table::DURATION_COLUMN).is_none() {
        tracing::info!(
            "the feature table has no durations, so the survival model is judged on its labels only"
        );
        return Ok(None);
    }
    let (durations, events) = crate::train::survival_outcome(table, rows, None)?;
    if !events.contains(&1) {
        tracing::warn!(
            "none of the {} rows judged churned within the data, so there is no time to churn to judge the \
             survival model on: it is judged on its labels only",
            rows.len()
        );
        return Ok(None);
    }
    Ok(Some((durations, events)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::CalibrationMethod;
    use crate::test_support::{labelled_table, trained, trained_with};

    #[test]
    fn metrics_are_those_of_the_labelled_rows_at_the_models_threshold() {
        let table = labelled_table(400, 11);
        let artifact = trained(&table);
        let options = EvaluationOptions {
            importance: None,
            ..EvaluationOptions::default()
        };
        let evaluation = evaluate(artifact.scorer(), &table, &options).expect("evaluate");
        assert_eq!(evaluation.skipped_unlabelled, 40);
        assert_eq!(evaluation.rows.len(), 360);
        assert!(evaluation.rows.iter().all(|&r| r % 10 != 9));
        let expected = artifact
            .scorer()
            .predict_table(&table, &evaluation.rows)
            .expect("predict");
        assert_eq!(evaluation.probabilities, expected);
        let mut metrics = Metrics::at_threshold(
            &evaluation.labels,
            &expected,
            artifact.threshold,
            artifact.threshold_rule,
        )
        .expect("metrics");
        metrics.by_segment =
            table_segment_metrics(&table, &evaluation.rows, &evaluation.labels, &expected, &expected)
                .expect("segments");
        assert!(!metrics.by_segment.is_empty(), "the table has lifecycle stages");
        assert_eq!(evaluation.metrics, metrics);
        assert_eq!(evaluation.outside_population, 0);
        assert!(evaluation.metrics.before_calibration.is_none());
        assert!(evaluation.metrics.importance.is_empty());
        assert_eq!(
            evaluation.as_of_dates,
            [NaiveDate::from_ymd_opt(2024, 6, 30).expect("date")]
        );
        assert_eq!(evaluation.call_list.entries.len(), 20);
        assert!(evaluation.call_list.entries.iter().all(|e| e.label.is_some()));
    }

    #[test]
    fn a_calibrated_model_is_also_judged_before_calibration_and_importance_names_every_feature() {
        let table = labelled_table(600, 12);
        let artifact = trained_with(&table, CalibrationMethod::Platt);
        assert!(artifact.calibration.is_some());
        let evaluation =
            evaluate(artifact.scorer(), &table, &EvaluationOptions::default()).expect("evaluate");
        let metrics = &evaluation.metrics;
        assert_eq!(metrics.calibration_method, Some(CalibrationMethod::Platt));
        let before = metrics.before_calibration.as_ref().expect("before calibration");
        let x = artifact
            .schema
            .encode_table(&table, &evaluation.rows)
            .expect("encode");
        let raw = artifact.model.predict_encoded(&x);
        assert_eq!(
            before.brier,
            crate::metrics::brier(&evaluation.labels, &raw).expect("brier")
        );
        assert_eq!(metrics.importance.len(), artifact.schema.features.len());
    }

    #[test]
    fn a_survival_model_on_rows_without_a_churn_is_judged_on_its_labels_only() {
        let mut table = crate::test_support::survival_table(300, 15);
        let mut options = crate::TrainOptions::new(crate::ModelParams::default_for(crate::ModelKind::Cox));
        options.validation = crate::ValidationPlan::None;
        options.importance = None;
        options.label.horizon_days = Some(90);
        let artifact = crate::train::train(&table, &options, &crate::train::NoProgress)
            .expect("train")
            .artifact;
        let judged = |table: &FeatureTable| {
            let options = EvaluationOptions {
                importance: None,
                ..EvaluationOptions::default()
            };
            evaluate(artifact.scorer(), table, &options)
                .expect("evaluate")
                .metrics
        };
        assert!(judged(&table).survival.is_some());
        let events = table
            .columns
            .iter_mut()
            .find(|c| c.name == churn_features::table::EVENT_COLUMN)
            .expect("events");
        if let churn_features::ColumnValues::Numeric(values) = &mut events.values {
            values.iter_mut().for_each(|v| *v = Some(0.0));
        }
        let metrics = judged(&table);
        assert!(metrics.survival.is_none());
        assert!(metrics.roc_auc > 0.5, "still judged on its labels");
    }

    #[test]
    fn only_the_populations_labelled_rows_are_evaluated_and_the_rest_counted() {
        let table = labelled_table(400, 14);
        let artifact = trained(&table);
        let population = Population {
            lifecycle_stages: Some(vec!["active".into()]),
            ..Population::default()
        };
        let options = EvaluationOptions {
            population: population.clone(),
            importance: None,
            ..EvaluationOptions::default()
        };
        let evaluation = evaluate(artifact.scorer(), &table, &options).expect("evaluate");
        let Some(churn_features::ColumnValues::Categorical(stages)) =
            table.column("lifecycle_stage").map(|c| &c.values)
        else {
            panic!("the test table has lifecycle stages");
        };
        let active: Vec<usize> = (0..table.len())
            .filter(|&i| stages[i].as_deref() == Some("active"))
            .collect();
        let labelled_active: Vec<usize> = active.iter().copied().filter(|&i| i % 10 != 9).collect();
        assert_eq!(evaluation.rows, labelled_active);
        assert_eq!(evaluation.outside_population, table.len() - active.len());
        assert_eq!(evaluation.metrics.population, population);
        assert_eq!(
            evaluation.metrics.population_excluded,
            evaluation.outside_population
        );
        assert!(
            evaluation
                .metrics
                .by_segment
                .iter()
                .all(|s| s.column != "lifecycle_stage" || s.segment == "active"),
            "segments are those of the population's rows"
        );
    }

    #[test]
    fn a_table_without_labels_has_nothing_to_evaluate() {
        let mut table = labelled_table(30, 13);
        let artifact = trained(&table);
        table.labels = vec![None; 30];
        let error =
            evaluate(artifact.scorer(), &table, &EvaluationOptions::default()).expect_err("no labels");
        assert!(error.to_string().contains("no labelled rows"), "{error}");
    }
}
