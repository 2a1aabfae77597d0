//! The customer-value columns of one as-of date: BG/NBD and Gamma-Gamma ([`crate::value`]) fitted on the
//! BTYD summaries of the customers with purchases on or before that date, then applied to each of them;
//! and the record of the fits for the run summary.
//!
//! A model that cannot be fitted (too few customers, no repeat purchases, no convergence, an infinite
//! mean spend) leaves its columns null for that date, with a warning and the reason in the summary: the
//! build goes on. BG/NBD's expected purchases (and so the lifetime value) are P(alive) times those of a
//! customer known to be alive, which depend on the frequency and age alone: those are computed once per
//! distinct `(x, T)`, far fewer than the customers, and P(alive), cheap, once per customer.

use super::grouped::{TxRow, up_to};
use super::layout::ValueColumns;
use crate::config::ValueParams;
use crate::time::{Day, date_from_days};
use crate::value::{
    BgNbd, FitOptions, Fitted, GammaGamma, PurchaseModel, Summary, ValueError, discounted_purchases,
};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::borrow::Cow;

/// Days in a month for the lifetime value: a year of 365.25 days over 12 months, so that 12 months are a
/// year on average over leap years.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// How one model's fit went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FitOutcome<P> {
    /// The model was fitted: its parameters (times in `period_days` periods), log-likelihood, the
    /// customers it was fitted on and the optimiser's iterations.
    Fitted(Fitted<P>),
    /// The model could not be fitted: its columns are null at this date.
    Failed {
        /// Why, with the data set's figures.
        reason: String,
    },
}

impl<P> From<Result<Fitted<P>, ValueError>> for FitOutcome<P> {
    fn from(result: Result<Fitted<P>, ValueError>) -> Self {
        match result {
            Ok(fitted) => Self::Fitted(fitted),
            Err(error) => failed(error.to_string()),
        }
    }
}

/// A failed fit for `reason`.
fn failed<P>(reason: String) -> FitOutcome<P> {
    FitOutcome::Failed { reason }
}

impl<P> FitOutcome<P> {
    /// The fitted parameters, if the fit was made.
    pub fn params(&self) -> Option<&P> {
        match self {
            Self::Fitted(fitted) => Some(&fitted.params),
            Self::Failed { .. } => None,
        }
    }

    /// Why the fit could not be made, if it could not.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Self::Fitted(_) => None,
            Self::Failed { reason } => Some(reason),
        }
    }
}

/// The customer-value fits of one as-of date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueFits {
    /// The period of the fits in days (`[value] period_days`).
    pub period_days: u32,
    /// Customers with a purchase on or before the as-of date: those BG/NBD is fitted on.
    pub customers: usize,
    /// Among them, customers with a repeat purchase (Gamma-Gamma is fitted on those with a positive
    /// repeat spend).
    pub repeat_customers: usize,
    /// The BG/NBD fit (P(alive), expected purchases, and with the spend, the lifetime value).
    pub purchases: FitOutcome<BgNbd>,
    /// The Gamma-Gamma fit (expected spend per purchase, and with the purchases, the lifetime value).
    pub spend: FitOutcome<GammaGamma>,
    /// Values that came out infinite or undefined and were left null (0 when all were finite).
    pub non_finite_values: usize,
}

/// The BTYD summary of each customer of an as-of date in the fits' periods: `[x, t_x, T, m]`, NaN for a
/// customer without purchases.
pub(super) type PeriodSummary = [f64; 4];

/// The BTYD summary of a customer from their day-sorted rows, in periods of `period_days` days counted
/// from the first purchase day (period `k` holds the days `first + k·period_days ..`): frequency =
/// distinct purchase periods − 1, recency = the period of the last purchase, age = whole periods from the
/// first purchase day to `as_of`, monetary value = mean spend of the purchase periods after the first (0
/// without). With one-day periods these are the `btyd_*` columns.
pub(super) fn period_summary(rows: &[TxRow], as_of: Day, period_days: u32) -> PeriodSummary {
    let seen = &rows[..up_to(rows, as_of, |r| r.day)];
    let period = i64::from(period_days.max(1));
    let mut purchases = seen.iter().filter(|r| r.is_purchase());
    let Some(first) = purchases.next().map(|r| r.day) else {
        return [f64::NAN; 4];
    };
    let period_of = |day: Day| (i64::from(day) - i64::from(first)) / period;
    let (mut distinct, mut current, mut repeat_spend) = (1u32, 0i64, 0.0);
    for r in seen.iter().filter(|r| r.is_purchase()) {
        let k = period_of(r.day);
        if k != current {
            distinct += 1;
            current = k;
        }
        if k > 0 {
            repeat_spend += r.amount;
        }
    }
    let frequency = f64::from(distinct - 1);
    let monetary = if distinct > 1 {
        repeat_spend / frequency
    } else {
        0.0
    };
    [frequency, current as f64, period_of(as_of) as f64, monetary]
}

/// The customer-value models of one as-of date, fitted on the BTYD summaries of every customer of the
/// date (a global statistic: the fit needs the whole population), ready to give any customer's value
/// columns.
pub(super) struct ValueModel {
    columns: ValueColumns,
    purchases: Option<BgNbd>,
    spend: Option<GammaGamma>,
    /// The purchase horizons in the fits' periods.
    horizons: Vec<f64>,
    monthly_discount: f64,
    periods_per_month: f64,
    /// For each distinct `(x, T)` among the customers fitted on (as bit patterns, sorted): BG/NBD's
    /// expected purchases of a customer known to be alive over each horizon, then their discounted
    /// purchases for the lifetime value.
    if_alive: Vec<([u64; 2], Vec<f64>)>,
}

impl ValueModel {
    /// Fits BG/NBD and Gamma-Gamma on the customers with purchases among `summaries` (`as_of` names the
    /// date in warnings). The fits' record says how they went; its `non_finite_values` is left 0 for the
    /// caller, who applies the model, to fill.
    pub(super) fn fit(
        summaries: &[PeriodSummary],
        columns: &ValueColumns,
        params: &ValueParams,
        as_of: Day,
    ) -> (Self, ValueFits) {
        let buyers: Vec<&PeriodSummary> = summaries.iter().filter(|s| s[0].is_finite()).collect();
        let field = |k: usize| -> Vec<f64> { buyers.iter().map(|s| s[k]).collect() };
        let (x, t_x, age, monetary) = (field(0), field(1), field(2), field(3));
        let repeat_customers = x.iter().filter(|&&x| x > 0.0).count();
        let started = std::time::Instant::now();
        let (purchases, spend) = fit(&x, &t_x, &age, &monetary, params);
        tracing::debug!(
            customers = buyers.len(),
            seconds = started.elapsed().as_secs_f64(),
            "customer-value models fitted"
        );
        let date = date_from_days(as_of);
        if let FitOutcome::Failed { reason } = &purchases {
            tracing::warn!(
                "as of {date}: BG/NBD could not be fitted, so p_alive, the expected purchases and the \
                 lifetime value are null at this date: {reason}"
            );
        }
        if let FitOutcome::Failed { reason } = &spend {
            tracing::warn!(
                "as of {date}: Gamma-Gamma could not be fitted, so the expected spend per purchase and the \
                 lifetime value are null at this date: {reason}"
            );
        }
        let period = f64::from(params.period_days);
        let mut model = Self {
            columns: columns.clone(),
            purchases: purchases.params().cloned(),
            spend: spend.params().cloned(),
            horizons: columns
                .purchase_horizons
                .iter()
                .map(|&days| f64::from(days) / period)
                .collect(),
            monthly_discount: params.monthly_discount,
            periods_per_month: DAYS_PER_MONTH / period,
            if_alive: Vec::new(),
        };
        if let Some(purchases) = &model.purchases {
            // Non-negative floats order as their bit patterns do.
            // A set per chunk of customers, merged as the chunks are done.
            let mut keys: Vec<[u64; 2]> = buyers
                .par_chunks(1 << 16)
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|s| [s[0].to_bits(), s[2].to_bits()])
                        .collect::<FxHashSet<_>>()
                })
                .reduce(FxHashSet::default, |mut all, keys| {
                    all.extend(keys);
                    all
                })
                .into_iter()
                .collect();
            keys.par_sort_unstable();
            model.if_alive = keys
                .into_par_iter()
                .map(|key| {
                    let [x, t] = key.map(f64::from_bits);
                    (key, model.values_if_alive(purchases, x, t))
                })
                .collect();
        }
        let fits = ValueFits {
            period_days: params.period_days,
            customers: buyers.len(),
            repeat_customers,
            purchases,
            spend,
            non_finite_values: 0,
        };
        (model, fits)
    }

    /// BG/NBD's expected purchases over each horizon of a customer with frequency `x` and age `t` known
    /// to be alive, then their discounted purchases for the lifetime value.
    fn values_if_alive(&self, model: &BgNbd, x: f64, t: f64) -> Vec<f64> {
        let mut values: Vec<f64> = self
            .horizons
            .iter()
            .map(|&h| model.expected_purchases_if_alive(h, x, t))
            .collect();
        values.push(discounted_purchases(
            |periods| model.expected_purchases_if_alive(periods, x, t),
            self.columns.clv_months,
            self.monthly_discount,
            self.periods_per_month,
        ));
        values
    }

    /// The value block's columns (in [`ValueColumns`] order, NaN for null) for customers with the BTYD
    /// summaries `summaries`, and how many values of fitted models came out infinite or undefined (left
    /// null).
    pub(super) fn columns(&self, summaries: &[PeriodSummary]) -> (Vec<Vec<f64>>, usize) {
        let columns = &self.columns;
        let mut out = vec![vec![f64::NAN; summaries.len()]; columns.len()];
        let buyers: Vec<usize> = (0..summaries.len())
            .filter(|&i| summaries[i][0].is_finite())
            .collect();
        if let Some(spend_model) = &self.spend {
            let column = &mut out[columns.expected_spend()];
            for &i in &buyers {
                let [x, _, _, m] = summaries[i];
                column[i] = spend_model.expected_spend(x, m);
            }
        }
        if let Some(model) = &self.purchases {
            // BG/NBD's expected purchases are P(alive) times those of a customer known to be alive, which
            // depend on the frequency and the age only, computed once per distinct (x, T) when fitted.
            let discounted = columns.purchase_horizons.len();
            // A customer the model was not fitted on (a caller's mistake) gets them computed.
            let rows: Vec<(usize, f64, Cow<'_, [f64]>)> = buyers
                .par_iter()
                .map(|&i| {
                    let [x, t_x, t, _] = summaries[i];
                    let key = [x.to_bits(), t.to_bits()];
                    let values = match self.if_alive.binary_search_by(|(k, _)| k.cmp(&key)) {
                        Ok(at) => Cow::Borrowed(self.if_alive[at].1.as_slice()),
                        Err(_) => Cow::Owned(self.values_if_alive(model, x, t)),
                    };
                    (i, model.p_alive(x, t_x, t), values)
                })
                .collect();
            for (i, p, values) in rows {
                out[ValueColumns::P_ALIVE][i] = p;
                for (k, &if_alive) in values[..discounted].iter().enumerate() {
                    out[ValueColumns::expected_purchases(k)][i] = p * if_alive;
                }
                if self.spend.is_some() {
                    out[columns.clv()][i] = p * values[discounted] * out[columns.expected_spend()][i];
                }
            }
        }
        // A fitted model's value that is not a finite number is left null and counted, never written.
        let mut non_finite_values = 0;
        for (k, column) in out.iter_mut().enumerate() {
            let fitted = if k == columns.expected_spend() {
                self.spend.is_some()
            } else if k == columns.clv() {
                self.spend.is_some() && self.purchases.is_some()
            } else {
                self.purchases.is_some()
            };
            if !fitted {
                continue;
            }
            for &i in &buyers {
                if !column[i].is_finite() {
                    column[i] = f64::NAN;
                    non_finite_values += 1;
                }
            }
        }
        (out, non_finite_values)
    }
}

/// Fits BG/NBD on the summaries and Gamma-Gamma on the frequencies and mean repeat spends.
fn fit(
    x: &[f64],
    t_x: &[f64],
    age: &[f64],
    monetary: &[f64],
    params: &ValueParams,
) -> (FitOutcome<BgNbd>, FitOutcome<GammaGamma>) {
    if x.is_empty() {
        let reason = "no customer has a purchase on or before the as-of date".to_string();
        return (failed(reason.clone()), failed(reason));
    }
    let summary = match Summary::new(x, t_x, age) {
        Ok(summary) => summary,
        Err(error) => return (failed(error.to_string()), failed(error.to_string())),
    };
    let min_customers = params.min_customers as usize;
    if x.len() < min_customers {
        let reason = format!(
            "{} customers with purchases, fewer than [value] min_customers = {min_customers} ({})",
            x.len(),
            summary.figures()
        );
        return (failed(reason.clone()), failed(reason));
    }
    let options = FitOptions {
        penalizer: params.penalizer,
    };
    let (purchases, spend) = rayon::join(
        || {
            let started = std::time::Instant::now();
            let fitted = FitOutcome::from(BgNbd::fit(&summary, &options));
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "BG/NBD fitted");
            fitted
        },
        || {
            let started = std::time::Instant::now();
            let fitted = FitOutcome::from(GammaGamma::fit(x, monetary, &options));
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "Gamma-Gamma fitted");
            fitted
        },
    );
    (purchases, spend)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(days_and_amounts: &[(Day, f64)]) -> Vec<TxRow> {
        days_and_amounts
            .iter()
            .map(|&(day, amount)| TxRow {
                amount,
                day,
                starts_purchase: u32::from(amount >= 0.0),
            })
            .collect()
    }

    #[test]
    fn period_summaries_count_whole_periods_from_the_first_purchase() {
        // Purchases on days 10, 12, 17, 30 (and a return on 31, and one after the as-of day 40).
        let history = rows(&[(10, 5.0), (12, 7.0), (17, 4.0), (30, 9.0), (31, -3.0), (45, 8.0)]);
        // Weeks from day 10: days 10..16 week 0, 17..23 week 1, 24..30 week 2; day 40 is in week 4.
        assert_eq!(period_summary(&history, 40, 7), [2.0, 2.0, 4.0, 6.5]);
        // Days: 3 repeat days, the last 20 days after the first, 30 days old, mean repeat spend 20/3.
        assert_eq!(period_summary(&history, 40, 1), [3.0, 20.0, 30.0, 20.0 / 3.0]);
        assert_eq!(period_summary(&history, 11, 7), [0.0, 0.0, 0.0, 0.0]);
        assert!(period_summary(&history, 9, 7).iter().all(|v| v.is_nan()));
        assert!(
            period_summary(&rows(&[(3, -1.0)]), 9, 1)
                .iter()
                .all(|v| v.is_nan())
        );
    }

    #[test]
    fn a_month_is_a_twelfth_of_a_julian_year() {
        assert_eq!(DAYS_PER_MONTH * 12.0, 365.25);
    }
}
