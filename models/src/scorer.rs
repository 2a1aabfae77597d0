//! The one scoring path: from a customer's features to what people act on (probability, risk band,
//! whether it reaches the decision threshold, and the reasons).
//!
//! `churn-trainer score` and `evaluate` and `churn-server` all score through a [`Scorer`], so a customer
//! gets the same answer from each. Every path computes the model's score, applies the artifact's
//! calibration when it has one, sums the encoded columns' contributions per input feature (one-hot
//! columns back to their feature) and the features' per reason group (the artifact's
//! [`crate::reason_groups::ReasonGroups`]; one group per feature without them), and says each reason in
//! words ([`crate::reason_text`]). The probability always comes from the model's prediction, never from
//! the contributions' total (equal up to rounding), so asking for reasons cannot move a customer across
//! the threshold or a band boundary.
//!
//! Reasons explain the model's score before calibration: calibration is a monotone map of that score, so
//! it does not change which features raise the risk or their order.

use crate::artifact::ModelArtifact;
use crate::bands::RiskBands;
use crate::error::Result;
use crate::input::{FeatureRow, FeatureValue, RawInput};
use crate::matrix::Matrix;
use crate::model::{ChurnModel, Explanation, Reason, ReasonFeature};
use crate::reason_text::{self, Described, FeatureKind, Member};
use crate::survival::SurvivalScore;
use churn_features::FeatureTable;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel task when scoring with reasons.
const MIN_ROWS_PER_TASK: usize = 32;

/// One customer's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Churn probability (calibrated when the model has a calibration).
    pub probability: f64,
    /// Name of the risk band holding the probability.
    pub risk_band: String,
    /// Whether the probability reaches the model's decision threshold.
    pub above_threshold: bool,
    /// The reason groups raising the risk the most (positive contributions only), largest first; equal
    /// ones in group order. Each carries its main feature, value and sentence but not the list of its
    /// features ([`Reason::features`] is empty; [`Scorer::explain_row`] gives it).
    pub reasons: Vec<Reason>,
}

/// Scores customers with one model artifact (and, optionally, other risk bands).
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    artifact: &'a ModelArtifact,
    bands: &'a RiskBands,
}

impl<'a> Scorer<'a> {
    /// A scorer using the artifact's risk bands.
    pub fn new(artifact: &'a ModelArtifact) -> Self {
        Self {
            artifact,
            bands: &artifact.risk_bands,
        }
    }

    /// The same scorer with other risk bands (e.g. from a model configuration).
    pub fn with_bands(self, bands: &'a RiskBands) -> Self {
        Self { bands, ..self }
    }

    /// The artifact scored with.
    pub fn artifact(&self) -> &'a ModelArtifact {
        self.artifact
    }

    /// The final probability of a model probability: calibrated when the artifact has a calibration.
    pub fn calibrate(&self, probability: f64) -> f64 {
        match &self.artifact.calibration {
            Some(calibrator) => calibrator.apply(probability),
            None => probability,
        }
    }

    /// Probabilities of encoded rows.
    pub fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
        let mut probabilities = self.artifact.model.predict_encoded(x);
        if self.artifact.calibration.is_some() {
            for p in &mut probabilities {
                *p = self.calibrate(*p);
            }
        }
        probabilities
    }

    /// Probabilities of the listed rows of a table.
    pub fn predict_table(&self, table: &FeatureTable, rows: &[usize]) -> Result<Vec<f64>> {
        let x = self.artifact.schema.encode_table(table, rows)?;
        Ok(self.predict_encoded(&x))
    }

    /// Scores one encoded row with up to `top_k` reasons; `value(feature)` gives the raw value of
    /// schema feature `feature` shown with a reason.
    pub fn score_encoded_row(&self, x: &[f64], top_k: usize, value: impl Fn(usize) -> FeatureValue) -> Score {
        let model = &self.artifact.model;
        let probability = self.calibrate(model.predict_encoded_row(x));
        if top_k == 0 {
            return self.score(probability, Vec::new());
        }
        let (_, per_column) = model.contributions_encoded(x);
        self.score_contributions(probability, &per_column, top_k, value)
    }

    /// Scores encoded rows (in parallel) with up to `top_k` reasons each; `value(i, feature)` gives the
    /// raw value of schema feature `feature` in row `i`.
    pub fn score_encoded(
        &self,
        x: &Matrix,
        top_k: usize,
        value: impl Fn(usize, usize) -> FeatureValue + Sync,
    ) -> Vec<Score> {
        let probabilities = self.predict_encoded(x);
        if top_k == 0 {
            return probabilities
                .into_iter()
                .map(|probability| self.score(probability, Vec::new()))
                .collect();
        }
        let (_, contributions) = self.artifact.model.contributions_encoded_batch(x);
        (0..x.rows())
            .into_par_iter()
            .with_min_len(MIN_ROWS_PER_TASK)
            .map(|i| self.score_contributions(probabilities[i], contributions.row(i), top_k, |f| value(i, f)))
            .collect()
    }

    /// A survival model's time-to-churn answers for one encoded row (churn within 30/60/90 days, expected
    /// active days); `None` for other kinds.
    pub fn survival(&self, x: &[f64]) -> Option<SurvivalScore> {
        let model = self.artifact.model.as_survival()?;
        Some(SurvivalScore::of(model, x))
    }

    /// A survival model's `S(t | x)` for one encoded row at each of `days`; `None` for other kinds.
    pub fn survival_curve(&self, x: &[f64], days: &[f64]) -> Option<Vec<f64>> {
        let model = self.artifact.model.as_survival()?;
        Some(model.survival_curve(x, days))
    }

    /// Scores one customer given by feature name → value.
    pub fn score_row(&self, row: &FeatureRow, top_k: usize) -> Result<Score> {
        let x = self.artifact.schema.encode_row(row)?;
        let columns = self.artifact.schema.raw_columns(row)?;
        Ok(self.score_encoded_row(&x, top_k, |f| columns[f].value(0)))
    }

    /// Scores the listed rows of a table.
    pub fn score_table(&self, table: &FeatureTable, rows: &[usize], top_k: usize) -> Result<Vec<Score>> {
        let x = self.artifact.schema.encode_table(table, rows)?;
        let columns = self.artifact.schema.raw_columns(table as &dyn RawInput)?;
        Ok(self.score_encoded(&x, top_k, |i, f| columns[f].value(rows[i])))
    }

    /// Every reason group's contribution to one customer's score (given by feature name → value).
    pub fn explain_row(&self, row: &FeatureRow) -> Result<Explanation> {
        let x = self.artifact.schema.encode_row(row)?;
        let columns = self.artifact.schema.raw_columns(row)?;
        let probability = self.calibrate(self.artifact.model.predict_encoded_row(&x));
        let (base, per_column) = self.artifact.model.contributions_encoded(&x);
        Ok(self.explanation(probability, base, &per_column, |f| columns[f].value(0)))
    }

    /// Every reason group's contribution to the score of each listed row of a table (in parallel).
    pub fn explain_table(&self, table: &FeatureTable, rows: &[usize]) -> Result<Vec<Explanation>> {
        let x = self.artifact.schema.encode_table(table, rows)?;
        let columns = self.artifact.schema.raw_columns(table as &dyn RawInput)?;
        let probabilities = self.predict_encoded(&x);
        let (base, contributions) = self.artifact.model.contributions_encoded_batch(&x);
        Ok(rows
            .par_iter()
            .enumerate()
            .map(|(i, &row)| {
                self.explanation(probabilities[i], base, contributions.row(i), |f| {
                    columns[f].value(row)
                })
            })
            .collect())
    }

    fn explanation(
        &self,
        probability: f64,
        base: f64,
        per_column: &[f64],
        value: impl Fn(usize) -> FeatureValue,
    ) -> Explanation {
        let per_feature = self.per_feature(per_column);
        let per_group = self.per_group(&per_feature);
        let scale = self.artifact.model.contribution_scale();
        let mut contributions: Vec<Reason> = per_group
            .iter()
            .enumerate()
            .map(|(g, &contribution)| self.reason(g, contribution, &per_feature, &value, true))
            .collect();
        contributions.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        Explanation {
            probability,
            scale,
            base_value: base,
            contributions,
        }
    }

    /// The score of a row with its (calibrated) `probability` and its encoded columns' contributions
    /// `per_column`, summed per feature; reasons are the `top_k` largest positive sums per reason group.
    fn score_contributions(
        &self,
        probability: f64,
        per_column: &[f64],
        top_k: usize,
        value: impl Fn(usize) -> FeatureValue,
    ) -> Score {
        let per_feature = self.per_feature(per_column);
        let per_group = self.per_group(&per_feature);
        let reasons = top_positive(&per_group, top_k)
            .into_iter()
            .map(|g| self.reason(g, per_group[g], &per_feature, &value, false))
            .collect();
        self.score(probability, reasons)
    }

    /// Encoded columns' contributions summed per input feature.
    fn per_feature(&self, per_column: &[f64]) -> Vec<f64> {
        let schema = &self.artifact.schema;
        let mut per_feature = vec![0.0; schema.features.len()];
        for (contribution, column) in per_column.iter().zip(&schema.columns) {
            per_feature[column.feature] += contribution;
        }
        per_feature
    }

    /// Features' contributions summed per reason group (one group per feature without a grouping).
    fn per_group(&self, per_feature: &[f64]) -> Vec<f64> {
        match &self.artifact.reason_groups {
            Some(groups) => groups
                .groups
                .iter()
                .map(|group| group.features.iter().map(|&f| per_feature[f]).sum())
                .collect(),
            None => per_feature.to_vec(),
        }
    }

    /// The reason of group `group`, whose features' contributions add up to `contribution`; with
    /// `members`, it lists every feature of the group with its value (explanations), else only the
    /// values its sentence says are read (scores).
    fn reason(
        &self,
        group: usize,
        contribution: f64,
        per_feature: &[f64],
        value: impl Fn(usize) -> FeatureValue,
        members: bool,
    ) -> Reason {
        let schema = &self.artifact.schema;
        // Kinds and each group's families are worked out once per model with a grouping; an artifact
        // without one has a group per feature (one family) and parses its name here (`kinds[f - first]`).
        let (single, own_kind, one_family);
        let (features, kinds, families, first, label): (
            &[usize],
            &[FeatureKind],
            &[Vec<usize>],
            usize,
            String,
        ) = match &self.artifact.reason_groups {
            Some(groups) => {
                let g = &groups.groups[group];
                let (kinds, families) = groups.kinds(schema);
                (&g.features, kinds, &families[group], 0, g.label.clone())
            }
            None => {
                single = [group];
                own_kind = [FeatureKind::of(&schema.features[group].name)];
                one_family = [vec![0]];
                let label = own_kind[0].family.label();
                (&single, &own_kind, &one_family, group, label)
            }
        };
        let described: Vec<Member<'_>> = features
            .iter()
            .map(|&f| Member {
                name: &schema.features[f].name,
                kind: &kinds[f - first],
                contribution: per_feature[f],
                feature: f,
            })
            .collect();
        let Described { main, text } =
            reason_text::describe_families(&described, families, &value, contribution);
        let main = features[main];
        let features = if members {
            features
                .iter()
                .map(|&f| ReasonFeature {
                    name: schema.features[f].name.clone(),
                    value: value(f),
                    contribution: per_feature[f],
                })
                .collect()
        } else {
            Vec::new()
        };
        Reason {
            feature: schema.features[main].name.clone(),
            value: value(main),
            contribution,
            label,
            features,
            text,
        }
    }

    fn score(&self, probability: f64, reasons: Vec<Reason>) -> Score {
        Score {
            probability,
            risk_band: self.bands.band(probability).to_string(),
            above_threshold: probability >= self.artifact.threshold,
            reasons,
        }
    }
}

/// Indices of the `k` largest positive values, largest first; equal values in index order.
fn top_positive(values: &[f64], k: usize) -> Vec<usize> {
    let mut top: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, &v) in values.iter().enumerate() {
        if v > 0.0 {
            let at = top.partition_point(|&other| values[other] >= v);
            if at < k {
                top.insert(at, i);
                top.truncate(k);
            }
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::CalibrationMethod;
    use crate::kinds::{ModelKind, ModelParams};
    use crate::test_support::labelled_table;
    use crate::train::{NoProgress, TrainOptions, ValidationPlan, train};

    #[test]
    fn reasons_never_change_the_probability_band_or_flag() {
        let table = labelled_table(600, 21);
        let rows: Vec<usize> = (0..table.len()).collect();
        for kind in ModelKind::classifiers() {
            let mut options = TrainOptions::new(ModelParams::default_for(kind));
            options.validation = ValidationPlan::None;
            options.importance = None;
            options.calibration = CalibrationMethod::None;
            let artifact = train(&table, &options, &NoProgress).expect("train").artifact;
            let scorer = artifact.scorer();
            let plain = scorer.score_table(&table, &rows, 0).expect("scores");
            let explained = scorer.score_table(&table, &rows, 3).expect("scores with reasons");
            for (a, b) in plain.iter().zip(&explained) {
                assert_eq!(a.probability.to_bits(), b.probability.to_bits(), "{kind}");
                assert_eq!(
                    (&a.risk_band, a.above_threshold),
                    (&b.risk_band, b.above_threshold)
                );
            }
            for (i, score) in explained.iter().enumerate().step_by(50) {
                let one = scorer.score_encoded_row(
                    artifact.schema.encode_table(&table, &[i]).expect("encode").row(0),
                    3,
                    |_| FeatureValue::Missing,
                );
                assert_eq!(
                    one.probability.to_bits(),
                    score.probability.to_bits(),
                    "{kind} row {i}"
                );
            }
        }
    }

    #[test]
    fn top_positive_keeps_the_largest_positive_values_in_order() {
        let values = [0.5, -1.0, 2.0, 0.5, 0.0, 1.0];
        assert_eq!(top_positive(&values, 3), vec![2, 5, 0]);
        assert_eq!(top_positive(&values, 10), vec![2, 5, 0, 3]);
        assert!(top_positive(&values, 0).is_empty());
        assert!(top_positive(&[-1.0, 0.0], 2).is_empty());
    }
}
