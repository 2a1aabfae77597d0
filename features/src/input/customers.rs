//! Customers: one row per customer with static attributes and optional signup and churn dates.

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn, TextColumn};
use super::ids::{CustomerIndex, CustomerInterner};
use super::source::{ColumnRequest, count_rows, read_batches, schema_of};
use super::window::retain;
use super::{ReadProgress, Rejects, id_type_mismatch};
use crate::config::CustomersSource;
use crate::error::{FeatureError, Result};
use crate::time::Day;
use rustc_hash::FxHashMap;
use std::path::Path;

/// Customer rows as parallel columns.
#[derive(Debug, Default, Clone)]
pub struct Customers {
    /// Customer of each row (each customer at most once).
    pub customer: Vec<CustomerIndex>,
    /// Signup day of each row, when configured.
    pub signup: Option<Vec<Option<Day>>>,
    /// Churn day of each row, when configured (`None`: not churned).
    pub churn: Option<Vec<Option<Day>>>,
    /// Static attributes.
    pub attributes: Vec<Attribute>,
    /// Row of each customer in its file (counting from 0), for messages.
    pub file_row: Vec<u64>,
}

/// One static attribute column.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Column name, used as the feature name.
    pub name: String,
    /// Values by customer row.
    pub values: AttributeValues,
}

/// Values of an attribute; numbers pass through, strings become categories.
#[derive(Debug, Clone)]
pub enum AttributeValues {
    /// Numbers (booleans as 0/1; NaN read as missing).
    Numeric(Vec<Option<f64>>),
    /// Categories.
    Categorical(Vec<Option<String>>),
}

impl Customers {
    /// Reads the configured customers; `label_column` names the labels file and column, which is never an
    /// attribute. Returns the table with the number of rows read.
    pub(crate) fn load(
        source: &CustomersSource,
        label_column: Option<(&Path, &str)>,
        ids: &mut CustomerInterner,
        rejects: &mut Rejects,
        progress: &dyn ReadProgress,
    ) -> Result<(Self, u64)> {
        let mut requests = vec![ColumnRequest::new(
            &source.customer_id,
            "customers.customer_id",
            ColumnKind::Id,
        )];
        for (name, role) in [
            (&source.signup_date, "customers.signup_date"),
            (&source.churn_date, "customers.churn_date"),
        ] {
            if let Some(name) = name {
                requests.push(ColumnRequest::new(name, role, ColumnKind::Time));
            }
        }
        let schema = schema_of(&source.path)?;
        let reserved: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
        let same_file_label = label_column
            .filter(|(path, _)| *path == source.path)
            .map(|(_, column)| column);
        let attribute_names: Vec<String> = match &source.attributes {
            Some(names) => names.clone(),
            None => schema
                .fields()
                .iter()
                .filter(|f| {
                    let name = f.name().as_str();
                    !reserved.contains(&name)
                        && Some(name) != same_file_label
                        && !source.exclude.iter().any(|e| e == name)
                        && ColumnKind::Attribute.accepts(f.data_type())
                })
                .map(|f| f.name().clone())
                .collect(),
        };
        for name in &attribute_names {
            requests.push(ColumnRequest::new(
                name,
                "customers.attributes",
                ColumnKind::Attribute,
            ));
        }
        let rows = count_rows(&source.path, &requests)?;
        progress.start("customers", rows);
        let mut table = Customers {
            signup: source.signup_date.as_ref().map(|_| Vec::new()),
            churn: source.churn_date.as_ref().map(|_| Vec::new()),
            ..Customers::default()
        };
        let mut attributes: Vec<Attribute> = Vec::new();
        let mut first_row_of: FxHashMap<CustomerIndex, u64> = FxHashMap::default();
        let advance = |n| progress.advance(n);
        let read = read_batches(&source.path, &requests, &advance, |path, batch, first_row| {
            let column = |name: &str| batch.column_by_name(name).expect("projected column");
            let customer_ids = IdColumn::new(column(&source.customer_id));
            let signups = source.signup_date.as_ref().map(|n| DayColumn::new(column(n)));
            let churns = source.churn_date.as_ref().map(|n| DayColumn::new(column(n)));
            if attributes.is_empty() {
                attributes = attribute_names
                    .iter()
                    .map(|name| Attribute {
                        name: name.clone(),
                        values: match TextColumn::new(column(name)) {
                            Some(_) => AttributeValues::Categorical(Vec::new()),
                            None => AttributeValues::Numeric(Vec::new()),
                        },
                    })
                    .collect();
            }
            let decoded: Vec<AttributeValues> = attribute_names
                .iter()
                .map(|name| decode_attribute(column(name)))
                .collect();
            for i in 0..batch.num_rows() {
                let row = first_row + i as u64;
                let Some(key) = customer_ids.get(i) else {
                    rejects.reject("customers", path, &source.customer_id, row, "null customer id")?;
                    continue;
                };
                let signup = match signups.as_ref().map(|d| d.get(i)) {
                    Some(Err(reason)) if reason != "null timestamp" => {
                        let name = source.signup_date.as_deref().unwrap_or_default();
                        rejects.reject("customers", path, name, row, reason)?;
                        continue;
                    }
                    other => other.and_then(|d| d.ok()),
                };
                let churn = match churns.as_ref().map(|d| d.get(i)) {
                    Some(Err(reason)) if reason != "null timestamp" => {
                        let name = source.churn_date.as_deref().unwrap_or_default();
                        rejects.reject("customers", path, name, row, reason)?;
                        continue;
                    }
                    other => other.and_then(|d| d.ok()),
                };
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                if let Some(&first) = first_row_of.get(&customer) {
                    rejects.duplicate(
                        "customers",
                        path,
                        &source.customer_id,
                        &key.to_string(),
                        first,
                        row,
                    )?;
                    continue;
                }
                first_row_of.insert(customer, row);
                table.customer.push(customer);
                table.file_row.push(row);
                if let Some(out) = &mut table.signup {
                    out.push(signup);
                }
                if let Some(out) = &mut table.churn {
                    out.push(churn);
                }
                for (attribute, values) in attributes.iter_mut().zip(&decoded) {
                    attribute.values.push_from(values, i);
                }
            }
            Ok(())
        })?;
        table.attributes = attributes;
        Ok((table, read))
    }

    /// Keeps the rows whose entry in `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) {
        retain(&mut self.customer, keep);
        retain(&mut self.file_row, keep);
        for days in [&mut self.signup, &mut self.churn].into_iter().flatten() {
            retain(days, keep);
        }
        for attribute in &mut self.attributes {
            match &mut attribute.values {
                AttributeValues::Numeric(values) => retain(values, keep),
                AttributeValues::Categorical(values) => retain(values, keep),
            }
        }
    }

    /// Number of customer rows.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }
}

impl AttributeValues {
    fn push_from(&mut self, batch: &AttributeValues, row: usize) {
        match (self, batch) {
            (Self::Numeric(out), Self::Numeric(values)) => out.push(values[row]),
            (Self::Categorical(out), Self::Categorical(values)) => out.push(values[row].clone()),
            (Self::Numeric(out), Self::Categorical(_)) => out.push(None),
            (Self::Categorical(out), Self::Numeric(_)) => out.push(None),
        }
    }
}

fn decode_attribute(array: &arrow_array::ArrayRef) -> AttributeValues {
    if let Some(text) = TextColumn::new(array) {
        return AttributeValues::Categorical(
            (0..array.len())
                .map(|i| text.get(i).map(str::to_string))
                .collect(),
        );
    }
    let numbers = NumberColumn::new(array);
    AttributeValues::Numeric(
        (0..array.len())
            .map(|i| numbers.get(i).filter(|x| x.is_finite()))
            .collect(),
    )
}

impl Rejects {
    /// Fails on a repeated key, or counts it as skipped (the first row wins).
    pub(crate) fn duplicate(
        &mut self,
        input: &str,
        path: &Path,
        column: &str,
        key: &str,
        first_row: u64,
        row: u64,
    ) -> Result<()> {
        match self.on_invalid {
            super::OnInvalid::Fail => Err(FeatureError::DuplicateKey {
                path: path.into(),
                column: column.into(),
                key: crate::redact::redacted(key),
                first_row,
                row,
            }),
            super::OnInvalid::Skip => {
                *self
                    .counts
                    .entry(format!("{input}.{column}: duplicate customer id"))
                    .or_default() += 1;
                Ok(())
            }
        }
    }
}
