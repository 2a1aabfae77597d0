//! Given labels: one 0/1 label per customer (a snapshot table's churn flag), and optionally how long
//! each customer was observed (`[labels] duration`, for survival models).

use super::columns::{ColumnKind, IdColumn, NumberColumn, labels};
use super::ids::{CustomerIndex, CustomerInterner};
use super::one_row_per_customer::Repeats;
use super::source::{ColumnRequest, count_rows, read_batches, schema_of};
use super::{ReadProgress, Rejects, id_type_mismatch};
use crate::config::LabelsSource;
use crate::error::Result;
use rustc_hash::FxHashMap;

/// Given labels by customer.
#[derive(Debug, Default, Clone)]
pub struct Labels {
    /// Label of each labelled customer (`None`: present but unknown).
    pub by_customer: FxHashMap<CustomerIndex, Option<i8>>,
    /// With `[labels] duration`: each labelled customer's duration in days (the label says whether it
    /// ends in churn).
    pub durations: Option<FxHashMap<CustomerIndex, f64>>,
}

impl Labels {
    /// Reads the configured labels; returns them with the number of rows read.
    pub(crate) fn load(
        source: &LabelsSource,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64)> {
        let mut requests = vec![
            ColumnRequest::new(&source.customer_id, "labels.customer_id", ColumnKind::Id),
            ColumnRequest::new(&source.label, "labels.label", ColumnKind::Label),
        ];
        if let Some(duration) = &source.duration {
            requests.push(ColumnRequest::new(
                duration,
                "labels.duration",
                ColumnKind::Number,
            ));
        }
        let unit_days = source.duration_unit.map_or(1.0, |unit| unit.days());
        let rows = count_rows(&source.path, &requests)?;
        progress.start("labels", rows);
        let mut table = Labels {
            durations: source.duration.as_ref().map(|_| FxHashMap::default()),
            ..Labels::default()
        };
        let mut first_row_of: FxHashMap<CustomerIndex, u64> = FxHashMap::default();
        let mut repeats = Repeats::new("labels", &source.customer_id);
        let advance = |n| progress.advance(n);
        let read = read_batches(&source.path, &requests, &advance, |path, batch, first_row| {
            let column = |name: &str| batch.column_by_name(name).expect("projected column");
            let customer_ids = IdColumn::new(column(&source.customer_id));
            let values = labels(column(&source.label));
            let durations = source
                .duration
                .as_deref()
                .map(|name| (name, NumberColumn::new(column(name))));
            for (i, value) in values.into_iter().enumerate() {
                let row = first_row + i as u64;
                let Some(key) = customer_ids.get(i) else {
                    rejects.reject("labels", path, &source.customer_id, row, "null customer id")?;
                    continue;
                };
                let label = match value {
                    Ok(label) => label,
                    Err(reason) => {
                        rejects.reject("labels", path, &source.label, row, &reason)?;
                        continue;
                    }
                };
                let duration = match &durations {
                    None => None,
                    Some((name, values)) => match duration_days(values.get(i), unit_days) {
                        Ok(days) => Some(days),
                        Err(reason) => {
                            rejects.reject("labels", path, name, row, &reason)?;
                            continue;
                        }
                    },
                };
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                if let Some(&first) = first_row_of.get(&customer) {
                    let same_duration = match (&table.durations, duration) {
                        (Some(known), Some(days)) => known.get(&customer) == Some(&days),
                        _ => true,
                    };
                    let copy = table.by_customer.get(&customer) == Some(&label) && same_duration;
                    repeats.note(rejects, path, customer, &key.to_string(), first, row, copy)?;
                    continue;
                }
                first_row_of.insert(customer, row);
                table.by_customer.insert(customer, label);
                if let (Some(known), Some(days)) = (&mut table.durations, duration) {
                    known.insert(customer, days);
                }
            }
            Ok(())
        })?;
        repeats.finish(rejects, &*schema_of(&source.path)?)?;
        Ok((table, read))
    }
}

/// A given duration in days, from its value in units of `unit_days` days: null, negative and non-finite
/// durations are invalid (a survival model needs every labelled customer's time).
fn duration_days(value: Option<f64>, unit_days: f64) -> std::result::Result<f64, String> {
    match value {
        None => Err("null duration".into()),
        Some(v) if !v.is_finite() => Err(format!("duration {v} is not a finite number")),
        Some(v) if v < 0.0 => Err(format!("negative duration {v}")),
        Some(v) => Ok(v * unit_days),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_days;

    #[test]
    fn durations_are_converted_to_days_and_bad_ones_refused() {
        assert_eq!(duration_days(Some(2.0), 365.25 / 12.0), Ok(60.875));
        assert_eq!(duration_days(Some(0.0), 7.0), Ok(0.0));
        assert_eq!(duration_days(None, 1.0), Err("null duration".into()));
        assert_eq!(duration_days(Some(-1.0), 1.0), Err("negative duration -1".into()));
        assert!(duration_days(Some(f64::NAN), 1.0).is_err());
    }
}
