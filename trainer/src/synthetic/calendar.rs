//! The simulated period: day indexing, seasonality and time of day.
//!
//! Time inside the simulation is a number of days (`f64`) since the start date at midnight UTC; day `d` is the
//! interval `[d, d + 1)`. Seasonality is a weight per day with mean about 1: a weekly rhythm (weekends busier)
//! times a yearly one (a December peak, a June trough).

use chrono::{Datelike, NaiveDate};
use rand::Rng;

/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Purchase intensity by weekday, Monday first: weekends and Fridays are busier.
const WEEKDAY_WEIGHTS: [f64; 7] = [0.90, 0.88, 0.92, 0.97, 1.08, 1.20, 1.05];

/// Relative activity by hour of day (UTC): quiet at night, a lunchtime bump and an evening peak.
const HOUR_WEIGHTS: [f64; 24] = [
    0.5, 0.3, 0.2, 0.15, 0.15, 0.25, 0.6, 1.2, 2.0, 2.6, 3.0, 3.3, 3.6, 3.4, 3.2, 3.1, 3.2, 3.6, 4.2, 4.6,
    4.4, 3.6, 2.4, 1.2,
];

/// The simulated period with its daily seasonal weights.
#[derive(Debug, Clone)]
pub struct Calendar {
    start: NaiveDate,
    start_micros: i64,
    /// Seasonal weight of each day of the period.
    weights: Vec<f64>,
    max_weight: f64,
    hour_cumulative: [f64; 24],
}

impl Calendar {
    /// The period from `start` to `end`, both days included. `end` must not be before `start`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Self {
        let days = usize::try_from((end - start).num_days() + 1).unwrap_or(1).max(1);
        let weekday_mean = WEEKDAY_WEIGHTS.iter().sum::<f64>() / 7.0;
        let weights: Vec<f64> = start
            .iter_days()
            .take(days)
            .map(|date| {
                let weekly = WEEKDAY_WEIGHTS[date.weekday().num_days_from_monday() as usize] / weekday_mean;
                let day_of_year = f64::from(date.ordinal());
                let yearly = 1.0 + 0.2 * (std::f64::consts::TAU * (day_of_year - 350.0) / 365.25).cos();
                weekly * yearly
            })
            .collect();
        let max_weight = weights.iter().copied().fold(0.0, f64::max);
        let mut hour_cumulative = [0.0; 24];
        let mut running = 0.0;
        for (slot, weight) in hour_cumulative.iter_mut().zip(HOUR_WEIGHTS) {
            running += weight;
            *slot = running;
        }
        let start_micros = start
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros());
        Self {
            start,
            start_micros,
            weights,
            max_weight,
            hour_cumulative,
        }
    }

    /// Number of days in the period.
    pub fn days(&self) -> usize {
        self.weights.len()
    }

    /// Number of days in the period as a simulation time, the end of the last day.
    pub fn end_time(&self) -> f64 {
        self.weights.len() as f64
    }

    /// Seasonal weight of the day containing time `t` (0 outside the period).
    pub fn weight_at(&self, t: f64) -> f64 {
        if t < 0.0 {
            return 0.0;
        }
        self.weights.get(t as usize).copied().unwrap_or(0.0)
    }

    /// The largest daily weight, the envelope for thinning.
    pub fn max_weight(&self) -> f64 {
        self.max_weight
    }

    /// Microseconds since the Unix epoch of simulation time `t`.
    pub fn timestamp_micros(&self, t: f64) -> i64 {
        self.start_micros + (t * MICROS_PER_DAY as f64).round() as i64
    }

    /// Days since 1970-01-01 (Arrow's `Date32`) of simulation day `day`.
    pub fn date32(&self, day: u32) -> i32 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
        ((self.start - epoch).num_days() + i64::from(day)) as i32
    }

    /// A time within day `day`, with the hour drawn from the daily rhythm and minutes uniform.
    pub fn time_in_day<R: Rng + ?Sized>(&self, day: u32, rng: &mut R) -> f64 {
        let total = self.hour_cumulative[23];
        let u = rng.random::<f64>() * total;
        let hour = self.hour_cumulative.iter().position(|&c| u < c).unwrap_or(23);
        let within_hour: f64 = rng.random();
        f64::from(day) + (hour as f64 + within_hour) / 24.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::Xoshiro256PlusPlus;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn weights_average_about_one_and_peak_in_december() {
        let calendar = Calendar::new(date(2023, 1, 1), date(2024, 12, 31));
        assert_eq!(calendar.days(), 731);
        let mean_between = |from: usize, to: usize| {
            (from..to)
                .map(|day| calendar.weight_at(day as f64 + 0.5))
                .sum::<f64>()
                / (to - from) as f64
        };
        let mean = mean_between(0, calendar.days());
        assert!((mean - 1.0).abs() < 0.02, "mean weight {mean}");
        let december = mean_between(334, 365);
        let june = mean_between(151, 181);
        assert!(december > 1.15 && june < 0.85, "december {december}, june {june}");
    }

    #[test]
    fn weights_are_zero_outside_the_period_and_bounded_inside() {
        let calendar = Calendar::new(date(2024, 1, 1), date(2024, 1, 10));
        assert_eq!(calendar.weight_at(-0.5), 0.0);
        assert_eq!(calendar.weight_at(10.0), 0.0);
        assert!((0..10).all(|d| {
            let w = calendar.weight_at(f64::from(d));
            w > 0.5 && w <= calendar.max_weight()
        }));
    }

    #[test]
    fn timestamps_and_dates_line_up_with_the_start() {
        let calendar = Calendar::new(date(2023, 1, 1), date(2023, 12, 31));
        assert_eq!(calendar.timestamp_micros(0.0), 1_672_531_200_000_000);
        assert_eq!(
            calendar.timestamp_micros(1.5),
            1_672_531_200_000_000 + MICROS_PER_DAY * 3 / 2
        );
        assert_eq!(calendar.date32(0), 19_358);
        let mut rng = Xoshiro256PlusPlus::for_customer(1, 2);
        for _ in 0..1000 {
            let t = calendar.time_in_day(10, &mut rng);
            assert!((10.0..11.0).contains(&t));
        }
    }
}
