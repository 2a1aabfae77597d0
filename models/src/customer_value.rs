//! A customer's value beside their churn risk: the predicted lifetime value (`clv_<N>m`) and the
//! probability of still buying (`p_alive`) that the feature build's customer-value models wrote, and the
//! value at risk, churn probability × lifetime value: the money a customer's leaving would likely cost,
//! which retention teams sort by.
//!
//! Batch scores, call lists and the server all read a table's value columns through [`ValueColumns`].

use churn_features::{ColumnValues, FeatureTable};

/// The column holding the probability that a customer still buys.
pub const P_ALIVE: &str = "p_alive";

/// A customer's value, as far as the table knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CustomerValue {
    /// Predicted lifetime value (discounted spend over the table's CLV months); `None` when unknown.
    pub clv: Option<f64>,
    /// Probability that the customer still buys; `None` when unknown.
    pub p_alive: Option<f64>,
}

impl CustomerValue {
    /// Churn probability × lifetime value, when the lifetime value is known.
    pub fn value_at_risk(&self, probability: f64) -> Option<f64> {
        self.clv.map(|clv| probability * clv)
    }
}

/// Where a feature table keeps its customers' value: positions of its columns, so a holder of the table
/// (a server's snapshot) can keep them beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValueColumns {
    clv: Option<usize>,
    p_alive: Option<usize>,
}

impl ValueColumns {
    /// Finds the value columns of `table`: the lifetime value of [`clv_column`] and [`P_ALIVE`] (numeric).
    pub fn of(table: &FeatureTable) -> Self {
        let position = |name: &str| {
            table
                .columns
                .iter()
                .position(|c| c.name == name && matches!(c.values, ColumnValues::Numeric(_)))
        };
        Self {
            clv: clv_column(table).and_then(position),
            p_alive: position(P_ALIVE),
        }
    }

    /// The name of the lifetime value column in `table` (the table these were found in).
    pub fn clv_column<'t>(&self, table: &'t FeatureTable) -> Option<&'t str> {
        self.clv.map(|column| table.columns[column].name.as_str())
    }

    /// Whether the table has a lifetime value column.
    pub fn has_clv(&self) -> bool {
        self.clv.is_some()
    }

    /// Whether the table has a `p_alive` column.
    pub fn has_p_alive(&self) -> bool {
        self.p_alive.is_some()
    }

    /// The value of row `row` of `table` (the table these were found in).
    pub fn at(&self, table: &FeatureTable, row: usize) -> CustomerValue {
        let value = |column: Option<usize>| match column.map(|c| &table.columns[c].values) {
            Some(ColumnValues::Numeric(values)) => values[row],
            _ => None,
        };
        CustomerValue {
            clv: value(self.clv),
            p_alive: value(self.p_alive),
        }
    }
}

/// The table's lifetime value column: `clv_<N>m` with the largest N among those with a value in some row
/// (the column is null throughout when the customer-value models could not be fitted).
pub fn clv_column(table: &FeatureTable) -> Option<&str> {
    longest_window(table, "clv_", 'm', true)
}

/// The numeric column `<prefix><N><suffix>` with the largest N, when `known` only among those with a
/// value in some row.
pub(crate) fn longest_window<'a>(
    table: &'a FeatureTable,
    prefix: &str,
    suffix: char,
    known: bool,
) -> Option<&'a str> {
    table
        .columns
        .iter()
        .filter(|c| match &c.values {
            ColumnValues::Numeric(values) => !known || values.iter().any(Option::is_some),
            ColumnValues::Categorical(_) => false,
        })
        .filter_map(|c| {
            let length: u32 = c.name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()?;
            Some((length, c.name.as_str()))
        })
        .max()
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_features::{ColumnRole, CustomerIds, FeatureColumn};

    fn table(columns: Vec<(&str, Vec<Option<f64>>)>) -> FeatureTable {
        let rows = columns.first().map_or(0, |c| c.1.len());
        FeatureTable {
            customer_ids: CustomerIds::Int((0..rows as i64).collect()),
            as_of: vec![None; rows],
            labels: vec![None; rows],
            columns: columns
                .into_iter()
                .map(|(name, values)| FeatureColumn {
                    name: name.into(),
                    role: ColumnRole::Numeric,
                    description: None,
                    values: ColumnValues::Numeric(values),
                })
                .collect(),
        }
    }

    #[test]
    fn the_longest_lifetime_value_with_values_is_used() {
        let t = table(vec![
            ("clv_6m", vec![Some(10.0), None]),
            ("clv_12m", vec![Some(20.0), None]),
            ("clv_24m", vec![None, None]),
            ("p_alive", vec![Some(0.5), Some(0.25)]),
        ]);
        let value = ValueColumns::of(&t);
        assert_eq!(value.clv_column(&t), Some("clv_12m"));
        assert!(value.has_clv() && value.has_p_alive());
        assert_eq!(
            value.at(&t, 0),
            CustomerValue {
                clv: Some(20.0),
                p_alive: Some(0.5)
            }
        );
        assert_eq!(value.at(&t, 0).value_at_risk(0.25), Some(5.0));
        assert_eq!(value.at(&t, 1).value_at_risk(0.25), None);
    }

    #[test]
    fn a_table_without_value_columns_has_no_value() {
        let t = table(vec![("spend_90d", vec![Some(1.0)])]);
        let value = ValueColumns::of(&t);
        assert!(!value.has_clv() && !value.has_p_alive());
        assert_eq!(value.at(&t, 0), CustomerValue::default());
    }
}
