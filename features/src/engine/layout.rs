//! The feature columns a run produces, in order, with their meaning: the single source for the output
//! schema, the computation's column indices and the printed catalog.

use super::family::{CatalogColumn, EventMeasure, ValueMeasure, WindowMeasure, readable};
use super::order_lines::{OrderLineBlock, OrderLineInputs};
use super::subscriptions::{SubscriptionBlock, SubscriptionInputs, SubscriptionMeasure};
use crate::config::DateMode;
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

/// The customer-value columns of a run ([`crate::config::ValueParams`]): `p_alive`, then
/// `expected_purchases_{h}d` for each horizon, `expected_spend_per_purchase` and `clv_{n}m`, in that
/// order in the numeric row, and the descriptor `value_tier_clv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueColumns {
    /// Horizons of the expected purchases in days, ascending and distinct.
    pub purchase_horizons: Vec<u32>,
    /// Months the lifetime value adds up.
    pub clv_months: u32,
}

impl ValueColumns {
    /// Expected purchases over each of `horizons` days, each once, ascending, and the lifetime value over
    /// `clv_months`. The columns follow from the configuration alone, never from a build's label horizon,
    /// so a table to score (built without one) has every column of the tables a model was trained on.
    pub fn new(horizons: &[u32], clv_months: u32) -> Self {
        let mut purchase_horizons: Vec<u32> = horizons.to_vec();
        purchase_horizons.sort_unstable();
        purchase_horizons.dedup();
        Self {
            purchase_horizons,
            clv_months,
        }
    }

    /// Numeric columns of the block.
    pub fn len(&self) -> usize {
        self.purchase_horizons.len() + 3
    }

    /// Always false: the block has at least `p_alive`, the spend and the lifetime value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Position of `p_alive` in the block.
    pub const P_ALIVE: usize = 0;

    /// Position of `expected_purchases_{h}d` for the `k`-th horizon in the block.
    pub fn expected_purchases(k: usize) -> usize {
        1 + k
    }

    /// Position of `expected_spend_per_purchase` in the block.
    pub fn expected_spend(&self) -> usize {
        1 + self.purchase_horizons.len()
    }

    /// Position of `clv_{n}m` in the block.
    pub fn clv(&self) -> usize {
        2 + self.purchase_horizons.len()
    }
}

/// The CLV column's meaning: the formula and where it comes from.
fn clv_meaning(months: u32) -> String {
    format!(
        "customer lifetime value: the spend the customer is expected to bring over the next {months} months, \
         discounted monthly, sum over months k = 1..{months} of (E[purchases by the end of month k] - \
         E[purchases by the end of month k-1]) x expected_spend_per_purchase / (1 + monthly_discount)^k, with \
         BG/NBD expected purchases and a month of 30.4375 days (Fader, Hardie & Lee 2005, \"RFM and CLV: using \
         iso-value curves for customer base analysis\", Journal of Marketing Research 42(4); as lifetimes' \
         customer_lifetime_value computes it)"
    )
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
    /// Start of the customer-value block, when the value models are fitted.
    pub value_start: Option<usize>,
    /// The customer-value columns, when the value models are fitted.
    pub value: Option<ValueColumns>,
    /// The order-line features and where they start, when order-line columns are mapped.
    pub order_lines: Option<OrderLineBlock>,
    /// The subscription features and where they start, when `[subscriptions]` is mapped.
    pub subscriptions: Option<SubscriptionBlock>,
    /// Start of each event type's block, when events are configured.
    pub event_starts: Vec<usize>,
    /// Whether event blocks include value sums.
    pub event_values: bool,
    /// `days_since_last_activity` and `tenure_days`.
    pub activity_start: usize,
    /// Start of numeric static attributes.
    pub attributes_start: usize,
    /// Start of the date attributes (after the numeric static attributes), one column each.
    pub dates_start: usize,
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
    /// Date attributes: column name in `[customers]` and mode (only with `dated`).
    pub date_attributes: &'a [(String, DateMode)],
    /// A dated input exists (transactions, events, signup or churn dates).
    pub dated: bool,
    /// The customer-value columns, when the value models are fitted (transactions and a dated run).
    pub value: Option<ValueColumns>,
    /// The order-line columns mapped, when any is (with transactions).
    pub order_lines: Option<OrderLineInputs>,
    /// The optional `[subscriptions]` columns mapped, when subscriptions are.
    pub subscriptions: Option<SubscriptionInputs>,
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
            for (index, (name, meaning, unit, _)) in TX_FIXED.into_iter().enumerate() {
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

        let value = inputs.value.clone().filter(|_| inputs.transactions);
        let value_start = value.as_ref().map(|_| specs.len());
        if let Some(columns) = &value {
            let next = |days: u32| format!("next {days} days");
            specs.numeric(
                "p_alive".into(),
                "probability that the customer has not dropped out by the as-of date, from the BG/NBD model \
                 fitted on the customers with purchases by then (Fader, Hardie & Lee 2005; lifetimes' \
                 conditional_probability_alive); 1 without repeat purchases, as the model has it",
                "probability",
                all(),
            );
            for &days in &columns.purchase_horizons {
                specs.numeric(
                    format!("expected_purchases_{days}d"),
                    &format!(
                        "purchases (distinct purchase periods) the BG/NBD model expects from the customer in \
                         the {days} days after the as-of date, given their history (lifetimes' \
                         conditional_expected_number_of_purchases_up_to_time)"
                    ),
                    "count",
                    next(days),
                );
            }
            specs.numeric(
                "expected_spend_per_purchase".into(),
                "spend per purchase the Gamma-Gamma model expects from the customer: their mean repeat spend \
                 shrunk towards the mean of all customers, more for fewer repeat purchases (Fader, Hardie & \
                 Lee 2005; lifetimes' conditional_expected_average_profit)",
                "currency",
                all(),
            );
            specs.numeric(
                format!("clv_{}m", columns.clv_months),
                &clv_meaning(columns.clv_months),
                "currency",
                format!("next {} months", columns.clv_months),
            );
        }

        let order_lines = inputs
            .order_lines
            .filter(|_| inputs.transactions)
            .map(|mapped| OrderLineBlock {
                start: specs.len(),
                features: mapped.features(windows),
            });
        for feature in order_lines.iter().flat_map(|block| &block.features) {
            specs.numeric(
                feature.name(),
                &feature.meaning(),
                feature.unit(),
                feature.window(),
            );
        }

        let subscriptions = inputs.subscriptions.map(|mapped| SubscriptionBlock {
            start: specs.len(),
            features: mapped.features(windows),
            plan: mapped.plans,
        });
        for feature in subscriptions.iter().flat_map(|block| &block.features) {
            specs.numeric(
                feature.name(),
                &feature.meaning(),
                feature.unit(),
                feature.window(),
            );
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
        let dates_start = specs.len();
        for (name, mode) in inputs.date_attributes.iter().filter(|_| inputs.dated) {
            let (column, meaning) = date_attribute(name, *mode);
            specs.numeric(column, &meaning, "days", "at the as-of date".into());
        }
        let numeric_len = specs.len();
        if subscriptions.as_ref().is_some_and(|block| block.plan) {
            let plan = SubscriptionMeasure::Plan;
            specs.push(
                plan.name(),
                &plan.meaning(),
                plan.unit(),
                plan.window(),
                ColumnRole::Categorical,
            );
        }
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
        if let Some(columns) = &value {
            specs.push(
                "value_tier_clv".into(),
                "value tier by predicted lifetime value (clv column) instead of past revenue: high: the \
                 customers with the biggest CLV bringing the top share of the total; medium: the next share; \
                 low: the rest; null without a CLV",
                "category",
                format!("next {} months", columns.clv_months),
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
            value_start,
            value,
            order_lines,
            subscriptions,
            event_starts,
            event_values: inputs.event_values,
            activity_start,
            attributes_start,
            dates_start,
            numeric_len,
        }
    }

    /// Number of numeric columns an event type's block holds.
    pub fn event_block_len(&self) -> usize {
        2 + self.windows.len() * if self.event_values { 2 } else { 1 }
    }
}

/// The column name and meaning of the date attribute `name` of `[customers]` in `mode`.
fn date_attribute(name: &str, mode: DateMode) -> (String, String) {
    let meaning = match mode {
        DateMode::Age => format!(
            "days from the date in column `{name}` of [customers] to the as-of date (its age); null when \
             the date is missing or after the as-of date, which is never read"
        ),
        DateMode::InDays => format!(
            "days from the as-of date to the date in column `{name}` of [customers] (days until it; \
             negative once it has passed); null when the date is missing. The date is read even when after \
             the as-of date, as configured (date_attributes: \"in_days\"), for dates known in advance"
        ),
    };
    (format!("{name}_{}", mode.suffix()), meaning)
}

/// The fixed transaction features: name, meaning, unit, and the short name people read
/// ([`readable_name`]).
const TX_FIXED: [(&str, &str, &str, &str); tx::FIXED] = [
    (
        "btyd_frequency",
        "number of distinct purchase days minus one (lifetimes' frequency)",
        "days",
        "Repeat purchase days",
    ),
    (
        "btyd_recency",
        "days between the first and the last purchase day (lifetimes' recency)",
        "days",
        "Days between first and last purchase",
    ),
    (
        "btyd_t",
        "days between the first purchase day and the as-of date (lifetimes' T)",
        "days",
        "Days since first purchase",
    ),
    (
        "btyd_monetary_value",
        "mean spend per purchase day, first day excluded (0 without repeats)",
        "currency",
        "Average spend per repeat purchase day",
    ),
    (
        "days_since_last_purchase",
        "days from the last purchase to the as-of date",
        "days",
        "Days since last purchase",
    ),
    (
        "purchase_count",
        "purchases (orders when order ids are configured, else purchase lines)",
        "count",
        "Purchases (all time)",
    ),
    (
        "total_spend",
        "sum of purchase amounts",
        "currency",
        "Total spend",
    ),
    (
        "mean_spend",
        "total spend divided by purchase count",
        "currency",
        "Average spend per purchase",
    ),
    (
        "return_count",
        "returns and cancellations (rows with a negative amount)",
        "count",
        "Returns (all time)",
    ),
    (
        "return_amount",
        "sum of returned amounts, as a positive number",
        "currency",
        "Amount returned",
    ),
    (
        "interpurchase_mean_days",
        "mean days between distinct purchase days",
        "days",
        "Average days between purchases",
    ),
    (
        "interpurchase_std_days",
        "sample standard deviation of the days between purchase days",
        "days",
        "Spread of days between purchases",
    ),
    (
        "overdue_ratio",
        "days since the last purchase divided by the mean days between purchases",
        "ratio",
        "Overdue ratio (days since last purchase / usual gap)",
    ),
    (
        "purchase_trend",
        "purchases in the recent period as a share of recent plus earlier",
        "share",
        "Purchase trend",
    ),
    (
        "spend_trend",
        "spend in the recent period as a share of recent plus earlier",
        "share",
        "Spend trend",
    ),
    (
        "r_score",
        "recency score 1-5 by quintile among customers at the as-of date (5 = most recent)",
        "score",
        "Recency score (1-5)",
    ),
    (
        "f_score",
        "frequency score 1-5 by quintile of purchase count among customers at the as-of date",
        "score",
        "Frequency score (1-5)",
    ),
    (
        "m_score",
        "monetary score 1-5 by quintile of total spend among customers at the as-of date",
        "score",
        "Monetary score (1-5)",
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

/// The short name people read for the column `name`, e.g. "Login events in the last 30 days" for
/// `events_login_30d`: reports and call lists show it instead of the column name.
///
/// The columns this layout writes are recognised by their names, read back as
/// [`CatalogColumn::parse`] reads them (the one reading of the catalog's naming); `description` (the
/// column's meaning, as the layout writes it into the Parquet metadata and the model's schema carries it)
/// gives an event type's own spelling. Any other column (a static attribute, a column of another origin)
/// gets its name as words: `MonthlyCharges` and `monthly_charges` both read "Monthly charges".
pub fn readable_name(name: &str, description: Option<&str>) -> String {
    match name {
        "rfm_segment" => return "RFM segment".into(),
        "value_tier" => return "Value tier".into(),
        "value_tier_clv" => return "Value tier by predicted lifetime value".into(),
        "lifecycle_stage" => return "Lifecycle stage".into(),
        _ => {}
    }
    let versus = |days: u32| format!("last {days} days vs the {days} before");
    match CatalogColumn::parse(name) {
        Some(CatalogColumn::Transaction { index, trend_days }) => {
            let readable = TX_FIXED[index].3;
            match trend_days {
                Some(days) => format!("{readable} ({})", versus(days)),
                None => readable.to_string(),
            }
        }
        Some(CatalogColumn::TransactionWindow { measure, days }) => {
            let what = match measure {
                WindowMeasure::Purchases => "Purchases",
                WindowMeasure::Spend => "Spend",
                WindowMeasure::Returns => "Returns",
            };
            format!("{what} in the last {days} days")
        }
        Some(CatalogColumn::Event { kind, measure }) => {
            let kind = event_kind(&kind, description.unwrap_or(""));
            match measure {
                EventMeasure::DaysSinceLast => format!("Days since last {kind} event"),
                EventMeasure::Trend { days } => {
                    capitalised(&format!("{kind} events trend ({})", versus(days)))
                }
                EventMeasure::Count { days } => {
                    capitalised(&format!("{kind} events in the last {days} days"))
                }
                EventMeasure::Value { days } => format!("Value of {kind} events in the last {days} days"),
            }
        }
        Some(CatalogColumn::OrderLines(measure)) => measure.readable(),
        Some(CatalogColumn::Subscription(measure)) => measure.readable(),
        Some(CatalogColumn::DaysSinceLastActivity) => "Days since last activity".into(),
        Some(CatalogColumn::Tenure) => "Tenure (days)".into(),
        Some(CatalogColumn::Value(measure)) => match measure {
            ValueMeasure::PAlive => "Probability still buying (P(alive))".into(),
            ValueMeasure::ExpectedPurchases { days } => format!("Expected purchases in the next {days} days"),
            ValueMeasure::ExpectedSpend => "Expected spend per purchase".into(),
            ValueMeasure::Clv { months } => format!("Lifetime value over the next {months} months"),
        },
        None => date_attribute_readable(name, description.unwrap_or("")).unwrap_or_else(|| words(name)),
    }
}

/// A date attribute's name for people, recognised by its meaning as [`date_attribute`] writes it:
/// "Birth date: age in days", "Contract end: days until".
fn date_attribute_readable(name: &str, description: &str) -> Option<String> {
    let quoted = description.split('`').nth(1)?;
    let (what, suffix) = if description.starts_with("days from the date in column") {
        ("age in days", DateMode::Age.suffix())
    } else if description.starts_with("days from the as-of date to the date in column") {
        ("days until", DateMode::InDays.suffix())
    } else {
        return None;
    };
    (name == format!("{quoted}_{suffix}")).then(|| format!("{}: {what}", words(quoted)))
}

/// An event type as people wrote it: the text between backticks in the description when there is one
/// (the layout quotes it there), else the column's spelling, with `_` read as a space.
fn event_kind(column_part: &str, description: &str) -> String {
    let quoted = description.split('`').nth(1).filter(|kind| !kind.is_empty());
    quoted.map_or_else(|| readable(column_part), |kind| kind.replace('_', " "))
}

/// The text with its first letter in upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// A column name as words: split at `_`, `-`, `.`, spaces, lower-to-upper case changes
/// and before digits, the first word capitalised, the others in lower case unless they are acronyms
/// (`StreamingTV` → "Streaming TV").
fn words(name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if matches!(c, '_' | '-' | ' ' | '.') {
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            previous = None;
            continue;
        }
        let boundary = previous.is_some_and(|p| {
            (p.is_lowercase() && c.is_uppercase()) || (p.is_alphabetic() && c.is_ascii_digit())
        });
        if boundary && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        current.push(c);
        previous = Some(c);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    if parts.is_empty() {
        return name.to_string();
    }
    let text: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let acronym = part.chars().count() > 1 && part.chars().all(|c| !c.is_lowercase());
            if acronym {
                part.clone()
            } else if i == 0 {
                capitalised(&part.to_lowercase())
            } else {
                part.to_lowercase()
            }
        })
        .collect();
    text.join(" ")
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
            date_attributes: &[],
            dated: true,
            value: Some(ValueColumns::new(&[30, 60, 90, 365], 24)),
            order_lines: None,
            subscriptions: None,
        };
        let layout = Layout::new(&inputs, &[7, 30], 90);
        let name = |i: usize| layout.specs[i].name.as_str();
        assert_eq!(name(tx::BTYD_MONETARY), "btyd_monetary_value");
        assert_eq!(name(tx::PURCHASE_TREND), "purchase_trend_90d");
        assert_eq!(name(tx::M_SCORE), "m_score");
        assert_eq!(name(tx::FIXED + 3), "purchases_30d");
        let value_start = layout.value_start.expect("value block");
        assert_eq!(value_start, tx::FIXED + 3 * 2);
        let value = layout.value.as_ref().expect("value columns");
        assert_eq!(value.purchase_horizons, vec![30, 60, 90, 365]);
        let value_names: Vec<&str> = (value_start..value_start + value.len()).map(name).collect();
        assert_eq!(
            value_names,
            [
                "p_alive",
                "expected_purchases_30d",
                "expected_purchases_60d",
                "expected_purchases_90d",
                "expected_purchases_365d",
                "expected_spend_per_purchase",
                "clv_24m"
            ]
        );
        assert_eq!(name(value_start + value.clv()), "clv_24m");
        assert_eq!(
            name(value_start + value.expected_spend()),
            "expected_spend_per_purchase"
        );
        assert_eq!(
            name(value_start + ValueColumns::expected_purchases(1)),
            "expected_purchases_60d"
        );
        assert_eq!(layout.event_starts[0], value_start + value.len());
        let descriptors: Vec<&str> = layout
            .specs
            .iter()
            .filter(|s| s.role == ColumnRole::Descriptor)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            descriptors,
            ["rfm_segment", "value_tier", "value_tier_clv", "lifecycle_stage"]
        );
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

    #[test]
    fn every_column_of_the_layout_has_its_own_readable_name() {
        let types = vec![
            "Support Ticket".to_string(),
            "page_view".to_string(),
            "login".to_string(),
        ];
        let inputs = LayoutInputs {
            transactions: true,
            event_types: Some(&types),
            event_values: true,
            numeric_attributes: &["MonthlyCharges".to_string()],
            categorical_attributes: &["PaymentMethod".to_string()],
            date_attributes: &[
                ("birth_date".to_string(), DateMode::Age),
                ("contract_end".to_string(), DateMode::InDays),
            ],
            dated: true,
            value: Some(ValueColumns::new(&[30, 90, 365, 273], 12)),
            order_lines: Some(crate::engine::order_lines::OrderLineInputs {
                orders: true,
                units: true,
                products: true,
                categories: true,
            }),
            subscriptions: Some(SubscriptionInputs {
                plans: true,
                seats: true,
                discounts: true,
            }),
        };
        let layout = Layout::new(&inputs, &[7, 30, 180], 90);
        let mut seen = std::collections::HashSet::new();
        for spec in &layout.specs {
            let readable = readable_name(&spec.name, Some(&spec.meaning));
            assert!(!readable.contains('_'), "{} -> {readable}", spec.name);
            assert!(
                readable.starts_with(|c: char| c.is_uppercase()),
                "{} -> {readable}",
                spec.name
            );
            assert!(seen.insert(readable.clone()), "{readable} twice");
        }
        let named = |name: &str| {
            let spec = layout.specs.iter().find(|s| s.name == name).expect(name);
            readable_name(name, Some(&spec.meaning))
        };
        assert_eq!(
            named("events_login_value_180d"),
            "Value of login events in the last 180 days"
        );
        assert_eq!(
            named("events_support_ticket_30d"),
            "Support Ticket events in the last 30 days"
        );
        assert_eq!(
            named("events_page_view_trend_90d"),
            "Page view events trend (last 90 days vs the 90 before)"
        );
        assert_eq!(
            named("days_since_last_page_view"),
            "Days since last page view event"
        );
        assert_eq!(named("days_since_last_purchase"), "Days since last purchase");
        assert_eq!(named("purchases_7d"), "Purchases in the last 7 days");
        assert_eq!(
            named("spend_trend_90d"),
            "Spend trend (last 90 days vs the 90 before)"
        );
        assert_eq!(named("tenure_days"), "Tenure (days)");
        assert_eq!(named("p_alive"), "Probability still buying (P(alive))");
        assert_eq!(
            named("expected_purchases_273d"),
            "Expected purchases in the next 273 days"
        );
        assert_eq!(named("clv_12m"), "Lifetime value over the next 12 months");
        assert_eq!(named("value_tier_clv"), "Value tier by predicted lifetime value");
        assert_eq!(
            named("lines_per_order_90d"),
            "Lines per order in the last 90 days"
        );
        assert_eq!(
            named("distinct_categories_180d"),
            "Distinct categories bought in the last 180 days"
        );
        assert_eq!(
            named("days_since_first_top_category_purchase"),
            "Days since first purchase in the top category"
        );
        assert_eq!(named("returned_unit_share"), "Share of units returned");
        assert_eq!(
            named("subscription_mrr_change_30d"),
            "MRR change over the last 30 days"
        );
        assert_eq!(named("subscription_plan"), "Subscription plan");
        for spec in &layout.specs {
            assert!(
                !spec.meaning.is_empty() && !spec.unit.is_empty() && !spec.window.is_empty(),
                "{}",
                spec.name
            );
        }
        let clv = layout.specs.iter().find(|s| s.name == "clv_12m").expect("clv");
        assert_eq!(clv.unit, "currency");
        assert!(
            clv.meaning.contains("Fader, Hardie & Lee")
                && clv.meaning.contains("lifetimes")
                && clv.meaning.contains("(1 + monthly_discount)^k"),
            "{}",
            clv.meaning
        );
        assert_eq!(named("MonthlyCharges"), "Monthly charges");
        assert_eq!(named("birth_date_age_days"), "Birth date: age in days");
        assert_eq!(named("contract_end_in_days"), "Contract end: days until");
        let dob = layout
            .specs
            .iter()
            .find(|s| s.name == "birth_date_age_days")
            .expect("date attribute");
        assert_eq!((dob.unit, dob.window.as_str()), ("days", "at the as-of date"));
        assert_eq!(dob.role, ColumnRole::Numeric);
        assert_eq!(named("PaymentMethod"), "Payment method");
    }

    #[test]
    fn value_columns_need_transactions_and_list_each_horizon_once() {
        let without = LayoutInputs {
            transactions: false,
            dated: true,
            value: Some(ValueColumns::new(&[30, 90, 365], 12)),
            ..LayoutInputs::default()
        };
        let layout = Layout::new(&without, &[30], 90);
        assert!(layout.value_start.is_none() && layout.value.is_none());
        assert!(!layout.specs.iter().any(|s| s.name == "p_alive"));
        assert_eq!(
            ValueColumns::new(&[365, 30, 90, 30], 12).purchase_horizons,
            [30, 90, 365]
        );
    }

    #[test]
    fn names_without_a_description_still_read_as_words() {
        assert_eq!(
            readable_name("events_login_value_30d", None),
            "Value of login events in the last 30 days"
        );
        assert_eq!(
            readable_name("events_page_view_30d", None),
            "Page view events in the last 30 days"
        );
        assert_eq!(readable_name("StreamingTV", None), "Streaming TV");
        assert_eq!(readable_name("customerID", None), "Customer ID");
        assert_eq!(readable_name("total_charges", None), "Total charges");
        assert_eq!(readable_name("SeniorCitizen", None), "Senior citizen");
        assert_eq!(readable_name("tenure", None), "Tenure");
        assert_eq!(readable_name("_", None), "_");
        // A static attribute that looks like a windowed column keeps its own words.
        assert_eq!(
            readable_name("visits_12d", Some("static customer attribute")),
            "Visits 12d"
        );
    }
}
