//! What a synthetic customer does between signup and churn: orders (with several lines and the odd return),
//! logins with their page views, support tickets and complaints. What each line holds (product, category,
//! units) is drawn by `basket` from the customer's basket stream; a return is of its line's product.
//!
//! Every process is a Poisson process whose intensity follows the calendar's seasonality and, in the weeks
//! before churn, the customer's decline: purchases and logins fade to a fraction of their usual rate while
//! support tickets and complaints surge. At churn everything stops. Intensities that vary in time are sampled
//! by thinning (draw from a constant envelope, keep each point with probability intensity / envelope).
//! Baskets narrow in the same weeks: fewer categories and fewer units per line (see `basket`).

use super::basket::{self, Line};
use super::calendar::Calendar;
use super::customer::Profile;
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Poisson};

/// How many days before churn the decline starts.
pub const DECLINE_WINDOW_DAYS: f64 = 56.0;
/// Purchase and login intensity just before churn, relative to the customer's usual one.
const DECLINE_FLOOR: f64 = 0.15;
/// Extra support-ticket intensity at churn: at the end of the decline window tickets are `1 + surge` times
/// as frequent as usual.
const TICKET_SURGE: f64 = 5.0;
/// Extra complaint intensity at churn, as for tickets.
const COMPLAINT_SURGE: f64 = 8.0;
/// Mean number of lines beyond the first in one order.
const EXTRA_LINES_MEAN: f64 = 0.3;
/// Probability that one purchase line is returned later.
const RETURN_PROBABILITY: f64 = 0.03;
/// Latest return, in days after the purchase.
const RETURN_WINDOW_DAYS: f64 = 30.0;
/// Largest acquisition-order probability: most customers buy on the day they sign up.
const MAX_ACQUISITION_ORDER_PROBABILITY: f64 = 0.6;
/// Logins per order at the population level.
const LOGINS_PER_ORDER: f64 = 0.5;
/// Mean number of page views that follow one login.
const PAGE_VIEWS_PER_LOGIN: f64 = 1.5;
/// Support tickets per year of an average customer outside the decline window.
const TICKETS_PER_YEAR: f64 = 0.8;
/// Complaints per year of an average customer outside the decline window.
const COMPLAINTS_PER_YEAR: f64 = 0.15;
/// Orders of one customer are numbered below this bound (integer order ids leave room for it).
pub const MAX_ORDERS_PER_CUSTOMER: u32 = 999_999;
/// Quiet spells per year of activity: alive customers sometimes go quiet for months and come back, so a long
/// silence is a hint of churn, not proof.
const QUIET_SPELLS_PER_YEAR: f64 = 1.2;
/// Mean length of a quiet spell, in days.
const QUIET_SPELL_MEAN_DAYS: f64 = 150.0;
/// Purchase intensity during a quiet spell, relative to the usual one.
const QUIET_PURCHASE_FACTOR: f64 = 0.03;
/// Login intensity during a quiet spell: quiet customers still look in now and then.
const QUIET_LOGIN_FACTOR: f64 = 0.25;
/// Number of customers whose profiles calibrate the purchase rate.
const CALIBRATION_SAMPLE: u64 = 20_000;

/// The kinds of events in `events.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The customer signed in; value = session length in minutes.
    Login,
    /// A page was viewed; value = seconds on the page, sometimes unknown.
    PageView,
    /// A support ticket was opened; value = hours until it was resolved.
    SupportTicket,
    /// A complaint was filed; no value.
    Complaint,
}

impl EventKind {
    /// Every kind, in the order used for counts.
    pub const ALL: [EventKind; 4] = [Self::Login, Self::PageView, Self::SupportTicket, Self::Complaint];

    /// The `event_type` string written to the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::PageView => "page_view",
            Self::SupportTicket => "support_ticket",
            Self::Complaint => "complaint",
        }
    }
}

/// Receives one customer's simulated activity; times are days since the start of the period.
pub trait ActivitySink {
    /// One transaction row: a purchase line (`amount >= 0`) or a return (`amount < 0`) of order `order`,
    /// with what it holds (a return's quantity is negative, as its amount).
    fn transaction(&mut self, time: f64, amount: f64, order: u32, line: Line);
    /// One event row.
    fn event(&mut self, kind: EventKind, time: f64, value: Option<f64>);
}

/// Population-level rates, calibrated so that the mean number of transaction rows per customer matches the
/// request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Orders per day of a customer with relative purchase rate 1 on a day of seasonal weight 1.
    pub orders_per_day: f64,
    /// Probability of an order on the day of signup, on top of the Poisson process.
    pub acquisition_order_probability: f64,
}

impl Rates {
    /// Calibrates the order rate on a deterministic sample of the run's own customers, so the mean number of
    /// transaction rows per customer comes out close to `transactions_per_customer`.
    pub fn calibrate(calendar: &Calendar, seed: u64, customers: u64, transactions_per_customer: f64) -> Self {
        let rows_per_order = (1.0 + EXTRA_LINES_MEAN) * (1.0 + RETURN_PROBABILITY);
        let target_orders = transactions_per_customer / rows_per_order;
        let acquisition_order_probability = MAX_ACQUISITION_ORDER_PROBABILITY.min(target_orders / 2.0);
        let activity = expected_activity_by_age(calendar.days());
        let sample = customers.clamp(1, CALIBRATION_SAMPLE);
        let exposure: f64 = (0..sample)
            .map(|k| (u128::from(k) * u128::from(customers) / u128::from(sample)) as u64)
            .map(|index| {
                let mut streams = super::rng::CustomerStreams::new(seed, index);
                let profile = Profile::draw(&mut streams.main, &mut streams.basket, index, calendar.days());
                profile.purchase_rate * expected_purchase_weight(calendar, &profile, &activity)
            })
            .sum::<f64>()
            / sample as f64;
        let orders_per_day = if exposure > 0.0 {
            (target_orders - acquisition_order_probability).max(0.0) / exposure
        } else {
            0.0
        };
        Self {
            orders_per_day,
            acquisition_order_probability,
        }
    }
}

/// The spells in which an alive customer is quiet, as `[from, to)` intervals in time order.
struct QuietSpells {
    spans: Vec<(f64, f64)>,
}

impl QuietSpells {
    fn draw<R: Rng + ?Sized>(rng: &mut R, start: f64, stop: f64) -> Self {
        let mut spans = Vec::new();
        let (Ok(between), Ok(length)) = (
            Exp::<f64>::new(QUIET_SPELLS_PER_YEAR / 365.25),
            Exp::<f64>::new(1.0 / QUIET_SPELL_MEAN_DAYS),
        ) else {
            return Self { spans };
        };
        let mut t = start;
        loop {
            t += between.sample(rng);
            if t >= stop {
                break;
            }
            let until = t + length.sample(rng);
            spans.push((t, until));
            t = until;
        }
        Self { spans }
    }

    /// Whether `t` falls in a quiet spell.
    fn is_quiet(&self, t: f64) -> bool {
        self.spans.iter().any(|&(from, to)| t >= from && t < to)
    }
}

/// Purchase and login intensity multiplier at time `t` for a customer churning at `churn`.
fn decline(t: f64, churn: f64) -> f64 {
    let until_churn = churn - t;
    if until_churn >= DECLINE_WINDOW_DAYS {
        1.0
    } else {
        DECLINE_FLOOR + (1.0 - DECLINE_FLOOR) * (until_churn / DECLINE_WINDOW_DAYS).max(0.0)
    }
}

/// How far time `t` is into the decline before churn at `churn`: 0 before the decline window, rising
/// linearly to 1 at churn.
fn decline_progress(t: f64, churn: f64) -> f64 {
    1.0 - ((churn - t) / DECLINE_WINDOW_DAYS).clamp(0.0, 1.0)
}

/// Ticket or complaint intensity multiplier at time `t`: 1 outside the decline window, rising linearly to
/// `1 + surge` at churn.
fn surge(t: f64, churn: f64, surge: f64) -> f64 {
    let progress = 1.0 - ((churn - t) / DECLINE_WINDOW_DAYS).clamp(0.0, 1.0);
    1.0 + surge * progress
}

/// Expected purchase intensity (relative to the usual one) of an alive customer on each day since signup,
/// given quiet spells. Customers start active; being quiet or not is a two-state Markov process with
/// exponential stays, so the chance of being quiet `s` days in is `π (1 − e^(−κ s))`, where `π` is the
/// long-run quiet share and `κ` the sum of the two switching rates.
fn expected_activity_by_age(days: usize) -> Vec<f64> {
    let active_days = 365.25 / QUIET_SPELLS_PER_YEAR;
    let quiet_share = QUIET_SPELL_MEAN_DAYS / (active_days + QUIET_SPELL_MEAN_DAYS);
    let switching = 1.0 / active_days + 1.0 / QUIET_SPELL_MEAN_DAYS;
    (0..days)
        .map(|age| {
            let quiet = quiet_share * (1.0 - (-switching * (age as f64 + 0.5)).exp());
            1.0 - quiet * (1.0 - QUIET_PURCHASE_FACTOR)
        })
        .collect()
}

/// The integral of seasonal weight × decline × expected activity over the customer's life within the
/// period: their expected number of Poisson orders per unit of order rate.
fn expected_purchase_weight(calendar: &Calendar, profile: &Profile, activity_by_age: &[f64]) -> f64 {
    let start = f64::from(profile.signup_day);
    let stop = profile.churn_time.min(calendar.end_time());
    let mut total = 0.0;
    let mut from = start;
    // Weight and activity are constant per day and the decline is linear, so the midpoint of each piece
    // between day boundaries gives its integral.
    while from < stop {
        let to = (from.floor() + 1.0).min(stop);
        let age = (from - start) as usize;
        let activity = activity_by_age.get(age).copied().unwrap_or(1.0);
        total += calendar.weight_at(from)
            * (to - from)
            * decline(0.5 * (from + to), profile.churn_time)
            * activity;
        from = to;
    }
    total
}

/// Rounds to cents.
fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// Simulates everything customer `profile` does within the period and hands it to `sink`.
///
/// `rng` and `basket_rng` must be the generators the profile was drawn from, right after drawing it.
pub fn simulate<R: Rng + ?Sized, B: Rng + ?Sized, S: ActivitySink>(
    profile: &Profile,
    calendar: &Calendar,
    rates: &Rates,
    rng: &mut R,
    basket_rng: &mut B,
    sink: &mut S,
) {
    let end = calendar.end_time();
    let start = f64::from(profile.signup_day);
    let stop = profile.churn_time.min(end);
    if stop <= start {
        return;
    }
    let quiet = QuietSpells::draw(rng, start, stop);
    simulate_orders(
        profile, calendar, rates, &quiet, rng, basket_rng, sink, start, stop,
    );
    simulate_sessions(profile, calendar, rates, &quiet, rng, sink, start, stop);
    let ticket_rate = TICKETS_PER_YEAR / 365.25 * (0.7 * profile.dissatisfaction - 0.245).exp();
    simulate_service(
        rng,
        sink,
        EventKind::SupportTicket,
        ticket_rate,
        TICKET_SURGE,
        profile.churn_time,
        start,
        stop,
    );
    let complaint_rate = COMPLAINTS_PER_YEAR / 365.25 * (profile.dissatisfaction - 0.5).exp();
    simulate_service(
        rng,
        sink,
        EventKind::Complaint,
        complaint_rate,
        COMPLAINT_SURGE,
        profile.churn_time,
        start,
        stop,
    );
}

/// Orders: an optional acquisition order on the signup day, then a seasonal Poisson process that fades
/// before churn. Each order has one or more lines; a line is sometimes returned within 30 days, wholly (all
/// its units) or in part (its units in proportion to the refund, at least one).
#[allow(clippy::too_many_arguments)]
fn simulate_orders<R: Rng + ?Sized, B: Rng + ?Sized, S: ActivitySink>(
    profile: &Profile,
    calendar: &Calendar,
    rates: &Rates,
    quiet: &QuietSpells,
    rng: &mut R,
    basket_rng: &mut B,
    sink: &mut S,
    start: f64,
    stop: f64,
) {
    let end = calendar.end_time();
    let extra_lines = Poisson::<f64>::new(EXTRA_LINES_MEAN).ok();
    let line_amount = LogNormal::<f64>::new(profile.spend_level.ln(), 0.5).ok();
    let mut order = 0u32;
    let mut place_order = |time: f64, rng: &mut R, sink: &mut S| {
        if order >= MAX_ORDERS_PER_CUSTOMER {
            return;
        }
        let progress = decline_progress(time, profile.churn_time);
        order += 1;
        let lines = 1 + extra_lines.as_ref().map_or(0, |d| d.sample(rng) as u32);
        for _ in 0..lines {
            let amount = cents(
                line_amount
                    .as_ref()
                    .map_or(profile.spend_level, |d| d.sample(rng)),
            )
            .max(0.01);
            let line = basket::draw_line(profile, progress, basket_rng);
            sink.transaction(time, amount, order, line);
            if rng.random::<f64>() < RETURN_PROBABILITY {
                let return_time = time + rng.random_range(1.0..RETURN_WINDOW_DAYS);
                // Half the returns are of the whole line, the others partial refunds.
                let refunded = if rng.random::<bool>() {
                    amount
                } else {
                    cents(amount * rng.random_range(0.2..1.0))
                };
                if return_time < end {
                    let refunded = refunded.max(0.01);
                    let units = line.quantity as f64 * (refunded / amount).min(1.0);
                    let returned = Line {
                        quantity: -(units.round() as i64).clamp(1, line.quantity),
                        ..line
                    };
                    sink.transaction(return_time, -refunded, order, returned);
                }
            }
        }
    };

    if rng.random::<f64>() < rates.acquisition_order_probability {
        let time = calendar.time_in_day(profile.signup_day, rng);
        if time < profile.churn_time {
            place_order(time, rng, sink);
        }
    }
    let envelope = rates.orders_per_day * profile.purchase_rate * calendar.max_weight();
    let Ok(gaps) = Exp::<f64>::new(envelope) else {
        return;
    };
    let mut t = start;
    loop {
        t += gaps.sample(rng);
        if t >= stop || !t.is_finite() {
            break;
        }
        let quiet_factor = if quiet.is_quiet(t) {
            QUIET_PURCHASE_FACTOR
        } else {
            1.0
        };
        let keep =
            calendar.weight_at(t) * decline(t, profile.churn_time) * quiet_factor / calendar.max_weight();
        if rng.random::<f64>() < keep {
            let time = calendar.time_in_day(t as u32, rng);
            place_order(time, rng, sink);
        }
    }
}

/// Logins follow the purchase rhythm (seasonal, fading before churn); each one is followed by a few page
/// views within the session.
#[allow(clippy::too_many_arguments)]
fn simulate_sessions<R: Rng + ?Sized, S: ActivitySink>(
    profile: &Profile,
    calendar: &Calendar,
    rates: &Rates,
    quiet: &QuietSpells,
    rng: &mut R,
    sink: &mut S,
    start: f64,
    stop: f64,
) {
    let envelope = LOGINS_PER_ORDER * rates.orders_per_day * profile.engagement * calendar.max_weight();
    let Ok(gaps) = Exp::<f64>::new(envelope) else {
        return;
    };
    let session_minutes = LogNormal::<f64>::new(6f64.ln(), 0.8).ok();
    let page_seconds = LogNormal::<f64>::new(40f64.ln(), 0.9).ok();
    let page_views = Poisson::<f64>::new(PAGE_VIEWS_PER_LOGIN).ok();
    let mut t = start;
    loop {
        t += gaps.sample(rng);
        if t >= stop || !t.is_finite() {
            break;
        }
        let quiet_factor = if quiet.is_quiet(t) {
            QUIET_LOGIN_FACTOR
        } else {
            1.0
        };
        let keep =
            calendar.weight_at(t) * decline(t, profile.churn_time) * quiet_factor / calendar.max_weight();
        if rng.random::<f64>() >= keep {
            continue;
        }
        let login = calendar.time_in_day(t as u32, rng);
        let minutes = session_minutes.as_ref().map_or(6.0, |d| d.sample(rng));
        sink.event(EventKind::Login, login, Some((minutes * 10.0).round() / 10.0));
        let views = page_views.as_ref().map_or(0, |d| d.sample(rng) as u32);
        for _ in 0..views {
            let offset_days = rng.random::<f64>() * minutes / (24.0 * 60.0);
            let seconds = page_seconds.as_ref().map_or(40.0, |d| d.sample(rng)).round();
            // Some page views come from clients that do not report time on page.
            let value = (rng.random::<f64>() >= 0.1).then_some(seconds);
            sink.event(
                EventKind::PageView,
                (login + offset_days).min(end_of_day(login)),
                value,
            );
        }
    }
}

/// The last representable instant of the day containing `t`, so that session offsets stay on its day.
fn end_of_day(t: f64) -> f64 {
    t.floor() + 1.0 - 1e-9
}

/// Support tickets or complaints: a constant rate set by dissatisfaction, surging before churn.
#[allow(clippy::too_many_arguments)]
fn simulate_service<R: Rng + ?Sized, S: ActivitySink>(
    rng: &mut R,
    sink: &mut S,
    kind: EventKind,
    rate_per_day: f64,
    surge_size: f64,
    churn: f64,
    start: f64,
    stop: f64,
) {
    let envelope = rate_per_day * (1.0 + surge_size);
    let Ok(gaps) = Exp::<f64>::new(envelope) else {
        return;
    };
    let resolution_hours = LogNormal::<f64>::new(20f64.ln(), 1.0).ok();
    let mut t = start;
    loop {
        t += gaps.sample(rng);
        if t >= stop || !t.is_finite() {
            break;
        }
        if rng.random::<f64>() * (1.0 + surge_size) >= surge(t, churn, surge_size) {
            continue;
        }
        let value = match kind {
            EventKind::SupportTicket => resolution_hours
                .as_ref()
                .map(|d| (d.sample(rng) * 10.0).round() / 10.0),
            _ => None,
        };
        sink.event(kind, t, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::CustomerStreams;
    use chrono::NaiveDate;

    /// Keeps one customer's rows.
    #[derive(Default)]
    struct Recorder {
        transactions: Vec<(f64, f64, u32)>,
        lines: Vec<Line>,
        events: Vec<(EventKind, f64, Option<f64>)>,
    }

    impl ActivitySink for Recorder {
        fn transaction(&mut self, time: f64, amount: f64, order: u32, line: Line) {
            self.transactions.push((time, amount, order));
            self.lines.push(line);
        }
        fn event(&mut self, kind: EventKind, time: f64, value: Option<f64>) {
            self.events.push((kind, time, value));
        }
    }

    fn calendar() -> Calendar {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        Calendar::new(day(2023, 1, 1), day(2024, 12, 31))
    }

    fn simulate_many(n: u64, per_customer: f64) -> Vec<(Profile, Recorder)> {
        let calendar = calendar();
        let rates = Rates::calibrate(&calendar, 11, n, per_customer);
        (0..n)
            .map(|index| {
                let mut streams = CustomerStreams::new(11, index);
                let profile = Profile::draw(&mut streams.main, &mut streams.basket, index, calendar.days());
                let mut recorder = Recorder::default();
                simulate(
                    &profile,
                    &calendar,
                    &rates,
                    &mut streams.main,
                    &mut streams.basket,
                    &mut recorder,
                );
                (profile, recorder)
            })
            .collect()
    }

    #[test]
    fn calibration_hits_the_requested_mean() {
        let customers = simulate_many(6_000, 20.0);
        let rows: usize = customers.iter().map(|(_, r)| r.transactions.len()).sum();
        let mean = rows as f64 / customers.len() as f64;
        assert!((18.0..22.0).contains(&mean), "mean rows per customer {mean}");
    }

    #[test]
    fn activity_stays_between_signup_and_churn() {
        let calendar = calendar();
        for (profile, recorder) in simulate_many(2_000, 20.0) {
            let signup = f64::from(profile.signup_day);
            for &(time, amount, _) in &recorder.transactions {
                assert!(time >= signup && time < calendar.end_time());
                if amount >= 0.0 {
                    // Purchases stop at churn (to the day: order times are placed within their day).
                    assert!(time < profile.churn_time.floor() + 1.0, "purchase after churn");
                }
            }
            for &(kind, time, _) in &recorder.events {
                assert!(
                    time >= signup && time < profile.churn_time.floor() + 1.0,
                    "{kind:?} after churn"
                );
            }
        }
    }

    #[test]
    fn churners_fade_and_complain_before_leaving() {
        // Compare, over customers who churn well inside the period, the four weeks before churn with the four
        // weeks that end eight weeks before it.
        let (mut late_orders, mut early_orders, mut late_tickets, mut early_tickets) =
            (0usize, 0usize, 0usize, 0usize);
        // Units on those purchase lines, late and early.
        let (mut late_units, mut early_units) = (0i64, 0i64);
        let mut churners = 0;
        for (profile, recorder) in simulate_many(20_000, 20.0) {
            let churn = profile.churn_time;
            if churn > 700.0 || churn - f64::from(profile.signup_day) < 120.0 {
                continue;
            }
            churners += 1;
            let in_window = |t: f64, from: f64, to: f64| t >= churn - from && t < churn - to;
            late_orders += recorder
                .transactions
                .iter()
                .filter(|x| x.1 >= 0.0 && in_window(x.0, 28.0, 0.0))
                .count();
            early_orders += recorder
                .transactions
                .iter()
                .filter(|x| x.1 >= 0.0 && in_window(x.0, 84.0, 56.0))
                .count();
            let tickets = |from, to| {
                recorder
                    .events
                    .iter()
                    .filter(|e| {
                        matches!(e.0, EventKind::SupportTicket | EventKind::Complaint)
                            && in_window(e.1, from, to)
                    })
                    .count()
            };
            let units = |from, to| {
                recorder
                    .transactions
                    .iter()
                    .zip(&recorder.lines)
                    .filter(|(x, _)| x.1 >= 0.0 && in_window(x.0, from, to))
                    .map(|(_, line)| line.quantity)
                    .sum::<i64>()
            };
            late_units += units(28.0, 0.0);
            early_units += units(84.0, 56.0);
            late_tickets += tickets(28.0, 0.0);
            early_tickets += tickets(84.0, 56.0);
        }
        assert!(churners > 2_000, "only {churners} churners");
        assert!(
            (late_orders as f64) < 0.55 * early_orders as f64,
            "orders {late_orders} vs {early_orders}"
        );
        // Baskets shrink too: fewer units per purchase line just before churn.
        let late_units_per_line = late_units as f64 / late_orders as f64;
        let early_units_per_line = early_units as f64 / early_orders as f64;
        assert!(
            late_units_per_line < early_units_per_line - 0.15,
            "units per line {late_units_per_line} vs {early_units_per_line}"
        );
        assert!(
            (late_tickets as f64) > 2.5 * early_tickets as f64,
            "tickets {late_tickets} vs {early_tickets}"
        );
    }

    #[test]
    fn returns_and_multi_line_orders_occur() {
        let customers = simulate_many(3_000, 20.0);
        let rows: Vec<&(f64, f64, u32)> = customers
            .iter()
            .flat_map(|(_, r)| r.transactions.iter())
            .collect();
        let returns = rows.iter().filter(|x| x.1 < 0.0).count() as f64 / rows.len() as f64;
        assert!((0.015..0.045).contains(&returns), "return share {returns}");
        // A return is of a product bought in its order, for at least one and at most the units bought.
        for (_, recorder) in &customers {
            let rows: Vec<_> = recorder.transactions.iter().zip(&recorder.lines).collect();
            for (returned, line) in rows.iter().filter(|(x, _)| x.1 < 0.0) {
                assert!(line.quantity <= -1);
                assert!(
                    rows.iter().any(|(bought, bought_line)| bought.1 > 0.0
                        && bought.2 == returned.2
                        && bought_line.product == line.product
                        && bought_line.quantity >= -line.quantity),
                    "return of a product not bought in its order: {line:?}"
                );
            }
        }
        let multi_line = customers.iter().any(|(_, r)| {
            r.transactions
                .windows(2)
                .any(|w| w[0].2 == w[1].2 && w[0].1 >= 0.0 && w[1].1 >= 0.0)
        });
        assert!(multi_line);
    }
}
