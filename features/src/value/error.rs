//! Errors of the customer-value models: a fit that cannot be made says why, with the data set's figures,
//! instead of returning parameters that would make NaN.

use super::summary::DataFigures;

/// Why a customer-value model could not be fitted or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// No customer to fit on.
    #[error("no customers to fit on")]
    NoCustomers,
    /// A customer's summary is not a BTYD summary.
    #[error("customer {customer} (counting from 0): {reason}")]
    InvalidSummary {
        /// Position of the customer in the columns.
        customer: usize,
        /// What is wrong.
        reason: String,
    },
    /// A fit option is out of its range.
    #[error("{0}")]
    InvalidOption(String),
    /// No customer made a repeat purchase, so the model cannot tell how often customers buy (BG/NBD,
    /// Pareto/NBD) or how their spend varies (Gamma-Gamma).
    #[error("{model} cannot be fitted: no customer has a repeat purchase{detail} ({figures})")]
    NoRepeatCustomers {
        /// The model.
        model: &'static str,
        /// What the model needed them for.
        detail: &'static str,
        /// The data set.
        figures: DataFigures,
    },
    /// The maximum-likelihood fit did not converge.
    #[error("{model} did not converge: {reason} ({figures})")]
    NotConverged {
        /// The model.
        model: &'static str,
        /// What the optimiser met.
        reason: String,
        /// The data set.
        figures: DataFigures,
    },
    /// The Gamma-Gamma fit puts the shape `q` of the spread of customers' mean spend at or below 1, where
    /// the expected spend per purchase is infinite.
    #[error(
        "Gamma-Gamma: the fitted q = {q:.4} is at most 1, so the expected spend per purchase is infinite \
         (spend varies too much across customers for this model; {figures})"
    )]
    InfiniteMeanSpend {
        /// The fitted q.
        q: f64,
        /// The data set.
        figures: DataFigures,
    },
}
