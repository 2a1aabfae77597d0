//! One customer's numeric features at one as-of day, from their rows on or before it. Missing values are
//! NaN here and become nulls in the table.

use super::grouped::{EventRow, TxRow, up_to};
use super::layout::{Layout, tx};
use crate::time::Day;

/// Running mean and variance (Welford) of a stream of numbers.
#[derive(Default)]
struct Spread {
    count: u32,
    mean: f64,
    m2: f64,
}

impl Spread {
    fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / f64::from(self.count);
        self.m2 += delta * (value - self.mean);
    }

    fn sample_std(&self) -> f64 {
        if self.count < 2 {
            f64::NAN
        } else {
            (self.m2 / f64::from(self.count - 1)).sqrt()
        }
    }
}

/// `recent / (recent + earlier)`, NaN when both are zero.
fn share(recent: f64, earlier: f64) -> f64 {
    let total = recent + earlier;
    if total > 0.0 { recent / total } else { f64::NAN }
}

/// Fills the transaction block of `row` from a customer's day-sorted rows; returns the day of the
/// last transaction (purchase or return) on or before `as_of`, and the first.
pub fn fill_transactions(
    layout: &Layout,
    start: usize,
    rows: &[TxRow],
    as_of: Day,
    row: &mut [f64],
) -> Option<(Day, Day)> {
    let seen = &rows[..up_to(rows, as_of, |r| r.day)];
    let out = &mut row[start..start + tx::FIXED + 3 * layout.windows.len()];
    let trend = i64::from(layout.trend_days);

    let mut purchases = 0u32;
    let mut spend = 0.0;
    let mut returns = 0u32;
    let mut returned = 0.0;
    let (mut first_day, mut last_day): (Option<Day>, Option<Day>) = (None, None);
    let mut distinct_days = 0u32;
    let mut day_spend = 0.0;
    let mut repeat_spend = 0.0;
    let mut gaps = Spread::default();
    let (mut recent, mut earlier, mut recent_spend, mut earlier_spend) = (0.0, 0.0, 0.0, 0.0);
    let windows = &mut out[tx::FIXED..];
    windows.fill(0.0);

    for r in seen {
        let age = i64::from(as_of) - i64::from(r.day);
        if !r.is_purchase() {
            returns += 1;
            returned -= r.amount;
            for (w, &length) in layout.windows.iter().enumerate() {
                if age < i64::from(length) {
                    windows[3 * w + 2] += 1.0;
                }
            }
            continue;
        }
        let starts = f64::from(r.starts_purchase);
        purchases += r.starts_purchase;
        spend += r.amount;
        if last_day != Some(r.day) {
            if let Some(previous) = last_day {
                gaps.add(f64::from(r.day - previous));
                if distinct_days > 1 {
                    repeat_spend += day_spend;
                }
            }
            first_day.get_or_insert(r.day);
            last_day = Some(r.day);
            distinct_days += 1;
            day_spend = 0.0;
        }
        day_spend += r.amount;
        for (w, &length) in layout.windows.iter().enumerate() {
            if age < i64::from(length) {
                windows[3 * w] += starts;
                windows[3 * w + 1] += r.amount;
            }
        }
        if age < trend {
            recent += starts;
            recent_spend += r.amount;
        } else if age < 2 * trend {
            earlier += starts;
            earlier_spend += r.amount;
        }
    }
    if distinct_days > 1 {
        repeat_spend += day_spend;
    }

    let fixed = &mut out[..tx::FIXED];
    fixed.fill(f64::NAN);
    fixed[tx::PURCHASE_COUNT] = f64::from(purchases);
    fixed[tx::TOTAL_SPEND] = spend;
    fixed[tx::RETURN_COUNT] = f64::from(returns);
    fixed[tx::RETURN_AMOUNT] = returned;
    if let (Some(first), Some(last)) = (first_day, last_day) {
        let frequency = f64::from(distinct_days - 1);
        let since_last = f64::from(as_of - last);
        fixed[tx::BTYD_FREQUENCY] = frequency;
        fixed[tx::BTYD_RECENCY] = f64::from(last - first);
        fixed[tx::BTYD_T] = f64::from(as_of - first);
        fixed[tx::BTYD_MONETARY] = if distinct_days > 1 {
            repeat_spend / frequency
        } else {
            0.0
        };
        fixed[tx::DAYS_SINCE_LAST_PURCHASE] = since_last;
        if purchases > 0 {
            fixed[tx::MEAN_SPEND] = spend / f64::from(purchases);
        }
        if distinct_days > 1 {
            let mean_gap = f64::from(last - first) / frequency;
            fixed[tx::INTERPURCHASE_MEAN] = mean_gap;
            fixed[tx::INTERPURCHASE_STD] = gaps.sample_std();
            fixed[tx::OVERDUE_RATIO] = since_last / mean_gap;
        }
        fixed[tx::PURCHASE_TREND] = share(recent, earlier);
        fixed[tx::SPEND_TREND] = share(recent_spend, earlier_spend);
    }
    Some((seen.first()?.day, seen.last()?.day))
}

/// Fills every event type's block of `row`; returns the first and last event day on or before `as_of`.
/// `slot_of_kind` maps an event type index to its block among `layout.event_starts` (`None`: a type
/// without a block, seen only after the last as-of date).
pub fn fill_events(
    layout: &Layout,
    slot_of_kind: &[Option<usize>],
    rows: &[EventRow],
    as_of: Day,
    row: &mut [f64],
) -> Option<(Day, Day)> {
    let seen = &rows[..up_to(rows, as_of, |r| r.day)];
    let block = layout.event_block_len();
    let per_window = if layout.event_values { 2 } else { 1 };
    let trend = i64::from(layout.trend_days);
    let types = layout.event_starts.len();
    let mut recent = vec![0.0; types];
    let mut earlier = vec![0.0; types];
    for &start in &layout.event_starts {
        let out = &mut row[start..start + block];
        out[0] = f64::NAN;
        out[1] = f64::NAN;
        out[2..].fill(0.0);
    }
    for r in seen {
        let Some(slot) = slot_of_kind.get(usize::from(r.kind)).copied().flatten() else {
            continue;
        };
        let start = layout.event_starts[slot];
        let out = &mut row[start..start + block];
        let age = i64::from(as_of) - i64::from(r.day);
        out[0] = age as f64;
        for (w, &length) in layout.windows.iter().enumerate() {
            if age < i64::from(length) {
                out[2 + per_window * w] += 1.0;
                if layout.event_values && !r.value.is_nan() {
                    out[2 + per_window * w + 1] += r.value;
                }
            }
        }
        if age < trend {
            recent[slot] += 1.0;
        } else if age < 2 * trend {
            earlier[slot] += 1.0;
        }
    }
    for (slot, &start) in layout.event_starts.iter().enumerate() {
        row[start + 1] = share(recent[slot], earlier[slot]);
    }
    Some((seen.first()?.day, seen.last()?.day))
}
