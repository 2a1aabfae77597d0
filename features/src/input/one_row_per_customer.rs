//! Inputs that must hold one row per customer (`[customers]`, `[labels]`). A customer's later row is
//! either an exact copy of their first one (an invalid row, failing the run or skipped and counted as
//! `--on-invalid` says) or a different row: then the table is another kind of table (subscription
//! periods, transactions, events), no row can be chosen without guessing, and it is refused whatever the
//! policy, naming the section its columns fit.

use super::Rejects;
use super::ids::CustomerIndex;
use crate::error::{FeatureError, Result, SeveralRowsPerCustomer};
use arrow_schema::{DataType, Schema};
use rustc_hash::FxHashSet;
use std::path::{Path, PathBuf};

/// The repeated customers of one input, as it is read.
pub(crate) struct Repeats {
    section: &'static str,
    column: String,
    /// Customers with a row that differs from their first.
    differing: FxHashSet<CustomerIndex>,
    /// The first differing row: file, first row, row, keyed hash of the id.
    first_differing: Option<(PathBuf, u64, u64, String)>,
    /// The first exact copy under [`super::OnInvalid::Fail`]: file, first row, row, id.
    first_copy: Option<(PathBuf, u64, u64, String)>,
}

impl Repeats {
    /// The repeats of `section` (`customers` or `labels`), whose customer id column is `column`.
    pub fn new(section: &'static str, column: &str) -> Self {
        Self {
            section,
            column: column.into(),
            differing: FxHashSet::default(),
            first_differing: None,
            first_copy: None,
        }
    }

    /// Notes `customer` (id `key`) again at `row` of `path`, first seen at `first_row`; `copy`: the row
    /// equals the first in every column read. A copy under `--on-invalid skip` is counted as skipped now;
    /// everything else is decided by [`Repeats::finish`], once every row has been seen.
    #[allow(clippy::too_many_arguments)]
    pub fn note(
        &mut self,
        rejects: &mut Rejects,
        path: &Path,
        customer: CustomerIndex,
        key: &str,
        first_row: u64,
        row: u64,
        copy: bool,
    ) -> Result<()> {
        if !copy {
            self.differing.insert(customer);
            self.first_differing
                .get_or_insert_with(|| (path.into(), first_row, row, crate::redact::redacted(key)));
            return Ok(());
        }
        if rejects.on_invalid() == super::OnInvalid::Skip {
            return rejects.duplicate(self.section, path, &self.column, key, first_row, row);
        }
        self.first_copy
            .get_or_insert_with(|| (path.into(), first_row, row, key.to_string()));
        Ok(())
    }

    /// Refuses the input when a customer has rows that differ (naming the section `schema`'s columns
    /// fit), else fails on the first exact copy under `--on-invalid fail`.
    pub fn finish(self, rejects: &mut Rejects, schema: &Schema) -> Result<()> {
        if let Some((path, first_row, row, key)) = self.first_differing {
            return Err(FeatureError::SeveralRowsPerCustomer(Box::new(
                SeveralRowsPerCustomer {
                    path,
                    section: self.section,
                    fits: fitting_section(schema, &self.column),
                    column: self.column,
                    customers: self.differing.len() as u64,
                    first_row,
                    row,
                    key,
                },
            )));
        }
        match self.first_copy {
            Some((path, first_row, row, key)) => {
                rejects.duplicate(self.section, &path, &self.column, &key, first_row, row)
            }
            None => Ok(()),
        }
    }
}

/// What a table with several rows per customer looks like from its columns, and the section that fits:
/// start and end dates: subscription periods; amounts and dates: transactions; else events.
pub(crate) fn fitting_section(schema: &Schema, id_column: &str) -> String {
    let fields: Vec<(String, &DataType)> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != id_column)
        .map(|f| (f.name().to_lowercase(), f.data_type()))
        .collect();
    let name_of = |lower: &str| {
        schema
            .fields()
            .iter()
            .find(|f| f.name().to_lowercase() == lower)
            .map_or_else(String::new, |f| f.name().clone())
    };
    let dated: Vec<&str> = fields
        .iter()
        .filter(|(name, data_type)| is_date(data_type) || has_any(name, &["date", "time", "_at", "ts"]))
        .map(|(name, _)| name.as_str())
        .collect();
    let start = dated.iter().find(|n| has_any(n, &["start", "begin", "from"]));
    let end = dated
        .iter()
        .find(|n| has_any(n, &["end", "until", "expir", "stop"]));
    let amount = fields
        .iter()
        .find(|(name, data_type)| {
            !is_date(data_type)
                && has_any(
                    name,
                    &[
                        "amount", "price", "spend", "revenue", "total", "sales", "cost", "paid", "value",
                    ],
                )
        })
        .map(|(name, _)| name.as_str());
    match (start, end, amount, dated.first()) {
        (Some(start), Some(end), _, _) => format!(
            "with start and end dates (`{}`, `{}`), this looks like subscription periods: map it as \
             [subscriptions], one row per period",
            name_of(start),
            name_of(end)
        ),
        (_, _, Some(amount), Some(date)) => format!(
            "with amounts and dates (`{}`, `{}`), this looks like transactions: map it as [transactions]",
            name_of(amount),
            name_of(date)
        ),
        (_, _, _, Some(date)) => format!(
            "with dates (`{}`), this looks like events: map it as [events]",
            name_of(date)
        ),
        _ => "this looks like a history of events rather than one row per customer: map it as [events] \
              (one row per event, with its timestamp), or keep one row per customer in the file"
            .to_string(),
    }
}

fn is_date(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

fn has_any(name: &str, parts: &[&str]) -> bool {
    parts.iter().any(|part| name.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, TimeUnit};

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(name, data_type)| Field::new(*name, data_type.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn the_columns_decide_the_section_that_fits() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let periods = schema(&[
            ("id", DataType::Utf8),
            ("Start_Date", DataType::Date32),
            ("end_date", DataType::Date32),
            ("mrr", DataType::Float64),
        ]);
        let fits = fitting_section(&periods, "id");
        assert!(
            fits.contains("[subscriptions]") && fits.contains("`Start_Date`, `end_date`"),
            "{fits}"
        );
        let orders = schema(&[
            ("id", DataType::Utf8),
            ("ordered_at", ts.clone()),
            ("amount", DataType::Float64),
        ]);
        let fits = fitting_section(&orders, "id");
        assert!(
            fits.contains("[transactions]") && fits.contains("`amount`, `ordered_at`"),
            "{fits}"
        );
        let logins = schema(&[("id", DataType::Utf8), ("ts", ts), ("kind", DataType::Utf8)]);
        assert!(fitting_section(&logins, "id").contains("[events]"));
        let plans = schema(&[("id", DataType::Utf8), ("plan", DataType::Utf8)]);
        let fits = fitting_section(&plans, "id");
        assert!(
            fits.contains("[events]") && fits.contains("one row per customer"),
            "{fits}"
        );
    }
}
