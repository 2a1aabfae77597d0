//! The subscription family: what a customer's subscription periods (`[subscriptions]`) say at an as-of
//! date, and the contractual churn they define.
//!
//! **Point in time.** At an as-of date `d` only the periods that started on or before `d` are seen, and
//! an end after `d` is unknown: such a period is running at `d`, as is a period without an end. So
//! periods starting after `d`, and any end after `d`, change no feature.
//!
//! **Periods.** A period covers the days from its start up to, not including, its end. Two periods of
//! one customer on the same plan must not overlap (the input refuses them); overlapping periods of
//! different plans are concurrent subscriptions, whose MRR adds up. MRR is the `mrr` column, or the
//! amount divided by the billing period in months (an annual period billed 1,200 has an MRR of 100).
//!
//! **Lives and churn.** A customer's periods, in order of start, make up *lives*: a period that starts
//! more than `grace_days` after the end of every earlier period (the latest of their ends) starts a new
//! life. A life that ends (all its periods end, and none starts within the grace period after the last
//! end) churns on the day its last period ends. So a pause of at most `grace_days` is not churn, and a
//! customer who comes back after churning starts a second life, which can churn again.
//!
//! **Who is scored.** A customer is in the table at `d` when a period is running at `d`; customers
//! between periods (paused, or churned) are not. Tenure (`tenure_days`) counts from the signup date: the
//! first start ever (or `[customers] signup_date`), over every life; `subscription_life_days` counts from
//! the start of the current life, and `subscription_returns` is the number of earlier lives.
//!
//! **Labels.** With a horizon of `H` days, a row's label is 1 when the current life churns in
//! `(d, d + H]`, else 0. Whether a life churned at day `e` is known only `grace_days` later, so labels
//! need data up to `d + H + grace_days`; later as-of dates have null labels.

use super::grouped::{Grouped, up_to};
use crate::config::SubscriptionsSource;
use crate::input::Subscriptions;
use crate::time::{Day, date_from_days, days_from_epoch};
use chrono::{Datelike, Months};

/// Days in an average month (365.25 / 12), for `subscription_months_on_plan`.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// Which optional `[subscriptions]` columns are mapped, which decides the features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionInputs {
    /// `plan` is mapped: the current plan column, and upgrades are plan changes.
    pub plans: bool,
    /// `quantity` is mapped: seats.
    pub seats: bool,
    /// `discount` is mapped: the current discount.
    pub discounts: bool,
}

impl SubscriptionInputs {
    /// The optional columns `source` maps.
    pub fn of(source: &SubscriptionsSource) -> Self {
        Self {
            plans: source.plan.is_some(),
            seats: source.quantity.is_some(),
            discounts: source.discount.is_some(),
        }
    }

    /// The numeric features these columns give, in row order, with MRR changes over `windows`.
    pub fn features(&self, windows: &[u32]) -> Vec<SubscriptionMeasure> {
        use SubscriptionMeasure as M;
        let mut features = vec![M::LifeDays, M::Returns, M::Concurrent, M::Mrr];
        features.extend(windows.iter().map(|&days| M::MrrChange { days }));
        features.extend([M::Upgrades, M::Downgrades, M::MonthsOnPlan, M::BillingMonths]);
        if self.seats {
            features.push(M::Seats);
        }
        if self.discounts {
            features.push(M::Discount);
        }
        features.push(M::DaysToRenewal);
        features
    }
}

/// One subscription feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionMeasure {
    /// `subscription_life_days`: days since the start of the current life.
    LifeDays,
    /// `subscription_returns`: earlier lives (times the customer came back after churning).
    Returns,
    /// `subscription_count`: periods running at the as-of date (concurrent subscriptions).
    Concurrent,
    /// `subscription_mrr`: MRR of the periods running at the as-of date.
    Mrr,
    /// `subscription_mrr_change_{d}d`: MRR now minus MRR `d` days before.
    MrrChange {
        /// Days back.
        days: u32,
    },
    /// `subscription_upgrades`: plan changes that raised the MRR.
    Upgrades,
    /// `subscription_downgrades`: plan changes that lowered the MRR.
    Downgrades,
    /// `subscription_months_on_plan`: months on the current plan.
    MonthsOnPlan,
    /// `subscription_billing_months`: billing period of the current plan, in months.
    BillingMonths,
    /// `subscription_seats`: seats of the periods running at the as-of date.
    Seats,
    /// `subscription_discount`: discount of the current plan.
    Discount,
    /// `subscription_days_to_renewal`: days until the current plan's next renewal.
    DaysToRenewal,
    /// `subscription_plan`: the current plan (a category column, not in the numeric block).
    Plan,
}

const PREFIX: &str = "subscription_";

impl SubscriptionMeasure {
    /// The column name.
    pub fn name(self) -> String {
        let stem = match self {
            Self::LifeDays => "life_days",
            Self::Returns => "returns",
            Self::Concurrent => "count",
            Self::Mrr => "mrr",
            Self::MrrChange { days } => return format!("{PREFIX}mrr_change_{days}d"),
            Self::Upgrades => "upgrades",
            Self::Downgrades => "downgrades",
            Self::MonthsOnPlan => "months_on_plan",
            Self::BillingMonths => "billing_months",
            Self::Seats => "seats",
            Self::Discount => "discount",
            Self::DaysToRenewal => "days_to_renewal",
            Self::Plan => "plan",
        };
        format!("{PREFIX}{stem}")
    }

    /// The measure a column called `name` is, if it is one ([`Self::name`] read backwards).
    pub fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_prefix(PREFIX)?;
        if let Some(days) = stem
            .strip_prefix("mrr_change_")
            .and_then(|rest| rest.strip_suffix('d'))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(Self::MrrChange {
                days: days.parse().ok()?,
            });
        }
        Some(match stem {
            "life_days" => Self::LifeDays,
            "returns" => Self::Returns,
            "count" => Self::Concurrent,
            "mrr" => Self::Mrr,
            "upgrades" => Self::Upgrades,
            "downgrades" => Self::Downgrades,
            "months_on_plan" => Self::MonthsOnPlan,
            "billing_months" => Self::BillingMonths,
            "seats" => Self::Seats,
            "discount" => Self::Discount,
            "days_to_renewal" => Self::DaysToRenewal,
            "plan" => Self::Plan,
            _ => return None,
        })
    }

    /// What the column measures.
    pub fn meaning(self) -> String {
        match self {
            Self::LifeDays => "days from the start of the current life (the first period after the customer's last \
                               return, or their first period) to the as-of date"
                .into(),
            Self::Returns => "times the customer came back after churning (a period starting more than the grace \
                              period after all earlier periods ended)"
                .into(),
            Self::Concurrent => "subscription periods running at the as-of date (several: concurrent plans)".into(),
            Self::Mrr => "monthly recurring revenue of the periods running at the as-of date (amount / billing \
                          months when no MRR column is mapped)"
                .into(),
            Self::MrrChange { days } => format!(
                "MRR at the as-of date minus MRR {days} days before (0 when not subscribed then), from the \
                 periods known at the as-of date"
            ),
            Self::Upgrades => "plan changes that raised the MRR: a period following another of the same life (which \
                               ended on or before its start) on another plan, with no third period covering the \
                               day before it starts (any period when no plan is mapped)"
                .into(),
            Self::Downgrades => "plan changes that lowered the MRR, counted as upgrades are".into(),
            Self::MonthsOnPlan => "months (of 30.4375 days) since the customer moved to the current plan, through \
                                   renewals and short pauses on it"
                .into(),
            Self::BillingMonths => "billing period of the current plan in months (12: annual)".into(),
            Self::Seats => "seats (quantity) of the periods running at the as-of date".into(),
            Self::Discount => "discount of the current plan: the share of the list price taken off".into(),
            Self::DaysToRenewal => "days from the as-of date to the current plan's next renewal: its start plus a \
                                    whole number of billing periods (an end after the as-of date is not known \
                                    then)"
                .into(),
            Self::Plan => "the current plan: of the periods running at the as-of date, the one with the most MRR"
                .into(),
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> &'static str {
        match self {
            Self::LifeDays | Self::DaysToRenewal => "days",
            Self::Returns | Self::Concurrent | Self::Upgrades | Self::Downgrades => "count",
            Self::Mrr | Self::MrrChange { .. } => "currency per month",
            Self::MonthsOnPlan | Self::BillingMonths => "months",
            Self::Seats => "seats",
            Self::Discount => "share",
            Self::Plan => "category",
        }
    }

    /// The period it covers relative to the as-of date.
    pub fn window(self) -> String {
        match self {
            Self::MrrChange { days } => format!("last {days} days"),
            Self::Concurrent
            | Self::Mrr
            | Self::BillingMonths
            | Self::Seats
            | Self::Discount
            | Self::Plan => "at the as-of date".into(),
            Self::DaysToRenewal => "from the as-of date".into(),
            Self::LifeDays | Self::Returns | Self::Upgrades | Self::Downgrades | Self::MonthsOnPlan => {
                "up to the as-of date".into()
            }
        }
    }

    /// The short name people read (see [`super::layout::readable_name`]).
    pub fn readable(self) -> String {
        match self {
            Self::LifeDays => "Days subscribed (current life)".into(),
            Self::Returns => "Returns after churning".into(),
            Self::Concurrent => "Running subscriptions".into(),
            Self::Mrr => "Monthly recurring revenue".into(),
            Self::MrrChange { days } => format!("MRR change over the last {days} days"),
            Self::Upgrades => "Plan upgrades".into(),
            Self::Downgrades => "Plan downgrades".into(),
            Self::MonthsOnPlan => "Months on the current plan".into(),
            Self::BillingMonths => "Billing period (months)".into(),
            Self::Seats => "Seats".into(),
            Self::Discount => "Discount".into(),
            Self::DaysToRenewal => "Days to renewal".into(),
            Self::Plan => "Subscription plan".into(),
        }
    }
}

/// Where the subscription features sit in a numeric row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionBlock {
    /// Position of the first numeric feature.
    pub start: usize,
    /// The numeric features in row order.
    pub features: Vec<SubscriptionMeasure>,
    /// Whether the `subscription_plan` category column is written.
    pub plan: bool,
}

/// One period of a customer, as the engine reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodRow {
    /// First day covered.
    pub start: Day,
    /// First day not covered; `None` while running.
    pub end: Option<Day>,
    /// Plan index (0 when no plan is mapped).
    pub plan: u32,
    /// Monthly recurring revenue.
    pub mrr: f64,
    /// Billing period in months.
    pub billing_months: u32,
    /// Seats (NaN when unknown).
    pub seats: f64,
    /// Discount share (NaN when unknown).
    pub discount: f64,
}

/// Groups the periods by customer, each customer's sorted by start (then end, plan and MRR, so that
/// results do not depend on the file order).
pub fn group(customers: usize, table: &Subscriptions) -> Grouped<PeriodRow> {
    let empty = PeriodRow {
        start: 0,
        end: None,
        plan: 0,
        mrr: 0.0,
        billing_months: 1,
        seats: f64::NAN,
        discount: f64::NAN,
    };
    let optional = |column: &Option<Vec<f64>>, i: usize| column.as_ref().map_or(f64::NAN, |v| v[i]);
    Grouped::build(
        customers,
        &table.customer,
        |i| PeriodRow {
            start: table.start[i],
            end: table.end[i],
            plan: table.plan_of(i),
            mrr: table.mrr[i],
            billing_months: table.billing_months[i],
            seats: optional(&table.quantity, i),
            discount: optional(&table.discount, i),
        },
        |rows| {
            rows.sort_unstable_by(|a, b| {
                (a.start, a.end.unwrap_or(Day::MAX), a.plan)
                    .cmp(&(b.start, b.end.unwrap_or(Day::MAX), b.plan))
                    .then(a.mrr.total_cmp(&b.mrr))
            });
        },
        empty,
    )
}

/// A customer's periods as known at an as-of day: those started by then, with ends after it unknown.
pub struct Known<'a> {
    rows: &'a [PeriodRow],
    as_of: Day,
    grace: i64,
}

impl<'a> Known<'a> {
    /// The periods of `rows` (sorted by start) known at `as_of`, with lives split by `grace_days`.
    pub fn new(rows: &'a [PeriodRow], as_of: Day, grace_days: u32) -> Self {
        Self {
            rows: &rows[..up_to(rows, as_of, |r| r.start)],
            as_of,
            grace: i64::from(grace_days),
        }
    }

    /// The end of period `r` as known at the as-of day (`None`: running then).
    fn end(&self, r: &PeriodRow) -> Option<Day> {
        r.end.filter(|&end| end <= self.as_of)
    }

    /// Whether period `r` covers day `day` (on or before the as-of day).
    fn covers(&self, r: &PeriodRow, day: Day) -> bool {
        r.start <= day && self.end(r).is_none_or(|end| end > day)
    }

    /// Whether a period is running at the as-of day: the customer is scored then.
    pub fn running(&self) -> bool {
        self.rows.iter().any(|r| self.end(r).is_none())
    }

    /// The first period of each life, by position.
    fn life_starts(&self) -> Vec<usize> {
        let mut starts = Vec::new();
        // The latest end of the periods so far (`None` inside: one is running).
        let mut covered: Option<Option<Day>> = None;
        for (i, r) in self.rows.iter().enumerate() {
            let new_life = match covered {
                None => true,
                Some(None) => false,
                Some(Some(end)) => i64::from(r.start) > i64::from(end) + self.grace,
            };
            if new_life {
                starts.push(i);
            }
            let end = self.end(r);
            covered = Some(match covered {
                Some(Some(latest)) if !new_life => end.map(|end| latest.max(end)),
                _ => end,
            });
        }
        starts
    }

    /// The period that `k` follows in its life, if any: of the periods that ended on or before `k`
    /// started, at most the grace period before, one on `k`'s own plan when there is one (a renewal),
    /// else one on another plan (a plan change) only when no third period covers the day before `k`
    /// starts (else `k` was added beside a running plan: an add-on, not a change); among them, the one
    /// that ended last (on ties, started last).
    fn predecessor(&self, k: usize) -> Option<usize> {
        let row = &self.rows[k];
        let start = row.start;
        let latest = |same_plan: bool| {
            (0..self.rows.len())
                .filter(|&p| p != k && (self.rows[p].plan == row.plan) == same_plan)
                .filter_map(|p| {
                    let end = self.end(&self.rows[p])?;
                    (end <= start && i64::from(start) - i64::from(end) <= self.grace).then_some((end, p))
                })
                .max_by_key(|&(end, p)| (end, self.rows[p].start, p))
                .map(|(_, p)| p)
        };
        if let Some(p) = latest(true) {
            return Some(p);
        }
        let p = latest(false)?;
        let added_beside = start.checked_sub(1).is_some_and(|before| {
            (0..self.rows.len()).any(|q| q != k && q != p && self.covers(&self.rows[q], before))
        });
        (!added_beside).then_some(p)
    }

    /// MRR of the periods covering `day`.
    fn mrr_on(&self, day: Day) -> f64 {
        self.rows
            .iter()
            .filter(|r| self.covers(r, day))
            .map(|r| r.mrr)
            .sum()
    }

    /// The current plan's period: of those running, the most MRR, then the latest start, then the last.
    fn main(&self) -> Option<usize> {
        (0..self.rows.len())
            .filter(|&i| self.end(&self.rows[i]).is_none())
            .max_by(|&a, &b| {
                let (ra, rb) = (&self.rows[a], &self.rows[b]);
                ra.mrr
                    .total_cmp(&rb.mrr)
                    .then(ra.start.cmp(&rb.start))
                    .then(a.cmp(&b))
            })
    }

    /// The plan index of the current plan.
    pub fn current_plan(&self) -> Option<u32> {
        self.main().map(|i| self.rows[i].plan)
    }
}

/// Fills the subscription block of `row` from a customer's periods known at `as_of` (`plans`: whether a
/// plan column is mapped, so that plan changes are changes of plan rather than of any period).
pub fn fill(block: &SubscriptionBlock, known: &Known<'_>, plans: bool, row: &mut [f64]) {
    let out = &mut row[block.start..block.start + block.features.len()];
    out.fill(f64::NAN);
    let Some(main) = known.main() else {
        return;
    };
    let as_of = known.as_of;
    let rows = known.rows;
    let lives = known.life_starts();
    let life_start = lives.last().map_or(as_of, |&first| rows[first].start);
    let (mut upgrades, mut downgrades) = (0.0, 0.0);
    for k in 0..rows.len() {
        let Some(p) = known.predecessor(k) else {
            continue;
        };
        let changed = !plans || rows[p].plan != rows[k].plan;
        if changed && rows[k].mrr > rows[p].mrr {
            upgrades += 1.0;
        } else if changed && rows[k].mrr < rows[p].mrr {
            downgrades += 1.0;
        }
    }
    // Back through the periods the current one follows while they are on the same plan.
    // Each step goes to a period that started earlier, so the walk ends.
    let mut on_plan = main;
    while let Some(p) = known.predecessor(on_plan) {
        if plans && rows[p].plan != rows[main].plan {
            break;
        }
        on_plan = p;
    }
    let running = || rows.iter().filter(|r| known.end(r).is_none());
    let current = &rows[main];
    let mrr = known.mrr_on(as_of);
    for (value, &feature) in out.iter_mut().zip(&block.features) {
        *value = match feature {
            SubscriptionMeasure::LifeDays => f64::from(as_of - life_start),
            SubscriptionMeasure::Returns => lives.len().saturating_sub(1) as f64,
            SubscriptionMeasure::Concurrent => running().count() as f64,
            SubscriptionMeasure::Mrr => mrr,
            SubscriptionMeasure::MrrChange { days } => {
                let then = i64::from(as_of) - i64::from(days);
                mrr - Day::try_from(then).map_or(0.0, |then| known.mrr_on(then))
            }
            SubscriptionMeasure::Upgrades => upgrades,
            SubscriptionMeasure::Downgrades => downgrades,
            SubscriptionMeasure::MonthsOnPlan => f64::from(as_of - rows[on_plan].start) / DAYS_PER_MONTH,
            SubscriptionMeasure::BillingMonths => f64::from(current.billing_months),
            SubscriptionMeasure::Seats => {
                let seats: Vec<f64> = running().map(|r| r.seats).filter(|s| !s.is_nan()).collect();
                if seats.is_empty() {
                    f64::NAN
                } else {
                    seats.iter().sum()
                }
            }
            SubscriptionMeasure::Discount => current.discount,
            SubscriptionMeasure::DaysToRenewal => next_renewal(current.start, current.billing_months, as_of)
                .map_or(f64::NAN, |day| f64::from(day - as_of)),
            SubscriptionMeasure::Plan => f64::NAN,
        };
    }
}

/// The first renewal of a period after `as_of`: `start` plus a whole number (at least 1) of billing
/// periods of `months` months (a day past the end of a month falls on its last day, as in 31 January +
/// 1 month = the end of February).
pub fn next_renewal(start: Day, months: u32, as_of: Day) -> Option<Day> {
    let first = date_from_days(start);
    let now = date_from_days(as_of);
    let elapsed = (now.year() - first.year()) * 12 + now.month() as i32 - first.month() as i32;
    let months = months.max(1);
    let mut k = (u32::try_from(elapsed).unwrap_or(0) / months)
        .saturating_sub(1)
        .max(1);
    loop {
        let day = days_from_epoch(first.checked_add_months(Months::new(k.checked_mul(months)?))?);
        if day > as_of {
            return Some(day);
        }
        k += 1;
    }
}

/// The day the life running at `as_of` churns, from every period of the customer (`rows`, sorted by
/// start): the end of its last period, when none starts within `grace_days` after it; `None` when the
/// life has a period without an end, or no period runs at `as_of`.
pub fn churn_of_life_at(rows: &[PeriodRow], as_of: Day, grace_days: u32) -> Option<Day> {
    let grace = i64::from(grace_days);
    let mut covered: Option<Option<Day>> = None;
    let mut life_has_as_of = false;
    for r in rows {
        if let Some(Some(end)) = covered
            && i64::from(r.start) > i64::from(end) + grace
        {
            // A new life starts: the previous one churned at `end`.
            if life_has_as_of {
                return Some(end);
            }
            covered = None;
        }
        if r.start <= as_of && r.end.is_none_or(|end| end > as_of) {
            life_has_as_of = true;
        }
        covered = Some(match (covered, r.end) {
            (None, end) => end,
            (Some(Some(a)), Some(b)) => Some(a.max(b)),
            (Some(_), _) => None,
        });
    }
    match covered {
        Some(Some(end)) if life_has_as_of => Some(end),
        _ => None,
    }
}

/// The first start and, when the customer's last life has ended, the end of its last period: what
/// `[customers] signup_date` and `churn_date` must agree with.
pub fn signup_and_last_end(rows: &[PeriodRow]) -> Option<(Day, Option<Day>)> {
    let first = rows.first()?.start;
    let last_end = rows
        .iter()
        .try_fold(Day::MIN, |latest, r| r.end.map(|end| latest.max(end)));
    Some((first, last_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(start: Day, end: Option<Day>, plan: u32, mrr: f64) -> PeriodRow {
        PeriodRow {
            start,
            end,
            plan,
            mrr,
            billing_months: 1,
            seats: f64::NAN,
            discount: f64::NAN,
        }
    }

    #[test]
    fn names_parse_back() {
        let all = SubscriptionInputs {
            plans: true,
            seats: true,
            discounts: true,
        };
        let mut features = all.features(&[7, 30]);
        features.push(SubscriptionMeasure::Plan);
        for feature in features {
            assert_eq!(
                SubscriptionMeasure::parse(&feature.name()),
                Some(feature),
                "{}",
                feature.name()
            );
        }
        for name in [
            "subscription_mrr_change_d",
            "subscription_",
            "mrr",
            "subscription_mrr_30d",
        ] {
            assert_eq!(SubscriptionMeasure::parse(name), None, "{name}");
        }
    }

    #[test]
    fn renewals_follow_the_billing_period_from_the_start() {
        let day = |text: &str| days_from_epoch(crate::time::parse_date(text).expect("date"));
        // Monthly from 31 January: the end of February, then 31 March.
        assert_eq!(
            next_renewal(day("2024-01-31"), 1, day("2024-02-10")),
            Some(day("2024-02-29"))
        );
        assert_eq!(
            next_renewal(day("2024-01-31"), 1, day("2024-02-29")),
            Some(day("2024-03-31"))
        );
        // Annual from 2023-03-01, as of 2024-06-30: 2025-03-01.
        assert_eq!(
            next_renewal(day("2023-03-01"), 12, day("2024-06-30")),
            Some(day("2025-03-01"))
        );
        // On the start day itself the first renewal is one period later.
        assert_eq!(
            next_renewal(day("2024-05-15"), 3, day("2024-05-15")),
            Some(day("2024-08-15"))
        );
    }

    #[test]
    fn lives_split_after_the_grace_period_only() {
        // 0..30, then 40..70 (a 10-day pause), then 200.. (a return after 130 days).
        let rows = [
            period(0, Some(30), 0, 10.0),
            period(40, Some(70), 0, 10.0),
            period(200, None, 0, 10.0),
        ];
        assert_eq!(churn_of_life_at(&rows, 50, 30), Some(70));
        assert_eq!(churn_of_life_at(&rows, 10, 30), Some(70));
        assert_eq!(churn_of_life_at(&rows, 250, 30), None);
        // Between periods nothing runs.
        assert_eq!(churn_of_life_at(&rows, 35, 30), None);
        // With a grace of 5 days the pause is churn.
        assert_eq!(churn_of_life_at(&rows, 10, 5), Some(30));
        assert_eq!(Known::new(&rows, 250, 30).life_starts(), [0, 2]);
        assert_eq!(Known::new(&rows, 250, 5).life_starts(), [0, 1, 2]);
        assert_eq!(signup_and_last_end(&rows), Some((0, None)));
        assert_eq!(signup_and_last_end(&rows[..2]), Some((0, Some(70))));
    }
}
