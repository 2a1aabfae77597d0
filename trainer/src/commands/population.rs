//! The population flags `train`, `evaluate` and `score` share (which customers a model is for; the rules
//! are `churn_models::Population`), and the per-segment metrics table `train` and `evaluate` print.

use super::outln;
use anyhow::{Context, Result};
use churn_features::FeatureTable;
use churn_features::engine::segments::LIFECYCLE_STAGES;
use churn_models::Population;
use churn_models::metrics::SegmentMetrics;
use clap::Args;
use clap::builder::PossibleValuesParser;
use std::path::Path;

/// The heading of the population options in `--help`.
pub const HEADING: &str = "Population (which customers the model is for; rules combine with AND)";

/// Population rules given on the command line; each one given replaces the same rule of the model
/// configuration (train) or of the model (evaluate, score). Rules combine with AND.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = HEADING)]
pub struct PopulationArgs {
    /// Only customers who purchased in the last DAYS days (days_since_last_purchase <= DAYS); customers
    /// who never purchased are left out.
    #[arg(long, value_name = "DAYS")]
    pub max_days_since_last_purchase: Option<u32>,

    /// Only customers in these lifecycle stages (lifecycle_stage), comma-separated, e.g.
    /// new,active,at_risk.
    #[arg(long, value_name = "STAGES", value_delimiter = ',', action = clap::ArgAction::Set,
          value_parser = PossibleValuesParser::new(LIFECYCLE_STAGES))]
    pub lifecycle_stages: Option<Vec<String>>,

    /// Only customers at least DAYS days old (tenure_days >= DAYS).
    #[arg(long, value_name = "DAYS")]
    pub min_tenure_days: Option<u32>,

    /// Leave out customers without any purchase by the as-of date.
    #[arg(long)]
    pub exclude_never_purchased: bool,
}

impl PopulationArgs {
    /// The rules of `base` with those given here replacing them.
    pub fn over(&self, base: &Population) -> Population {
        base.overridden_by(&Population {
            max_days_since_last_purchase: self.max_days_since_last_purchase,
            lifecycle_stages: self.lifecycle_stages.clone(),
            min_tenure_days: self.min_tenure_days,
            exclude_never_purchased: self.exclude_never_purchased,
        })
    }
}

/// The rows of `table` (read from `path`) in `population`, failing with the file named when a rule
/// needs a column the table lacks.
pub fn population_mask(table: &FeatureTable, path: &Path, population: &Population) -> Result<Vec<bool>> {
    population
        .mask(table)
        .with_context(|| format!("cannot select the population in {}", path.display()))
}

/// One line saying how many rows are outside the population, e.g. `population (tenure_days >= 30): 120
/// of 3,000 rows left out` when `what` is `left out`.
pub fn describe(population: &Population, outside: usize, rows: usize, what: &str) -> String {
    format!(
        "population ({population}): {} of {} rows {what}",
        thousands(outside),
        thousands(rows)
    )
}

/// Prints held-out metrics per segment, one line per segment, when there are any.
pub fn print_by_segment(segments: &[SegmentMetrics]) -> Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    outln!(
        "  {:<16} {:<15} {:>7} {:>6} {:>8} {:>7}",
        "by segment",
        "",
        "rows",
        "churn",
        "roc_auc",
        "brier"
    )?;
    for s in segments {
        outln!(
            "  {:<16} {:<15} {:>7} {:>5.1}% {:>8} {:>7.4}",
            s.column,
            s.segment,
            thousands(s.rows),
            100.0 * s.churn_rate,
            s.roc_auc.map_or("-".to_string(), |auc| format!("{auc:.4}")),
            s.brier
        )?;
    }
    Ok(())
}

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_replace_the_rules_they_give() {
        let base = Population {
            max_days_since_last_purchase: Some(365),
            min_tenure_days: Some(30),
            ..Population::default()
        };
        let args = PopulationArgs {
            max_days_since_last_purchase: Some(90),
            lifecycle_stages: Some(vec!["active".into()]),
            ..PopulationArgs::default()
        };
        let population = args.over(&base);
        assert_eq!(population.max_days_since_last_purchase, Some(90));
        assert_eq!(population.min_tenure_days, Some(30));
        assert_eq!(population.lifecycle_stages, Some(vec!["active".to_string()]));
        assert_eq!(PopulationArgs::default().over(&base), base);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(
            describe(&Population::default(), 0, 1200, "left out"),
            "population (every row): 0 of 1,200 rows left out"
        );
    }
}
