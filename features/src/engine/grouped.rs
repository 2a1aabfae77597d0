//! Rows regrouped by customer (compressed sparse rows) and sorted by day within each customer, so that
//! "everything up to the as-of day" is a prefix found by binary search.

use crate::input::{Events, Transactions};
use crate::time::Day;
use rayon::prelude::*;

/// One transaction of a customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxRow {
    /// Amount; negative for a return.
    pub amount: f64,
    /// UTC day.
    pub day: Day,
    /// 1 when this row starts a purchase: a purchase line that is the first line of its order (every
    /// purchase line when orders are not configured); 0 otherwise.
    pub starts_purchase: u32,
}

impl TxRow {
    /// True for purchases, false for returns: by the amount's sign bit, so that a returned free item
    /// (amount −0.0, signed by its quantity when read) is a return.
    #[inline]
    pub fn is_purchase(&self) -> bool {
        !self.amount.is_sign_negative()
    }
}

/// One event of a customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRow {
    /// Value; NaN when the event has none.
    pub value: f64,
    /// UTC day.
    pub day: Day,
    /// Event type index.
    pub kind: u16,
}

/// Rows of type `R` grouped by customer: customer `c` owns `rows[offsets[c]..offsets[c + 1]]`.
#[derive(Debug, Clone)]
pub struct Grouped<R> {
    offsets: Vec<usize>,
    rows: Vec<R>,
}

impl<R> Grouped<R> {
    /// The rows of customer `customer`, sorted by day.
    #[inline]
    pub fn of(&self, customer: usize) -> &[R] {
        match (self.offsets.get(customer), self.offsets.get(customer + 1)) {
            (Some(&start), Some(&end)) => &self.rows[start..end],
            _ => &[],
        }
    }
}

impl<R: Copy + Send + Sync> Grouped<R> {
    /// Groups rows by customer with a counting sort, then sorts each customer's rows with `sort`.
    pub(super) fn build(
        customers: usize,
        owner: &[u32],
        row: impl Fn(usize) -> R + Sync,
        sort: impl Fn(&mut [R]) + Sync,
        empty: R,
    ) -> Self {
        let mut offsets = vec![0usize; customers + 1];
        for &c in owner {
            offsets[c as usize + 1] += 1;
        }
        for c in 0..customers {
            offsets[c + 1] += offsets[c];
        }
        // Two passes keep memory access local: rows first go to the region of their bucket (a range of
        // customers; a few hundred sequential write streams), then each bucket, small enough for the
        // cache, is put in customer order and sorted, buckets in parallel.
        let shift = (usize::BITS - (customers >> 10).leading_zeros()) as usize;
        let buckets = (customers >> shift) + 1;
        let bucket_start = |b: usize| offsets[(b << shift).min(customers)];
        let mut rows: Vec<R> = (0..owner.len()).into_par_iter().map(|_| empty).collect();
        let mut owners = vec![0u32; owner.len()];
        // The first pass runs on pieces of the rows in parallel: each bucket's region is split among the
        // pieces in their order, so rows keep their order within a bucket, as one pass in order would.
        let piece_rows = owner
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(1 << 16);
        let pieces: Vec<&[u32]> = owner.chunks(piece_rows).collect();
        let counts: Vec<Vec<usize>> = pieces
            .par_iter()
            .map(|piece| {
                let mut counts = vec![0usize; buckets];
                for &c in *piece {
                    counts[c as usize >> shift] += 1;
                }
                counts
            })
            .collect();
        let mut targets: Vec<Vec<(&mut [R], &mut [u32])>> =
            pieces.iter().map(|_| Vec::with_capacity(buckets)).collect();
        let (mut rest, mut rest_owners) = (rows.as_mut_slice(), owners.as_mut_slice());
        for b in 0..buckets {
            for (piece_counts, piece_targets) in counts.iter().zip(&mut targets) {
                let len = piece_counts[b];
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
                let (head_owners, tail_owners) = std::mem::take(&mut rest_owners).split_at_mut(len);
                piece_targets.push((head, head_owners));
                rest = tail;
                rest_owners = tail_owners;
            }
        }
        targets
            .into_par_iter()
            .enumerate()
            .for_each(|(p, mut piece_targets)| {
                let mut cursor = vec![0usize; buckets];
                for (i, &c) in pieces[p].iter().enumerate() {
                    let b = c as usize >> shift;
                    let (rows, owners) = &mut piece_targets[b];
                    rows[cursor[b]] = row(p * piece_rows + i);
                    owners[cursor[b]] = c;
                    cursor[b] += 1;
                }
            });
        let mut parts = Vec::with_capacity(buckets);
        let (mut rest, mut rest_owners) = (rows.as_mut_slice(), owners.as_slice());
        for b in 0..buckets {
            let len = bucket_start(b + 1) - bucket_start(b);
            let (head, tail) = rest.split_at_mut(len);
            let (head_owners, tail_owners) = rest_owners.split_at(len);
            parts.push((b, head, head_owners));
            rest = tail;
            rest_owners = tail_owners;
        }
        parts.into_par_iter().for_each(|(b, part, part_owners)| {
            let base = bucket_start(b);
            let first = (b << shift).min(customers);
            let last = ((b + 1) << shift).min(customers);
            let mut local: Vec<usize> = (first..last).map(|c| offsets[c] - base).collect();
            let unsorted = part.to_vec();
            for (r, &c) in unsorted.into_iter().zip(part_owners) {
                let slot = &mut local[c as usize - first];
                part[*slot] = r;
                *slot += 1;
            }
            for c in first..last {
                sort(&mut part[offsets[c] - base..offsets[c + 1] - base]);
            }
        });
        Self { offsets, rows }
    }
}

impl Grouped<TxRow> {
    /// Groups transactions; with order ids, marks the first purchase line of each order.
    pub fn transactions(customers: usize, table: Transactions) -> Self {
        let Transactions {
            customer,
            day,
            amount,
            order,
            ..
        } = table;
        // The order hash rides in `starts_purchase` until each customer's rows are sorted; then it is
        // replaced by the purchase-start flag.
        let order_key = |i: usize| order.as_ref().map_or(0, |o| (o[i] ^ (o[i] >> 32)) as u32);
        let empty = TxRow {
            amount: 0.0,
            day: 0,
            starts_purchase: 0,
        };
        let has_orders = order.is_some();
        Self::build(
            customers,
            &customer,
            |i| TxRow {
                amount: amount[i],
                day: day[i],
                starts_purchase: order_key(i),
            },
            |rows| mark_purchase_starts(rows, has_orders),
            empty,
        )
    }
}

/// Sorts one customer's rows by day (and order) and sets `starts_purchase`.
fn mark_purchase_starts(rows: &mut [TxRow], has_orders: bool) {
    rows.sort_unstable_by(|a, b| {
        (a.day, a.starts_purchase)
            .cmp(&(b.day, b.starts_purchase))
            .then(a.amount.total_cmp(&b.amount))
    });
    if !has_orders {
        for row in rows.iter_mut() {
            row.starts_purchase = u32::from(row.is_purchase());
        }
        return;
    }
    let mut seen: Vec<u32> = Vec::new();
    for row in rows.iter_mut() {
        let order = row.starts_purchase;
        let new_order = row.is_purchase() && !seen.contains(&order);
        if new_order {
            seen.push(order);
        }
        row.starts_purchase = u32::from(new_order);
    }
}

impl Grouped<EventRow> {
    /// Groups events.
    pub fn events(customers: usize, table: &Events) -> Self {
        let empty = EventRow {
            value: f64::NAN,
            day: 0,
            kind: 0,
        };
        Self::build(
            customers,
            &table.customer,
            |i| EventRow {
                value: table.value.as_ref().map_or(f64::NAN, |v| v[i]),
                day: table.day[i],
                kind: table.event_type[i],
            },
            |rows| rows.sort_unstable_by_key(|r| (r.day, r.kind)),
            empty,
        )
    }
}

/// The number of rows on or before `day` (rows are sorted by day).
#[inline]
pub fn up_to<R>(rows: &[R], day: Day, day_of: impl Fn(&R) -> Day) -> usize {
    rows.partition_point(|r| day_of(r) <= day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_sort_and_mark_orders() {
        let table = Transactions {
            customer: vec![1, 0, 1, 1, 1],
            day: vec![5, 3, 2, 5, 9],
            amount: vec![10.0, 1.0, 4.0, 2.0, -3.0],
            order: Some(vec![77, 1, 70, 77, 70]),
            ..Transactions::default()
        };
        let grouped = Grouped::transactions(2, table);
        assert_eq!(grouped.of(0).len(), 1);
        assert_eq!(grouped.of(0)[0].starts_purchase, 1);
        let days: Vec<Day> = grouped.of(1).iter().map(|r| r.day).collect();
        assert_eq!(days, vec![2, 5, 5, 9]);
        let starts: Vec<u32> = grouped.of(1).iter().map(|r| r.starts_purchase).collect();
        // Order 77 has two lines on day 5: one purchase; the return on day 9 never starts one.
        assert_eq!(starts, vec![1, 1, 0, 0]);
        assert!(grouped.of(5).is_empty());
    }
}
