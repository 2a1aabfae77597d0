//! What a feature column is about, recovered from its name: the catalog's naming ([`super::layout`]) read
//! backwards. [`CatalogColumn::parse`] says which catalog column a name is (and its window or event type),
//! [`Family::of`] which family of features it belongs to: recency, frequency and spend, returns, basket
//! (the order lines), subscription, tenure, one family per event type, and one per static attribute (any name the
//! engine does not write counts as an attribute). Models group reasons by family, and say them in words from the parsed column.

use super::layout::{tx, tx_fixed_name};
pub use super::order_lines::OrderLineMeasure;
pub use super::subscriptions::SubscriptionMeasure;

/// A column of the catalog, as its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogColumn {
    /// A fixed transaction feature: its position in [`tx`] (e.g. [`tx::PURCHASE_COUNT`]); for the trend
    /// features, the length of the trend periods in days.
    Transaction {
        /// Position in [`tx`].
        index: usize,
        /// Length of the trend periods (trend features only).
        trend_days: Option<u32>,
    },
    /// A windowed transaction feature, e.g. `purchases_90d`.
    TransactionWindow {
        /// What is counted or summed.
        measure: WindowMeasure,
        /// Window length in days.
        days: u32,
    },
    /// An event type's feature, e.g. `events_login_30d` or `days_since_last_login`.
    Event {
        /// The event type as it appears in column names (see [`super::layout::column_safe`]), e.g.
        /// `support_ticket`.
        kind: String,
        /// Which of the type's features.
        measure: EventMeasure,
    },
    /// An order-line feature, e.g. `distinct_products_90d` ([`super::order_lines`]).
    OrderLines(OrderLineMeasure),
    /// A subscription feature, e.g. `subscription_mrr` ([`super::subscriptions`]).
    Subscription(SubscriptionMeasure),
    /// `days_since_last_activity`.
    DaysSinceLastActivity,
    /// `tenure_days`.
    Tenure,
    /// A customer-value column: `p_alive`, `expected_purchases_{h}d`, `expected_spend_per_purchase` or
    /// `clv_{n}m`.
    Value(ValueMeasure),
}

/// Which customer-value column ([`super::layout::ValueColumns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMeasure {
    /// `p_alive`: the BG/NBD probability that the customer has not dropped out.
    PAlive,
    /// `expected_purchases_{h}d`: purchases the BG/NBD model expects in the next `days` days.
    ExpectedPurchases {
        /// Horizon in days.
        days: u32,
    },
    /// `expected_spend_per_purchase`: the Gamma-Gamma expected spend per purchase.
    ExpectedSpend,
    /// `clv_{n}m`: the discounted value of the purchases expected over the next `months` months.
    Clv {
        /// Months added up.
        months: u32,
    },
}

/// What a windowed transaction feature measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMeasure {
    /// `purchases_{w}d`: purchases in the window.
    Purchases,
    /// `spend_{w}d`: sum of purchase amounts in the window.
    Spend,
    /// `returns_{w}d`: returns in the window.
    Returns,
}

/// Which feature of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventMeasure {
    /// `days_since_last_{kind}`.
    DaysSinceLast,
    /// `events_{kind}_trend_{T}d`: recent events as a share of recent plus earlier ones.
    Trend {
        /// Length of each trend period in days.
        days: u32,
    },
    /// `events_{kind}_{w}d`: events in the window.
    Count {
        /// Window length in days.
        days: u32,
    },
    /// `events_{kind}_value_{w}d`: sum of the events' values in the window.
    Value {
        /// Window length in days.
        days: u32,
    },
}

impl CatalogColumn {
    /// The catalog column called `name`, or `None` for a name the engine does not write (a static
    /// attribute, or a column of a table built elsewhere).
    ///
    /// Event type names are read back from column names, so an event type whose safe name ends in
    /// `_trend` or `_value` is read as the shorter type's trend or value column.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(index) = (0..tx::FIXED).find(|&i| tx_fixed_name(i) == name)
            && !matches!(index, tx::PURCHASE_TREND | tx::SPEND_TREND)
        {
            return Some(Self::Transaction {
                index,
                trend_days: None,
            });
        }
        if let Some(measure) = OrderLineMeasure::parse(name) {
            return Some(Self::OrderLines(measure));
        }
        if let Some(measure) = SubscriptionMeasure::parse(name) {
            return Some(Self::Subscription(measure));
        }
        match name {
            "days_since_last_activity" => return Some(Self::DaysSinceLastActivity),
            "tenure_days" => return Some(Self::Tenure),
            "p_alive" => return Some(Self::Value(ValueMeasure::PAlive)),
            "expected_spend_per_purchase" => return Some(Self::Value(ValueMeasure::ExpectedSpend)),
            _ => {}
        }
        if let Some(months) = name
            .strip_prefix("clv_")
            .and_then(|rest| rest.strip_suffix('m'))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse().ok())
        {
            return Some(Self::Value(ValueMeasure::Clv { months }));
        }
        if let Some(kind) = name.strip_prefix("days_since_last_") {
            return is_safe_name(kind).then(|| Self::Event {
                kind: kind.to_string(),
                measure: EventMeasure::DaysSinceLast,
            });
        }
        let (stem, days) = split_days(name)?;
        for index in [tx::PURCHASE_TREND, tx::SPEND_TREND] {
            if stem == tx_fixed_name(index) {
                return Some(Self::Transaction {
                    index,
                    trend_days: Some(days),
                });
            }
        }
        if stem == "expected_purchases" {
            return Some(Self::Value(ValueMeasure::ExpectedPurchases { days }));
        }
        let window = |measure| Some(Self::TransactionWindow { measure, days });
        match stem {
            "purchases" => return window(WindowMeasure::Purchases),
            "spend" => return window(WindowMeasure::Spend),
            "returns" => return window(WindowMeasure::Returns),
            _ => {}
        }
        let rest = stem.strip_prefix("events_")?;
        let (kind, measure) = if let Some(kind) = rest.strip_suffix("_trend") {
            (kind, EventMeasure::Trend { days })
        } else if let Some(kind) = rest.strip_suffix("_value") {
            (kind, EventMeasure::Value { days })
        } else {
            (rest, EventMeasure::Count { days })
        };
        is_safe_name(kind).then(|| Self::Event {
            kind: kind.to_string(),
            measure,
        })
    }

    /// The family of features this column belongs to.
    pub fn family(&self) -> Family {
        match self {
            Self::Transaction { index, .. } => match *index {
                tx::DAYS_SINCE_LAST_PURCHASE
                | tx::INTERPURCHASE_MEAN
                | tx::INTERPURCHASE_STD
                | tx::OVERDUE_RATIO
                | tx::R_SCORE => Family::Recency,
                tx::RETURN_COUNT | tx::RETURN_AMOUNT => Family::Returns,
                tx::BTYD_RECENCY | tx::BTYD_T => Family::Tenure,
                _ => Family::FrequencyAndSpend,
            },
            Self::TransactionWindow {
                measure: WindowMeasure::Returns,
                ..
            } => Family::Returns,
            Self::TransactionWindow { .. } => Family::FrequencyAndSpend,
            Self::Event { kind, .. } => Family::Event(kind.clone()),
            Self::OrderLines(OrderLineMeasure::ReturnedUnitShare) => Family::Returns,
            Self::OrderLines(_) => Family::Basket,
            Self::Subscription(_) => Family::Subscription,
            Self::DaysSinceLastActivity => Family::Recency,
            Self::Tenure => Family::Tenure,
            // Whether the customer is still buying is read from the time since the last purchase against
            // their rhythm; what they will buy and spend, from how much and how often they bought.
            Self::Value(ValueMeasure::PAlive) => Family::Recency,
            Self::Value(_) => Family::FrequencyAndSpend,
        }
    }
}

/// A family of features: those that describe one thing about a customer, whose model contributions are
/// read together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// How long since the customer last bought or did anything, against how often they buy:
    /// `days_since_last_purchase`, `days_since_last_activity`, the days between purchases, the overdue
    /// ratio, `r_score`, `p_alive`.
    Recency,
    /// How much and how often the customer buys, in all and per window, and its trends; the purchases,
    /// spend and lifetime value the customer-value models expect.
    FrequencyAndSpend,
    /// Returns and cancellations, and the share of units returned.
    Returns,
    /// What the customer's orders hold: lines and units per order, distinct products and categories, the
    /// top category's share of spend and how long they have bought in it.
    Basket,
    /// The customer's subscription: MRR and its changes, plan, upgrades and downgrades, seats,
    /// discount, billing period, renewal, returns after churning and days in the current life.
    Subscription,
    /// How long the customer has been one: `tenure_days`, days since the first purchase, days between the
    /// first and the last purchase.
    Tenure,
    /// Every feature of one event type (its safe name, e.g. `support_ticket`).
    Event(String),
    /// One static attribute, or any column the engine does not name (its column name).
    Attribute(String),
}

impl Family {
    /// The family of the column called `name`.
    pub fn of(name: &str) -> Self {
        CatalogColumn::parse(name).map_or_else(|| Self::Attribute(name.to_string()), |c| c.family())
    }

    /// The family's name for people, e.g. `frequency and spend`, `support ticket events`, `plan`.
    pub fn label(&self) -> String {
        match self {
            Self::Recency => "recency".into(),
            Self::FrequencyAndSpend => "frequency and spend".into(),
            Self::Returns => "returns".into(),
            Self::Basket => "basket".into(),
            Self::Subscription => "subscription".into(),
            Self::Tenure => "tenure".into(),
            Self::Event(kind) => format!("{} events", readable(kind)),
            Self::Attribute(name) => name.clone(),
        }
    }
}

/// A safe column name (event type) in words: `support_ticket` → `support ticket`.
pub fn readable(name: &str) -> String {
    name.replace('_', " ")
}

/// `name` split into its stem and the days of a `_{days}d` suffix.
fn split_days(name: &str) -> Option<(&str, u32)> {
    let head = name.strip_suffix('d')?;
    let at = head.rfind('_')?;
    let digits = &head[at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&head[..at], digits.parse().ok()?))
}

/// Whether `name` is what [`column_safe`] makes of an event type: lower-case letters and digits in runs
/// joined by single `_` (checked without allocating, as reasons parse names per customer).
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('_')
        && !name.ends_with('_')
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layout::{Layout, LayoutInputs, ValueColumns};
    use crate::engine::order_lines::OrderLineInputs;
    use crate::table::ColumnRole;

    #[test]
    fn every_column_of_a_layout_parses_back_to_its_block() {
        let types = vec!["Support Ticket".to_string(), "login".to_string()];
        let inputs = LayoutInputs {
            transactions: true,
            event_types: Some(&types),
            event_values: true,
            numeric_attributes: &["age".to_string()],
            categorical_attributes: &["plan".to_string()],
            date_attributes: &[("contract_end".to_string(), crate::config::DateMode::InDays)],
            dated: true,
            value: Some(ValueColumns::new(&[30, 45, 90, 365], 6)),
            order_lines: Some(OrderLineInputs {
                orders: true,
                units: true,
                products: true,
                categories: true,
            }),
            subscriptions: None,
        };
        let layout = Layout::new(&inputs, &[7, 30, 365], 90);
        let value_start = layout.value_start.expect("value block");
        let value_end = value_start + layout.value.as_ref().map_or(0, ValueColumns::len);
        let lines = layout.order_lines.as_ref().expect("order-line block");
        assert_eq!(lines.start, value_end);
        let lines_end = lines.start + lines.features.len();
        assert_eq!(layout.event_starts[0], lines_end);
        for (i, spec) in layout.specs.iter().enumerate() {
            if spec.role == ColumnRole::Descriptor {
                continue;
            }
            let parsed = CatalogColumn::parse(&spec.name);
            let tx_end = layout
                .tx_start
                .map_or(0, |s| s + tx::FIXED + 3 * layout.windows.len());
            let family = Family::of(&spec.name);
            if i < tx::FIXED {
                assert!(
                    matches!(parsed, Some(CatalogColumn::Transaction { index, .. }) if index == i),
                    "{}",
                    spec.name
                );
            } else if i < tx_end {
                assert!(
                    matches!(parsed, Some(CatalogColumn::TransactionWindow { .. })),
                    "{}",
                    spec.name
                );
            } else if i < value_end {
                assert!(matches!(parsed, Some(CatalogColumn::Value(_))), "{}", spec.name);
                let expected = if spec.name == "p_alive" {
                    Family::Recency
                } else {
                    Family::FrequencyAndSpend
                };
                assert_eq!(family, expected, "{}", spec.name);
            } else if i < lines_end {
                assert_eq!(
                    parsed,
                    Some(CatalogColumn::OrderLines(lines.features[i - lines.start])),
                    "{}",
                    spec.name
                );
                let expected = if spec.name == "returned_unit_share" {
                    Family::Returns
                } else {
                    Family::Basket
                };
                assert_eq!(family, expected, "{}", spec.name);
            } else if i < layout.activity_start {
                let block = (i - layout.event_starts[0]) / layout.event_block_len();
                let kind = ["support_ticket", "login"][block];
                assert_eq!(family, Family::Event(kind.into()), "{}", spec.name);
            } else if i < layout.attributes_start {
                assert!(
                    matches!(family, Family::Recency | Family::Tenure),
                    "{}",
                    spec.name
                );
            } else {
                assert_eq!(parsed, None, "{}", spec.name);
                assert_eq!(family, Family::Attribute(spec.name.clone()));
            }
        }
    }

    #[test]
    fn names_map_to_their_families_and_windows() {
        let cases = [
            ("days_since_last_purchase", Family::Recency),
            ("interpurchase_mean_days", Family::Recency),
            ("days_since_last_activity", Family::Recency),
            ("purchase_count", Family::FrequencyAndSpend),
            ("total_spend", Family::FrequencyAndSpend),
            ("spend_trend_90d", Family::FrequencyAndSpend),
            ("purchases_7d", Family::FrequencyAndSpend),
            ("returns_30d", Family::Returns),
            ("tenure_days", Family::Tenure),
            ("btyd_t", Family::Tenure),
            (
                "events_support_ticket_90d",
                Family::Event("support_ticket".into()),
            ),
            ("events_page_view_value_30d", Family::Event("page_view".into())),
            ("events_login_trend_90d", Family::Event("login".into())),
            ("days_since_last_login", Family::Event("login".into())),
            ("p_alive", Family::Recency),
            ("expected_purchases_273d", Family::FrequencyAndSpend),
            ("expected_spend_per_purchase", Family::FrequencyAndSpend),
            ("clv_12m", Family::FrequencyAndSpend),
            ("lines_per_order", Family::Basket),
            ("units_per_order_90d", Family::Basket),
            ("distinct_products_365d", Family::Basket),
            ("distinct_categories", Family::Basket),
            ("top_category_spend_share", Family::Basket),
            ("days_since_first_top_category_purchase", Family::Basket),
            ("returned_unit_share", Family::Returns),
            ("subscription_mrr", Family::Subscription),
            ("subscription_mrr_change_90d", Family::Subscription),
            ("subscription_plan", Family::Subscription),
            ("subscription_days_to_renewal", Family::Subscription),
            ("clv_m", Family::Attribute("clv_m".into())),
            ("clv_12", Family::Attribute("clv_12".into())),
            ("plan", Family::Attribute("plan".into())),
            ("MonthlyCharges", Family::Attribute("MonthlyCharges".into())),
            ("purchases_d", Family::Attribute("purchases_d".into())),
        ];
        for (name, family) in cases {
            assert_eq!(Family::of(name), family, "{name}");
        }
        assert_eq!(
            CatalogColumn::parse("events_support_ticket_value_30d"),
            Some(CatalogColumn::Event {
                kind: "support_ticket".into(),
                measure: EventMeasure::Value { days: 30 }
            })
        );
        assert_eq!(
            CatalogColumn::parse("purchase_trend_60d"),
            Some(CatalogColumn::Transaction {
                index: tx::PURCHASE_TREND,
                trend_days: Some(60)
            })
        );
        assert_eq!(
            CatalogColumn::parse("clv_24m"),
            Some(CatalogColumn::Value(ValueMeasure::Clv { months: 24 }))
        );
        assert_eq!(
            CatalogColumn::parse("expected_purchases_90d"),
            Some(CatalogColumn::Value(ValueMeasure::ExpectedPurchases { days: 90 }))
        );
        assert_eq!(
            Family::Event("support_ticket".into()).label(),
            "support ticket events"
        );
        assert_eq!(Family::FrequencyAndSpend.label(), "frequency and spend");
        for name in [
            "login",
            "support_ticket",
            "a1",
            "Login",
            "a__b",
            "_a",
            "a_",
            "a-b",
            "",
        ] {
            let safe = crate::engine::layout::column_safe(name) == name;
            assert_eq!(is_safe_name(name), safe, "{name}");
        }
    }
}
