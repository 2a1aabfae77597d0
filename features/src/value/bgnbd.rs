//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to
//! the Pareto/NBD model", Marketing Science 24(2)): while alive a customer buys at a Poisson rate λ
//! (gamma-distributed across customers, shape `r`, rate `α`), and after each purchase drops out with
//! probability p (beta-distributed, `a`, `b`). Fitted by maximum likelihood, with the likelihood,
//! P(alive) and the conditional expected purchases as in the paper and Hardie's notes (the same formulas
//! as `lifetimes`' `BetaGeoFitter`), written in logarithms so they stay finite for any frequency.

use super::error::ValueError;
use super::optimize::{self, Settings};
use super::special::{digamma, hypergeometric_sum, ln_add_exp, ln_gamma};
use super::summary::{Patterns, Summary, block_sum, time_scale};
use super::{FitOptions, Fitted, PurchaseModel};
use serde::Serialize;

/// BG/NBD parameters, with `α` in the summary's period unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbd {
    /// Shape of the purchase rate's gamma distribution.
    pub r: f64,
    /// Rate (scale in periods) of the purchase rate's gamma distribution.
    pub alpha: f64,
    /// First shape of the dropout probability's beta distribution.
    pub a: f64,
    /// Second shape of the dropout probability's beta distribution.
    pub b: f64,
}

const MODEL: &str = "BG/NBD";

/// Above this many distinct patterns, the fit starts from a fit on a sample of this many.
const WARM_START_PATTERNS: usize = 50_000;

impl BgNbd {
    /// The maximum-likelihood BG/NBD fit to `summary` (with `options.penalizer`, lifetimes'
    /// `penalizer_coef`: the mean log-likelihood minus `penalizer · (r² + α² + a² + b²)`, `α` in times
    /// scaled so the oldest customer is 10 periods old, as lifetimes scales them).
    pub fn fit(summary: &Summary<'_>, options: &FitOptions) -> Result<Fitted<Self>, ValueError> {
        options.check()?;
        let figures = summary.figures();
        if figures.repeat_customers == 0 {
            return Err(ValueError::NoRepeatCustomers {
                model: MODEL,
                detail: ", so purchase rates and dropout cannot be told apart",
                figures,
            });
        }
        let scale = time_scale(summary);
        let unscaled = Patterns::new(summary);
        let patterns = unscaled.scaled(scale);
        let penalizer = options.penalizer;
        // On many patterns, the search starts where a fit on an even sample of them ends, which spares
        // passes over all the patterns. It stops at the same tolerance as from the usual start, though not
        // at the same last digits.
        let start = (patterns.len() > WARM_START_PATTERNS)
            .then(|| {
                let sample = patterns.every(patterns.len().div_ceil(WARM_START_PATTERNS));
                optimize::minimize(
                    negative_mean_log_likelihood(&sample, penalizer),
                    &[0.0; 4],
                    Settings::default(),
                )
                .ok()
            })
            .flatten()
            .map_or([0.0; 4], |minimum| {
                [
                    minimum.point[0],
                    minimum.point[1],
                    minimum.point[2],
                    minimum.point[3],
                ]
            });
        let minimum = optimize::minimize(
            negative_mean_log_likelihood(&patterns, penalizer),
            &start,
            Settings::default(),
        )
        .map_err(|failure| ValueError::NotConverged {
            model: MODEL,
            reason: failure.to_string(),
            figures: figures.clone(),
        })?;
        let scaled = Self::from_logs(&minimum.point);
        let params = Self {
            alpha: scaled.alpha / scale,
            ..scaled
        };
        let log_likelihood = log_likelihood_and_gradient(&params, &unscaled)[0];
        Ok(Fitted {
            params,
            log_likelihood,
            customers: summary.len(),
            iterations: minimum.iterations,
        })
    }

    fn from_logs(theta: &[f64]) -> Self {
        Self {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
        }
    }

    /// The log-likelihood of one customer's summary (equation (6) of the paper, in logarithms).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
            - ln_gamma(b)
            - ln_gamma(a + b + x);
        let survived = -(r + x) * (alpha + t).ln();
        if x == 0.0 {
            return common + survived;
        }
        let dropped = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
        common + ln_add_exp(survived, dropped)
    }

    /// `ln` of the odds that a customer with at least one repeat purchase has dropped out:
    /// `a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x)`.
    fn ln_odds_dead(&self, x: f64, t_x: f64, t: f64) -> f64 {
        self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln())
    }

    /// The expected number of purchases in the next `t` periods of a customer with `x` repeat purchases
    /// and age `age` who is alive now: the conditional expectation of equation (10) of the paper is this
    /// times P(alive), and it does not depend on the recency, so customers who differ only in recency share
    /// it. Equation (10)'s `₂F₁(r + x, b + x; a + b + x − 1; z)`, `z = t / (α + T + t)`, is summed after
    /// Euler's transformation as `(1 − z)^(a − 1 − r − x) · ₂F₁(a + b − 1 − r, a − 1; a + b + x − 1; z)`,
    /// whose series shrinks faster the larger `x` is, and the factor `(1 − z)^(r + x)` of the equation
    /// cancels against the transformation's, so nothing is raised to the power `x`. 0 for `t ≤ 0`.
    pub fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, a, b } = *self;
        let ln_one_minus_z = (alpha + age).ln() - (alpha + age + t).ln();
        let z = t / (alpha + age + t);
        // With A = a + b − 1 − r, B = a − 1, C = a + b + x − 1: ₂F₁(A, B; C; z) = 1 + B · tail, where
        // tail = Σ_{k≥1} (A)_k (B+1)_{k−1} / ((C)_k k!) zᵏ (B taken out of every term), so that
        // 1 − (1 − z)^B · ₂F₁, the share of the alive customer's purchases not yet made, divides by a − 1
        // without cancellation when a is near 1.
        let (big_a, big_b, big_c) = (a + b - 1.0 - r, a - 1.0, a + b + x - 1.0);
        let Some(tail) = hypergeometric_sum(big_a, big_b, big_c, z, 1, big_a / big_c * z) else {
            return f64::NAN;
        };
        let shortfall_over_b = if big_b == 0.0 {
            -(ln_one_minus_z + tail)
        } else {
            -(big_b * ln_one_minus_z + (big_b * tail).ln_1p()).exp_m1() / big_b
        };
        (a + b + x - 1.0) * shortfall_over_b
    }
}

impl PurchaseModel for BgNbd {
    /// P(alive) after Fader, Hardie & Lee's note "Computing P(alive) using the BG/NBD model": 1 for a
    /// customer without repeat purchases (in this model a customer can only drop out right after a
    /// purchase), else `1 / (1 + a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x))`.
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        1.0 / (1.0 + self.ln_odds_dead(x, t_x, t).exp())
    }

    /// Equation (10) of the paper: [`BgNbd::expected_purchases_if_alive`] times [`PurchaseModel::p_alive`].
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> f64 {
        let alive_purchases = self.expected_purchases_if_alive(t, x, age);
        if x == 0.0 {
            return alive_purchases;
        }
        alive_purchases / (1.0 + self.ln_odds_dead(x, t_x, age).exp())
    }
}

/// The objective the fit minimises over the log-parameters: the penalised negative mean log-likelihood of
/// `patterns`, with its gradient written into the second argument.
fn negative_mean_log_likelihood(
    patterns: &Patterns,
    penalizer: f64,
) -> impl Fn(&[f64], &mut [f64]) -> f64 + '_ {
    move |theta, gradient| {
        let params = BgNbd::from_logs(theta);
        let [ll, dr, dalpha, da, db] = log_likelihood_and_gradient(&params, patterns);
        let n = patterns.total_weight;
        let value = -ll / n
            + penalizer * (params.r.powi(2) + params.alpha.powi(2) + params.a.powi(2) + params.b.powi(2));
        // d/d ln θ = θ · d/dθ, and d(θ²)/d ln θ = 2θ².
        gradient[0] = -dr * params.r / n + 2.0 * penalizer * params.r.powi(2);
        gradient[1] = -dalpha * params.alpha / n + 2.0 * penalizer * params.alpha.powi(2);
        gradient[2] = -da * params.a / n + 2.0 * penalizer * params.a.powi(2);
        gradient[3] = -db * params.b / n + 2.0 * penalizer * params.b.powi(2);
        value
    }
}

/// `[ℓ, ∂ℓ/∂r, ∂ℓ/∂α, ∂ℓ/∂a, ∂ℓ/∂b]` summed over the patterns (with their weights).
fn log_likelihood_and_gradient(params: &BgNbd, patterns: &Patterns) -> [f64; 5] {
    let BgNbd { r, alpha, a, b } = *params;
    let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
    let (lg_r, lg_ab, lg_b) = (ln_gamma(r), ln_gamma(a + b), ln_gamma(b));
    let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
    // ln(α + t) and 1 / (α + t) once per distinct time.
    let ln_times: Vec<f64> = patterns.times.iter().map(|&t| (alpha + t).ln()).collect();
    let inverse_times: Vec<f64> = patterns.times.iter().map(|&t| 1.0 / (alpha + t)).collect();
    block_sum::<5>(patterns.len(), |range, sum| {
        let mut current_x = f64::NAN;
        let (mut common, mut d_r_common, mut d_a_common, mut d_b_common, mut ln_b_x) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in range {
            let (x, recency_at, age_at, w) = (
                patterns.x[i],
                patterns.recency_at[i] as usize,
                patterns.age_at[i] as usize,
                patterns.weight[i],
            );
            if x != current_x {
                current_x = x;
                let (lg_rx, lg_bx, lg_abx) = (ln_gamma(r + x), ln_gamma(b + x), ln_gamma(a + b + x));
                let psi_abx = digamma(a + b + x);
                common = lg_rx - lg_r + r * ln_alpha + lg_ab + lg_bx - lg_b - lg_abx;
                d_r_common = digamma(r + x) - psi_r + ln_alpha;
                d_a_common = psi_ab - psi_abx;
                d_b_common = psi_ab + digamma(b + x) - psi_b - psi_abx;
                ln_b_x = if x > 0.0 { (b + x - 1.0).ln() } else { 0.0 };
            }
            let ln_t = ln_times[age_at];
            let survived = -(r + x) * ln_t;
            let (ll, share_dropped, ln_tx) = if x > 0.0 {
                let ln_tx = ln_times[recency_at];
                let dropped = ln_a - ln_b_x - (r + x) * ln_tx;
                // ln(e^survived + e^dropped) and the dropped term's share of the sum, from one exp.
                let difference = dropped - survived;
                let smaller = (-difference.abs()).exp();
                let total = survived.max(dropped) + smaller.ln_1p();
                let share = if difference > 0.0 { 1.0 } else { smaller } / (1.0 + smaller);
                (total, share, ln_tx)
            } else {
                (survived, 0.0, 0.0)
            };
            let share_survived = 1.0 - share_dropped;
            sum[0] += w * (common + ll);
            sum[1] += w * (d_r_common - share_survived * ln_t - share_dropped * ln_tx);
            sum[2] += w
                * (r / alpha
                    - (r + x)
                        * (share_survived * inverse_times[age_at]
                            + share_dropped * inverse_times[recency_at]));
            sum[3] += w * (d_a_common + share_dropped / a);
            sum[4] += w
                * (d_b_common
                    - if x > 0.0 {
                        share_dropped / (b + x - 1.0)
                    } else {
                        0.0
                    });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_is_the_derivative_of_the_likelihood() {
        let x = [0.0, 1.0, 3.0, 3.0, 12.0, 2500.0];
        let t_x = [0.0, 2.5, 7.0, 9.0, 30.0, 3000.0];
        let t = [10.0, 20.0, 30.0, 30.0, 31.0, 3001.0];
        let summary = Summary::new(&x, &t_x, &t).expect("valid");
        let patterns = Patterns::new(&summary);
        let params = BgNbd {
            r: 0.4,
            alpha: 3.0,
            a: 0.8,
            b: 2.5,
        };
        let analytic = log_likelihood_and_gradient(&params, &patterns);
        let by_customer: f64 = (0..x.len())
            .map(|i| params.log_likelihood(x[i], t_x[i], t[i]))
            .sum();
        assert!((analytic[0] - by_customer).abs() < 1e-9 * by_customer.abs());
        for k in 0..4 {
            let shifted = |h: f64| {
                let mut p = params;
                *[&mut p.r, &mut p.alpha, &mut p.a, &mut p.b][k] += h;
                log_likelihood_and_gradient(&p, &patterns)[0]
            };
            let numeric = (shifted(1e-6) - shifted(-1e-6)) / 2e-6;
            assert!(
                (analytic[k + 1] - numeric).abs() < 1e-5 * numeric.abs().max(1.0),
                "{k}: {analytic:?} {numeric}"
            );
        }
    }

    #[test]
    fn expected_purchases_are_continuous_at_a_equal_to_one() {
        let at = |a: f64| {
            BgNbd {
                r: 0.3,
                alpha: 5.0,
                a,
                b: 2.0,
            }
            .expected_purchases(20.0, 2.0, 10.0, 25.0)
        };
        let exact = at(1.0);
        assert!(exact.is_finite() && exact > 0.0);
        assert!((at(1.0 + 1e-9) - exact).abs() < 1e-7 && (at(1.0 - 1e-9) - exact).abs() < 1e-7);
    }
}
