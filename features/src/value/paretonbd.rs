//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, "Counting your customers: who are they and
//! what will they do next?", Management Science 33(1)): while alive a customer buys at a Poisson rate λ
//! (gamma across customers: shape `r`, rate `α`) and drops out after an exponential lifetime of rate μ
//! (gamma across customers: shape `s`, rate `β`). Likelihood, P(alive) and conditional expected purchases
//! as in Fader & Hardie's note "Deriving an expression for P(X(t) = x) under the Pareto/NBD model" (2005,
//! equations (18)–(20), (36)–(41); the same formulas as `lifetimes`' `ParetoNBDFitter`), with the
//! hypergeometric function in a form that stays finite for any frequency (`lifetimes` overflows above
//! about 300, its issue #25).

use super::error::ValueError;
use super::optimize::{self, Settings};
use super::special::{ln_add_exp, ln_gamma, ln_hypergeometric_pareto, ln_sub_exp};
use super::summary::{Patterns, Summary, block_sum, time_scale};
use super::{FitOptions, Fitted, PurchaseModel};
use serde::Serialize;

/// Pareto/NBD parameters, with `α` and `β` in the summary's period unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParetoNbd {
    /// Shape of the purchase rate's gamma distribution.
    pub r: f64,
    /// Rate of the purchase rate's gamma distribution.
    pub alpha: f64,
    /// Shape of the dropout rate's gamma distribution.
    pub s: f64,
    /// Rate of the dropout rate's gamma distribution.
    pub beta: f64,
}

const MODEL: &str = "Pareto/NBD";

impl ParetoNbd {
    /// The maximum-likelihood Pareto/NBD fit to `summary` (with `options.penalizer`, as
    /// [`super::BgNbd::fit`]: the mean log-likelihood minus `penalizer · (r² + α² + s² + β²)`, times
    /// scaled so the oldest customer is 10 periods old). The gradient is taken by central differences.
    pub fn fit(summary: &Summary<'_>, options: &FitOptions) -> Result<Fitted<Self>, ValueError> {
        options.check()?;
        let figures = summary.figures();
        if figures.repeat_customers == 0 {
            return Err(ValueError::NoRepeatCustomers {
                model: MODEL,
                detail: ", so purchase rates and lifetimes cannot be told apart",
                figures,
            });
        }
        let scale = time_scale(summary);
        let unscaled = Patterns::new(summary);
        let patterns = unscaled.scaled(scale);
        let penalizer = options.penalizer;
        let objective = |theta: &[f64]| {
            let params = Self::from_logs(theta);
            let ll = log_likelihood_sum(&params, &patterns);
            -ll / patterns.total_weight
                + penalizer
                    * (params.r.powi(2) + params.alpha.powi(2) + params.s.powi(2) + params.beta.powi(2))
        };
        let settings = Settings {
            // Central differences are good to about 1e-10.
            gradient_tolerance: 1e-8,
            ..Settings::default()
        };
        let minimum = optimize::minimize(
            |theta, gradient| optimize::numeric_gradient(&objective, theta, gradient),
            &[0.0; 4],
            settings,
        )
        .map_err(|failure| ValueError::NotConverged {
            model: MODEL,
            reason: failure.to_string(),
            figures: figures.clone(),
        })?;
        let scaled = Self::from_logs(&minimum.point);
        let params = Self {
            alpha: scaled.alpha / scale,
            beta: scaled.beta / scale,
            ..scaled
        };
        let log_likelihood = log_likelihood_sum(&params, &unscaled);
        if !log_likelihood.is_finite() {
            return Err(ValueError::NotConverged {
                model: MODEL,
                reason: "the likelihood is not finite at the fitted parameters".into(),
                figures,
            });
        }
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
            s: theta[2].exp(),
            beta: theta[3].exp(),
        }
    }

    /// `ln A₀` of the note's equations (19)–(20):
    /// `ln[₂F₁(r+s+x, c; r+s+x+1; z₁) / (m + t_x)^(r+s+x) − ₂F₁(…; z₂) / (m + T)^(r+s+x)]` with
    /// `m = max(α, β)`, `zᵢ = |α − β| / (m + tᵢ)` and `c = r + x` when `α < β`, else `s + 1`. Each
    /// hypergeometric function is taken in the Euler-transformed form of
    /// [`ln_hypergeometric_pareto`], `NaN` if a series does not converge.
    fn ln_a0(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let (low, high, c) = if alpha < beta {
            (alpha, beta, r + x)
        } else {
            (beta, alpha, s + 1.0)
        };
        let rsx = r + s + x;
        let term = |time: f64| {
            let q = high + time;
            let z = (high - low) / q;
            let series = ln_hypergeometric_pareto(rsx, c, z).unwrap_or(f64::NAN);
            // F / q^(r+s+x) with F = (1 − z)^(1 − c) · series and 1 − z = (low + time) / q.
            (1.0 - c) * ((low + time).ln() - q.ln()) + series - rsx * q.ln()
        };
        ln_sub_exp(term(t_x), term(t))
    }

    /// The log-likelihood of one customer's summary (the note's equation (18)).
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let head = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        head + self.ln_alive_or_dead(x, t_x, t).0
    }

    /// `(ln L₂, ln L_alive)`: the likelihood without its leading factor, `L_alive + L_dead`, and its part
    /// for a customer still alive at `T`, `(α + T)^−(r+x) (β + T)^−s`.
    fn ln_alive_or_dead(&self, x: f64, t_x: f64, t: f64) -> (f64, f64) {
        let Self { r, alpha, s, beta } = *self;
        let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
        let dead = s.ln() + self.ln_a0(x, t_x, t) - (r + s + x).ln();
        (ln_add_exp(alive, dead), alive)
    }
}

impl PurchaseModel for ParetoNbd {
    /// P(alive), the note's equation (37): the alive part of the likelihood over the whole.
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let (total, alive) = self.ln_alive_or_dead(x, t_x, t);
        (alive - total).exp()
    }

    /// The note's equation (41): P(alive) · (r + x)(β + T) / ((α + T)(s − 1)) · (1 − ((β + T) / (β + T +
    /// t))^(s − 1)), with the limit `ln(1 + t / (β + T))` of the last two factors at `s = 1`.
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, s, beta } = *self;
        let horizon = (t / (beta + age)).ln_1p();
        let lifetime_share = if s == 1.0 {
            horizon
        } else {
            -(-(s - 1.0) * horizon).exp_m1() / (s - 1.0)
        };
        self.p_alive(x, t_x, age) * (r + x) * (beta + age) / (alpha + age) * lifetime_share
    }
}

/// The log-likelihood summed over the patterns (with their weights).
fn log_likelihood_sum(params: &ParetoNbd, patterns: &Patterns) -> f64 {
    let ParetoNbd { r, alpha, s, beta } = *params;
    let constant = -ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    let [sum] = block_sum::<1>(patterns.len(), |range, sum| {
        let mut current_x = f64::NAN;
        let mut lg_rx = 0.0;
        for i in range {
            let x = patterns.x[i];
            if x != current_x {
                current_x = x;
                lg_rx = ln_gamma(r + x);
            }
            let (ll, _) = params.ln_alive_or_dead(x, patterns.recency[i], patterns.age[i]);
            sum[0] += patterns.weight[i] * (lg_rx + constant + ll);
        }
    });
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_branches_of_the_hypergeometric_agree_where_alpha_meets_beta() {
        // A₀ has one form for α < β and another for α ≥ β; the likelihood is continuous across them.
        let at = |alpha: f64| {
            ParetoNbd {
                r: 0.5,
                alpha,
                s: 0.6,
                beta: 10.0,
            }
            .log_likelihood(3.0, 20.0, 35.0)
        };
        assert!((at(10.0 - 1e-9) - at(10.0 + 1e-9)).abs() < 1e-7);
    }

    #[test]
    fn expected_purchases_are_continuous_at_s_equal_to_one() {
        let at = |s: f64| {
            ParetoNbd {
                r: 0.5,
                alpha: 8.0,
                s,
                beta: 12.0,
            }
            .expected_purchases(52.0, 4.0, 30.0, 39.0)
        };
        let exact = at(1.0);
        assert!(exact.is_finite() && exact > 0.0);
        assert!((at(1.0 + 1e-9) - exact).abs() < 1e-7);
    }

    #[test]
    fn a_customer_seen_buying_at_the_end_is_alive() {
        let model = ParetoNbd {
            r: 0.5,
            alpha: 8.0,
            s: 0.6,
            beta: 12.0,
        };
        assert!((model.p_alive(5.0, 39.0, 39.0) - 1.0).abs() < 1e-12);
        assert!(model.p_alive(5.0, 2.0, 39.0) < model.p_alive(5.0, 30.0, 39.0));
    }
}
