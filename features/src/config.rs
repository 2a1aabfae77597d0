//! The TOML configuration that maps a company's column names onto the data contract (the inputs
//! transactions, events, customers, subscriptions and labels, and the `[data]` date range; see the README's
//! "Configuration") and sets the feature parameters. Unknown keys are errors, so a typo never passes
//! silently. Relative paths resolve against the configuration file's folder.
//!
//! ```toml
//! [transactions]
//! path = "data/tx.parquet"      # a file or a directory of Parquet files
//! customer_id = "customer_id"
//! timestamp = "ts"
//! amount = "amount"             # or: quantity = "Quantity" and unit_price = "UnitPrice"
//! quantity = "units"            # optional beside `amount`: the units of each line
//! order_id = "order_id"         # optional, as are `product_id` and `category`
//! ```

use crate::error::{FeatureError, Result};
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Purchases and returns.
    pub transactions: Option<TransactionsSource>,
    /// Behavioural events (logins, support tickets, ...).
    pub events: Option<EventsSource>,
    /// Static customer attributes, signup and churn dates.
    pub customers: Option<CustomersSource>,
    /// Subscription periods: signup, contractual churn, plans and MRR derive from them.
    pub subscriptions: Option<SubscriptionsSource>,
    /// Given 0/1 churn labels.
    pub labels: Option<LabelsSource>,
    /// Feature parameters.
    #[serde(default)]
    pub features: FeatureParams,
    /// Lifecycle stage thresholds.
    #[serde(default)]
    pub lifecycle: LifecycleParams,
    /// Value tier thresholds.
    #[serde(default)]
    pub value_tier: ValueTierParams,
    /// The dates a dated row may carry.
    #[serde(default)]
    pub data: DataParams,
    /// The customer-value models fitted at each as-of date.
    #[serde(default)]
    pub value: ValueParams,
}

/// Where transactions are and what their columns are called.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionsSource {
    /// A Parquet file or a directory of Parquet files.
    pub path: PathBuf,
    /// Customer id column (string or integer).
    pub customer_id: String,
    /// Timestamp column (timestamp, date or ISO-8601 string).
    pub timestamp: String,
    /// Amount column; negative amounts are returns. Give either this (with `quantity` optionally) or
    /// `quantity` and `unit_price`.
    pub amount: Option<String>,
    /// Quantity column: the units of each line. With `unit_price`, amount = quantity × unit price (a
    /// negative quantity is a return); beside `amount`, the amount stays the spend and the line's sign
    /// comes from it. Either way it turns on the units features of the order lines.
    pub quantity: Option<String>,
    /// Unit price column (only with `quantity` and without `amount`).
    pub unit_price: Option<String>,
    /// Order id column: several lines of one order count as one purchase.
    pub order_id: Option<String>,
    /// Product id column (integer or string): turns on the distinct-products features. Without
    /// `order_id`, each line is its own order.
    pub product_id: Option<String>,
    /// Product category column (integer or string): turns on the category features.
    pub category: Option<String>,
}

impl TransactionsSource {
    /// Whether any order-line column (`product_id`, `category`, `quantity`) is mapped: the order-line
    /// features are built.
    pub fn has_order_lines(&self) -> bool {
        self.product_id.is_some() || self.category.is_some() || self.quantity.is_some()
    }
}

/// Where events are and what their columns are called.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSource {
    /// A Parquet file or a directory of Parquet files.
    pub path: PathBuf,
    /// Customer id column.
    pub customer_id: String,
    /// Timestamp column.
    pub timestamp: String,
    /// Event type column (string): each type becomes its own family of features.
    pub event_type: String,
    /// Optional numeric value column (e.g. minutes of a session), summed over windows.
    pub value: Option<String>,
}

/// Where customer attributes are and what their columns are called.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomersSource {
    /// A Parquet file or a directory of Parquet files.
    pub path: PathBuf,
    /// Customer id column.
    pub customer_id: String,
    /// Signup date column: tenure counts from it.
    pub signup_date: Option<String>,
    /// Churn (cancellation) date column: makes labels contractual.
    pub churn_date: Option<String>,
    /// Attribute columns to use; default: every other column.
    pub attributes: Option<Vec<String>>,
    /// Columns never to use as attributes (e.g. a label spelled out in words).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Date attributes (date or timestamp columns, such as a birth date or a contract end) and how each
    /// becomes a number at every as-of date: `age` (`<name>_age_days`, days from the date to the as-of
    /// date; null while the date is after it) or `in_days` (`<name>_in_days`, days from the as-of date to
    /// the date; negative once it has passed). Only the columns named here become features: other date or
    /// timestamp columns are left out (with a warning), since `[customers]` is a snapshot and a date that
    /// changes after the fact (a last login) would leak the label. Name only dates fixed in advance.
    #[serde(default)]
    pub date_attributes: BTreeMap<String, DateMode>,
}

/// How a date attribute of `[customers]` becomes a number at an as-of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateMode {
    /// `<name>_age_days`: the as-of date minus the date, in days; null when the date is after the as-of
    /// date (as when it is missing), so a date from after the as-of date never shows. The default.
    Age,
    /// `<name>_in_days`: the date minus the as-of date, in days, negative once the date has passed. For
    /// dates known in advance (a contract end, a renewal date): the one mode that reads a date after the
    /// as-of date, so only on the configuration's word.
    InDays,
}

impl DateMode {
    /// The suffix of the feature column: `age_days` or `in_days`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Age => "age_days",
            Self::InDays => "in_days",
        }
    }

    /// The mode as the configuration spells it: `age` or `in_days`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Age => "age",
            Self::InDays => "in_days",
        }
    }
}

impl CustomersSource {
    /// A date attribute must be a column of its own: not the id, signup or churn date, nor excluded.
    fn check(&self) -> std::result::Result<(), String> {
        for name in self.date_attributes.keys() {
            let taken = [
                (Some(&self.customer_id), "customer_id"),
                (self.signup_date.as_ref(), "signup_date"),
                (self.churn_date.as_ref(), "churn_date"),
            ]
            .into_iter()
            .find(|(column, _)| *column == Some(name));
            if let Some((_, key)) = taken {
                return Err(format!(
                    "[customers] date_attributes: `{name}` is already mapped as {key}; a date attribute is \
                     another column"
                ));
            }
            if self.exclude.contains(name) {
                return Err(format!(
                    "[customers] date_attributes: `{name}` is also in exclude; leave it in one of them"
                ));
            }
        }
        Ok(())
    }
}

/// Where subscription periods are and what their columns are called: one row per period of one
/// customer's subscription (see [`crate::engine::subscriptions`] for what derives from them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsSource {
    /// A Parquet file or a directory of Parquet files.
    pub path: PathBuf,
    /// Customer id column.
    pub customer_id: String,
    /// Start column (timestamp, date or ISO-8601 string): the first day the period covers.
    pub start: String,
    /// End column: the day the period stops, the first day it no longer covers (a monthly period from
    /// 2024-01-01 ends on 2024-02-01, when the next one starts); null while the period is running.
    pub end: String,
    /// Plan column (integer or string): overlapping periods of different plans are concurrent
    /// subscriptions; without it a customer's periods are all of one plan.
    pub plan: Option<String>,
    /// Monthly recurring revenue column (a number, at least 0). Give either this or `amount` with
    /// `billing_months`.
    pub mrr: Option<String>,
    /// Amount billed per billing period (a number, at least 0): MRR = amount / billing months.
    pub amount: Option<String>,
    /// Billing period column, in months (a number above 0; 12 for annual billing). Required with
    /// `amount`; without it, with `mrr`, every period is billed monthly.
    pub billing_months: Option<String>,
    /// Quantity column: seats or units of the period (a number, at least 0).
    pub quantity: Option<String>,
    /// Discount column: the share of the list price taken off, from 0 to 1.
    pub discount: Option<String>,
    /// Days after the end of a customer's last period within which a new period must start for the
    /// customer not to have churned (a pause of at most this many days is not churn).
    #[serde(default = "default_grace_days")]
    pub grace_days: u32,
}

/// The default grace period of `[subscriptions]`, in days.
pub const DEFAULT_GRACE_DAYS: u32 = 30;

fn default_grace_days() -> u32 {
    DEFAULT_GRACE_DAYS
}

/// Where given labels are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsSource {
    /// A Parquet file or a directory of Parquet files (may be the customers file).
    pub path: PathBuf,
    /// Customer id column.
    pub customer_id: String,
    /// The 0/1 label column (integer or boolean).
    pub label: String,
    /// A number column of how long each customer was observed, for survival models: the time to churn
    /// for those labelled 1, to the end of observation (censored) for the others, e.g. Telco's
    /// `tenure`. Needs `duration_unit`.
    #[serde(default)]
    pub duration: Option<String>,
    /// The unit of `duration`; durations are stored in days.
    #[serde(default)]
    pub duration_unit: Option<DurationUnit>,
}

/// The unit of a given duration column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationUnit {
    /// Days.
    Days,
    /// Weeks of 7 days.
    Weeks,
    /// Months of 365.25 / 12 = 30.4375 days.
    Months,
    /// Years of 365.25 days.
    Years,
}

impl DurationUnit {
    /// Days in one unit.
    pub fn days(self) -> f64 {
        match self {
            Self::Days => 1.0,
            Self::Weeks => 7.0,
            Self::Months => 365.25 / 12.0,
            Self::Years => 365.25,
        }
    }
}

/// Windows and trend length.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureParams {
    /// Window lengths in days for counts and sums.
    #[serde(default = "default_windows")]
    pub windows: Vec<u32>,
    /// Length in days of the recent and the earlier period compared by trend features.
    #[serde(default = "default_trend_days")]
    pub trend_days: u32,
}

impl Default for FeatureParams {
    fn default() -> Self {
        Self {
            windows: default_windows(),
            trend_days: default_trend_days(),
        }
    }
}

fn default_windows() -> Vec<u32> {
    vec![7, 30, 90, 180, 365]
}

fn default_trend_days() -> u32 {
    90
}

/// Lifecycle stage thresholds, in days.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleParams {
    /// A customer with a shorter tenure is `new`.
    #[serde(default = "default_new_days")]
    pub new_days: u32,
    /// At most this many days since the last activity: `active`.
    #[serde(default = "default_active_days")]
    pub active_days: u32,
    /// At most this many days since the last activity: `at_risk`; beyond: `lapsed`.
    #[serde(default = "default_at_risk_days")]
    pub at_risk_days: u32,
}

impl Default for LifecycleParams {
    fn default() -> Self {
        Self {
            new_days: default_new_days(),
            active_days: default_active_days(),
            at_risk_days: default_at_risk_days(),
        }
    }
}

fn default_new_days() -> u32 {
    30
}
fn default_active_days() -> u32 {
    60
}
fn default_at_risk_days() -> u32 {
    180
}

/// Value tier thresholds as shares of total spend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTierParams {
    /// The biggest spenders who together bring this share of revenue are `high`.
    #[serde(default = "default_high_share")]
    pub high_share: f64,
    /// The next ones who bring this share are `medium`; the rest `low`.
    #[serde(default = "default_medium_share")]
    pub medium_share: f64,
}

impl Default for ValueTierParams {
    fn default() -> Self {
        Self {
            high_share: default_high_share(),
            medium_share: default_medium_share(),
        }
    }
}

fn default_high_share() -> f64 {
    0.5
}
fn default_medium_share() -> f64 {
    0.3
}

/// The customer-value models (BG/NBD and Gamma-Gamma, [`crate::value`]) fitted at each as-of date on the
/// BTYD summaries of the customers with purchases by then, and the columns they give: `p_alive`,
/// `expected_purchases_{H}d`, `expected_spend_per_purchase`, `clv_{N}m` and `value_tier_clv`. Used when
/// the configuration has transactions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueParams {
    /// Whether to fit the models and write their columns.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The period of the fits in days (lifetimes' `freq`): frequency counts distinct purchase periods,
    /// recency and age are whole periods, all counted from the customer's first purchase day. 1: days,
    /// 7: weeks.
    #[serde(default = "default_period_days")]
    pub period_days: u32,
    /// Horizons in days of the expected purchases (`expected_purchases_{H}d`). The label horizon is not
    /// added: the columns depend on the configuration only, so tables to score (built without a horizon)
    /// have the columns of the training tables; list the label horizon here to get its column.
    #[serde(default = "default_purchase_horizons")]
    pub purchase_horizons: Vec<u32>,
    /// Months of purchases the customer lifetime value adds up (`clv_{N}m`), a month being 30.4375 days.
    #[serde(default = "default_clv_months")]
    pub clv_months: u32,
    /// Discount rate per month for the lifetime value (0.01: a dollar next month is worth 1/1.01 now).
    #[serde(default = "default_monthly_discount")]
    pub monthly_discount: f64,
    /// L2 penalty on the models' parameters (lifetimes' `penalizer_coef`; 0: plain maximum likelihood).
    #[serde(default)]
    pub penalizer: f64,
    /// The fewest customers with purchases an as-of date needs for the models to be fitted; with fewer,
    /// the value columns of that date are null.
    #[serde(default = "default_min_customers")]
    pub min_customers: u32,
}

impl Default for ValueParams {
    fn default() -> Self {
        Self {
            enabled: true,
            period_days: default_period_days(),
            purchase_horizons: default_purchase_horizons(),
            clv_months: default_clv_months(),
            monthly_discount: default_monthly_discount(),
            penalizer: 0.0,
            min_customers: default_min_customers(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_period_days() -> u32 {
    1
}
fn default_purchase_horizons() -> Vec<u32> {
    vec![30, 90, 365]
}
fn default_clv_months() -> u32 {
    12
}
fn default_monthly_discount() -> f64 {
    0.01
}
fn default_min_customers() -> u32 {
    20
}

/// The longest lifetime value horizon accepted, in months (100 years).
pub const MAX_CLV_MONTHS: u32 = 1200;

/// The accepted date range of dated rows (transactions, events, signup and churn dates). A row dated
/// outside it is invalid. A bound left out defaults, per input, to 365 days beyond that input's 0.1%
/// (`min_date`) or 99.9% (`max_date`) quantile day, so a lone row dated 2204 or 1900 cannot stretch the data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataParams {
    /// The first accepted day (`YYYY-MM-DD`).
    #[serde(default, deserialize_with = "data_min_date")]
    pub min_date: Option<NaiveDate>,
    /// The last accepted day (`YYYY-MM-DD`).
    #[serde(default, deserialize_with = "data_max_date")]
    pub max_date: Option<NaiveDate>,
}

fn data_min_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    date_key(deserializer, "[data] min_date").map(Some)
}

fn data_max_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    date_key(deserializer, "[data] max_date").map(Some)
}

/// A date under `key`: a string (`"2024-09-01"`) or a TOML date (`2024-09-01`), read by
/// [`crate::time::parse_date`] so that it takes the format the command line takes; an error names the key,
/// the value and the format.
fn date_key<'de, D: serde::Deserializer<'de>>(deserializer: D, key: &str) -> Result<NaiveDate, D::Error> {
    use serde::de::Error as _;
    let text = match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => text,
        toml::Value::Datetime(datetime) => datetime.to_string(),
        other => format!("{other}"),
    };
    crate::time::parse_date(&text).map_err(|reason| D::Error::custom(format!("{key}: {reason}")))
}

impl ValueParams {
    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=3660).contains(&self.period_days) {
            return Err(format!(
                "[value] period_days must be between 1 and 3660, not {}",
                self.period_days
            ));
        }
        if self.purchase_horizons.contains(&0) {
            return Err("[value] purchase_horizons: every horizon must be at least 1 day".into());
        }
        if !(1..=MAX_CLV_MONTHS).contains(&self.clv_months) {
            return Err(format!(
                "[value] clv_months must be between 1 and {MAX_CLV_MONTHS}, not {}",
                self.clv_months
            ));
        }
        if !(self.monthly_discount.is_finite() && (0.0..1.0).contains(&self.monthly_discount)) {
            return Err(format!(
                "[value] monthly_discount must be at least 0 and below 1 (0.01 is 1% a month), not {}",
                self.monthly_discount
            ));
        }
        if !(self.penalizer.is_finite() && self.penalizer >= 0.0) {
            return Err(format!(
                "[value] penalizer must be a number of at least 0, not {}",
                self.penalizer
            ));
        }
        if self.min_customers < 2 {
            return Err(format!(
                "[value] min_customers must be at least 2, not {}",
                self.min_customers
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Reads and checks a configuration file, resolving relative paths against its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| FeatureError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, base).map_err(|message| FeatureError::Config {
            path: path.into(),
            message,
        })
    }

    /// Parses and checks configuration text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> std::result::Result<Self, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.resolve_paths(base);
        config.check()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        if let Some(source) = &mut self.transactions {
            resolve(&mut source.path);
        }
        if let Some(source) = &mut self.events {
            resolve(&mut source.path);
        }
        if let Some(source) = &mut self.customers {
            resolve(&mut source.path);
        }
        if let Some(source) = &mut self.subscriptions {
            resolve(&mut source.path);
        }
        if let Some(source) = &mut self.labels {
            resolve(&mut source.path);
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.transactions.is_none()
            && self.customers.is_none()
            && self.labels.is_none()
            && self.subscriptions.is_none()
        {
            return Err(
                "no input: give at least [transactions] or [subscriptions], or [customers] with [labels]"
                    .into(),
            );
        }
        if let Some(labels) = &self.labels {
            match (&labels.duration, labels.duration_unit) {
                (Some(column), None) => {
                    return Err(format!(
                        "[labels] duration = \"{column}\" needs duration_unit (\"days\", \"weeks\", \
                         \"months\" or \"years\"): durations are stored in days"
                    ));
                }
                (None, Some(_)) => {
                    return Err("[labels] duration_unit is given without a duration column".into());
                }
                _ => {}
            }
        }
        if let Some(subs) = &self.subscriptions {
            match (&subs.mrr, &subs.amount, &subs.billing_months) {
                (Some(_), None, _) | (None, Some(_), Some(_)) => {}
                (Some(_), Some(_), _) => {
                    return Err(
                        "[subscriptions]: give either `mrr` or `amount` with `billing_months`, not \
                                `mrr` and `amount` together"
                            .into(),
                    );
                }
                (None, Some(_), None) => {
                    return Err(
                        "[subscriptions]: `amount` needs `billing_months` (MRR = amount / billing \
                                months)"
                            .into(),
                    );
                }
                (None, None, _) => {
                    return Err(
                        "[subscriptions]: give either `mrr`, or `amount` and `billing_months`".into(),
                    );
                }
            }
            if subs.grace_days > 3660 {
                return Err(format!(
                    "[subscriptions] grace_days must be between 0 and 3660, not {}",
                    subs.grace_days
                ));
            }
        }
        if let Some(tx) = &self.transactions {
            match (&tx.amount, &tx.quantity, &tx.unit_price) {
                (Some(_), _, None) | (None, Some(_), Some(_)) => {}
                (Some(_), _, Some(_)) => {
                    return Err(
                        "[transactions]: give either `amount` (the spend, with `quantity` for the \
                                units if you have it) or `quantity` and `unit_price` (amount = quantity × \
                                unit_price), not `amount` and `unit_price` together"
                            .into(),
                    );
                }
                _ => {
                    return Err(
                        "[transactions]: give either `amount` (optionally with `quantity`), or both \
                                `quantity` and `unit_price`"
                            .into(),
                    );
                }
            }
        }
        if let Some(customers) = &self.customers {
            customers.check()?;
            if self.is_snapshot() && !customers.date_attributes.is_empty() {
                return Err(
                    "[customers] date_attributes: ages and days-until are counted from as-of dates, but \
                     these inputs carry no time (no transactions, events, signup_date or churn_date), so a \
                     build has no as-of date"
                        .into(),
                );
            }
        }
        let params = &self.features;
        if params.windows.is_empty() || params.windows.contains(&0) {
            return Err("[features] windows: give one or more window lengths of at least 1 day".into());
        }
        if params.trend_days == 0 {
            return Err("[features] trend_days must be at least 1".into());
        }
        let life = &self.lifecycle;
        if life.active_days > life.at_risk_days {
            return Err("[lifecycle] active_days must not exceed at_risk_days".into());
        }
        if let (Some(min), Some(max)) = (self.data.min_date, self.data.max_date)
            && min > max
        {
            return Err(format!("[data] min_date {min} is after max_date {max}"));
        }
        let tier = &self.value_tier;
        let shares_valid =
            tier.high_share > 0.0 && tier.medium_share >= 0.0 && tier.high_share + tier.medium_share <= 1.0;
        if !shares_valid {
            return Err("[value_tier] high_share must be > 0, medium_share >= 0, and their sum <= 1".into());
        }
        self.value.check()
    }

    /// Whether the customer-value models are fitted: `[value] enabled` with transactions configured.
    pub fn value_models(&self) -> bool {
        self.value.enabled && self.transactions.is_some()
    }

    /// The files and folders this configuration reads (resolved against the configuration's folder).
    pub fn input_paths(&self) -> Vec<&Path> {
        [
            self.transactions.as_ref().map(|s| s.path.as_path()),
            self.events.as_ref().map(|s| s.path.as_path()),
            self.customers.as_ref().map(|s| s.path.as_path()),
            self.subscriptions.as_ref().map(|s| s.path.as_path()),
            self.labels.as_ref().map(|s| s.path.as_path()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// True when no input carries time: a snapshot table (e.g. Telco) that needs no as-of date.
    pub fn is_snapshot(&self) -> bool {
        self.transactions.is_none()
            && self.events.is_none()
            && self.subscriptions.is_none()
            && self
                .customers
                .as_ref()
                .is_none_or(|c| c.signup_date.is_none() && c.churn_date.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [transactions]
        path = "data/tx.parquet"
        customer_id = "customer_id"
        timestamp = "ts"
        amount = "amount"
    "#;

    #[test]
    fn minimal_config_gets_defaults_and_resolved_paths() {
        let config = Config::parse(MINIMAL, Path::new("/project/examples")).expect("valid");
        let tx = config.transactions.expect("transactions");
        assert_eq!(tx.path, Path::new("/project/examples/data/tx.parquet"));
        assert_eq!(config.features.windows, vec![7, 30, 90, 180, 365]);
        assert!(
            !Config::parse(MINIMAL, Path::new(""))
                .expect("valid")
                .is_snapshot()
        );
    }

    #[test]
    fn data_dates_parse() {
        let text = format!("{MINIMAL}\n[data]\nmin_date = \"2020-01-01\"\nmax_date = \"2024-12-31\"\n");
        let config = Config::parse(&text, Path::new("")).expect("valid");
        assert_eq!(config.data.min_date, NaiveDate::from_ymd_opt(2020, 1, 1));
        assert_eq!(config.data.max_date, NaiveDate::from_ymd_opt(2024, 12, 31));
        assert!(
            Config::parse(MINIMAL, Path::new(""))
                .expect("valid")
                .data
                .min_date
                .is_none()
        );
    }

    #[test]
    fn bad_data_dates_name_the_key_the_value_and_the_format() {
        for (key, value) in [
            ("min_date", "\"01/09/2024\""),
            ("max_date", "\"2024-02-30\""),
            ("min_date", "2024-09-01T10:00:00"),
            ("max_date", "20240901"),
        ] {
            let text = format!("{MINIMAL}\n[data]\n{key} = {value}\n");
            let message = Config::parse(&text, Path::new("")).expect_err(value);
            let shown = value.trim_matches('"');
            assert!(
                message.contains(&format!("[data] {key}"))
                    && message.contains(&format!("`{shown}`"))
                    && message.contains("YYYY-MM-DD, e.g. 2024-09-01"),
                "{message}"
            );
        }
        let text = format!("{MINIMAL}\n[data]\nmin_date = 2020-01-01\n");
        let config = Config::parse(&text, Path::new("")).expect("an unquoted TOML date");
        assert_eq!(config.data.min_date, NaiveDate::from_ymd_opt(2020, 1, 1));
    }

    #[test]
    fn date_attributes_map_columns_to_modes() {
        let customers = "[customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\n";
        let text = format!(
            "{MINIMAL}{customers}date_attributes = {{ contract_end = \"in_days\", date_of_birth = \"age\" }}\n"
        );
        let config = Config::parse(&text, Path::new("")).expect("valid");
        let dates = config.customers.expect("customers").date_attributes;
        assert_eq!(
            dates.into_iter().collect::<Vec<_>>(),
            [
                ("contract_end".to_string(), DateMode::InDays),
                ("date_of_birth".to_string(), DateMode::Age)
            ]
        );
        let config = Config::parse(&format!("{MINIMAL}{customers}"), Path::new("")).expect("valid");
        assert!(config.customers.expect("customers").date_attributes.is_empty());
        assert_eq!(
            (DateMode::Age.suffix(), DateMode::InDays.suffix()),
            ("age_days", "in_days")
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let text = format!("{MINIMAL}\namuont = \"x\"\n");
        let message = Config::parse(&text, Path::new("")).expect_err("unknown key");
        assert!(message.contains("amuont"), "{message}");
    }

    #[test]
    fn amount_or_quantity_and_price_but_not_both() {
        let text = MINIMAL.replace("amount = \"amount\"", "quantity = \"q\"");
        assert!(Config::parse(&text, Path::new("")).is_err());
        let text = MINIMAL.replace("amount = \"amount\"", "quantity = \"q\"\nunit_price = \"p\"");
        assert!(Config::parse(&text, Path::new("")).is_ok());
    }

    #[test]
    fn quantity_may_come_with_amount_but_unit_price_may_not() {
        let text = format!("{MINIMAL}quantity = \"q\"\nproduct_id = \"sku\"\ncategory = \"dept\"\n");
        let config = Config::parse(&text, Path::new("")).expect("amount and quantity");
        let tx = config.transactions.expect("transactions");
        assert!(tx.has_order_lines());
        assert_eq!(
            (
                tx.quantity.as_deref(),
                tx.product_id.as_deref(),
                tx.category.as_deref()
            ),
            (Some("q"), Some("sku"), Some("dept"))
        );
        assert!(
            !Config::parse(MINIMAL, Path::new(""))
                .expect("valid")
                .transactions
                .expect("transactions")
                .has_order_lines()
        );
        for extra in ["unit_price = \"p\"\n", "quantity = \"q\"\nunit_price = \"p\"\n"] {
            let message =
                Config::parse(&format!("{MINIMAL}{extra}"), Path::new("")).expect_err("amount and price");
            assert!(
                message.contains("not `amount` and `unit_price` together"),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        for extra in [
            "[features]\nwindows = []",
            "[features]\nwindows = [0, 7]",
            "[value_tier]\nhigh_share = 0.8\nmedium_share = 0.5",
            "[lifecycle]\nactive_days = 200\nat_risk_days = 100",
            "[data]\nmin_date = \"2024-02-01\"\nmax_date = \"2024-01-01\"",
            "[data]\nmin_date = \"2024-13-01\"",
            "[data]\nmax = \"2024-01-01\"",
            "[value]\nperiod_days = 0",
            "[value]\nclv_months = 0",
            "[value]\npurchase_horizons = [0, 30]",
            "[value]\nclv_months = 1201",
            "[value]\nmonthly_discount = -0.01",
            "[value]\nmonthly_discount = 1.0",
            "[value]\nmonthly_discount = nan",
            "[value]\npenalizer = -1.0",
            "[value]\nmin_customers = 1",
            "[value]\nenabled = \"yes\"",
        ] {
            let text = format!("{MINIMAL}\n{extra}\n");
            assert!(Config::parse(&text, Path::new("")).is_err(), "{extra}");
        }
    }

    #[test]
    fn value_section_defaults_and_keys() {
        let config = Config::parse(MINIMAL, Path::new("")).expect("valid");
        let value = &config.value;
        assert!(value.enabled && config.value_models());
        assert_eq!(
            (value.period_days, value.clv_months, value.min_customers),
            (1, 12, 20)
        );
        assert_eq!((value.monthly_discount, value.penalizer), (0.01, 0.0));
        assert_eq!(value.purchase_horizons, [30, 90, 365]);
        let text = format!(
            "{MINIMAL}\n[value]\nperiod_days = 7\nclv_months = 24\nmonthly_discount = 0.02\npenalizer = 0.001\n\
             min_customers = 50\npurchase_horizons = [14]\n"
        );
        let value = Config::parse(&text, Path::new("")).expect("valid").value;
        assert_eq!(
            (value.period_days, value.clv_months, value.min_customers),
            (7, 24, 50)
        );
        assert_eq!((value.monthly_discount, value.penalizer), (0.02, 0.001));
        assert_eq!(value.purchase_horizons, [14]);
        let off =
            Config::parse(&format!("{MINIMAL}\n[value]\nenabled = false\n"), Path::new("")).expect("valid");
        assert!(!off.value_models());
        let message = Config::parse(&format!("{MINIMAL}\n[value]\nperiods = 7\n"), Path::new(""))
            .expect_err("unknown key");
        assert!(message.contains("periods"), "{message}");
        let message = Config::parse(&format!("{MINIMAL}\n[value]\nclv_months = 0\n"), Path::new(""))
            .expect_err("out of range");
        assert!(message.contains("[value] clv_months"), "{message}");
    }
}
