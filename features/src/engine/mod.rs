//! The feature build: from loaded inputs and as-of dates to the feature table and a run summary.

mod agreement;
mod customer;
pub mod family;
mod grouped;
pub mod layout;
pub mod order_lines;
mod output;
pub mod segments;
pub mod subscriptions;
pub mod value;

use crate::config::{Config, DateMode};
use crate::error::{FeatureError, Result};
use crate::input::{AttributeValues, Inputs};
use crate::table::FeatureTable;
use crate::time::{Day, date_from_days, days_from_epoch};
use chrono::NaiveDate;
use grouped::{EventRow, Grouped, TxRow};
use layout::{Layout, LayoutInputs, ValueColumns, tx};
use output::Output;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// As-of dates (each the end of that day); empty for snapshot inputs without time.
    pub as_of: Vec<NaiveDate>,
    /// Label horizon in days after each as-of date (inactivity and contractual labels); at least 1.
    pub horizon_days: Option<u32>,
    /// Write each row's time to churn for survival models (the outcome columns
    /// [`crate::table::DURATION_COLUMN`] and [`crate::table::EVENT_COLUMN`]): from a contractual churn
    /// date (`[customers] churn_date` or `[subscriptions]`), the days from the as-of date to it, or to
    /// the end of the data when the customer has not churned by then (censored). `[labels] duration`
    /// writes them whatever this says. Inactivity labels have no observed churn time and are refused.
    pub durations: bool,
}

impl BuildRequest {
    /// Checks the request on its own: a horizon of 0 days would label every customer as churned.
    pub fn validate(&self) -> Result<()> {
        if self.horizon_days == Some(0) {
            return Err(FeatureError::Request(
                "the label horizon must be at least 1 day (--horizon 0 gives no time to churn in)".into(),
            ));
        }
        Ok(())
    }

    /// Checks the horizon against where `config`'s labels come from, before any input is read: a horizon
    /// without any way to label is an error ([`FeatureError::NoLabelSource`]); a horizon that given
    /// labels make unused, and several as-of dates without a horizon where one would label them, are
    /// warnings, returned for the caller to show.
    pub fn check_labels(&self, config: &Config) -> Result<Vec<String>> {
        if self.durations {
            check_durations(config)?;
            if self.horizon_days.is_none() && label_kind(config, Some(1)) != LabelKind::Given {
                return Err(FeatureError::NoDurations(
                    "--durations needs --horizon DAYS: a survival model's churn probability looks that far \
                     ahead and is judged against the churn labels of the same horizon"
                        .into(),
                ));
            }
        }
        let given_durations = config.labels.as_ref().is_some_and(|l| l.duration.is_some());
        if given_durations && !self.as_of.is_empty() {
            return Err(FeatureError::NoDurations(
                "[labels] duration is each customer's time observed when the labels were taken, not the time \
                 from an as-of date: build without --as-of, or time churn from [customers] churn_date or \
                 [subscriptions] with --durations"
                    .into(),
            ));
        }
        let mut warnings = Vec::new();
        match (label_kind(config, Some(1)), self.horizon_days) {
            (LabelKind::None, Some(horizon_days)) => {
                return Err(FeatureError::NoLabelSource { horizon_days });
            }
            (LabelKind::Given, Some(horizon)) => warnings.push(format!(
                "--horizon {horizon} is not used: [labels] gives the labels, the same at every as-of date; \
                 leave it out, or map [subscriptions], a churn date or transactions instead of [labels] for \
                 labels that look {horizon} days ahead"
            )),
            (kind @ (LabelKind::Contractual | LabelKind::Subscriptions | LabelKind::Inactivity), None)
                if self.as_of.len() > 1 =>
            {
                let source = match kind {
                    LabelKind::Contractual => {
                        "[customers] churn_date gives contractual labels (a churn date in the horizon)"
                    }
                    LabelKind::Subscriptions => {
                        "[subscriptions] give contractual labels (the end of a customer's last period in the \
                         horizon)"
                    }
                    _ => "[transactions] give inactivity labels (no purchase in the horizon)",
                };
                warnings.push(format!(
                    "{} as-of dates but no --horizon: the table has no labels, so it can be scored but not \
                     trained on; {source} with --horizon DAYS",
                    self.as_of.len()
                ));
            }
            _ => {}
        }
        Ok(warnings)
    }
}

/// Whether `config` can give durations ([`BuildRequest::durations`]): a contractual churn date or given
/// durations; not inactivity, whose churn is never observed, only inferred from a quiet horizon.
fn check_durations(config: &Config) -> Result<()> {
    match label_kind(config, Some(1)) {
        LabelKind::Contractual | LabelKind::Subscriptions => Ok(()),
        LabelKind::Given if config.labels.as_ref().is_some_and(|l| l.duration.is_some()) => Ok(()),
        LabelKind::Given => Err(FeatureError::NoDurations(
            "durations were asked for, but [labels] has no duration column: add `duration` (the column \
             of each customer's time observed) and `duration_unit` to [labels]"
                .into(),
        )),
        LabelKind::Inactivity => Err(FeatureError::NoDurations(
            "durations were asked for, but this configuration's labels are inactivity labels (no purchase \
             in the horizon), which have no observed churn time: a customer who stops buying never says \
             when they left. Durations need a churn date: [customers] churn_date, [subscriptions], or \
             [labels] with a duration column"
                .into(),
        )),
        LabelKind::None => Err(FeatureError::NoDurations(
            "durations were asked for, but this configuration has no churn to time: map [customers] \
             churn_date, [subscriptions], or [labels] with a duration column"
                .into(),
        )),
    }
}

/// Whether a build of `config` for `request` writes the outcome columns.
fn writes_durations(config: &Config, request: &BuildRequest) -> bool {
    request.durations || config.labels.as_ref().is_some_and(|l| l.duration.is_some())
}

/// Where the labels of a build of `config` with label horizon `horizon` come from: given labels, else
/// none without a horizon, else contractual from subscriptions, else contractual with a churn date, else
/// inactivity with transactions.
fn label_kind(config: &Config, horizon: Option<u32>) -> LabelKind {
    if config.labels.is_some() {
        LabelKind::Given
    } else if horizon.is_none() {
        LabelKind::None
    } else if config.subscriptions.is_some() {
        LabelKind::Subscriptions
    } else if config.customers.as_ref().is_some_and(|c| c.churn_date.is_some()) {
        LabelKind::Contractual
    } else if config.transactions.is_some() {
        LabelKind::Inactivity
    } else {
        LabelKind::None
    }
}

/// How labels are defined in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Given 0/1 labels from `[labels]`.
    Given,
    /// 1 when the churn date (`[customers] churn_date`) falls in the horizon.
    Contractual,
    /// Contractual, from `[subscriptions]`: 1 when the customer's current life of subscription periods
    /// churns in the horizon (its last period ends and no period starts within the grace period after).
    Subscriptions,
    /// 1 when there is no purchase in the horizon.
    Inactivity,
    /// No labels (no horizon given).
    None,
}

/// Rows, customers and labels of one as-of date.
#[derive(Debug, Clone, Serialize)]
pub struct AsOfSummary {
    /// The as-of date (absent for snapshots).
    pub as_of: Option<NaiveDate>,
    /// Rows (customers) at that date.
    pub rows: usize,
    /// Rows with a known label.
    pub labelled: usize,
    /// Rows with label 1.
    pub positives: usize,
    /// Share of labelled rows with label 1.
    pub label_rate: Option<f64>,
    /// The customer-value models fitted at that date (absent when `[value]` is off or there are no
    /// transactions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<value::ValueFits>,
}

/// The dates of one input's rows.
#[derive(Debug, Clone, Serialize)]
pub struct InputRange {
    /// The first day of the input's rows that were used.
    pub first: NaiveDate,
    /// The last day of the input's rows that were used.
    pub last: NaiveDate,
    /// The first day a row could carry ([`crate::input::DateWindow`]).
    pub accepted_from: Option<NaiveDate>,
    /// The last day a row could carry.
    pub accepted_to: Option<NaiveDate>,
}

/// What a run read, rejected and produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    /// Rows read per input.
    pub rows_read: BTreeMap<String, u64>,
    /// Rows skipped, by input, column and reason.
    pub rows_rejected: BTreeMap<String, u64>,
    /// Distinct customers in the inputs.
    pub customers_in_inputs: usize,
    /// Distinct customers in the output.
    pub customers: usize,
    /// Output rows.
    pub rows: usize,
    /// First and last day of the dated inputs (rows outside an input's accepted range left out).
    pub data_range: Option<(NaiveDate, NaiveDate)>,
    /// First and last day of each dated input (`transactions`, `events`, `customers`, `subscriptions`).
    pub input_ranges: BTreeMap<String, InputRange>,
    /// The last day labels may look at: the end of the transactions for inactivity labels, of the
    /// subscriptions less their grace period for labels from subscriptions, of every dated input for
    /// contractual ones. A label whose horizon runs past it is null.
    pub label_data_end: Option<NaiveDate>,
    /// Exact duplicate rows (beyond the first of equal rows) per input.
    pub duplicate_rows: BTreeMap<String, u64>,
    /// Whether the duplicate rows were dropped (`--dedupe`); if not, they were used.
    pub duplicates_dropped: bool,
    /// How labels are defined.
    pub label_kind: LabelKind,
    /// Label horizon in days.
    pub horizon_days: Option<u32>,
    /// Days after the as-of date whose data the labels depend on, when more than the horizon: subscription
    /// labels wait `grace_days` after it to know whether a period starts again. A time-ordered split
    /// (training rows before a test date) must purge the rows whose look-ahead reaches the test date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_lookahead_days: Option<u32>,
    /// Per as-of date.
    pub as_of: Vec<AsOfSummary>,
    /// Share of labelled rows with label 1, over all dates.
    pub label_rate: Option<f64>,
    /// For labels that look ahead (inactivity, contractual): the last as-of date whose horizon fits in the
    /// data (`label_data_end` − horizon). Rows of later as-of dates have null labels: they can be scored,
    /// not trained or evaluated on.
    pub last_labelled_as_of: Option<NaiveDate>,
    /// Warnings about the inputs and the request, found before the build (a mapped column null in every
    /// row, a horizon that is not used) or during it (dates hidden from an age because they are after
    /// the as-of date). The command line logs them as they are found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The feature table this summary describes (size and SHA-256), once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<crate::output::FileDigest>,
}

/// Customer-level facts that do not depend on the as-of date.
struct Static {
    signup: Vec<Option<Day>>,
    churn: Vec<Option<Day>>,
    /// `[subscriptions] grace_days` (0 without subscriptions).
    grace_days: u32,
    attribute_row: Vec<Option<u32>>,
    in_snapshot: Vec<bool>,
}

/// Builds the feature table for `request` from `inputs`.
pub fn build(
    config: &Config,
    inputs: Inputs,
    request: &BuildRequest,
) -> Result<(FeatureTable, BuildSummary)> {
    let (output, summary) = build_output(config, inputs, request)?;
    Ok((output.into_table(), summary))
}

/// Builds the feature table for `request` from `inputs` and writes it to `path` as Parquet, with the run
/// summary beside it as JSON ([`crate::output::summary_path`]), recording the table's size and SHA-256.
/// Both appear together or not at all (see [`crate::output::commit_pair`]). The same table as [`build`]
/// followed by [`FeatureTable::write_parquet`], with about half the memory: values go from the engine's
/// columns to Parquet without an intermediate table.
pub fn build_to_parquet(
    config: &Config,
    inputs: Inputs,
    request: &BuildRequest,
    path: &std::path::Path,
) -> Result<BuildSummary> {
    let (output, summary) = build_output(config, inputs, request)?;
    let started = std::time::Instant::now();
    let data = output.stage_parquet(path)?;
    let summary = crate::output::commit_with_summary(data, |digest| BuildSummary {
        file: Some(digest.clone()),
        ..summary
    })?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "feature table written");
    Ok(summary)
}

/// The feature columns [`build`] writes for `request` on `inputs`, in order, each with its meaning: the
/// layout a build names its columns with, computed by the same code without computing any feature. The
/// event types that get columns are those with an event on or before the last as-of date, so the request
/// needs the as-of dates of the build it describes (see [`last_data_day`] for the latest possible one).
pub fn columns(config: &Config, inputs: &Inputs, request: &BuildRequest) -> Result<Layout> {
    request.validate()?;
    Ok(Plan::new(config, inputs, request)?.layout)
}

/// The last day of the dated inputs (rows outside each input's accepted range left out): the latest
/// as-of date a build accepts. `None` when no input carries time.
pub fn last_data_day(inputs: &Inputs) -> Option<NaiveDate> {
    let (_, range) = data_ranges(inputs);
    range.map(|(_, last)| date_from_days(last))
}

/// What a build is made of before any feature is computed: the inputs' date ranges, the as-of days and
/// the columns.
struct Plan {
    /// First and last day of each dated input.
    ranges: InputRanges,
    /// First and last day over all dated inputs.
    range: Option<(Day, Day)>,
    /// The as-of days, sorted and distinct (`[None]` for a snapshot).
    as_of_days: Vec<Option<Day>>,
    /// The columns.
    layout: Layout,
    /// For each event type index, its slot among the event types that get columns.
    slot_of_kind: Vec<Option<usize>>,
}

impl Plan {
    fn new(config: &Config, inputs: &Inputs, request: &BuildRequest) -> Result<Self> {
        let snapshot = config.is_snapshot();
        let (ranges, range) = data_ranges(inputs);
        let as_of_days = check_as_of(snapshot, request, range)?;
        let last_as_of = as_of_days.iter().copied().flatten().max();
        let (event_types, slot_of_kind) = match &inputs.events {
            Some(events) => kept_event_types(events, last_as_of),
            None => (Vec::new(), Vec::new()),
        };
        let (numeric_attributes, categorical_attributes) = attribute_names(inputs.customers.as_ref());
        let date_attributes: Vec<(String, DateMode)> = inputs
            .customers
            .iter()
            .flat_map(|t| &t.dates)
            .map(|d| (d.name.clone(), d.mode))
            .collect();
        let layout = Layout::new(
            &LayoutInputs {
                transactions: inputs.transactions.is_some(),
                event_types: inputs.events.as_ref().map(|_| &event_types[..]),
                event_values: inputs.events.as_ref().is_some_and(|e| e.value.is_some()),
                numeric_attributes: &numeric_attributes,
                categorical_attributes: &categorical_attributes,
                date_attributes: &date_attributes,
                dated: !snapshot,
                value: (config.value_models() && !snapshot)
                    .then(|| ValueColumns::new(&config.value.purchase_horizons, config.value.clv_months)),
                order_lines: config
                    .transactions
                    .as_ref()
                    .and_then(order_lines::OrderLineInputs::of),
                subscriptions: config
                    .subscriptions
                    .as_ref()
                    .map(subscriptions::SubscriptionInputs::of),
            },
            &config.features.windows,
            config.features.trend_days,
        );
        check_column_names(
            config,
            &layout,
            &numeric_attributes,
            &categorical_attributes,
            &date_attributes,
        )?;
        Ok(Self {
            ranges,
            range,
            as_of_days,
            layout,
            slot_of_kind,
        })
    }
}

/// Refuses a `[customers]` attribute whose feature column would share its name with another column of
/// the table (one the engine computes, another attribute's, or `customer_id`, `as_of`, `label`), naming
/// the file and the column: two columns of one name would be ambiguous in every later step.
fn check_column_names(
    config: &Config,
    layout: &Layout,
    numeric: &[String],
    categorical: &[String],
    dates: &[(String, DateMode)],
) -> Result<()> {
    let Some(source) = config.customers.as_ref() else {
        return Ok(());
    };
    let mut seen: std::collections::HashSet<&str> = ["customer_id", "as_of", "label"].into_iter().collect();
    for spec in &layout.specs {
        if seen.insert(spec.name.as_str()) {
            continue;
        }
        let name = spec.name.as_str();
        let column = numeric
            .iter()
            .chain(categorical)
            .find(|a| a.as_str() == name)
            .cloned()
            .or_else(|| {
                dates
                    .iter()
                    .find(|(d, mode)| format!("{d}_{}", mode.suffix()) == name)
                    .map(|(d, _)| d.clone())
            });
        let Some(column) = column else {
            continue;
        };
        return Err(FeatureError::Request(format!(
            "{}: column `{column}` of [customers] would become feature column `{name}`, which the table \
             already has; rename the column, or leave it out (exclude = [\"{column}\"] under [customers])",
            source.path.display()
        )));
    }
    Ok(())
}

/// First and last day of each dated input that has dated rows, by input name.
type InputRanges = BTreeMap<&'static str, (Day, Day)>;

/// The first and last day of each dated input, and over all of them.
fn data_ranges(inputs: &Inputs) -> (InputRanges, Option<(Day, Day)>) {
    let ranges = input_ranges(
        inputs.transactions.as_ref().map(|t| &t.day[..]),
        inputs.events.as_ref().map(|e| &e.day[..]),
        inputs.customers.as_ref(),
        inputs.subscriptions.as_ref(),
    );
    let range = ranges
        .values()
        .copied()
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
    (ranges, range)
}

fn build_output(
    config: &Config,
    inputs: Inputs,
    request: &BuildRequest,
) -> Result<(output::Finished, BuildSummary)> {
    request.validate()?;
    let mut warnings = request.check_labels(config)?;
    let customers = inputs.ids.len();
    let snapshot = config.is_snapshot();
    let Plan {
        ranges,
        range,
        as_of_days,
        layout,
        slot_of_kind,
    } = Plan::new(config, &inputs, request)?;
    let Inputs {
        ids,
        transactions,
        events,
        customers: customer_table,
        subscriptions: subscription_table,
        labels,
        rows_read,
        rejected,
        date_windows,
        duplicate_rows,
        duplicates_dropped,
        warnings: input_warnings,
    } = inputs;
    warnings.splice(0..0, input_warnings);

    let mut statics = static_facts(
        customers,
        customer_table.as_ref(),
        labels.as_ref().map(|l| &l.by_customer),
    );
    let grouped_periods = subscription_table
        .as_ref()
        .map(|t| subscriptions::group(customers, t));
    if let (Some(periods), Some(source)) = (&grouped_periods, &config.subscriptions) {
        if let (Some(table), Some(customer_source)) = (customer_table.as_ref(), config.customers.as_ref()) {
            agreement::check(customer_source, table, periods)?;
        }
        // Signup is the first start, unless `[customers]` gives it (and then they agree).
        for (c, signup) in statics.signup.iter_mut().enumerate() {
            if signup.is_none() {
                *signup = periods.of(c).first().map(|r| r.start);
            }
        }
        statics.grace_days = source.grace_days;
    }
    let label_kind = label_kind(config, request.horizon_days);
    let end_of = |kind: LabelKind| match kind {
        LabelKind::Inactivity => ranges.get("transactions").map(|&(_, end)| end),
        // Subscription labels depend on the periods alone: a period's end or a new start is seen only up
        // to the subscriptions' own last day, whatever later rows the other inputs hold.
        LabelKind::Subscriptions => ranges
            .get("subscriptions")
            .map(|&(_, end)| end.saturating_sub(Day::try_from(statics.grace_days).unwrap_or(Day::MAX))),
        _ => range.map(|(_, end)| end),
    };
    let data_end = end_of(label_kind);
    // Durations come from the churn that labels would look for, with or without a horizon, and are
    // censored where that churn stops being known.
    let outcomes = writes_durations(config, request).then(|| {
        let kind = self::label_kind(config, Some(1));
        Outcomes {
            kind,
            data_end: end_of(kind),
        }
    });
    let last_labelled_as_of = check_label_horizon(
        label_kind,
        request.horizon_days,
        range.zip(data_end).map(|((first, _), end)| (first, end)),
        &as_of_days,
    )?;

    let started = std::time::Instant::now();
    let grouped_lines = layout
        .order_lines
        .as_ref()
        .and(transactions.as_ref())
        .map(|t| order_lines::group(customers, t));
    let grouped_tx = transactions.map(|t| Grouped::transactions(customers, t));
    let grouped_events = events.as_ref().map(|e| Grouped::events(customers, e));
    drop(events);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "rows grouped by customer"
    );

    let context = Context {
        layout: &layout,
        config,
        statics: &statics,
        tx: grouped_tx.as_ref(),
        lines: grouped_lines.as_ref(),
        events: grouped_events.as_ref(),
        periods: grouped_periods.as_ref(),
        slot_of_kind: &slot_of_kind,
        customer_table: customer_table.as_ref(),
        labels: labels.as_ref().map(|l| &l.by_customer),
        label_kind,
        horizon: request.horizon_days,
        data_end,
        outcomes,
        durations: labels.as_ref().and_then(|l| l.durations.as_ref()),
    };
    let mut output = Output::new(&layout, outcomes.is_some());
    let plan_names = subscription_table
        .filter(|_| layout.subscriptions.as_ref().is_some_and(|b| b.plan))
        .map(|t| t.plan_names);
    let mut summaries = Vec::new();
    let mut hidden_dates = HiddenDates::new(customer_table.as_ref());
    for &as_of in &as_of_days {
        let population = context.population(as_of, snapshot);
        hidden_dates.count(&statics, &population, as_of);
        let before = output.rows();
        let started = std::time::Instant::now();
        let value_fits = context.append(&population, as_of, &mut output);
        tracing::debug!(
            as_of = ?as_of.map(date_from_days),
            customers = population.len(),
            seconds = started.elapsed().as_secs_f64(),
            "features computed"
        );
        summaries.push(AsOfSummary {
            value: value_fits,
            ..output.summary_since(before, as_of.map(date_from_days))
        });
    }

    warnings.extend(hidden_dates.warnings(config, output.rows()));
    let rows = output.rows();
    let distinct: std::collections::HashSet<u32> = output.customers.iter().copied().collect();
    let labelled: usize = summaries.iter().map(|s| s.labelled).sum();
    let positives: usize = summaries.iter().map(|s| s.positives).sum();
    let summary = BuildSummary {
        rows_read,
        rows_rejected: rejected,
        customers_in_inputs: customers,
        customers: distinct.len(),
        rows,
        data_range: range.map(|(a, b)| (date_from_days(a), date_from_days(b))),
        input_ranges: ranges
            .iter()
            .map(|(&input, &(first, last))| {
                let window = date_windows.get(input);
                let range = InputRange {
                    first: date_from_days(first),
                    last: date_from_days(last),
                    accepted_from: window.map(|w| date_from_days(w.first)),
                    accepted_to: window.map(|w| date_from_days(w.last)),
                };
                (input.to_string(), range)
            })
            .collect(),
        label_data_end: data_end
            .filter(|_| {
                matches!(
                    label_kind,
                    LabelKind::Inactivity | LabelKind::Contractual | LabelKind::Subscriptions
                )
            })
            .map(date_from_days),
        duplicate_rows,
        duplicates_dropped,
        label_kind,
        horizon_days: request.horizon_days,
        label_lookahead_days: request
            .horizon_days
            .filter(|_| label_kind == LabelKind::Subscriptions && statics.grace_days > 0)
            .map(|horizon| horizon.saturating_add(statics.grace_days)),
        as_of: summaries,
        label_rate: (labelled > 0).then(|| positives as f64 / labelled as f64),
        last_labelled_as_of: last_labelled_as_of.map(date_from_days),
        warnings,
        file: None,
    };
    let categorical = customer_table.map(|t| t.attributes).unwrap_or_default();
    Ok((output.finish(&ids, layout, categorical, plan_names), summary))
}

fn static_facts(
    customers: usize,
    table: Option<&crate::input::Customers>,
    labels: Option<&rustc_hash::FxHashMap<u32, Option<i8>>>,
) -> Static {
    let mut facts = Static {
        signup: vec![None; customers],
        churn: vec![None; customers],
        grace_days: 0,
        attribute_row: vec![None; customers],
        in_snapshot: vec![false; customers],
    };
    if let Some(table) = table {
        for (row, &c) in table.customer.iter().enumerate() {
            let c = c as usize;
            facts.attribute_row[c] = Some(row as u32);
            facts.in_snapshot[c] = true;
            facts.signup[c] = table.signup.as_ref().and_then(|s| s[row]);
            facts.churn[c] = table.churn.as_ref().and_then(|s| s[row]);
        }
    }
    for &c in labels.into_iter().flat_map(|l| l.keys()) {
        facts.in_snapshot[c as usize] = true;
    }
    facts
}

/// First and last day of each dated input that has dated rows.
fn input_ranges(
    tx_days: Option<&[Day]>,
    event_days: Option<&[Day]>,
    customers: Option<&crate::input::Customers>,
    subscriptions: Option<&crate::input::Subscriptions>,
) -> InputRanges {
    let subscription_days = subscriptions.map(|table| {
        table
            .start
            .iter()
            .copied()
            .chain(table.end.iter().flatten().copied())
    });
    let customer_days = customers.map(|table| {
        [&table.signup, &table.churn]
            .into_iter()
            .flatten()
            .flat_map(|days| days.iter().flatten().copied())
    });
    [
        ("transactions", span(tx_days.into_iter().flatten().copied())),
        ("events", span(event_days.into_iter().flatten().copied())),
        ("customers", span(customer_days.into_iter().flatten())),
        ("subscriptions", span(subscription_days.into_iter().flatten())),
    ]
    .into_iter()
    .filter_map(|(input, range)| Some((input, range?)))
    .collect()
}

/// The first and last of `days`.
fn span(days: impl Iterator<Item = Day>) -> Option<(Day, Day)> {
    days.fold(None, |range, day| match range {
        None => Some((day, day)),
        Some((lo, hi)) => Some((lo.min(day), hi.max(day))),
    })
}

fn check_as_of(
    snapshot: bool,
    request: &BuildRequest,
    range: Option<(Day, Day)>,
) -> Result<Vec<Option<Day>>> {
    if snapshot {
        if !request.as_of.is_empty() {
            return Err(FeatureError::Request(
                "the inputs carry no time (no transactions, events, signup or churn dates): build a snapshot \
                 without --as-of"
                    .into(),
            ));
        }
        return Ok(vec![None]);
    }
    if request.as_of.is_empty() {
        return Err(FeatureError::Request(
            "give one or more as-of dates (--as-of)".into(),
        ));
    }
    let Some((first, last)) = range else {
        return Err(FeatureError::Request(
            "the dated inputs hold no valid rows".into(),
        ));
    };
    let mut days = Vec::with_capacity(request.as_of.len());
    for &date in &request.as_of {
        let day = days_from_epoch(date);
        if day < first || day > last {
            let (which, usable) = if day < first {
                ("first", first)
            } else {
                ("last", last)
            };
            return Err(FeatureError::Request(format!(
                "as-of date {date} is outside the data range {} .. {} (rows outside each input's accepted \
                 dates left out): the {which} usable as-of date is {}",
                date_from_days(first),
                date_from_days(last),
                date_from_days(usable)
            )));
        }
        if !days.contains(&Some(day)) {
            days.push(Some(day));
        }
    }
    days.sort_unstable();
    Ok(days)
}

/// For labels that look ahead over `horizon` days (inactivity, contractual) in data spanning `span` (the
/// first day of the data, the last day labels may look at): the last as-of day whose horizon fits, after
/// checking the requested as-of days against it. Some as-of days past it: a warning naming them, the
/// horizon, the end of the data and that last day (their labels are null). All of them past it: an
/// [`FeatureError::Unlabellable`] error, since labels were asked for and none can be given.
fn check_label_horizon(
    label_kind: LabelKind,
    horizon: Option<u32>,
    span: Option<(Day, Day)>,
    as_of_days: &[Option<Day>],
) -> Result<Option<Day>> {
    let labels_from = match label_kind {
        LabelKind::Inactivity => "the transactions (inactivity labels look for purchases)",
        LabelKind::Contractual => "the dated inputs (contractual labels look for churn dates)",
        LabelKind::Subscriptions => {
            "the subscriptions less their grace period (a period's end is churn only when no period \
             starts within the grace period after it)"
        }
        LabelKind::Given | LabelKind::None => return Ok(None),
    };
    let (Some(horizon), Some((first, end))) = (horizon, span) else {
        return Ok(None);
    };
    let last = end.saturating_sub(i32::try_from(horizon).unwrap_or(i32::MAX));
    let past: Vec<NaiveDate> = as_of_days
        .iter()
        .flatten()
        .filter(|&&day| day > last)
        .map(|&day| date_from_days(day))
        .collect();
    if past.is_empty() {
        return Ok(Some(last));
    }
    let usable = (last >= first).then(|| date_from_days(last));
    if past.len() == as_of_days.len() {
        return Err(FeatureError::Unlabellable {
            as_of: past,
            horizon_days: horizon,
            data_end: date_from_days(end),
            labels_from,
            last_labelled_as_of: usable,
        });
    }
    const SHOWN: usize = 6;
    let mut dates: Vec<String> = past.iter().take(SHOWN).map(ToString::to_string).collect();
    if past.len() > SHOWN {
        dates.push(format!("and {} more", past.len() - SHOWN));
    }
    tracing::warn!(
        "as-of dates {} cannot be labelled: their {horizon}-day label horizon runs past {}, the last day of \
         {labels_from}. Their rows have null labels: they can be scored, not trained or evaluated on. The \
         last as-of date that can be labelled is {}",
        dates.join(", "),
        date_from_days(end),
        date_from_days(last)
    );
    Ok(Some(last))
}

/// Event types with at least one event on or before the last as-of date, sorted by name, and the slot
/// of each type index among them.
fn kept_event_types(
    events: &crate::input::Events,
    last_as_of: Option<Day>,
) -> (Vec<String>, Vec<Option<usize>>) {
    let mut seen = vec![false; events.type_names.len()];
    for (&kind, &day) in events.event_type.iter().zip(&events.day) {
        if last_as_of.is_none_or(|last| day <= last) {
            seen[usize::from(kind)] = true;
        }
    }
    let mut kept: Vec<usize> = (0..seen.len()).filter(|&k| seen[k]).collect();
    kept.sort_by(|&a, &b| events.type_names[a].cmp(&events.type_names[b]));
    let mut slot_of_kind = vec![None; seen.len()];
    for (slot, &kind) in kept.iter().enumerate() {
        slot_of_kind[kind] = Some(slot);
    }
    (
        kept.iter().map(|&k| events.type_names[k].clone()).collect(),
        slot_of_kind,
    )
}

fn attribute_names(table: Option<&crate::input::Customers>) -> (Vec<String>, Vec<String>) {
    let mut numeric = Vec::new();
    let mut categorical = Vec::new();
    for attribute in table.map(|t| &t.attributes[..]).unwrap_or_default() {
        match attribute.values {
            AttributeValues::Numeric(_) => numeric.push(attribute.name.clone()),
            AttributeValues::Categorical(_) => categorical.push(attribute.name.clone()),
        }
    }
    (numeric, categorical)
}

/// The rows whose `age` date attribute was after their as-of date and so hidden: in a file pulled after
/// the as-of dates, a date later than one of them is often a date recorded after the fact (a last login),
/// whose mere presence then leaks what happened after the as-of date.
struct HiddenDates<'a> {
    table: Option<&'a crate::input::Customers>,
    /// Per date attribute of the table: rows with a date after the as-of date.
    later: Vec<usize>,
}

impl<'a> HiddenDates<'a> {
    fn new(table: Option<&'a crate::input::Customers>) -> Self {
        let later = vec![0; table.map_or(0, |t| t.dates.len())];
        Self { table, later }
    }

    /// Counts the rows of `population` at `as_of` whose `age` date is after it.
    fn count(&mut self, statics: &Static, population: &[u32], as_of: Option<Day>) {
        let (Some(table), Some(as_of)) = (self.table, as_of) else {
            return;
        };
        for (date, later) in table.dates.iter().zip(&mut self.later) {
            if date.mode != DateMode::Age {
                continue;
            }
            *later += population
                .iter()
                .filter_map(|&c| statics.attribute_row[c as usize])
                .filter(|&row| date.days[row as usize].is_some_and(|day| day > as_of))
                .count();
        }
    }

    /// A warning (also logged) for each `age` date attribute with hidden dates, out of `rows`.
    fn warnings(&self, config: &Config, rows: usize) -> Vec<String> {
        let (Some(table), Some(source)) = (self.table, config.customers.as_ref()) else {
            return Vec::new();
        };
        let mut warnings = Vec::new();
        for (date, &later) in table.dates.iter().zip(&self.later) {
            if later == 0 {
                continue;
            }
            let warning = format!(
                "{}: column `{name}` of [customers] is after the as-of date in {later} of {rows} rows, where \
                 `{name}_age_days` is null. If it is a date recorded after the fact (a last login, a last \
                 order), whether it is null tells what happened after the as-of date: take it out of \
                 date_attributes. Only a date fixed in advance (a contract end) may be read as days-until \
                 (\"in_days\")",
                source.path.display(),
                name = date.name,
            );
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        warnings
    }
}

/// A date attribute's value at `as_of`: `age` = `as_of` − `day`, null when the day is after `as_of`
/// (exactly as when it is missing, so a later date never shows); `in_days` = `day` − `as_of`.
fn date_attribute_days(mode: DateMode, day: Option<Day>, as_of: Day) -> f64 {
    match (mode, day) {
        (_, None) => f64::NAN,
        (DateMode::Age, Some(day)) if day > as_of => f64::NAN,
        (DateMode::Age, Some(day)) => f64::from(as_of) - f64::from(day),
        (DateMode::InDays, Some(day)) => f64::from(day) - f64::from(as_of),
    }
}

/// Everything a row computation reads.
struct Context<'a> {
    layout: &'a Layout,
    config: &'a Config,
    statics: &'a Static,
    tx: Option<&'a Grouped<TxRow>>,
    lines: Option<&'a Grouped<order_lines::LineRow>>,
    events: Option<&'a Grouped<EventRow>>,
    periods: Option<&'a Grouped<subscriptions::PeriodRow>>,
    slot_of_kind: &'a [Option<usize>],
    customer_table: Option<&'a crate::input::Customers>,
    labels: Option<&'a rustc_hash::FxHashMap<u32, Option<i8>>>,
    label_kind: LabelKind,
    horizon: Option<u32>,
    data_end: Option<Day>,
    /// Whether and how rows get their time to churn.
    outcomes: Option<Outcomes>,
    /// `[labels] duration`, in days.
    durations: Option<&'a rustc_hash::FxHashMap<u32, f64>>,
}

/// Where a build's durations come from.
#[derive(Debug, Clone, Copy)]
struct Outcomes {
    /// The churn they time: given, contractual or from subscriptions.
    kind: LabelKind,
    /// The last day churn is known on: durations of customers who have not churned by then are censored
    /// there.
    data_end: Option<Day>,
}

impl Context<'_> {
    /// Customers who exist at `as_of` (any row on or before it, or signed up by then) and have not churned;
    /// with subscriptions, those with a period running at `as_of` (and no `[customers]` churn date by then).
    fn population(&self, as_of: Option<Day>, snapshot: bool) -> Vec<u32> {
        let customers = self.statics.signup.len();
        (0..customers as u32)
            .into_par_iter()
            .filter(|&c| {
                let i = c as usize;
                let Some(as_of) = as_of.filter(|_| !snapshot) else {
                    return self.statics.in_snapshot[i];
                };
                if self.statics.churn[i].is_some_and(|d| d <= as_of) {
                    return false;
                }
                if let Some(periods) = self.periods {
                    return subscriptions::Known::new(periods.of(i), as_of, self.statics.grace_days)
                        .running();
                }
                let first_tx = self.tx.and_then(|g| g.of(i).first().map(|r| r.day));
                let first_event = self.events.and_then(|g| g.of(i).first().map(|r| r.day));
                [first_tx, first_event, self.statics.signup[i]]
                    .into_iter()
                    .flatten()
                    .any(|d| d <= as_of)
            })
            .collect()
    }

    /// Computes the rows of `population` at `as_of` and appends them to `output`; returns the
    /// customer-value fits of that date when there are any.
    fn append(
        &self,
        population: &[u32],
        as_of: Option<Day>,
        output: &mut Output,
    ) -> Option<value::ValueFits> {
        let mut columns = self.numeric_columns(population, as_of);
        let value_fits = self.value_block(population, as_of, &mut columns);
        let labels: Vec<Option<i8>> = population
            .par_iter()
            .map(|&c| self.label(c as usize, as_of))
            .collect();
        let outcomes: Option<Vec<Option<(f64, f64)>>> = self.outcomes.map(|outcomes| {
            population
                .par_iter()
                .map(|&c| self.outcome(outcomes, c as usize, as_of))
                .collect()
        });

        let mut descriptors: Vec<Vec<Option<&'static str>>> = Vec::new();
        if let Some(start) = self.layout.tx_start {
            // Scores rank customers with purchases only; the others keep NaN scores.
            let days_since = &columns[start + tx::DAYS_SINCE_LAST_PURCHASE];
            let with_purchases = |values: &[f64]| -> Vec<f64> {
                values
                    .iter()
                    .zip(days_since)
                    .map(|(&v, d)| if d.is_nan() { f64::NAN } else { v })
                    .collect()
            };
            let spend = &columns[start + tx::TOTAL_SPEND];
            let count = &columns[start + tx::PURCHASE_COUNT];
            let ((r, f), (m, tiers)) = rayon::join(
                || {
                    rayon::join(
                        || segments::quintile_scores(days_since, true),
                        || segments::quintile_scores(&with_purchases(count), false),
                    )
                },
                || {
                    rayon::join(
                        || segments::quintile_scores(&with_purchases(spend), false),
                        || segments::value_tiers(spend, &self.config.value_tier),
                    )
                },
            );
            descriptors.push(
                r.par_iter()
                    .zip(&f)
                    .map(|(&r, &f)| Some(segments::rfm_segment(r, f)))
                    .collect(),
            );
            descriptors.push(tiers.into_iter().map(Some).collect());
            if let (Some(start), Some(value)) = (self.layout.value_start, &self.layout.value) {
                let clv = &columns[start + value.clv()];
                let tiers = segments::value_tiers(clv, &self.config.value_tier);
                descriptors.push(
                    tiers
                        .into_iter()
                        .zip(clv)
                        .map(|(tier, v)| (!v.is_nan()).then_some(tier))
                        .collect(),
                );
            }
            columns[start + tx::R_SCORE] = r;
            columns[start + tx::F_SCORE] = f;
            columns[start + tx::M_SCORE] = m;
        }
        if as_of.is_some() {
            let since = &columns[self.layout.activity_start];
            let tenure = &columns[self.layout.activity_start + 1];
            descriptors.push(
                tenure
                    .iter()
                    .zip(since)
                    .map(|(&t, &s)| Some(segments::lifecycle_stage(t, s, &self.config.lifecycle)))
                    .collect(),
            );
        }
        let attribute_rows = population.iter().map(|&c| self.statics.attribute_row[c as usize]);
        let plans = match (self.periods, as_of) {
            (Some(periods), Some(as_of)) if self.layout.subscriptions.as_ref().is_some_and(|b| b.plan) => {
                population
                    .par_iter()
                    .map(|&c| {
                        subscriptions::Known::new(periods.of(c as usize), as_of, self.statics.grace_days)
                            .current_plan()
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        output.push(population, as_of, labels, columns, descriptors, attribute_rows);
        output.push_plans(plans);
        if let Some(outcomes) = outcomes {
            output.push_outcomes(outcomes);
        }
        value_fits
    }

    /// Fits the customer-value models at `as_of` on the BTYD summaries of `population` (in the
    /// configured periods) and fills the value block of `columns`; `None` without a value block.
    fn value_block(
        &self,
        population: &[u32],
        as_of: Option<Day>,
        columns: &mut [Vec<f64>],
    ) -> Option<value::ValueFits> {
        let (Some(value_start), Some(value_columns), Some(tx_start), Some(as_of)) = (
            self.layout.value_start,
            self.layout.value.as_ref(),
            self.layout.tx_start,
            as_of,
        ) else {
            return None;
        };
        let params = &self.config.value;
        let started = std::time::Instant::now();
        let summaries: Vec<value::PeriodSummary> = match (params.period_days, self.tx) {
            (1, _) | (_, None) => {
                let column = |k: usize| &columns[tx_start + k];
                let (x, t_x, t, m) = (
                    column(tx::BTYD_FREQUENCY),
                    column(tx::BTYD_RECENCY),
                    column(tx::BTYD_T),
                    column(tx::BTYD_MONETARY),
                );
                (0..population.len())
                    .into_par_iter()
                    .map(|i| [x[i], t_x[i], t[i], m[i]])
                    .collect()
            }
            (period_days, Some(tx)) => population
                .par_iter()
                .map(|&c| value::period_summary(tx.of(c as usize), as_of, period_days))
                .collect(),
        };
        let (values, fits) = value::value_columns(&summaries, value_columns, params, as_of);
        for (k, values) in values.into_iter().enumerate() {
            columns[value_start + k] = values;
        }
        tracing::debug!(
            as_of = %date_from_days(as_of),
            seconds = started.elapsed().as_secs_f64(),
            "customer-value models fitted and applied"
        );
        Some(fits)
    }

    /// The numeric feature columns of `population` at `as_of`. Rows are computed in parallel blocks and
    /// turned into columns block by block, so memory is walked in cache-sized pieces.
    fn numeric_columns(&self, population: &[u32], as_of: Option<Day>) -> Vec<Vec<f64>> {
        const BLOCK: usize = 4096;
        let width = self.layout.numeric_len;
        if width == 0 {
            return Vec::new();
        }
        let mut columns = vec![vec![f64::NAN; population.len()]; width];
        // Each block of customers gets its own piece of every column, so blocks fill them in parallel.
        let mut pieces: Vec<Vec<&mut [f64]>> = population
            .chunks(BLOCK)
            .map(|_| Vec::with_capacity(width))
            .collect();
        for column in &mut columns {
            for (block, piece) in pieces.iter_mut().zip(column.chunks_mut(BLOCK)) {
                block.push(piece);
            }
        }
        pieces
            .into_par_iter()
            .zip(population.par_chunks(BLOCK))
            .for_each(|(mut block, customers)| {
                let mut rows = vec![f64::NAN; customers.len() * width];
                for (row, &c) in rows.chunks_mut(width).zip(customers) {
                    self.fill(c as usize, as_of, row);
                }
                for (j, piece) in block.iter_mut().enumerate() {
                    for (i, value) in piece.iter_mut().enumerate() {
                        *value = rows[i * width + j];
                    }
                }
            });
        columns
    }

    /// Fills the numeric row of customer `c` at `as_of`.
    fn fill(&self, c: usize, as_of: Option<Day>, row: &mut [f64]) {
        let layout = self.layout;
        if let Some(as_of) = as_of {
            let tx_span = match (layout.tx_start, self.tx) {
                (Some(start), Some(tx)) => customer::fill_transactions(layout, start, tx.of(c), as_of, row),
                _ => None,
            };
            if let (Some(block), Some(lines)) = (&layout.order_lines, self.lines) {
                order_lines::fill(block, lines.of(c), as_of, row);
            }
            if let (Some(block), Some(periods)) = (&layout.subscriptions, self.periods) {
                let known = subscriptions::Known::new(periods.of(c), as_of, self.statics.grace_days);
                subscriptions::fill(block, &known, block.plan, row);
            }
            let event_span = self.events.and_then(|events| {
                customer::fill_events(layout, self.slot_of_kind, events.of(c), as_of, row)
            });
            let spans = [tx_span, event_span];
            let last = spans.iter().flatten().map(|&(_, last)| last).max();
            let signup = self.statics.signup[c].filter(|&d| d <= as_of);
            let first = spans
                .iter()
                .flatten()
                .map(|&(first, _)| first)
                .chain(signup)
                .min();
            row[layout.activity_start] = last.map_or(f64::NAN, |d| f64::from(as_of - d));
            row[layout.activity_start + 1] = first.map_or(f64::NAN, |d| f64::from(as_of - d));
        }
        if let (Some(table), Some(attribute_row)) = (self.customer_table, self.statics.attribute_row[c]) {
            let mut slot = layout.attributes_start;
            for attribute in &table.attributes {
                if let AttributeValues::Numeric(values) = &attribute.values {
                    row[slot] = values[attribute_row as usize].unwrap_or(f64::NAN);
                    slot += 1;
                }
            }
            if let Some(as_of) = as_of {
                for (k, date) in table.dates.iter().enumerate() {
                    let day = date.days[attribute_row as usize];
                    row[layout.dates_start + k] = date_attribute_days(date.mode, day, as_of);
                }
            }
        }
    }

    /// Customer `c`'s duration in days from `as_of` and whether it ends in churn (1) or is censored (0):
    /// to the churn date when it is known by the end of the data, else to that end; `None` when unknown
    /// (a given label that is null, an as-of date after the end of the data).
    fn outcome(&self, outcomes: Outcomes, c: usize, as_of: Option<Day>) -> Option<(f64, f64)> {
        if outcomes.kind == LabelKind::Given {
            let event = self.labels?.get(&(c as u32)).copied().flatten()?;
            let days = *self.durations?.get(&(c as u32))?;
            return Some((days, f64::from(event)));
        }
        let as_of = as_of?;
        let end = outcomes.data_end?;
        if end < as_of {
            return None;
        }
        let churn = match outcomes.kind {
            LabelKind::Subscriptions => {
                subscriptions::churn_of_life_at(self.periods?.of(c), as_of, self.statics.grace_days)
            }
            LabelKind::Contractual => self.statics.churn[c],
            _ => return None,
        };
        Some(match churn.filter(|&d| d > as_of && d <= end) {
            Some(day) => (f64::from(day - as_of), 1.0),
            None => (f64::from(end - as_of), 0.0),
        })
    }

    /// The label of customer `c` at `as_of`.
    fn label(&self, c: usize, as_of: Option<Day>) -> Option<i8> {
        match self.label_kind {
            LabelKind::None => None,
            LabelKind::Given => self.labels.and_then(|l| l.get(&(c as u32)).copied().flatten()),
            LabelKind::Contractual | LabelKind::Inactivity | LabelKind::Subscriptions => {
                let as_of = as_of?;
                let horizon_end = as_of + i32::try_from(self.horizon?).ok()?;
                if horizon_end > self.data_end? {
                    return None;
                }
                if self.label_kind == LabelKind::Subscriptions {
                    let rows = self.periods?.of(c);
                    let churn = subscriptions::churn_of_life_at(rows, as_of, self.statics.grace_days);
                    return Some(i8::from(churn.is_some_and(|d| d > as_of && d <= horizon_end)));
                }
                if self.label_kind == LabelKind::Contractual {
                    let churned = self.statics.churn[c].is_some_and(|d| d > as_of && d <= horizon_end);
                    return Some(i8::from(churned));
                }
                let rows = self.tx?.of(c);
                let seen = grouped::up_to(rows, as_of, |r| r.day);
                if !rows[..seen].iter().any(TxRow::is_purchase) {
                    return None;
                }
                let bought = rows[seen..]
                    .iter()
                    .take_while(|r| r.day <= horizon_end)
                    .any(TxRow::is_purchase);
                Some(i8::from(!bought))
            }
        }
    }
}
