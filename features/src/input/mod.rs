//! Loading the configured inputs into compact in-memory columns keyed by dense customer indices, with
//! invalid rows failing the run or being counted and skipped.

pub mod columns;
mod customers;
mod duplicates;
mod events;
pub mod ids;
mod labels;
mod one_row_per_customer;
pub mod source;
mod subscriptions;
mod transactions;
pub mod window;

pub use customers::{Attribute, AttributeValues, Customers, DateAttribute};
pub use events::Events;
pub use labels::Labels;
pub use subscriptions::Subscriptions;
pub use transactions::Transactions;
pub use window::DateWindow;

use crate::config::{Config, DataParams};
use crate::error::{FeatureError, Result};
use ids::CustomerInterner;
use std::collections::BTreeMap;
use std::path::Path;
use window::{DatedInput, Dates};

/// What to do with a row whose id or timestamp is null or unparseable, whose date is outside the accepted
/// range ([`DateWindow`]), or whose number is NaN or infinite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnInvalid {
    /// Stop with an error naming the file, column and row.
    #[default]
    Fail,
    /// Skip the row and count it by reason.
    Skip,
}

/// How inputs are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// What to do with invalid rows.
    pub on_invalid: OnInvalid,
    /// Drop exact duplicate rows of transactions and events (they are counted either way).
    pub dedupe: bool,
}

impl From<OnInvalid> for LoadOptions {
    fn from(on_invalid: OnInvalid) -> Self {
        Self {
            on_invalid,
            dedupe: false,
        }
    }
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Customer ids in order of first appearance.
    pub ids: CustomerInterner,
    /// Purchase and return rows.
    pub transactions: Option<Transactions>,
    /// Event rows.
    pub events: Option<Events>,
    /// Customer attribute rows.
    pub customers: Option<Customers>,
    /// Subscription periods.
    pub subscriptions: Option<Subscriptions>,
    /// Given labels.
    pub labels: Option<Labels>,
    /// Rows read per input (`transactions`, `events`, `customers`, `subscriptions`, `labels`).
    pub rows_read: BTreeMap<String, u64>,
    /// Rows skipped, by input, column and reason.
    pub rejected: BTreeMap<String, u64>,
    /// The accepted date range of each dated input (`transactions`, `events`, `customers`,
    /// `subscriptions`) with rows.
    pub date_windows: BTreeMap<String, DateWindow>,
    /// Exact duplicate rows (beyond the first of equal rows) of `transactions` and `events`.
    pub duplicate_rows: BTreeMap<String, u64>,
    /// Whether the duplicate rows were dropped.
    pub duplicates_dropped: bool,
    /// Warnings about the inputs (e.g. a mapped column null in every row), each also logged when found.
    pub warnings: Vec<String>,
}

/// Progress callbacks while reading.
pub trait ReadProgress: Sync {
    /// Reading of `input` starts, with `rows` rows in total.
    fn start(&self, input: &str, rows: u64);
    /// `rows` more rows were decoded.
    fn advance(&self, rows: u64);
}

/// A [`ReadProgress`] that shows nothing.
pub struct NoProgress;

impl ReadProgress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

impl Inputs {
    /// Reads every input named in `config` (`options`: an [`OnInvalid`] policy, or [`LoadOptions`]).
    /// Rows dated outside an input's accepted range ([`DateWindow`]) are invalid rows; exact duplicate rows
    /// of transactions and events are counted, and dropped when asked to.
    pub fn load(
        config: &Config,
        options: impl Into<LoadOptions>,
        progress: &dyn ReadProgress,
    ) -> Result<Self> {
        let options = options.into();
        let mut inputs = Inputs {
            duplicates_dropped: options.dedupe,
            ..Inputs::default()
        };
        let mut rejects = Rejects {
            on_invalid: options.on_invalid,
            counts: BTreeMap::new(),
        };
        if let Some(source) = &config.transactions {
            let mapped = [
                Some(&source.customer_id),
                Some(&source.timestamp),
                source.amount.as_ref(),
                source.quantity.as_ref(),
                source.unit_price.as_ref(),
                source.order_id.as_ref(),
                source.product_id.as_ref(),
                source.category.as_ref(),
            ];
            inputs.screen_null_columns("transactions", &source.path, mapped.into_iter().flatten())?;
            let (mut table, rows, mut nanos) =
                Transactions::load(source, &mut inputs.ids, &mut rejects, progress)?;
            let dated = DatedInput::timestamped("transactions", &source.path, &source.timestamp, &table.day);
            if let Some(keep) = inputs.screen_dates(dated, &config.data, &mut rejects)? {
                table.retain_rows(&keep);
                window::retain(&mut nanos, &keep);
            }
            inputs.screen_duplicates("transactions", &mut table, &nanos, options.dedupe);
            inputs.transactions = Some(table);
            inputs.rows_read.insert("transactions".into(), rows);
        }
        if let Some(source) = &config.events {
            let mapped = [
                Some(&source.customer_id),
                Some(&source.timestamp),
                Some(&source.event_type),
                source.value.as_ref(),
            ];
            inputs.screen_null_columns("events", &source.path, mapped.into_iter().flatten())?;
            let (mut table, rows, mut nanos) = Events::load(source, &mut inputs.ids, &mut rejects, progress)?;
            let dated = DatedInput::timestamped("events", &source.path, &source.timestamp, &table.day);
            if let Some(keep) = inputs.screen_dates(dated, &config.data, &mut rejects)? {
                table.retain_rows(&keep);
                window::retain(&mut nanos, &keep);
            }
            inputs.screen_duplicates("events", &mut table, &nanos, options.dedupe);
            inputs.events = Some(table);
            inputs.rows_read.insert("events".into(), rows);
        }
        // The label and the duration (an outcome, e.g. Telco's tenure) are never attributes.
        let label_columns = config.labels.as_ref().map(|l| {
            let columns: Vec<&str> = std::iter::once(l.label.as_str())
                .chain(l.duration.as_deref())
                .collect();
            (l.path.as_path(), columns)
        });
        if let Some(source) = &config.customers {
            let (mut table, rows) = Customers::load(
                source,
                label_columns
                    .as_ref()
                    .map(|(path, columns)| (*path, columns.as_slice())),
                !config.is_snapshot(),
                &mut inputs.ids,
                &mut rejects,
                progress,
            )?;
            let columns = [
                (&source.signup_date, &table.signup),
                (&source.churn_date, &table.churn),
            ]
            .into_iter()
            .filter_map(|(name, days)| Some((name.as_deref()?, Dates::Optional(days.as_deref()?))))
            .collect();
            let dated = DatedInput {
                input: "customers",
                path: &source.path,
                columns,
            };
            if let Some(keep) = inputs.screen_dates(dated, &config.data, &mut rejects)? {
                table.retain_rows(&keep);
            }
            let mapped = [&source.customer_id]
                .into_iter()
                .chain(&source.signup_date)
                .chain(&source.churn_date)
                .chain(table.attributes.iter().map(|a| &a.name))
                .chain(table.dates.iter().map(|d| &d.name));
            inputs.screen_null_columns("customers", &source.path, mapped)?;
            for name in &table.left_out_dates {
                let warning = format!(
                    "{}: date column `{name}` of [customers] is left out: name it in date_attributes to \
                     include it (date_attributes = {{ {name} = \"age\" }}), but only a date fixed in advance \
                     (a birth date, a contract end) is safe; a date that changes after the file is pulled (a \
                     last login, a last order) leaks the label",
                    source.path.display()
                );
                tracing::warn!("{warning}");
                inputs.warnings.push(warning);
            }
            inputs.customers = Some(table);
            inputs.rows_read.insert("customers".into(), rows);
        }
        if let Some(source) = &config.subscriptions {
            let (mut table, rows) = Subscriptions::load(source, &mut inputs.ids, &mut rejects, progress)?;
            // Only a period's start is a row's date: an end after the accepted range (a backtest's
            // max_date) has not happened yet as far as the data goes, so the period is running, not
            // refused (which would make its customer look churned).
            let dated = DatedInput::timestamped("subscriptions", &source.path, &source.start, &table.start);
            if let Some(keep) = inputs.screen_dates(dated, &config.data, &mut rejects)? {
                table.retain_rows(&keep);
            }
            if let Some(window) = inputs.date_windows.get("subscriptions") {
                for end in &mut table.end {
                    if end.is_some_and(|day| day > window.last) {
                        *end = None;
                    }
                }
            }
            table.screen_overlaps(source, &mut rejects)?;
            if let Some(warning) = table.ends_after_last_start(&source.path) {
                tracing::warn!("{warning}");
                inputs.warnings.push(warning);
            }
            inputs.subscriptions = Some(table);
            inputs.rows_read.insert("subscriptions".into(), rows);
        }
        if let Some(source) = &config.labels {
            let mapped = [&source.customer_id, &source.label];
            inputs.screen_null_columns("labels", &source.path, mapped.into_iter())?;
            let (table, rows) = Labels::load(source, &mut inputs.ids, &mut rejects, progress)?;
            inputs.labels = Some(table);
            inputs.rows_read.insert("labels".into(), rows);
        }
        inputs.rejected = rejects.counts;
        Ok(inputs)
    }

    /// Warns about each of the `mapped` columns of `input` null in every row of `path` (by the files'
    /// statistics, before any row is read), and keeps the warning for the run summary.
    fn screen_null_columns<'a>(
        &mut self,
        input: &str,
        path: &Path,
        mapped: impl Iterator<Item = &'a String>,
    ) -> Result<()> {
        let names: Vec<&str> = mapped.map(String::as_str).collect();
        for column in source::null_everywhere(path, &names)? {
            let warning = format!(
                "{}: column `{column}`, mapped in [{input}], is null in every row, so nothing can come of \
                 it: check the mapping and the file",
                path.display()
            );
            tracing::warn!("{warning}");
            self.warnings.push(warning);
        }
        Ok(())
    }

    /// Finds the accepted date range of `dated` and applies it: fails on a row outside, or returns the
    /// mask of rows to keep when some are skipped.
    fn screen_dates(
        &mut self,
        dated: DatedInput<'_>,
        params: &DataParams,
        rejects: &mut Rejects,
    ) -> Result<Option<Vec<bool>>> {
        let days = dated.columns.iter().flat_map(|(_, dates)| dates.days());
        let Some(window) = DateWindow::new(params, days) else {
            return Ok(None);
        };
        self.date_windows.insert(dated.input.to_string(), window);
        dated.screen(&window, rejects)
    }

    /// Counts the exact duplicate rows of `table` (`nanos`: each row's time of day), and drops them
    /// when `dedupe` is set.
    fn screen_duplicates(
        &mut self,
        input: &str,
        table: &mut impl TimestampedRows,
        nanos: &[i64],
        dedupe: bool,
    ) {
        let copies = table.later_copies(nanos);
        if !copies.is_empty() {
            tracing::warn!(
                input,
                rows = copies.len(),
                dropped = dedupe,
                "exact duplicate rows"
            );
            if dedupe {
                table.retain_rows(&duplicates::keep_all_but(nanos.len(), &copies));
            }
        }
        self.duplicate_rows.insert(input.to_string(), copies.len() as u64);
    }
}

/// Transactions and events: rows with a full timestamp, which may hold exact duplicates.
trait TimestampedRows {
    /// Keeps the rows whose entry in `keep` is true.
    fn retain_rows(&mut self, keep: &[bool]);
    /// The rows equal in every column to an earlier row, given each row's time of day.
    fn later_copies(&self, nanos: &[i64]) -> Vec<usize>;
}

impl TimestampedRows for Transactions {
    fn retain_rows(&mut self, keep: &[bool]) {
        Transactions::retain_rows(self, keep);
    }
    fn later_copies(&self, nanos: &[i64]) -> Vec<usize> {
        Transactions::later_copies(self, nanos)
    }
}

impl TimestampedRows for Events {
    fn retain_rows(&mut self, keep: &[bool]) {
        Events::retain_rows(self, keep);
    }
    fn later_copies(&self, nanos: &[i64]) -> Vec<usize> {
        Events::later_copies(self, nanos)
    }
}

/// Applies the [`OnInvalid`] policy and counts skipped rows.
pub(crate) struct Rejects {
    on_invalid: OnInvalid,
    counts: BTreeMap<String, u64>,
}

/// Characters of an unreadable value quoted in an error.
const QUOTED_CHARS: usize = 40;

impl Rejects {
    /// Fails with the row's location, or counts the row as skipped under `input.column: reason`.
    pub(crate) fn reject(
        &mut self,
        input: &str,
        path: &Path,
        column: &str,
        row: u64,
        reason: &str,
    ) -> Result<()> {
        match self.on_invalid {
            OnInvalid::Fail => Err(FeatureError::InvalidValue {
                path: path.into(),
                column: column.into(),
                row,
                reason: reason.into(),
            }),
            OnInvalid::Skip => {
                self.count(input, column, reason, 1);
                Ok(())
            }
        }
    }

    /// [`Rejects::reject`] for a value that could not be read as `text`: a failure quotes it (its first
    /// [`QUOTED_CHARS`] characters, control characters escaped), a skip is counted under `reason` alone.
    pub(crate) fn reject_text(
        &mut self,
        input: &str,
        path: &Path,
        column: &str,
        row: u64,
        reason: &str,
        text: Option<&str>,
    ) -> Result<()> {
        match (self.on_invalid, text) {
            (OnInvalid::Fail, Some(text)) => {
                let shown: String = text.chars().take(QUOTED_CHARS).collect();
                let more = if shown.len() < text.len() { "…" } else { "" };
                let quoted = format!("{reason}: `{}{more}`", shown.escape_debug());
                self.reject(input, path, column, row, &quoted)
            }
            _ => self.reject(input, path, column, row, reason),
        }
    }

    /// Reports `row` of `input` as `why` says: a null customer id in `id_column`, or a time in
    /// `time_column` that could not be read as `text`.
    pub(crate) fn reject_unstamped(
        &mut self,
        input: &str,
        path: &Path,
        [id_column, time_column]: [&str; 2],
        row: u64,
        why: Unstamped,
        text: Option<&str>,
    ) -> Result<()> {
        match why {
            Unstamped::NullId => self.reject(input, path, id_column, row, "null customer id"),
            Unstamped::Time(reason) => self.reject_text(input, path, time_column, row, reason, text),
        }
    }

    /// The policy in force.
    pub(crate) fn on_invalid(&self) -> OnInvalid {
        self.on_invalid
    }

    /// Counts `rows` skipped rows under `input.column: reason`.
    pub(crate) fn count(&mut self, input: &str, column: &str, reason: &str, rows: u64) {
        *self
            .counts
            .entry(format!("{input}.{column}: {reason}"))
            .or_default() += rows;
    }
}

/// Why a row of transactions or events is rejected on the first two things read of it: its customer id
/// and its time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unstamped {
    /// No customer id.
    NullId,
    /// No readable time, and why.
    Time(&'static str),
}

/// The customer id (of `ids`) and moment (of `days`) of row `i`, or why the row has none.
#[inline]
pub(crate) fn stamp<'a>(
    ids: &columns::IdColumn<'a>,
    days: &columns::DayColumn<'_>,
    i: usize,
) -> std::result::Result<(ids::Key<'a>, crate::time::Moment), Unstamped> {
    let key = ids.get(i).ok_or(Unstamped::NullId)?;
    let moment = days.moment(i).map_err(Unstamped::Time)?;
    Ok((key, moment))
}

/// The customer (numbered within its batch), day and time of day of each accepted row of a batch of
/// timestamped rows (transactions, events), read where the batch is decoded.
pub(crate) struct StampedRows {
    customer: Vec<u32>,
    day: Vec<crate::time::Day>,
    nanos: Vec<i64>,
}

impl StampedRows {
    /// Room for `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            customer: Vec::with_capacity(rows),
            day: Vec::with_capacity(rows),
            nanos: Vec::with_capacity(rows),
        }
    }

    /// Adds an accepted row of customer `key` at `moment`, the customer numbered by `ids`; true when it
    /// is the customer's first row in the batch.
    #[inline]
    pub(crate) fn push<'a>(
        &mut self,
        ids: &mut ids::BatchIds<ids::Key<'a>>,
        key: ids::Key<'a>,
        moment: crate::time::Moment,
    ) -> bool {
        let (customer, first) = ids.number(key);
        self.customer.push(customer);
        self.day.push(moment.day);
        self.nanos.push(moment.nanos);
        first
    }

    /// Appends the rows' customers (each by its index in `customers`, by its number in the batch), days
    /// and times of day.
    pub(crate) fn append_to(
        &self,
        customers: &[ids::CustomerIndex],
        customer: &mut Vec<ids::CustomerIndex>,
        day: &mut Vec<crate::time::Day>,
        nanos: &mut Vec<i64>,
    ) {
        customer.extend(self.customer.iter().map(|&c| customers[c as usize]));
        day.extend_from_slice(&self.day);
        nanos.extend_from_slice(&self.nanos);
    }
}

/// The error for ids whose type differs from the ids read before.
pub(crate) fn id_type_mismatch(ids: &CustomerInterner, path: &Path, column: &str) -> FeatureError {
    let (found, earlier) = if ids.holds_strings() == Some(true) {
        ("integer", "string")
    } else {
        ("string", "integer")
    };
    FeatureError::WrongType {
        path: path.into(),
        column: column.into(),
        found: format!("{found} customer ids"),
        expected: format!("{earlier} customer ids, like the inputs read before it"),
    }
}

/// Checks that a number is finite, returning the rejection reason otherwise.
pub(crate) fn finite(value: f64) -> std::result::Result<f64, &'static str> {
    if value.is_nan() {
        Err("value is NaN")
    } else if value.is_infinite() {
        Err("value is infinite")
    } else {
        Ok(value)
    }
}
