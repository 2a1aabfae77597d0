//! `[customers] signup_date` and `churn_date` against the dates `[subscriptions]` define, when both are
//! given: the first start is the signup date, and the end of the last period, when the customer's last
//! life has ended, is the churn date (a customer whose last life is running has none). A customer without
//! periods is not compared. Any disagreement fails the run naming the customers file, the column, how many
//! customers disagree, and the first of them by row, with both dates.

use super::grouped::Grouped;
use super::subscriptions::{PeriodRow, signup_and_last_end};
use crate::config::CustomersSource;
use crate::error::{FeatureError, Result};
use crate::input::Customers;
use crate::time::{Day, date_from_days};

/// Customers shown in the error message.
const SHOWN: usize = 5;

/// Checks every customer of `table` that has periods in `periods`.
pub(super) fn check(source: &CustomersSource, table: &Customers, periods: &Grouped<PeriodRow>) -> Result<()> {
    let shown = |day: Option<Day>| day.map_or_else(|| "none".to_string(), |d| date_from_days(d).to_string());
    let columns = [
        (
            &source.signup_date,
            &table.signup,
            "the first period starts",
            true,
        ),
        (&source.churn_date, &table.churn, "the last period ends", false),
    ];
    for (name, days, derived_from, is_signup) in columns {
        let (Some(name), Some(days)) = (name, days) else {
            continue;
        };
        let mut examples = Vec::new();
        let mut count = 0;
        for (row, (&c, &given)) in table.customer.iter().zip(days).enumerate() {
            let Some((first, last_end)) = signup_and_last_end(periods.of(c as usize)) else {
                continue;
            };
            let derived = if is_signup { Some(first) } else { last_end };
            // A signup date left empty is taken from the subscriptions; an empty churn date says the
            // customer has not churned, which the subscriptions must say too.
            if given != derived && (given.is_some() || !is_signup) {
                count += 1;
                if examples.len() < SHOWN {
                    examples.push(format!(
                        "row {}: {} in [customers], {derived_from} {}",
                        table.file_row[row],
                        shown(given),
                        shown(derived).replace("none", "never (a period is running)")
                    ));
                }
            }
        }
        if count > 0 {
            return Err(FeatureError::Disagreement {
                path: source.path.clone(),
                column: name.clone(),
                count,
                examples,
            });
        }
    }
    Ok(())
}
