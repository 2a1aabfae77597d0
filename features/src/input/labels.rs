//! Given labels: one 0/1 label per customer (a snapshot table's churn flag).

use super::columns::{ColumnKind, IdColumn, labels};
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
}

impl Labels {
    /// Reads the configured labels; returns them with the number of rows read.
    pub(crate) fn load(
        source: &LabelsSource,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64)> {
        let requests = [
            ColumnRequest::new(&source.customer_id, "labels.customer_id", ColumnKind::Id),
            ColumnRequest::new(&source.label, "labels.label", ColumnKind::Label),
        ];
        let rows = count_rows(&source.path, &requests)?;
        progress.start("labels", rows);
        let mut table = Labels::default();
        let mut first_row_of: FxHashMap<CustomerIndex, u64> = FxHashMap::default();
        let mut repeats = Repeats::new("labels", &source.customer_id);
        let advance = |n| progress.advance(n);
        let read = read_batches(&source.path, &requests, &advance, |path, batch, first_row| {
            let column = |name: &str| batch.column_by_name(name).expect("projected column");
            let customer_ids = IdColumn::new(column(&source.customer_id));
            let values = labels(column(&source.label));
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
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                if let Some(&first) = first_row_of.get(&customer) {
                    let copy = table.by_customer.get(&customer) == Some(&label);
                    repeats.note(rejects, path, customer, &key.to_string(), first, row, copy)?;
                    continue;
                }
                first_row_of.insert(customer, row);
                table.by_customer.insert(customer, label);
            }
            Ok(())
        })?;
        repeats.finish(rejects, &*schema_of(&source.path)?)?;
        Ok((table, read))
    }
}
