//! Finished rows in the engine's compact form (numbers with NaN for null, segment names as static strings,
//! categories as references to the customer table), and their two ends: a [`FeatureTable`], or Parquet
//! row groups written block by block as the build finishes them.

use super::layout::{FeatureSpec, Layout};
use super::shard::Shard;
use crate::error::Result;
use crate::input::AttributeValues;
use crate::table::{
    ColumnHeader, ColumnRole, ColumnValues, DURATION_COLUMN, EVENT_COLUMN, FeatureColumn, FeatureTable,
    TableWriter,
};
use crate::time::{Day, date_from_days};
use arrow_array::{ArrayRef, Date32Array, Float64Array, Int8Array, StringArray};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use rayon::prelude::*;
use std::sync::Arc;

/// The meaning of [`DURATION_COLUMN`] and [`EVENT_COLUMN`].
const OUTCOME_MEANINGS: [(&str, &str); 2] = [
    (
        DURATION_COLUMN,
        "days from the as-of date to churn, or to the end of what is known (censored: see churn_event)",
    ),
    (
        EVENT_COLUMN,
        "1 when churn_duration_days ends in churn, 0 when it is censored",
    ),
];

/// The feature columns' names, roles and meanings for `specs`, with the outcome columns last when
/// `outcomes`.
pub(super) fn headers(specs: &[FeatureSpec], outcomes: bool) -> Vec<ColumnHeader<'_>> {
    let outcome_headers = OUTCOME_MEANINGS.iter().filter(|_| outcomes);
    specs
        .iter()
        .map(|spec| ColumnHeader {
            name: &spec.name,
            role: spec.role,
            description: Some(&spec.meaning),
        })
        .chain(outcome_headers.map(|&(name, meaning)| ColumnHeader {
            name,
            role: ColumnRole::Outcome,
            description: Some(meaning),
        }))
        .collect()
}

/// Finished rows: a block of one as-of date, or blocks appended together.
pub(super) struct Output {
    customers: Vec<u32>,
    as_of: Vec<Option<Day>>,
    labels: Vec<Option<i8>>,
    numeric: Vec<Vec<f64>>,
    descriptors: Vec<Vec<Option<&'static str>>>,
    attribute_rows: Vec<Option<u32>>,
    /// The current plan of each row (index into the plan names), when the plan column is written.
    plans: Vec<Option<u32>>,
    /// Each row's duration in days and churn event (NaN when unknown), when the build writes them.
    outcomes: Option<(Vec<f64>, Vec<f64>)>,
}

impl Output {
    /// The rows of `customers` at `as_of`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        customers: Vec<u32>,
        as_of: Option<Day>,
        labels: Vec<Option<i8>>,
        numeric: Vec<Vec<f64>>,
        descriptors: Vec<Vec<Option<&'static str>>>,
        attribute_rows: Vec<Option<u32>>,
        plans: Vec<Option<u32>>,
        outcomes: Option<Vec<Option<(f64, f64)>>>,
    ) -> Self {
        let outcomes = outcomes.map(|outcomes| {
            outcomes
                .into_iter()
                .map(|o| o.unwrap_or((f64::NAN, f64::NAN)))
                .unzip()
        });
        Self {
            as_of: vec![as_of; customers.len()],
            customers,
            labels,
            numeric,
            descriptors,
            attribute_rows,
            plans,
            outcomes,
        }
    }

    /// No rows, in the columns of `layout`.
    pub(super) fn empty(layout: &Layout, outcomes: bool) -> Self {
        let descriptors = layout
            .specs
            .iter()
            .filter(|s| s.role == ColumnRole::Descriptor)
            .count();
        Self {
            customers: Vec::new(),
            as_of: Vec::new(),
            labels: Vec::new(),
            numeric: vec![Vec::new(); layout.numeric_len],
            descriptors: vec![Vec::new(); descriptors],
            attribute_rows: Vec::new(),
            plans: Vec::new(),
            outcomes: outcomes.then(|| (Vec::new(), Vec::new())),
        }
    }

    /// Rows.
    pub(super) fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The label of each row.
    pub(super) fn labels(&self) -> &[Option<i8>] {
        &self.labels
    }

    /// Appends `other`'s rows.
    pub(super) fn append(&mut self, other: Output) {
        if self.labels.is_empty() {
            *self = other;
            return;
        }
        self.customers.extend(other.customers);
        self.as_of.extend(other.as_of);
        self.labels.extend(other.labels);
        self.numeric
            .par_iter_mut()
            .zip(other.numeric)
            .for_each(|(out, values)| out.extend(values));
        for (out, values) in self.descriptors.iter_mut().zip(other.descriptors) {
            out.extend(values);
        }
        self.attribute_rows.extend(other.attribute_rows);
        self.plans.extend(other.plans);
        if let (Some((durations, events)), Some((more_durations, more_events))) =
            (&mut self.outcomes, other.outcomes)
        {
            durations.extend(more_durations);
            events.extend(more_events);
        }
    }
}

/// How finished rows become columns: the specs of the columns and what the rows refer to (customer ids,
/// categories, plan names).
pub(super) struct Columns<'a> {
    shard: &'a Shard<'a>,
    specs: &'a [FeatureSpec],
    categorical: Vec<&'a [Option<String>]>,
}

impl<'a> Columns<'a> {
    /// The columns of `shard`'s rows.
    pub(super) fn new(shard: &'a Shard<'a>, specs: &'a [FeatureSpec]) -> Self {
        let categorical = shard
            .customer_table()
            .iter()
            .flat_map(|t| &t.attributes)
            .filter_map(|a| match &a.values {
                AttributeValues::Categorical(values) => Some(values.as_slice()),
                AttributeValues::Numeric(_) => None,
            })
            .collect();
        Self {
            shard,
            specs,
            categorical,
        }
    }

    /// The category of categorical column `k` (the plan, then the attributes) in row `row` of `output`.
    fn category(&self, output: &Output, k: usize, row: usize) -> Option<&'a str> {
        let k = match self.shard.plan_names() {
            Some(names) if k == 0 => return output.plans[row].map(|plan| names[plan as usize].as_str()),
            Some(_) => k - 1,
            None => k,
        };
        let attribute_row = output.attribute_rows[row]?;
        self.categorical[k][attribute_row as usize].as_deref()
    }

    /// Columns in spec order: numeric index, categorical index or descriptor index by role.
    fn slots(&self) -> impl Iterator<Item = (&'a FeatureSpec, usize)> + use<'a> {
        let (mut numeric, mut categorical, mut descriptor) = (0, 0, 0);
        self.specs.iter().map(move |spec| {
            let counter = match spec.role {
                ColumnRole::Numeric | ColumnRole::Outcome => &mut numeric,
                ColumnRole::Categorical => &mut categorical,
                ColumnRole::Descriptor => &mut descriptor,
            };
            *counter += 1;
            (spec, *counter - 1)
        })
    }

    /// Writes `output`'s rows with `writer`: one row group (or several, for many rows).
    pub(super) fn write(&self, writer: &mut TableWriter<'_>, mut output: Output) -> Result<()> {
        let ids = self.shard.ids().id_array(&output.customers);
        let as_of: Date32Array = output.as_of.iter().copied().collect();
        let labels: Int8Array = output.labels.iter().copied().collect();
        // The numbers move into their arrays as they are, without a copy.
        let mut numeric = std::mem::take(&mut output.numeric);
        let outcomes = output.outcomes.take().into_iter().flat_map(|(d, e)| [d, e]);
        let features: Vec<ArrayRef> = self
            .slots()
            .map(|(spec, k)| -> ArrayRef {
                match spec.role {
                    ColumnRole::Numeric | ColumnRole::Outcome => float_array(std::mem::take(&mut numeric[k])),
                    ColumnRole::Categorical => Arc::new(
                        (0..output.rows())
                            .map(|row| self.category(&output, k, row))
                            .collect::<StringArray>(),
                    ),
                    ColumnRole::Descriptor => {
                        Arc::new(output.descriptors[k].iter().copied().collect::<StringArray>())
                    }
                }
            })
            .chain(outcomes.map(float_array))
            .collect();
        writer.write(ids, Arc::new(as_of), Arc::new(labels), features)
    }

    /// The feature table of `output`'s rows.
    pub(super) fn into_table(self, output: Output) -> FeatureTable {
        let numeric = |values: &[f64]| -> ColumnValues {
            ColumnValues::Numeric(values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect())
        };
        let mut columns: Vec<FeatureColumn> = self
            .slots()
            .map(|(spec, k)| FeatureColumn {
                name: spec.name.clone(),
                role: spec.role,
                description: Some(spec.meaning.clone()),
                values: match spec.role {
                    ColumnRole::Numeric | ColumnRole::Outcome => numeric(&output.numeric[k]),
                    ColumnRole::Categorical => ColumnValues::Categorical(
                        (0..output.rows())
                            .map(|row| self.category(&output, k, row).map(str::to_string))
                            .collect(),
                    ),
                    ColumnRole::Descriptor => ColumnValues::Categorical(
                        output.descriptors[k]
                            .iter()
                            .map(|s| s.map(str::to_string))
                            .collect(),
                    ),
                },
            })
            .collect();
        if let Some((durations, events)) = &output.outcomes {
            for ((name, meaning), values) in OUTCOME_MEANINGS.into_iter().zip([durations, events]) {
                columns.push(FeatureColumn {
                    name: name.into(),
                    role: ColumnRole::Outcome,
                    description: Some(meaning.into()),
                    values: numeric(values),
                });
            }
        }
        FeatureTable {
            customer_ids: self.shard.ids().ids_of(&output.customers),
            as_of: output.as_of.iter().map(|d| d.map(date_from_days)).collect(),
            labels: output.labels,
            columns,
        }
    }
}

/// A Float64 array of `values`, NaN as null.
fn float_array(values: Vec<f64>) -> ArrayRef {
    // Packed 64 rows at a time (collecting an iterator of booleans goes bit by bit).
    let nulls = NullBuffer::new(BooleanBuffer::collect_bool(values.len(), |i| !values[i].is_nan()));
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Arc::new(Float64Array::new(values.into(), nulls))
}
