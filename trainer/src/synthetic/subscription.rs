//! A synthetic customer's subscription periods, derived from their signup, plan and churn time: terms of
//! whole billing periods from the signup day on, monthly (four customers in five) or annual, with a plan
//! change up or down at some renewals and now and then a short pause (shorter than the default grace
//! period of 30 days, so not churn). The last term ends on the churn day when the customer churns within
//! the period, else it is running (no end). Some churned customers come back once, long enough after
//! churning to start a second life.
//!
//! The periods are drawn from their own random stream, so the other files are the same with or without
//! them.

use super::customer::{PLANS, Profile};
use rand::Rng;

/// Monthly list price of each plan, in the order of [`PLANS`].
pub const MONTHLY_PRICES: [f64; 3] = [19.0, 49.0, 99.0];

/// Days of a monthly and of an annual term's billing period, as the synthetic calendar counts them.
const MONTH_DAYS: u32 = 30;
const YEAR_DAYS: u32 = 365;

/// One subscription period, in days from the start of the simulated period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// First day covered.
    pub start_day: u32,
    /// First day not covered; `None` while running at the end of the data.
    pub end_day: Option<u32>,
    /// Index into [`PLANS`].
    pub plan: usize,
    /// Amount billed per billing period.
    pub amount: f64,
    /// Billing period in months.
    pub billing_months: u32,
    /// Seats.
    pub seats: u32,
    /// Share of the list price taken off.
    pub discount: f64,
}

/// The periods of `profile` over `days` simulated days.
pub fn periods<R: Rng + ?Sized>(profile: &Profile, days: u32, rng: &mut R) -> Vec<Period> {
    let annual = rng.random::<f64>() < 0.2;
    let (billing_months, cycle_days) = if annual { (12, YEAR_DAYS) } else { (1, MONTH_DAYS) };
    let discount = if annual { 0.15 } else { 0.0 };
    let seats = 1 + (rng.random::<f64>() * 5.0) as u32;
    let churn_day = (profile.churn_time.ceil() as u64).min(u64::from(u32::MAX)) as u32;
    let churns = churn_day < days;
    let mut plan = profile.plan;
    let mut start = profile.signup_day;
    let mut out = Vec::new();
    let period = |start_day, end_day, plan: usize| Period {
        start_day,
        end_day,
        plan,
        amount: MONTHLY_PRICES[plan] * f64::from(billing_months) * f64::from(seats) * (1.0 - discount),
        billing_months,
        seats,
        discount,
    };
    loop {
        let cycles = if annual {
            1
        } else {
            2 + (rng.random::<f64>() * 10.0) as u32
        };
        let end = start + cycles * cycle_days;
        if churns && end >= churn_day {
            if churn_day > start {
                out.push(period(start, Some(churn_day), plan));
            }
            break;
        }
        if end >= days {
            out.push(period(start, None, plan));
            break;
        }
        out.push(period(start, Some(end), plan));
        // At a renewal: sometimes a move to the next plan up or down, sometimes a short pause.
        let draw = rng.random::<f64>();
        if draw < 0.15 && plan + 1 < PLANS.len() {
            plan += 1;
        } else if draw < 0.25 && plan > 0 {
            plan -= 1;
        }
        let pause = if rng.random::<f64>() < 0.1 {
            1 + (rng.random::<f64>() * 20.0) as u32
        } else {
            0
        };
        start = if end + pause < days && (!churns || end + pause < churn_day) {
            end + pause
        } else {
            end
        };
    }
    // Some churned customers come back 45 to 240 days later, on a monthly running subscription.
    if churns && rng.random::<f64>() < 0.15 {
        let back = churn_day + 45 + (rng.random::<f64>() * 195.0) as u32;
        if back < days {
            out.push(Period {
                start_day: back,
                end_day: None,
                plan: profile.plan,
                amount: MONTHLY_PRICES[profile.plan] * f64::from(seats),
                billing_months: 1,
                seats,
                discount: 0.0,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::CustomerStreams;

    #[test]
    fn periods_start_at_signup_never_overlap_and_end_at_churn() {
        let days = 731;
        let mut returned = 0;
        let mut changed = 0;
        for index in 0..2_000 {
            let mut streams = CustomerStreams::new(7, index);
            let profile = Profile::draw(&mut streams.main, &mut streams.basket, index, days as usize);
            let periods = periods(&profile, days, &mut streams.main);
            let first = periods.first().expect("at least one period");
            assert_eq!(first.start_day, profile.signup_day);
            for pair in periods.windows(2) {
                let end = pair[0].end_day.expect("only the last period runs");
                assert!(end <= pair[1].start_day, "{pair:?}");
                changed += usize::from(pair[0].plan != pair[1].plan);
            }
            for p in &periods {
                assert!(
                    p.end_day.is_none_or(|end| end > p.start_day && end < days),
                    "{p:?}"
                );
            }
            let churn_day = profile.churn_time.ceil() as u32;
            if churn_day < days {
                let ended = periods.iter().filter_map(|p| p.end_day).max();
                assert_eq!(ended.map(|d| d <= churn_day), Some(true), "{periods:?}");
                returned += usize::from(periods.last().is_some_and(|p| p.start_day > churn_day));
            } else {
                assert_eq!(periods.last().map(|p| p.end_day), Some(None), "{periods:?}");
            }
        }
        assert!(
            returned > 0 && changed > 0,
            "returns {returned}, plan changes {changed}"
        );
    }
}
