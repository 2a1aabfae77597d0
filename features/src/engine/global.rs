//! The second of the build's three phases: statistics that need the whole population of an as-of date,
//! computed from small per-customer summaries. Each customer's own rows give their features block by
//! block ([`super::shard`], phase (a)); the R/F/M quintile scores, value tiers and customer-value fits
//! compare a customer with everyone else at the same date, so they wait for every block's [`Summaries`]
//! (from one machine, or from every partition of the customers); phase (c) then finishes each block
//! with the [`GlobalStats`].
//!
//! Every statistic here depends on the set of summaries, not on their order (the figures quoted in a
//! failed fit's message aside), so partitions may hand them in in any order and get the same answer, and
//! every partition may compute them itself from all the summaries (they serialise with serde). One
//! consequence: the value tiers' total spend is summed largest first, where the one-pass engine summed in
//! customer order, so a customer exactly on a tier's boundary may fall on the other side of it.

use super::layout::{Layout, ValueColumns, tx};
use super::segments::{Quintiles, ValueTiers};
use super::value::{PeriodSummary, ValueFits, ValueModel};
use crate::config::Config;
use crate::error::{FeatureError, Result};
use crate::time::Day;

/// What the population statistics of one as-of date need from each customer: the recency, frequency and
/// spend of the R/F/M scores and value tiers, and the BTYD summary of the customer-value models.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summaries {
    /// Days since the last purchase (NaN without one).
    pub(super) days_since: Vec<f64>,
    /// Purchases (NaN without one).
    pub(super) purchases: Vec<f64>,
    /// Total spend (NaN without a purchase; without one it is never positive, so never above the lowest
    /// value tier either).
    pub(super) spend: Vec<f64>,
    /// The BTYD summary in the value models' periods (empty without the value block).
    pub(super) btyd: Vec<PeriodSummary>,
}

impl Summaries {
    /// The summaries of the rows `numeric` (columns of `layout`'s numeric features, R/F/M scores not yet
    /// filled) with BTYD summaries `btyd`.
    pub(super) fn of(layout: &Layout, numeric: &[Vec<f64>], btyd: Vec<PeriodSummary>) -> Self {
        let Some(start) = layout.tx_start else {
            return Self {
                btyd,
                ..Self::default()
            };
        };
        let days_since = &numeric[start + tx::DAYS_SINCE_LAST_PURCHASE];
        // Scores rank customers with purchases only; the others keep NaN scores.
        let with_purchases = |values: &[f64]| -> Vec<f64> {
            values
                .iter()
                .zip(days_since)
                .map(|(&v, d)| if d.is_nan() { f64::NAN } else { v })
                .collect()
        };
        Self {
            days_since: days_since.clone(),
            purchases: with_purchases(&numeric[start + tx::PURCHASE_COUNT]),
            spend: with_purchases(&numeric[start + tx::TOTAL_SPEND]),
            btyd,
        }
    }

    /// Appends `other`'s customers.
    pub fn extend(&mut self, other: &Self) {
        self.days_since.extend_from_slice(&other.days_since);
        self.purchases.extend_from_slice(&other.purchases);
        self.spend.extend_from_slice(&other.spend);
        self.btyd.extend_from_slice(&other.btyd);
    }
}

/// The population statistics of one as-of date.
pub(super) struct DateStats {
    /// Quintiles of days since the last purchase (reversed), purchases and spend; absent without
    /// transactions.
    pub(super) rfm: Option<[Quintiles; 3]>,
    /// Value tiers by spend.
    pub(super) spend_tiers: Option<ValueTiers>,
    /// The customer-value models with the value tiers of their lifetime value, and the record of the
    /// fits, when the value block is built.
    pub(super) value: Option<(ValueModel, ValueTiers, ValueFits)>,
}

impl DateStats {
    /// The statistics of the customers summarised in `summaries` at `as_of`.
    fn new(config: &Config, layout: &Layout, summaries: &Summaries, as_of: Option<Day>) -> Self {
        let rfm = layout.tx_start.map(|_| {
            let ((r, f), m) = rayon::join(
                || {
                    rayon::join(
                        || Quintiles::fit(&summaries.days_since, true),
                        || Quintiles::fit(&summaries.purchases, false),
                    )
                },
                || Quintiles::fit(&summaries.spend, false),
            );
            [r, f, m]
        });
        let spend_tiers = layout
            .tx_start
            .map(|_| ValueTiers::fit(&summaries.spend, &config.value_tier));
        let value = match (&layout.value, as_of) {
            (Some(columns), Some(as_of)) => Some(value_stats(config, columns, &summaries.btyd, as_of)),
            _ => None,
        };
        Self {
            rfm,
            spend_tiers,
            value,
        }
    }
}

/// Fits the value models on every customer's summary and the value tiers of the lifetime values they
/// give.
fn value_stats(
    config: &Config,
    columns: &ValueColumns,
    btyd: &[PeriodSummary],
    as_of: Day,
) -> (ValueModel, ValueTiers, ValueFits) {
    let started = std::time::Instant::now();
    let (model, mut fits) = ValueModel::fit(btyd, columns, &config.value, as_of);
    // Applied block by block: only the lifetime values are kept, for their tiers.
    let (mut clv, mut non_finite_values) = (Vec::with_capacity(btyd.len()), 0);
    for block in btyd.chunks(super::shard::BLOCK_ROWS) {
        let (values, non_finite) = model.columns(block);
        clv.extend_from_slice(&values[columns.clv()]);
        non_finite_values += non_finite;
    }
    if non_finite_values > 0 {
        tracing::warn!(
            "as of {}: {non_finite_values} customer-value figures came out infinite or undefined and are null",
            crate::time::date_from_days(as_of)
        );
    }
    fits.non_finite_values = non_finite_values;
    let tiers = ValueTiers::fit(&clv, &config.value_tier);
    tracing::debug!(
        as_of = %crate::time::date_from_days(as_of),
        seconds = started.elapsed().as_secs_f64(),
        "customer-value models fitted and applied"
    );
    (model, tiers, fits)
}

/// The population statistics of every as-of date of a build, in the order of its as-of dates.
pub struct GlobalStats {
    /// The as-of days they are of.
    pub(super) as_of_days: Vec<Option<Day>>,
    pub(super) dates: Vec<DateStats>,
}

impl GlobalStats {
    /// The statistics of the plan's as-of dates from the summaries of every part of the customers:
    /// `parts[k][d]` summarises part `k`'s customers at the plan's date `d` ([`super::Shard::summarize`]).
    /// Parts may come in any order; a part with summaries for another number of dates is refused.
    pub fn new(config: &Config, plan: &super::Plan, parts: &[Vec<Summaries>]) -> Result<Self> {
        if parts.is_empty() {
            return Err(FeatureError::Request(
                "no summaries: the population statistics need those of every part of the customers".into(),
            ));
        }
        let dates = plan.as_of_days.len();
        if let Some((k, part)) = parts.iter().enumerate().find(|(_, part)| part.len() != dates) {
            return Err(FeatureError::Request(format!(
                "part {k} has summaries of {} as-of dates where the plan has {dates}: summarise every part \
                 with the same plan",
                part.len()
            )));
        }
        let dates = plan
            .as_of_days
            .iter()
            .enumerate()
            .map(|(d, &as_of)| {
                let started = std::time::Instant::now();
                let stats = match parts {
                    [only] => DateStats::new(config, &plan.layout, &only[d], as_of),
                    _ => {
                        let mut all = Summaries::default();
                        for part in parts {
                            all.extend(&part[d]);
                        }
                        DateStats::new(config, &plan.layout, &all, as_of)
                    }
                };
                tracing::debug!(
                    as_of = ?as_of.map(crate::time::date_from_days),
                    seconds = started.elapsed().as_secs_f64(),
                    "population statistics computed"
                );
                stats
            })
            .collect();
        Ok(Self {
            as_of_days: plan.as_of_days.clone(),
            dates,
        })
    }

    /// The customer-value fits of each as-of date (absent where there are none).
    pub fn value_fits(&self) -> Vec<Option<ValueFits>> {
        self.dates
            .iter()
            .map(|d| d.value.as_ref().map(|(_, _, fits)| fits.clone()))
            .collect()
    }
}
