//! The accepted date range of a dated input. A row dated outside it is invalid, like a row with a null
//! timestamp: it fails the run or is skipped and counted. The range comes from `[data]` `min_date` and
//! `max_date`; a bound left out is [`ROBUST_MARGIN_DAYS`] beyond the input's 0.1% (first) or 99.9%
//! (last) quantile day, so one row typed as 2204 or 1900 cannot move the end of the data or stretch
//! tenure. That bound is known only once the input is read, so the check runs after loading: a count over
//! the day column, which is all it costs when every row is inside; only a run that fails reads the date
//! columns again, to name the first row outside.

use super::columns::{ColumnKind, DayColumn};
use super::source::{ColumnRequest, read_batches};
use super::{OnInvalid, Rejects};
use crate::config::DataParams;
use crate::error::{FeatureError, Result};
use crate::time::{Day, date_from_days, days_from_epoch};
use std::path::Path;

/// How far beyond the 0.1% and 99.9% quantile days the default range reaches.
pub const ROBUST_MARGIN_DAYS: Day = 365;

/// Rows per thousand left out of the quantiles at each end.
const TAIL_PER_THOUSAND: usize = 1;

/// Widest span of days whose quantiles are read from a count per day; a wider one (dates typed centuries
/// off), or one wider than the number of days, is selected from a copy of the days instead.
const COUNTED_SPAN_DAYS: usize = 1 << 20;

/// The days a dated row of one input may carry, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    /// The first accepted day.
    pub first: Day,
    /// The last accepted day.
    pub last: Day,
    /// Whether `first` is `[data] min_date` (else the robust default).
    pub first_configured: bool,
    /// Whether `last` is `[data] max_date` (else the robust default).
    pub last_configured: bool,
}

impl DateWindow {
    /// The window for an input whose dated rows fall on `days`: the configured bounds, and the robust
    /// default for a bound not configured. `None` when a bound is not configured and there are no days.
    pub fn new(params: &DataParams, days: impl Iterator<Item = Day> + Clone) -> Option<Self> {
        let min = params.min_date.map(days_from_epoch);
        let max = params.max_date.map(days_from_epoch);
        let robust = match (min, max) {
            (Some(_), Some(_)) => None,
            _ => Some(robust_bounds(days)?),
        };
        Some(Self {
            first: min.or(robust.map(|(first, _)| first))?,
            last: max.or(robust.map(|(_, last)| last))?,
            first_configured: min.is_some(),
            last_configured: max.is_some(),
        })
    }

    /// Whether `day` is accepted.
    #[inline]
    pub fn contains(&self, day: Day) -> bool {
        (self.first..=self.last).contains(&day)
    }

    /// `first .. last` as dates.
    pub fn describe(&self) -> String {
        format!("{} .. {}", date_from_days(self.first), date_from_days(self.last))
    }

    /// The reason a row is counted under when skipped.
    fn skip_reason(&self) -> String {
        format!("date outside the accepted range {}", self.describe())
    }

    /// Why a row dated `day` fails the run, with where the range comes from and how to change it.
    fn fail_reason(&self, day: Day) -> String {
        let origin = match (self.first_configured, self.last_configured) {
            (true, true) => "[data] min_date and max_date".to_string(),
            (false, false) => format!(
                "by default {ROBUST_MARGIN_DAYS} days beyond the 0.1% and 99.9% quantiles of this input's dates"
            ),
            (true, false) => format!(
                "[data] min_date, and by default {ROBUST_MARGIN_DAYS} days after the 99.9% quantile of this \
                 input's dates"
            ),
            (false, true) => format!(
                "by default {ROBUST_MARGIN_DAYS} days before the 0.1% quantile of this input's dates, and \
                 [data] max_date"
            ),
        };
        format!(
            "date {} is outside the accepted range {} ({origin}); set min_date / max_date under [data] in \
             the configuration to accept it, or skip such rows (--on-invalid skip)",
            date_from_days(day),
            self.describe()
        )
    }
}

/// The default range: [`ROBUST_MARGIN_DAYS`] before the 0.1% quantile and after the 99.9% quantile of
/// `days` (nearest rank, rounded outwards, so with up to 1,000 rows they are the first and last day).
fn robust_bounds(days: impl Iterator<Item = Day> + Clone) -> Option<(Day, Day)> {
    let (n, first, last) = days
        .clone()
        .fold((0usize, Day::MAX, Day::MIN), |(n, first, last), day| {
            (n + 1, first.min(day), last.max(day))
        });
    if n == 0 {
        return None;
    }
    let low_rank = (n - 1) * TAIL_PER_THOUSAND / 1000;
    let high_rank = n - 1 - low_rank;
    let span = first.abs_diff(last) as usize + 1;
    // Counting costs a slot per day of the span: worth it when the days are many and close together.
    let (low, high) = if span <= COUNTED_SPAN_DAYS && span <= n {
        counted_ranks(days, first, span, low_rank, high_rank)
    } else {
        selected_ranks(days.collect(), low_rank, high_rank)
    };
    Some((
        low.saturating_sub(ROBUST_MARGIN_DAYS),
        high.saturating_add(ROBUST_MARGIN_DAYS),
    ))
}

/// The days at ranks `low_rank <= high_rank` of `days` (all within `span` days from `first`), read from a
/// count per day: one pass, no copy of the days.
fn counted_ranks(
    days: impl Iterator<Item = Day>,
    first: Day,
    span: usize,
    low_rank: usize,
    high_rank: usize,
) -> (Day, Day) {
    let mut counts = vec![0usize; span];
    for day in days {
        counts[first.abs_diff(day) as usize] += 1;
    }
    let at_rank = |rank: usize| {
        let mut seen = 0;
        let offset = counts
            .iter()
            .position(|&count| {
                seen += count;
                seen > rank
            })
            .expect("a rank below the number of days");
        first + offset as Day
    };
    (at_rank(low_rank), at_rank(high_rank))
}

/// The days at ranks `low_rank <= high_rank` of `days`, by selection.
fn selected_ranks(mut days: Vec<Day>, low_rank: usize, high_rank: usize) -> (Day, Day) {
    let (_, &mut low, above) = days.select_nth_unstable(low_rank);
    let high = if high_rank == low_rank {
        low
    } else {
        *above.select_nth_unstable(high_rank - low_rank - 1).1
    };
    (low, high)
}

/// The days of one date column of an input, by row.
#[derive(Clone, Copy)]
pub(crate) enum Dates<'a> {
    /// Every row has a day.
    All(&'a [Day]),
    /// A day is optional (e.g. a churn date).
    Optional(&'a [Option<Day>]),
}

impl<'a> Dates<'a> {
    /// The days of the rows that have one.
    pub fn days(self) -> impl Iterator<Item = Day> + Clone + 'a {
        let (all, optional) = match self {
            Self::All(days) => (days, &[][..]),
            Self::Optional(days) => (&[][..], days),
        };
        all.iter().copied().chain(optional.iter().flatten().copied())
    }

    fn outside(&self, window: &DateWindow) -> usize {
        match self {
            Self::All(days) => days.iter().filter(|&&d| !window.contains(d)).count(),
            Self::Optional(days) => days.iter().flatten().filter(|&&d| !window.contains(d)).count(),
        }
    }

    fn is_outside(&self, row: usize, window: &DateWindow) -> bool {
        match self {
            Self::All(days) => !window.contains(days[row]),
            Self::Optional(days) => days[row].is_some_and(|d| !window.contains(d)),
        }
    }
}

/// One input's date columns: their names in the file and their days by loaded row.
pub(crate) struct DatedInput<'a> {
    /// The input's name, e.g. `transactions`.
    pub input: &'a str,
    /// The configured path.
    pub path: &'a Path,
    /// Column name and days, for each date column.
    pub columns: Vec<(&'a str, Dates<'a>)>,
}

impl<'a> DatedInput<'a> {
    /// An input with one timestamp column, `column`, whose loaded rows fall on `days`.
    pub fn timestamped(input: &'a str, path: &'a Path, column: &'a str, days: &'a [Day]) -> Self {
        Self {
            input,
            path,
            columns: vec![(column, Dates::All(days))],
        }
    }

    /// Applies `window` to the loaded rows. Under [`OnInvalid::Fail`] a row outside fails the run naming
    /// the file, column, row and date; under [`OnInvalid::Skip`] rows outside are counted by column and a
    /// mask of the rows to keep is returned. `None`: every row is inside.
    pub fn screen(&self, window: &DateWindow, rejects: &mut Rejects) -> Result<Option<Vec<bool>>> {
        let outside: usize = self.columns.iter().map(|(_, dates)| dates.outside(window)).sum();
        if outside == 0 {
            return Ok(None);
        }
        if rejects.on_invalid() == OnInvalid::Fail {
            return Err(self.first_outside(window)?);
        }
        let rows = self.columns.first().map_or(0, |(_, dates)| match dates {
            Dates::All(days) => days.len(),
            Dates::Optional(days) => days.len(),
        });
        let mut keep = vec![true; rows];
        let mut skipped = vec![0u64; self.columns.len()];
        for (row, kept) in keep.iter_mut().enumerate() {
            // A row outside in several columns is counted once, under the first of them.
            let column = self
                .columns
                .iter()
                .position(|(_, dates)| dates.is_outside(row, window));
            if let Some(column) = column {
                skipped[column] += 1;
                *kept = false;
            }
        }
        let reason = window.skip_reason();
        for ((name, _), rows) in self.columns.iter().zip(skipped) {
            if rows > 0 {
                rejects.count(self.input, name, &reason, rows);
            }
        }
        Ok(Some(keep))
    }

    /// The error for the first row of the files dated outside `window`, found by reading the date
    /// columns again (row numbers count every row of a file, as in the other errors).
    fn first_outside(&self, window: &DateWindow) -> Result<FeatureError> {
        let requests: Vec<ColumnRequest> = self
            .columns
            .iter()
            .map(|(name, _)| ColumnRequest::new(name, &format!("{}.date", self.input), ColumnKind::Time))
            .collect();
        // The visitor stops the reading with the error at the first batch holding a row outside.
        read_batches(self.path, &requests, &|_| {}, |path, batch, first_row| {
            let hit = self
                .columns
                .iter()
                .filter_map(|(name, _)| {
                    let days = DayColumn::new(batch.column_by_name(name).expect("projected column"));
                    (0..batch.num_rows()).find_map(|i| {
                        let day = days.get(i).ok().filter(|&d| !window.contains(d))?;
                        Some((i, *name, day))
                    })
                })
                .min_by_key(|&(i, _, _)| i);
            match hit {
                Some((i, column, day)) => Err(FeatureError::InvalidValue {
                    path: path.to_path_buf(),
                    column: column.to_string(),
                    row: first_row + i as u64,
                    reason: window.fail_reason(day),
                }),
                None => Ok(()),
            }
        })?;
        Ok(FeatureError::Request(format!(
            "{}: {} rows are dated outside the accepted range {}",
            self.path.display(),
            self.input,
            window.describe()
        )))
    }
}

/// Keeps the elements of `values` whose entry in `keep` is true.
pub(crate) fn retain<T>(values: &mut Vec<T>, keep: &[bool]) {
    let mut flags = keep.iter();
    values.retain(|_| flags.next().copied().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn robust_bounds_leave_out_a_lone_outlier_in_large_inputs() {
        let mut days: Vec<Day> = (0..2_000).map(|i| 19_723 + i % 366).collect();
        days.push(85_476);
        let (first, last) = robust_bounds(days.iter().copied()).expect("bounds");
        assert_eq!(first, 19_723 - ROBUST_MARGIN_DAYS);
        assert_eq!(last, 19_723 + 365 + ROBUST_MARGIN_DAYS);
        let bounds = |days: &[Day]| robust_bounds(days.iter().copied());
        assert_eq!(bounds(&[10, 5_000]), Some((10 - 365, 5_000 + 365)));
        assert_eq!(bounds(&[7]), Some((7 - 365, 7 + 365)));
        assert_eq!(bounds(&[]), None);
    }

    #[test]
    fn counted_quantiles_equal_selected_ones() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut draw = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        for case in 0..200 {
            let n = 1 + draw(5_000) as usize;
            let spread = [1, 30, 800, 100_000][case % 4];
            let mut days: Vec<Day> = (0..n).map(|_| 19_000 + draw(spread) as Day).collect();
            if case % 3 == 0 {
                days[draw(n as u64) as usize] = -20_000;
            }
            let n = days.len();
            let low_rank = (n - 1) * TAIL_PER_THOUSAND / 1000;
            let high_rank = n - 1 - low_rank;
            let first = days.iter().copied().min().expect("days");
            let span = first.abs_diff(days.iter().copied().max().expect("days")) as usize + 1;
            assert_eq!(
                counted_ranks(days.iter().copied(), first, span, low_rank, high_rank),
                selected_ranks(days.clone(), low_rank, high_rank),
                "case {case}"
            );
        }
        // A span too wide to count is selected.
        let wide = [0, 2_000_000, 5];
        assert_eq!(robust_bounds(wide.iter().copied()), Some((-365, 2_000_000 + 365)));
    }

    #[test]
    fn configured_bounds_take_precedence_per_side() {
        let params = DataParams {
            min_date: NaiveDate::from_ymd_opt(1970, 1, 11),
            max_date: None,
        };
        let window = DateWindow::new(&params, [100, 200].into_iter()).expect("window");
        assert_eq!((window.first, window.last), (10, 200 + ROBUST_MARGIN_DAYS));
        assert!(window.first_configured && !window.last_configured);
        assert!(DateWindow::new(&params, std::iter::empty()).is_none());
        let both = DataParams {
            min_date: NaiveDate::from_ymd_opt(1970, 1, 11),
            max_date: NaiveDate::from_ymd_opt(1970, 1, 21),
        };
        let window = DateWindow::new(&both, std::iter::empty()).expect("window");
        assert_eq!((window.first, window.last), (10, 20));
    }

    #[test]
    fn retain_follows_the_mask() {
        let mut values = vec![1, 2, 3, 4];
        retain(&mut values, &[true, false, true, false]);
        assert_eq!(values, vec![1, 3]);
    }
}
