//! Events: logins, support tickets, page views, ... one row each, with an optional numeric value. Event
//! types whose names differ only in case or punctuation are one type (their columns would share names).

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn, TextColumn};
use super::duplicates::{day_and_customer, later_copies};
use super::ids::{BatchIds, CustomerIndex, CustomerInterner};
use super::source::{ColumnRequest, count_rows, read_prepared};
use super::window::retain;
use super::{ReadProgress, Rejects, StampedRows, Unstamped, finite, id_type_mismatch, stamp};
use crate::config::EventsSource;
use crate::engine::layout::column_safe;
use crate::error::Result;
use crate::time::Day;
use rustc_hash::FxHashMap;

/// Event rows as parallel columns.
#[derive(Debug, Default, Clone)]
pub struct Events {
    /// Customer of each row.
    pub customer: Vec<CustomerIndex>,
    /// UTC day of each row.
    pub day: Vec<Day>,
    /// Index into `type_names` of each row's event type.
    pub event_type: Vec<u16>,
    /// Value of each row (NaN when the row has none), when a value column is configured.
    pub value: Option<Vec<f64>>,
    /// Event type names, by index.
    pub type_names: Vec<String>,
}

impl Events {
    /// Reads the configured events; returns them with the number of rows read and each row's time of
    /// day (nanoseconds after midnight UTC), which tells exact duplicates from rows of the same day.
    pub(crate) fn load(
        source: &EventsSource,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64, Vec<i64>)> {
        let mut requests = vec![
            ColumnRequest::new(&source.customer_id, "events.customer_id", ColumnKind::Id),
            ColumnRequest::new(&source.timestamp, "events.timestamp", ColumnKind::Time),
            ColumnRequest::new(&source.event_type, "events.event_type", ColumnKind::Text),
        ];
        if let Some(value) = &source.value {
            requests.push(ColumnRequest::new(value, "events.value", ColumnKind::Number));
        }
        let rows = count_rows(&source.path, &requests)?;
        progress.start("events", rows);
        let mut table = Events {
            value: source.value.as_ref().map(|_| Vec::new()),
            ..Events::default()
        };
        let mut nanos = Vec::new();
        let mut type_index: FxHashMap<String, u16> = FxHashMap::default();
        // Types whose names differ only in case or punctuation (`login`, `Login`, `login `) would give
        // columns of the same name: they are one type, named by its smallest spelling (so every part of
        // a sharded build names it alike). Their rows are one type's rows, also to the check for exact
        // duplicates.
        let mut by_column_name: FxHashMap<String, u16> = FxHashMap::default();
        let advance = |n| progress.advance(n);
        let read = read_prepared(
            &source.path,
            &requests,
            &advance,
            |batch, _| Batch::prepare(source, batch),
            |path, batch, prepared, first_row| {
                let column = |name: &str| batch.column_by_name(name).expect("projected column");
                let customer_ids = IdColumn::new(column(&source.customer_id));
                let row_days = DayColumn::new(column(&source.timestamp));
                let types = TextColumn::new(column(&source.event_type));
                // The rejected rows and the first row of each of the batch's types and customers, in row
                // order, as if the rows were read one by one.
                let (mut customers, mut kinds) = (Vec::new(), Vec::new());
                for &step in &prepared.steps {
                    let (i, row) = (step.row() as usize, first_row + u64::from(step.row()));
                    match step {
                        Step::Customer(_) => {
                            let key = customer_ids.get(i).expect("an accepted row has an id");
                            let customer = ids
                                .intern(key)
                                .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                            customers.push(customer);
                        }
                        Step::Type(_) => {
                            let name = types
                                .as_ref()
                                .and_then(|t| t.get(i))
                                .expect("an accepted row has a type");
                            let kind = match type_index.get(name) {
                                Some(&kind) => kind,
                                None => {
                                    let column_name = column_safe(name);
                                    let kind = match by_column_name.get(&column_name) {
                                        Some(&kind) => {
                                            let kept = &mut table.type_names[usize::from(kind)];
                                            tracing::warn!(
                                                "{}: event types `{kept}` and `{name}` are counted as one type \
                                                 (`{}`): their feature columns would have the same names",
                                                path.display(),
                                                column_name
                                            );
                                            // The smallest spelling names the type, whatever the order of
                                            // the rows.
                                            if name < kept.as_str() {
                                                *kept = name.to_string();
                                            }
                                            kind
                                        }
                                        None => {
                                            let kind = u16::try_from(table.type_names.len()).map_err(|_| {
                                                crate::FeatureError::Request(format!(
                                                    "{}: column `{}` has more than 65,536 distinct event types",
                                                    path.display(),
                                                    source.event_type
                                                ))
                                            })?;
                                            by_column_name.insert(column_name, kind);
                                            table.type_names.push(name.to_string());
                                            kind
                                        }
                                    };
                                    type_index.insert(name.to_string(), kind);
                                    kind
                                }
                            };
                            kinds.push(kind);
                        }
                        Step::Reject(_, Problem::Unstamped(why)) => rejects.reject_unstamped(
                            "events",
                            path,
                            [&source.customer_id, &source.timestamp],
                            row,
                            why,
                            row_days.text(i),
                        )?,
                        Step::Reject(_, Problem::NullType) => {
                            rejects.reject("events", path, &source.event_type, row, "null event type")?
                        }
                        Step::Reject(_, Problem::Value(reason)) => {
                            let column = source.value.as_deref().unwrap_or_default();
                            rejects.reject("events", path, column, row, reason)?
                        }
                    }
                }
                prepared
                    .rows
                    .append_to(&customers, &mut table.customer, &mut table.day, &mut nanos);
                table
                    .event_type
                    .extend(prepared.kind.iter().map(|&k| kinds[k as usize]));
                if let (Some(values), Some(out)) = (&prepared.value, &mut table.value) {
                    out.extend_from_slice(values);
                }
                Ok(())
            },
        )?;
        Ok((table, read, nanos))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    /// Keeps the rows whose entry in `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) {
        retain(&mut self.customer, keep);
        retain(&mut self.day, keep);
        retain(&mut self.event_type, keep);
        if let Some(value) = &mut self.value {
            retain(value, keep);
        }
    }

    /// The rows equal to an earlier row in customer, timestamp (day and `nanos`, the time of day), event
    /// type and value.
    pub(crate) fn later_copies(&self, nanos: &[i64]) -> Vec<usize> {
        later_copies(self.len(), |i| {
            [
                day_and_customer(self.day[i], self.customer[i]),
                nanos[i] as u64,
                u64::from(self.event_type[i]),
                self.value.as_ref().map_or(0, |value| value[i].to_bits()),
            ]
        })
    }
}

/// What the in-order visit of a batch of events does at one of its rows.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The row is the first of an event type of the batch: find or add the type.
    Type(u32),
    /// The row is the first of a customer of the batch: intern the customer.
    Customer(u32),
    /// The row is rejected.
    Reject(u32, Problem),
}

impl Step {
    fn row(self) -> u32 {
        match self {
            Self::Type(row) | Self::Customer(row) | Self::Reject(row, _) => row,
        }
    }
}

/// Why a row of events is rejected.
#[derive(Debug, Clone, Copy)]
enum Problem {
    Unstamped(Unstamped),
    NullType,
    Value(&'static str),
}

/// A batch's accepted events, read where the batch is decoded, in parallel with other batches: their
/// customers and types numbered within the batch in the order of their first row.
struct Batch {
    /// The rows the in-order visit acts on, in row order (rows counted within the batch).
    steps: Vec<Step>,
    rows: StampedRows,
    kind: Vec<u32>,
    value: Option<Vec<f64>>,
}

impl Batch {
    fn prepare(source: &EventsSource, batch: &arrow_array::RecordBatch) -> Self {
        let column = |name: &str| batch.column_by_name(name).expect("projected column");
        let customer_ids = IdColumn::new(column(&source.customer_id));
        let row_days = DayColumn::new(column(&source.timestamp));
        let types = TextColumn::new(column(&source.event_type));
        let values = source.value.as_ref().map(|name| NumberColumn::new(column(name)));
        let rows = batch.num_rows();
        let mut out = Batch {
            steps: Vec::new(),
            rows: StampedRows::with_capacity(rows),
            kind: Vec::with_capacity(rows),
            value: values.as_ref().map(|_| Vec::with_capacity(rows)),
        };
        let mut customers = BatchIds::default();
        let mut kinds = BatchIds::default();
        for i in 0..rows {
            let row = i as u32;
            let (key, moment) = match stamp(&customer_ids, &row_days, i) {
                Ok(stamped) => stamped,
                Err(why) => {
                    out.steps.push(Step::Reject(row, Problem::Unstamped(why)));
                    continue;
                }
            };
            let Some(name) = types.as_ref().and_then(|t| t.get(i)) else {
                out.steps.push(Step::Reject(row, Problem::NullType));
                continue;
            };
            let value = match values.as_ref().map(|v| v.get(i)) {
                None | Some(None) => f64::NAN,
                Some(Some(value)) => match finite(value) {
                    Ok(value) => value,
                    Err(reason) => {
                        out.steps.push(Step::Reject(row, Problem::Value(reason)));
                        continue;
                    }
                },
            };
            let (kind, first) = kinds.number(name);
            if first {
                out.steps.push(Step::Type(row));
            }
            if out.rows.push(&mut customers, key, moment) {
                out.steps.push(Step::Customer(row));
            }
            out.kind.push(kind);
            if let Some(out) = &mut out.value {
                out.push(value);
            }
        }
        out
    }
}
