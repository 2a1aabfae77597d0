//! Customer value from the BTYD summary (frequency `x`, recency `t_x`, age `T`, mean repeat spend `m`):
//! the buy-till-you-die models of the customer-base literature, fitted by maximum likelihood and applied
//! per customer, as pure functions usable without the feature engine.
//!
//! - [`BgNbd`] and [`ParetoNbd`]: P(alive) and the expected number of purchases in the next `t` periods,
//!   given a customer's history ([`PurchaseModel`]);
//! - [`GammaGamma`]: the expected spend per purchase;
//! - [`clv`]: the discounted value of the purchases expected over the next months
//!   ([`discounted_purchases`] per unit of spend).
//!
//! Likelihoods are evaluated in logarithms, with the hypergeometric functions in forms whose terms never
//! grow with the frequency, so customers with thousands of purchases give finite values. Fits run over the
//! logarithms of the parameters (BFGS, [`optimize`]), once per distinct summary rather than once per
//! customer, in parallel blocks summed in a fixed order (the same data give the same parameters on every
//! run). A fit that does not converge is a [`ValueError`] naming the data set's figures, never NaN
//! parameters.
//!
//! ```
//! use churn_features::value::{BgNbd, GammaGamma, PurchaseModel, clv};
//! // Fader, Hardie & Lee's fits to the CDNOW sample, in weeks (`BgNbd::fit` and `GammaGamma::fit` make
//! // them from the summaries).
//! let purchases = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let spend = GammaGamma { p: 6.25, q: 3.74, v: 15.44 };
//! // Customer 1: 2 repeat purchases, the last in week 30.43 of the 38.86 since the first; $22.35 each.
//! let history = (2.0, 30.43, 38.86);
//! let p_alive = purchases.p_alive(2.0, 30.43, 38.86);
//! let next_39_weeks = purchases.expected_purchases(39.0, 2.0, 30.43, 38.86);
//! let per_purchase = spend.expected_spend(2.0, 22.35);
//! // The next 12 months, discounted at 1% a month, 4.345 weeks a month.
//! let value = clv(&purchases, per_purchase, history, 12, 0.01, 4.345);
//! assert!((p_alive - 0.7266).abs() < 1e-3 && (next_39_weeks - 1.2259).abs() < 1e-3);
//! assert!((per_purchase - 24.66).abs() < 0.01 && (value - 36.28).abs() < 0.05);
//! ```

mod bgnbd;
mod clv;
mod error;
mod gamma_gamma;
pub(crate) mod optimize;
mod paretonbd;
pub(crate) mod special;
mod summary;

pub use bgnbd::BgNbd;
pub use clv::{clv, discounted_purchases};
pub use error::ValueError;
pub use gamma_gamma::GammaGamma;
pub use paretonbd::ParetoNbd;
pub use summary::{DataFigures, Summary};

use serde::Serialize;

/// Options of a fit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FitOptions {
    /// L2 penalty on the parameters, `lifetimes`' `penalizer_coef` (0: plain maximum likelihood).
    pub penalizer: f64,
}

impl FitOptions {
    fn check(&self) -> Result<(), ValueError> {
        if self.penalizer.is_finite() && self.penalizer >= 0.0 {
            Ok(())
        } else {
            Err(ValueError::InvalidOption(format!(
                "the penalizer must be a number of at least 0, not {}",
                self.penalizer
            )))
        }
    }
}

/// A fitted model: its parameters and how the fit went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fitted<P> {
    /// The parameters.
    pub params: P,
    /// The log-likelihood of the data at the parameters (without the penalty), in the data's units.
    pub log_likelihood: f64,
    /// Customers the model was fitted on.
    pub customers: usize,
    /// Optimiser iterations.
    pub iterations: usize,
}

/// A model of when customers buy and drop out, applied to one customer's summary `(x, t_x, T)`.
pub trait PurchaseModel {
    /// The probability that the customer is still alive (has not dropped out) at the end of observation.
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64;

    /// The expected number of purchases in the next `t` periods (the conditional expectation given the
    /// customer's history; 0 for `t ≤ 0`).
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> f64;
}
