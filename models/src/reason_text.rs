//! Reasons in words: one sentence per reason, built from the customer's values of the reason's features,
//! e.g. `no purchase for 526 days; this customer used to buy every 31 days` or `3 support tickets in the
//! last 90 days`.
//!
//! A sentence puts in words up to [`FACTS_PER_REASON`] of the reason's features: those that move the
//! score most in the reason's direction, said in schema order. Each feature is read through its catalog
//! name (`churn_features::engine::family::CatalogColumn`), so every catalog column has its own words;
//! any other column reads `name is value`. A missing value says what it means where the catalog defines
//! it (`no purchase yet`, `no login yet`), else `name unknown`. Numbers are rounded for people: days and
//! counts to whole numbers, amounts to cents, shares to whole percents.

use crate::input::FeatureValue;
use crate::model::ReasonFeature;
use churn_features::engine::family::{CatalogColumn, EventMeasure, WindowMeasure, readable};
use churn_features::engine::layout::tx;

/// At most this many of a reason's features are put in words.
pub const FACTS_PER_REASON: usize = 2;

/// The sentence of a reason whose features (in schema order, with the customer's values and their
/// contributions) add up to `contribution`.
pub fn sentence(features: &[ReasonFeature], contribution: f64) -> String {
    let sign = if contribution < 0.0 { -1.0 } else { 1.0 };
    let mut chosen: Vec<usize> = (0..features.len())
        .filter(|&i| features[i].contribution * sign > 0.0)
        .collect();
    if chosen.is_empty() {
        chosen = (0..features.len()).collect();
    }
    chosen.sort_by(|&a, &b| {
        (features[b].contribution * sign)
            .total_cmp(&(features[a].contribution * sign))
            .then(a.cmp(&b))
    });
    chosen.truncate(FACTS_PER_REASON);
    chosen.sort_unstable();
    let mut facts: Vec<String> = Vec::with_capacity(chosen.len());
    for i in chosen {
        let fact = fact(&features[i], features);
        if !facts.contains(&fact) {
            facts.push(fact);
        }
    }
    facts.join("; ")
}

/// One feature's value in words; `all` are the reason's features, for context.
fn fact(feature: &ReasonFeature, all: &[ReasonFeature]) -> String {
    let name = feature.name.as_str();
    let number = match feature.value {
        FeatureValue::Number(value) if value.is_finite() => Some(value),
        FeatureValue::Number(_) | FeatureValue::Missing => None,
        FeatureValue::Text(_) => return attribute(name, &feature.value),
    };
    let Some(column) = CatalogColumn::parse(name) else {
        return attribute(name, &feature.value);
    };
    let unknown = || format!("{} unknown", readable(name));
    match column {
        CatalogColumn::Transaction { index, trend_days } => {
            transaction(index, trend_days, number, all).unwrap_or_else(unknown)
        }
        CatalogColumn::TransactionWindow { measure, days } => {
            let Some(value) = number else {
                return unknown();
            };
            match measure {
                WindowMeasure::Purchases => format!("{} in the last {days} days", count(value, "purchase")),
                WindowMeasure::Returns => format!("{} in the last {days} days", count(value, "return")),
                WindowMeasure::Spend if value.abs() < 0.005 => {
                    format!("nothing spent in the last {days} days")
                }
                WindowMeasure::Spend => format!("{} spent in the last {days} days", amount(value)),
            }
        }
        CatalogColumn::Event { kind, measure } => {
            let kind = readable(&kind);
            match (measure, number) {
                (EventMeasure::DaysSinceLast, Some(d)) => format!("no {kind} for {}", days(d)),
                (EventMeasure::DaysSinceLast, None) => format!("no {kind} yet"),
                (EventMeasure::Count { days }, Some(n)) => {
                    format!("{} in the last {days} days", count(n, &kind))
                }
                (EventMeasure::Value { days }, Some(v)) => {
                    format!("{kind} values adding up to {} in the last {days} days", amount(v))
                }
                (EventMeasure::Trend { days }, Some(share)) => format!(
                    "{} of the {} of the last {} days in the last {days}",
                    percent(share),
                    plural(&kind),
                    2 * days
                ),
                (EventMeasure::Trend { days }, None) => {
                    format!("no {kind} in the last {} days", 2 * days)
                }
                (EventMeasure::Count { .. } | EventMeasure::Value { .. }, None) => unknown(),
            }
        }
        CatalogColumn::DaysSinceLastActivity => match number {
            Some(d) => format!("no activity for {}", days(d)),
            None => "no activity yet".into(),
        },
        CatalogColumn::Tenure => match number {
            Some(d) => format!("a customer for {}", days(d)),
            None => unknown(),
        },
    }
}

/// A fixed transaction feature in words; `None` when its value is unknown and the catalog gives that no
/// meaning.
fn transaction(
    index: usize,
    trend_days: Option<u32>,
    value: Option<f64>,
    all: &[ReasonFeature],
) -> Option<String> {
    let no_purchase = || Some("no purchase yet".to_string());
    let Some(v) = value else {
        return match index {
            tx::BTYD_FREQUENCY | tx::BTYD_MONETARY => Some("no repeat purchase yet".into()),
            tx::INTERPURCHASE_MEAN | tx::INTERPURCHASE_STD | tx::OVERDUE_RATIO => {
                Some("fewer than two purchase days so far".into())
            }
            tx::PURCHASE_TREND | tx::SPEND_TREND => {
                trend_days.map(|t| format!("no purchase in the last {} days", 2 * t))
            }
            tx::PURCHASE_COUNT | tx::TOTAL_SPEND | tx::RETURN_COUNT | tx::RETURN_AMOUNT => None,
            _ => no_purchase(),
        };
    };
    Some(match index {
        tx::BTYD_FREQUENCY => count(v, "repeat purchase day"),
        tx::BTYD_RECENCY => format!("{} between the first and the last purchase", days(v)),
        tx::BTYD_T => format!("first purchase {} ago", days(v)),
        tx::BTYD_MONETARY => format!("{} spent per repeat purchase day", amount(v)),
        tx::DAYS_SINCE_LAST_PURCHASE if v < 0.5 => "a purchase on the day scored".into(),
        tx::DAYS_SINCE_LAST_PURCHASE => format!("no purchase for {}", days(v)),
        tx::PURCHASE_COUNT => count(v, "purchase"),
        tx::TOTAL_SPEND => format!("{} spent in total", amount(v)),
        tx::MEAN_SPEND => format!("{} per purchase on average", amount(v)),
        tx::RETURN_COUNT => count(v, "return"),
        tx::RETURN_AMOUNT => format!("{} returned", amount(v)),
        tx::INTERPURCHASE_MEAN => {
            let since = all
                .iter()
                .find(|f| {
                    CatalogColumn::parse(&f.name)
                        == Some(CatalogColumn::Transaction {
                            index: tx::DAYS_SINCE_LAST_PURCHASE,
                            trend_days: None,
                        })
                })
                .and_then(|f| match f.value {
                    FeatureValue::Number(d) => Some(d),
                    _ => None,
                });
            match since {
                Some(since) if since > v => format!("this customer used to buy every {}", days(v)),
                _ => format!("buys every {} on average", days(v)),
            }
        }
        tx::INTERPURCHASE_STD => format!("days between purchases vary by {}", days(v)),
        tx::OVERDUE_RATIO => format!(
            "{:.1} times the usual gap between purchases since the last one",
            v
        ),
        tx::PURCHASE_TREND | tx::SPEND_TREND => {
            let what = if index == tx::PURCHASE_TREND {
                "purchases"
            } else {
                "spend"
            };
            let t = trend_days.unwrap_or_default();
            format!(
                "{} of the {what} of the last {} days in the last {t}",
                percent(v),
                2 * t
            )
        }
        tx::R_SCORE => format!("recency score {} of 5", whole(v)),
        tx::F_SCORE => format!("frequency score {} of 5", whole(v)),
        tx::M_SCORE => format!("spend score {} of 5", whole(v)),
        _ => return None,
    })
}

/// A column the catalog does not name: `name is value`.
fn attribute(name: &str, value: &FeatureValue) -> String {
    match value {
        FeatureValue::Number(v) if v.is_finite() => format!("{name} is {}", amount(*v)),
        FeatureValue::Text(text) => format!("{name} is {text}"),
        FeatureValue::Number(_) | FeatureValue::Missing => format!("{name} unknown"),
    }
}

/// A rounded whole number, `-0` read as `0`.
fn whole(value: f64) -> i64 {
    value.round() as i64
}

/// `1 day`, `31 days`.
fn days(value: f64) -> String {
    match whole(value) {
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// `no purchase`, `1 purchase`, `69 purchases`.
fn count(value: f64, noun: &str) -> String {
    match whole(value) {
        0 => format!("no {noun}"),
        1 => format!("1 {noun}"),
        n => format!("{n} {}", plural(noun)),
    }
}

/// An amount: whole when it is, else to two decimals.
fn amount(value: f64) -> String {
    if (value - value.round()).abs() < 0.005 {
        format!("{}", whole(value))
    } else {
        format!("{value:.2}")
    }
}

/// A share as a whole percent.
fn percent(share: f64) -> String {
    format!("{}%", whole(share * 100.0))
}

/// The English plural of a noun (or of the last word of a phrase).
fn plural(noun: &str) -> String {
    if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("ch") || noun.ends_with("sh") {
        format!("{noun}es")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, value: FeatureValue, contribution: f64) -> ReasonFeature {
        ReasonFeature {
            name: name.into(),
            value,
            contribution,
        }
    }

    #[test]
    fn recency_says_how_long_against_the_usual_rhythm() {
        let features = [
            feature("days_since_last_purchase", 526.0.into(), 1.2),
            feature("interpurchase_mean_days", 31.2.into(), 0.4),
            feature("r_score", 1.0.into(), 0.1),
        ];
        assert_eq!(
            sentence(&features, 1.7),
            "no purchase for 526 days; this customer used to buy every 31 days"
        );
    }

    #[test]
    fn events_counts_and_missing_values_read_as_words() {
        let features = [
            feature("days_since_last_support_ticket", FeatureValue::Missing, 0.0),
            feature("events_support_ticket_90d", 3.0.into(), 0.9),
            feature("events_support_ticket_7d", 0.0.into(), -0.1),
        ];
        assert_eq!(sentence(&features, 0.8), "3 support tickets in the last 90 days");
        let never = [
            feature("days_since_last_login", FeatureValue::Missing, 0.7),
            feature("interpurchase_mean_days", FeatureValue::Missing, 0.2),
        ];
        assert_eq!(
            sentence(&never, 0.9),
            "no login yet; fewer than two purchase days so far"
        );
        let unknown = [feature("purchase_count", FeatureValue::Missing, 0.3)];
        assert_eq!(sentence(&unknown, 0.3), "purchase count unknown");
    }

    #[test]
    fn a_reason_mentions_the_features_that_push_its_way() {
        let features = [
            feature("purchase_count", 69.0.into(), 0.81),
            feature("total_spend", 24.5.into(), 1.2),
            feature("purchases_90d", 0.0.into(), 0.9),
        ];
        assert_eq!(
            sentence(&features, 2.91),
            "24.50 spent in total; no purchase in the last 90 days"
        );
        let lowering = [
            feature("purchase_count", 69.0.into(), -0.81),
            feature("total_spend", 2400.0.into(), 0.2),
        ];
        assert_eq!(sentence(&lowering, -0.61), "69 purchases");
    }

    #[test]
    fn attributes_and_plurals() {
        assert_eq!(
            sentence(&[feature("plan", "basic".into(), 0.4)], 0.4),
            "plan is basic"
        );
        assert_eq!(
            sentence(&[feature("MonthlyCharges", 70.35.into(), 0.4)], 0.4),
            "MonthlyCharges is 70.35"
        );
        assert_eq!(
            sentence(&[feature("age", FeatureValue::Missing, 0.4)], 0.4),
            "age unknown"
        );
        assert_eq!(plural("page view"), "page views");
        assert_eq!(plural("inquiry"), "inquiries");
        assert_eq!(plural("day"), "days");
        assert_eq!(plural("box"), "boxes");
        assert_eq!(
            sentence(&[feature("events_login_trend_90d", 0.25.into(), 0.4)], 0.4),
            "25% of the logins of the last 180 days in the last 90"
        );
    }
}
