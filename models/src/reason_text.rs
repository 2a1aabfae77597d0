//! Reasons in words: one sentence per reason, built from the customer's values of the reason's features,
//! e.g. `no purchase for 526 days; this customer used to buy every 31 days` or `3 support tickets in the
//! last 90 days, the last one 12 days ago`.
//!
//! A reason's features are split by catalog family (`churn_features::engine::family::Family`) and each
//! family's contributions summed; the sentence says up to [`FAMILIES_PER_REASON`] families, those that
//! move the score most in the reason's direction, largest first, each from its usual columns when the
//! reason has them:
//!
//! - recency: days since the last purchase against the usual days between purchases (or days since the
//!   last activity);
//! - frequency and spend: purchases, those in the window closest to 90 days, total spend;
//! - returns: returns, and those in that window;
//! - tenure: days as a customer (or since the first purchase);
//! - an event type: its events in that window and the days since the last one;
//! - subscription: the MRR a month, its change in the window closest to 90 days, days to renewal
//!   (`120 a month, down 30 in the last 90 days, renewing in 12 days`);
//! - basket (order lines): its features that move the score most, each in words (`2.5 units per order
//!   in the last 90 days`, `62% of spend in the top category`);
//! - an attribute: `name is value`.
//!
//! A family without its usual columns says up to [`FACTS_PER_FAMILY`] of its features, those that move
//! the score most its way, each read through its catalog name, and any other column reads
//! `name is value`. A missing value says what it means where the catalog defines it (`no purchase yet`,
//! `no login yet`), else `name unknown`. Numbers are rounded for people: days and counts to whole
//! numbers, amounts to cents, shares to whole percents.

use crate::input::FeatureValue;
use crate::model::ReasonFeature;
use churn_features::engine::family::{
    CatalogColumn, EventMeasure, Family, OrderLineMeasure, SubscriptionMeasure, ValueMeasure, WindowMeasure,
    readable,
};
use churn_features::engine::layout::tx;
use std::fmt::{self, Display};

/// Bytes a phrase is given room for at first: enough for most, so that writing one seldom grows it.
const PHRASE_CAPACITY: usize = 96;

/// `format!` into a string of [`PHRASE_CAPACITY`] bytes.
macro_rules! phrase {
    ($($arg:tt)*) => {{
        let mut text = String::with_capacity(PHRASE_CAPACITY);
        append(&mut text, format_args!($($arg)*));
        text
    }};
}

/// At most this many of a reason's families are put in words.
pub const FAMILIES_PER_REASON: usize = 2;

/// At most this many features of a family without its usual columns are put in words.
pub const FACTS_PER_FAMILY: usize = 2;

/// Recent counts are read from the window closest to this many days.
pub const RECENT_DAYS: u32 = 90;

/// A reason in words, and which of its features leads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// Position among the reason's features of its main feature: in the family that moves the score
    /// most in the reason's direction, the feature that does (the first such on ties).
    pub main: usize,
    /// The sentence.
    pub text: String,
}

/// What the catalog says about one feature: its column, when the catalog names it, and its family.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureKind {
    /// The catalog column the name is, if any.
    pub column: Option<CatalogColumn>,
    /// The family of features it belongs to.
    pub family: Family,
    /// The name as a sentence says it when it reads the feature as `name is value` (`MonthlyCharges` →
    /// `monthly charges`, see `churn_features::engine::layout::readable_name`).
    pub spoken: String,
}

impl FeatureKind {
    /// The kind of the feature called `name`.
    pub fn of(name: &str) -> Self {
        let column = CatalogColumn::parse(name);
        let family = match &column {
            Some(column) => column.family(),
            None => Family::Attribute(name.to_string()),
        };
        Self {
            column,
            family,
            spoken: spoken(name),
        }
    }
}

/// A feature's name in words, lower case unless it starts with an acronym.
fn spoken(name: &str) -> String {
    let readable = churn_features::engine::layout::readable_name(name, None);
    let mut chars = readable.chars();
    let acronym = readable
        .split(' ')
        .next()
        .is_some_and(|w| w.len() > 1 && !w.chars().any(char::is_lowercase));
    match chars.next() {
        Some(first) if !acronym => first.to_lowercase().chain(chars).collect(),
        _ => readable.clone(),
    }
}

/// Describes a reason whose features (in schema order, with the customer's values and their
/// contributions) add up to `contribution`. `features` must not be empty.
pub fn describe(features: &[ReasonFeature], contribution: f64) -> Described {
    let kinds: Vec<FeatureKind> = features.iter().map(|f| FeatureKind::of(&f.name)).collect();
    let members: Vec<Member<'_>> = features
        .iter()
        .zip(&kinds)
        .enumerate()
        .map(|(i, (f, kind))| Member {
            name: &f.name,
            kind,
            contribution: f.contribution,
            feature: i,
        })
        .collect();
    describe_members(&members, &|i| features[i].value.clone(), contribution)
}

/// One feature of a reason as its sentence reads it.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The feature's name.
    pub name: &'a str,
    /// What the catalog says about it.
    pub kind: &'a FeatureKind,
    /// Its own contribution.
    pub contribution: f64,
    /// The key `value` of [`describe_members`] reads the customer's value by.
    pub feature: usize,
}

/// [`describe`] for a reason given by its members (in schema order, not empty), whose contributions add
/// up to `contribution`. `value(member.feature)` gives the customer's value of a member; it is called
/// only for the few members the sentence says, so a scorer reading values from a large table pays for
/// those alone.
pub fn describe_members(
    members: &[Member<'_>],
    value: &dyn Fn(usize) -> FeatureValue,
    contribution: f64,
) -> Described {
    let families = families_of(members.iter().map(|member| member.kind));
    describe_families(members, &families, value, contribution)
}

/// The positions of a reason's members (ascending) split by family, one list per family.
pub type Families = Vec<Vec<usize>>;

/// The positions of a reason's members split by family, the families in order of first appearance;
/// `kinds` are the members' kinds in member order. A model's reasons always split the same way, so a
/// scorer splits each reason group once ([`describe_families`]).
pub fn families_of<'a>(kinds: impl Iterator<Item = &'a FeatureKind>) -> Families {
    let mut families: Vec<(&Family, Vec<usize>)> = Vec::new();
    for (i, kind) in kinds.enumerate() {
        match families.iter_mut().find(|(family, _)| **family == kind.family) {
            Some((_, positions)) => positions.push(i),
            None => families.push((&kind.family, vec![i])),
        }
    }
    families.into_iter().map(|(_, positions)| positions).collect()
}

/// [`describe_members`] with the members already split by family ([`families_of`] of their kinds).
pub fn describe_families(
    members: &[Member<'_>],
    families: &[Vec<usize>],
    value: &dyn Fn(usize) -> FeatureValue,
    contribution: f64,
) -> Described {
    let sign = if contribution < 0.0 { -1.0 } else { 1.0 };
    let mut order: Vec<(&[usize], f64)> = families
        .iter()
        .map(|positions| {
            let sum = positions.iter().map(|&i| members[i].contribution).sum();
            (positions.as_slice(), sum)
        })
        .collect();
    order.sort_by(|a, b| (b.1 * sign).total_cmp(&(a.1 * sign)));
    let main = order.first().map_or(0, |(positions, _)| {
        let mut main = positions[0];
        for &i in *positions {
            if members[i].contribution * sign > members[main].contribution * sign {
                main = i;
            }
        }
        main
    });
    let mut phrases: Vec<String> = Vec::new();
    for (k, (positions, sum)) in order.iter().enumerate() {
        if phrases.len() == FAMILIES_PER_REASON || (k > 0 && sum * sign <= 0.0) {
            break;
        }
        let family_members = Members {
            all: members,
            positions,
            value,
        };
        let phrase = family_phrase(&members[positions[0]].kind.family, &family_members, sign);
        if !phrase.is_empty() && !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    let text = if phrases.len() == 1 {
        phrases.swap_remove(0)
    } else {
        phrases.join("; ")
    };
    Described { main, text }
}

/// The features of one family of a reason, and how to read the customer's values.
struct Members<'a> {
    /// Every member of the reason.
    all: &'a [Member<'a>],
    /// The positions in `all` of this family's members, ascending.
    positions: &'a [usize],
    value: &'a dyn Fn(usize) -> FeatureValue,
}

/// A member of a reason with the customer's value.
struct Read<'a> {
    name: &'a str,
    kind: &'a FeatureKind,
    value: FeatureValue,
}

impl<'a> Members<'a> {
    /// This family's members, in schema order.
    fn iter(&self) -> impl Iterator<Item = &'a Member<'a>> + use<'a> {
        let all = self.all;
        self.positions.iter().map(move |&i| &all[i])
    }

    /// `member` with the customer's value.
    fn read(&self, member: &'a Member<'a>) -> Read<'a> {
        Read {
            name: member.name,
            kind: member.kind,
            value: (self.value)(member.feature),
        }
    }

    /// The member whose column is `column`, with its value.
    fn find(&self, column: &CatalogColumn) -> Option<Read<'a>> {
        self.find_where(|c| c == column)
    }

    /// The first member whose column satisfies `matches`, with its value.
    fn find_where(&self, matches: impl Fn(&CatalogColumn) -> bool) -> Option<Read<'a>> {
        self.iter()
            .find(|m| m.kind.column.as_ref().is_some_and(&matches))
            .map(|m| self.read(m))
    }

    /// The member with the window closest to [`RECENT_DAYS`] among those `window` gives one for (the
    /// shorter on ties), with its value.
    fn recent(&self, window: impl Fn(&CatalogColumn) -> Option<u32>) -> Option<(Read<'a>, u32)> {
        self.iter()
            .filter_map(|m| Some((m, window(m.kind.column.as_ref()?)?)))
            .min_by_key(|&(_, days)| (days.abs_diff(RECENT_DAYS), days))
            .map(|(m, days)| (self.read(m), days))
    }
}

/// A feature's value as a finite number.
fn number(feature: Read<'_>) -> Option<f64> {
    match feature.value {
        FeatureValue::Number(value) if value.is_finite() => Some(value),
        _ => None,
    }
}

/// One family's part of a sentence, from its usual columns, else from its features that move the
/// score most in the direction `sign`.
fn family_phrase(family: &Family, members: &Members<'_>, sign: f64) -> String {
    let usual = match family {
        Family::Recency => recency(members),
        Family::FrequencyAndSpend => frequency(members),
        Family::Returns => returns(members),
        Family::Tenure => tenure(members),
        Family::Event(kind) => event(members, kind),
        Family::Subscription => subscription_summary(members),
        Family::Basket | Family::Attribute(_) => None,
    };
    usual.unwrap_or_else(|| facts(members, sign))
}

/// The catalog column of the fixed transaction feature at `index` of [`tx`] (not a trend).
fn fixed(index: usize) -> CatalogColumn {
    CatalogColumn::Transaction {
        index,
        trend_days: None,
    }
}

fn recency(members: &Members<'_>) -> Option<String> {
    let activity = members.find(&CatalogColumn::DaysSinceLastActivity).map(number);
    let Some(since) = members.find(&fixed(tx::DAYS_SINCE_LAST_PURCHASE)) else {
        return activity.map(|a| match a {
            Some(a) => phrase!("no activity for {}", days(a)),
            None => "no activity yet".into(),
        });
    };
    let active = |phrase: String, since: Option<f64>| match activity.flatten() {
        Some(a) if since.is_none_or(|d| whole(a) < whole(d)) => {
            phrase!("{phrase}, last active {} ago", days(a))
        }
        _ => phrase,
    };
    let Some(d) = number(since) else {
        return Some(active("no purchase yet".into(), None));
    };
    let phrase = if d < 0.5 {
        "a purchase on the day scored".to_string()
    } else {
        phrase!("no purchase for {}", days(d))
    };
    let mut phrase = active(phrase, Some(d));
    if let Some(m) = members.find(&fixed(tx::INTERPURCHASE_MEAN)).and_then(number) {
        if d > m {
            append(
                &mut phrase,
                format_args!("; this customer used to buy every {}", days(m)),
            );
        } else {
            append(&mut phrase, format_args!(", buying every {} on average", days(m)));
        }
    }
    Some(phrase)
}

fn frequency(members: &Members<'_>) -> Option<String> {
    let recent = members.recent(|c| match c {
        CatalogColumn::TransactionWindow {
            measure: WindowMeasure::Purchases,
            days,
        } => Some(*days),
        _ => None,
    });
    let recent = recent.and_then(|(f, w)| Some((number(f)?, w)));
    let spend = members.find(&fixed(tx::TOTAL_SPEND)).and_then(number);
    let spend_part = |phrase: String| match spend {
        Some(x) => phrase!("{phrase}, {} spent in total", amount(x)),
        None => phrase,
    };
    match members.find(&fixed(tx::PURCHASE_COUNT)).and_then(number) {
        Some(n) if whole(n) == 0 => Some(count(n, "purchase").to_string()),
        Some(n) => {
            let mut phrase = count(n, "purchase").to_string();
            if let Some((k, w)) = recent {
                let k = if whole(k) == 0 {
                    "none".into()
                } else {
                    whole(k).to_string()
                };
                append(&mut phrase, format_args!(" ({k} in the last {w} days)"));
            }
            Some(spend_part(phrase))
        }
        None => match recent {
            Some((k, w)) => Some(phrase!("{} in the last {w} days", count(k, "purchase"))),
            None => spend.map(|x| phrase!("{} spent in total", amount(x))),
        },
    }
}

fn returns(members: &Members<'_>) -> Option<String> {
    let recent = members.recent(|c| match c {
        CatalogColumn::TransactionWindow {
            measure: WindowMeasure::Returns,
            days,
        } => Some(*days),
        _ => None,
    });
    let recent = recent.and_then(|(f, w)| Some((number(f)?, w)));
    match members.find(&fixed(tx::RETURN_COUNT)).and_then(number) {
        Some(n) => {
            let mut phrase = count(n, "return").to_string();
            if let Some((k, w)) = recent.filter(|_| whole(n) > 0) {
                let k = if whole(k) == 0 {
                    "none".into()
                } else {
                    whole(k).to_string()
                };
                append(&mut phrase, format_args!(" ({k} in the last {w} days)"));
            }
            Some(phrase)
        }
        None => recent.map(|(k, w)| phrase!("{} in the last {w} days", count(k, "return"))),
    }
}

fn tenure(members: &Members<'_>) -> Option<String> {
    if let Some(tenure) = members.find(&CatalogColumn::Tenure) {
        return number(tenure).map(|d| phrase!("a customer for {}", days(d)));
    }
    let first = members.find(&fixed(tx::BTYD_T))?;
    Some(match number(first) {
        Some(d) => phrase!("first purchase {} ago", days(d)),
        None => "no purchase yet".into(),
    })
}

fn event(members: &Members<'_>, kind: &str) -> Option<String> {
    let recent = members.recent(|c| match c {
        CatalogColumn::Event {
            kind: k,
            measure: EventMeasure::Count { days },
        } if k == kind => Some(*days),
        _ => None,
    });
    let recent = recent.and_then(|(f, w)| Some((number(f)?, w)));
    let last = members
        .find_where(|c| {
            matches!(c, CatalogColumn::Event { kind: k, measure: EventMeasure::DaysSinceLast } if k == kind)
        })
        .map(number);
    let name = readable(kind);
    Some(match (recent, last) {
        (Some((k, w)), last) if whole(k) > 0 => {
            let phrase = phrase!("{} in the last {w} days", count(k, &name));
            match last.flatten() {
                Some(d) => phrase!("{phrase}, the last one {} ago", days(d)),
                None => phrase,
            }
        }
        (_, Some(Some(d))) => phrase!("no {name} for {}", days(d)),
        (_, Some(None)) => phrase!("no {name} yet"),
        (Some((_, w)), None) => phrase!("no {name} in the last {w} days"),
        (None, None) => return None,
    })
}

/// Up to [`FACTS_PER_FAMILY`] of the members in words: those that move the score most in the direction
/// `sign` (any, when none does), in schema order.
fn facts(members: &Members<'_>, sign: f64) -> String {
    let member = |k: usize| &members.all[members.positions[k]];
    let count = members.positions.len();
    let mut chosen: Vec<usize> = (0..count)
        .filter(|&k| member(k).contribution * sign > 0.0)
        .collect();
    if chosen.is_empty() {
        chosen = (0..count).collect();
    }
    chosen.sort_by(|&a, &b| {
        (member(b).contribution * sign)
            .total_cmp(&(member(a).contribution * sign))
            .then(a.cmp(&b))
    });
    chosen.truncate(FACTS_PER_FAMILY);
    chosen.sort_unstable();
    let mut facts: Vec<String> = Vec::with_capacity(chosen.len());
    for k in chosen {
        let fact = fact(members.read(member(k)), members);
        if !facts.contains(&fact) {
            facts.push(fact);
        }
    }
    facts.join("; ")
}

/// One feature's value in words; `all` are the members of its family, for context.
fn fact(feature: Read<'_>, all: &Members<'_>) -> String {
    let name = feature.name;
    let number = match feature.value {
        FeatureValue::Number(value) if value.is_finite() => Some(value),
        FeatureValue::Number(_) | FeatureValue::Missing => None,
        FeatureValue::Text(ref text) => {
            return match feature.kind.column {
                Some(CatalogColumn::Subscription(SubscriptionMeasure::Plan)) => phrase!("on the {text} plan"),
                _ => attribute(feature.kind, &feature.value),
            };
        }
    };
    let Some(column) = feature.kind.column.clone() else {
        return attribute(feature.kind, &feature.value);
    };
    let unknown = || phrase!("{} unknown", readable(name));
    match column {
        CatalogColumn::Transaction { index, trend_days } => {
            transaction(index, trend_days, number, all).unwrap_or_else(unknown)
        }
        CatalogColumn::TransactionWindow { measure, days } => {
            let Some(value) = number else {
                return unknown();
            };
            match measure {
                WindowMeasure::Purchases => phrase!("{} in the last {days} days", count(value, "purchase")),
                WindowMeasure::Returns => phrase!("{} in the last {days} days", count(value, "return")),
                WindowMeasure::Spend if value.abs() < 0.005 => {
                    phrase!("nothing spent in the last {days} days")
                }
                WindowMeasure::Spend => phrase!("{} spent in the last {days} days", amount(value)),
            }
        }
        CatalogColumn::Event { kind, measure } => {
            let kind = readable(&kind);
            match (measure, number) {
                (EventMeasure::DaysSinceLast, Some(d)) => phrase!("no {kind} for {}", days(d)),
                (EventMeasure::DaysSinceLast, None) => phrase!("no {kind} yet"),
                (EventMeasure::Count { days }, Some(n)) => {
                    phrase!("{} in the last {days} days", count(n, &kind))
                }
                (EventMeasure::Value { days }, Some(v)) => {
                    phrase!("{kind} values adding up to {} in the last {days} days", amount(v))
                }
                (EventMeasure::Trend { days }, Some(share)) => phrase!(
                    "{} of the {} of the last {} days in the last {days}",
                    percent(share),
                    plural(&kind),
                    2 * days
                ),
                (EventMeasure::Trend { days }, None) => {
                    phrase!("no {kind} in the last {} days", 2 * days)
                }
                (EventMeasure::Count { .. } | EventMeasure::Value { .. }, None) => unknown(),
            }
        }
        CatalogColumn::OrderLines(measure) => order_line(measure, number),
        CatalogColumn::Subscription(measure) => subscription(measure, number),
        CatalogColumn::DaysSinceLastActivity => match number {
            Some(d) => phrase!("no activity for {}", days(d)),
            None => "no activity yet".into(),
        },
        CatalogColumn::Tenure => match number {
            Some(d) => phrase!("a customer for {}", days(d)),
            None => unknown(),
        },
        CatalogColumn::Value(measure) => {
            let Some(value) = number else {
                return unknown();
            };
            match measure {
                ValueMeasure::PAlive => phrase!("{} likely to be still buying", percent(value)),
                ValueMeasure::ExpectedPurchases { days } => {
                    phrase!("{value:.1} purchases expected in the next {days} days")
                }
                ValueMeasure::ExpectedSpend => phrase!("{} expected per purchase", amount(value)),
                ValueMeasure::Clv { months } => {
                    phrase!(
                        "a lifetime value of {} over the next {months} months",
                        amount(value)
                    )
                }
            }
        }
    }
}

/// The subscription family from its usual columns: the MRR and its change over the window closest to
/// [`RECENT_DAYS`], and the days to renewal.
fn subscription_summary(members: &Members<'_>) -> Option<String> {
    let mrr = members
        .find(&CatalogColumn::Subscription(SubscriptionMeasure::Mrr))
        .and_then(number)?;
    let mut phrase = phrase!("{} a month", amount(mrr));
    let change = members.recent(|c| match c {
        CatalogColumn::Subscription(SubscriptionMeasure::MrrChange { days }) => Some(*days),
        _ => None,
    });
    if let Some((change, w)) = change.and_then(|(f, w)| Some((number(f)?, w))) {
        append(
            &mut phrase,
            format_args!(", {} in the last {w} days", mrr_change(change)),
        );
    }
    if let Some(d) = members
        .find(&CatalogColumn::Subscription(SubscriptionMeasure::DaysToRenewal))
        .and_then(number)
    {
        append(&mut phrase, format_args!(", renewing in {}", days(d)));
    }
    Some(phrase)
}

/// A change of MRR in words: `up 20`, `down 15.50`, `unchanged`.
fn mrr_change(change: f64) -> String {
    if change.abs() < 0.005 {
        "unchanged".into()
    } else if change > 0.0 {
        phrase!("up {}", amount(change))
    } else {
        phrase!("down {}", amount(-change))
    }
}

/// A subscription feature in words; a missing value means no subscription is running.
fn subscription(measure: SubscriptionMeasure, value: Option<f64>) -> String {
    let Some(v) = value else {
        return match measure {
            SubscriptionMeasure::Seats => "seats unknown".into(),
            SubscriptionMeasure::Discount => "discount unknown".into(),
            _ => "no subscription running".into(),
        };
    };
    match measure {
        SubscriptionMeasure::LifeDays => phrase!("subscribed for {}", days(v)),
        SubscriptionMeasure::Returns => match whole(v) {
            0 => "never came back after churning".into(),
            1 => "came back once after churning".into(),
            n => phrase!("came back {n} times after churning"),
        },
        SubscriptionMeasure::Concurrent => count(v, "subscription").to_string(),
        SubscriptionMeasure::Mrr => phrase!("{} a month", amount(v)),
        SubscriptionMeasure::MrrChange { days } => phrase!("MRR {} in the last {days} days", mrr_change(v)),
        SubscriptionMeasure::Upgrades => count(v, "upgrade").to_string(),
        SubscriptionMeasure::Downgrades => count(v, "downgrade").to_string(),
        SubscriptionMeasure::MonthsOnPlan => phrase!("{v:.1} months on the current plan"),
        SubscriptionMeasure::BillingMonths if whole(v) == 12 => "billed yearly".into(),
        SubscriptionMeasure::BillingMonths if whole(v) == 1 => "billed monthly".into(),
        SubscriptionMeasure::BillingMonths => phrase!("billed every {} months", whole(v)),
        SubscriptionMeasure::Seats => count(v, "seat").to_string(),
        SubscriptionMeasure::Discount => phrase!("{} discount", percent(v)),
        SubscriptionMeasure::DaysToRenewal => phrase!("renewing in {}", days(v)),
        SubscriptionMeasure::Plan => "plan unknown".into(),
    }
}

/// An order-line feature in words; a missing value says what it means (no order, no purchase, no units).
fn order_line(measure: OrderLineMeasure, value: Option<f64>) -> String {
    let during = |days: Option<u32>| days.map_or_else(String::new, |d| phrase!(" in the last {d} days"));
    match (measure, value) {
        (OrderLineMeasure::LinesPerOrder { days }, Some(v)) => {
            phrase!("{v:.1} lines per order{}", during(days))
        }
        (OrderLineMeasure::UnitsPerOrder { days }, Some(v)) => {
            phrase!("{v:.1} units per order{}", during(days))
        }
        (OrderLineMeasure::LinesPerOrder { days } | OrderLineMeasure::UnitsPerOrder { days }, None) => {
            phrase!("no order{}", during(days))
        }
        (OrderLineMeasure::DistinctProducts { days }, Some(v)) => {
            phrase!("{} bought{}", count(v, "distinct product"), during(days))
        }
        (OrderLineMeasure::DistinctCategories { days }, Some(v)) => {
            phrase!("{} bought{}", count(v, "category"), during(days))
        }
        (OrderLineMeasure::TopCategorySpendShare, Some(v)) => {
            phrase!("{} of spend in the top category", percent(v))
        }
        (OrderLineMeasure::DaysSinceFirstTopCategoryPurchase, Some(v)) => {
            phrase!("first bought in the top category {} ago", days(v))
        }
        (OrderLineMeasure::ReturnedUnitShare, Some(v)) => phrase!("{} of units returned", percent(v)),
        (OrderLineMeasure::ReturnedUnitShare, None) => "no units bought yet".into(),
        (
            OrderLineMeasure::DistinctProducts { .. }
            | OrderLineMeasure::DistinctCategories { .. }
            | OrderLineMeasure::TopCategorySpendShare
            | OrderLineMeasure::DaysSinceFirstTopCategoryPurchase,
            None,
        ) => "no purchase yet".into(),
    }
}

/// A fixed transaction feature in words; `None` when its value is unknown and the catalog gives that no
/// meaning.
fn transaction(
    index: usize,
    trend_days: Option<u32>,
    value: Option<f64>,
    all: &Members<'_>,
) -> Option<String> {
    let no_purchase = || Some("no purchase yet".to_string());
    let Some(v) = value else {
        return match index {
            tx::BTYD_FREQUENCY | tx::BTYD_MONETARY => Some("no repeat purchase yet".into()),
            tx::INTERPURCHASE_MEAN | tx::INTERPURCHASE_STD | tx::OVERDUE_RATIO => {
                Some("fewer than two purchase days so far".into())
            }
            tx::PURCHASE_TREND | tx::SPEND_TREND => {
                trend_days.map(|t| phrase!("no purchase in the last {} days", 2 * t))
            }
            tx::PURCHASE_COUNT | tx::TOTAL_SPEND | tx::RETURN_COUNT | tx::RETURN_AMOUNT => None,
            _ => no_purchase(),
        };
    };
    Some(match index {
        tx::BTYD_FREQUENCY => count(v, "repeat purchase day").to_string(),
        tx::BTYD_RECENCY => phrase!("{} between the first and the last purchase", days(v)),
        tx::BTYD_T => phrase!("first purchase {} ago", days(v)),
        tx::BTYD_MONETARY => phrase!("{} spent per repeat purchase day", amount(v)),
        tx::DAYS_SINCE_LAST_PURCHASE if v < 0.5 => "a purchase on the day scored".into(),
        tx::DAYS_SINCE_LAST_PURCHASE => phrase!("no purchase for {}", days(v)),
        tx::PURCHASE_COUNT => count(v, "purchase").to_string(),
        tx::TOTAL_SPEND => phrase!("{} spent in total", amount(v)),
        tx::MEAN_SPEND => phrase!("{} per purchase on average", amount(v)),
        tx::RETURN_COUNT => count(v, "return").to_string(),
        tx::RETURN_AMOUNT => phrase!("{} returned", amount(v)),
        tx::INTERPURCHASE_MEAN => {
            let since = all.find(&fixed(tx::DAYS_SINCE_LAST_PURCHASE)).and_then(number);
            match since {
                Some(since) if since > v => phrase!("this customer used to buy every {}", days(v)),
                _ => phrase!("buys every {} on average", days(v)),
            }
        }
        tx::INTERPURCHASE_STD => phrase!("days between purchases vary by {}", days(v)),
        tx::OVERDUE_RATIO => phrase!(
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
            phrase!(
                "{} of the {what} of the last {} days in the last {t}",
                percent(v),
                2 * t
            )
        }
        tx::R_SCORE => phrase!("recency score {} of 5", whole(v)),
        tx::F_SCORE => phrase!("frequency score {} of 5", whole(v)),
        tx::M_SCORE => phrase!("spend score {} of 5", whole(v)),
        _ => return None,
    })
}

/// A column the catalog does not name: `name is value`, the name in words ([`FeatureKind::spoken`]).
fn attribute(kind: &FeatureKind, value: &FeatureValue) -> String {
    let name = &kind.spoken;
    match value {
        FeatureValue::Number(v) if v.is_finite() => phrase!("{name} is {}", amount(*v)),
        FeatureValue::Text(text) => phrase!("{name} is {text}"),
        FeatureValue::Number(_) | FeatureValue::Missing => phrase!("{name} unknown"),
    }
}

/// Appends `part` to `phrase`.
fn append(phrase: &mut String, part: fmt::Arguments<'_>) {
    fmt::Write::write_fmt(phrase, part).expect("a String takes any text");
}

/// A rounded whole number, `-0` read as `0`.
fn whole(value: f64) -> i64 {
    value.round() as i64
}

/// `1 day`, `31 days`.
fn days(value: f64) -> impl Display {
    fmt::from_fn(move |f| match whole(value) {
        1 => f.write_str("1 day"),
        n => write!(f, "{n} days"),
    })
}

/// `no purchase`, `1 purchase`, `69 purchases`.
fn count(value: f64, noun: &str) -> impl Display {
    fmt::from_fn(move |f| match whole(value) {
        0 => write!(f, "no {noun}"),
        1 => write!(f, "1 {noun}"),
        n => write!(f, "{n} {}", plural(noun)),
    })
}

/// An amount: whole when it is, else to two decimals.
fn amount(value: f64) -> impl Display {
    fmt::from_fn(move |f| {
        if (value - value.round()).abs() < 0.005 {
            write!(f, "{}", whole(value))
        } else {
            write!(f, "{value:.2}")
        }
    })
}

/// A share as a whole percent.
fn percent(share: f64) -> impl Display {
    fmt::from_fn(move |f| write!(f, "{}%", whole(share * 100.0)))
}

/// The English plural of a noun (or of the last word of a phrase).
fn plural(noun: &str) -> impl Display {
    fmt::from_fn(move |f| {
        if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("ch") || noun.ends_with("sh") {
            write!(f, "{noun}es")
        } else if let Some(stem) = noun.strip_suffix('y')
            && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
        {
            write!(f, "{stem}ies")
        } else {
            write!(f, "{noun}s")
        }
    })
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

    fn sentence(features: &[ReasonFeature], contribution: f64) -> String {
        describe(features, contribution).text
    }

    #[test]
    fn recency_says_how_long_against_the_usual_rhythm() {
        let features = [
            feature("days_since_last_purchase", 526.0.into(), 1.2),
            feature("interpurchase_mean_days", 31.2.into(), 0.4),
            feature("r_score", 1.0.into(), 0.1),
            feature("days_since_last_activity", 526.0.into(), 0.3),
        ];
        assert_eq!(
            sentence(&features, 2.0),
            "no purchase for 526 days; this customer used to buy every 31 days"
        );
        let active = [
            feature("days_since_last_purchase", 40.0.into(), 0.4),
            feature("interpurchase_mean_days", 60.0.into(), -0.1),
            feature("days_since_last_activity", 3.0.into(), 0.1),
        ];
        assert_eq!(
            sentence(&active, 0.4),
            "no purchase for 40 days, last active 3 days ago, buying every 60 days on average"
        );
        let never = [
            feature("days_since_last_purchase", FeatureValue::Missing, 0.4),
            feature("interpurchase_mean_days", FeatureValue::Missing, 0.1),
        ];
        assert_eq!(sentence(&never, 0.5), "no purchase yet");
    }

    #[test]
    fn events_say_recent_counts_and_the_last_one() {
        let features = [
            feature("days_since_last_support_ticket", 12.0.into(), 0.1),
            feature("events_support_ticket_30d", 1.0.into(), 0.2),
            feature("events_support_ticket_90d", 3.0.into(), 0.9),
            feature("events_support_ticket_365d", 4.0.into(), -0.1),
        ];
        assert_eq!(
            sentence(&features, 1.1),
            "3 support tickets in the last 90 days, the last one 12 days ago"
        );
        let never = [
            feature("days_since_last_login", FeatureValue::Missing, 0.7),
            feature("events_login_90d", 0.0.into(), 0.2),
        ];
        assert_eq!(sentence(&never, 0.9), "no login yet");
        let lapsed = [
            feature("days_since_last_login", 229.0.into(), 0.7),
            feature("events_login_90d", 0.0.into(), 0.2),
        ];
        assert_eq!(sentence(&lapsed, 0.9), "no login for 229 days");
    }

    #[test]
    fn frequency_and_spend_is_read_as_one_family() {
        let features = [
            feature("purchase_count", 69.0.into(), 0.81),
            feature("total_spend", 2400.5.into(), -0.98),
            feature("purchases_30d", 0.0.into(), 0.1),
            feature("purchases_90d", 0.0.into(), 0.4),
        ];
        let described = describe(&features, 0.33);
        assert_eq!(
            described.text,
            "69 purchases (none in the last 90 days), 2400.50 spent in total"
        );
        assert_eq!(described.main, 0);
        let unknown = [feature("purchase_count", FeatureValue::Missing, 0.3)];
        assert_eq!(sentence(&unknown, 0.3), "purchase count unknown");
    }

    #[test]
    fn merged_families_are_said_in_order_of_their_part() {
        let features = [
            feature("btyd_frequency", 10.0.into(), -0.2),
            feature("days_since_last_purchase", 300.0.into(), 1.5),
            feature("purchase_count", 12.0.into(), 0.5),
            feature("total_spend", 300.0.into(), -0.4),
            feature("days_since_last_activity", 300.0.into(), 0.4),
        ];
        let described = describe(&features, 1.8);
        assert_eq!(described.text, "no purchase for 300 days");
        assert_eq!(
            described.main, 1,
            "the main feature comes from the leading family"
        );
        let both = [
            feature("days_since_last_purchase", 300.0.into(), 1.5),
            feature("purchase_count", 2.0.into(), 0.5),
            feature("plan", "basic".into(), 0.1),
        ];
        assert_eq!(sentence(&both, 2.1), "no purchase for 300 days; 2 purchases");
    }

    #[test]
    fn other_columns_and_plurals() {
        assert_eq!(
            sentence(&[feature("plan", "basic".into(), 0.4)], 0.4),
            "plan is basic"
        );
        assert_eq!(
            sentence(&[feature("MonthlyCharges", 70.35.into(), 0.4)], 0.4),
            "monthly charges is 70.35"
        );
        assert_eq!(
            sentence(&[feature("age", FeatureValue::Missing, 0.4)], 0.4),
            "age unknown"
        );
        assert_eq!(
            sentence(&[feature("events_login_trend_90d", 0.25.into(), 0.4)], 0.4),
            "25% of the logins of the last 180 days in the last 90"
        );
        assert_eq!(
            sentence(
                &[
                    feature("interpurchase_mean_days", 31.0.into(), 0.4),
                    feature("r_score", 2.0.into(), 0.3),
                    feature("overdue_ratio", FeatureValue::Missing, -0.1),
                ],
                0.6
            ),
            "buys every 31 days on average; recency score 2 of 5"
        );
        assert_eq!(
            sentence(&[feature("p_alive", 0.234.into(), 0.4)], 0.4),
            "23% likely to be still buying"
        );
        assert_eq!(
            sentence(&[feature("clv_12m", 36.284.into(), -0.4)], -0.4),
            "a lifetime value of 36.28 over the next 12 months"
        );
        assert_eq!(
            sentence(&[feature("expected_purchases_90d", 1.26.into(), -0.4)], -0.4),
            "1.3 purchases expected in the next 90 days"
        );
        assert_eq!(
            sentence(
                &[feature("expected_spend_per_purchase", FeatureValue::Missing, 0.1)],
                0.1
            ),
            "expected spend per purchase unknown"
        );
        assert_eq!(plural("page view").to_string(), "page views");
    }

    #[test]
    fn subscription_features_read_as_words() {
        let subscription = [
            feature("subscription_mrr", 120.0.into(), 0.1),
            feature("subscription_mrr_change_30d", (-10.0).into(), 0.1),
            feature("subscription_mrr_change_90d", (-30.0).into(), 0.2),
            feature("subscription_days_to_renewal", 12.0.into(), 0.1),
        ];
        assert_eq!(
            sentence(&subscription, 0.5),
            "120 a month, down 30 in the last 90 days, renewing in 12 days"
        );
        assert_eq!(
            sentence(&[feature("subscription_plan", "basic".into(), 0.2)], 0.2),
            "on the basic plan"
        );
        assert_eq!(
            sentence(
                &[
                    feature("subscription_downgrades", 2.0.into(), 0.3),
                    feature("subscription_billing_months", 12.0.into(), 0.1),
                ],
                0.4
            ),
            "2 downgrades; billed yearly"
        );
        assert_eq!(
            sentence(&[feature("subscription_returns", 1.0.into(), 0.2)], 0.2),
            "came back once after churning"
        );
        assert_eq!(
            sentence(&[feature("subscription_discount", 0.15.into(), 0.2)], 0.2),
            "15% discount"
        );
    }

    #[test]
    fn basket_features_read_as_words() {
        let basket = [
            feature("units_per_order_90d", 2.5.into(), 0.3),
            feature("top_category_spend_share", 0.624.into(), 0.2),
            feature("distinct_products", 12.0.into(), -0.1),
        ];
        assert_eq!(
            sentence(&basket, 0.4),
            "2.5 units per order in the last 90 days; 62% of spend in the top category"
        );
        assert_eq!(
            sentence(&[feature("distinct_categories_30d", 1.0.into(), 0.2)], 0.2),
            "1 category bought in the last 30 days"
        );
        assert_eq!(
            sentence(&[feature("lines_per_order_90d", FeatureValue::Missing, 0.2)], 0.2),
            "no order in the last 90 days"
        );
        assert_eq!(
            sentence(
                &[feature(
                    "days_since_first_top_category_purchase",
                    120.0.into(),
                    0.2
                )],
                0.2
            ),
            "first bought in the top category 120 days ago"
        );
        assert_eq!(
            sentence(&[feature("returned_unit_share", 0.25.into(), 0.2)], 0.2),
            "25% of units returned"
        );
        assert_eq!(plural("inquiry").to_string(), "inquiries");
        assert_eq!(plural("day").to_string(), "days");
        assert_eq!(plural("box").to_string(), "boxes");
    }
}
