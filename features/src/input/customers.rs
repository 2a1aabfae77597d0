//! Customers: one row per customer with static attributes and optional signup and churn dates.

use super::columns::{ColumnKind, DayColumn, IdColumn, NumberColumn, TextColumn};
use super::ids::{CustomerIndex, CustomerInterner};
use super::one_row_per_customer::Repeats;
use super::source::{ColumnRequest, count_rows, read_batches, schema_of};
use super::window::retain;
use super::{ReadProgress, Rejects, id_type_mismatch};
use crate::config::{CustomersSource, DateMode};
use crate::error::{FeatureError, Result};
use crate::time::Day;
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
    /// Date attributes, which become ages or days-until at each as-of date.
    pub dates: Vec<DateAttribute>,
    /// Date or timestamp columns left out because `date_attributes` does not name them (in a dated run).
    pub left_out_dates: Vec<String>,
}

/// One date attribute column ([`CustomersSource::date_attributes`]).
#[derive(Debug, Clone)]
pub struct DateAttribute {
    /// Column name; the feature is `<name>_age_days` or `<name>_in_days`.
    pub name: String,
    /// How it becomes a number at an as-of date.
    pub mode: DateMode,
    /// The day of each customer row (the UTC day of a timestamp), `None` when null.
    pub days: Vec<Option<Day>>,
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
    /// Reads the configured customers; `label_columns` names the labels file and its label and duration
    /// columns, which are never attributes (they are the outcome); `dated`: the run has as-of dates, so
    /// the date columns `date_attributes` names become date attributes (other date columns are left out,
    /// and listed when `dated`). Returns the table with the number of rows read.
    pub(crate) fn load(
        source: &CustomersSource,
        label_columns: Option<(&Path, &[&str])>,
        dated: bool,
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
        let same_file_outcomes: &[&str] = label_columns
            .filter(|(path, _)| *path == source.path)
            .map_or(&[], |(_, columns)| columns);
        let is_date = |name: &str| {
            schema
                .field_with_name(name)
                .is_ok_and(|f| ColumnKind::Date.accepts(f.data_type()))
        };
        let mut attribute_names: Vec<String> = match &source.attributes {
            Some(names) => names.clone(),
            None => schema
                .fields()
                .iter()
                .filter(|f| {
                    let name = f.name().as_str();
                    !reserved.contains(&name)
                        && !same_file_outcomes.contains(&name)
                        && !source.exclude.iter().any(|e| e == name)
                        && (ColumnKind::Attribute.accepts(f.data_type())
                            || ColumnKind::Date.accepts(f.data_type()))
                })
                .map(|f| f.name().clone())
                .collect(),
        };
        // Date attributes: only those the configuration names, in its order. `[customers]` is a snapshot
        // taken when the file was pulled, so a date that changes later (a last login, a last order) is,
        // at an earlier as-of date, present exactly when nothing happened since: almost the label. Only
        // the configuration can say a date was fixed in advance; any other date column is left out.
        let mut dates: Vec<DateAttribute> = Vec::new();
        for (name, &mode) in &source.date_attributes {
            check_date_column(source, &schema, name, mode)?;
            dates.push(DateAttribute::new(name, mode));
        }
        let mut left_out_dates = Vec::new();
        attribute_names.retain(|name| {
            if !is_date(name) || source.date_attributes.contains_key(name) {
                return true;
            }
            left_out_dates.push(name.clone());
            false
        });
        attribute_names.retain(|name| !dates.iter().any(|d| &d.name == name));
        for name in &attribute_names {
            requests.push(ColumnRequest::new(
                name,
                "customers.attributes",
                ColumnKind::Attribute,
            ));
        }
        for date in &dates {
            requests.push(ColumnRequest::new(
                &date.name,
                "customers.date_attributes",
                ColumnKind::Date,
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
        // Each customer's row in the table, by customer index (`u32::MAX`: none yet).
        let mut row_of: Vec<u32> = Vec::new();
        let mut repeats = Repeats::new("customers", &source.customer_id);
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
            let values: Vec<AttributeColumn<'_>> = attribute_names
                .iter()
                .map(|name| AttributeColumn::new(column(name)))
                .collect();
            let date_columns: Vec<DayColumn<'_>> =
                dates.iter().map(|d| DayColumn::new(column(&d.name))).collect();
            for i in 0..batch.num_rows() {
                let row = first_row + i as u64;
                let Some(key) = customer_ids.get(i) else {
                    rejects.reject("customers", path, &source.customer_id, row, "null customer id")?;
                    continue;
                };
                let signup = match signups.as_ref().map(|d| d.get_optional(i)) {
                    Some(Err(reason)) => {
                        let name = source.signup_date.as_deref().unwrap_or_default();
                        let text = signups.as_ref().and_then(|d| d.text(i));
                        rejects.reject_text("customers", path, name, row, reason, text)?;
                        continue;
                    }
                    other => other.and_then(Result::ok).flatten(),
                };
                let churn = match churns.as_ref().map(|d| d.get_optional(i)) {
                    Some(Err(reason)) => {
                        let name = source.churn_date.as_deref().unwrap_or_default();
                        let text = churns.as_ref().and_then(|d| d.text(i));
                        rejects.reject_text("customers", path, name, row, reason, text)?;
                        continue;
                    }
                    other => other.and_then(Result::ok).flatten(),
                };
                // A null date is a missing one; an unreadable date is an invalid row, as everywhere.
                let mut days: Vec<Option<Day>> = Vec::with_capacity(date_columns.len());
                let mut unreadable = None;
                for (date, column) in dates.iter().zip(&date_columns) {
                    match column.get_optional(i) {
                        Ok(day) => days.push(day),
                        Err(reason) => {
                            unreadable = Some((date.name.as_str(), reason, column.text(i)));
                            break;
                        }
                    }
                }
                if let Some((name, reason, text)) = unreadable {
                    rejects.reject_text("customers", path, name, row, reason, text)?;
                    continue;
                }
                let customer = ids
                    .intern(key)
                    .map_err(|_| id_type_mismatch(ids, path, &source.customer_id))?;
                if let Some(&index) = row_of.get(customer as usize).filter(|&&index| index != u32::MAX) {
                    let index = index as usize;
                    let first = table.file_row[index];
                    let copy = table.signup.as_ref().is_none_or(|s| s[index] == signup)
                        && table.churn.as_ref().is_none_or(|c| c[index] == churn)
                        && dates.iter().zip(&days).all(|(d, &day)| d.days[index] == day)
                        && attributes
                            .iter()
                            .zip(&values)
                            .all(|(a, column)| a.values.same(index, column, i));
                    repeats.note(rejects, path, customer, &key.to_string(), first, row, copy)?;
                    continue;
                }
                if row_of.len() <= customer as usize {
                    row_of.resize(customer as usize + 1, u32::MAX);
                }
                row_of[customer as usize] = table.customer.len() as u32;
                table.customer.push(customer);
                table.file_row.push(row);
                if let Some(out) = &mut table.signup {
                    out.push(signup);
                }
                if let Some(out) = &mut table.churn {
                    out.push(churn);
                }
                for (attribute, column) in attributes.iter_mut().zip(&values) {
                    attribute.values.push_from(column, i);
                }
                for (date, day) in dates.iter_mut().zip(days) {
                    date.days.push(day);
                }
            }
            Ok(())
        })?;
        repeats.finish(rejects, &schema)?;
        table.attributes = attributes;
        table.dates = dates;
        if dated {
            table.left_out_dates = left_out_dates;
        }
        Ok((table, read))
    }

    /// Keeps the rows whose entry in `keep` is true.
    pub(crate) fn retain_rows(&mut self, keep: &[bool]) {
        retain(&mut self.customer, keep);
        retain(&mut self.file_row, keep);
        for days in [&mut self.signup, &mut self.churn].into_iter().flatten() {
            retain(days, keep);
        }
        for date in &mut self.dates {
            retain(&mut date.days, keep);
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

impl DateAttribute {
    fn new(name: &str, mode: DateMode) -> Self {
        Self {
            name: name.into(),
            mode,
            days: Vec::new(),
        }
    }

    /// The feature column's name: `<name>_age_days` or `<name>_in_days`.
    pub fn feature_name(&self) -> String {
        format!("{}_{}", self.name, self.mode.suffix())
    }
}

/// Refuses a configured date attribute whose column is not a date or timestamp, naming the file, the
/// column and the configuration key (a missing column is reported with the others, when the file is
/// read).
fn check_date_column(
    source: &CustomersSource,
    schema: &arrow_schema::Schema,
    name: &str,
    mode: DateMode,
) -> Result<()> {
    let Ok(field) = schema.field_with_name(name) else {
        return Ok(());
    };
    if ColumnKind::Date.accepts(field.data_type()) {
        return Ok(());
    }
    Err(FeatureError::WrongType {
        path: source.path.clone(),
        column: name.into(),
        found: field.data_type().to_string(),
        expected: format!(
            "{}, as [customers] date_attributes maps it (`{name} = \"{}\"`); convert the column to a \
             date, or leave it out of date_attributes to use it as it is",
            ColumnKind::Date.expected(),
            mode.as_str()
        ),
    })
}

/// One batch's column of an attribute, read in place.
enum AttributeColumn<'a> {
    Text(TextColumn<'a>),
    Number(NumberColumn<'a>),
}

impl<'a> AttributeColumn<'a> {
    fn new(array: &'a arrow_array::ArrayRef) -> Self {
        TextColumn::new(array).map_or_else(|| Self::Number(NumberColumn::new(array)), Self::Text)
    }

    /// The number at `row` (`None` when null or not finite, or for text).
    fn number(&self, row: usize) -> Option<f64> {
        match self {
            Self::Number(numbers) => numbers.get(row).filter(|x| x.is_finite()),
            Self::Text(_) => None,
        }
    }

    /// The text at `row` (`None` when null, or for numbers).
    fn text(&self, row: usize) -> Option<&'a str> {
        match self {
            Self::Text(text) => text.get(row),
            Self::Number(_) => None,
        }
    }
}

impl AttributeValues {
    /// Whether the value of the table's row `index` equals the value of `column` at `row`.
    fn same(&self, index: usize, column: &AttributeColumn<'_>, row: usize) -> bool {
        match (self, column) {
            (Self::Numeric(out), AttributeColumn::Number(_)) => out[index] == column.number(row),
            (Self::Categorical(out), AttributeColumn::Text(_)) => out[index].as_deref() == column.text(row),
            // Another file's column of another type: equal only when both are null.
            (Self::Numeric(out), AttributeColumn::Text(text)) => {
                out[index].is_none() && text.get(row).is_none()
            }
            (Self::Categorical(out), AttributeColumn::Number(_)) => {
                out[index].is_none() && column.number(row).is_none()
            }
        }
    }

    /// Appends the value of `column` at `row`.
    fn push_from(&mut self, column: &AttributeColumn<'_>, row: usize) {
        match self {
            Self::Numeric(out) => out.push(column.number(row)),
            Self::Categorical(out) => out.push(column.text(row).map(str::to_string)),
        }
    }
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
