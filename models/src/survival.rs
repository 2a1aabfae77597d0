//! Time to churn: each row's duration and whether it ended in churn, and the measures of a survival
//! model on them: Harrell's and Uno's concordance, time-dependent ROC AUC, the integrated Brier score
//! with inverse-probability-of-censoring weights and calibration against Kaplan–Meier per risk decile
//! ([`SurvivalMetrics`]).

use crate::error::{ModelError, Result};
use crate::matrix::Matrix;
use crate::model::SurvivalModel;
use serde::{Deserialize, Serialize};

/// What survival models are fitted on and judged against: for each row, the days from its as-of date
/// to its churn (`event` 1) or to the end of what is known about it (`event` 0: censored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Survival<'a> {
    /// Days to churn or censoring, finite and at least 0.
    pub durations: &'a [f64],
    /// 1 when the duration ends in churn, 0 when it is censored.
    pub events: &'a [u8],
}

impl Survival<'_> {
    /// Checks the outcome for `rows` rows: lengths, durations finite and not negative, events 0 or 1,
    /// and at least one churn (without one there is nothing to learn a hazard from). Errors name the
    /// first bad row (counting from 0).
    pub fn check(&self, rows: usize) -> Result<()> {
        for (what, found) in [
            ("durations", self.durations.len()),
            ("churn events", self.events.len()),
        ] {
            if found != rows {
                return Err(ModelError::LengthMismatch {
                    what: what.into(),
                    expected: rows,
                    found,
                });
            }
        }
        if let Some(row) = self.durations.iter().position(|d| !(d.is_finite() && *d >= 0.0)) {
            return Err(ModelError::Training(format!(
                "row {row} has duration {}; durations must be finite and at least 0 days",
                self.durations[row]
            )));
        }
        if let Some(row) = self.events.iter().position(|&e| e > 1) {
            return Err(ModelError::Training(format!(
                "row {row} has churn event {}; it must be 1 (churned) or 0 (censored)",
                self.events[row]
            )));
        }
        if !self.events.contains(&1) {
            return Err(ModelError::Training(format!(
                "no churn among the {rows} rows (every duration is censored): a survival model needs \
                 churns to learn from"
            )));
        }
        Ok(())
    }
}

impl Survival<'_> {
    /// The rows ordered by duration, longest first, and the runs of that order that share a duration:
    /// `(duration, start, end)` with `order[start..end]` the rows of that duration.
    pub(crate) fn longest_first(&self) -> (Vec<usize>, Vec<(f64, usize, usize)>) {
        let n = self.durations.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.durations[b].total_cmp(&self.durations[a]));
        let mut ties = Vec::new();
        let mut start = 0;
        while start < n {
            let duration = self.durations[order[start]];
            let mut end = start + 1;
            while end < n && self.durations[order[end]] == duration {
                end += 1;
            }
            ties.push((duration, start, end));
            start = end;
        }
        (order, ties)
    }
}

/// Harrell's concordance index and its pair counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concordance {
    /// The share of comparable pairs ordered correctly, ties in risk counting one half.
    pub index: f64,
    /// Comparable pairs where the customer who churned first has the higher risk.
    pub concordant: u64,
    /// Comparable pairs where they have the lower risk.
    pub discordant: u64,
    /// Comparable pairs with equal risks.
    pub tied_risk: u64,
}

/// Harrell's concordance index of `risk` (higher = churns sooner) against `outcome`, with the pairs of
/// scikit-survival's `concordance_index_censored`: a churn at `t` is compared with every row whose
/// duration is longer, and with the rows censored at `t` itself; equal risks count one half. Ties in risk
/// are exact equality (scikit-survival counts risks within 1e-8 as tied). O(n log n).
pub fn harrell_concordance(outcome: &Survival<'_>, risk: &[f64]) -> Result<Concordance> {
    weighted_concordance(outcome, risk, &vec![1.0; risk.len()]).map(|(concordance, _)| concordance)
}

/// A Kaplan–Meier estimate: a step function of time, right-continuous.
#[derive(Debug, Clone, PartialEq)]
pub struct KaplanMeier {
    /// The distinct times with a step, ascending.
    pub times: Vec<f64>,
    /// The estimate at each of [`KaplanMeier::times`] (after its step).
    pub values: Vec<f64>,
}

impl KaplanMeier {
    /// The Kaplan–Meier estimate of survival (churn as the event) of `outcome`: at each churn time,
    /// `S ← S·(1 − churns / at risk)`.
    pub fn survival(outcome: &Survival<'_>) -> Self {
        Self::estimate(outcome, false)
    }

    /// The Kaplan–Meier estimate of the censoring distribution `G(t) = P(C > t)` (censoring as the
    /// event), as scikit-survival's `CensoringDistributionEstimator`: at a time with churns and
    /// censorings, the churned rows leave the risk set before the censored ones are counted.
    pub fn censoring(outcome: &Survival<'_>) -> Self {
        Self::estimate(outcome, true)
    }

    fn estimate(outcome: &Survival<'_>, reverse: bool) -> Self {
        let mut order: Vec<usize> = (0..outcome.durations.len()).collect();
        order.sort_by(|&a, &b| outcome.durations[a].total_cmp(&outcome.durations[b]));
        let mut at_risk = order.len() as f64;
        let (mut times, mut values) = (Vec::new(), Vec::new());
        let mut value = 1.0;
        let mut start = 0;
        while start < order.len() {
            let t = outcome.durations[order[start]];
            let mut end = start;
            let mut churned = 0.0;
            while end < order.len() && outcome.durations[order[end]] == t {
                churned += f64::from(outcome.events[order[end]]);
                end += 1;
            }
            let rows = (end - start) as f64;
            let (events, risk) = if reverse {
                (rows - churned, at_risk - churned)
            } else {
                (churned, at_risk)
            };
            if risk > 0.0 {
                value *= 1.0 - events / risk;
            }
            times.push(t);
            values.push(value);
            at_risk -= rows;
            start = end;
        }
        Self { times, values }
    }

    /// The estimate at `t`: 1 before the first time, the value of the last time at or before `t` after.
    pub fn at(&self, t: f64) -> f64 {
        let k = self.times.partition_point(|&s| s <= t);
        if k == 0 { 1.0 } else { self.values[k - 1] }
    }
}

/// Uno's concordance index (Uno et al. 2011, "On the C-statistics for evaluating overall adequacy of
/// risk prediction procedures with censored survival data", Statistics in Medicine 30): Harrell's pairs,
/// each churn at `t` weighted by `1 / G(t)²` with `G` the censoring distribution of `censoring`
/// (normally the training rows), so the index does not depend on the censoring. With `tau`, only
/// churns before `tau` days count (rows at or after it are still compared with), so churn days where
/// `G` has fallen to 0 can be left out. As scikit-survival's `concordance_index_ipcw`; ties in risk are
/// exact equality.
pub fn uno_concordance(
    censoring: &KaplanMeier,
    outcome: &Survival<'_>,
    risk: &[f64],
    tau: Option<f64>,
) -> Result<f64> {
    let mut weights = Vec::with_capacity(risk.len());
    for (&t, &e) in outcome.durations.iter().zip(outcome.events) {
        if tau.is_some_and(|tau| t >= tau) {
            weights.push(0.0);
            continue;
        }
        let g = censoring.at(t);
        if e == 1 && g <= 0.0 {
            return Err(ModelError::Metrics(format!(
                "the censoring distribution is 0 at {t} days, so churns there cannot be weighted"
            )));
        }
        weights.push(if e == 1 { 1.0 / (g * g) } else { 0.0 });
    }
    let concordance = weighted_concordance(outcome, risk, &weights)?;
    Ok(concordance.1)
}

/// Cumulative/dynamic time-dependent ROC AUC at `t` days (Uno et al. 2007; Hung and Chiang 2010): how
/// well `risk` ranks the rows that churned by `t` (weighted by `1 / G(their time)`) above those still
/// active after `t`, ties counting one half; scikit-survival's `cumulative_dynamic_auc`. `None` when `t`
/// has no churn before it or no row after it.
pub fn time_dependent_auc(
    censoring: &KaplanMeier,
    outcome: &Survival<'_>,
    risk: &[f64],
    t: f64,
) -> Option<f64> {
    let mut order: Vec<usize> = (0..risk.len()).collect();
    order.sort_by(|&a, &b| risk[a].total_cmp(&risk[b]));
    let (mut controls_below, mut numerator, mut case_weight) = (0.0, 0.0, 0.0);
    let controls = outcome.durations.iter().filter(|&&d| d > t).count() as f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        let (mut tied_controls, mut tied_case_weight) = (0.0, 0.0);
        while end < order.len() && risk[order[end]] == risk[order[start]] {
            let i = order[end];
            if outcome.durations[i] > t {
                tied_controls += 1.0;
            } else if outcome.events[i] == 1 {
                let g = censoring.at(outcome.durations[i]);
                if g > 0.0 {
                    tied_case_weight += 1.0 / g;
                }
            }
            end += 1;
        }
        numerator += tied_case_weight * (controls_below + 0.5 * tied_controls);
        case_weight += tied_case_weight;
        controls_below += tied_controls;
        start = end;
    }
    (case_weight > 0.0 && controls > 0.0).then(|| numerator / (case_weight * controls))
}

/// The Brier score at `t` days with inverse-probability-of-censoring weights (Graf et al. 1999): rows
/// that churned by `t` weigh `S(t | x)² / G(their time)`, rows active after `t` weigh
/// `(1 − S(t | x))² / G(t)`, rows censored before `t` nothing; the mean over every row. `survival` is each
/// row's predicted `S(t | x)`. As scikit-survival's `brier_score`.
pub fn brier_score(censoring: &KaplanMeier, outcome: &Survival<'_>, survival: &[f64], t: f64) -> f64 {
    let g_t = censoring.at(t);
    let total: f64 = survival
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let d = outcome.durations[i];
            if d <= t && outcome.events[i] == 1 {
                let g = censoring.at(d);
                if g > 0.0 { s * s / g } else { 0.0 }
            } else if d > t && g_t > 0.0 {
                (1.0 - s) * (1.0 - s) / g_t
            } else {
                0.0
            }
        })
        .sum();
    total / survival.len().max(1) as f64
}

/// The integrated Brier score: the Brier scores at `times` (ascending, at least two) integrated by the
/// trapezoidal rule and divided by the time span, as scikit-survival's `integrated_brier_score`.
/// `survival(k)` gives every row's predicted `S(times[k] | x)`.
pub fn integrated_brier_score(
    censoring: &KaplanMeier,
    outcome: &Survival<'_>,
    times: &[f64],
    survival: impl Fn(usize) -> Vec<f64>,
) -> Result<f64> {
    if times.len() < 2 || times.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ModelError::Metrics(
            "the integrated Brier score needs at least two increasing times".into(),
        ));
    }
    let scores: Vec<f64> = (0..times.len())
        .map(|k| brier_score(censoring, outcome, &survival(k), times[k]))
        .collect();
    let area: f64 = times
        .windows(2)
        .zip(scores.windows(2))
        .map(|(t, b)| (t[1] - t[0]) * (b[0] + b[1]) / 2.0)
        .sum();
    Ok(area / (times[times.len() - 1] - times[0]))
}

/// The horizons in days at which survival models are judged (with the model's own horizon).
pub const HORIZONS: [u32; 3] = [30, 60, 90];

/// One customer's time-to-churn answers from a survival model: what `score` writes and the server
/// answers beside the churn probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SurvivalScore {
    /// The probability of churning within 30, 60 and 90 days ([`HORIZONS`]), `1 − S(t | x)`.
    pub churn_within: [f64; 3],
    /// The expected active days over the next [`SurvivalScore::horizon_days`] days (restricted mean
    /// survival time).
    pub expected_active_days: f64,
    /// The model's horizon in days.
    pub horizon_days: u32,
}

impl SurvivalScore {
    /// The answers of `model` for one encoded row.
    pub fn of(model: &dyn SurvivalModel, row: &[f64]) -> Self {
        let days = HORIZONS.map(f64::from);
        let curve = model.survival_curve(row, &days);
        let horizon_days = model.horizon_days();
        Self {
            churn_within: [1.0 - curve[0], 1.0 - curve[1], 1.0 - curve[2]],
            expected_active_days: model.expected_active_days(row, f64::from(horizon_days)),
            horizon_days,
        }
    }
}

/// How well a survival model tells when customers churn, on rows it was not fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurvivalMetrics {
    /// Rows judged.
    pub rows: usize,
    /// Of them, rows whose duration ends in churn.
    pub churns: usize,
    /// Harrell's concordance of the model's risk ([`harrell_concordance`]).
    pub harrell_concordance: f64,
    /// Uno's concordance ([`uno_concordance`]) of the churns before the longest horizon, the censoring
    /// distribution from the same rows; `None` when the censoring distribution falls to 0 before it.
    pub uno_concordance: Option<f64>,
    /// Time-dependent ROC AUC ([`time_dependent_auc`]) at each horizon that has churns before it and
    /// rows after it.
    pub time_dependent_auc: Vec<HorizonValue>,
    /// The integrated Brier score ([`integrated_brier_score`]) over the rows' churn times up to the
    /// longest horizon, with the days it spans.
    pub integrated_brier_score: Option<IntegratedBrier>,
    /// At each horizon within the rows' durations: predicted churn probability against the
    /// Kaplan–Meier estimate of churn by then, per decile of predicted risk.
    pub calibration: Vec<HorizonCalibration>,
    /// The Kaplan–Meier survival of the rows in each third of predicted risk, lowest risk first (for a
    /// plot: the curves should part, the riskiest third falling fastest).
    #[serde(default)]
    pub kaplan_meier_by_risk: Vec<RiskGroupSurvival>,
}

/// The observed survival of one group of rows by predicted risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskGroupSurvival {
    /// The group, e.g. `highest third of risk`.
    pub group: String,
    /// Rows in it.
    pub rows: usize,
    /// The days the Kaplan–Meier estimate steps at, ascending.
    pub days: Vec<f64>,
    /// The estimate after each step.
    pub survival: Vec<f64>,
}

/// A measure at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HorizonValue {
    /// The horizon in days.
    pub days: u32,
    /// The measure there.
    pub value: f64,
}

/// An integrated Brier score and the days it was integrated over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntegratedBrier {
    /// The score.
    pub value: f64,
    /// The first day of the integral.
    pub from_days: f64,
    /// The last day.
    pub to_days: f64,
}

/// Calibration of the churn probability within one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonCalibration {
    /// The horizon in days.
    pub days: u32,
    /// One bin per decile of predicted probability, lowest first.
    pub bins: Vec<SurvivalCalibrationBin>,
}

/// One risk decile of a [`HorizonCalibration`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SurvivalCalibrationBin {
    /// Rows in the bin.
    pub rows: usize,
    /// Their mean predicted churn probability within the horizon.
    pub predicted: f64,
    /// The churn by the horizon observed among them: 1 − their Kaplan–Meier survival at it.
    pub observed: f64,
}

impl SurvivalMetrics {
    /// The metrics of `model` on encoded rows `x` with their outcome.
    pub fn compute(model: &dyn SurvivalModel, x: &Matrix, outcome: &Survival<'_>) -> Result<Self> {
        outcome.check(x.rows())?;
        let risk: Vec<f64> = (0..x.rows()).map(|i| model.risk(x.row(i))).collect();
        let survival_at = |t: f64| -> Vec<f64> {
            (0..x.rows())
                .map(|i| model.survival_curve(x.row(i), &[t])[0])
                .collect()
        };
        Self::of_predictions(&risk, survival_at, model.horizon_days(), outcome)
    }

    /// The metrics of predictions for rows with their outcome: each row's risk, every row's survival at
    /// a day (`survival_at(t)`), and the model's horizon. The rows may have been predicted by different
    /// models, as the out-of-fold predictions of cross-validation are.
    pub fn of_predictions(
        risk: &[f64],
        survival_at: impl Fn(f64) -> Vec<f64>,
        horizon_days: u32,
        outcome: &Survival<'_>,
    ) -> Result<Self> {
        outcome.check(risk.len())?;
        let n = risk.len();
        let mut horizons: Vec<u32> = HORIZONS.to_vec();
        if !horizons.contains(&horizon_days) {
            horizons.push(horizon_days);
            horizons.sort_unstable();
        }
        let longest = outcome.durations.iter().copied().fold(0.0, f64::max);
        let censoring = KaplanMeier::censoring(outcome);
        let time_dependent_auc = horizons
            .iter()
            .filter_map(|&days| {
                time_dependent_auc(&censoring, outcome, risk, f64::from(days))
                    .map(|value| HorizonValue { days, value })
            })
            .collect();
        let last = f64::from(horizons.iter().copied().max().unwrap_or(90));
        let mut times: Vec<f64> = outcome
            .durations
            .iter()
            .zip(outcome.events)
            .filter(|&(&d, &e)| e == 1 && d > 0.0 && d <= last && d < longest && censoring.at(d) > 0.0)
            .map(|(&d, _)| d)
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let integrated_brier_score = (times.len() >= 2)
            .then(|| integrated_brier_score(&censoring, outcome, &times, |k| survival_at(times[k])))
            .transpose()?
            .map(|value| IntegratedBrier {
                value,
                from_days: times[0],
                to_days: times[times.len() - 1],
            });
        let calibration = horizons
            .iter()
            .filter(|&&days| f64::from(days) <= longest)
            .map(|&days| HorizonCalibration {
                days,
                bins: decile_calibration(outcome, &survival_at(f64::from(days)), f64::from(days)),
            })
            .collect();
        Ok(Self {
            kaplan_meier_by_risk: kaplan_meier_by_risk(outcome, risk),
            rows: n,
            churns: outcome.events.iter().filter(|&&e| e == 1).count(),
            harrell_concordance: harrell_concordance(outcome, risk)?.index,
            uno_concordance: uno_concordance(&censoring, outcome, risk, Some(last)).ok(),
            time_dependent_auc,
            integrated_brier_score,
            calibration,
        })
    }
}

/// The Kaplan–Meier survival of the rows in each third of `risk`, lowest first.
fn kaplan_meier_by_risk(outcome: &Survival<'_>, risk: &[f64]) -> Vec<RiskGroupSurvival> {
    let n = risk.len();
    if n < 3 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| risk[a].total_cmp(&risk[b]));
    [
        "lowest third of risk",
        "middle third of risk",
        "highest third of risk",
    ]
    .iter()
    .enumerate()
    .map(|(k, group)| {
        let members = &order[k * n / 3..(k + 1) * n / 3];
        let durations: Vec<f64> = members.iter().map(|&i| outcome.durations[i]).collect();
        let events: Vec<u8> = members.iter().map(|&i| outcome.events[i]).collect();
        let km = KaplanMeier::survival(&Survival {
            durations: &durations,
            events: &events,
        });
        RiskGroupSurvival {
            group: (*group).to_string(),
            rows: members.len(),
            days: km.times,
            survival: km.values,
        }
    })
    .collect()
}

/// Rows in ten groups of (nearly) equal size by predicted churn probability `1 − survival`, each with
/// its mean prediction and its Kaplan–Meier churn by `t`; fewer groups when there are fewer rows.
fn decile_calibration(outcome: &Survival<'_>, survival: &[f64], t: f64) -> Vec<SurvivalCalibrationBin> {
    let n = survival.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| survival[b].total_cmp(&survival[a]));
    let bins = n.min(10);
    (0..bins)
        .map(|k| {
            let members = &order[k * n / bins..(k + 1) * n / bins];
            let durations: Vec<f64> = members.iter().map(|&i| outcome.durations[i]).collect();
            let events: Vec<u8> = members.iter().map(|&i| outcome.events[i]).collect();
            let km = KaplanMeier::survival(&Survival {
                durations: &durations,
                events: &events,
            });
            SurvivalCalibrationBin {
                rows: members.len(),
                predicted: members.iter().map(|&i| 1.0 - survival[i]).sum::<f64>() / members.len() as f64,
                observed: 1.0 - km.at(t),
            }
        })
        .collect()
}

/// Harrell's pair counts with each churn's pairs weighted: (weighted concordance index, comparable
/// pairs). Shared by Harrell's (weights 1) and Uno's index.
fn weighted_concordance(outcome: &Survival<'_>, risk: &[f64], weights: &[f64]) -> Result<(Concordance, f64)> {
    outcome.check(risk.len())?;
    if let Some(row) = risk.iter().position(|r| !r.is_finite()) {
        return Err(ModelError::Metrics(format!(
            "row {row} has a non-finite risk {}",
            risk[row]
        )));
    }
    // Ranks of the distinct risks, from 1, for a Fenwick tree counting the rows added below each risk.
    let mut sorted = risk.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let rank = |r: f64| sorted.partition_point(|&s| s < r) + 1;
    let mut tree = Fenwick::new(sorted.len());
    let (order, ties) = outcome.longest_first();
    let (mut concordant, mut discordant, mut tied_risk) = (0u64, 0u64, 0u64);
    let (mut numerator, mut denominator) = (0.0, 0.0);
    for &(_, start, end) in &ties {
        let group = &order[start..end];
        // The tree holds the rows with longer durations; a churn here is also comparable with the rows
        // censored at the same duration, so they go in first.
        for &i in group.iter().filter(|&&i| outcome.events[i] == 0) {
            tree.add(rank(risk[i]));
        }
        for &i in group.iter().filter(|&&i| outcome.events[i] == 1) {
            let r = rank(risk[i]);
            let lower = tree.prefix(r - 1);
            let equal = tree.prefix(r) - lower;
            concordant += lower;
            tied_risk += equal;
            discordant += tree.total() - lower - equal;
            numerator += weights[i] * (lower as f64 + 0.5 * equal as f64);
            denominator += weights[i] * tree.total() as f64;
        }
        for &i in group.iter().filter(|&&i| outcome.events[i] == 1) {
            tree.add(rank(risk[i]));
        }
    }
    if concordant + discordant + tied_risk == 0 || denominator <= 0.0 {
        return Err(ModelError::Metrics(
            "no comparable pairs: every churn happens at or after the longest other duration".into(),
        ));
    }
    let comparable = (concordant + discordant + tied_risk) as f64;
    let concordance = Concordance {
        index: (concordant as f64 + 0.5 * tied_risk as f64) / comparable,
        concordant,
        discordant,
        tied_risk,
    };
    Ok((concordance, numerator / denominator))
}

/// Counts of ranks 1..=n.
struct Fenwick {
    counts: Vec<u64>,
    total: u64,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Self {
            counts: vec![0; n + 1],
            total: 0,
        }
    }

    fn add(&mut self, mut rank: usize) {
        self.total += 1;
        while rank < self.counts.len() {
            self.counts[rank] += 1;
            rank += rank & rank.wrapping_neg();
        }
    }

    /// Rows added with rank at most `rank`.
    fn prefix(&self, mut rank: usize) -> u64 {
        let mut sum = 0;
        while rank > 0 {
            sum += self.counts[rank];
            rank -= rank & rank.wrapping_neg();
        }
        sum
    }

    fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Harrell's concordance pair by pair, with scikit-survival's comparable pairs.
    fn by_pairs(durations: &[f64], events: &[u8], risk: &[f64]) -> (u64, u64, u64) {
        let (mut concordant, mut discordant, mut tied) = (0, 0, 0);
        for i in 0..durations.len() {
            for j in 0..durations.len() {
                let comparable = events[i] == 1
                    && (durations[j] > durations[i] || (durations[j] == durations[i] && events[j] == 0));
                if !comparable {
                    continue;
                }
                if risk[i] > risk[j] {
                    concordant += 1;
                } else if risk[i] < risk[j] {
                    discordant += 1;
                } else {
                    tied += 1;
                }
            }
        }
        (concordant, discordant, tied)
    }

    /// Durations tied across churned and censored rows, risks tied too.
    const DURATIONS: [f64; 12] = [5.0, 3.0, 9.0, 8.0, 7.0, 4.0, 4.0, 3.0, 2.0, 5.0, 6.0, 6.0];
    const EVENTS: [u8; 12] = [1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0];
    const RISK: [f64; 12] = [0.5, 0.2, 0.9, 0.1, 0.4, 0.8, 0.8, 0.4, -0.3, 1.2, 0.4, 0.5];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // Expected values in these tests: scikit-survival 0.28.0 on the vectors above, with
    // `y = sksurv.util.Surv.from_arrays(events.astype(bool), durations)` and, for the Brier scores,
    // `S = exp(-0.1 * t * exp(risk))` at t = 3, 4, 6 days.

    #[test]
    fn concordance_matches_scikit_survival_on_ties_and_censoring() {
        let outcome = Survival {
            durations: &DURATIONS,
            events: &EVENTS,
        };
        let concordance = harrell_concordance(&outcome, &RISK).expect("concordance");
        assert_eq!(
            (
                concordance.concordant,
                concordance.discordant,
                concordance.tied_risk
            ),
            by_pairs(&DURATIONS, &EVENTS, &RISK)
        );
        // `concordance_index_censored(events, durations, risk)` = (0.2976190476190476, 11, 28, 3, 4).
        assert_eq!(
            (
                concordance.concordant,
                concordance.discordant,
                concordance.tied_risk
            ),
            (11, 28, 3)
        );
        assert!(
            close(concordance.index, 0.2976190476190476),
            "{}",
            concordance.index
        );
        // `concordance_index_ipcw(y, y, risk)[0]`, and with `tau=6.0`.
        let censoring = KaplanMeier::censoring(&outcome);
        let uno = uno_concordance(&censoring, &outcome, &RISK, None).expect("uno");
        assert!(close(uno, 0.36105951064704334), "{uno}");
        let uno = uno_concordance(&censoring, &outcome, &RISK, Some(6.0)).expect("uno");
        assert!(close(uno, 0.3633150058999272), "{uno}");
    }

    #[test]
    fn time_dependent_auc_and_brier_scores_match_scikit_survival() {
        let outcome = Survival {
            durations: &DURATIONS,
            events: &EVENTS,
        };
        let censoring = KaplanMeier::censoring(&outcome);
        let times = [3.0, 4.0, 6.0];
        // `cumulative_dynamic_auc(y, y, risk, [3, 4, 6])[0]`.
        for (t, expected) in times
            .iter()
            .zip([0.05847953216374271, 0.31522468142186455, 0.46834477498093063])
        {
            let auc = time_dependent_auc(&censoring, &outcome, &RISK, *t).expect("auc");
            assert!(close(auc, expected), "AUC({t}) = {auc}, expected {expected}");
        }
        let survival =
            |k: usize| -> Vec<f64> { RISK.iter().map(|r| (-0.1 * times[k] * r.exp()).exp()).collect() };
        // `brier_score(y, y, S, [3, 4, 6])[1]` and `integrated_brier_score(y, y, S, [3, 4, 6])`.
        for (k, expected) in [0.2635814139472996, 0.30301283332041207, 0.3085423269506289]
            .into_iter()
            .enumerate()
        {
            let brier = brier_score(&censoring, &outcome, &survival(k), times[k]);
            assert!(
                close(brier, expected),
                "Brier({}) = {brier}, expected {expected}",
                times[k]
            );
        }
        let integrated = integrated_brier_score(&censoring, &outcome, &times, survival).expect("ibs");
        assert!(close(integrated, 0.2982840946349656), "{integrated}");
    }

    #[test]
    fn kaplan_meier_steps_at_churns_and_the_censoring_estimate_at_censorings() {
        // 1 churn of 12 at risk at day 2: S = 11/12; day 3: 1 churn of 11 → 11/12·10/11 = 10/12.
        let outcome = Survival {
            durations: &DURATIONS,
            events: &EVENTS,
        };
        let survival = KaplanMeier::survival(&outcome);
        assert_eq!(survival.at(1.9), 1.0);
        assert!(close(survival.at(2.0), 11.0 / 12.0));
        assert!(close(survival.at(3.5), 10.0 / 12.0));
        // Censoring: at day 3 the churn leaves first, then 1 censored of the 10 left: G = 9/10.
        let censoring = KaplanMeier::censoring(&outcome);
        assert_eq!(censoring.at(2.0), 1.0);
        assert!(close(censoring.at(3.0), 0.9));
    }

    #[test]
    fn concordance_equals_the_pairwise_count_on_random_data() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(4);
        let n = 400;
        let durations: Vec<f64> = (0..n).map(|_| f64::from(rng.random_range(1..40u32))).collect();
        let events: Vec<u8> = (0..n).map(|_| u8::from(rng.random::<f64>() < 0.6)).collect();
        let risk: Vec<f64> = (0..n).map(|_| f64::from(rng.random_range(0..25u32))).collect();
        let outcome = Survival {
            durations: &durations,
            events: &events,
        };
        let concordance = harrell_concordance(&outcome, &risk).expect("concordance");
        assert_eq!(
            (
                concordance.concordant,
                concordance.discordant,
                concordance.tied_risk
            ),
            by_pairs(&durations, &events, &risk)
        );
    }
}
