//! Drift: whether the customers being scored still look like the customers a model was trained on.
//!
//! At training, [`DriftReference::fit`] records how each model feature and the model's probability were
//! distributed over the latest customers the training data shows (out of time, the held-out test date's
//! rows; otherwise the training rows), and the artifact keeps it
//! ([`crate::ModelArtifact::drift_reference`]). Later, [`monitor`] lays a table of customers (a
//! snapshot to score) over the same bins and measures each shift with the population stability index
//! ([`psi`]); `churn-trainer monitor` writes it as a report and `churn-server` exports it as gauges.
//!
//! Bins:
//!
//! - a numeric feature: up to ten bins between the reference rows' deciles (the edges deduplicated, so a
//!   feature with many equal values has fewer bins), and its missing values as a bin of their own;
//! - a categorical feature: one bin per level the model knows, one for every other value (levels too
//!   rare in training to get their own column, and values never seen there), and one for missing values;
//! - the probability: up to ten bins between its deciles over the reference rows (see
//!   [`ScoreSource`] for which rows those are).

use crate::artifact::ModelArtifact;
use crate::error::{ModelError, Result};
use crate::input::display_number;
use crate::preprocess::{Encoding, FeatureSchema};
use churn_features::{ColumnValues, FeatureTable};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Bins between quantiles: the edges are the reference's deciles.
pub const QUANTILE_BINS: usize = 10;

/// Added to every share of both distributions (which are then renormalised) before the PSI is
/// computed, so a bin empty on one side gives a large but finite term instead of an infinity.
pub const PSI_EPSILON: f64 = 1e-4;

/// A PSI at or above this is worth watching: a moderate shift.
///
/// The 0.1 / 0.25 rule of thumb is the credit-scoring industry's (Siddiqi, N., "Credit Risk
/// Scorecards: Developing and Implementing Intelligent Credit Scoring", Wiley, 2006: below 0.1 no
/// significant change, 0.1 to 0.25 some change, above 0.25 a significant shift); Yurdakul, B.,
/// "Statistical Properties of Population Stability Index", Western Michigan University, 2018
/// (<https://scholarworks.wmich.edu/dissertations/3208>), studies how often these cut-offs flag
/// samples of an unchanged population: with few rows, sampling noise alone reaches them.
pub const WATCH_PSI: f64 = 0.1;

/// A PSI at or above this calls for action: a significant shift (see [`WATCH_PSI`] for the source).
pub const ACT_PSI: f64 = 0.25;

/// What a PSI calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftLevel {
    /// Below [`WATCH_PSI`]: no significant change.
    None,
    /// From [`WATCH_PSI`] to below [`ACT_PSI`]: a moderate shift, worth watching.
    Watch,
    /// [`ACT_PSI`] or more: a significant shift; check the data feeding the model, or retrain it.
    Act,
}

impl DriftLevel {
    /// The level of a PSI.
    pub fn of(psi: f64) -> Self {
        if psi >= ACT_PSI {
            Self::Act
        } else if psi >= WATCH_PSI {
            Self::Watch
        } else {
            Self::None
        }
    }

    /// `none`, `watch` or `act`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Watch => "watch",
            Self::Act => "act",
        }
    }
}

impl fmt::Display for DriftLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The population stability index of `current` against `reference`, shares of the same bins:
/// `Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ)` with `a` the current and `e` the reference shares, after
/// [`PSI_EPSILON`] is added to every share of both and each is renormalised to sum to 1.
///
/// It is 0 for identical distributions and grows with the shift; it is symmetric in its arguments.
/// Slices of different lengths compare their common bins only (callers pass the same bins).
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    psi_with_epsilon(reference, current, PSI_EPSILON)
}

/// [`psi`] with another epsilon (0 gives the textbook formula, infinite when a bin is empty on one
/// side only).
pub fn psi_with_epsilon(reference: &[f64], current: &[f64], epsilon: f64) -> f64 {
    let bins = reference.len().min(current.len());
    let (reference, current) = (&reference[..bins], &current[..bins]);
    let total = |shares: &[f64]| shares.iter().sum::<f64>() + bins as f64 * epsilon;
    let (reference_total, current_total) = (total(reference), total(current));
    reference
        .iter()
        .zip(current)
        .map(|(&e, &a)| {
            let e = (e + epsilon) / reference_total;
            let a = (a + epsilon) / current_total;
            if a == e { 0.0 } else { (a - e) * (a / e).ln() }
        })
        .sum()
}

/// Which rows the reference distribution of the probability comes from.
///
/// Not the training rows when others exist: the stored model has fitted those, so its probabilities
/// on them are more confident than on any customer it has not seen (a forest's leaves hold its own
/// training rows), and every snapshot would seem to have drifted from them. Rows the model did not
/// fit on show what its probabilities look like on new customers of the training period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    /// Out-of-time validation: the stored model's probabilities on the held-out test date's rows.
    HeldOut,
    /// k-fold validation: each row's probability from the fold's model that did not fit it,
    /// calibrated as the stored model's are (the stored model itself has fitted every row).
    OutOfFold,
    /// No validation: the stored model's probabilities on its own training rows, the only ones there
    /// are (expect some score drift from that alone, more for trees than for logistic regression).
    Training,
}

impl ScoreSource {
    /// The rows in words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::HeldOut => "the held-out test rows (out-of-time validation), scored by this model",
            Self::OutOfFold => {
                "every training row, scored by the cross-validation fold's model that did not fit it"
            }
            Self::Training => "the training rows (trained without validation), scored by this model",
        }
    }
}

/// How a feature's values are put into bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Bins {
    /// Numbers: `≤ edges[0]`, `(edges[k-1], edges[k]]`, `> edges[last]`, then missing values.
    Numeric {
        /// Increasing bin edges.
        edges: Vec<f64>,
    },
    /// Categories: one bin per level, then every other value, then missing values.
    Categorical {
        /// The levels the model knows (those with an encoded column).
        levels: Vec<String>,
    },
}

impl Bins {
    /// Number of bins.
    pub fn len(&self) -> usize {
        match self {
            Self::Numeric { edges } => edges.len() + 2,
            Self::Categorical { levels } => levels.len() + 2,
        }
    }

    /// Never true: there is always a bin for missing values.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `numeric` or `categorical`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Numeric { .. } => "numeric",
            Self::Categorical { .. } => "categorical",
        }
    }

    /// Each bin's label for people: `≤ 3`, `(3, 12.5]`, `> 40`, a level, `(other)`, `(missing)`.
    pub fn labels(&self) -> Vec<String> {
        let mut labels = match self {
            Self::Numeric { edges } => interval_labels(edges),
            Self::Categorical { levels } => {
                let mut labels = levels.clone();
                labels.push("(other)".into());
                labels
            }
        };
        labels.push("(missing)".into());
        labels
    }

    /// The shares of `rows` of `column` in each bin.
    fn shares(&self, feature: &str, values: &ColumnValues, rows: &[usize]) -> Result<Vec<f64>> {
        let mut counts = vec![0usize; self.len()];
        let missing = self.len() - 1;
        match (self, values) {
            (Self::Numeric { edges }, ColumnValues::Numeric(values)) => {
                for &i in rows {
                    let bin = match values[i] {
                        Some(v) if !v.is_nan() => numeric_bin(edges, v),
                        _ => missing,
                    };
                    counts[bin] += 1;
                }
            }
            (Self::Categorical { levels }, ColumnValues::Categorical(values)) => {
                let index: std::collections::HashMap<&str, usize> =
                    levels.iter().enumerate().map(|(k, l)| (l.as_str(), k)).collect();
                for &i in rows {
                    let bin = match values[i].as_deref() {
                        Some(value) => index.get(value).copied().unwrap_or(levels.len()),
                        None => missing,
                    };
                    counts[bin] += 1;
                }
            }
            (_, values) => {
                return Err(ModelError::WrongFeatureType {
                    feature: feature.to_string(),
                    expected: match self {
                        Self::Numeric { .. } => "a number",
                        Self::Categorical { .. } => "text",
                    },
                    found: match values {
                        ColumnValues::Numeric(_) => "a number",
                        ColumnValues::Categorical(_) => "text",
                    },
                });
            }
        }
        Ok(to_shares(&counts))
    }

    fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Self::Numeric { edges } => check_edges(edges),
            Self::Categorical { .. } => Ok(()),
        }
    }
}

/// The bin of `value` among `edges`: the number of edges below it (`≤ edges[0]` is bin 0).
fn numeric_bin(edges: &[f64], value: f64) -> usize {
    edges.partition_point(|&edge| edge < value)
}

/// Labels of the `edges.len() + 1` intervals between `edges`.
fn interval_labels(edges: &[f64]) -> Vec<String> {
    let Some((first, last)) = edges.first().zip(edges.last()) else {
        return vec!["any value".into()];
    };
    let mut labels = vec![format!("≤ {}", display_number(*first))];
    for pair in edges.windows(2) {
        labels.push(format!(
            "({}, {}]",
            display_number(pair[0]),
            display_number(pair[1])
        ));
    }
    labels.push(format!("> {}", display_number(*last)));
    labels
}

fn to_shares(counts: &[usize]) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    counts
        .iter()
        .map(|&c| if total == 0 { 0.0 } else { c as f64 / total as f64 })
        .collect()
}

/// The deciles of `values` (finite numbers), deduplicated: the inverse of their empirical distribution
/// function at 0.1, 0.2, ..., 0.9 (definition 1 of Hyndman and Fan, "Sample quantiles in statistical
/// packages", The American Statistician 50(4), 1996), so every edge is a value of the data and a value
/// shared by many rows (a count of 0) ends its own bin. Empty for no values.
fn decile_edges(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut edges: Vec<f64> = Vec::with_capacity(QUANTILE_BINS - 1);
    if n == 0 {
        return edges;
    }
    for k in 1..QUANTILE_BINS {
        // The smallest value with at least k/10 of the values at or below it: rank ⌈k·n/10⌉.
        let rank = (k * n).div_ceil(QUANTILE_BINS).max(1);
        let edge = values[rank - 1];
        if edges.last() != Some(&edge) {
            edges.push(edge);
        }
    }
    edges
}

fn check_edges(edges: &[f64]) -> std::result::Result<(), String> {
    if edges.iter().any(|e| !e.is_finite()) {
        return Err("a bin edge is not finite".into());
    }
    if edges.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err("bin edges are not increasing".into());
    }
    Ok(())
}

fn check_shares(shares: &[f64], bins: usize) -> std::result::Result<(), String> {
    if shares.len() != bins {
        return Err(format!("{} shares for {bins} bins", shares.len()));
    }
    if shares.iter().any(|s| !(s.is_finite() && (0.0..=1.0).contains(s))) {
        return Err("a share is outside [0, 1]".into());
    }
    let total: f64 = shares.iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(format!("the shares sum to {total}, not 1"));
    }
    Ok(())
}

/// One model feature's distribution over the reference rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    /// The feature (a column of the feature table).
    pub name: String,
    /// Its bins.
    pub bins: Bins,
    /// The reference rows' share in each bin (the last bin holds missing values).
    pub shares: Vec<f64>,
}

/// The model's probability over the reference rows ([`ScoreSource`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReference {
    /// Which rows.
    pub source: ScoreSource,
    /// How many.
    pub rows: usize,
    /// Increasing bin edges (the rows' deciles, deduplicated).
    pub edges: Vec<f64>,
    /// Share of the rows in each of the `edges.len() + 1` bins.
    pub shares: Vec<f64>,
}

/// What the customers a model was trained on looked like: each feature's distribution, and its
/// probability's, over the rows of [`ScoreSource`] (out of time, the held-out test date's; under k-fold,
/// every row; without validation, the training rows). Stored in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// The rows the feature distributions come from: out of time, the held-out test date's (the latest
    /// customers the training data shows); otherwise the training rows.
    pub rows: usize,
    /// One per model feature, in the schema's order.
    pub features: Vec<FeatureReference>,
    /// The model's probability.
    pub score: ScoreReference,
}

impl DriftReference {
    /// The reference of a model with preprocessing `schema` fitted on `rows` of `table`, whose
    /// probabilities on the rows `source` names are `probabilities`.
    pub fn fit(
        schema: &FeatureSchema,
        table: &FeatureTable,
        rows: &[usize],
        source: ScoreSource,
        probabilities: &[f64],
    ) -> Result<Self> {
        let features = schema
            .features
            .iter()
            .map(|feature| {
                let values = feature_values(table, &feature.name)?;
                let bins = match (&feature.encoding, values) {
                    (Encoding::Categorical { levels, .. }, _) => Bins::Categorical {
                        levels: levels.clone(),
                    },
                    (Encoding::Numeric { .. }, ColumnValues::Numeric(values)) => Bins::Numeric {
                        edges: decile_edges(
                            rows.iter()
                                .filter_map(|&i| values[i].filter(|v| v.is_finite()))
                                .collect(),
                        ),
                    },
                    (Encoding::Numeric { .. }, ColumnValues::Categorical(_)) => {
                        Bins::Numeric { edges: Vec::new() }
                    }
                };
                let shares = bins.shares(&feature.name, values, rows)?;
                Ok(FeatureReference {
                    name: feature.name.clone(),
                    bins,
                    shares,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let edges = decile_edges(probabilities.iter().copied().filter(|p| p.is_finite()).collect());
        Ok(Self {
            rows: rows.len(),
            features,
            score: ScoreReference {
                source,
                rows: probabilities.len(),
                shares: score_shares(&edges, probabilities),
                edges,
            },
        })
    }

    /// Compares `rows` of `table`, whose probabilities are `probabilities` (in the same order), with
    /// the reference: every feature's and the probability's PSI, and both distributions bin by bin.
    pub fn compare(
        &self,
        table: &FeatureTable,
        rows: &[usize],
        probabilities: &[f64],
    ) -> Result<DriftReport> {
        if rows.len() != probabilities.len() {
            return Err(ModelError::LengthMismatch {
                what: "probabilities of the rows compared".into(),
                expected: rows.len(),
                found: probabilities.len(),
            });
        }
        if rows.is_empty() {
            return Err(ModelError::Drift(
                "there are no rows to compare with the training distribution".into(),
            ));
        }
        let mut features = self
            .features
            .iter()
            .map(|reference| {
                let values = feature_values(table, &reference.name)?;
                let current = reference.bins.shares(&reference.name, values, rows)?;
                Ok(Drift::new(
                    &reference.name,
                    reference.bins.type_name(),
                    self.rows,
                    reference.bins.labels(),
                    &reference.shares,
                    &current,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        features.sort_by(|a, b| b.psi.total_cmp(&a.psi).then_with(|| a.name.cmp(&b.name)));
        let score = &self.score;
        let score = Drift::new(
            "churn_probability",
            "score",
            score.rows,
            interval_labels(&score.edges),
            &score.shares,
            &score_shares(&score.edges, probabilities),
        );
        Ok(DriftReport {
            rows: rows.len(),
            population_excluded: 0,
            reference_rows: self.rows,
            score_source: self.score.source,
            features,
            score,
        })
    }

    /// Checks that the reference is whole and fits `schema` (used when loading an artifact).
    pub(crate) fn validate(&self, schema: &FeatureSchema) -> std::result::Result<(), String> {
        if self.features.len() != schema.features.len() {
            return Err(format!(
                "it describes {} features but the model has {}",
                self.features.len(),
                schema.features.len()
            ));
        }
        for (reference, feature) in self.features.iter().zip(&schema.features) {
            let fits =
                reference.name == feature.name && reference.bins.type_name() == feature.encoding.type_name();
            if !fits {
                return Err(format!(
                    "its feature `{}` ({}) is not the model's `{}` ({})",
                    reference.name,
                    reference.bins.type_name(),
                    feature.name,
                    feature.encoding.type_name()
                ));
            }
            reference
                .bins
                .validate()
                .and_then(|()| check_shares(&reference.shares, reference.bins.len()))
                .map_err(|reason| format!("feature `{}`: {reason}", reference.name))?;
        }
        check_edges(&self.score.edges)
            .and_then(|()| check_shares(&self.score.shares, self.score.edges.len() + 1))
            .map_err(|reason| format!("score: {reason}"))
    }
}

/// The shares of `probabilities` in the bins between `edges` (no bin for missing values: every row
/// has a probability; a non-finite one, which no model gives, is left out rather than binned).
fn score_shares(edges: &[f64], probabilities: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    for &p in probabilities.iter().filter(|p| p.is_finite()) {
        counts[numeric_bin(edges, p)] += 1;
    }
    to_shares(&counts)
}

fn feature_values<'a>(table: &'a FeatureTable, name: &str) -> Result<&'a ColumnValues> {
    let column = table.column(name).ok_or_else(|| ModelError::MissingFeature {
        feature: name.to_string(),
    })?;
    if column.values.len() != table.len() {
        return Err(ModelError::LengthMismatch {
            what: format!("feature column `{name}`"),
            expected: table.len(),
            found: column.values.len(),
        });
    }
    Ok(&column.values)
}

/// One bin of a distribution compared with its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinShares {
    /// The bin, for people (see [`Bins::labels`]).
    pub label: String,
    /// Its share of the reference rows.
    pub reference: f64,
    /// Its share of the rows compared.
    pub current: f64,
}

/// One distribution (a feature's, or the probability's) compared with its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The feature, or `churn_probability` for the score.
    pub name: String,
    /// `numeric`, `categorical` or `score`.
    pub kind: String,
    /// The population stability index ([`psi`]).
    pub psi: f64,
    /// What it calls for.
    pub level: DriftLevel,
    /// Rows the reference distribution was taken from.
    pub reference_rows: usize,
    /// Both distributions, bin by bin.
    pub bins: Vec<BinShares>,
}

impl Drift {
    fn new(
        name: &str,
        kind: &str,
        reference_rows: usize,
        labels: Vec<String>,
        reference: &[f64],
        current: &[f64],
    ) -> Self {
        let psi = psi(reference, current);
        Self {
            name: name.to_string(),
            kind: kind.to_string(),
            psi,
            level: DriftLevel::of(psi),
            reference_rows,
            bins: labels
                .into_iter()
                .zip(reference.iter().zip(current))
                .map(|(label, (&reference, &current))| BinShares {
                    label,
                    reference,
                    current,
                })
                .collect(),
        }
    }

    /// The bin whose share moved the most, for a one-line summary: `(missing) 2% → 31%`.
    pub fn largest_move(&self) -> Option<&BinShares> {
        self.bins.iter().max_by(|a, b| {
            (a.current - a.reference)
                .abs()
                .total_cmp(&(b.current - b.reference).abs())
        })
    }
}

/// A table of customers compared with a model's training distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Rows compared (those of the model's population).
    pub rows: usize,
    /// Rows left out because they are not in the model's population.
    pub population_excluded: usize,
    /// The training rows the features' reference distributions come from.
    pub reference_rows: usize,
    /// Which rows the probability's reference comes from.
    pub score_source: ScoreSource,
    /// Every model feature, largest PSI first.
    pub features: Vec<Drift>,
    /// The model's probability.
    pub score: Drift,
}

impl DriftReport {
    /// The features and the score at `level` or above, features first, largest PSI first.
    pub fn at_least(&self, level: DriftLevel) -> impl Iterator<Item = &Drift> {
        self.features
            .iter()
            .chain(std::iter::once(&self.score))
            .filter(move |drift| drift.level >= level)
    }

    /// The highest level of any feature or the score.
    pub fn worst(&self) -> DriftLevel {
        self.at_least(DriftLevel::None)
            .map(|drift| drift.level)
            .max()
            .unwrap_or(DriftLevel::None)
    }
}

/// Compares the rows of `candidates` of `table` that are in the model's population (the customers its
/// reference describes) with the reference the artifact stores, scoring them through the
/// [`crate::Scorer`]. `None` when the artifact has no reference (trained before drift monitoring).
pub fn monitor(
    artifact: &ModelArtifact,
    table: &FeatureTable,
    candidates: &[usize],
) -> Result<Option<DriftReport>> {
    let Some(reference) = &artifact.drift_reference else {
        return Ok(None);
    };
    let positions = population_positions(artifact, table, candidates)?;
    let rows: Vec<usize> = positions.iter().map(|&k| candidates[k]).collect();
    let probabilities = artifact.scorer().predict_table(table, &rows)?;
    finish(reference, table, candidates.len(), &rows, &probabilities).map(Some)
}

/// [`monitor`] for a caller that already has the candidates' probabilities (a server holding its
/// snapshot encoded): `probability(k)` is the model's probability for `candidates[k]`, asked only for the
/// rows in the population.
pub fn monitor_scored(
    artifact: &ModelArtifact,
    table: &FeatureTable,
    candidates: &[usize],
    probability: impl Fn(usize) -> f64,
) -> Result<Option<DriftReport>> {
    let Some(reference) = &artifact.drift_reference else {
        return Ok(None);
    };
    let positions = population_positions(artifact, table, candidates)?;
    let rows: Vec<usize> = positions.iter().map(|&k| candidates[k]).collect();
    let probabilities: Vec<f64> = positions.iter().map(|&k| probability(k)).collect();
    finish(reference, table, candidates.len(), &rows, &probabilities).map(Some)
}

/// The positions in `candidates` of the rows in the model's population; an error when there are none.
fn population_positions(
    artifact: &ModelArtifact,
    table: &FeatureTable,
    candidates: &[usize],
) -> Result<Vec<usize>> {
    let in_population = artifact.population.mask(table)?;
    let positions: Vec<usize> = (0..candidates.len())
        .filter(|&k| in_population[candidates[k]])
        .collect();
    if positions.is_empty() {
        return Err(ModelError::Drift(format!(
            "none of the {} rows is in the model's population ({}), so there is nothing to compare \
             with the training distribution",
            candidates.len(),
            artifact.population
        )));
    }
    Ok(positions)
}

/// The report of `rows` (of `candidates` candidates) with their probabilities.
fn finish(
    reference: &DriftReference,
    table: &FeatureTable,
    candidates: usize,
    rows: &[usize],
    probabilities: &[f64],
) -> Result<DriftReport> {
    let mut report = reference.compare(table, rows, probabilities)?;
    report.population_excluded = candidates - rows.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{labelled_table, trained};

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn psi_is_the_hand_computed_sum() {
        // Reference 50/30/20%, current 30/30/40%:
        //   (0.3 − 0.5)·ln(0.3/0.5) = (−0.2)·(−0.5108256) = 0.1021651
        //   (0.3 − 0.3)·ln(0.3/0.3) = 0
        //   (0.4 − 0.2)·ln(0.4/0.2) = 0.2·0.6931472     = 0.1386294
        //   sum                                          = 0.2407946
        let (reference, current) = ([0.5, 0.3, 0.2], [0.3, 0.3, 0.4]);
        assert!(close(
            psi_with_epsilon(&reference, &current, 0.0),
            0.2407946,
            1e-7
        ));
        // The epsilon moves it by less than a thousandth here; the PSI is symmetric.
        assert!(close(psi(&reference, &current), 0.2407946, 1e-3));
        assert!(close(psi(&reference, &current), psi(&current, &reference), 1e-12));
        assert_eq!(DriftLevel::of(0.2407946), DriftLevel::Watch);
        assert_eq!(DriftLevel::of(0.09), DriftLevel::None);
        assert_eq!(DriftLevel::of(0.1), DriftLevel::Watch);
        assert_eq!(DriftLevel::of(0.25), DriftLevel::Act);
    }

    #[test]
    fn an_empty_bin_gives_a_finite_psi() {
        // Reference 50/50/0%, current 40/40/20%: without the epsilon the third term is
        // 0.2·ln(0.2/0) = ∞. With ε = 1e-4 added to every share and each side divided by
        // 1 + 3ε = 1.0003:
        //   e = (0.5001, 0.5001, 0.0001) / 1.0003,  a = (0.4001, 0.4001, 0.2001) / 1.0003
        //   2 · (−0.1/1.0003)·ln(0.4001/0.5001) = 2 · (−0.0999700)·(−0.2230936) = 0.0446053
        //   (0.2/1.0003)·ln(0.2001/0.0001)     = 0.1999400 · 7.6014023        = 1.5198245
        //   sum                                                               = 1.5644298
        let (reference, current) = ([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]);
        assert!(psi_with_epsilon(&reference, &current, 0.0).is_infinite());
        let value = psi(&reference, &current);
        assert!(value.is_finite());
        assert!(close(value, 1.5644298, 1e-6), "{value}");
        assert_eq!(DriftLevel::of(value), DriftLevel::Act);
        // Empty on both sides: the bin adds nothing.
        assert_eq!(psi(&[0.5, 0.5, 0.0], &[0.5, 0.5, 0.0]), 0.0);
    }

    #[test]
    fn identical_distributions_have_a_psi_of_zero() {
        let shares = [0.1, 0.25, 0.0, 0.4, 0.25];
        assert_eq!(psi(&shares, &shares), 0.0);
        let table = labelled_table(500, 3);
        let model = trained(&table);
        let all: Vec<usize> = (0..table.len()).collect();
        let report = monitor(&model, &table, &all)
            .expect("compare")
            .expect("a reference");
        assert_eq!(report.rows, 500);
        for drift in report.at_least(DriftLevel::None) {
            if drift.kind != "score" {
                // The model was fitted on the labelled rows (9 in 10): the same customers, nearly.
                assert!(drift.psi < 0.01, "{drift:?}");
            }
        }
        let fitted: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| table.labels[i].is_some())
            .collect();
        let report = monitor(&model, &table, &fitted)
            .expect("compare")
            .expect("a reference");
        // Trained without validation, the score's reference is the training rows: the same rows again.
        assert_eq!(report.score_source, ScoreSource::Training);
        assert!(report.at_least(DriftLevel::None).all(|drift| drift.psi == 0.0));
        assert_eq!(report.worst(), DriftLevel::None);
    }

    #[test]
    fn the_scores_reference_comes_from_rows_the_model_did_not_fit() {
        use crate::kinds::ModelParams;
        use crate::train::{NoProgress, TrainOptions, ValidationPlan, train};
        use chrono::NaiveDate;
        // 600 customers as of March 31 and 600 as of June 30; out of time on June 30.
        let mut table = labelled_table(1200, 7);
        let (march, june) = (
            NaiveDate::from_ymd_opt(2024, 3, 31),
            NaiveDate::from_ymd_opt(2024, 6, 30),
        );
        for (i, as_of) in table.as_of.iter_mut().enumerate() {
            *as_of = if i < 600 { march } else { june };
        }
        let mut options = TrainOptions::new(ModelParams::default_for(crate::ModelKind::Logistic));
        options.validation = ValidationPlan::OutOfTime {
            test_as_of: june.expect("date"),
        };
        options.importance = None;
        let outcome = train(&table, &options, &NoProgress).expect("train");
        let artifact = &outcome.artifact;
        let reference = artifact.drift_reference.as_ref().expect("a reference");
        let held_out = outcome.holdout.as_ref().expect("held-out rows");
        assert_eq!(reference.score.source, ScoreSource::HeldOut);
        assert_eq!(reference.score.rows, held_out.rows.len());
        // The features' reference is the same rows: June's, the latest customers, not March's that
        // were fitted on (features that grow with time would seem to drift by the months between).
        assert_eq!(reference.rows, held_out.rows.len());
        assert!(held_out.rows.iter().all(|&i| i >= 600));
        // The held-out rows themselves, compared again: nothing has moved.
        let report = monitor(artifact, &table, &held_out.rows)
            .expect("compare")
            .expect("a reference");
        assert!(report.score.psi < 1e-3, "{:?}", report.score);
        assert!(
            report.features.iter().all(|f| f.psi < 1e-3),
            "{:?}",
            report.features
        );

        options.validation = ValidationPlan::CrossValidation { folds: 3, seed: 1 };
        let outcome = train(&table, &options, &NoProgress).expect("train");
        let reference = outcome.artifact.drift_reference.expect("a reference");
        assert_eq!(reference.score.source, ScoreSource::OutOfFold);
        assert_eq!(reference.score.rows, reference.rows);
        assert_eq!(reference.score.shares.len(), reference.score.edges.len() + 1);
    }

    #[test]
    fn deciles_are_values_of_the_data_and_a_repeated_value_ends_its_own_bin() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            decile_edges(values),
            [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
        );
        // Half zeros: the first five deciles are 0, one edge.
        let mut counts = vec![0.0; 50];
        counts.extend((1..=50).map(f64::from));
        assert_eq!(decile_edges(counts), [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(decile_edges(vec![7.0; 3]), [7.0]);
        assert!(decile_edges(Vec::new()).is_empty());
        assert_eq!(numeric_bin(&[0.0, 10.0], 0.0), 0);
        assert_eq!(numeric_bin(&[0.0, 10.0], 0.5), 1);
        assert_eq!(numeric_bin(&[0.0, 10.0], 10.0), 1);
        assert_eq!(numeric_bin(&[0.0, 10.0], 11.0), 2);
        let bins = Bins::Numeric {
            edges: vec![0.0, 10.0, 25.5],
        };
        assert_eq!(
            bins.labels(),
            ["≤ 0", "(0, 10]", "(10, 25.5]", "> 25.5", "(missing)"]
        );
    }

    #[test]
    fn the_reference_holds_every_feature_with_missing_and_unseen_values_in_their_own_bins() {
        let table = labelled_table(1000, 4);
        let model = trained(&table);
        let reference = model.drift_reference.as_ref().expect("a reference");
        let names: Vec<&str> = reference.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["days_since_last_purchase", "spend_365d", "plan"]);
        assert_eq!(reference.rows, 900);
        let spend = &reference.features[1];
        assert_eq!(spend.shares.len(), 11, "ten deciles and missing");
        // Every 7th spend is missing (rows 3, 10, 17, ...): 1 in 7 of the training rows, nearly.
        assert!(close(*spend.shares.last().expect("missing bin"), 1.0 / 7.0, 0.01));
        let plan = &reference.features[2];
        assert_eq!(plan.bins.labels().len(), plan.shares.len(), "{:?}", plan.bins);
        assert_eq!(plan.shares.iter().rev().take(2).sum::<f64>(), 0.0);

        // A snapshot with a plan the model never saw, and every spend missing.
        let mut current = labelled_table(1000, 5);
        for column in &mut current.columns {
            match (column.name.as_str(), &mut column.values) {
                ("plan", ColumnValues::Categorical(values)) => {
                    for value in values.iter_mut().step_by(2) {
                        *value = Some("enterprise".into());
                    }
                }
                ("spend_365d", ColumnValues::Numeric(values)) => values.fill(None),
                _ => {}
            }
        }
        let all: Vec<usize> = (0..current.len()).collect();
        let report = monitor(&model, &current, &all)
            .expect("compare")
            .expect("reference");
        let by_name = |name: &str| report.features.iter().find(|d| d.name == name).expect("feature");
        let plan = by_name("plan");
        let other = plan
            .bins
            .iter()
            .find(|b| b.label == "(other)")
            .expect("other bin");
        assert!(close(other.current, 0.5, 1e-9) && other.reference == 0.0);
        assert_eq!(plan.level, DriftLevel::Act);
        let spend = by_name("spend_365d");
        assert_eq!(spend.bins.last().map(|b| b.current), Some(1.0));
        assert_eq!(spend.level, DriftLevel::Act);
        assert_eq!(spend.largest_move().map(|b| b.label.as_str()), Some("(missing)"));
        assert!(by_name("days_since_last_purchase").psi < WATCH_PSI);
        assert_eq!(
            report.features[0].psi.max(report.features[1].psi),
            plan.psi.max(spend.psi)
        );
        let flagged: Vec<&str> = report
            .at_least(DriftLevel::Act)
            .filter(|d| d.kind != "score")
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(flagged.len(), 2);
        assert_eq!(report.worst(), DriftLevel::Act);
    }

    #[test]
    fn an_artifact_with_an_inconsistent_reference_is_refused_on_load() {
        let table = labelled_table(300, 6);
        let model = trained(&table);
        let path = std::path::Path::new("model.json");
        let loaded = ModelArtifact::from_json(&model.to_json().expect("json"), path).expect("loads");
        assert_eq!(loaded.drift_reference, model.drift_reference);

        let mut broken = model.clone();
        if let Some(reference) = &mut broken.drift_reference {
            reference.features[0].shares.pop();
        }
        let error = ModelArtifact::from_json(&broken.to_json().expect("json"), path)
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("drift reference") && error.contains("days_since_last_purchase"),
            "{error}"
        );

        let mut unknown = model.clone();
        if let Some(reference) = &mut unknown.drift_reference {
            reference.features[2].name = "region".into();
        }
        let error = ModelArtifact::from_json(&unknown.to_json().expect("json"), path)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("`region`"), "{error}");

        // Without a reference (an artifact from before drift monitoring), there is nothing to compare.
        let mut old = model;
        old.drift_reference = None;
        let all: Vec<usize> = (0..table.len()).collect();
        assert!(monitor(&old, &table, &all).expect("no error").is_none());
    }
}
