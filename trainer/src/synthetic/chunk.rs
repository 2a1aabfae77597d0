//! One chunk of consecutive customers, simulated into Arrow record batches for the four output files.

use super::IdType;
use super::activity::{self, ActivitySink, EventKind, Rates};
use super::basket::Line;
use super::calendar::Calendar;
use super::customer::Profile;
use super::rng::{CustomerStreams, Xoshiro256PlusPlus};
use super::subscription;
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, Date32Array, Float64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::ops::Range;
use std::sync::Arc;

/// Settings shared by every chunk of one run.
#[derive(Debug, Clone)]
pub struct ChunkContext {
    /// The simulated period.
    pub calendar: Calendar,
    /// Calibrated population rates.
    pub rates: Rates,
    /// The run's seed.
    pub seed: u64,
    /// Whether ids are strings or integers.
    pub id_type: IdType,
    /// Digits in a string customer id (zero-padded), enough for the largest id.
    pub id_digits: usize,
}

/// Row counts of one chunk (or, added up, of a whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows in `customers.parquet`.
    pub customers: u64,
    /// Rows in `transactions.parquet`.
    pub transactions: u64,
    /// Transaction rows with a non-negative amount.
    pub purchase_lines: u64,
    /// Transaction rows with a negative amount.
    pub returns: u64,
    /// Distinct orders.
    pub orders: u64,
    /// Rows in `events.parquet`, by [`EventKind::ALL`] order.
    pub events: [u64; 4],
    /// Customers whose latent churn time falls within the period.
    pub churned_in_period: u64,
    /// Customers without any transaction.
    pub without_transactions: u64,
    /// Rows in `subscriptions.parquet`.
    pub subscriptions: u64,
}

impl Counts {
    /// Adds another chunk's counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.customers += other.customers;
        self.transactions += other.transactions;
        self.purchase_lines += other.purchase_lines;
        self.returns += other.returns;
        self.orders += other.orders;
        for (mine, theirs) in self.events.iter_mut().zip(other.events) {
            *mine += theirs;
        }
        self.churned_in_period += other.churned_in_period;
        self.without_transactions += other.without_transactions;
        self.subscriptions += other.subscriptions;
    }

    /// Total rows in `events.parquet`.
    pub fn total_events(&self) -> u64 {
        self.events.iter().sum()
    }
}

/// A simulated chunk, ready to be written.
#[derive(Debug)]
pub struct Chunk {
    /// Rows for `transactions.parquet`.
    pub transactions: RecordBatch,
    /// Rows for `events.parquet`.
    pub events: RecordBatch,
    /// Rows for `customers.parquet`.
    pub customers: RecordBatch,
    /// Rows for `subscriptions.parquet`.
    pub subscriptions: RecordBatch,
    /// What the chunk holds.
    pub counts: Counts,
}

fn id_data_type(id_type: IdType) -> DataType {
    match id_type {
        IdType::String => DataType::Utf8,
        IdType::Int => DataType::Int64,
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of `transactions.parquet`: one row per order line or return, with its product (`P0123`-style,
/// or the product number with integer ids), category and units (negative for a return, as the amount).
pub fn transactions_schema(id_type: IdType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", id_data_type(id_type), false),
        Field::new("ts", timestamp_type(), false),
        Field::new("amount", DataType::Float64, false),
        Field::new("order_id", id_data_type(id_type), false),
        Field::new("product_id", id_data_type(id_type), false),
        Field::new("category", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
    ]))
}

/// Digits of a text product id (`P0001`): enough for every product of the catalogue.
const PRODUCT_ID_DIGITS: usize = 4;

/// Schema of `events.parquet`.
pub fn events_schema(id_type: IdType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", id_data_type(id_type), false),
        Field::new("ts", timestamp_type(), false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// Schema of `customers.parquet`.
pub fn customers_schema(id_type: IdType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", id_data_type(id_type), false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("acquisition_channel", DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
    ]))
}

/// Schema of `subscriptions.parquet`: one row per subscription period (see [`subscription`]).
pub fn subscriptions_schema(id_type: IdType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", id_data_type(id_type), false),
        Field::new("start_date", DataType::Date32, false),
        Field::new("end_date", DataType::Date32, true),
        Field::new("plan", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("billing_months", DataType::Int64, false),
        Field::new("seats", DataType::Int64, false),
        Field::new("discount", DataType::Float64, false),
    ]))
}

/// The seed of the subscription periods' random streams, apart from the other files' streams.
const SUBSCRIPTION_SEED_SALT: u64 = 0x5ab5_c41b_7105_0001;

/// Integer order ids are `customer_id × ORDER_ID_FACTOR + order number`: unique without coordination
/// between chunks, and the customer can be read back from the order id.
const ORDER_ID_FACTOR: i64 = activity::MAX_ORDERS_PER_CUSTOMER as i64 + 1;

/// The customer and order id columns of the transactions, of one type.
enum TransactionIds {
    Text {
        customers: StringBuilder,
        orders: StringBuilder,
    },
    Int {
        customers: Int64Builder,
        orders: Int64Builder,
    },
}

impl TransactionIds {
    fn new(id_type: IdType, rows: usize, id_bytes: usize) -> Self {
        match id_type {
            IdType::String => Self::Text {
                customers: StringBuilder::with_capacity(rows, rows * id_bytes),
                orders: StringBuilder::with_capacity(rows, rows * (id_bytes + 4)),
            },
            IdType::Int => Self::Int {
                customers: Int64Builder::with_capacity(rows),
                orders: Int64Builder::with_capacity(rows),
            },
        }
    }

    /// The finished (customer id, order id) arrays.
    fn finish(&mut self) -> (ArrayRef, ArrayRef) {
        match self {
            Self::Text { customers, orders } => (Arc::new(customers.finish()), Arc::new(orders.finish())),
            Self::Int { customers, orders } => (Arc::new(customers.finish()), Arc::new(orders.finish())),
        }
    }
}

/// A customer id column of either type.
enum IdColumn {
    Text(StringBuilder),
    Int(Int64Builder),
}

impl IdColumn {
    fn new(id_type: IdType, rows: usize, bytes_per_row: usize) -> Self {
        match id_type {
            IdType::String => Self::Text(StringBuilder::with_capacity(rows, rows * bytes_per_row)),
            IdType::Int => Self::Int(Int64Builder::with_capacity(rows)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Text(builder) => Arc::new(builder.finish()),
            Self::Int(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Appends the decimal digits of `value` to `text`, zero-padded to at least `width` digits.
fn push_number(text: &mut String, value: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut position = digits.len();
    let mut rest = value;
    loop {
        position -= 1;
        digits[position] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in (digits.len() - position)..width {
        text.push('0');
    }
    for &digit in &digits[position..] {
        text.push(char::from(digit));
    }
}

/// Column buffers of one chunk; receives each customer's activity in turn.
struct ChunkColumns<'a> {
    context: &'a ChunkContext,
    tx_ids: TransactionIds,
    tx_ts: Vec<i64>,
    tx_amount: Vec<f64>,
    tx_product: IdColumn,
    tx_category: StringBuilder,
    tx_quantity: Vec<i64>,
    product_text: String,
    ev_customer: IdColumn,
    ev_ts: Vec<i64>,
    ev_type: StringBuilder,
    ev_value: Float64Builder,
    counts: Counts,
    /// The current customer's number (index + 1) and its text form.
    customer_number: u64,
    customer_text: String,
    order_text: String,
    max_order: u32,
}

impl ActivitySink for ChunkColumns<'_> {
    fn transaction(&mut self, time: f64, amount: f64, order: u32, line: Line) {
        self.tx_ts.push(self.context.calendar.timestamp_micros(time));
        self.tx_amount.push(amount);
        match &mut self.tx_product {
            IdColumn::Text(products) => {
                self.product_text.clear();
                self.product_text.push('P');
                push_number(&mut self.product_text, u64::from(line.product), PRODUCT_ID_DIGITS);
                products.append_value(&self.product_text);
            }
            IdColumn::Int(products) => products.append_value(i64::from(line.product)),
        }
        self.tx_category.append_value(line.category_name());
        self.tx_quantity.push(line.quantity);
        match &mut self.tx_ids {
            TransactionIds::Text { customers, orders } => {
                customers.append_value(&self.customer_text);
                self.order_text.clear();
                self.order_text.push_str(&self.customer_text);
                self.order_text.push('-');
                push_number(&mut self.order_text, u64::from(order), 1);
                orders.append_value(&self.order_text);
            }
            TransactionIds::Int { customers, orders } => {
                customers.append_value(self.customer_number as i64);
                orders.append_value(self.customer_number as i64 * ORDER_ID_FACTOR + i64::from(order));
            }
        }
        self.counts.transactions += 1;
        if amount >= 0.0 {
            self.counts.purchase_lines += 1;
        } else {
            self.counts.returns += 1;
        }
        self.max_order = self.max_order.max(order);
    }

    fn event(&mut self, kind: EventKind, time: f64, value: Option<f64>) {
        match &mut self.ev_customer {
            IdColumn::Text(customers) => customers.append_value(&self.customer_text),
            IdColumn::Int(customers) => customers.append_value(self.customer_number as i64),
        }
        self.ev_ts.push(self.context.calendar.timestamp_micros(time));
        self.ev_type.append_value(kind.name());
        self.ev_value.append_option(value);
        if let Some(slot) = EventKind::ALL.iter().position(|&k| k == kind) {
            self.counts.events[slot] += 1;
        }
    }
}

/// Simulates customers `range` (0-based indices) into record batches. The result depends only on the
/// context and the range, not on which thread runs it.
pub fn simulate_chunk(context: &ChunkContext, range: Range<u64>) -> Result<Chunk, arrow_schema::ArrowError> {
    let customers = usize::try_from(range.end - range.start).unwrap_or(0);
    // Capacity hints: about the requested rows per customer, and a little more for events.
    let expected_rows = customers * 24;
    let id_bytes = context.id_digits + 1;
    let mut columns = ChunkColumns {
        context,
        tx_ids: TransactionIds::new(context.id_type, expected_rows, id_bytes),
        tx_ts: Vec::with_capacity(expected_rows),
        tx_amount: Vec::with_capacity(expected_rows),
        tx_product: IdColumn::new(context.id_type, expected_rows, PRODUCT_ID_DIGITS + 1),
        tx_category: StringBuilder::with_capacity(expected_rows, expected_rows * 6),
        tx_quantity: Vec::with_capacity(expected_rows),
        product_text: String::new(),
        ev_customer: IdColumn::new(context.id_type, expected_rows, id_bytes),
        ev_ts: Vec::with_capacity(expected_rows),
        ev_type: StringBuilder::with_capacity(expected_rows, expected_rows * 8),
        ev_value: Float64Builder::with_capacity(expected_rows),
        counts: Counts::default(),
        customer_number: 0,
        customer_text: String::new(),
        order_text: String::new(),
        max_order: 0,
    };
    let mut cu_customer = IdColumn::new(context.id_type, customers, id_bytes);
    let mut cu_signup = Vec::with_capacity(customers);
    let mut cu_plan = StringBuilder::with_capacity(customers, customers * 8);
    let mut cu_region = StringBuilder::with_capacity(customers, customers * 12);
    let mut cu_channel = StringBuilder::with_capacity(customers, customers * 10);
    let mut cu_age = Int64Builder::with_capacity(customers);
    let mut su_customer = IdColumn::new(context.id_type, customers * 2, id_bytes);
    let (mut su_start, mut su_end) = (Vec::new(), Vec::new());
    let mut su_plan = StringBuilder::with_capacity(customers * 2, customers * 16);
    let (mut su_amount, mut su_months, mut su_seats, mut su_discount) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());

    for index in range {
        let mut streams = CustomerStreams::new(context.seed, index);
        let profile = Profile::draw(
            &mut streams.main,
            &mut streams.basket,
            index,
            context.calendar.days(),
        );
        columns.customer_number = index + 1;
        columns.customer_text.clear();
        columns.customer_text.push('C');
        push_number(&mut columns.customer_text, index + 1, context.id_digits);
        columns.max_order = 0;
        let transactions_before = columns.counts.transactions;
        activity::simulate(
            &profile,
            &context.calendar,
            &context.rates,
            &mut streams.main,
            &mut streams.basket,
            &mut columns,
        );

        let counts = &mut columns.counts;
        counts.customers += 1;
        counts.orders += u64::from(columns.max_order);
        if counts.transactions == transactions_before {
            counts.without_transactions += 1;
        }
        if profile.churn_time < context.calendar.end_time() {
            counts.churned_in_period += 1;
        }
        match &mut cu_customer {
            IdColumn::Text(builder) => builder.append_value(&columns.customer_text),
            IdColumn::Int(builder) => builder.append_value(columns.customer_number as i64),
        }
        cu_signup.push(context.calendar.date32(profile.signup_day));
        cu_plan.append_value(profile.plan_name());
        cu_region.append_value(profile.region_name());
        cu_channel.append_value(profile.channel_name());
        cu_age.append_option(profile.age);
        let mut stream = Xoshiro256PlusPlus::for_customer(context.seed ^ SUBSCRIPTION_SEED_SALT, index);
        let days = u32::try_from(context.calendar.days()).unwrap_or(u32::MAX);
        for period in subscription::periods(&profile, days, &mut stream) {
            match &mut su_customer {
                IdColumn::Text(builder) => builder.append_value(&columns.customer_text),
                IdColumn::Int(builder) => builder.append_value(columns.customer_number as i64),
            }
            su_start.push(context.calendar.date32(period.start_day));
            su_end.push(period.end_day.map(|day| context.calendar.date32(day)));
            su_plan.append_value(crate::synthetic::customer::PLANS[period.plan].0);
            su_amount.push(period.amount);
            su_months.push(i64::from(period.billing_months));
            su_seats.push(i64::from(period.seats));
            su_discount.push(period.discount);
            columns.counts.subscriptions += 1;
        }
    }

    let (tx_customer, tx_order) = columns.tx_ids.finish();
    let utc =
        |values: Vec<i64>| Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")) as ArrayRef;
    let transactions = RecordBatch::try_new(
        transactions_schema(context.id_type),
        vec![
            tx_customer,
            utc(std::mem::take(&mut columns.tx_ts)),
            Arc::new(Float64Array::from(std::mem::take(&mut columns.tx_amount))),
            tx_order,
            columns.tx_product.finish(),
            Arc::new(columns.tx_category.finish()),
            Arc::new(arrow_array::Int64Array::from(std::mem::take(
                &mut columns.tx_quantity,
            ))),
        ],
    )?;
    let events = RecordBatch::try_new(
        events_schema(context.id_type),
        vec![
            columns.ev_customer.finish(),
            utc(std::mem::take(&mut columns.ev_ts)),
            Arc::new(columns.ev_type.finish()),
            Arc::new(columns.ev_value.finish()),
        ],
    )?;
    let customers = RecordBatch::try_new(
        customers_schema(context.id_type),
        vec![
            cu_customer.finish(),
            Arc::new(Date32Array::from(cu_signup)),
            Arc::new(cu_plan.finish()),
            Arc::new(cu_region.finish()),
            Arc::new(cu_channel.finish()),
            Arc::new(cu_age.finish()),
        ],
    )?;
    let subscriptions = RecordBatch::try_new(
        subscriptions_schema(context.id_type),
        vec![
            su_customer.finish(),
            Arc::new(Date32Array::from(su_start)),
            Arc::new(Date32Array::from(su_end)),
            Arc::new(su_plan.finish()),
            Arc::new(Float64Array::from(su_amount)),
            Arc::new(arrow_array::Int64Array::from(su_months)),
            Arc::new(arrow_array::Int64Array::from(su_seats)),
            Arc::new(Float64Array::from(su_discount)),
        ],
    )?;
    Ok(Chunk {
        transactions,
        events,
        customers,
        subscriptions,
        counts: columns.counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn context(id_type: IdType) -> ChunkContext {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        let calendar = Calendar::new(day(2023, 1, 1), day(2023, 12, 31));
        let rates = Rates::calibrate(&calendar, 5, 500, 12.0);
        ChunkContext {
            calendar,
            rates,
            seed: 5,
            id_type,
            id_digits: 6,
        }
    }

    #[test]
    fn numbers_are_zero_padded() {
        let mut text = String::new();
        push_number(&mut text, 42, 6);
        text.push('|');
        push_number(&mut text, 1_234_567, 3);
        text.push('|');
        push_number(&mut text, 0, 1);
        assert_eq!(text, "000042|1234567|0");
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_rows() {
        let context = context(IdType::String);
        let whole = simulate_chunk(&context, 0..300).expect("chunk");
        let first = simulate_chunk(&context, 0..120).expect("chunk");
        let second = simulate_chunk(&context, 120..300).expect("chunk");
        let joined = arrow_select_concat(&[first.transactions, second.transactions]);
        assert_eq!(whole.transactions, joined);
        let mut counts = first.counts;
        counts.add(&second.counts);
        assert_eq!(whole.counts, counts);
        assert_eq!(whole.customers.num_rows(), 300);
        assert_eq!(whole.counts.total_events() as usize, whole.events.num_rows());
    }

    #[test]
    fn integer_ids_encode_customer_and_order() {
        let chunk = simulate_chunk(&context(IdType::Int), 0..50).expect("chunk");
        let column = |name: &str| {
            chunk
                .transactions
                .column_by_name(name)
                .expect("column")
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("int64")
                .clone()
        };
        let (customers, orders) = (column("customer_id"), column("order_id"));
        for (customer, order) in customers.values().iter().zip(orders.values()) {
            assert_eq!(order / ORDER_ID_FACTOR, *customer);
            assert!(order % ORDER_ID_FACTOR >= 1);
        }
    }

    /// Concatenates batches of one schema row-wise (test helper; the writer never needs it).
    fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
        let schema = batches[0].schema();
        let columns = (0..schema.fields().len())
            .map(|c| {
                let parts: Vec<&dyn arrow_array::Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                concat(&parts)
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("same schema")
    }

    fn concat(parts: &[&dyn arrow_array::Array]) -> ArrayRef {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
        match parts[0].data_type() {
            DataType::Utf8 => Arc::new(
                parts
                    .iter()
                    .flat_map(|p| p.as_string::<i32>().iter())
                    .collect::<arrow_array::StringArray>(),
            ),
            DataType::Float64 => Arc::new(
                parts
                    .iter()
                    .flat_map(|p| p.as_primitive::<Float64Type>().iter())
                    .collect::<Float64Array>(),
            ),
            DataType::Int64 => Arc::new(
                parts
                    .iter()
                    .flat_map(|p| p.as_primitive::<Int64Type>().iter())
                    .collect::<arrow_array::Int64Array>(),
            ),
            DataType::Timestamp(..) => Arc::new(
                parts
                    .iter()
                    .flat_map(|p| p.as_primitive::<TimestampMicrosecondType>().iter())
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            other => panic!("no concat for {other}"),
        }
    }
}
