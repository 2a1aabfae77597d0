//! The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
//! curves for customer base analysis", Journal of Marketing Research 42(4); Fader & Hardie's note "The
//! Gamma-Gamma model of monetary value", 2013): a customer's spends are gamma with shape `p` around their
//! own mean, whose rate is gamma across customers (shape `q`, rate `v`). Fitted on the customers with
//! repeat purchases and a positive mean repeat spend, as `lifetimes`' `GammaGammaFitter` is; the expected
//! spend per purchase is the note's equation (5), a weighted mean of the customer's own mean and the
//! population's.

use super::error::ValueError;
use super::optimize::{self, Settings};
use super::special::{digamma, ln_gamma};
use super::summary::{DataFigures, block_sum};
use super::{FitOptions, Fitted};
use rayon::prelude::*;
use serde::Serialize;

/// Gamma-Gamma parameters, with `v` in the currency of the spends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaGamma {
    /// Shape of a customer's spend distribution.
    pub p: f64,
    /// Shape of the distribution of the customers' spend rates.
    pub q: f64,
    /// Rate of the distribution of the customers' spend rates.
    pub v: f64,
}

const MODEL: &str = "Gamma-Gamma";

/// Above this many distinct (frequency, spend) pairs, the fit starts from a fit on a sample of this many.
const WARM_START_PAIRS: usize = 50_000;

impl GammaGamma {
    /// The maximum-likelihood fit on the customers with `frequency > 0` and `monetary > 0` (mean spend
    /// per repeat purchase period); the others are left out, as `lifetimes` requires. With
    /// `options.penalizer`, the mean log-likelihood minus `penalizer · (p² + q² + v²)`, as `lifetimes`.
    /// A fit with `q ≤ 1`, where the expected spend is infinite, is an error.
    pub fn fit(
        frequency: &[f64],
        monetary: &[f64],
        options: &FitOptions,
    ) -> Result<Fitted<Self>, ValueError> {
        options.check()?;
        if frequency.len() != monetary.len() {
            return Err(ValueError::InvalidSummary {
                customer: 0,
                reason: format!(
                    "the columns differ in length: {} frequencies, {} monetary values",
                    frequency.len(),
                    monetary.len()
                ),
            });
        }
        let mut pairs: Vec<(f64, f64)> = frequency
            .par_iter()
            .zip(monetary)
            .filter(|&(&x, &m)| x > 0.0 && m > 0.0 && x.is_finite() && m.is_finite())
            .map(|(&x, &m)| (x, m))
            .collect();
        let figures = spend_figures(frequency, &pairs);
        if pairs.is_empty() {
            return Err(ValueError::NoRepeatCustomers {
                model: MODEL,
                detail: " with a positive spend, so the spread of spend across customers is unknown",
                figures,
            });
        }
        pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        // Spends in units of their mean, so the optimiser starts near the answer; v scales back.
        let scale = pairs.iter().map(|p| p.1).sum::<f64>() / pairs.len() as f64;
        let data = SpendData::new(&pairs, scale);
        let penalizer = options.penalizer;
        // On much data, the search starts where a fit on an even sample of it ends (see BG/NBD's fit).
        let start = (data.x.len() > WARM_START_PAIRS)
            .then(|| {
                let sample = data.every(data.x.len().div_ceil(WARM_START_PAIRS));
                optimize::minimize(sample.objective(scale, penalizer), &[0.0; 3], Settings::default()).ok()
            })
            .flatten()
            .map_or([0.0; 3], |minimum| {
                [minimum.point[0], minimum.point[1], minimum.point[2]]
            });
        let minimum = optimize::minimize(data.objective(scale, penalizer), &start, Settings::default())
            .map_err(|failure| ValueError::NotConverged {
                model: MODEL,
                reason: failure.to_string(),
                figures: figures.clone(),
            })?;
        let params = Self {
            p: minimum.point[0].exp(),
            q: minimum.point[1].exp(),
            v: minimum.point[2].exp() * scale,
        };
        if params.q <= 1.0 {
            return Err(ValueError::InfiniteMeanSpend { q: params.q, figures });
        }
        let log_likelihood = pairs.iter().map(|&(x, m)| params.log_likelihood(x, m)).sum();
        Ok(Fitted {
            params,
            log_likelihood,
            customers: pairs.len(),
            iterations: minimum.iterations,
        })
    }

    /// The log-likelihood of one customer's mean spend `m` over `x` repeat purchases (the note's (1a)).
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let Self { p, q, v } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * v.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (x * m + v).ln()
    }

    /// The mean spend per purchase across customers, `p v / (q − 1)`.
    pub fn population_mean_spend(&self) -> f64 {
        self.p * self.v / (self.q - 1.0)
    }

    /// The expected spend per purchase of a customer with `x` repeat purchases of mean spend `m`: `(1 −
    /// w) · p v / (q − 1) + w · m`, `w = p x / (p x + q − 1)`. A customer without repeat purchases gets
    /// the population's mean.
    pub fn expected_spend(&self, x: f64, m: f64) -> f64 {
        let Self { p, q, .. } = *self;
        if x <= 0.0 {
            return self.population_mean_spend();
        }
        let weight = p * x / (p * x + q - 1.0);
        (1.0 - weight) * self.population_mean_spend() + weight * m
    }
}

fn spend_figures(frequency: &[f64], pairs: &[(f64, f64)]) -> DataFigures {
    let n = pairs.len().max(1) as f64;
    DataFigures {
        customers: frequency.len(),
        repeat_customers: frequency.iter().filter(|&&x| x > 0.0).count(),
        mean_frequency: pairs.iter().map(|p| p.0).sum::<f64>() / n,
        max_frequency: pairs.iter().fold(0.0, |m: f64, p| m.max(p.0)),
        mean_age: f64::NAN,
        max_age: f64::NAN,
        mean_spend: Some(pairs.iter().map(|p| p.1).sum::<f64>() / n),
    }
}

/// Distinct `(x, m)` with counts, `m` divided by the scale, `ln m` kept.
struct SpendData {
    x: Vec<f64>,
    m: Vec<f64>,
    ln_m: Vec<f64>,
    weight: Vec<f64>,
    total_weight: f64,
}

impl SpendData {
    fn new(sorted: &[(f64, f64)], scale: f64) -> Self {
        let mut data = Self {
            x: Vec::new(),
            m: Vec::new(),
            ln_m: Vec::new(),
            weight: Vec::new(),
            total_weight: sorted.len() as f64,
        };
        let mut previous = None;
        for &(x, m) in sorted {
            if previous == Some((x, m)) {
                if let Some(w) = data.weight.last_mut() {
                    *w += 1.0;
                }
                continue;
            }
            previous = Some((x, m));
            data.x.push(x);
            data.m.push(m / scale);
            data.ln_m.push((m / scale).ln());
            data.weight.push(1.0);
        }
        data
    }

    /// The objective the fit minimises over the log-parameters: the penalised negative mean
    /// log-likelihood (spends in units of `scale`), with its gradient written into the second argument.
    fn objective(&self, scale: f64, penalizer: f64) -> impl Fn(&[f64], &mut [f64]) -> f64 + '_ {
        move |theta, gradient| {
            let (p, q, v) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
            let [ll, dp, dq, dv] = self.log_likelihood_and_gradient(p, q, v);
            let n = self.total_weight;
            let v_original = v * scale;
            gradient[0] = -dp * p / n + 2.0 * penalizer * p * p;
            gradient[1] = -dq * q / n + 2.0 * penalizer * q * q;
            gradient[2] = -dv * v / n + 2.0 * penalizer * v_original * v_original;
            -ll / n + penalizer * (p * p + q * q + v_original * v_original)
        }
    }

    /// Every `step`-th distinct pair (in sorted order, so spread over all frequencies and spends), with
    /// its weight.
    fn every(&self, step: usize) -> Self {
        let pick = |values: &[f64]| -> Vec<f64> { values.iter().step_by(step.max(1)).copied().collect() };
        let weight = pick(&self.weight);
        Self {
            x: pick(&self.x),
            m: pick(&self.m),
            ln_m: pick(&self.ln_m),
            total_weight: weight.iter().sum(),
            weight,
        }
    }

    /// `[ℓ, ∂ℓ/∂p, ∂ℓ/∂q, ∂ℓ/∂v]` summed over the data (with their weights).
    fn log_likelihood_and_gradient(&self, p: f64, q: f64, v: f64) -> [f64; 4] {
        let (lg_q, psi_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        block_sum::<4>(self.x.len(), |range, sum| {
            let mut current_x = f64::NAN;
            let (mut head, mut psi_pxq, mut psi_px, mut ln_x) = (0.0, 0.0, 0.0, 0.0);
            for i in range {
                let (x, m, ln_m, w) = (self.x[i], self.m[i], self.ln_m[i], self.weight[i]);
                if x != current_x {
                    current_x = x;
                    ln_x = x.ln();
                    head = ln_gamma(p * x + q) - ln_gamma(p * x) - lg_q + q * ln_v + p * x * ln_x;
                    psi_pxq = digamma(p * x + q);
                    psi_px = digamma(p * x);
                }
                let ln_total = (x * m + v).ln();
                sum[0] += w * (head + (p * x - 1.0) * ln_m - (p * x + q) * ln_total);
                sum[1] += w * x * (psi_pxq - psi_px + ln_m + ln_x - ln_total);
                sum[2] += w * (psi_pxq - psi_q + ln_v - ln_total);
                sum[3] += w * (q / v - (p * x + q) / (x * m + v));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_is_the_derivative_of_the_likelihood() {
        let pairs = [
            (1.0, 12.0),
            (1.0, 30.0),
            (4.0, 22.5),
            (40.0, 18.0),
            (3000.0, 25.0),
        ];
        let data = SpendData::new(&pairs, 1.0);
        let (p, q, v) = (5.0, 3.0, 14.0);
        let analytic = data.log_likelihood_and_gradient(p, q, v);
        let model = GammaGamma { p, q, v };
        let by_customer: f64 = pairs.iter().map(|&(x, m)| model.log_likelihood(x, m)).sum();
        assert!((analytic[0] - by_customer).abs() < 1e-9 * by_customer.abs());
        for k in 0..3 {
            let shifted = |h: f64| {
                let mut point = [p, q, v];
                point[k] += h;
                data.log_likelihood_and_gradient(point[0], point[1], point[2])[0]
            };
            let numeric = (shifted(1e-6) - shifted(-1e-6)) / 2e-6;
            assert!(
                (analytic[k + 1] - numeric).abs() < 1e-5 * numeric.abs().max(1.0),
                "{k}: {analytic:?} {numeric}"
            );
        }
    }

    #[test]
    fn expected_spend_leans_on_the_customers_own_mean_as_purchases_grow() {
        let model = GammaGamma {
            p: 6.0,
            q: 4.0,
            v: 15.0,
        };
        assert_eq!(model.expected_spend(0.0, 0.0), model.population_mean_spend());
        let few = model.expected_spend(1.0, 100.0);
        let many = model.expected_spend(50.0, 100.0);
        assert!(model.population_mean_spend() < few && few < many && many < 100.0);
    }
}
