//! Errors of the feature engine. Every variant names the file, column, row or key it is about.

use chrono::NaiveDate;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;

/// What went wrong while reading inputs or building features.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid Parquet (not Parquet at all, truncated or corrupt).
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet reader said.
        message: String,
    },
    /// A configured column is not in the file.
    #[error("{path}: column `{column}` (configured as {role}) not found; the file has: {available}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// What the column was configured for, e.g. `transactions.amount`.
        role: String,
        /// The columns the file does have, comma separated.
        available: String,
    },
    /// A column has a type this role cannot use.
    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The Arrow type found.
        found: String,
        /// The types accepted.
        expected: String,
    },
    /// A value is null, unparseable or out of its domain.
    #[error("{path}: column `{column}`, row {row}: {reason}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Row index within the file, counting from 0.
        row: u64,
        /// Why the value was rejected.
        reason: String,
    },
    /// The same key appears twice where it must be unique.
    #[error(
        "{path}: column `{column}`: a customer id appears more than once (rows {first_row} and {row}; the id's keyed hash is {key})"
    )]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// The key column.
        column: String,
        /// The repeated key as a keyed hash (see [`crate::redact`]), never in clear.
        key: String,
        /// Row index of the first occurrence.
        first_row: u64,
        /// Row index of the repeat.
        row: u64,
    },
    /// `[customers]` signup or churn dates disagree with those `[subscriptions]` define.
    #[error(
        "{path}: column `{column}` disagrees with [subscriptions] for {count} of its customers, e.g. {}; make them agree, \
         or leave `{column}` out of [customers] to use the dates the subscriptions define",
        .examples.join("; ")
    )]
    Disagreement {
        /// The customers file.
        path: PathBuf,
        /// The column: the signup or churn date column.
        column: String,
        /// How many customers disagree.
        count: usize,
        /// The first few, each as its row and both dates.
        examples: Vec<String>,
    },
    /// An input that must hold one row per customer (`[customers]`, `[labels]`) has customers with
    /// several rows that are not copies of each other: it is another kind of table, and keeping any one of
    /// its rows per customer would be a guess, so it is refused whatever `--on-invalid` says.
    #[error("{0}")]
    SeveralRowsPerCustomer(Box<SeveralRowsPerCustomer>),
    /// A file or directory holds no rows.
    #[error("{path}: no rows")]
    Empty {
        /// The file or directory.
        path: PathBuf,
    },
    /// The configuration is invalid.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An output cannot be written where it was asked for (it is an input, its folder is missing or
    /// read-only, ...), or writing it failed.
    #[error("cannot write {path}: {reason}")]
    Output {
        /// The output as given.
        path: PathBuf,
        /// Why, in words that name no temporary file.
        reason: String,
    },
    /// A data file is not the one its run summary describes (replaced, damaged, or from another run).
    #[error(
        "{path} does not match its summary {summary}: {reason}; rebuild it, or, when it was copied, copy the \
         summary written beside it too (or remove the stale one)"
    )]
    Mismatch {
        /// The data file.
        path: PathBuf,
        /// The summary beside it.
        summary: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The request cannot be answered from these data (e.g. an as-of date outside the data range).
    #[error("{0}")]
    Request(String),
    /// Durations (time to churn) were asked for, but the configuration's churn has no observed time:
    /// inactivity labels, [labels] without a duration column, or nothing to label with.
    #[error("{0}")]
    NoDurations(String),
    /// Labels were asked for (a horizon) but the configuration has no way to give them.
    #[error(
        "--horizon {horizon_days} asks for labels, but this configuration has nothing to label with: \
         inactivity labels need [transactions] (a purchase in the horizon or not), contractual labels \
         [subscriptions] (the end of a customer's last period) or [customers] churn_date, given labels \
         [labels]; map one, or leave out --horizon to build a table to score"
    )]
    NoLabelSource {
        /// The label horizon asked for, in days.
        horizon_days: u32,
    },
    /// Labels were asked for (a horizon) but no as-of date can be labelled: the horizon after each one
    /// runs past the last day of the data that defines the labels.
    #[error(
        "{}",
        unlabellable_message(.as_of, *.horizon_days, *.data_end, .labels_from, *.last_labelled_as_of)
    )]
    Unlabellable {
        /// The as-of dates asked for, sorted.
        as_of: Vec<NaiveDate>,
        /// The label horizon in days.
        horizon_days: u32,
        /// The last day labels may look at.
        data_end: NaiveDate,
        /// The data that end there, e.g. `the transactions (inactivity labels look for purchases)`.
        labels_from: &'static str,
        /// The last as-of date whose horizon fits in the data; `None` when the data, from their first day,
        /// are shorter than the horizon.
        last_labelled_as_of: Option<NaiveDate>,
    },
}

/// Where an input of one row per customer has several ([`FeatureError::SeveralRowsPerCustomer`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: [{section}] needs one row per customer, but `{column}` has several rows per customer \
     ({counted} with more than one row, e.g. rows {first_row} and {row}; that id's keyed hash is {key}), \
     and skipping rows would keep one of them at random: {fits}",
    counted = customers_counted(*.customers)
)]
pub struct SeveralRowsPerCustomer {
    /// The file.
    pub path: PathBuf,
    /// The configuration section, `customers` or `labels`.
    pub section: &'static str,
    /// The customer id column.
    pub column: String,
    /// How many customers have rows that differ.
    pub customers: u64,
    /// Row index of the first row of the first such customer.
    pub first_row: u64,
    /// Row index of a differing row of that customer.
    pub row: u64,
    /// That customer's id as a keyed hash (see [`crate::redact`]), never in clear.
    pub key: String,
    /// What the table looks like and the section to map it as.
    pub fits: String,
}

/// `1 customer`, `2 customers`.
fn customers_counted(customers: u64) -> String {
    if customers == 1 {
        "1 customer".into()
    } else {
        format!("{customers} customers")
    }
}

fn unlabellable_message(
    as_of: &[NaiveDate],
    horizon_days: u32,
    data_end: NaiveDate,
    labels_from: &str,
    last_labelled_as_of: Option<NaiveDate>,
) -> String {
    let Some(&first) = as_of.first() else {
        return "no row can be labelled: no as-of date".into();
    };
    let which = if as_of.len() == 1 {
        format!("the as-of date {first}")
    } else {
        format!("the earliest of the {} as-of dates, {first},", as_of.len())
    };
    let horizon_end = first + chrono::Days::new(u64::from(horizon_days));
    let remedy = match last_labelled_as_of {
        Some(last) => format!(
            "the last as-of date that can be labelled is {last}: ask for as-of dates up to it to build a \
             table to train on, or leave out --horizon to build a table to score (labels unknown)"
        ),
        None => "the data are shorter than the horizon, so no as-of date can be labelled: give a shorter \
                 --horizon, or leave it out to build a table to score (labels unknown)"
            .into(),
    };
    format!(
        "no row can be labelled: the {horizon_days}-day label horizon after {which} runs to {horizon_end}, \
         past {data_end}, the last day of {labels_from}; {remedy}"
    )
}

impl FeatureError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`FeatureError::Output`] error about `path`.
    pub fn output(path: impl Into<PathBuf>, reason: String) -> Self {
        Self::Output {
            path: path.into(),
            reason,
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, error: impl std::fmt::Display) -> Self {
        Self::Parquet {
            path: path.into(),
            message: error.to_string(),
        }
    }
}
