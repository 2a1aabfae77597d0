//! The feature columns a run produces, in order, with their meaning: the single source for the output
//! schema, the computation's column indices and the printed catalog.

use crate::table::ColumnRole;
use serde::Serialize;

/// One feature's name and meaning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureSpec {
    /// Column name.
    pub name: String,
    /// What it measures.
    pub meaning: String,
    /// Unit of the value.
    pub unit: &'static str,
    /// The period it covers relative to the as-of date.
    pub window: String,
    /// How models use it.
    #[serde(serialize_with = "role_name")]
    pub role: ColumnRole,
}

fn role_name<S: serde::Serializer>(role: &ColumnRole, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.as_str())
}

/// Positions of the transaction features in a numeric row.
pub mod tx {
    /// `btyd_frequency`.
    pub const BTYD_FREQUENCY: usize = 0;
    /// `btyd_recency`.
    pub const BTYD_RECENCY: usize = 1;
    /// `btyd_t`.
    pub const BTYD_T: usize = 2;
    /// `btyd_monetary_value`.
    pub const BTYD_MONETARY: usize = 3;
    /// `days_since_last_purchase`.
    pub const DAYS_SINCE_LAST_PURCHASE: usize = 4;
    /// `purchase_count`.
    pub const PURCHASE_COUNT: usize = 5;
    /// `total_spend`.
    pub const TOTAL_SPEND: usize = 6;
    /// `mean_spend`.
    pub const MEAN_SPEND: usize = 7;
    /// `return_count`.
    pub const RETURN_COUNT: usize = 8;
    /// `return_amount`.
    pub const RETURN_AMOUNT: usize = 9;
    /// `interpurchase_mean_days`.
    pub const INTERPURCHASE_MEAN: usize = 10;
    /// `interpurchase_std_days`.
    pub const INTERPURCHASE_STD: usize = 11;
    /// `overdue_ratio`.
    pub const OVERDUE_RATIO: usize = 12;
    /// `purchase_trend_{T}d`.
    pub const PURCHASE_TREND: usize = 13;
    /// `spend_trend_{T}d`.
    pub const SPEND_TREND: usize = 14;
    /// `r_score`.
    pub const R_SCORE: usize = 15;
    /// `f_score`.
    pub const F_SCORE: usize = 16;
    /// `m_score`.
    pub const M_SCORE: usize = 17;
    /// Number of fixed transaction features; three per window follow (purchases, spend, returns).
    pub const FIXED: usize = 18;
}

/// Where each block of features sits in a numeric row.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Numeric features in row order, then categorical and descriptor columns.
    pub specs: Vec<FeatureSpec>,
    /// Window lengths in days.
    pub windows: Vec<u32>,
    /// Length of the trend periods in days.
    pub trend_days: u32,
    /// Start of the transaction block, when transactions are configured.
    pub tx_start: Option<usize>,
    /// Start of each event type's block, when events are configured.
    pub event_starts: Vec<usize>,
    /// Whether event blocks include value sums.
    pub event_values: bool,
    /// `days_since_last_activity` and `tenure_days`.
    pub activity_start: usize,
    /// Start of numeric static attributes.
    pub attributes_start: usize,
    /// Number of numeric columns.
    pub numeric_len: usize,
}

/// What the inputs of a run provide, which decides the columns.
#[derive(Debug, Clone, Default)]
pub struct LayoutInputs<'a> {
    /// Transactions are configured.
    pub transactions: bool,
    /// Event type names, when events are configured.
    pub event_types: Option<&'a [String]>,
    /// Events carry a value column.
    pub event_values: bool,
    /// Numeric static attribute names.
    pub numeric_attributes: &'a [String],
    /// Categorical static attribute names.
    pub categorical_attributes: &'a [String],
    /// A dated input exists (transactions, events, signup or churn dates).
    pub dated: bool,
}

impl Layout {
    /// The columns for `inputs` with the given windows and trend length.
    pub fn new(inputs: &LayoutInputs<'_>, windows: &[u32], trend_days: u32) -> Self {
        let mut specs = Specs::default();
        let all = || "up to the as-of date".to_string();
        let last = |w: u32| format!("last {w} days");
        let trend_window = format!("last {trend_days} days vs the {trend_days} days before");

        let tx_start = inputs.transactions.then(|| specs.len());
        if inputs.transactions {
            for (index, (name, meaning, unit)) in TX_FIXED.into_iter().enumerate() {
                let (name, window) = match index {
                    tx::PURCHASE_TREND | tx::SPEND_TREND => {
                        (format!("{name}_{trend_days}d"), trend_window.clone())
                    }
                    _ => (name.to_string(), all()),
                };
                specs.numeric(name, meaning, unit, window);
            }
            for &w in windows {
                specs.numeric(
                    format!("purchases_{w}d"),
                    "purchases in the window",
                    "count",
                    last(w),
                );
                specs.numeric(
                    format!("spend_{w}d"),
                    "sum of purchase amounts in the window",
                    "currency",
                    last(w),
                );
                specs.numeric(format!("returns_{w}d"), "returns in the window", "count", last(w));
            }
        }

        let mut event_starts = Vec::new();
        for kind in inputs.event_types.unwrap_or_default() {
            event_starts.push(specs.len());
            let name = column_safe(kind);
            specs.numeric(
                format!("days_since_last_{name}"),
                &format!("days from the last `{kind}` event to the as-of date"),
                "days",
                all(),
            );
            specs.numeric(
                format!("events_{name}_trend_{trend_days}d"),
                &format!("`{kind}` events in the recent period as a share of recent plus earlier"),
                "share",
                trend_window.clone(),
            );
            for &w in windows {
                specs.numeric(
                    format!("events_{name}_{w}d"),
                    &format!("`{kind}` events in the window"),
                    "count",
                    last(w),
                );
                if inputs.event_values {
                    specs.numeric(
                        format!("events_{name}_value_{w}d"),
                        &format!("sum of the values of `{kind}` events in the window"),
                        "value",
                        last(w),
                    );
                }
            }
        }

        let activity_start = specs.len();
        if inputs.dated {
            specs.numeric(
                "days_since_last_activity".into(),
                "days from the last purchase, return or event to the as-of date",
                "days",
                all(),
            );
            specs.numeric(
                "tenure_days".into(),
                "days from signup (or the first purchase, return or event) to the as-of date",
                "days",
                all(),
            );
        }

        let attributes_start = specs.len();
        for name in inputs.numeric_attributes {
            specs.numeric(
                name.clone(),
                "static customer attribute: this column of [customers], a number",
                "as given",
                "static".into(),
            );
        }
        let numeric_len = specs.len();
        for name in inputs.categorical_attributes {
            specs.push(
                name.clone(),
                "static customer attribute: this column of [customers], a category",
                "category",
                "static".into(),
                ColumnRole::Categorical,
            );
        }
        if inputs.transactions {
            specs.push(
                "rfm_segment".into(),
                "segment from the R and F scores: champions, loyal, promising, new_customers, \
                 need_attention, cant_lose, at_risk, hibernating, lost (no_purchases without any)",
                "category",
                all(),
                ColumnRole::Descriptor,
            );
            specs.push(
                "value_tier".into(),
                "high: the biggest spenders bringing the top share of revenue; medium: the next share; low: \
                 the rest",
                "category",
                all(),
                ColumnRole::Descriptor,
            );
        }
        if inputs.dated {
            specs.push(
                "lifecycle_stage".into(),
                "new (short tenure), active, at_risk or lapsed, by days since the last activity",
                "category",
                all(),
                ColumnRole::Descriptor,
            );
        }
        Self {
            specs: specs.0,
            windows: windows.to_vec(),
            trend_days,
            tx_start,
            event_starts,
            event_values: inputs.event_values,
            activity_start,
            attributes_start,
            numeric_len,
        }
    }

    /// Number of numeric columns an event type's block holds.
    pub fn event_block_len(&self) -> usize {
        2 + self.windows.len() * if self.event_values { 2 } else { 1 }
    }
}

const TX_FIXED: [(&str, &str, &str); tx::FIXED] = [
    (
        "btyd_frequency",
        "number of distinct purchase days minus one (lifetimes' frequency)",
        "days",
    ),
    (
        "btyd_recency",
        "days between the first and the last purchase day (lifetimes' recency)",
        "days",
    ),
    (
        "btyd_t",
        "days between the first purchase day and the as-of date (lifetimes' T)",
        "days",
    ),
    (
        "btyd_monetary_value",
        "mean spend per purchase day, first day excluded (0 without repeats)",
        "currency",
    ),
    (
        "days_since_last_purchase",
        "days from the last purchase to the as-of date",
        "days",
    ),
    (
        "purchase_count",
        "purchases (orders when order ids are configured, else purchase lines)",
        "count",
    ),
    ("total_spend", "sum of purchase amounts", "currency"),
    ("mean_spend", "total spend divided by purchase count", "currency"),
    (
        "return_count",
        "returns and cancellations (rows with a negative amount)",
        "count",
    ),
    (
        "return_amount",
        "sum of returned amounts, as a positive number",
        "currency",
    ),
    (
        "interpurchase_mean_days",
        "mean days between distinct purchase days",
        "days",
    ),
    (
        "interpurchase_std_days",
        "sample standard deviation of the days between purchase days",
        "days",
    ),
    (
        "overdue_ratio",
        "days since the last purchase divided by the mean days between purchases",
        "ratio",
    ),
    (
        "purchase_trend",
        "purchases in the recent period as a share of recent plus earlier",
        "share",
    ),
    (
        "spend_trend",
        "spend in the recent period as a share of recent plus earlier",
        "share",
    ),
    (
        "r_score",
        "recency score 1-5 by quintile among customers at the as-of date (5 = most recent)",
        "score",
    ),
    (
        "f_score",
        "frequency score 1-5 by quintile of purchase count among customers at the as-of date",
        "score",
    ),
    (
        "m_score",
        "monetary score 1-5 by quintile of total spend among customers at the as-of date",
        "score",
    ),
];

/// The name of the fixed transaction feature at position `index` of [`tx`] (the trend features without
/// their `_{T}d` suffix).
pub(crate) fn tx_fixed_name(index: usize) -> &'static str {
    TX_FIXED[index].0
}

#[derive(Default)]
struct Specs(Vec<FeatureSpec>);

impl Specs {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn numeric(&mut self, name: String, meaning: &str, unit: &'static str, window: String) {
        self.push(name, meaning, unit, window, ColumnRole::Numeric);
    }

    fn push(&mut self, name: String, meaning: &str, unit: &'static str, window: String, role: ColumnRole) {
        self.0.push(FeatureSpec {
            name,
            meaning: meaning.into(),
            unit,
            window,
            role,
        });
    }
}

/// An event type name made safe for a column name: lower case, runs of other characters as `_`.
pub fn column_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "unnamed".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_line_up_with_names() {
        let types = vec!["Support Ticket".to_string(), "login".to_string()];
        let inputs = LayoutInputs {
            transactions: true,
            event_types: Some(&types),
            event_values: true,
            numeric_attributes: &["age".to_string()],
            categorical_attributes: &["plan".to_string()],
            dated: true,
        };
        let layout = Layout::new(&inputs, &[7, 30], 90);
        let name = |i: usize| layout.specs[i].name.as_str();
        assert_eq!(name(tx::BTYD_MONETARY), "btyd_monetary_value");
        assert_eq!(name(tx::PURCHASE_TREND), "purchase_trend_90d");
        assert_eq!(name(tx::M_SCORE), "m_score");
        assert_eq!(name(tx::FIXED + 3), "purchases_30d");
        assert_eq!(name(layout.event_starts[0]), "days_since_last_support_ticket");
        assert_eq!(
            layout.event_starts[1] - layout.event_starts[0],
            layout.event_block_len()
        );
        assert_eq!(name(layout.event_starts[1] + 2 + 2), "events_login_30d");
        assert_eq!(name(layout.activity_start + 1), "tenure_days");
        assert_eq!(name(layout.attributes_start), "age");
        assert_eq!(layout.numeric_len, layout.attributes_start + 1);
        assert_eq!(
            layout.specs.last().map(|s| s.name.as_str()),
            Some("lifecycle_stage")
        );
    }
}
