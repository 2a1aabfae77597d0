//! No leakage: adding or removing rows dated after the as-of date changes no feature value of any
//! customer (labels may change: they are meant to look ahead), with and without the order-line columns
//! (quantity, order, product and category of each transaction); a date attribute of `[customers]`
//! (an age) dated after the as-of date shows no more than a missing one, and a date column that
//! `date_attributes` does not name (a last login, later in the file than at the as-of date) is not used; and
//! periods of `[subscriptions]` that start after the as-of date, or end after it, change no feature either.

use crate::common::*;
use arrow_array::{ArrayRef, Date32Array, TimestampSecondArray};
use chrono::Days;
use churn_features::{FeatureError, FeatureTable, OnInvalid};
use proptest::prelude::*;
use std::sync::Arc;

const START: &str = "2024-01-01";
const KINDS: [&str; 3] = ["login", "support_ticket", "complaint"];

#[derive(Debug, Clone)]
struct Tx {
    customer: u8,
    day: u32,
    hour: u32,
    amount: f64,
    /// The order-line columns: quantity, and the indices of the order (of the customer), the product
    /// and the category.
    quantity: f64,
    order: u8,
    product: u8,
    category: u8,
}

#[derive(Debug, Clone)]
struct Event {
    customer: u8,
    day: u32,
    kind: usize,
}

fn tx_strategy(days: std::ops::Range<u32>) -> impl Strategy<Value = Tx> {
    (
        (0u8..6, days, 0u32..24, -50.0f64..200.0),
        (1u8..5, 0u8..6, 0u8..8, 0u8..3),
    )
        .prop_map(
            |((customer, day, hour, amount), (quantity, order, product, category))| Tx {
                customer,
                day,
                hour,
                amount: (amount * 100.0).round() / 100.0,
                quantity: f64::from(quantity),
                order,
                product,
                category,
            },
        )
}

fn event_strategy(days: std::ops::Range<u32>) -> impl Strategy<Value = Event> {
    (0u8..6, days, 0usize..KINDS.len()).prop_map(|(customer, day, kind)| Event { customer, day, kind })
}

fn timestamp(day: u32, hour: u32) -> String {
    let date = date(START) + Days::new(u64::from(day));
    format!("{date}T{hour:02}:30:00")
}

/// The date columns of customers c0..c5, as days after [`START`]: `birth` (a date column) and `renewed`
/// (a timestamp with a time zone), both configured as ages, and `last_login` (a date column left out of
/// `date_attributes`: the file holds the latest login, which changes after the as-of date).
#[derive(Debug, Clone)]
struct CustomerDates {
    birth: Vec<Option<u32>>,
    renewed: Vec<Option<u32>>,
    last_login: Vec<Option<u32>>,
}

impl CustomerDates {
    /// The dates as known at `as_of_day`: the later ones removed; a later login replaced by one ten
    /// days before the as-of date (the login the file held then).
    fn known_at(&self, as_of_day: u32) -> Self {
        let known = |days: &[Option<u32>]| days.iter().map(|d| d.filter(|&d| d <= as_of_day)).collect();
        Self {
            birth: known(&self.birth),
            renewed: known(&self.renewed),
            last_login: self
                .last_login
                .iter()
                .map(|d| d.map(|d| if d > as_of_day { as_of_day - 10 } else { d }))
                .collect(),
        }
    }

    fn write(&self, dir: &std::path::Path) {
        let epoch_day = |day: u32| {
            let date = date(START) + Days::new(u64::from(day));
            (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
        };
        let birth: ArrayRef = Arc::new(Date32Array::from(
            self.birth
                .iter()
                .map(|d| d.map(|d| epoch_day(d) as i32))
                .collect::<Vec<_>>(),
        ));
        // 04:00 UTC, the evening before in Los Angeles: the UTC day is the one that counts.
        let renewed: ArrayRef = Arc::new(
            TimestampSecondArray::from(
                self.renewed
                    .iter()
                    .map(|d| d.map(|d| epoch_day(d) * 86_400 + 4 * 3_600))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("America/Los_Angeles"),
        );
        let last_login: ArrayRef = Arc::new(Date32Array::from(
            self.last_login
                .iter()
                .map(|d| d.map(|d| epoch_day(d) as i32))
                .collect::<Vec<_>>(),
        ));
        let ids: Vec<String> = (0..self.birth.len()).map(|c| format!("c{c}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        write_batch(
            &dir.join("customers.parquet"),
            vec![
                ("customer_id", strings(&ids)),
                ("birth", birth),
                ("renewed", renewed),
                ("last_login", last_login),
            ],
        );
    }
}

const CUSTOMERS_CONFIG: &str = r#"
[customers]
path = "customers.parquet"
customer_id = "customer_id"
date_attributes = { birth = "age", renewed = "age" }
"#;

fn customer_dates_strategy() -> impl Strategy<Value = CustomerDates> {
    let dates = || proptest::collection::vec(proptest::option::of(0u32..400), 6);
    (dates(), dates(), dates()).prop_map(|(birth, renewed, last_login)| CustomerDates {
        birth,
        renewed,
        last_login,
    })
}

/// Builds features as of `as_of_day` from the given rows, plus an anchor purchase on the as-of day so the
/// date stays inside the data range whatever is removed; `lines`: with the order-line columns mapped.
fn features(
    dir: &std::path::Path,
    txs: &[Tx],
    events: &[Event],
    dates: &CustomerDates,
    as_of_day: u32,
    lines: bool,
) -> FeatureTable {
    let ids: Vec<String> = txs.iter().map(|t| format!("c{}", t.customer)).collect();
    let stamps: Vec<String> = txs.iter().map(|t| timestamp(t.day, t.hour)).collect();
    // Orders are the customer's own, and may have lines on several days, before and after the as-of date.
    let orders: Vec<String> = txs
        .iter()
        .map(|t| format!("c{}-o{}", t.customer, t.order))
        .collect();
    let products: Vec<String> = txs.iter().map(|t| format!("p{}", t.product)).collect();
    let categories: Vec<String> = txs.iter().map(|t| format!("k{}", t.category)).collect();
    let anchor = timestamp(as_of_day, 12);
    let mut tx_rows: Vec<Line<'_>> = vec![("anchor", anchor.as_str(), 1.0, 1.0, "anchor", "p0", "k0")];
    tx_rows.extend(txs.iter().enumerate().map(|(i, t)| {
        (
            ids[i].as_str(),
            stamps[i].as_str(),
            t.amount,
            t.quantity,
            orders[i].as_str(),
            products[i].as_str(),
            categories[i].as_str(),
        )
    }));
    write_lines(dir, &tx_rows);
    let event_ids: Vec<String> = events.iter().map(|e| format!("c{}", e.customer)).collect();
    let event_stamps: Vec<String> = events.iter().map(|e| timestamp(e.day, 9)).collect();
    let mut event_rows: Vec<(&str, &str, &str)> = vec![("anchor", anchor.as_str(), "login")];
    event_rows.extend(
        events
            .iter()
            .enumerate()
            .map(|(i, e)| (event_ids[i].as_str(), event_stamps[i].as_str(), KINDS[e.kind])),
    );
    write_events(dir, &event_rows);
    dates.write(dir);
    // The customer-value models are fitted however few customers there are, so their columns are
    // compared too (when a fit fails on both sides, they are null on both).
    let transactions = if lines { LINES_CONFIG } else { TX_CONFIG };
    let config = config(
        dir,
        &format!("{transactions}{EVENTS_CONFIG}{CUSTOMERS_CONFIG}\n[value]\nmin_customers = 2\n"),
    );
    let as_of = (date(START) + Days::new(u64::from(as_of_day))).to_string();
    // Labels over 30 days when the rows reach that far; else (no row can be labelled) none.
    let table = match build(&config, &[&as_of], Some(30), OnInvalid::Fail) {
        Err(FeatureError::Unlabellable { .. }) => build(&config, &[&as_of], None, OnInvalid::Fail),
        built => built,
    }
    .expect("build")
    .0;
    assert_eq!(
        table.column("top_category_spend_share").is_some(),
        lines,
        "the order-line columns are there exactly when mapped"
    );
    assert!(table.column("birth_age_days").is_some() && table.column("renewed_age_days").is_some());
    assert!(table.column("last_login_age_days").is_none() && table.column("last_login").is_none());
    table
}

/// The table without labels, rows sorted by customer id, for comparison.
fn without_labels(table: &FeatureTable) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<(String, Vec<String>)> = (0..table.len())
        .map(|row| {
            let values = table
                .columns
                .iter()
                .map(|c| match &c.values {
                    churn_features::ColumnValues::Numeric(v) => format!("{}={:?}", c.name, v[row]),
                    churn_features::ColumnValues::Categorical(v) => format!("{}={:?}", c.name, v[row]),
                })
                .collect();
            (table.customer_id_string(row), values)
        })
        .collect();
    rows.sort();
    rows
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rows_after_the_as_of_date_change_no_feature(
        as_of_day in 40u32..120,
        before in proptest::collection::vec(tx_strategy(0..120), 1..40),
        events_before in proptest::collection::vec(event_strategy(0..120), 0..30),
        after in proptest::collection::vec(tx_strategy(121..400), 0..30),
        events_after in proptest::collection::vec(event_strategy(121..400), 0..30),
        dates in customer_dates_strategy(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        // Rows up to the as-of day stay; rows from the generated "before" lists dated after it, and the
        // "after" lists, are the ones added or removed.
        let (kept, late): (Vec<Tx>, Vec<Tx>) = before.into_iter().partition(|t| t.day <= as_of_day);
        let (kept_events, late_events): (Vec<Event>, Vec<Event>) =
            events_before.into_iter().partition(|e| e.day <= as_of_day);
        let all_tx: Vec<Tx> = kept.iter().chain(&late).chain(&after).cloned().collect();
        let all_events: Vec<Event> = kept_events.iter().chain(&late_events).chain(&events_after).cloned().collect();
        // A date after the as-of date counts as a row after it: removed, it must change nothing.
        let known_dates = dates.known_at(as_of_day);
        for lines in [false, true] {
            let only_past = features(dir.path(), &kept, &kept_events, &known_dates, as_of_day, lines);
            let with_future = features(dir.path(), &all_tx, &all_events, &dates, as_of_day, lines);
            prop_assert_eq!(without_labels(&only_past), without_labels(&with_future), "lines: {}", lines);
        }
    }
}

/// One generated subscription period of a customer's chain: the gap after the previous one's end, its
/// length, plan, amount and billing period, and whether the last one has no end.
#[derive(Debug, Clone)]
struct Link {
    gap: u32,
    length: u32,
    plan: usize,
    amount: f64,
    billing_months: f64,
    seats: f64,
}

const PLANS: [&str; 3] = ["basic", "pro", "team"];

fn link_strategy() -> impl Strategy<Value = Link> {
    (
        0u32..60,
        5u32..120,
        0usize..PLANS.len(),
        0.0f64..100.0,
        0usize..3,
        1u32..10,
    )
        .prop_map(|(gap, length, plan, amount, billing, seats)| Link {
            gap,
            length,
            plan,
            amount: (amount * 100.0).round() / 100.0,
            billing_months: [1.0, 3.0, 12.0][billing],
            seats: f64::from(seats),
        })
}

/// A customer's periods: a chain of links from `first` (periods of one plan never overlap), the last
/// one running when `running`, and an add-on on its own plan from `addon` (start, length) overlapping
/// them.
#[derive(Debug, Clone)]
struct Customer {
    first: u32,
    links: Vec<Link>,
    running: bool,
    addon: Option<(u32, u32)>,
}

fn customer_strategy() -> impl Strategy<Value = Customer> {
    (
        0u32..90,
        proptest::collection::vec(link_strategy(), 1..6),
        any::<bool>(),
        proptest::option::of((0u32..300, 10u32..200)),
    )
        .prop_map(|(first, links, running, addon)| Customer {
            first,
            links,
            running,
            addon,
        })
}

/// A period as days after [`START`]: customer, start, end, plan, amount, billing months, seats.
type Span = (String, u32, Option<u32>, String, f64, f64, f64);

fn spans(customers: &[Customer]) -> Vec<Span> {
    let mut spans = Vec::new();
    for (c, customer) in customers.iter().enumerate() {
        let id = format!("c{c}");
        let mut day = customer.first;
        for (k, link) in customer.links.iter().enumerate() {
            let start = day + link.gap;
            let end = start + link.length;
            let last = k + 1 == customer.links.len();
            let end = (!(last && customer.running)).then_some(end);
            spans.push((
                id.clone(),
                start,
                end,
                PLANS[link.plan].to_string(),
                link.amount,
                link.billing_months,
                link.seats,
            ));
            day = end.unwrap_or(start);
        }
        if let Some((start, length)) = customer.addon {
            spans.push((
                id.clone(),
                start,
                Some(start + length),
                "addon".into(),
                7.5,
                1.0,
                1.0,
            ));
        }
    }
    spans
}

/// Features as of `as_of_day` from `spans`, with an anchor period starting that day so the date stays
/// inside the data whatever is removed.
fn subscription_features(dir: &std::path::Path, spans: &[Span], as_of_day: u32) -> FeatureTable {
    let day = |d: u32| (date(START) + Days::new(u64::from(d))).to_string();
    let texts: Vec<(String, Option<String>)> = spans.iter().map(|s| (day(s.1), s.2.map(day))).collect();
    let anchor = day(as_of_day);
    let mut rows: Vec<Period<'_>> = vec![("anchor", anchor.as_str(), None, "basic", 1.0, 1.0, None, None)];
    rows.extend(spans.iter().zip(&texts).map(|(s, (start, end))| {
        (
            s.0.as_str(),
            start.as_str(),
            end.as_deref(),
            s.3.as_str(),
            s.4,
            s.5,
            Some(s.6),
            Some(0.1),
        )
    }));
    write_periods(dir, &rows);
    let config = config(
        dir,
        &format!("{SUBSCRIPTIONS_CONFIG}\n[features]\nwindows = [30, 90]\n"),
    );
    let table = match build(&config, &[&anchor], Some(30), OnInvalid::Fail) {
        Err(FeatureError::Unlabellable { .. }) => build(&config, &[&anchor], None, OnInvalid::Fail),
        built => built,
    }
    .expect("build")
    .0;
    assert!(table.column("subscription_mrr").is_some());
    table
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn periods_starting_or_ending_after_the_as_of_date_change_no_feature(
        as_of_day in 40u32..300,
        customers in proptest::collection::vec(customer_strategy(), 1..6),
        new_ends in proptest::collection::vec(proptest::option::of(1u32..400), 40),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let all = spans(&customers);
        // What is known at the as-of date: the periods started by then, each end after it replaced by
        // another day after it, or by none (running).
        let known: Vec<Span> = all
            .iter()
            .filter(|s| s.1 <= as_of_day)
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.clone();
                if s.2.is_none_or(|end| end > as_of_day) {
                    s.2 = new_ends[i % new_ends.len()].map(|later| as_of_day + later);
                }
                s
            })
            .collect();
        let past = subscription_features(dir.path(), &known, as_of_day);
        let full = subscription_features(dir.path(), &all, as_of_day);
        prop_assert!(!past.is_empty());
        prop_assert_eq!(without_labels(&past), without_labels(&full));
    }
}
