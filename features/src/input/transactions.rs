//! Transactions: one row per purchase line or return (negative amount or quantity).

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn};
use super::duplicates::later_copies;
use super::ids::{CustomerIndex, CustomerInterner, Key};
use super::source::{ColumnRequest, count_rows, read_batches};
use super::window::retain;
use super::{ReadProgress, Rejects, finite, id_type_mismatch};
use crate::config::TransactionsSource;
use crate::error::Result;
use crate::time::Day;
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
        match (&source.amount, &source.quantity, &source.unit_price) {
            (Some(amount), _, _) => {
                requests.push(ColumnRequest::new(
                    amount,
                    "transactions.amount",
                    ColumnKind::Number,
                ));
            }
            (None, Some(quantity), Some(price)) => {
                requests.push(ColumnRequest::new(
                    quantity,
                    "transactions.quantity",
                    ColumnKind::Number,
                ));
                requests.push(ColumnRequest::new(
                    price,
                    "transactions.unit_price",
                    ColumnKind::Number,
                ));
            }
            _ => {}
        }
        if let Some(order) = &source.order_id {
            requests.push(ColumnRequest::new(order, "transactions.order_id", ColumnKind::Id));
        }
        let rows = count_rows(&source.path, &requests)?;
        progress.start("transactions", rows);
        let capacity = usize::try_from(rows).unwrap_or(0);
        let mut table = Transactions {
            customer: Vec::with_capacity(capacity),
            day: Vec::with_capacity(capacity),
            amount: Vec::with_capacity(capacity),
            order: source.order_id.as_ref().map(|_| Vec::with_capacity(capacity)),
        };
        let mut nanos = Vec::with_capacity(capacity);
        let advance = |n| progress.advance(n);
        let read = read_batches(&source.path, &requests, &advance, |path, batch, first_row| {
            let column = |name: &str| batch.column_by_name(name).expect("projected column");
            let id_name = &source.customer_id;
            let customer_ids = IdColumn::new(column(id_name));
            let row_days = DayColumn::new(column(&source.timestamp));
            let money: Vec<NumberColumn> = [&source.amount, &source.quantity, &source.unit_price]
                .into_iter()
                .flatten()
                .map(|name| NumberColumn::new(column(name)))
                .collect();
            // `amount`, or `quantity × unit_price` (the configuration allows exactly these two forms).
            let amount_at = |i: usize| money.iter().try_fold(1.0, |product, c| Some(product * c.get(i)?));
            let amount_name = source.amount.as_deref().unwrap_or("quantity × unit_price");
            let orders = source.order_id.as_ref().map(|name| IdColumn::new(column(name)));
            for i in 0..batch.num_rows() {
                let row = first_row + i as u64;
                let Some(key) = customer_ids.get(i) else {
                    rejects.reject("transactions", path, id_name, row, "null customer id")?;
                    continue;
                };
                let moment = match row_days.moment(i) {
                    Ok(moment) => moment,
                    Err(reason) => {
                        rejects.reject("transactions", path, &source.timestamp, row, reason)?;
                        continue;
                    }
                };
                let amount = match amount_at(i).ok_or("null amount").and_then(finite) {
                    Ok(amount) => amount,
                    Err(reason) => {
                        rejects.reject("transactions", path, amount_name, row, reason)?;
                        continue;
                    }
                };
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, id_name))?;
                table.customer.push(customer);
                table.day.push(moment.day);
                nanos.push(moment.nanos);
                table.amount.push(amount);
                if let (Some(orders), Some(out)) = (&orders, &mut table.order) {
                    out.push(match orders.get(i) {
                        Some(order) => hash_key(order),
                        None => u64::MAX - row,
                    });
                }
            }
            Ok(())
        })?;
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
    }

    /// The rows equal to an earlier row in customer, timestamp (day and `nanos`, the time of day), amount
    /// and order.
    pub(crate) fn later_copies(&self, nanos: &[i64]) -> Vec<usize> {
        later_copies(self.len(), |i| {
            (
                self.customer[i],
                self.day[i],
                nanos[i],
                self.amount[i].to_bits(),
                self.order.as_ref().map(|order| order[i]),
            )
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

fn hash_key(key: Key<'_>) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    match key {
        Key::Int(id) => id.hash(&mut hasher),
        Key::Str(id) => id.hash(&mut hasher),
    }
    hasher.finish()
}
