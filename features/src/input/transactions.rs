//! Transactions: one row per purchase line or return (negative amount or quantity), with the optional
//! order-line columns (units, product, category).

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn};
use super::duplicates::{day_and_customer, later_copies};
use super::ids::{BatchIds, CustomerIndex, CustomerInterner, Key};
use super::source::{ColumnRequest, count_rows, read_prepared};
use super::window::retain;
use super::{ReadProgress, Rejects, StampedRows, Unstamped, finite, id_type_mismatch, stamp};
use crate::config::TransactionsSource;
use crate::error::Result;
use crate::time::Day;
use arrow_array::RecordBatch;
use std::hash::{Hash, Hasher};

/// Transaction rows as parallel columns.
#[derive(Debug, Default, Clone)]
pub struct Transactions {
    /// Customer of each row.
    pub customer: Vec<CustomerIndex>,
    /// UTC day of each row.
    pub day: Vec<Day>,
    /// Amount of each row (negative: a return).
    pub amount: Vec<f64>,
    /// Hash of each row's order id, when orders are configured.
    pub order: Option<Vec<u64>>,
    /// Units of each row (the quantity's absolute value: whether the line is a return is the amount's
    /// sign), when `quantity` is configured.
    pub units: Option<Vec<f64>>,
    /// Hash of each row's product id, when `product_id` is configured (`None` where null: the line
    /// counts in every feature but the product ones).
    pub product: Option<Vec<Option<u64>>>,
    /// Hash of each row's category, when `category` is configured (`None` where null: the line counts
    /// in every feature but the category ones).
    pub category: Option<Vec<Option<u64>>>,
}

impl Transactions {
    /// Reads the configured transactions; returns them with the number of rows read and each row's time
    /// of day (nanoseconds after midnight UTC), which tells exact duplicates from rows of the same day.
    pub(crate) fn load(
        source: &TransactionsSource,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64, Vec<i64>)> {
        let mut requests = vec![
            ColumnRequest::new(&source.customer_id, "transactions.customer_id", ColumnKind::Id),
            ColumnRequest::new(&source.timestamp, "transactions.timestamp", ColumnKind::Time),
        ];
        // `amount` (with `quantity` as the units, if given), or `quantity × unit_price`: the configuration
        // allows exactly these forms.
        for (name, role) in [
            (&source.amount, "transactions.amount"),
            (&source.quantity, "transactions.quantity"),
            (&source.unit_price, "transactions.unit_price"),
        ] {
            if let Some(name) = name {
                requests.push(ColumnRequest::new(name, role, ColumnKind::Number));
            }
        }
        if let Some(order) = &source.order_id {
            requests.push(ColumnRequest::new(order, "transactions.order_id", ColumnKind::Id));
        }
        for (name, role) in [
            (&source.product_id, "transactions.product_id"),
            (&source.category, "transactions.category"),
        ] {
            if let Some(name) = name {
                requests.push(ColumnRequest::new(name, role, ColumnKind::Key));
            }
        }
        let rows = count_rows(&source.path, &requests)?;
        progress.start("transactions", rows);
        let capacity = usize::try_from(rows).unwrap_or(0);
        let mut table = Transactions {
            customer: Vec::with_capacity(capacity),
            day: Vec::with_capacity(capacity),
            amount: Vec::with_capacity(capacity),
            order: source.order_id.as_ref().map(|_| Vec::with_capacity(capacity)),
            units: source.quantity.as_ref().map(|_| Vec::with_capacity(capacity)),
            product: source.product_id.as_ref().map(|_| Vec::with_capacity(capacity)),
            category: source.category.as_ref().map(|_| Vec::with_capacity(capacity)),
        };
        let mut nanos = Vec::with_capacity(capacity);
        let advance = |n| progress.advance(n);
        let amount_name = source.amount.as_deref().unwrap_or("quantity × unit_price");
        let read = read_prepared(
            &source.path,
            &requests,
            &advance,
            |batch, first_row| Batch::prepare(source, batch, first_row),
            |path, batch, prepared, first_row| {
                let column = |name: &str| batch.column_by_name(name).expect("projected column");
                let id_name = &source.customer_id;
                let customer_ids = IdColumn::new(column(id_name));
                let row_days = DayColumn::new(column(&source.timestamp));
                // The rejected rows and the first row of each of the batch's customers, in row order:
                // customers are interned in the order in which their first accepted rows come.
                let mut customers = Vec::new();
                for &step in &prepared.steps {
                    match step {
                        Step::Customer(i) => {
                            let key = customer_ids.get(i as usize).expect("an accepted row has an id");
                            customers.push(
                                ids.intern(key)
                                    .map_err(|_| id_type_mismatch(ids, path, id_name))?,
                            );
                        }
                        Step::Reject(i, problem) => {
                            let row = first_row + u64::from(i);
                            match problem {
                                Problem::Unstamped(why) => rejects.reject_unstamped(
                                    "transactions",
                                    path,
                                    [id_name, &source.timestamp],
                                    row,
                                    why,
                                    row_days.text(i as usize),
                                )?,
                                Problem::Amount(reason) => {
                                    rejects.reject("transactions", path, amount_name, row, reason)?
                                }
                                Problem::Quantity(reason) => {
                                    let name = source.quantity.as_deref().unwrap_or_default();
                                    rejects.reject("transactions", path, name, row, reason)?
                                }
                            }
                        }
                    }
                }
                prepared.append_to(&mut table, &mut nanos, &customers);
                Ok(())
            },
        )?;
        Ok((table, read, nanos))
    }

    /// Keeps the rows whose entry in `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) {
        retain(&mut self.customer, keep);
        retain(&mut self.day, keep);
        retain(&mut self.amount, keep);
        if let Some(order) = &mut self.order {
            retain(order, keep);
        }
        if let Some(units) = &mut self.units {
            retain(units, keep);
        }
        for keys in [&mut self.product, &mut self.category].into_iter().flatten() {
            retain(keys, keep);
        }
    }

    /// The rows equal to an earlier row in customer, timestamp (day and `nanos`, the time of day), amount,
    /// order and the order-line columns (units, product, category).
    pub(crate) fn later_copies(&self, nanos: &[i64]) -> Vec<usize> {
        let optional = |column: &Option<Vec<Option<u64>>>, i: usize| match column.as_ref().map(|keys| keys[i])
        {
            Some(Some(hash)) => [1, hash],
            Some(None) | None => [0, 0],
        };
        later_copies(self.len(), |i| {
            let [has_product, product] = optional(&self.product, i);
            let [has_category, category] = optional(&self.category, i);
            [
                day_and_customer(self.day[i], self.customer[i]),
                nanos[i] as u64,
                self.amount[i].to_bits(),
                self.order.as_ref().map_or(0, |order| order[i]),
                self.units.as_ref().map_or(0, |units| units[i].to_bits()),
                has_product,
                product,
                has_category,
                category,
            ]
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }
}

/// What the in-order visit of a batch does at one of its rows.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The row is the first of a customer of the batch: intern the customer.
    Customer(u32),
    /// The row is rejected.
    Reject(u32, Problem),
}

/// Why a row of transactions is rejected.
#[derive(Debug, Clone, Copy)]
enum Problem {
    Unstamped(Unstamped),
    Amount(&'static str),
    Quantity(&'static str),
}

/// A batch's accepted rows, read where the batch is decoded, in parallel with other batches: everything
/// but the customers' indices, which depend on the batches before it. Customers are numbered within the
/// batch in the order of their first accepted row.
struct Batch {
    /// The rows the in-order visit acts on, in row order (rows counted within the batch).
    steps: Vec<Step>,
    rows: StampedRows,
    amount: Vec<f64>,
    /// Each accepted row's order id hashed, when orders are configured.
    order: Option<Vec<u64>>,
    units: Option<Vec<f64>>,
    product: Option<Vec<Option<u64>>>,
    category: Option<Vec<Option<u64>>>,
}

impl Batch {
    /// Reads `batch`, which starts at row `first_row` of its file.
    fn prepare(source: &TransactionsSource, batch: &RecordBatch, first_row: u64) -> Self {
        let column = |name: &str| batch.column_by_name(name).expect("projected column");
        let customer_ids = IdColumn::new(column(&source.customer_id));
        let row_days = DayColumn::new(column(&source.timestamp));
        let numbers = |name: &Option<String>| name.as_ref().map(|name| NumberColumn::new(column(name)));
        let (amounts, quantities, prices) = (
            numbers(&source.amount),
            numbers(&source.quantity),
            numbers(&source.unit_price),
        );
        // `amount`, or `quantity × unit_price` (the configuration allows exactly these two forms).
        let amount_at = |i: usize| match (&amounts, &quantities, &prices) {
            (Some(amount), _, _) => amount.get(i),
            (None, Some(quantity), Some(price)) => Some(quantity.get(i)? * price.get(i)?),
            _ => None,
        };
        let keys = |name: &Option<String>| name.as_ref().map(|name| IdColumn::new(column(name)));
        let (orders, products, categories) = (
            keys(&source.order_id),
            keys(&source.product_id),
            keys(&source.category),
        );
        let rows = batch.num_rows();
        let mut out = Batch {
            steps: Vec::new(),
            rows: StampedRows::with_capacity(rows),
            amount: Vec::with_capacity(rows),
            order: orders.as_ref().map(|_| Vec::with_capacity(rows)),
            units: quantities.as_ref().map(|_| Vec::with_capacity(rows)),
            product: products.as_ref().map(|_| Vec::with_capacity(rows)),
            category: categories.as_ref().map(|_| Vec::with_capacity(rows)),
        };
        let mut local = BatchIds::default();
        for i in 0..rows {
            let row = i as u32;
            let (key, moment) = match stamp(&customer_ids, &row_days, i) {
                Ok(stamped) => stamped,
                Err(why) => {
                    out.steps.push(Step::Reject(row, Problem::Unstamped(why)));
                    continue;
                }
            };
            let amount = match amount_at(i).ok_or("null amount").and_then(finite) {
                Ok(amount) => amount,
                Err(reason) => {
                    out.steps.push(Step::Reject(row, Problem::Amount(reason)));
                    continue;
                }
            };
            let quantity = match &quantities {
                Some(quantity) => match quantity.get(i).ok_or("null quantity").and_then(finite) {
                    Ok(quantity) => Some(quantity),
                    Err(reason) => {
                        out.steps.push(Step::Reject(row, Problem::Quantity(reason)));
                        continue;
                    }
                },
                None => None,
            };
            // A free line (amount ±0) is a purchase or a return by its quantity's sign: a returned free
            // item (−1 × 0 = −0.0) is a return, and a −0.0 without a negative quantity is not.
            // Downstream, the amount's sign bit tells returns apart.
            let amount = if amount == 0.0 {
                if quantity.is_some_and(|q| q < 0.0) {
                    -0.0
                } else {
                    0.0
                }
            } else {
                amount
            };
            if out.rows.push(&mut local, key, moment) {
                out.steps.push(Step::Customer(row));
            }
            out.amount.push(amount);
            if let (Some(quantity), Some(units)) = (quantity, &mut out.units) {
                units.push(quantity.abs());
            }
            if let (Some(orders), Some(out)) = (&orders, &mut out.order) {
                // A line without an order id stands for an order of its own, keyed by its row in its
                // file.
                out.push(orders.get(i).map_or(u64::MAX - (first_row + i as u64), hash_key));
            }
            // A null product or category is unknown: the line still counts as spend, a purchase or a
            // return, and only the product or category features leave it out.
            for (keys, hashes) in [(&products, &mut out.product), (&categories, &mut out.category)] {
                if let (Some(keys), Some(hashes)) = (keys, hashes) {
                    hashes.push(keys.get(i).map(hash_key));
                }
            }
        }
        out
    }

    /// Appends the accepted rows to `table` and their times of day to `nanos`; `customers` holds the
    /// index of each of the batch's customers.
    fn append_to(self, table: &mut Transactions, nanos: &mut Vec<i64>, customers: &[CustomerIndex]) {
        self.rows
            .append_to(customers, &mut table.customer, &mut table.day, nanos);
        table.amount.extend_from_slice(&self.amount);
        if let (Some(orders), Some(out)) = (self.order, &mut table.order) {
            out.extend_from_slice(&orders);
        }
        if let (Some(units), Some(out)) = (self.units, &mut table.units) {
            out.extend_from_slice(&units);
        }
        for (keys, out) in [
            (self.product, &mut table.product),
            (self.category, &mut table.category),
        ] {
            if let (Some(keys), Some(out)) = (keys, out) {
                out.extend_from_slice(&keys);
            }
        }
    }
}

fn hash_key(key: Key<'_>) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    match key {
        Key::Int(id) => id.hash(&mut hasher),
        Key::Str(id) => id.hash(&mut hasher),
    }
    hasher.finish()
}
