//! Which customers a model is for: rules on feature-table columns that select the rows a model is
//! trained, evaluated and scored on.
//!
//! A churn model for everyone who ever bought mostly learns that long-lapsed customers do not come back,
//! which is true, easy, and inflates ROC AUC without helping anyone decide whom to call. A
//! [`Population`] says which rows count: purchased recently, in some lifecycle stages, customers for
//! long enough, or having purchased at all. Every rule is optional and they combine with AND; a row
//! whose column is null fails the rule that reads it. The rules are stored in the model artifact, so
//! evaluation and scoring apply the population the model was trained for.
//!
//! ```toml
//! [population]
//! max_days_since_last_purchase = 365        # days_since_last_purchase <= 365
//! lifecycle_stages = ["new", "active", "at_risk"]
//! min_tenure_days = 30                      # tenure_days >= 30
//! exclude_never_purchased = true            # days_since_last_purchase is not null
//! ```

use crate::error::{ModelError, Result};
use churn_features::engine::segments::LIFECYCLE_STAGES;
use churn_features::{ColumnValues, FeatureTable};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The feature column of days since the last purchase (null when the customer never purchased).
pub const RECENCY_COLUMN: &str = "days_since_last_purchase";
/// The feature column of days since signup or the first activity.
pub const TENURE_COLUMN: &str = "tenure_days";
/// The descriptor column of lifecycle stages.
pub const LIFECYCLE_COLUMN: &str = "lifecycle_stage";

/// Rules selecting the rows a model is for; the default selects every row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Only rows whose last purchase is at most this many days before the as-of date
    /// (`days_since_last_purchase`); customers who never purchased fail it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days_since_last_purchase: Option<u32>,
    /// Only rows in one of these lifecycle stages (`lifecycle_stage`: new, active, at_risk, lapsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stages: Option<Vec<String>>,
    /// Only rows of customers at least this many days old (`tenure_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tenure_days: Option<u32>,
    /// Leave out customers without any purchase on or before the as-of date (`days_since_last_purchase`
    /// null).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_never_purchased: bool,
}

/// One rule and what a row needs to pass it.
enum Rule<'a> {
    AtMost(u32),
    AtLeast(u32),
    Present,
    OneOf(&'a [String]),
}

impl Population {
    /// Every row (no rule).
    pub fn everyone() -> Self {
        Self::default()
    }

    /// True when no rule is set, so every row is in the population.
    pub fn is_everyone(&self) -> bool {
        self == &Self::default()
    }

    /// Checks the rules themselves (before any table is read): a stage list must name at least one
    /// stage, and only stages the feature engine writes.
    pub fn check(&self) -> Result<()> {
        if let Some(stages) = &self.lifecycle_stages {
            let invalid = |reason: String| ModelError::InvalidParameter {
                name: "population.lifecycle_stages",
                reason,
            };
            if stages.is_empty() {
                return Err(invalid(format!(
                    "names no stage, so no row could be selected; the stages are {}",
                    LIFECYCLE_STAGES.join(", ")
                )));
            }
            if let Some(unknown) = stages.iter().find(|s| !LIFECYCLE_STAGES.contains(&s.as_str())) {
                return Err(invalid(format!(
                    "unknown stage `{unknown}`; the stages are {}",
                    LIFECYCLE_STAGES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The rules that are set: (rule name, column, rule).
    fn rules(&self) -> Vec<(&'static str, &'static str, Rule<'_>)> {
        let mut rules = Vec::new();
        if let Some(days) = self.max_days_since_last_purchase {
            rules.push(("max_days_since_last_purchase", RECENCY_COLUMN, Rule::AtMost(days)));
        }
        if let Some(stages) = &self.lifecycle_stages {
            rules.push(("lifecycle_stages", LIFECYCLE_COLUMN, Rule::OneOf(stages)));
        }
        if let Some(days) = self.min_tenure_days {
            rules.push(("min_tenure_days", TENURE_COLUMN, Rule::AtLeast(days)));
        }
        if self.exclude_never_purchased {
            rules.push(("exclude_never_purchased", RECENCY_COLUMN, Rule::Present));
        }
        rules
    }

    /// The columns the rules read (each once).
    pub fn columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&'static str> = Vec::new();
        for (_, column, _) in self.rules() {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }

    /// Whether each row of `table` is in the population.
    ///
    /// Fails when the rules are invalid ([`Population::check`]) or a rule needs a column the table lacks
    /// or holds with another type ([`ModelError::PopulationColumn`], naming the rule and the column).
    pub fn mask(&self, table: &FeatureTable) -> Result<Vec<bool>> {
        self.check()?;
        let mut keep = vec![true; table.len()];
        for (rule_name, column_name, rule) in self.rules() {
            let missing = |expected: &'static str, problem: String| ModelError::PopulationColumn {
                rule: rule_name,
                column: column_name,
                expected,
                problem,
            };
            let numeric = !matches!(rule, Rule::OneOf(_));
            let expected = if numeric { "numeric" } else { "category" };
            let column = table.column(column_name).ok_or_else(|| {
                missing(
                    expected,
                    "which the feature table does not have (`churn-trainer features --catalog` lists \
                     the columns a build writes)"
                        .into(),
                )
            })?;
            match (&column.values, rule) {
                (ColumnValues::Numeric(values), Rule::AtMost(limit)) => {
                    let limit = f64::from(limit);
                    for (k, v) in keep.iter_mut().zip(values) {
                        *k &= v.is_some_and(|v| v <= limit);
                    }
                }
                (ColumnValues::Numeric(values), Rule::AtLeast(limit)) => {
                    let limit = f64::from(limit);
                    for (k, v) in keep.iter_mut().zip(values) {
                        *k &= v.is_some_and(|v| v >= limit);
                    }
                }
                (ColumnValues::Numeric(values), Rule::Present) => {
                    for (k, v) in keep.iter_mut().zip(values) {
                        *k &= v.is_some();
                    }
                }
                (ColumnValues::Categorical(values), Rule::OneOf(stages)) => {
                    for (k, v) in keep.iter_mut().zip(values) {
                        *k &= v.as_ref().is_some_and(|v| stages.contains(v));
                    }
                }
                (ColumnValues::Categorical(_), _) => {
                    return Err(missing(
                        expected,
                        "but the feature table holds categories in it".into(),
                    ));
                }
                (ColumnValues::Numeric(_), _) => {
                    return Err(missing(
                        expected,
                        "but the feature table holds numbers in it".into(),
                    ));
                }
            }
        }
        Ok(keep)
    }

    /// The rows of `table` in the population, in table order (see [`Population::mask`]).
    pub fn rows(&self, table: &FeatureTable) -> Result<Vec<usize>> {
        Ok(self
            .mask(table)?
            .iter()
            .enumerate()
            .filter_map(|(i, &keep)| keep.then_some(i))
            .collect())
    }

    /// These rules with each rule that `overrides` sets replacing this one's (`exclude_never_purchased`
    /// is set when either sets it).
    pub fn overridden_by(&self, overrides: &Population) -> Population {
        Population {
            max_days_since_last_purchase: overrides
                .max_days_since_last_purchase
                .or(self.max_days_since_last_purchase),
            lifecycle_stages: overrides
                .lifecycle_stages
                .clone()
                .or_else(|| self.lifecycle_stages.clone()),
            min_tenure_days: overrides.min_tenure_days.or(self.min_tenure_days),
            exclude_never_purchased: overrides.exclude_never_purchased || self.exclude_never_purchased,
        }
    }
}

/// The rules as a person reads them, e.g. `days_since_last_purchase <= 365 and tenure_days >= 30`;
/// `every row` without rules.
impl fmt::Display for Population {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = self.rules();
        if rules.is_empty() {
            return f.write_str("every row");
        }
        for (k, (_, column, rule)) in rules.iter().enumerate() {
            if k > 0 {
                f.write_str(" and ")?;
            }
            match rule {
                Rule::AtMost(days) => write!(f, "{column} <= {days}")?,
                Rule::AtLeast(days) => write!(f, "{column} >= {days}")?,
                Rule::Present => write!(f, "{column} not null (purchased)")?,
                Rule::OneOf(stages) => write!(f, "{column} in ({})", stages.join(", "))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_features::{ColumnRole, CustomerIds, FeatureColumn};

    fn numeric(name: &str, values: Vec<Option<f64>>) -> FeatureColumn {
        FeatureColumn {
            name: name.into(),
            role: ColumnRole::Numeric,
            description: None,
            values: ColumnValues::Numeric(values),
        }
    }

    fn stage(values: &[Option<&str>]) -> FeatureColumn {
        FeatureColumn {
            name: LIFECYCLE_COLUMN.into(),
            role: ColumnRole::Descriptor,
            description: None,
            values: ColumnValues::Categorical(values.iter().map(|v| v.map(str::to_string)).collect()),
        }
    }

    /// Six customers: recency, tenure and stage per row (row 3 never purchased, row 5 has no stage).
    fn table() -> FeatureTable {
        FeatureTable {
            customer_ids: CustomerIds::Int((0..6).collect()),
            as_of: vec![None; 6],
            labels: vec![Some(0); 6],
            columns: vec![
                numeric(
                    RECENCY_COLUMN,
                    vec![Some(3.0), Some(400.0), Some(365.0), None, Some(20.0), Some(100.0)],
                ),
                numeric(
                    TENURE_COLUMN,
                    vec![Some(10.0), Some(900.0), Some(500.0), Some(40.0), Some(30.0), None],
                ),
                stage(&[
                    Some("new"),
                    Some("lapsed"),
                    Some("at_risk"),
                    Some("active"),
                    Some("active"),
                    None,
                ]),
            ],
        }
    }

    #[test]
    fn each_rule_selects_its_rows_and_rules_combine_with_and() {
        let table = table();
        let rows = |population: Population| population.rows(&table).expect("rows");
        assert_eq!(rows(Population::everyone()), vec![0, 1, 2, 3, 4, 5]);
        let recent = Population {
            max_days_since_last_purchase: Some(365),
            ..Population::default()
        };
        // 365 is within the limit; the customer who never purchased (row 3) is not.
        assert_eq!(rows(recent.clone()), vec![0, 2, 4, 5]);
        let stages = Population {
            lifecycle_stages: Some(vec!["new".into(), "active".into()]),
            ..Population::default()
        };
        assert_eq!(rows(stages.clone()), vec![0, 3, 4]);
        let old_enough = Population {
            min_tenure_days: Some(30),
            ..Population::default()
        };
        assert_eq!(rows(old_enough.clone()), vec![1, 2, 3, 4]);
        let purchased = Population {
            exclude_never_purchased: true,
            ..Population::default()
        };
        assert_eq!(rows(purchased), vec![0, 1, 2, 4, 5]);
        let all = recent.overridden_by(&stages).overridden_by(&old_enough);
        assert_eq!(rows(all.clone()), vec![4]);
        assert_eq!(
            all.to_string(),
            "days_since_last_purchase <= 365 and lifecycle_stage in (new, active) and tenure_days >= 30"
        );
        assert_eq!(Population::everyone().to_string(), "every row");
        assert_eq!(
            all.columns(),
            vec![RECENCY_COLUMN, LIFECYCLE_COLUMN, TENURE_COLUMN]
        );
    }

    #[test]
    fn a_rule_on_a_missing_or_mistyped_column_names_it() {
        let mut table = table();
        table.columns.retain(|c| c.name != TENURE_COLUMN);
        let old_enough = Population {
            min_tenure_days: Some(30),
            ..Population::default()
        };
        let error = old_enough.rows(&table).expect_err("no tenure column");
        assert!(matches!(
            error,
            ModelError::PopulationColumn {
                column: TENURE_COLUMN,
                rule: "min_tenure_days",
                ..
            }
        ));
        let message = error.to_string();
        assert!(
            message.contains("`tenure_days`") && message.contains("min_tenure_days"),
            "{message}"
        );

        table.columns[0].values = ColumnValues::Categorical(vec![None; 6]);
        let recent = Population {
            max_days_since_last_purchase: Some(30),
            ..Population::default()
        };
        let message = recent.rows(&table).expect_err("categories").to_string();
        assert!(
            message.contains("`days_since_last_purchase`") && message.contains("categories"),
            "{message}"
        );
    }

    #[test]
    fn stage_lists_must_name_known_stages() {
        for stages in [vec![], vec!["active".to_string(), "dormant".to_string()]] {
            let population = Population {
                lifecycle_stages: Some(stages),
                ..Population::default()
            };
            let message = population.check().expect_err("invalid").to_string();
            assert!(message.contains("new, active, at_risk, lapsed"), "{message}");
            assert!(population.rows(&table()).is_err());
        }
    }

    #[test]
    fn rules_round_trip_through_json_and_unknown_rules_are_refused() {
        let population = Population {
            max_days_since_last_purchase: Some(365),
            exclude_never_purchased: true,
            ..Population::default()
        };
        let json = serde_json::to_string(&population).expect("json");
        assert_eq!(
            json,
            r#"{"max_days_since_last_purchase":365,"exclude_never_purchased":true}"#
        );
        assert_eq!(
            serde_json::from_str::<Population>(&json).expect("parse"),
            population
        );
        assert_eq!(
            serde_json::to_string(&Population::everyone()).expect("json"),
            "{}"
        );
        assert!(serde_json::from_str::<Population>(r#"{"max_recency":3}"#).is_err());
    }
}
