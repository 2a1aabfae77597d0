//! No leakage: adding or removing rows dated after the as-of date changes no feature value of any
//! customer (labels may change: they are meant to look ahead), with and without the order-line columns
//! (quantity, order, product and category of each transaction); and a date attribute of `[customers]`
//! (an age, by default or as configured) dated after the as-of date shows no more than a missing one.

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

/// The date attributes of customers c0..c5, as days after [`START`]: `birth` (a date column, an age by
/// default) and `renewed` (a timestamp with a time zone, configured as an age).
#[derive(Debug, Clone)]
struct CustomerDates {
    birth: Vec<Option<u32>>,
    renewed: Vec<Option<u32>>,
}

impl CustomerDates {
    /// The dates as known at `as_of_day`: the later ones removed.
    fn known_at(&self, as_of_day: u32) -> Self {
        let known = |days: &[Option<u32>]| days.iter().map(|d| d.filter(|&d| d <= as_of_day)).collect();
        Self {
            birth: known(&self.birth),
            renewed: known(&self.renewed),
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
        let ids: Vec<String> = (0..self.birth.len()).map(|c| format!("c{c}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        write_batch(
            &dir.join("customers.parquet"),
            vec![
                ("customer_id", strings(&ids)),
                ("birth", birth),
                ("renewed", renewed),
            ],
        );
    }
}

const CUSTOMERS_CONFIG: &str = r#"
[customers]
path = "customers.parquet"
customer_id = "customer_id"
date_attributes = { renewed = "age" }
"#;

fn customer_dates_strategy() -> impl Strategy<Value = CustomerDates> {
    let dates = || proptest::collection::vec(proptest::option::of(0u32..400), 6);
    (dates(), dates()).prop_map(|(birth, renewed)| CustomerDates { birth, renewed })
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
