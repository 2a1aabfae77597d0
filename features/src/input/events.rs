//! Events: logins, support tickets, page views, ... one row each, with an optional numeric value. Event
//! types whose names differ only in case or punctuation are one type (their columns would share names).

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn, TextColumn};
use super::duplicates::later_copies;
use super::ids::{CustomerIndex, CustomerInterner};
use super::source::{ColumnRequest, count_rows, read_prepared};
use super::window::retain;
use super::{ReadProgress, Rejects, finite, id_type_mismatch};
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
        // Each row's moment is found where the batches are decoded, in parallel.
        let prepare = |batch: &arrow_array::RecordBatch, _| {
            let times = batch.column_by_name(&source.timestamp).expect("projected column");
            DayColumn::new(times).moments(batch.num_rows())
        };
        let read = read_prepared(
            &source.path,
            &requests,
            &advance,
            prepare,
            |path, batch, moments, first_row| {
                let column = |name: &str| batch.column_by_name(name).expect("projected column");
                let customer_ids = IdColumn::new(column(&source.customer_id));
                let row_days = DayColumn::new(column(&source.timestamp));
                let types = TextColumn::new(column(&source.event_type));
                let values = source.value.as_ref().map(|name| NumberColumn::new(column(name)));
                for (i, moment) in moments.into_iter().enumerate() {
                    let row = first_row + i as u64;
                    let Some(key) = customer_ids.get(i) else {
                        rejects.reject("events", path, &source.customer_id, row, "null customer id")?;
                        continue;
                    };
                    let moment = match moment {
                        Ok(moment) => moment,
                        Err(reason) => {
                            rejects.reject_text(
                                "events",
                                path,
                                &source.timestamp,
                                row,
                                reason,
                                row_days.text(i),
                            )?;
                            continue;
                        }
                    };
                    let Some(name) = types.as_ref().and_then(|t| t.get(i)) else {
                        rejects.reject("events", path, &source.event_type, row, "null event type")?;
                        continue;
                    };
                    let value = match values.as_ref().map(|v| v.get(i)) {
                        None | Some(None) => f64::NAN,
                        Some(Some(value)) => match finite(value) {
                            Ok(value) => value,
                            Err(reason) => {
                                let column = source.value.as_deref().unwrap_or_default();
                                rejects.reject("events", path, column, row, reason)?;
                                continue;
                            }
                        },
                    };
                    let kind = match type_index.get(name) {
                        Some(&kind) => kind,
                        None => {
                            let column_name = column_safe(name);
                            let kind = match by_column_name.get(&column_name) {
                                Some(&kind) => {
                                    let kept = &mut table.type_names[usize::from(kind)];
                                    tracing::warn!(
                                        "{}: event types `{kept}` and `{name}` are counted as one type (`{}`): their \
                                     feature columns would have the same names",
                                        path.display(),
                                        column_name
                                    );
                                    // The smallest spelling names the type, whatever the order of the rows.
                                    if name < kept.as_str() {
                                        *kept = name.to_string();
                                    }
                                    kind
                                }
                                None => {
                                    let kind = u16::try_from(table.type_names.len()).map_err(|_| {
                                        crate::FeatureError::Request(format!(
                                            "{}: column `{}` has more than 65,535 distinct event types",
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
                    let customer = ids
                        .intern(key)
                        .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                    table.customer.push(customer);
                    table.day.push(moment.day);
                    nanos.push(moment.nanos);
                    table.event_type.push(kind);
                    if let Some(out) = &mut table.value {
                        out.push(value);
                    }
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
            (
                self.customer[i],
                self.day[i],
                nanos[i],
                self.event_type[i],
                self.value.as_ref().map(|value| value[i].to_bits()),
            )
        })
    }
}
