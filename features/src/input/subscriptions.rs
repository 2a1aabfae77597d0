//! Subscription periods: one row per period of a customer's subscription, with its start, its end (null
//! while running), optionally its plan, and its monthly recurring revenue (MRR, or an amount per billing
//! period of some months), seats and discount.
//!
//! Rows are checked one by one as they are read (an end not after its start, a negative MRR or amount, a
//! billing period that is not a whole number of months, a discount outside 0..1 are invalid rows), and
//! then together: two periods of one customer on the same plan must not overlap. Overlapping periods of
//! different plans are concurrent subscriptions (their MRR adds up).

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn};
use super::ids::{CustomerIndex, CustomerInterner};
use super::source::{ColumnRequest, count_rows, read_batches};
use super::window::retain;
use super::{ReadProgress, Rejects, finite, id_type_mismatch};
use crate::config::SubscriptionsSource;
use crate::error::{FeatureError, Result};
use crate::time::{Day, date_from_days};
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

/// Subscription periods as parallel columns.
#[derive(Debug, Default, Clone)]
pub struct Subscriptions {
    /// Customer of each period.
    pub customer: Vec<CustomerIndex>,
    /// First day each period covers.
    pub start: Vec<Day>,
    /// The day each period stops (the first day it no longer covers); `None` while running.
    pub end: Vec<Option<Day>>,
    /// Index into `plan_names` of each period's plan, when `plan` is configured.
    pub plan: Option<Vec<u32>>,
    /// Plan names, by index.
    pub plan_names: Vec<String>,
    /// Monthly recurring revenue of each period (`mrr`, or amount / billing months).
    pub mrr: Vec<f64>,
    /// Billing period of each period in months (1 when not configured).
    pub billing_months: Vec<u32>,
    /// Seats (quantity) of each period (NaN when null), when `quantity` is configured.
    pub quantity: Option<Vec<f64>>,
    /// Discount share of each period (NaN when null), when `discount` is configured.
    pub discount: Option<Vec<f64>>,
    /// Where each period was read: index into `files`, and its row in that file.
    pub location: Vec<(u32, u64)>,
    /// The files read, by index.
    pub files: Vec<PathBuf>,
}

/// What a period's number columns hold, once checked.
struct Money {
    mrr: f64,
    billing_months: u32,
}

impl Subscriptions {
    /// A warning when periods end after the last start of the file: an end that had not happened when
    /// the file was pulled should be null, else it is read as a churn and moves the end of the
    /// subscriptions' data (and with it how far labels may look). Nothing enforces it, so it is said.
    pub(crate) fn ends_after_last_start(&self, path: &Path) -> Option<String> {
        let last_start = *self.start.iter().max()?;
        let later: Vec<Day> = self
            .end
            .iter()
            .flatten()
            .copied()
            .filter(|&end| end > last_start)
            .collect();
        let latest = *later.iter().max()?;
        Some(format!(
            "{}: {} periods end after the last start in the file ({}), the latest on {}: if an end had not \
             happened yet when the file was pulled, write it as null (a running period); as it is, it is \
             read as the period's end and the subscriptions' data are taken to run until {}",
            path.display(),
            later.len(),
            date_from_days(last_start),
            date_from_days(latest),
            date_from_days(latest),
        ))
    }

    /// Reads the configured periods; returns them with the number of rows read. Overlaps are checked
    /// afterwards, by [`Subscriptions::screen_overlaps`], once the date range has been applied.
    pub(crate) fn load(
        source: &SubscriptionsSource,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64)> {
        let mut requests = vec![
            ColumnRequest::new(&source.customer_id, "subscriptions.customer_id", ColumnKind::Id),
            ColumnRequest::new(&source.start, "subscriptions.start", ColumnKind::Time),
            ColumnRequest::new(&source.end, "subscriptions.end", ColumnKind::Time),
        ];
        let numbers = [
            (&source.mrr, "subscriptions.mrr"),
            (&source.amount, "subscriptions.amount"),
            (&source.billing_months, "subscriptions.billing_months"),
            (&source.quantity, "subscriptions.quantity"),
            (&source.discount, "subscriptions.discount"),
        ];
        for (name, role) in numbers {
            if let Some(name) = name {
                requests.push(ColumnRequest::new(name, role, ColumnKind::Number));
            }
        }
        if let Some(plan) = &source.plan {
            requests.push(ColumnRequest::new(plan, "subscriptions.plan", ColumnKind::Key));
        }
        let rows = count_rows(&source.path, &requests)?;
        progress.start("subscriptions", rows);
        let mut table = Subscriptions {
            plan: source.plan.as_ref().map(|_| Vec::new()),
            quantity: source.quantity.as_ref().map(|_| Vec::new()),
            discount: source.discount.as_ref().map(|_| Vec::new()),
            ..Subscriptions::default()
        };
        let mut plan_index: FxHashMap<String, u32> = FxHashMap::default();
        let advance = |n| progress.advance(n);
        let read = read_batches(&source.path, &requests, &advance, |path, batch, first_row| {
            let column = |name: &str| batch.column_by_name(name).expect("projected column");
            let number = |name: &Option<String>| name.as_ref().map(|n| NumberColumn::new(column(n)));
            let customer_ids = IdColumn::new(column(&source.customer_id));
            let starts = DayColumn::new(column(&source.start));
            let ends = DayColumn::new(column(&source.end));
            let (mrrs, amounts, months) = (
                number(&source.mrr),
                number(&source.amount),
                number(&source.billing_months),
            );
            let (quantities, discounts) = (number(&source.quantity), number(&source.discount));
            let plans = source.plan.as_ref().map(|n| IdColumn::new(column(n)));
            if table.files.last().is_none_or(|last| last != path) {
                table.files.push(path.to_path_buf());
            }
            let file = (table.files.len() - 1) as u32;
            // A failing run says the values; skipped rows are counted under a reason without them.
            let detailed = rejects.on_invalid() == super::OnInvalid::Fail;
            for i in 0..batch.num_rows() {
                let row = first_row + i as u64;
                let mut reject = |column: &str, reason: &str, text: Option<&str>| {
                    rejects.reject_text("subscriptions", path, column, row, reason, text)
                };
                let Some(key) = customer_ids.get(i) else {
                    reject(&source.customer_id, "null customer id", None)?;
                    continue;
                };
                let start = match starts.get(i) {
                    Ok(day) => day,
                    Err(reason) => {
                        reject(&source.start, reason, starts.text(i))?;
                        continue;
                    }
                };
                let end = match ends.get_optional(i) {
                    Ok(Some(day)) if day <= start => {
                        let reason = if detailed {
                            format!(
                                "end {} is not after start {} (a period covers the days from its start up to, \
                                 not including, its end)",
                                date_from_days(day),
                                date_from_days(start)
                            )
                        } else {
                            "end not after start".to_string()
                        };
                        reject(&source.end, &reason, None)?;
                        continue;
                    }
                    Ok(day) => day,
                    Err(reason) => {
                        reject(&source.end, reason, ends.text(i))?;
                        continue;
                    }
                };
                let money = match money(source, mrrs.as_ref(), amounts.as_ref(), months.as_ref(), i) {
                    Ok(money) => money,
                    Err((column, reason)) => {
                        let reason = reason.reason(detailed);
                        reject(column, &reason, None)?;
                        continue;
                    }
                };
                let quantity = match optional_number(quantities.as_ref(), i, 0.0, f64::INFINITY) {
                    Ok(value) => value,
                    Err(reason) => {
                        let reason = reason.reason(detailed);
                        reject(source.quantity.as_deref().unwrap_or_default(), &reason, None)?;
                        continue;
                    }
                };
                let discount = match optional_number(discounts.as_ref(), i, 0.0, 1.0) {
                    Ok(value) => value,
                    Err(reason) => {
                        let reason = reason.reason(detailed);
                        reject(source.discount.as_deref().unwrap_or_default(), &reason, None)?;
                        continue;
                    }
                };
                let plan = match plans.as_ref().map(|p| p.get(i)) {
                    None => None,
                    Some(Some(plan)) => Some(plan.to_string()),
                    Some(None) => {
                        reject(source.plan.as_deref().unwrap_or_default(), "null plan", None)?;
                        continue;
                    }
                };
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                table.customer.push(customer);
                table.start.push(start);
                table.end.push(end);
                table.mrr.push(money.mrr);
                table.billing_months.push(money.billing_months);
                table.location.push((file, row));
                if let (Some(out), Some(plan)) = (&mut table.plan, plan) {
                    let next = table.plan_names.len() as u32;
                    let index = *plan_index.entry(plan).or_insert_with_key(|name| {
                        table.plan_names.push(name.clone());
                        next
                    });
                    out.push(index);
                }
                if let Some(out) = &mut table.quantity {
                    out.push(quantity);
                }
                if let Some(out) = &mut table.discount {
                    out.push(discount);
                }
            }
            Ok(())
        })?;
        Ok((table, read))
    }

    /// Number of periods.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// True when there are no periods.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    /// Keeps the rows whose entry in `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) {
        retain(&mut self.customer, keep);
        retain(&mut self.start, keep);
        retain(&mut self.end, keep);
        retain(&mut self.mrr, keep);
        retain(&mut self.billing_months, keep);
        retain(&mut self.location, keep);
        if let Some(plan) = &mut self.plan {
            retain(plan, keep);
        }
        for values in [&mut self.quantity, &mut self.discount].into_iter().flatten() {
            retain(values, keep);
        }
    }

    /// The plan of period `i` (0 for every period when no plan is configured).
    #[inline]
    pub fn plan_of(&self, i: usize) -> u32 {
        self.plan.as_ref().map_or(0, |plan| plan[i])
    }

    /// Refuses (or, under `--on-invalid skip`, drops and counts) every period that overlaps an earlier
    /// period of the same customer on the same plan: the later-starting one (on equal starts, the one
    /// read later) is named by file, `start` column and row, with the row it overlaps.
    pub(crate) fn screen_overlaps(
        &mut self,
        source: &SubscriptionsSource,
        rejects: &mut Rejects,
    ) -> Result<()> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by_key(|&i| (self.customer[i], self.plan_of(i), self.start[i], self.location[i]));
        let mut keep = vec![true; self.len()];
        let mut previous: Option<usize> = None;
        for &i in &order {
            if let Some(p) = previous
                && self.customer[p] == self.customer[i]
                && self.plan_of(p) == self.plan_of(i)
                && self.end[p].is_none_or(|end| self.start[i] < end)
            {
                let (file, row) = self.location[i];
                let (earlier_file, earlier_row) = self.location[p];
                let plan = match &source.plan {
                    Some(_) => format!("plan `{}`", self.plan_names[self.plan_of(i) as usize]),
                    None => {
                        "plan (no plan column is configured, so all of a customer's periods are one plan)"
                            .into()
                    }
                };
                let reason = format!(
                    "the period starting {} overlaps the period of the same customer and {plan} in row {earlier_row}{} \
                     (from {} to {}): periods of one plan must not overlap (overlapping periods of different plans \
                     are concurrent subscriptions)",
                    date_from_days(self.start[i]),
                    if earlier_file == file {
                        String::new()
                    } else {
                        format!(" of {}", self.files[earlier_file as usize].display())
                    },
                    date_from_days(self.start[p]),
                    self.end[p].map_or_else(|| "running".to_string(), |d| date_from_days(d).to_string()),
                );
                let path: &Path = &self.files[file as usize];
                match rejects.on_invalid() {
                    super::OnInvalid::Fail => {
                        return Err(FeatureError::InvalidValue {
                            path: path.into(),
                            column: source.start.clone(),
                            row,
                            reason,
                        });
                    }
                    super::OnInvalid::Skip => {
                        rejects.count(
                            "subscriptions",
                            &source.start,
                            "overlaps an earlier period of the same plan",
                            1,
                        );
                        keep[i] = false;
                        continue;
                    }
                }
            }
            previous = Some(i);
        }
        if keep.iter().any(|&k| !k) {
            self.retain_rows(&keep);
        }
        Ok(())
    }
}

/// Why a number is invalid: a fixed kind, under which skipped rows are counted, and the detail a failing
/// run gives (with the value).
struct Invalid {
    kind: &'static str,
    detail: String,
}

impl Invalid {
    fn new(kind: &'static str, detail: String) -> Self {
        Self { kind, detail }
    }

    fn plain(kind: &'static str) -> Self {
        Self::new(kind, kind.to_string())
    }

    /// What a rejected row says: the detail when the run fails on it, the kind when rows are skipped
    /// and counted by reason.
    fn reason(self, detailed: bool) -> String {
        if detailed {
            self.detail
        } else {
            self.kind.to_string()
        }
    }
}

/// The MRR and billing months of row `i`, or the column and why it is invalid.
fn money<'a>(
    source: &'a SubscriptionsSource,
    mrrs: Option<&NumberColumn<'_>>,
    amounts: Option<&NumberColumn<'_>>,
    months: Option<&NumberColumn<'_>>,
    i: usize,
) -> std::result::Result<Money, (&'a str, Invalid)> {
    let billing_months = match (months, &source.billing_months) {
        (Some(column), Some(name)) => match column.get(i) {
            None => return Err((name, Invalid::plain("null billing period"))),
            Some(m) if m.is_finite() && m >= 1.0 && m.fract() == 0.0 && m <= 1200.0 => m as u32,
            Some(m) => {
                let detail = format!("billing period {m} is not a whole number of months from 1 to 1200");
                return Err((
                    name,
                    Invalid::new("billing period not a whole number of months", detail),
                ));
            }
        },
        _ => 1,
    };
    let (column, name, null, negative) = match (mrrs, amounts) {
        (Some(column), _) => (
            column,
            source.mrr.as_deref().unwrap_or_default(),
            "null MRR",
            "negative MRR",
        ),
        (None, Some(column)) => (
            column,
            source.amount.as_deref().unwrap_or_default(),
            "null amount",
            "negative amount",
        ),
        (None, None) => return Err(("mrr", Invalid::plain("neither `mrr` nor `amount` is configured"))),
    };
    let value = match column.get(i).map(finite) {
        None => return Err((name, Invalid::plain(null))),
        Some(Err(reason)) => return Err((name, Invalid::plain(reason))),
        Some(Ok(value)) if value < 0.0 => {
            return Err((
                name,
                Invalid::new(negative, format!("{negative} {value} (it must be at least 0)")),
            ));
        }
        Some(Ok(value)) => value,
    };
    let mrr = if mrrs.is_some() {
        value
    } else {
        value / f64::from(billing_months)
    };
    Ok(Money { mrr, billing_months })
}

/// An optional number of row `i` within `low..=high` (NaN when the column is absent or the value null).
fn optional_number(
    column: Option<&NumberColumn<'_>>,
    i: usize,
    low: f64,
    high: f64,
) -> std::result::Result<f64, Invalid> {
    match column.and_then(|c| c.get(i)) {
        None => Ok(f64::NAN),
        Some(value) => {
            let value = finite(value).map_err(Invalid::plain)?;
            if (low..=high).contains(&value) {
                Ok(value)
            } else if high.is_finite() {
                Err(Invalid::new(
                    "value out of range",
                    format!("{value} is outside {low} .. {high}"),
                ))
            } else {
                Err(Invalid::new(
                    "negative value",
                    format!("{value} is negative (it must be at least {low})"),
                ))
            }
        }
    }
}
