//! The table being assembled, column by column, in the engine's compact form (numbers with NaN for
//! null, segment names as static strings, categories as references to the customer table), and its two
//! ends: a [`FeatureTable`] or a Parquet file written straight from these columns.

use super::AsOfSummary;
use super::layout::{FeatureSpec, Layout};
use crate::error::Result;
use crate::input::ids::CustomerInterner;
use crate::input::{Attribute, AttributeValues};
use crate::table::{
    ColumnRole, ColumnValues, CustomerIds, DURATION_COLUMN, EVENT_COLUMN, FeatureColumn, FeatureTable,
    write_table,
};
use crate::time::{Day, date_from_days};
use arrow_array::{ArrayRef, Float64Array, StringArray};
use arrow_buffer::NullBuffer;
use chrono::NaiveDate;
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

/// Rows appended as-of date by as-of date.
pub(super) struct Output {
    pub(super) customers: Vec<u32>,
    as_of: Vec<Option<NaiveDate>>,
    labels: Vec<Option<i8>>,
    numeric: Vec<Vec<f64>>,
    descriptors: Vec<Vec<Option<&'static str>>>,
    attribute_rows: Vec<Option<u32>>,
    /// The current plan of each row (index into the plan names), when the plan column is written.
    plans: Vec<Option<u32>>,
    /// Each row's duration in days and churn event (NaN when unknown), when the build writes them.
    outcomes: Option<(Vec<f64>, Vec<f64>)>,
}

/// Finished output: everything needed to make the table or write it.
pub(super) struct Finished {
    ids: CustomerIds,
    specs: Vec<FeatureSpec>,
    output: Output,
    categorical: Vec<Vec<Option<String>>>,
    /// Plan names, when the `subscription_plan` column is written (the first categorical column).
    plan_names: Option<Vec<String>>,
}

impl Output {
    pub(super) fn new(layout: &Layout, outcomes: bool) -> Self {
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

    pub(super) fn rows(&self) -> usize {
        self.labels.len()
    }

    pub(super) fn push(
        &mut self,
        population: &[u32],
        as_of: Option<Day>,
        labels: Vec<Option<i8>>,
        numeric: Vec<Vec<f64>>,
        descriptors: Vec<Vec<Option<&'static str>>>,
        attribute_rows: impl Iterator<Item = Option<u32>>,
    ) {
        self.customers.extend_from_slice(population);
        self.as_of
            .extend(std::iter::repeat_n(as_of.map(date_from_days), population.len()));
        self.labels.extend(labels);
        self.numeric
            .par_iter_mut()
            .zip(numeric)
            .for_each(|(out, values)| {
                if out.is_empty() {
                    *out = values;
                } else {
                    out.extend_from_slice(&values);
                }
            });
        for (out, values) in self.descriptors.iter_mut().zip(descriptors) {
            out.extend_from_slice(&values);
        }
        self.attribute_rows.extend(attribute_rows);
    }

    /// Appends the duration and churn event of each row just pushed (when the build writes them).
    pub(super) fn push_outcomes(&mut self, outcomes: Vec<Option<(f64, f64)>>) {
        if let Some((durations, events)) = &mut self.outcomes {
            for outcome in outcomes {
                let (duration, event) = outcome.unwrap_or((f64::NAN, f64::NAN));
                durations.push(duration);
                events.push(event);
            }
        }
    }

    /// Appends the current plan of each row just pushed (when the plan column is written).
    pub(super) fn push_plans(&mut self, plans: Vec<Option<u32>>) {
        self.plans.extend(plans);
    }

    pub(super) fn summary_since(&self, start: usize, as_of: Option<NaiveDate>) -> AsOfSummary {
        let labels = &self.labels[start..];
        let labelled = labels.iter().flatten().count();
        let positives = labels.iter().flatten().filter(|&&l| l == 1).count();
        AsOfSummary {
            as_of,
            rows: labels.len(),
            labelled,
            positives,
            label_rate: (labelled > 0).then(|| positives as f64 / labelled as f64),
            value: None,
        }
    }

    /// Resolves customer ids and keeps the categorical attribute columns and, with `plan_names`, the
    /// `subscription_plan` column.
    pub(super) fn finish(
        self,
        ids: &CustomerInterner,
        layout: Layout,
        attributes: Vec<Attribute>,
        plan_names: Option<Vec<String>>,
    ) -> Finished {
        let categorical = attributes
            .into_iter()
            .filter_map(|a| match a.values {
                AttributeValues::Categorical(values) => Some(values),
                AttributeValues::Numeric(_) => None,
            })
            .collect();
        Finished {
            ids: ids.ids_of(&self.customers),
            specs: layout.specs,
            output: self,
            categorical,
            plan_names,
        }
    }
}

impl Finished {
    /// The category of categorical column `k` (the plan, then the attributes) in output row `row`.
    fn category(&self, k: usize, row: usize) -> Option<&str> {
        let k = match &self.plan_names {
            Some(names) if k == 0 => return self.output.plans[row].map(|plan| names[plan as usize].as_str()),
            Some(_) => k - 1,
            None => k,
        };
        let attribute_row = self.output.attribute_rows[row]?;
        self.categorical[k][attribute_row as usize].as_deref()
    }

    /// The outcome columns (name, meaning, values) when the build writes them.
    fn outcome_columns(&self) -> Vec<(&'static str, &'static str, &[f64])> {
        self.output.outcomes.iter().flat_map(|(durations, events)| {
            [
                (
                    DURATION_COLUMN,
                    "days from the as-of date to churn, or to the end of what is known (censored: see churn_event)",
                    durations.as_slice(),
                ),
                (EVENT_COLUMN, "1 when churn_duration_days ends in churn, 0 when it is censored", events.as_slice()),
            ]
        })
        .collect()
    }

    /// Columns in spec order: numeric index, categorical index or descriptor index by role.
    fn slots(&self) -> impl Iterator<Item = (&FeatureSpec, usize)> {
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

    pub(super) fn into_table(self) -> FeatureTable {
        let rows = self.output.rows();
        let outcomes: Vec<FeatureColumn> = self
            .outcome_columns()
            .into_iter()
            .map(|(name, meaning, values)| FeatureColumn {
                name: name.into(),
                role: ColumnRole::Outcome,
                description: Some(meaning.into()),
                values: ColumnValues::Numeric(values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect()),
            })
            .collect();
        let mut columns: Vec<FeatureColumn> = self
            .slots()
            .map(|(spec, k)| FeatureColumn {
                name: spec.name.clone(),
                role: spec.role,
                description: Some(spec.meaning.clone()),
                values: match spec.role {
                    ColumnRole::Numeric | ColumnRole::Outcome => ColumnValues::Numeric(
                        self.output.numeric[k]
                            .iter()
                            .map(|&v| (!v.is_nan()).then_some(v))
                            .collect(),
                    ),
                    ColumnRole::Categorical => ColumnValues::Categorical(
                        (0..rows)
                            .map(|row| self.category(k, row).map(str::to_string))
                            .collect(),
                    ),
                    ColumnRole::Descriptor => ColumnValues::Categorical(
                        self.output.descriptors[k]
                            .iter()
                            .map(|s| s.map(str::to_string))
                            .collect(),
                    ),
                },
            })
            .collect();
        columns.extend(outcomes);
        FeatureTable {
            customer_ids: self.ids,
            as_of: self.output.as_of,
            labels: self.output.labels,
            columns,
        }
    }

    /// Writes the table under a temporary name; the caller commits it (with its summary).
    pub(super) fn stage_parquet(&self, path: &Path) -> Result<crate::output::Staged> {
        let outcomes = self.outcome_columns();
        let headers = self
            .slots()
            .map(|(spec, _)| crate::table::ColumnHeader {
                name: &spec.name,
                role: spec.role,
                description: Some(&spec.meaning),
            })
            .chain(
                outcomes
                    .iter()
                    .map(|&(name, meaning, _)| crate::table::ColumnHeader {
                        name,
                        role: ColumnRole::Outcome,
                        description: Some(meaning),
                    }),
            );
        write_table(
            path,
            &self.ids,
            &self.output.as_of,
            &self.output.labels,
            headers,
            |start, end| {
                self.slots()
                    .map(|(spec, k)| -> ArrayRef {
                        match spec.role {
                            ColumnRole::Numeric | ColumnRole::Outcome => {
                                let values = &self.output.numeric[k][start..end];
                                let nulls = NullBuffer::from_iter(values.iter().map(|v| !v.is_nan()));
                                let nulls = (nulls.null_count() > 0).then_some(nulls);
                                Arc::new(Float64Array::new(values.to_vec().into(), nulls))
                            }
                            ColumnRole::Categorical => Arc::new(
                                (start..end)
                                    .map(|row| self.category(k, row))
                                    .collect::<StringArray>(),
                            ),
                            ColumnRole::Descriptor => Arc::new(
                                self.output.descriptors[k][start..end]
                                    .iter()
                                    .copied()
                                    .collect::<StringArray>(),
                            ),
                        }
                    })
                    .chain(outcomes.iter().map(|&(_, _, values)| -> ArrayRef {
                        let values = &values[start..end];
                        let nulls = NullBuffer::from_iter(values.iter().map(|v| !v.is_nan()));
                        let nulls = (nulls.null_count() > 0).then_some(nulls);
                        Arc::new(Float64Array::new(values.to_vec().into(), nulls))
                    }))
                    .collect()
            },
        )
    }
}
