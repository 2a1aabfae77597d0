//! Calendar arithmetic. Time is kept in whole UTC days since 1970-01-01: an as-of *date* stands for the
//! end of that day, so a row is at or before the as-of instant exactly when its day is at or before the
//! as-of day.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Timelike};

/// A day number: days since 1970-01-01 (UTC).
pub type Day = i32;

const UNIX_EPOCH_DAY_FROM_CE: i32 = 719_163;

/// The day number of `date`.
pub fn days_from_epoch(date: NaiveDate) -> Day {
    date.num_days_from_ce() - UNIX_EPOCH_DAY_FROM_CE
}

/// The date of day number `day` (`NaiveDate::MIN` or `MAX` beyond the calendar's range; input days are
/// checked against it when read, see [`in_calendar`]).
pub fn date_from_days(day: Day) -> NaiveDate {
    checked_date(i64::from(day)).unwrap_or(if day < 0 { NaiveDate::MIN } else { NaiveDate::MAX })
}

/// The date of day number `day`, `None` beyond the calendar's range (about ±262,000 years).
fn checked_date(day: i64) -> Option<NaiveDate> {
    let from_ce = i32::try_from(day.checked_add(i64::from(UNIX_EPOCH_DAY_FROM_CE))?).ok()?;
    NaiveDate::from_num_days_from_ce_opt(from_ce)
}

/// Whether day number `day` is a date of the calendar, so that it converts to a date and two such days
/// subtract without overflow: a range check, as the calendar's days are contiguous (checked once per row
/// read, so no date is made).
#[inline]
pub fn in_calendar(day: i64) -> bool {
    static DAYS: std::sync::LazyLock<std::ops::RangeInclusive<i64>> = std::sync::LazyLock::new(|| {
        i64::from(days_from_epoch(NaiveDate::MIN))..=i64::from(days_from_epoch(NaiveDate::MAX))
    });
    DAYS.contains(&day)
}

/// A point in time as its UTC day and the nanoseconds since that day's midnight: the day is what features
/// use, the time of day tells rows of the same day apart (exact duplicates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Moment {
    /// The UTC day.
    pub day: Day,
    /// Nanoseconds after midnight UTC, in `0 .. 86_400 × 10⁹`.
    pub nanos: i64,
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The UTC day of a timestamp given in `units_per_second` units since the epoch.
pub fn day_of_timestamp(value: i64, units_per_second: i64) -> Day {
    moment_of_timestamp(value, units_per_second).day
}

/// The moment of a timestamp given in `units_per_second` units (1, 10³, 10⁶ or 10⁹) since the epoch.
pub fn moment_of_timestamp(value: i64, units_per_second: i64) -> Moment {
    let (day, nanos) = split_timestamp(value, units_per_second);
    Moment {
        day: day as Day,
        nanos,
    }
}

/// [`moment_of_timestamp`], `None` when the day is not a date of the calendar ([`in_calendar`]).
#[inline]
pub fn checked_moment_of_timestamp(value: i64, units_per_second: i64) -> Option<Moment> {
    let (day, nanos) = split_timestamp(value, units_per_second);
    in_calendar(day).then_some(Moment {
        day: day as Day,
        nanos,
    })
}

/// The day (floored) and the nanoseconds after its midnight of a timestamp in `units_per_second` units.
/// The four units of Arrow's timestamps get a divisor known when compiling, which spares a hardware
/// division per row.
#[inline]
fn split_timestamp(value: i64, units_per_second: i64) -> (i64, i64) {
    #[inline(always)]
    fn split(value: i64, units_per_second: i64) -> (i64, i64) {
        let units_per_day = units_per_second * 86_400;
        let day = value.div_euclid(units_per_day);
        // In 0 .. units_per_day, so the wrapping arithmetic cannot end wrapped.
        let units = value.wrapping_sub(day.wrapping_mul(units_per_day));
        (day, units * (NANOS_PER_SECOND / units_per_second.max(1)))
    }
    match units_per_second {
        1 => split(value, 1),
        1_000 => split(value, 1_000),
        1_000_000 => split(value, 1_000_000),
        NANOS_PER_SECOND => split(value, NANOS_PER_SECOND),
        other => split(value, other),
    }
}

/// How a date is written wherever a person types one (command-line values, configuration files), for
/// error messages.
pub const DATE_FORMAT: &str = "YYYY-MM-DD, e.g. 2024-09-01";

/// Parses a date typed by a person: `YYYY-MM-DD` (surrounding spaces ignored). The one parser of every date
/// the command line and the configuration accept, so they all take the same format and explain it the
/// same way: the error names the value and the expected format ([`DATE_FORMAT`]); the caller adds the flag
/// or key it came from.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let trimmed = text.trim();
    match NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        Ok(date) => Ok(date),
        // Well formed but not on the calendar (2024-02-30, 2024-13-01).
        Err(error) if error.kind() == chrono::format::ParseErrorKind::OutOfRange => Err(format!(
            "`{text}` is not a day of the calendar (expected {DATE_FORMAT})"
        )),
        Err(_) => Err(format!(
            "`{text}` is not a date in the expected format {DATE_FORMAT}"
        )),
    }
}

/// Parses an ISO-8601 date (`1997-09-30`) or date-time (`1997-09-30T12:00:00`, with optional fraction,
/// `Z` or offset; a space may replace the `T`) into its UTC day.
pub fn parse_iso_day(text: &str) -> Option<Day> {
    parse_iso_moment(text).map(|moment| moment.day)
}

/// Parses an ISO-8601 date or date-time as [`parse_iso_day`] does, keeping the time of day (UTC).
pub fn parse_iso_moment(text: &str) -> Option<Moment> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Moment {
            day: days_from_epoch(date),
            nanos: 0,
        });
    }
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Some(moment_of(moment.naive_utc()));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Some(moment_of(moment));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(moment) = DateTime::parse_from_str(text, format) {
            return Some(moment_of(moment.naive_utc()));
        }
    }
    None
}

fn moment_of(utc: NaiveDateTime) -> Moment {
    let time = utc.time();
    Moment {
        day: days_from_epoch(utc.date()),
        nanos: i64::from(time.num_seconds_from_midnight()) * NANOS_PER_SECOND + i64::from(time.nanosecond()),
    }
}

/// A step between successive as-of dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A number of days.
    Days(u32),
    /// A number of calendar months; from a month's last day, each step lands on a month's last day.
    Months(u32),
}

impl std::str::FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("invalid step `{text}`: expected e.g. `7d`, `2w`, `1m` or `monthly`");
        match text {
            "daily" => return Ok(Self::Days(1)),
            "weekly" => return Ok(Self::Days(7)),
            "monthly" => return Ok(Self::Months(1)),
            _ => {}
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let count: u32 = text[..split].parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(bad());
        }
        match &text[split..] {
            "d" => Ok(Self::Days(count)),
            "w" => Ok(Self::Days(count * 7)),
            "m" => Ok(Self::Months(count)),
            _ => Err(bad()),
        }
    }
}

/// The dates `start`, `start + step`, ... up to and including `end`.
pub fn date_range(start: NaiveDate, end: NaiveDate, step: Step) -> Vec<NaiveDate> {
    let month_end = is_month_end(start);
    let mut dates = Vec::new();
    let mut index = 0u32;
    loop {
        let date = match step {
            Step::Days(days) => start + chrono::Days::new(u64::from(days) * u64::from(index)),
            Step::Months(months) => {
                let Some(date) = start.checked_add_months(Months::new(months * index)) else {
                    break;
                };
                if month_end { last_day_of_month(date) } else { date }
            }
        };
        if date > end {
            break;
        }
        dates.push(date);
        index += 1;
    }
    dates
}

fn is_month_end(date: NaiveDate) -> bool {
    date.succ_opt().is_none_or(|next| next.month() != date.month())
}

fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    let mut day = date;
    while let Some(next) = day.succ_opt().filter(|n| n.month() == date.month()) {
        day = next;
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_is_the_range_of_days_that_make_dates() {
        let first = days_from_epoch(NaiveDate::MIN);
        let last = days_from_epoch(NaiveDate::MAX);
        for day in [first - 1, first, first + 1, -1, 0, 1, last - 1, last, last + 1] {
            let day = i64::from(day);
            assert_eq!(in_calendar(day), checked_date(day).is_some(), "day {day}");
        }
        assert!(!in_calendar(i64::MAX) && !in_calendar(i64::MIN));
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(days_from_epoch(date("1970-01-01")), 0);
        assert_eq!(days_from_epoch(date("1969-12-31")), -1);
        assert_eq!(
            date_from_days(days_from_epoch(date("1997-09-30"))),
            date("1997-09-30")
        );
    }

    #[test]
    fn timestamps_floor_to_utc_days() {
        assert_eq!(day_of_timestamp(86_399, 1), 0);
        assert_eq!(day_of_timestamp(86_400, 1), 1);
        assert_eq!(day_of_timestamp(-1, 1_000_000), -1);
        assert_eq!(
            moment_of_timestamp(-1, 1_000_000),
            Moment {
                day: -1,
                nanos: 86_400 * 1_000_000_000 - 1_000
            }
        );
        // Every unit, at both ends of the range of an i64.
        for units in [1, 1_000, 1_000_000, 1_000_000_000] {
            for value in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX] {
                let units_per_day = units * 86_400;
                let expected = Moment {
                    day: value.div_euclid(units_per_day) as Day,
                    nanos: value.rem_euclid(units_per_day) * (1_000_000_000 / units),
                };
                assert_eq!(moment_of_timestamp(value, units), expected, "{value} in {units}");
            }
        }
    }

    #[test]
    fn iso_strings_parse_to_days() {
        let day = days_from_epoch(date("1997-09-30"));
        for text in [
            "1997-09-30",
            "1997-09-30T23:59:59",
            "1997-09-30 08:00:00.25",
            "1997-09-30T22:00:00Z",
            "1997-10-01T01:00:00+02:00",
        ] {
            assert_eq!(parse_iso_day(text), Some(day), "{text}");
        }
        assert_eq!(parse_iso_day("30/09/1997"), None);
        let moment = parse_iso_moment("1997-10-01T01:00:00.5+02:00").expect("moment");
        assert_eq!(
            moment,
            Moment {
                day,
                nanos: 23 * 3_600 * 1_000_000_000 + 500_000_000
            }
        );
        assert_eq!(parse_iso_day(""), None);
    }

    #[test]
    fn typed_dates_are_iso_and_errors_name_the_value_and_the_format() {
        assert_eq!(parse_date(" 2024-09-01 "), Ok(date("2024-09-01")));
        for text in ["01/09/2024", "2024-9-1x", "", "2024-09-01T00:00:00", "20240901"] {
            let message = parse_date(text).expect_err(text);
            assert!(
                message.contains(&format!("`{text}`")) && message.contains("YYYY-MM-DD, e.g. 2024-09-01"),
                "{message}"
            );
        }
        let message = parse_date("2024-02-30").expect_err("no such day");
        assert!(message.contains("not a day of the calendar"), "{message}");
    }

    #[test]
    fn monthly_steps_from_a_month_end_stay_on_month_ends() {
        let dates = date_range(
            date("1997-01-31"),
            date("1997-04-30"),
            "monthly".parse().expect("step"),
        );
        assert_eq!(
            dates,
            vec![
                date("1997-01-31"),
                date("1997-02-28"),
                date("1997-03-31"),
                date("1997-04-30")
            ]
        );
        let weekly = date_range(
            date("1997-01-01"),
            date("1997-01-15"),
            "1w".parse().expect("step"),
        );
        assert_eq!(weekly.len(), 3);
        assert!("0d".parse::<Step>().is_err() && "3y".parse::<Step>().is_err());
    }
}
