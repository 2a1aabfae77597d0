//! Probability calibration: a monotone map from a model's probability to a better calibrated one, fitted
//! on labelled rows the model did not train on (out-of-fold or held-out predictions).
//!
//! # Methods
//!
//! * **Platt scaling** ([`CalibrationMethod::Platt`]) fits a logistic regression of the label on the
//!   logit of the uncalibrated probability: `p' = σ(a · logit(p) + b)` with `σ(z) = 1 / (1 + e^(−z))`. It
//!   has two parameters, so it needs few rows and cannot overfit much, but it can only bend the
//!   probabilities along a sigmoid. The fit follows Platt (1999), "Probabilistic outputs for support
//!   vector machines": the 0/1 targets are smoothed to `(N₊ + 1) / (N₊ + 2)` for positive rows and
//!   `1 / (N₋ + 2)` for negative rows (a prior that keeps `a` and `b` finite even when the classes are
//!   separable), and the log loss is minimised by Newton's method with a backtracking line search, as
//!   in the refined algorithm of Lin, Lin and Weng (2007), "A note on Platt's probabilistic outputs for
//!   support vector machines". scikit-learn's `sklearn.calibration._sigmoid_calibration` minimises the
//!   same objective (with L-BFGS) but writes the model as `1 / (1 + e^(A·f + B))`, so its `A` and `B` are
//!   the negatives of the `a` and `b` here, and it uses the raw score `f` where this module uses
//!   `logit(p)`. Here `a > 0` means a higher score still means a higher probability, and `a = 1, b = 0`
//!   is the identity.
//! * **Isotonic regression** ([`CalibrationMethod::Isotonic`]) fits the non-decreasing step function
//!   closest to the labels in squared error (weighted pool-adjacent-violators on the rows sorted by
//!   probability, tied probabilities merged into one weighted point). It can fix any monotone
//!   miscalibration but needs many rows, and it maps whole ranges of probabilities to one value, so it
//!   creates ties (ranking metrics such as ROC AUC may move a little). Between the fitted points the
//!   map is interpolated linearly; outside their range it is clamped to the first or last value, as
//!   scikit-learn's `IsotonicRegression(out_of_bounds="clip")`. Points inside a flat run are dropped
//!   (keeping both ends), which does not change the interpolated map.
//! * **Auto** ([`CalibrationMethod::Auto`]) chooses among its candidates
//!   ([`CalibrationMethod::auto_candidates`]: Platt scaling, and isotonic regression from
//!   [`AUTO_ISOTONIC_MIN_ROWS`] rows, since it overfits small sets, as scikit-learn's user guide also
//!   advises). Training judges each candidate out of fold on the calibration rows and, of those that
//!   lower both the log loss and the Brier score, keeps the one with the lowest log loss (none if none
//!   does); [`fit`] alone, with nothing to judge on, takes the last candidate.
//! * **None** fits nothing: [`fit`] returns `Ok(None)`.
//!
//! # Clipping
//!
//! Platt scaling clips its input probability to `[PLATT_CLIP, 1 − PLATT_CLIP]` ([`PLATT_CLIP`] = 1e-12)
//! before taking the logit, both when fitting and in [`Calibrator::apply`], so probabilities of exactly 0
//! or 1 are accepted and the logit stays within about ±27.6. Isotonic regression needs no clipping: its
//! input is clamped to the range of the fitted points. Both always return a value in `[0, 1]` for a
//! probability (or any non-NaN number) on a calibrator that passes [`Calibrator::validate`].

use crate::error::{ModelError, Result};
use crate::logistic::sigmoid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Rows (with both classes present) from which [`CalibrationMethod::Auto`] considers isotonic regression
/// beside Platt scaling. Below it, isotonic regression's step function follows the noise of the few
/// rows in each step, while Platt scaling's two parameters are estimated well.
pub const AUTO_ISOTONIC_MIN_ROWS: usize = 1_000;

/// Platt scaling clips probabilities to `[PLATT_CLIP, 1 − PLATT_CLIP]` before taking their logit.
pub const PLATT_CLIP: f64 = 1e-12;

/// Weight of the uncalibrated probability blended into isotonic output: `(1 − w) · iso(p) + w · p`.
/// Isotonic regression is flat over whole blocks of scores, which would turn customers the model ranks
/// apart into ties (lowering ROC AUC and making call lists arbitrary within a block); this tiny blend
/// makes the map strictly increasing, so calibration keeps the model's ranking, while moving no
/// probability by more than `w`.
pub const ISOTONIC_TIE_BREAK: f64 = 1e-6;

/// Newton iterations of Platt scaling at most (it usually converges in fewer than ten).
const PLATT_MAX_ITERATIONS: usize = 100;

/// Ridge added to the diagonal of Platt scaling's Hessian, as in Lin, Lin and Weng's algorithm.
const PLATT_RIDGE: f64 = 1e-12;

/// Smallest step of Platt scaling's line search before it gives up (the fit is then as good as the
/// floating-point arithmetic allows).
const PLATT_MIN_STEP: f64 = 1e-10;

/// How to calibrate probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CalibrationMethod {
    /// No calibration: probabilities are used as the model gives them.
    None,
    /// Platt scaling: a logistic regression on the logit of the probability.
    Platt,
    /// Isotonic regression: a non-decreasing piecewise-linear map.
    Isotonic,
    /// The candidate of [`CalibrationMethod::auto_candidates`] that calibrates best out of fold, or
    /// none when none helps (see the module documentation).
    #[default]
    Auto,
}

impl CalibrationMethod {
    /// Every method, in the order of their names in [`FromStr`] errors.
    pub const ALL: [CalibrationMethod; 4] = [Self::None, Self::Platt, Self::Isotonic, Self::Auto];

    /// The methods [`CalibrationMethod::Auto`] chooses among for `rows` calibration rows: Platt scaling,
    /// and isotonic regression from [`AUTO_ISOTONIC_MIN_ROWS`] rows.
    pub fn auto_candidates(rows: usize) -> Vec<CalibrationMethod> {
        let mut candidates = vec![Self::Platt];
        if rows >= AUTO_ISOTONIC_MIN_ROWS {
            candidates.push(Self::Isotonic);
        }
        candidates
    }

    /// The method's name, as written by [`fmt::Display`], serde and read by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Platt => "platt",
            Self::Isotonic => "isotonic",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CalibrationMethod {
    type Err = ModelError;

    /// Parses `none`, `platt`, `isotonic` or `auto` (ASCII case and surrounding spaces ignored).
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|method| method.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| ModelError::InvalidParameter {
                name: "calibration",
                reason: format!(
                    "unknown calibration method `{text}`: expected one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ),
            })
    }
}

/// A fitted calibration map from a model's probability to a calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Calibrator {
    /// Platt scaling: `p' = σ(a · logit(clip(p)) + b)` (see the module documentation for the sign
    /// convention and the clipping).
    Platt {
        /// Slope on the logit of the uncalibrated probability.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// Isotonic regression: linear interpolation between the points `(x[i], y[i])`, clamped to `y[0]`
    /// below `x[0]` and to the last `y` above the last `x`.
    Isotonic {
        /// Uncalibrated probabilities, strictly increasing, in `[0, 1]`.
        x: Vec<f64>,
        /// Calibrated probabilities at `x`, non-decreasing, in `[0, 1]`.
        y: Vec<f64>,
    },
}

impl Calibrator {
    /// The calibrated probability of an uncalibrated probability `p`. Never panics: a NaN input gives NaN,
    /// other inputs outside `[0, 1]` are treated as the nearest end. On a calibrator that fails
    /// [`Calibrator::validate`] the result is unspecified (but still no panic).
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Self::Platt { a, b } => sigmoid(a * clipped_logit(p) + b),
            Self::Isotonic { x, y } => {
                (1.0 - ISOTONIC_TIE_BREAK) * interpolate(x, y, p) + ISOTONIC_TIE_BREAK * p.clamp(0.0, 1.0)
            }
        }
    }

    /// [`Calibrator::apply`] to each probability.
    pub fn apply_all(&self, ps: &[f64]) -> Vec<f64> {
        ps.iter().map(|&p| self.apply(p)).collect()
    }

    /// The method that produced this calibrator ([`CalibrationMethod::Platt`] or
    /// [`CalibrationMethod::Isotonic`], never `None` or `Auto`).
    pub fn method(&self) -> CalibrationMethod {
        match self {
            Self::Platt { .. } => CalibrationMethod::Platt,
            Self::Isotonic { .. } => CalibrationMethod::Isotonic,
        }
    }

    /// Checks a calibrator read from disk: finite parameters; for isotonic regression at least one
    /// point, as many `x` as `y`, `x` strictly increasing within `[0, 1]`, `y` non-decreasing within
    /// `[0, 1]`. Returns what is wrong, for the caller to wrap in its own error.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Self::Platt { a, b } => {
                if a.is_finite() && b.is_finite() {
                    Ok(())
                } else {
                    Err(format!(
                        "Platt calibration parameters must be finite, got a = {a}, b = {b}"
                    ))
                }
            }
            Self::Isotonic { x, y } => {
                if x.len() != y.len() {
                    return Err(format!(
                        "isotonic calibration has {} x values but {} y values",
                        x.len(),
                        y.len()
                    ));
                }
                if x.is_empty() {
                    return Err("isotonic calibration has no points".into());
                }
                let unit = |v: &f64| (0.0..=1.0).contains(v);
                if let Some((i, v)) = x.iter().enumerate().find(|(_, v)| !unit(v)) {
                    return Err(format!("isotonic calibration x[{i}] = {v} is not in [0, 1]"));
                }
                if let Some((i, v)) = y.iter().enumerate().find(|(_, v)| !unit(v)) {
                    return Err(format!("isotonic calibration y[{i}] = {v} is not in [0, 1]"));
                }
                if let Some(i) = (1..x.len()).find(|&i| x[i] <= x[i - 1]) {
                    return Err(format!(
                        "isotonic calibration x must be strictly increasing, but x[{}] = {} and x[{i}] = {}",
                        i - 1,
                        x[i - 1],
                        x[i]
                    ));
                }
                if let Some(i) = (1..y.len()).find(|&i| y[i] < y[i - 1]) {
                    return Err(format!(
                        "isotonic calibration y must be non-decreasing, but y[{}] = {} and y[{i}] = {}",
                        i - 1,
                        y[i - 1],
                        y[i]
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Fits a calibrator with `method` on held-out `labels` (0 or 1) and the model's `probabilities` for
/// them. `what` names the rows in error messages (e.g. "the calibration rows (out-of-fold
/// predictions)").
///
/// [`CalibrationMethod::None`] returns `Ok(None)` without looking at the rows. The other methods need
/// as many probabilities as labels (else [`ModelError::LengthMismatch`]), labels of 0 or 1, finite
/// probabilities in `[0, 1]`, and at least 2 rows with both classes (else [`ModelError::Training`]).
/// [`CalibrationMethod::Auto`] fits the last of its candidates for these rows (isotonic regression from
/// [`AUTO_ISOTONIC_MIN_ROWS`] rows, else Platt scaling); training chooses among them out of fold instead.
pub fn fit(
    method: CalibrationMethod,
    labels: &[u8],
    probabilities: &[f64],
    what: &str,
) -> Result<Option<Calibrator>> {
    if method == CalibrationMethod::None {
        return Ok(None);
    }
    let positives = check_rows(labels, probabilities, what)?;
    let rows = labels.len();
    let both_classes = positives > 0 && positives < rows;
    if rows < 2 || !both_classes {
        return Err(ModelError::Training(format!(
            "{method} calibration needs at least 2 rows with both classes (churned and retained) in {what}, \
             got {rows} rows of which {positives} churned"
        )));
    }
    let isotonic = match method {
        CalibrationMethod::Auto => rows >= AUTO_ISOTONIC_MIN_ROWS,
        other => other == CalibrationMethod::Isotonic,
    };
    let calibrator = if isotonic {
        fit_isotonic(labels, probabilities)
    } else {
        fit_platt(labels, probabilities, positives, what)?
    };
    Ok(Some(calibrator))
}

/// Checks lengths, labels and probabilities; returns the number of positive labels.
fn check_rows(labels: &[u8], probabilities: &[f64], what: &str) -> Result<usize> {
    if labels.len() != probabilities.len() {
        return Err(ModelError::LengthMismatch {
            what: format!("probabilities of {what}"),
            expected: labels.len(),
            found: probabilities.len(),
        });
    }
    if let Some((row, label)) = labels.iter().enumerate().find(|(_, l)| **l > 1) {
        return Err(ModelError::Training(format!(
            "{what}: label {label} at row {row} is not 0 or 1"
        )));
    }
    if let Some((row, p)) = probabilities
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        return Err(ModelError::Training(format!(
            "{what}: probability {p} at row {row} is not a finite number in [0, 1]"
        )));
    }
    Ok(labels.iter().filter(|&&l| l == 1).count())
}

/// `logit(p)` with `p` clipped to `[PLATT_CLIP, 1 − PLATT_CLIP]` (NaN stays NaN).
fn clipped_logit(p: f64) -> f64 {
    let p = p.clamp(PLATT_CLIP, 1.0 - PLATT_CLIP);
    (p / (1.0 - p)).ln()
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Platt scaling by Newton's method on the smoothed targets. Inputs are checked and hold both classes.
fn fit_platt(labels: &[u8], probabilities: &[f64], positives: usize, what: &str) -> Result<Calibrator> {
    let negatives = labels.len() - positives;
    let target_positive = (positives as f64 + 1.0) / (positives as f64 + 2.0);
    let target_negative = 1.0 / (negatives as f64 + 2.0);
    let rows: Vec<(f64, f64)> = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let target = if y == 1 { target_positive } else { target_negative };
            (clipped_logit(p), target)
        })
        .collect();
    // Negative log-likelihood of the smoothed targets, Σ t·softplus(−z) + (1 − t)·softplus(z).
    let objective = |a: f64, b: f64| -> f64 {
        rows.iter()
            .map(|&(f, t)| {
                let z = a * f + b;
                t * softplus(-z) + (1.0 - t) * softplus(z)
            })
            .sum()
    };
    // Start from a flat map at the smoothed base rate, as Platt does.
    let (mut a, mut b) = (0.0, ((positives as f64 + 1.0) / (negatives as f64 + 1.0)).ln());
    let mut loss = objective(a, b);
    let gradient_tolerance = 1e-12 * rows.len() as f64;
    for _ in 0..PLATT_MAX_ITERATIONS {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(f, t) in &rows {
            let q = sigmoid(a * f + b);
            let w = q * (1.0 - q);
            ga += (q - t) * f;
            gb += q - t;
            haa += w * f * f;
            hab += w * f;
            hbb += w;
        }
        if ga.abs().max(gb.abs()) <= gradient_tolerance {
            break;
        }
        // Newton direction from the ridged Hessian; the gradient itself when that is not a descent
        // direction (a singular Hessian lost to rounding).
        let (haa, hbb) = (haa + PLATT_RIDGE, hbb + PLATT_RIDGE);
        let det = haa * hbb - hab * hab;
        let mut direction = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        let mut decrease = direction.0 * ga + direction.1 * gb;
        let newton = det > 0.0 && decrease.is_finite() && decrease > 0.0;
        // A Newton step this small moves the parameters by less than rounding noise: converged.
        if newton && direction.0.abs().max(direction.1.abs()) <= 1e-12 * (1.0 + a.abs().max(b.abs())) {
            break;
        }
        if !newton {
            let scale = 1.0 / (haa + hbb);
            direction = (ga * scale, gb * scale);
            decrease = direction.0 * ga + direction.1 * gb;
        }
        // Backtracking (Armijo) line search.
        let mut step = 1.0;
        let accepted = loop {
            let (na, nb) = (a - step * direction.0, b - step * direction.1);
            let new_loss = objective(na, nb);
            if new_loss.is_finite() && new_loss <= loss - 1e-4 * step * decrease {
                break Some((na, nb, new_loss));
            }
            step /= 2.0;
            if step < PLATT_MIN_STEP {
                break None;
            }
        };
        let Some((na, nb, new_loss)) = accepted else {
            break;
        };
        let moved = (na - a).abs().max((nb - b).abs());
        (a, b, loss) = (na, nb, new_loss);
        if moved <= 1e-15 * (1.0 + a.abs().max(b.abs())) {
            break;
        }
    }
    if !(a.is_finite() && b.is_finite()) {
        // Unreachable: only steps with a finite objective are taken. Kept so no NaN can leave.
        return Err(ModelError::Training(format!(
            "Platt calibration on {what} did not converge (a = {a}, b = {b})"
        )));
    }
    Ok(Calibrator::Platt { a, b })
}

/// Weighted pool-adjacent-violators on the rows sorted by probability, ties merged. Inputs are checked.
fn fit_isotonic(labels: &[u8], probabilities: &[f64]) -> Calibrator {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&i, &j| probabilities[i].total_cmp(&probabilities[j]));
    // Distinct probabilities with their weight (rows) and sum of labels.
    let mut points: Vec<(f64, f64, f64)> = Vec::new();
    for &i in &order {
        let (p, y) = (probabilities[i], f64::from(labels[i]));
        match points.last_mut() {
            Some(last) if last.0 == p => {
                last.1 += 1.0;
                last.2 += y;
            }
            _ => points.push((p, 1.0, y)),
        }
    }
    // Blocks of consecutive points: (weight, sum of labels, points in the block). Adjacent blocks end up
    // with strictly increasing means.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(points.len());
    for &(_, weight, sum) in &points {
        blocks.push((weight, sum, 1));
        while let [.., previous, last] = blocks.as_slice() {
            if previous.1 * last.0 < last.1 * previous.0 {
                break;
            }
            let (weight, sum, count) = (previous.0 + last.0, previous.1 + last.1, previous.2 + last.2);
            blocks.pop();
            if let Some(merged) = blocks.last_mut() {
                *merged = (weight, sum, count);
            }
        }
    }
    let fitted: Vec<f64> = blocks
        .iter()
        .flat_map(|&(weight, sum, count)| std::iter::repeat_n(sum / weight, count))
        .collect();
    // Keep the first and last point and every point whose value differs from a neighbour's: the ends of
    // each flat run, which interpolate to the same map.
    let last = fitted.len().saturating_sub(1);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, (&value, point)) in fitted.iter().zip(&points).enumerate() {
        if i == 0 || i == last || fitted[i - 1] != value || fitted[i + 1] != value {
            x.push(point.0);
            y.push(value);
        }
    }
    Calibrator::Isotonic { x, y }
}

/// Linear interpolation between `(x, y)` points, clamped to the end values outside them.
fn interpolate(x: &[f64], y: &[f64], p: f64) -> f64 {
    let n = x.len().min(y.len());
    if p.is_nan() {
        return f64::NAN;
    }
    if n == 0 {
        return p.clamp(0.0, 1.0);
    }
    if p <= x[0] {
        return y[0];
    }
    if p >= x[n - 1] {
        return y[n - 1];
    }
    // Here n ≥ 2 and x[0] < p < x[n − 1]; for sorted x the index is in 1..n.
    let k = x[..n].partition_point(|&xi| xi <= p).max(1).min(n - 1);
    let (x0, x1, y0, y1) = (x[k - 1], x[k], y[k - 1], y[k]);
    if x1 <= x0 {
        return y1;
    }
    // The same arithmetic as scipy's `interp1d(kind="linear")`, kept between the two end values.
    let value = (y1 - y0) / (x1 - x0) * (p - x0) + y0;
    value.max(y0.min(y1)).min(y0.max(y1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{brier, expected_calibration_error};

    const WHAT: &str = "the calibration rows (out-of-fold predictions)";

    /// SplitMix64: a tiny generator that is easy to reproduce outside Rust (the scikit-learn reference
    /// values below were computed on the same stream).
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1), 53 bits.
        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
        }

        fn bernoulli(&mut self, p: f64) -> u8 {
            u8::from(self.uniform() < p)
        }
    }

    fn fitted(method: CalibrationMethod, labels: &[u8], probabilities: &[f64]) -> Calibrator {
        fit(method, labels, probabilities, WHAT)
            .expect("fit")
            .expect("a calibrator")
    }

    /// `n` rows whose true churn probability is `t = 0.2 + 0.6·s`, `s` uniform, with the model's
    /// probability `distort(t)`.
    fn miscalibrated(rng: &mut SplitMix, n: usize, distort: fn(f64) -> f64) -> (Vec<u8>, Vec<f64>) {
        (0..n)
            .map(|_| {
                let truth = 0.2 + 0.6 * rng.uniform();
                (rng.bernoulli(truth), distort(truth))
            })
            .unzip()
    }

    /// The scikit-learn reference data set: 60 rows, probabilities on a 0.05 grid (so with ties and
    /// zeros), true churn probability `0.1 + 0.8·p²`.
    fn reference_rows() -> (Vec<u8>, Vec<f64>) {
        let mut rng = SplitMix(2024);
        (0..60)
            .map(|_| {
                let p = (rng.uniform() * 20.0).floor() / 20.0;
                (rng.bernoulli(0.1 + 0.8 * p * p), p)
            })
            .unzip()
    }

    // Reference values computed once with scikit-learn 1.9.1 (numpy 2.4.6, scipy 1.17.1) on
    // `reference_rows()`, generated in Python with the same SplitMix64 stream and formulas:
    //
    //   import math, numpy as np
    //   M = 2**64 - 1; state = 2024
    //   def uniform():
    //       global state
    //       state = (state + 0x9E3779B97F4A7C15) & M; z = state
    //       z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    //       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    //       return ((z ^ (z >> 31)) >> 11) * 2.0**-53
    //   p, y = [], []
    //   for _ in range(60):
    //       s = math.floor(uniform() * 20.0) / 20.0
    //       p.append(s); y.append(int(uniform() < 0.1 + 0.8 * s * s))
    //   p, y = np.array(p), np.array(y)
    //
    //   from sklearn.calibration import _sigmoid_calibration
    //   from sklearn.isotonic import IsotonicRegression
    //   pc = np.clip(p, 1e-12, 1 - 1e-12); F = np.log(pc / (1 - pc))
    //   A, B = _sigmoid_calibration(F, y)        # A = -1.2195746349024006, B = 0.8784053092766015
    //   iso = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    //   iso.X_thresholds_, iso.y_thresholds_, iso.predict(QUERIES)
    //
    // scikit-learn's sigmoid is 1 / (1 + exp(A·F + B)), so a = −A and b = −B here. It stops L-BFGS at a
    // gradient of 1e-6, so its A and B are within about 1e-7 of the exact optimum (Newton's method run in
    // numpy to convergence gives a = 1.2195746899182374, b = −0.8784053431640834).
    const SKLEARN_PLATT_A: f64 = 1.2195746349024006;
    const SKLEARN_PLATT_B: f64 = -0.8784053092766015;
    const SKLEARN_ISOTONIC_X: [f64; 10] = [0.0, 0.2, 0.25, 0.5, 0.55, 0.6, 0.7, 0.8, 0.85, 0.95];
    const SKLEARN_ISOTONIC_Y: [f64; 10] = [
        0.0,
        0.0,
        0.0625,
        0.0625,
        0.5,
        0.5454545454545454,
        0.5454545454545454,
        0.6666666666666666,
        1.0,
        1.0,
    ];
    const QUERIES: [f64; 12] = [-0.5, 0.0, 0.01, 0.025, 0.1, 0.33, 0.5, 0.72, 0.9, 0.97, 1.0, 1.5];
    const SKLEARN_ISOTONIC_PREDICTIONS: [f64; 12] = [
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0625,
        0.0625,
        0.5696969696969697,
        1.0,
        1.0,
        1.0,
        1.0,
    ];

    #[test]
    fn platt_and_isotonic_match_scikit_learn() {
        let (labels, probabilities) = reference_rows();
        // The same rows as in Python: 21 churned, 19 distinct probabilities.
        assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 21);
        let mut distinct = probabilities.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 19);

        let Calibrator::Platt { a, b } = fitted(CalibrationMethod::Platt, &labels, &probabilities) else {
            panic!("Platt scaling fits a Platt calibrator");
        };
        assert!((a - SKLEARN_PLATT_A).abs() < 1e-6, "a = {a}");
        assert!((b - SKLEARN_PLATT_B).abs() < 1e-6, "b = {b}");
        // Closer still to the fully converged optimum.
        assert!((a - 1.2195746899182374).abs() < 1e-10, "a = {a}");
        assert!((b + 0.8784053431640834).abs() < 1e-10, "b = {b}");

        let isotonic = fitted(CalibrationMethod::Isotonic, &labels, &probabilities);
        let Calibrator::Isotonic { x, y } = &isotonic else {
            panic!("isotonic regression fits an isotonic calibrator");
        };
        assert_eq!(x.as_slice(), SKLEARN_ISOTONIC_X.as_slice());
        assert_eq!(y.len(), SKLEARN_ISOTONIC_Y.len());
        for (got, expected) in y.iter().zip(SKLEARN_ISOTONIC_Y) {
            assert!((got - expected).abs() < 1e-15, "{got} vs {expected}");
        }
        for (q, expected) in QUERIES.into_iter().zip(SKLEARN_ISOTONIC_PREDICTIONS) {
            // Equal up to the tie-breaking blend.
            let got = isotonic.apply(q);
            assert!(
                (got - expected).abs() <= ISOTONIC_TIE_BREAK,
                "at {q}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn platt_recovers_the_parameters_of_a_logistic_model() {
        let (a_true, b_true) = (1.5, -0.7);
        let mut rng = SplitMix(7);
        let (labels, probabilities): (Vec<u8>, Vec<f64>) = (0..20_000)
            .map(|_| {
                let score = -3.0 + 6.0 * rng.uniform();
                (rng.bernoulli(sigmoid(a_true * score + b_true)), sigmoid(score))
            })
            .unzip();
        let Calibrator::Platt { a, b } = fitted(CalibrationMethod::Platt, &labels, &probabilities) else {
            panic!("Platt scaling fits a Platt calibrator");
        };
        assert!((a - a_true).abs() < 0.05, "a = {a}");
        assert!((b - b_true).abs() < 0.05, "b = {b}");
    }

    #[test]
    fn both_methods_improve_brier_and_ece_on_held_out_rows() {
        type Distortion = fn(f64) -> f64;
        let distortions: [(&str, Distortion); 2] = [
            ("squashed toward 0.5", |t| 0.5 + 0.3 * (t - 0.5)),
            ("squared", |t| t * t),
        ];
        for (name, distort) in distortions {
            let mut rng = SplitMix(11);
            let (train_labels, train_probabilities) = miscalibrated(&mut rng, 4_000, distort);
            let (test_labels, test_probabilities) = miscalibrated(&mut rng, 4_000, distort);
            let raw_brier = brier(&test_labels, &test_probabilities).expect("brier");
            let raw_ece = expected_calibration_error(&test_labels, &test_probabilities, 10).expect("ece");
            for method in [CalibrationMethod::Platt, CalibrationMethod::Isotonic] {
                let calibrator = fitted(method, &train_labels, &train_probabilities);
                let calibrated = calibrator.apply_all(&test_probabilities);
                let new_brier = brier(&test_labels, &calibrated).expect("brier");
                let new_ece = expected_calibration_error(&test_labels, &calibrated, 10).expect("ece");
                assert!(
                    new_brier < raw_brier,
                    "{name}, {method}: Brier {new_brier} ≥ {raw_brier}"
                );
                assert!(
                    new_ece < raw_ece / 2.0,
                    "{name}, {method}: ECE {new_ece} vs {raw_ece}"
                );
                assert!(new_ece < 0.03, "{name}, {method}: ECE {new_ece}");
            }
        }
    }

    /// Isotonic values at distinct sorted points by the min-max formula
    /// `f(k) = max_{i ≤ k} min_{j ≥ k} mean(i..=j)`, independent of pool-adjacent-violators.
    fn isotonic_by_min_max(points: &[(f64, f64, f64)]) -> Vec<f64> {
        let mean = |i: usize, j: usize| {
            let (w, s) = points[i..=j]
                .iter()
                .fold((0.0, 0.0), |(w, s), p| (w + p.1, s + p.2));
            s / w
        };
        (0..points.len())
            .map(|k| {
                (0..=k)
                    .map(|i| {
                        (k..points.len())
                            .map(|j| mean(i, j))
                            .fold(f64::INFINITY, f64::min)
                    })
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect()
    }

    #[test]
    fn isotonic_is_monotone_and_optimal_on_random_inputs() {
        let mut rng = SplitMix(3);
        let grid: Vec<f64> = (0..=1000).map(|k| f64::from(k) / 1000.0).collect();
        for trial in 0..200 {
            let n = 2 + (rng.next() % 80) as usize;
            let rate = rng.uniform();
            // Half the trials on a coarse grid, for many ties.
            let coarse = trial % 2 == 0;
            let (labels, probabilities): (Vec<u8>, Vec<f64>) = (0..n)
                .map(|_| {
                    let u = rng.uniform();
                    let p = if coarse { (u * 10.0).floor() / 10.0 } else { u };
                    (rng.bernoulli(rate), p)
                })
                .unzip();
            let positives = labels.iter().filter(|&&l| l == 1).count();
            let result = fit(CalibrationMethod::Isotonic, &labels, &probabilities, WHAT);
            if positives == 0 || positives == n {
                assert!(result.is_err());
                continue;
            }
            let calibrator = result.expect("fit").expect("a calibrator");
            calibrator.validate().expect("valid");
            let outputs = calibrator.apply_all(&grid);
            assert!(outputs.iter().all(|p| (0.0..=1.0).contains(p)));
            assert!(
                outputs.windows(2).all(|w| w[0] <= w[1]),
                "trial {trial}: not monotone"
            );

            // At each distinct probability, the thinned map gives the isotonic regression's value.
            let mut points: Vec<(f64, f64, f64)> = Vec::new();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&i, &j| probabilities[i].total_cmp(&probabilities[j]));
            for i in order {
                match points.last_mut() {
                    Some(last) if last.0 == probabilities[i] => {
                        last.1 += 1.0;
                        last.2 += f64::from(labels[i]);
                    }
                    _ => points.push((probabilities[i], 1.0, f64::from(labels[i]))),
                }
            }
            for (point, expected) in points.iter().zip(isotonic_by_min_max(&points)) {
                let got = calibrator.apply(point.0);
                assert!(
                    (got - expected).abs() <= ISOTONIC_TIE_BREAK,
                    "trial {trial} at {}: {got} vs {expected}",
                    point.0
                );
            }
        }
    }

    #[test]
    fn isotonic_keeps_only_the_ends_of_flat_runs() {
        let labels = [0, 0, 0, 0, 1, 1, 1, 1];
        let probabilities = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
        let calibrator = fitted(CalibrationMethod::Isotonic, &labels, &probabilities);
        assert_eq!(
            calibrator,
            Calibrator::Isotonic {
                x: vec![0.1, 0.4, 0.5, 0.8],
                y: vec![0.0, 0.0, 1.0, 1.0]
            }
        );
        assert!((calibrator.apply(0.45) - 0.5).abs() <= ISOTONIC_TIE_BREAK);
        // Strictly increasing, so customers the model ranks apart stay apart.
        assert!(calibrator.apply(0.2) < calibrator.apply(0.3));
    }

    #[test]
    fn serde_round_trip_gives_identical_outputs() {
        let mut rng = SplitMix(5);
        let (labels, probabilities) = miscalibrated(&mut rng, 2_000, |t| t * t);
        let grid: Vec<f64> = (0..=200).map(|k| f64::from(k) / 200.0).collect();
        for (method, tag) in [
            (CalibrationMethod::Platt, r#""method":"platt""#),
            (CalibrationMethod::Isotonic, r#""method":"isotonic""#),
        ] {
            let calibrator = fitted(method, &labels, &probabilities);
            let json = serde_json::to_string(&calibrator).expect("serialise");
            assert!(json.contains(tag), "{json}");
            let back: Calibrator = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, calibrator);
            back.validate().expect("valid");
            let (before, after) = (calibrator.apply_all(&grid), back.apply_all(&grid));
            assert!(before.iter().zip(&after).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        for method in CalibrationMethod::ALL {
            let json = serde_json::to_string(&method).expect("serialise");
            assert_eq!(json, format!("\"{method}\""));
            assert_eq!(
                serde_json::from_str::<CalibrationMethod>(&json).expect("deserialise"),
                method
            );
        }
    }

    #[test]
    fn one_class_or_one_row_is_an_error_naming_both_classes() {
        for method in [
            CalibrationMethod::Platt,
            CalibrationMethod::Isotonic,
            CalibrationMethod::Auto,
        ] {
            for (labels, probabilities) in [
                (vec![1u8; 1_200], vec![0.3; 1_200]),
                (vec![0, 0, 0], vec![0.1, 0.2, 0.3]),
                (vec![1], vec![0.4]),
                (vec![], vec![]),
            ] {
                let error = fit(method, &labels, &probabilities, WHAT).expect_err("one class");
                assert!(matches!(error, ModelError::Training(_)), "{error:?}");
                let message = error.to_string();
                assert!(message.contains("both classes"), "{message}");
                assert!(message.contains(WHAT), "{message}");
            }
        }
        // No calibration asks nothing of the rows.
        assert_eq!(
            fit(CalibrationMethod::None, &[1, 1], &[0.5, 0.5], WHAT).expect("none"),
            None
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let error = fit(CalibrationMethod::Platt, &[0, 1], &[0.5], WHAT).expect_err("lengths");
        assert!(matches!(
            error,
            ModelError::LengthMismatch {
                expected: 2,
                found: 1,
                ..
            }
        ));
        for bad in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
            for method in [CalibrationMethod::Platt, CalibrationMethod::Isotonic] {
                let error = fit(method, &[0, 1], &[0.5, bad], WHAT).expect_err("bad probability");
                assert!(error.to_string().contains("row 1"), "{error}");
            }
        }
        let error = fit(CalibrationMethod::Platt, &[0, 2], &[0.5, 0.5], WHAT).expect_err("label");
        assert!(error.to_string().contains("label 2"), "{error}");
    }

    #[test]
    fn auto_picks_platt_below_the_threshold_and_isotonic_from_it() {
        let rows = |n: usize| -> (Vec<u8>, Vec<f64>) {
            let mut rng = SplitMix(n as u64);
            miscalibrated(&mut rng, n, |t| t)
        };
        let (labels, probabilities) = rows(AUTO_ISOTONIC_MIN_ROWS - 1);
        let below = fitted(CalibrationMethod::Auto, &labels, &probabilities);
        assert_eq!(below.method(), CalibrationMethod::Platt);
        let (labels, probabilities) = rows(AUTO_ISOTONIC_MIN_ROWS);
        let at = fitted(CalibrationMethod::Auto, &labels, &probabilities);
        assert_eq!(at.method(), CalibrationMethod::Isotonic);
    }

    #[test]
    fn degenerate_inputs_give_finite_calibrators() {
        // Constant probabilities, perfectly separated extremes, and probabilities of exactly 0 and 1.
        let cases: [(&[u8], &[f64]); 3] = [
            (&[0, 1, 0, 1, 1], &[0.4; 5]),
            (&[0, 0, 1, 1], &[0.1, 0.2, 0.8, 0.9]),
            (&[0, 1, 1, 0], &[0.0, 1.0, 1.0, 0.0]),
        ];
        for (labels, probabilities) in cases {
            for method in [CalibrationMethod::Platt, CalibrationMethod::Isotonic] {
                let calibrator = fitted(method, labels, probabilities);
                calibrator.validate().expect("valid");
                for p in [
                    0.0,
                    1e-300,
                    0.4,
                    0.5,
                    1.0,
                    -3.0,
                    7.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ] {
                    let q = calibrator.apply(p);
                    assert!((0.0..=1.0).contains(&q), "{method} at {p}: {q}");
                }
                assert!(calibrator.apply(f64::NAN).is_nan());
            }
        }
        // Constant probabilities: only `a·f + b` is identified, and Platt maps them to the mean smoothed
        // target (3 churned rows with target 4/5, 2 retained rows with target 1/4).
        let Calibrator::Platt { a, b } = fitted(CalibrationMethod::Platt, &[0, 1, 0, 1, 1], &[0.4; 5]) else {
            panic!("Platt");
        };
        let mean_target = (3.0 * (4.0 / 5.0) + 2.0 * (1.0 / 4.0)) / 5.0;
        assert!((sigmoid(a * clipped_logit(0.4) + b) - mean_target).abs() < 1e-9);
    }

    #[test]
    fn validate_rejects_broken_calibrators_and_apply_never_panics() {
        let broken = [
            Calibrator::Platt { a: f64::NAN, b: 0.0 },
            Calibrator::Platt {
                a: 1.0,
                b: f64::INFINITY,
            },
            Calibrator::Isotonic { x: vec![], y: vec![] },
            Calibrator::Isotonic {
                x: vec![0.1, 0.2],
                y: vec![0.5],
            },
            Calibrator::Isotonic {
                x: vec![0.2, 0.1],
                y: vec![0.1, 0.2],
            },
            Calibrator::Isotonic {
                x: vec![0.1, 0.1],
                y: vec![0.1, 0.2],
            },
            Calibrator::Isotonic {
                x: vec![0.1, 0.2],
                y: vec![0.3, 0.2],
            },
            Calibrator::Isotonic {
                x: vec![0.1, 0.2],
                y: vec![0.3, 1.2],
            },
            Calibrator::Isotonic {
                x: vec![-0.1, 0.2],
                y: vec![0.3, 0.4],
            },
            Calibrator::Isotonic {
                x: vec![0.1, f64::NAN],
                y: vec![0.3, 0.4],
            },
        ];
        for calibrator in &broken {
            assert!(calibrator.validate().is_err(), "{calibrator:?}");
            for p in [f64::NAN, -1.0, 0.0, 0.15, 0.5, 1.0, 2.0] {
                let _ = calibrator.apply(p);
            }
        }
        assert!(Calibrator::Platt { a: -2.0, b: 0.3 }.validate().is_ok());
        assert!(
            Calibrator::Isotonic {
                x: vec![0.5],
                y: vec![0.2]
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn method_names_display_and_parse() {
        assert_eq!(CalibrationMethod::default(), CalibrationMethod::Auto);
        for method in CalibrationMethod::ALL {
            assert_eq!(
                method.to_string().parse::<CalibrationMethod>().expect("parse"),
                method
            );
        }
        assert_eq!(
            " Platt ".parse::<CalibrationMethod>().expect("parse"),
            CalibrationMethod::Platt
        );
        let error = "sigmoid"
            .parse::<CalibrationMethod>()
            .expect_err("unknown")
            .to_string();
        assert!(
            error.contains("`sigmoid`") && error.contains("none, platt, isotonic, auto"),
            "{error}"
        );
    }
}
