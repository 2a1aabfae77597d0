//! Evaluation metrics, defined as scikit-learn defines them (the tests check its values on vectors with
//! ties), plus the churn team's tables: lift and capture by decile, a 10-bin calibration table, and the
//! choice of a decision threshold by max F1, a target recall or expected profit.

use crate::calibration::CalibrationMethod;
use crate::error::{ModelError, Result};
use crate::kinds::ModelKind;
use crate::population::Population;
use serde::{Deserialize, Serialize};

/// Sorts row indices by descending score (ties keep row order, so results are deterministic).
fn by_descending_score(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

fn check_inputs(labels: &[u8], scores: &[f64]) -> Result<(usize, usize)> {
    if labels.len() != scores.len() {
        return Err(ModelError::LengthMismatch {
            what: "scores".into(),
            expected: labels.len(),
            found: scores.len(),
        });
    }
    if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
        return Err(ModelError::Metrics(format!("score {bad} is not finite")));
    }
    if labels.iter().any(|&l| l > 1) {
        return Err(ModelError::Metrics("labels must be 0 or 1".into()));
    }
    let positives = labels.iter().filter(|&&l| l == 1).count();
    Ok((positives, labels.len() - positives))
}

/// Cumulative (false positives, true positives) at each distinct score, highest score first, with the score.
fn cumulative_counts(labels: &[u8], scores: &[f64]) -> Vec<(f64, usize, usize)> {
    let order = by_descending_score(scores);
    let mut points = Vec::new();
    let (mut fp, mut tp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            points.push((scores[i], fp, tp));
        }
    }
    points
}

/// Area under the ROC curve, as `sklearn.metrics.roc_auc_score` (tied scores form one step, counted as a
/// trapezoid, i.e. half a pair each). Fails unless both classes are present.
pub fn roc_auc(labels: &[u8], scores: &[f64]) -> Result<f64> {
    let (positives, negatives) = check_inputs(labels, scores)?;
    if positives == 0 || negatives == 0 {
        return Err(ModelError::Metrics(
            "ROC AUC needs both churned and retained rows".into(),
        ));
    }
    let mut area = 0.0;
    let (mut fp0, mut tp0) = (0usize, 0usize);
    for (_, fp, tp) in cumulative_counts(labels, scores) {
        area += (fp - fp0) as f64 * (tp + tp0) as f64 / 2.0;
        (fp0, tp0) = (fp, tp);
    }
    Ok(area / (positives as f64 * negatives as f64))
}

/// Average precision, as `sklearn.metrics.average_precision_score`: `Σ (Rₖ − Rₖ₋₁)·Pₖ` over distinct
/// thresholds (no interpolation). Fails without positive rows.
pub fn average_precision(labels: &[u8], scores: &[f64]) -> Result<f64> {
    let (positives, _) = check_inputs(labels, scores)?;
    if positives == 0 {
        return Err(ModelError::Metrics(
            "average precision needs at least one churned row".into(),
        ));
    }
    let mut ap = 0.0;
    let mut previous_recall = 0.0;
    for (_, fp, tp) in cumulative_counts(labels, scores) {
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    Ok(ap)
}

/// Mean log loss with probabilities clipped to `[ε, 1 − ε]` (ε = `f64::EPSILON`), as
/// `sklearn.metrics.log_loss` on float64 input.
pub fn log_loss(labels: &[u8], probabilities: &[f64]) -> Result<f64> {
    check_inputs(labels, probabilities)?;
    if labels.is_empty() {
        return Err(ModelError::Metrics("log loss of no rows".into()));
    }
    let eps = f64::EPSILON;
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(total / labels.len() as f64)
}

/// Mean squared difference between probability and label, as `sklearn.metrics.brier_score_loss`.
pub fn brier(labels: &[u8], probabilities: &[f64]) -> Result<f64> {
    check_inputs(labels, probabilities)?;
    if labels.is_empty() {
        return Err(ModelError::Metrics("Brier score of no rows".into()));
    }
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| (p - f64::from(y)).powi(2))
        .sum();
    Ok(total / labels.len() as f64)
}

/// Counts of the confusion matrix at a threshold (a row is flagged when its score is at least the
/// threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Churned and flagged.
    pub true_positive: usize,
    /// Retained but flagged.
    pub false_positive: usize,
    /// Retained and not flagged.
    pub true_negative: usize,
    /// Churned but not flagged.
    pub false_negative: usize,
}

impl Confusion {
    /// The confusion matrix of `scores >= threshold`.
    pub fn at(labels: &[u8], scores: &[f64], threshold: f64) -> Self {
        let mut c = Self {
            true_positive: 0,
            false_positive: 0,
            true_negative: 0,
            false_negative: 0,
        };
        for (&y, &s) in labels.iter().zip(scores) {
            match (y == 1, s >= threshold) {
                (true, true) => c.true_positive += 1,
                (false, true) => c.false_positive += 1,
                (false, false) => c.true_negative += 1,
                (true, false) => c.false_negative += 1,
            }
        }
        c
    }

    /// Share of flagged rows that churned (0 when none is flagged, as scikit-learn's `zero_division`).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    /// Share of churned rows that are flagged.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positive,
            2 * self.true_positive + self.false_positive + self.false_negative,
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One decile of rows ranked by descending score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecileRow {
    /// 1 = the riskiest tenth.
    pub decile: usize,
    /// Rows in the decile.
    pub rows: usize,
    /// Churned rows in the decile.
    pub positives: usize,
    /// Churn rate in the decile.
    pub churn_rate: f64,
    /// Churn rate relative to the overall rate.
    pub lift: f64,
    /// Share of all churned rows found in deciles 1..=this one.
    pub cumulative_capture: f64,
    /// Churn rate of deciles 1..=this one relative to the overall rate.
    pub cumulative_lift: f64,
}

/// Lift and capture by decile: rows ranked by descending score (ties in row order) and cut into ten
/// groups whose sizes differ by at most one.
pub fn lift_by_decile(labels: &[u8], scores: &[f64]) -> Result<Vec<DecileRow>> {
    let (positives, _) = check_inputs(labels, scores)?;
    let n = labels.len();
    if n < 10 || positives == 0 {
        return Err(ModelError::Metrics(
            "lift by decile needs at least 10 rows and one churned row".into(),
        ));
    }
    let order = by_descending_score(scores);
    let base_rate = positives as f64 / n as f64;
    let mut table = Vec::with_capacity(10);
    let (mut cumulative_rows, mut cumulative_positives) = (0, 0);
    for decile in 0..10 {
        let (start, end) = (decile * n / 10, (decile + 1) * n / 10);
        let hits = order[start..end].iter().filter(|&&i| labels[i] == 1).count();
        cumulative_rows += end - start;
        cumulative_positives += hits;
        let rate = ratio(hits, end - start);
        table.push(DecileRow {
            decile: decile + 1,
            rows: end - start,
            positives: hits,
            churn_rate: rate,
            lift: rate / base_rate,
            cumulative_capture: cumulative_positives as f64 / positives as f64,
            cumulative_lift: ratio(cumulative_positives, cumulative_rows) / base_rate,
        });
    }
    Ok(table)
}

/// One bin of the calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the bin.
    pub lower: f64,
    /// Upper edge of the bin.
    pub upper: f64,
    /// Rows whose probability falls in the bin.
    pub rows: usize,
    /// Mean predicted probability in the bin (`None` when empty).
    pub mean_predicted: Option<f64>,
    /// Observed churn rate in the bin (`None` when empty).
    pub observed_rate: Option<f64>,
}

/// A 10-bin calibration table with the bins of `sklearn.calibration.calibration_curve(strategy=
/// "uniform")`: `[0, 0.1]`, `(0.1, 0.2]`, …, `(0.9, 1]`. Empty bins are kept with `None` values (scikit-learn
/// drops them).
pub fn calibration(labels: &[u8], probabilities: &[f64]) -> Result<Vec<CalibrationBin>> {
    check_inputs(labels, probabilities)?;
    if let Some(p) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(ModelError::Metrics(format!("probability {p} is outside [0, 1]")));
    }
    const BINS: usize = 10;
    // Edges as numpy's linspace(0, 1, 11) computes them (k · 0.1).
    let edges: Vec<f64> = (0..=BINS).map(|k| k as f64 * 0.1).map(|e| e.min(1.0)).collect();
    let mut sums = [(0usize, 0.0f64, 0usize); BINS];
    for (&y, &p) in labels.iter().zip(probabilities) {
        let bin = edges[1..BINS].iter().filter(|&&e| e < p).count();
        sums[bin].0 += 1;
        sums[bin].1 += p;
        sums[bin].2 += usize::from(y);
    }
    Ok(sums
        .iter()
        .enumerate()
        .map(|(k, &(rows, total, positives))| CalibrationBin {
            lower: edges[k],
            upper: edges[k + 1],
            rows,
            mean_predicted: (rows > 0).then(|| total / rows as f64),
            observed_rate: (rows > 0).then(|| positives as f64 / rows as f64),
        })
        .collect())
}

/// Expected calibration error: `Σ (n_b / n) · |mean probability − churn rate|` over `bins` equal-width
/// bins of `[0, 1]`, empty bins counting 0. The bins are those of [`calibration`] and of
/// `sklearn.calibration.calibration_curve(strategy="uniform", n_bins=bins)`: `[0, e₁]`, `(e₁, e₂]`, …,
/// `(e_{bins−1}, 1]` with `e_k = k · (1 / bins)`, as numpy's `linspace` computes them. Fails on no rows,
/// `bins == 0`, or a probability outside `[0, 1]`.
pub fn expected_calibration_error(labels: &[u8], probabilities: &[f64], bins: usize) -> Result<f64> {
    check_inputs(labels, probabilities)?;
    if bins == 0 {
        return Err(ModelError::InvalidParameter {
            name: "bins",
            reason: "expected calibration error needs at least one bin".into(),
        });
    }
    if labels.is_empty() {
        return Err(ModelError::Metrics(
            "expected calibration error of no rows".into(),
        ));
    }
    if let Some(p) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(ModelError::Metrics(format!("probability {p} is outside [0, 1]")));
    }
    let step = 1.0 / bins as f64;
    let edge = |k: usize| if k >= bins { 1.0 } else { k as f64 * step };
    // Only non-empty bins are stored, so a huge `bins` costs no memory: (rows, Σ p, churned rows).
    let mut sums: std::collections::BTreeMap<usize, (usize, f64, usize)> = std::collections::BTreeMap::new();
    for (&y, &p) in labels.iter().zip(probabilities) {
        // The bin is the number of inner edges below p; the guess from p · bins is off by at most a
        // rounding step, which the two loops correct.
        let mut bin = ((p * bins as f64).ceil() as usize)
            .saturating_sub(1)
            .min(bins - 1);
        while bin > 0 && p <= edge(bin) {
            bin -= 1;
        }
        while bin < bins - 1 && p > edge(bin + 1) {
            bin += 1;
        }
        let entry = sums.entry(bin).or_insert((0, 0.0, 0));
        entry.0 += 1;
        entry.1 += p;
        entry.2 += usize::from(y);
    }
    let n = labels.len() as f64;
    Ok(sums
        .values()
        .map(|&(rows, total, positives)| {
            let rows = rows as f64;
            rows / n * (total / rows - positives as f64 / rows).abs()
        })
        .sum())
}

/// Points of the ROC curve `(false positive rate, true positive rate)`, one per distinct score, starting at
/// `(0, 0)`.
pub fn roc_curve(labels: &[u8], scores: &[f64]) -> Result<Vec<(f64, f64)>> {
    let (positives, negatives) = check_inputs(labels, scores)?;
    let mut points = vec![(0.0, 0.0)];
    for (_, fp, tp) in cumulative_counts(labels, scores) {
        points.push((ratio(fp, negatives), ratio(tp, positives)));
    }
    Ok(points)
}

/// Points of the precision-recall curve `(recall, precision)`, one per distinct score, highest score first.
pub fn pr_curve(labels: &[u8], scores: &[f64]) -> Result<Vec<(f64, f64)>> {
    let (positives, _) = check_inputs(labels, scores)?;
    Ok(cumulative_counts(labels, scores)
        .into_iter()
        .map(|(_, fp, tp)| (ratio(tp, positives), ratio(tp, tp + fp)))
        .collect())
}

/// How the decision threshold (flag a customer when the probability is at least it) is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ThresholdRule {
    /// The threshold with the highest F1.
    #[default]
    MaxF1,
    /// The highest threshold whose recall reaches the target.
    TargetRecall {
        /// Share of churners to flag, in (0, 1].
        recall: f64,
    },
    /// The threshold with the highest expected profit of a retention offer:
    /// `churners flagged · acceptance_rate · customer_value − customers flagged · offer_cost`.
    ExpectedProfit {
        /// Cost of making the offer to one customer.
        offer_cost: f64,
        /// Value kept when a churner accepts.
        customer_value: f64,
        /// Share of flagged churners who accept the offer and stay.
        acceptance_rate: f64,
    },
    /// A fixed threshold.
    Fixed {
        /// The threshold.
        threshold: f64,
    },
}

impl ThresholdRule {
    /// Checks the rule's parameters (before any data is read): a target recall in (0, 1], a fixed
    /// threshold in [0, 1], non-negative costs and values with an acceptance rate in [0, 1].
    pub fn check(&self) -> Result<()> {
        match *self {
            Self::MaxF1 => Ok(()),
            Self::TargetRecall { recall } if recall > 0.0 && recall <= 1.0 => Ok(()),
            Self::TargetRecall { recall } => Err(ModelError::InvalidParameter {
                name: "recall",
                reason: format!("target recall must be in (0, 1], got {recall}"),
            }),
            Self::Fixed { threshold } if (0.0..=1.0).contains(&threshold) => Ok(()),
            Self::Fixed { threshold } => Err(ModelError::InvalidParameter {
                name: "threshold",
                reason: format!("must be in [0, 1], got {threshold}"),
            }),
            Self::ExpectedProfit {
                offer_cost,
                customer_value,
                acceptance_rate,
            } => {
                let all_finite = [offer_cost, customer_value, acceptance_rate]
                    .iter()
                    .all(|v| v.is_finite() && *v >= 0.0);
                if all_finite && acceptance_rate <= 1.0 {
                    Ok(())
                } else {
                    Err(ModelError::InvalidParameter {
                        name: "expected_profit",
                        reason: "costs and values must be non-negative, acceptance rate in [0, 1]".into(),
                    })
                }
            }
        }
    }

    /// Picks the threshold on held-out labels and scores.
    pub fn choose(&self, labels: &[u8], scores: &[f64]) -> Result<f64> {
        let (positives, _) = check_inputs(labels, scores)?;
        self.check()?;
        if let Self::Fixed { threshold } = *self {
            return Ok(threshold);
        }
        if positives == 0 {
            return Err(ModelError::Metrics(
                "choosing a threshold needs at least one churned row".into(),
            ));
        }
        let points = cumulative_counts(labels, scores);
        let value = |fp: usize, tp: usize| -> f64 {
            match *self {
                Self::MaxF1 => ratio(2 * tp, tp + fp + positives),
                Self::ExpectedProfit {
                    offer_cost,
                    customer_value,
                    acceptance_rate,
                } => tp as f64 * acceptance_rate * customer_value - (tp + fp) as f64 * offer_cost,
                Self::TargetRecall { .. } | Self::Fixed { .. } => 0.0,
            }
        };
        match *self {
            Self::TargetRecall { recall } => {
                let needed = (recall * positives as f64 - 1e-9).ceil() as usize;
                let found = points.iter().find(|&&(_, _, tp)| tp >= needed);
                Ok(found.map_or(0.0, |&(score, _, _)| score))
            }
            Self::ExpectedProfit { .. } => {
                let best = points.iter().max_by(|a, b| {
                    value(a.1, a.2)
                        .total_cmp(&value(b.1, b.2))
                        .then(a.0.total_cmp(&b.0))
                });
                Ok(match best {
                    // Flag nobody when every threshold loses money.
                    Some(&(score, fp, tp)) if value(fp, tp) > 0.0 => score,
                    _ => 1.0,
                })
            }
            _ => {
                let best = points.iter().max_by(|a, b| {
                    value(a.1, a.2)
                        .total_cmp(&value(b.1, b.2))
                        .then(a.0.total_cmp(&b.0))
                });
                Ok(best.map_or(0.5, |&(score, _, _)| score))
            }
        }
    }
}

/// The evaluation written to `metrics.json` and stored in the model artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows evaluated.
    pub rows: usize,
    /// Churned rows among them.
    pub positives: usize,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Average precision (area under the precision-recall curve, step-wise).
    pub pr_auc: f64,
    /// Mean log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Decision threshold: flag when the probability is at least this.
    pub threshold: f64,
    /// How the threshold was chosen.
    pub threshold_rule: ThresholdRule,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Confusion matrix at the threshold.
    pub confusion: Confusion,
    /// Lift and capture by decile.
    pub lift_by_decile: Vec<DecileRow>,
    /// 10-bin calibration table.
    pub calibration: Vec<CalibrationBin>,
    /// Global importance of each input feature (permutation importance), largest first; empty when not
    /// computed.
    #[serde(default)]
    pub importance: Vec<FeatureImportance>,
    /// Expected calibration error over 10 equal-width bins: Σ (rows in bin / rows) · |mean p − churn
    /// share|.
    #[serde(default)]
    pub expected_calibration_error: f64,
    /// The calibration method applied to these probabilities, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_method: Option<CalibrationMethod>,
    /// The same held-out rows scored before calibration, when the model is calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_calibration: Option<ProbabilityQuality>,
    /// Every kind `--model auto` compared on the same rows, when it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// The same rows per segment of the descriptor columns [`SEGMENT_COLUMNS`] the table has (see
    /// [`segment_metrics`]); empty when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_segment: Vec<SegmentMetrics>,
    /// The population the rows were chosen from (see [`Population`]); absent when every row counted.
    #[serde(default, skip_serializing_if = "Population::is_everyone")]
    pub population: Population,
    /// Rows of the evaluated feature table that the population left out (set by evaluation on a table;
    /// training records its count in the artifact's training information instead).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub population_excluded: usize,
    /// For survival models: how well they tell when customers churn, on the same rows (see
    /// [`crate::survival::SurvivalMetrics`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survival: Option<crate::survival::SurvivalMetrics>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The descriptor columns whose segments get metrics of their own, in this order.
pub const SEGMENT_COLUMNS: [&str; 2] = ["lifecycle_stage", "rfm_segment"];

/// Metrics of the rows of one segment (one value of a descriptor column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMetrics {
    /// The descriptor column, e.g. `lifecycle_stage`.
    pub column: String,
    /// The segment, e.g. `active`.
    pub segment: String,
    /// Rows in the segment.
    pub rows: usize,
    /// Churned rows among them.
    pub positives: usize,
    /// Share of the rows that churned.
    pub churn_rate: f64,
    /// ROC AUC within the segment; `None` unless both classes are present.
    pub roc_auc: Option<f64>,
    /// Brier score within the segment.
    pub brier: f64,
}

/// Metrics per segment of one descriptor column: `segments[i]` is row i's segment (rows without one
/// are left out). `scores` rank the rows as the model does (ROC AUC), `probabilities` are its
/// probabilities (Brier); they are the same vector unless calibration is cross-fitted (see
/// [`Metrics::rank_by`]). Segments come in the order of `order` for the names it lists, then the others
/// alphabetically.
pub fn segment_metrics(
    column: &str,
    segments: &[Option<&str>],
    labels: &[u8],
    probabilities: &[f64],
    scores: &[f64],
    order: &[&str],
) -> Result<Vec<SegmentMetrics>> {
    check_inputs(labels, probabilities)?;
    check_inputs(labels, scores)?;
    if segments.len() != labels.len() {
        return Err(ModelError::LengthMismatch {
            what: format!("segments of `{column}`"),
            expected: labels.len(),
            found: segments.len(),
        });
    }
    let mut members: std::collections::BTreeMap<(usize, &str), Vec<usize>> = Default::default();
    for (i, segment) in segments.iter().enumerate() {
        if let Some(segment) = segment {
            let rank = order.iter().position(|o| o == segment).unwrap_or(order.len());
            members.entry((rank, segment)).or_default().push(i);
        }
    }
    members
        .into_iter()
        .map(|((_, segment), rows)| {
            let pick = |values: &[f64]| -> Vec<f64> { rows.iter().map(|&i| values[i]).collect() };
            let y: Vec<u8> = rows.iter().map(|&i| labels[i]).collect();
            let positives = y.iter().filter(|&&l| l == 1).count();
            let both_classes = positives > 0 && positives < y.len();
            Ok(SegmentMetrics {
                column: column.to_string(),
                segment: segment.to_string(),
                rows: y.len(),
                positives,
                churn_rate: positives as f64 / y.len() as f64,
                roc_auc: both_classes.then(|| roc_auc(&y, &pick(scores))).transpose()?,
                brier: brier(&y, &pick(probabilities))?,
            })
        })
        .collect()
}

/// [`segment_metrics`] of every column of [`SEGMENT_COLUMNS`] that `table` has as categories, for its
/// `rows` (row `rows[i]` has `labels[i]`, `probabilities[i]` and `scores[i]`). Lifecycle stages come
/// in their natural order, other segments alphabetically.
pub fn table_segment_metrics(
    table: &churn_features::FeatureTable,
    rows: &[usize],
    labels: &[u8],
    probabilities: &[f64],
    scores: &[f64],
) -> Result<Vec<SegmentMetrics>> {
    let mut all = Vec::new();
    for name in SEGMENT_COLUMNS {
        let Some(churn_features::ColumnValues::Categorical(values)) = table.column(name).map(|c| &c.values)
        else {
            continue;
        };
        let segments: Vec<Option<&str>> = rows.iter().map(|&i| values[i].as_deref()).collect();
        let order: &[&str] = if name == "lifecycle_stage" {
            &churn_features::engine::segments::LIFECYCLE_STAGES
        } else {
            &[]
        };
        all.extend(segment_metrics(
            name,
            &segments,
            labels,
            probabilities,
            scores,
            order,
        )?);
    }
    Ok(all)
}

/// How good probabilities are as probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilityQuality {
    /// Mean log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error (10 bins).
    pub expected_calibration_error: f64,
    /// 10-bin calibration table.
    pub calibration: Vec<CalibrationBin>,
}

impl ProbabilityQuality {
    /// The quality of `probabilities` against `labels`.
    pub fn of(labels: &[u8], probabilities: &[f64]) -> Result<Self> {
        Ok(Self {
            log_loss: log_loss(labels, probabilities)?,
            brier: brier(labels, probabilities)?,
            expected_calibration_error: expected_calibration_error(labels, probabilities, 10)?,
            calibration: calibration(labels, probabilities)?,
        })
    }
}

/// One kind `--model auto` tried, with its held-out metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The kind.
    pub kind: ModelKind,
    /// Whether it was kept.
    pub chosen: bool,
    /// Held-out ROC AUC.
    pub roc_auc: f64,
    /// Held-out average precision.
    pub pr_auc: f64,
    /// Held-out log loss.
    pub log_loss: f64,
    /// Held-out Brier score.
    pub brier: f64,
    /// Seconds fitting the stored model.
    pub fit_seconds: f64,
}

/// Global importance of one input feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature.
    pub feature: String,
    /// Mean drop of ROC AUC when the feature's values are shuffled across rows.
    pub auc_drop: f64,
    /// For logistic regression, the largest absolute standardised coefficient among the feature's
    /// encoded columns.
    pub standardised_coefficient: Option<f64>,
}

impl Metrics {
    /// Every metric of held-out `labels` and `probabilities`, with the threshold chosen by `rule` on them.
    pub fn compute(labels: &[u8], probabilities: &[f64], rule: ThresholdRule) -> Result<Self> {
        let threshold = rule.choose(labels, probabilities)?;
        Self::at_threshold(labels, probabilities, threshold, rule)
    }

    /// Recomputes the ranking metrics (ROC AUC, PR AUC, lift and capture by decile) from `scores` that
    /// rank the rows as the model does, leaving the probability metrics and the threshold's as they are.
    pub fn rank_by(&mut self, labels: &[u8], scores: &[f64]) -> Result<()> {
        self.roc_auc = roc_auc(labels, scores)?;
        self.pr_auc = average_precision(labels, scores)?;
        self.lift_by_decile = lift_by_decile(labels, scores)?;
        Ok(())
    }

    /// Every metric at a threshold chosen before (e.g. the model's own, when evaluating on new data).
    pub fn at_threshold(
        labels: &[u8],
        probabilities: &[f64],
        threshold: f64,
        rule: ThresholdRule,
    ) -> Result<Self> {
        let confusion = Confusion::at(labels, probabilities, threshold);
        Ok(Self {
            rows: labels.len(),
            positives: labels.iter().filter(|&&l| l == 1).count(),
            roc_auc: roc_auc(labels, probabilities)?,
            pr_auc: average_precision(labels, probabilities)?,
            log_loss: log_loss(labels, probabilities)?,
            brier: brier(labels, probabilities)?,
            threshold,
            threshold_rule: rule,
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            confusion,
            lift_by_decile: lift_by_decile(labels, probabilities)?,
            calibration: calibration(labels, probabilities)?,
            importance: Vec::new(),
            expected_calibration_error: expected_calibration_error(labels, probabilities, 10)?,
            calibration_method: None,
            before_calibration: None,
            candidates: Vec::new(),
            by_segment: Vec::new(),
            population: Population::everyone(),
            population_excluded: 0,
            survival: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixed vectors with ties (scores 0.4, 0.35 and 0.8 repeat across classes).
    const LABELS: [u8; 12] = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0];
    const SCORES: [f64; 12] = [0.1, 0.4, 0.35, 0.8, 0.35, 0.4, 0.8, 0.9, 0.05, 0.2, 0.4, 0.6];

    // Reference values computed once with scikit-learn 1.9.1 on the vectors above:
    //   from sklearn.metrics import roc_auc_score, average_precision_score, log_loss, brier_score_loss
    //   from sklearn.calibration import calibration_curve
    //   roc_auc_score(y, s)            -> 0.5833333333333334
    //   average_precision_score(y, s)  -> 0.6441798941798942
    //   log_loss(y, s)                 -> 0.8335400983259792
    //   brier_score_loss(y, s)         -> 0.28562499999999996
    //   calibration_curve(y, s, n_bins=10) -> prob_true [0.5, 0.0, 0.6, 0.0, 0.5, 1.0]
    //                                         prob_pred [0.075, 0.2, 0.38, 0.6, 0.8, 0.9]
    //   f1_score(y, s >= 0.35)         -> 0.6666666666666666 (also the best F1 over thresholds; 0.05
    //                                      ties with it and the higher threshold is kept)
    #[test]
    fn match_scikit_learn_on_vectors_with_ties() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(roc_auc(&LABELS, &SCORES).expect("auc"), 0.5833333333333334));
        assert!(close(
            average_precision(&LABELS, &SCORES).expect("ap"),
            0.6441798941798942
        ));
        assert!(close(log_loss(&LABELS, &SCORES).expect("ll"), 0.8335400983259792));
        assert!(close(
            brier(&LABELS, &SCORES).expect("brier"),
            0.28562499999999996
        ));
        let table = calibration(&LABELS, &SCORES).expect("calibration");
        let observed: Vec<f64> = table.iter().filter_map(|b| b.observed_rate).collect();
        let predicted: Vec<f64> = table.iter().filter_map(|b| b.mean_predicted).collect();
        let expected_observed = [0.5, 0.0, 0.6, 0.0, 0.5, 1.0];
        let expected_predicted = [0.075, 0.2, 0.38, 0.6, 0.8, 0.9];
        assert_eq!(observed.len(), expected_observed.len());
        for (a, b) in observed.iter().zip(expected_observed) {
            assert!(close(*a, b));
        }
        for (a, b) in predicted.iter().zip(expected_predicted) {
            assert!(close(*a, b), "{a} vs {b}");
        }
        assert!(close(
            Confusion::at(&LABELS, &SCORES, 0.35).f1(),
            0.6666666666666666
        ));
    }

    #[test]
    fn roc_auc_of_all_tied_scores_is_one_half_and_one_class_fails() {
        assert_eq!(roc_auc(&[0, 1, 0, 1], &[0.3; 4]).expect("auc"), 0.5);
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_err());
        assert!(average_precision(&[0, 0], &[0.2, 0.3]).is_err());
        assert!(roc_auc(&[0, 1], &[f64::NAN, 0.3]).is_err());
    }

    #[test]
    fn threshold_rules() {
        // Max F1: over distinct thresholds of the vectors above, 0.35 gives F1 = 2/3 (the best).
        let t = ThresholdRule::MaxF1.choose(&LABELS, &SCORES).expect("f1");
        assert_eq!(t, 0.35);
        // Recall ≥ 0.5 of 6 churners needs 3 true positives: scores ≥ 0.4 give tp = 4 (ties included),
        // ≥ 0.8 give 2, so the highest threshold reaching 3 is 0.4.
        let t = ThresholdRule::TargetRecall { recall: 0.5 }
            .choose(&LABELS, &SCORES)
            .expect("recall");
        assert_eq!(t, 0.4);
        // Profit: a churner kept is worth 10·0.5 = 5, an offer costs 2. At ≥0.9: 5−2 = 3; ≥0.8: 10−6 = 4;
        // ≥0.6: 10−8 = 2; ≥0.4: 20−14 = 6; ≥0.35: 25−18 = 7; ≥0.2: 25−20 = 5 …
        let rule = ThresholdRule::ExpectedProfit {
            offer_cost: 2.0,
            customer_value: 10.0,
            acceptance_rate: 0.5,
        };
        assert_eq!(rule.choose(&LABELS, &SCORES).expect("profit"), 0.35);
        let losing = ThresholdRule::ExpectedProfit {
            offer_cost: 100.0,
            customer_value: 10.0,
            acceptance_rate: 0.5,
        };
        assert_eq!(losing.choose(&LABELS, &SCORES).expect("profit"), 1.0);
    }

    #[test]
    fn expected_calibration_error_agrees_with_the_calibration_table() {
        // By hand from the table checked against scikit-learn above: rows per bin 2, 1, 5, 1, 2, 1, so
        // (2·|0.075 − 0.5| + 1·0.2 + 5·|0.38 − 0.6| + 1·0.6 + 2·0.3 + 1·0.1) / 12 = 3.45 / 12.
        let ece = expected_calibration_error(&LABELS, &SCORES, 10).expect("ece");
        assert!((ece - 3.45 / 12.0).abs() < 1e-12, "{ece}");
        let table = calibration(&LABELS, &SCORES).expect("calibration");
        let from_table: f64 = table
            .iter()
            .filter_map(|b| Some(b.rows as f64 / 12.0 * (b.mean_predicted? - b.observed_rate?).abs()))
            .sum();
        assert!((ece - from_table).abs() < 1e-12);
    }

    #[test]
    fn expected_calibration_error_of_calibrated_bins_is_zero_and_of_a_constant_is_the_gap() {
        // Bin k of 10 holds 20 rows predicted (k + 0.5) / 10, of which 20 · (k + 0.5) / 10 churned.
        let (mut labels, mut probabilities) = (Vec::new(), Vec::new());
        for k in 0..10 {
            let p = (f64::from(k) + 0.5) / 10.0;
            let churned = 2 * k + 1;
            for i in 0..20 {
                labels.push(u8::from(i < churned));
                probabilities.push(p);
            }
        }
        let ece = expected_calibration_error(&labels, &probabilities, 10).expect("ece");
        assert!(ece.abs() < 1e-12, "{ece}");
        // A constant 0.8 where half churned: the gap is 0.3, whatever the number of bins.
        let labels = [0, 1, 0, 1, 1, 0];
        for bins in [1, 3, 10, 1_000, usize::MAX] {
            let ece = expected_calibration_error(&labels, &[0.8; 6], bins).expect("ece");
            assert!((ece - 0.3).abs() < 1e-12, "{bins} bins: {ece}");
        }
        // Edges belong to the bin below, as in `calibration`; 0 belongs to the first bin.
        let ece = expected_calibration_error(&[0, 1, 1], &[0.0, 0.5, 1.0], 2).expect("ece");
        assert!(
            (ece - (2.0 / 3.0 * 0.25 + 1.0 / 3.0 * 0.0)).abs() < 1e-12,
            "{ece}"
        );
    }

    #[test]
    fn expected_calibration_error_rejects_bad_inputs() {
        assert!(matches!(
            expected_calibration_error(&[0, 1], &[0.2, 0.3], 0),
            Err(ModelError::InvalidParameter { name: "bins", .. })
        ));
        assert!(expected_calibration_error(&[], &[], 10).is_err());
        assert!(expected_calibration_error(&[0, 1], &[0.2], 10).is_err());
        assert!(expected_calibration_error(&[0, 1], &[0.2, 1.1], 10).is_err());
        assert!(expected_calibration_error(&[0, 1], &[0.2, f64::NAN], 10).is_err());
        assert!(expected_calibration_error(&[0, 3], &[0.2, 0.3], 10).is_err());
    }

    #[test]
    fn segment_metrics_match_a_hand_computation() {
        // Six rows in two stages, listed active first although at_risk appears first; one row without a
        // stage. at_risk: labels 1, 0, 1 with p 0.8, 0.4, 0.3: the positives beat the negative in one
        // of two pairs, so ROC AUC 1/2; Brier ((0.2)² + 0.4² + 0.7²) / 3 = 0.69 / 3. active: labels 0, 0
        // with p 0.1, 0.3: one class, no ROC AUC; Brier (0.01 + 0.09) / 2 = 0.05.
        let segments = [
            Some("at_risk"),
            Some("active"),
            Some("at_risk"),
            None,
            Some("at_risk"),
            Some("active"),
        ];
        let labels = [1, 0, 0, 1, 1, 0];
        let probabilities = [0.8, 0.1, 0.4, 0.9, 0.3, 0.3];
        let order = ["new", "active", "at_risk", "lapsed"];
        let table = segment_metrics(
            "lifecycle_stage",
            &segments,
            &labels,
            &probabilities,
            &probabilities,
            &order,
        )
        .expect("segments");
        assert_eq!(table.len(), 2);
        let (active, at_risk) = (&table[0], &table[1]);
        assert_eq!(
            (active.segment.as_str(), active.rows, active.positives),
            ("active", 2, 0)
        );
        assert_eq!(active.churn_rate, 0.0);
        assert_eq!(active.roc_auc, None);
        assert!((active.brier - 0.05).abs() < 1e-12, "{}", active.brier);
        assert_eq!(
            (at_risk.segment.as_str(), at_risk.rows, at_risk.positives),
            ("at_risk", 3, 2)
        );
        assert!((at_risk.churn_rate - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(at_risk.roc_auc, Some(0.5));
        assert!((at_risk.brier - 0.69 / 3.0).abs() < 1e-12, "{}", at_risk.brier);
        assert!(table.iter().all(|s| s.column == "lifecycle_stage"));
        // Ranking by other scores changes ROC AUC only; unknown order: alphabetical.
        let scores = [0.8, 0.1, 0.2, 0.9, 0.3, 0.3];
        let table = segment_metrics("rfm_segment", &segments, &labels, &probabilities, &scores, &[])
            .expect("segments");
        assert_eq!(table[0].segment, "active");
        assert_eq!(table[1].roc_auc, Some(1.0));
        assert!((table[1].brier - 0.69 / 3.0).abs() < 1e-12);
        assert!(segment_metrics("x", &segments[..2], &labels, &probabilities, &scores, &[]).is_err());
    }

    #[test]
    fn lift_by_decile_on_a_perfect_ranking() {
        let labels: Vec<u8> = (0..20).map(|i| u8::from(i < 4)).collect();
        let scores: Vec<f64> = (0..20).map(|i| 1.0 - f64::from(i) / 20.0).collect();
        let table = lift_by_decile(&labels, &scores).expect("lift");
        assert_eq!(table.len(), 10);
        assert_eq!(table[0].positives, 2);
        assert!((table[0].lift - 5.0).abs() < 1e-12);
        assert!((table[1].cumulative_capture - 1.0).abs() < 1e-12);
        assert_eq!(table[9].positives, 0);
        assert!((table[9].cumulative_lift - 1.0).abs() < 1e-12);
    }
}
