//! Cox proportional hazards for time to churn: `h(t | x) = h₀(t)·exp((x − x̄)·β)`.
//!
//! The coefficients maximise the log partial likelihood with Efron's approximation for tied churn times
//! (Efron 1977, "The efficiency of Cox's likelihood function for censored data", JASA 72), less an L2
//! penalty, by Newton's method with step halving. The penalised objective, minimised, is
//!
//! ```text
//! −ℓ(β) / n + ½·l2·‖β‖²
//! ```
//!
//! with `n` the number of rows and `β` on the columns as given (the feature schema's standardised
//! columns). This is lifelines' `penalizer` (it subtracts `n·penalizer·½‖β‖²` from the summed log partial
//! likelihood), on lifelines' own standardised columns when the columns are standardised the same way, so
//! `l2 = 0` is the unpenalised fit of lifelines, R's `coxph` and scikit-survival.
//!
//! The baseline cumulative hazard is Breslow's estimator (Breslow 1972, discussion of Cox's paper, JRSS
//! B 34) at the fitted coefficients, for the centred linear predictor: `H₀(t) = Σ_{tₖ ≤ t} dₖ / Σ_{j: tⱼ ≥
//! tₖ} exp(ηⱼ)` over the distinct churn times `tₖ` with `dₖ` churns, as lifelines computes it. A customer's
//! survival is `S(t | x) = exp(−H₀(t)·exp(η(x)))`, their churn probability within `t` days `1 − S(t | x)`,
//! and their expected active days over a horizon `τ` the restricted mean survival time `∫₀^τ S(t | x) dt`
//! (the mean and the median are often undefined for customers whose curve never falls far enough).
//!
//! Durations are in days throughout. As a [`ChurnModel`](crate::ChurnModel) the model's probability is
//! the churn probability within [`CoxParams::horizon_days`], and contributions add up on the scale of
//! [`ContributionScale::LogCumulativeHazard`](crate::ContributionScale::LogCumulativeHazard): the base is
//! `ln H₀(horizon)`, each encoded column contributes `βⱼ·(xⱼ − x̄ⱼ)` to the log hazard.

use crate::error::{ModelError, Result};
use crate::matrix::Matrix;
use crate::model::{ContributionScale, Overrides, SurvivalModel};
use crate::survival::Survival;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The horizon of a Cox model's churn probability when neither its parameters nor its labels give one.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;

/// Hyperparameters of the Cox model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoxParams {
    /// L2 penalty: `½·l2·‖β‖²` added to the negative mean log partial likelihood (see the module's
    /// documentation; lifelines' `penalizer`). 0 fits without a penalty.
    pub l2: f64,
    /// The horizon in days of the model's churn probability (what `score` and the server call the churn
    /// probability, the threshold and the classification metrics use). Unset, it is the label's horizon
    /// ([`DEFAULT_HORIZON_DAYS`] when the label has none); set, it must equal the label's, so the
    /// probability and the labels it is judged on look equally far ahead.
    pub horizon_days: Option<u32>,
    /// Newton iterations at most.
    pub max_iterations: usize,
    /// Stop when no coefficient moves more than this in an iteration.
    pub tolerance: f64,
}

impl Default for CoxParams {
    fn default() -> Self {
        Self {
            l2: 0.01,
            horizon_days: None,
            max_iterations: 100,
            tolerance: 1e-9,
        }
    }
}

/// A fitted Cox proportional hazards model on encoded inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoxModel {
    /// The parameters it was fitted with.
    pub params: CoxParams,
    /// One coefficient per encoded column: the log hazard ratio of one unit of the column.
    pub coefficients: Vec<f64>,
    /// The training rows' mean of each encoded column; the linear predictor is centred on them.
    pub means: Vec<f64>,
    /// The distinct churn times of the training rows, in days, ascending.
    pub times: Vec<f64>,
    /// Breslow's baseline cumulative hazard at each of [`CoxModel::times`] (for the centred predictor).
    pub cumulative_hazard: Vec<f64>,
    /// The log partial likelihood (Efron) of the training rows at the coefficients, without the penalty.
    pub log_partial_likelihood: f64,
    /// Newton iterations run.
    pub iterations: usize,
    /// Whether the tolerance was reached.
    pub converged: bool,
}

impl CoxParams {
    /// Checks the parameters' domains; called before any data is read.
    pub fn check(&self) -> Result<()> {
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "l2",
                reason: format!("must be finite and at least 0, got {}", self.l2),
            });
        }
        if self.horizon_days == Some(0) {
            return Err(ModelError::InvalidParameter {
                name: "horizon_days",
                reason: "must be at least 1 day".into(),
            });
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "tolerance",
                reason: format!("must be finite and positive, got {}", self.tolerance),
            });
        }
        Ok(())
    }

    /// Fits on encoded rows `x` with each row's duration in days and whether it ended in churn.
    pub fn fit_survival(&self, x: &Matrix, outcome: &Survival<'_>) -> Result<CoxModel> {
        self.check()?;
        outcome.check(x.rows())?;
        let problem = Problem::new(x, outcome);
        let p = x.cols();
        let n = x.rows() as f64;
        let objective = |evaluation: &Efron, beta: &[f64]| {
            -evaluation.log_likelihood / n + 0.5 * self.l2 * dot(beta, beta)
        };
        let mut beta = vec![0.0; p];
        let mut current = problem.evaluate(&beta);
        let mut current_objective = objective(&current, &beta);
        let mut iterations = 0;
        let mut converged = p == 0;
        while iterations < self.max_iterations && !converged {
            iterations += 1;
            // Gradient and Hessian of the objective: −∇ℓ/n + l2·β and I/n + l2·1.
            let gradient: Vec<f64> = current
                .gradient
                .iter()
                .zip(&beta)
                .map(|(g, b)| -g / n + self.l2 * b)
                .collect();
            let mut hessian: Vec<f64> = current.information.iter().map(|h| h / n).collect();
            for j in 0..p {
                hessian[j * p + j] += self.l2;
            }
            let step = crate::logistic::solve_newton(&hessian, &gradient, p);
            let slope = dot(&step, &gradient);
            let mut t = 1.0;
            let (candidate, evaluation, candidate_objective) = loop {
                let candidate: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + t * s).collect();
                let evaluation = problem.evaluate(&candidate);
                let value = objective(&evaluation, &candidate);
                if value <= current_objective + 1e-4 * t * slope {
                    break (candidate, evaluation, value);
                }
                t *= 0.5;
                if t < 1e-10 {
                    // No step along Newton's direction lowers the objective: rounding has the last word
                    // before the tolerance is met. Stop where we are, not converged.
                    break (beta.clone(), current.clone(), current_objective);
                }
            };
            let stalled = t < 1e-10;
            if !candidate_objective.is_finite() {
                return Err(ModelError::Training(
                    "the Cox fit diverged (a column separates churned from other customers?): add an \
                     L2 penalty (l2 in [cox])"
                        .into(),
                ));
            }
            let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
            beta = candidate;
            current = evaluation;
            current_objective = candidate_objective;
            converged = moved <= self.tolerance && !stalled;
            if stalled {
                tracing::warn!(
                    iterations,
                    "the Cox fit stopped before converging: no Newton step lowers the objective any more"
                );
                break;
            }
        }
        let (times, cumulative_hazard) = problem.breslow(&beta);
        Ok(CoxModel {
            params: self.clone(),
            coefficients: beta,
            means: problem.means,
            times,
            cumulative_hazard,
            log_partial_likelihood: current.log_likelihood,
            iterations,
            converged,
        })
    }
}

impl CoxModel {
    /// The centred linear predictor `(x − x̄)·β` of one encoded row: its log hazard ratio against a
    /// customer at the training means.
    pub fn linear_predictor(&self, row: &[f64]) -> f64 {
        self.coefficients
            .iter()
            .zip(row.iter().zip(&self.means))
            .map(|(b, (x, m))| b * (x - m))
            .sum()
    }

    /// The baseline cumulative hazard `H₀(t)` after `days` days (a step function of the churn times).
    pub fn baseline_cumulative_hazard(&self, days: f64) -> f64 {
        let k = self.times.partition_point(|&t| t <= days);
        if k == 0 {
            0.0
        } else {
            self.cumulative_hazard[k - 1]
        }
    }

    /// `S(t | x)`: the probability that the customer of `row` is still a customer after `days` days.
    pub fn survival(&self, row: &[f64], days: f64) -> f64 {
        survival_of(self.baseline_cumulative_hazard(days), self.linear_predictor(row))
    }

    /// `S(t | x)` at each of `days`.
    pub fn survival_curve(&self, row: &[f64], days: &[f64]) -> Vec<f64> {
        let eta = self.linear_predictor(row);
        days.iter()
            .map(|&t| survival_of(self.baseline_cumulative_hazard(t), eta))
            .collect()
    }

    /// The probability that the customer of `row` churns within `days` days: `1 − S(days | x)`.
    pub fn churn_probability(&self, row: &[f64], days: f64) -> f64 {
        1.0 - self.survival(row, days)
    }

    /// The expected active days over the next `horizon` days: the restricted mean survival time
    /// `∫₀^horizon S(t | x) dt`, exact for the step function `S`.
    pub fn expected_active_days(&self, row: &[f64], horizon: f64) -> f64 {
        let eta = self.linear_predictor(row);
        let mut total = 0.0;
        let mut from = 0.0;
        let mut survival = 1.0;
        for (&t, &h) in self.times.iter().zip(&self.cumulative_hazard) {
            if t >= horizon {
                break;
            }
            if t > from {
                total += survival * (t - from);
                from = t;
            }
            survival = survival_of(h, eta);
        }
        total + survival * (horizon - from).max(0.0)
    }

    /// The Efron log partial likelihood of `outcome` on encoded rows `x` at the fitted coefficients (of
    /// held-out rows, say); the same as [`CoxModel::log_partial_likelihood`] on the training rows.
    pub fn log_partial_likelihood_of(&self, x: &Matrix, outcome: &Survival<'_>) -> Result<f64> {
        outcome.check(x.rows())?;
        if x.cols() != self.coefficients.len() {
            return Err(ModelError::LengthMismatch {
                what: "encoded columns".into(),
                expected: self.coefficients.len(),
                found: x.cols(),
            });
        }
        Ok(Problem::new(x, outcome)
            .evaluate(&self.coefficients)
            .log_likelihood)
    }

    /// The horizon of the model's churn probability, in days.
    fn horizon(&self) -> f64 {
        f64::from(SurvivalModel::horizon_days(self))
    }

    /// `ln H₀(horizon)`, the base the contributions add to (a very negative number when no customer
    /// churned by the horizon, so the probability is 0 rather than undefined).
    fn base(&self) -> f64 {
        self.baseline_cumulative_hazard(self.horizon())
            .max(f64::MIN_POSITIVE)
            .ln()
    }
}

/// `exp(−H₀·exp(η))`.
fn survival_of(cumulative_hazard: f64, eta: f64) -> f64 {
    (-cumulative_hazard * eta.exp()).exp()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The rows of a fit, centred, in groups of equal duration from the latest to the earliest.
struct Problem {
    /// Centred rows, row-major, in descending order of duration.
    x: Vec<f64>,
    p: usize,
    /// Each group of equal duration: (duration, first sorted row, end sorted row).
    groups: Vec<(f64, usize, usize)>,
    /// Whether each sorted row churned.
    events: Vec<bool>,
    means: Vec<f64>,
}

/// The Efron log partial likelihood, its gradient and the observed information (the negative Hessian,
/// row-major `p × p`) at one `β`.
#[derive(Clone)]
struct Efron {
    log_likelihood: f64,
    gradient: Vec<f64>,
    information: Vec<f64>,
}

impl Problem {
    fn new(x: &Matrix, outcome: &Survival<'_>) -> Self {
        let (n, p) = (x.rows(), x.cols());
        let mut means = vec![0.0; p];
        for i in 0..n {
            for (m, v) in means.iter_mut().zip(x.row(i)) {
                *m += v;
            }
        }
        for m in &mut means {
            *m /= n.max(1) as f64;
        }
        let (order, groups) = outcome.longest_first();
        let mut centred = Vec::with_capacity(n * p);
        for &i in &order {
            centred.extend(x.row(i).iter().zip(&means).map(|(v, m)| v - m));
        }
        Self {
            x: centred,
            p,
            groups,
            events: order.iter().map(|&i| outcome.events[i] == 1).collect(),
            means,
        }
    }

    fn row(&self, k: usize) -> &[f64] {
        &self.x[k * self.p..(k + 1) * self.p]
    }

    /// Linear predictors of the sorted rows, and the largest (subtracted before `exp`, so risk-set sums
    /// cannot overflow; the log likelihood adds it back).
    fn predictors(&self, beta: &[f64]) -> (Vec<f64>, f64) {
        let eta: Vec<f64> = (0..self.events.len())
            .into_par_iter()
            .map(|k| dot(self.row(k), beta))
            .collect();
        let shift = eta.iter().copied().fold(0.0, f64::max);
        (eta, shift)
    }

    /// Efron's log partial likelihood with gradient and information, in one pass from the latest
    /// duration to the earliest: the risk set of a group is every row of it and of the groups before.
    fn evaluate(&self, beta: &[f64]) -> Efron {
        let p = self.p;
        let (eta, shift) = self.predictors(beta);
        let mut out = Efron {
            log_likelihood: 0.0,
            gradient: vec![0.0; p],
            information: vec![0.0; p * p],
        };
        // Risk-set sums of w = exp(η − shift), w·x and w·x·xᵀ (upper triangle).
        let (mut risk0, mut risk1, mut risk2) = (0.0, vec![0.0; p], vec![0.0; p * p]);
        let (mut tie1, mut tie2) = (vec![0.0; p], vec![0.0; p * p]);
        let (mut d1, mut d2) = (vec![0.0; p], vec![0.0; p * p]);
        for &(_, start, end) in &self.groups {
            let mut tie0 = 0.0;
            tie1.iter_mut().for_each(|v| *v = 0.0);
            tie2.iter_mut().for_each(|v| *v = 0.0);
            let mut churned = 0usize;
            for (k, &eta_k) in eta.iter().enumerate().take(end).skip(start) {
                let row = self.row(k);
                let w = (eta_k - shift).exp();
                risk0 += w;
                add_weighted(&mut risk1, &mut risk2, row, w, p);
                if self.events[k] {
                    churned += 1;
                    tie0 += w;
                    add_weighted(&mut tie1, &mut tie2, row, w, p);
                    out.log_likelihood += eta_k;
                    for (g, v) in out.gradient.iter_mut().zip(row) {
                        *g += v;
                    }
                }
            }
            // Efron: the l-th of m tied churns sees the risk set less l/m of the tied rows' weight.
            for l in 0..churned {
                let a = l as f64 / churned as f64;
                let d0 = risk0 - a * tie0;
                out.log_likelihood -= d0.ln() + shift;
                for j in 0..p {
                    d1[j] = (risk1[j] - a * tie1[j]) / d0;
                }
                for j in 0..p {
                    out.gradient[j] -= d1[j];
                    for k in j..p {
                        d2[j * p + k] = (risk2[j * p + k] - a * tie2[j * p + k]) / d0;
                        out.information[j * p + k] += d2[j * p + k] - d1[j] * d1[k];
                    }
                }
            }
        }
        for j in 0..p {
            for k in 0..j {
                out.information[j * p + k] = out.information[k * p + j];
            }
        }
        out
    }

    /// Breslow's baseline cumulative hazard at the distinct churn times, ascending.
    fn breslow(&self, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (eta, _) = self.predictors(beta);
        let mut risk = 0.0;
        let mut increments = Vec::new();
        for &(duration, start, end) in &self.groups {
            risk += (start..end).map(|k| eta[k].exp()).sum::<f64>();
            let churned = (start..end).filter(|&k| self.events[k]).count();
            if churned > 0 {
                increments.push((duration, churned as f64 / risk));
            }
        }
        increments.reverse();
        let mut cumulative = 0.0;
        increments
            .into_iter()
            .map(|(t, h)| {
                cumulative += h;
                (t, cumulative)
            })
            .unzip()
    }
}

/// Adds `w·row` to `first` and the upper triangle of `w·row·rowᵀ` to `second`.
fn add_weighted(first: &mut [f64], second: &mut [f64], row: &[f64], w: f64, p: usize) {
    for j in 0..p {
        let a = w * row[j];
        first[j] += a;
        for (cell, v) in second[j * p + j..(j + 1) * p].iter_mut().zip(&row[j..]) {
            *cell += a * v;
        }
    }
}

impl crate::model::KindParams for CoxParams {
    type Model = CoxModel;
    const DESCRIPTION: &'static str =
        "Cox proportional hazards (time to churn: churn within 30/60/90 days, expected active days)";
    const SURVIVAL: bool = true;

    fn check(&self) -> Result<()> {
        CoxParams::check(self)
    }

    fn fit(
        &self,
        _x: &Matrix,
        _y: &[u8],
        _validation: Option<crate::model::ValidationSet<'_>>,
        _on_step: &(dyn Fn() + Sync),
    ) -> Result<CoxModel> {
        Err(ModelError::Training(
            "a Cox model is fitted on durations and churn events, not on 0/1 labels: give the feature \
             table a duration (see [labels] duration, or contractual churn dates)"
                .into(),
        ))
    }

    fn fit_survival(
        &self,
        x: &Matrix,
        outcome: &Survival<'_>,
        on_step: &(dyn Fn() + Sync),
    ) -> Result<CoxModel> {
        let model = CoxParams::fit_survival(self, x, outcome)?;
        on_step();
        Ok(model)
    }

    fn follow_label_horizon(&mut self, label_days: Option<u32>) -> Result<()> {
        match (self.horizon_days, label_days) {
            (Some(own), Some(label)) if own != label => Err(ModelError::InvalidParameter {
                name: "horizon_days",
                reason: format!(
                    "is {own} days, but the labels look {label} days ahead, so the churn probability would \
                     be judged against churn in another window: leave horizon_days out of [cox] to use the \
                     labels' {label} days, or build the features with --horizon {own}"
                ),
            }),
            (Some(_), _) => Ok(()),
            (None, label) => {
                self.horizon_days = Some(label.unwrap_or(DEFAULT_HORIZON_DAYS));
                Ok(())
            }
        }
    }

    fn apply(&mut self, overrides: &Overrides) -> Vec<&'static str> {
        Overrides::unused(&[
            ("--class-weight", overrides.class_weight.is_some()),
            ("--trees", overrides.trees.is_some()),
            ("--max-depth", overrides.max_depth.is_some()),
            ("--seed", overrides.seed.is_some()),
        ])
    }
}

impl crate::model::ChurnModel for CoxModel {
    fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
        (0..x.rows())
            .into_par_iter()
            .map(|i| self.churn_probability(x.row(i), self.horizon()))
            .collect()
    }

    fn predict_encoded_row(&self, row: &[f64]) -> f64 {
        self.churn_probability(row, self.horizon())
    }

    fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let contributions = self
            .coefficients
            .iter()
            .zip(row.iter().zip(&self.means))
            .map(|(b, (x, m))| b * (x - m))
            .collect();
        (self.base(), contributions)
    }

    fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix) {
        let mut out = x.clone();
        for i in 0..out.rows() {
            for ((c, b), m) in out.row_mut(i).iter_mut().zip(&self.coefficients).zip(&self.means) {
                *c = b * (*c - m);
            }
        }
        (self.base(), out)
    }

    fn contribution_scale(&self) -> ContributionScale {
        ContributionScale::LogCumulativeHazard
    }

    fn check_loaded(&self, columns: usize) -> std::result::Result<(), String> {
        if self.coefficients.len() != columns || self.means.len() != columns {
            return Err(format!(
                "Cox model has {} coefficients and {} means, the schema encodes {columns} columns",
                self.coefficients.len(),
                self.means.len()
            ));
        }
        if self.times.len() != self.cumulative_hazard.len() {
            return Err(format!(
                "Cox model has {} churn times but {} cumulative hazards",
                self.times.len(),
                self.cumulative_hazard.len()
            ));
        }
        let finite = |values: &[f64]| values.iter().all(|v| v.is_finite());
        if !(finite(&self.coefficients) && finite(&self.means) && finite(&self.times)) {
            return Err("Cox model has non-finite coefficients, means or times".into());
        }
        let increasing = |values: &[f64]| values.windows(2).all(|w| w[0] <= w[1]);
        if !(increasing(&self.times) && increasing(&self.cumulative_hazard))
            || self
                .cumulative_hazard
                .iter()
                .any(|h| !(h.is_finite() && *h >= 0.0))
        {
            return Err("Cox model's baseline hazard is not a non-decreasing step function".into());
        }
        Ok(())
    }

    fn linear_weights(&self) -> Option<&[f64]> {
        Some(&self.coefficients)
    }

    fn as_survival(&self) -> Option<&dyn SurvivalModel> {
        Some(self)
    }
}

impl SurvivalModel for CoxModel {
    fn horizon_days(&self) -> u32 {
        self.params.horizon_days.unwrap_or(DEFAULT_HORIZON_DAYS)
    }

    fn risk(&self, row: &[f64]) -> f64 {
        self.linear_predictor(row)
    }

    fn survival_curve(&self, row: &[f64], days: &[f64]) -> Vec<f64> {
        CoxModel::survival_curve(self, row, days)
    }

    fn expected_active_days(&self, row: &[f64], horizon: f64) -> f64 {
        CoxModel::expected_active_days(self, row, horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Rows with two columns and exponential churn times whose hazard is `0.01·exp(0.8·x₀ − 0.5·x₁)`,
    /// censored at 120 days and rounded up to whole days (so there are many ties).
    fn synthetic(n: usize, seed: u64) -> (Matrix, Vec<f64>, Vec<u8>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Vec::with_capacity(n * 2);
        let (mut durations, mut events) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let row = [rng.random::<f64>() * 2.0 - 1.0, rng.random::<f64>() * 2.0 - 1.0];
            let rate = 0.01 * (0.8 * row[0] - 0.5 * row[1]).exp();
            let time = -(1.0 - rng.random::<f64>()).ln() / rate;
            durations.push(time.min(120.0).ceil());
            events.push(u8::from(time < 120.0));
            data.extend(row);
        }
        (Matrix::from_vec(n, 2, data).expect("shape"), durations, events)
    }

    fn outcome<'a>(durations: &'a [f64], events: &'a [u8]) -> Survival<'a> {
        Survival { durations, events }
    }

    /// The Efron log partial likelihood computed pair by pair from its definition, for the tests.
    fn efron_by_definition(x: &Matrix, durations: &[f64], events: &[u8], beta: &[f64]) -> f64 {
        let eta: Vec<f64> = (0..x.rows()).map(|i| dot(x.row(i), beta)).collect();
        let mut times: Vec<f64> = (0..x.rows())
            .filter(|&i| events[i] == 1)
            .map(|i| durations[i])
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let mut total = 0.0;
        for t in times {
            let tied: Vec<usize> = (0..x.rows())
                .filter(|&i| events[i] == 1 && durations[i] == t)
                .collect();
            let at_risk: f64 = (0..x.rows())
                .filter(|&i| durations[i] >= t)
                .map(|i| eta[i].exp())
                .sum();
            let tied_weight: f64 = tied.iter().map(|&i| eta[i].exp()).sum();
            let m = tied.len() as f64;
            for (l, &i) in tied.iter().enumerate() {
                total += eta[i] - (at_risk - l as f64 / m * tied_weight).ln();
            }
        }
        total
    }

    #[test]
    fn the_log_likelihood_is_efrons_and_its_gradient_its_derivative() {
        let (x, durations, events) = synthetic(300, 5);
        let problem = Problem::new(&x, &outcome(&durations, &events));
        let beta = [0.3, -0.2];
        let evaluation = problem.evaluate(&beta);
        // Centring changes every η by a constant, which the partial likelihood does not see.
        let expected = efron_by_definition(&x, &durations, &events, &beta);
        assert!(
            (evaluation.log_likelihood - expected).abs() < 1e-9 * expected.abs(),
            "{expected}"
        );
        let h = 1e-6;
        for j in 0..2 {
            let mut up = beta;
            up[j] += h;
            let mut down = beta;
            down[j] -= h;
            let numeric =
                (problem.evaluate(&up).log_likelihood - problem.evaluate(&down).log_likelihood) / (2.0 * h);
            assert!(
                (numeric - evaluation.gradient[j]).abs() < 1e-5,
                "{numeric} vs {}",
                evaluation.gradient[j]
            );
            let gradient_up = problem.evaluate(&up).gradient;
            let gradient_down = problem.evaluate(&down).gradient;
            for k in 0..2 {
                let numeric = -(gradient_up[k] - gradient_down[k]) / (2.0 * h);
                assert!(
                    (numeric - evaluation.information[k * 2 + j]).abs() < 1e-4,
                    "{numeric}"
                );
            }
        }
    }

    #[test]
    fn the_fit_is_where_the_penalised_gradient_vanishes_and_recovers_the_hazard_ratios() {
        let (x, durations, events) = synthetic(4000, 9);
        let outcome = outcome(&durations, &events);
        let unpenalised = CoxParams {
            l2: 0.0,
            ..CoxParams::default()
        }
        .fit_survival(&x, &outcome)
        .expect("fit");
        assert!(unpenalised.converged);
        let gradient = Problem::new(&x, &outcome)
            .evaluate(&unpenalised.coefficients)
            .gradient;
        assert!(gradient.iter().all(|g| g.abs() < 1e-6), "{gradient:?}");
        let [b0, b1] = [unpenalised.coefficients[0], unpenalised.coefficients[1]];
        assert!((b0 - 0.8).abs() < 0.1 && (b1 + 0.5).abs() < 0.1, "{b0} {b1}");

        let l2 = 0.05;
        let penalised = CoxParams {
            l2,
            ..CoxParams::default()
        }
        .fit_survival(&x, &outcome)
        .expect("fit");
        let gradient = Problem::new(&x, &outcome)
            .evaluate(&penalised.coefficients)
            .gradient;
        let n = x.rows() as f64;
        for (g, b) in gradient.iter().zip(&penalised.coefficients) {
            assert!((-g / n + l2 * b).abs() < 1e-9, "{g} {b}");
        }
        assert!(penalised.coefficients[0].abs() < b0.abs());
    }

    #[test]
    fn survival_is_breslows_step_function_and_expected_days_its_area() {
        // Three customers at the mean (x = 0): churns at 10 and 20, one censored at 30. With β
        // irrelevant (one constant column), H₀(10) = 1/3, H₀(20) = 1/3 + 1/2.
        let x = Matrix::from_vec(3, 1, vec![1.0, 1.0, 1.0]).expect("shape");
        let (durations, events) = ([10.0, 20.0, 30.0], [1, 1, 0]);
        let model = CoxParams {
            l2: 0.0,
            ..CoxParams::default()
        }
        .fit_survival(&x, &outcome(&durations, &events))
        .expect("fit");
        assert_eq!(model.times, [10.0, 20.0]);
        assert!((model.cumulative_hazard[1] - 5.0 / 6.0).abs() < 1e-12);
        let row = [1.0];
        assert_eq!(model.survival(&row, 9.9), 1.0);
        assert!((model.survival(&row, 10.0) - (-1.0_f64 / 3.0).exp()).abs() < 1e-12);
        assert!((model.churn_probability(&row, 25.0) - (1.0 - (-5.0_f64 / 6.0).exp())).abs() < 1e-12);
        // ∫₀^25 S = 10·1 + 10·e^(−1/3) + 5·e^(−5/6).
        let expected = 10.0 + 10.0 * (-1.0_f64 / 3.0).exp() + 5.0 * (-5.0_f64 / 6.0).exp();
        assert!((model.expected_active_days(&row, 25.0) - expected).abs() < 1e-12);
        assert!((model.expected_active_days(&row, 5.0) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn contributions_add_up_to_the_log_cumulative_hazard_at_the_horizon() {
        use crate::model::ChurnModel;
        let (x, durations, events) = synthetic(500, 2);
        let model = CoxParams::default()
            .fit_survival(&x, &outcome(&durations, &events))
            .expect("fit");
        let row = x.row(7);
        let (base, contributions) = model.contributions_encoded(row);
        let total = base + contributions.iter().sum::<f64>();
        let probability = model.predict_encoded_row(row);
        assert!((ContributionScale::LogCumulativeHazard.probability(total) - probability).abs() < 1e-12);
        assert!((probability - model.churn_probability(row, 90.0)).abs() < 1e-15);
        let (batch_base, batch) = model.contributions_encoded_batch(&x);
        assert_eq!(batch_base, base);
        assert_eq!(batch.row(7), contributions.as_slice());
        assert!(model.check_loaded(2).is_ok());
    }

    #[test]
    fn bad_outcomes_and_parameters_are_refused() {
        let x = Matrix::from_vec(3, 1, vec![0.0, 1.0, 2.0]).expect("shape");
        let fit = |durations: &[f64], events: &[u8]| {
            CoxParams::default()
                .fit_survival(&x, &outcome(durations, events))
                .expect_err("refused")
                .to_string()
        };
        assert!(fit(&[1.0, -2.0, 3.0], &[1, 0, 1]).contains("row 1"));
        assert!(fit(&[1.0, f64::NAN, 3.0], &[1, 0, 1]).contains("row 1"));
        assert!(fit(&[1.0, 2.0, 3.0], &[0, 0, 0]).contains("no churn"));
        assert!(fit(&[1.0, 2.0, 3.0], &[0, 2, 0]).contains("row 1"));
        let error = CoxParams {
            l2: -1.0,
            ..CoxParams::default()
        }
        .check()
        .expect_err("negative");
        assert!(error.to_string().contains("`l2`"));
    }
}
