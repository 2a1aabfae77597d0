//! The feature build: from loaded inputs and as-of dates to the feature table and a run summary.

mod agreement;
mod customer;
pub mod family;
pub mod global;
mod grouped;
pub mod layout;
pub mod order_lines;
mod output;
pub mod segments;
pub mod shard;
pub mod subscriptions;
pub mod value;

use crate::config::{Config, DateMode};
use crate::error::{FeatureError, Result};
use crate::input::{AttributeValues, Inputs};
use crate::table::{FeatureTable, TableWriter};
use crate::time::{Day, date_from_days, days_from_epoch};
use chrono::NaiveDate;
pub use global::{GlobalStats, Summaries};
use layout::{Layout, LayoutInputs, ValueColumns, tx};
use output::Columns;
use serde::Serialize;
pub use shard::{Counts, Shard};
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

    /// Checks the request on its own and against `config` ([`BuildRequest::validate`],
    /// [`BuildRequest::check_labels`]); returns the warnings.
    pub fn check(&self, config: &Config) -> Result<Vec<String>> {
        self.validate()?;
        self.check_labels(config)
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

/// Builds the feature table for `request` from `inputs`.
pub fn build(
    config: &Config,
    mut inputs: Inputs,
    request: &BuildRequest,
) -> Result<(FeatureTable, BuildSummary)> {
    let record = InputRecord::take(&mut inputs);
    let plan = Plan::new(config, request, &InputFacts::of(&inputs))?;
    let mut shard = Shard::new(config, &plan, inputs)?;
    let stats = GlobalStats::new(config, &plan, &[shard.summarize()])?;
    let (table, counts) = shard.finish_table(&stats)?;
    let summary = plan.summary(config, &shard, record, counts, &stats);
    Ok((table, summary))
}

/// Builds the feature table for `request` from `inputs` and writes it to `path` as Parquet, with the run
/// summary beside it as JSON ([`crate::output::summary_path`]), recording the table's size and SHA-256.
/// Both appear together or not at all (see [`crate::output::commit_pair`]). The same table as [`build`]
/// followed by [`FeatureTable::write_parquet`], written block by block as the rows are finished (a row
/// group per block of [`shard::BLOCK_ROWS`] customers), so the rows are never all in memory at once.
pub fn build_to_parquet(
    config: &Config,
    mut inputs: Inputs,
    request: &BuildRequest,
    path: &std::path::Path,
) -> Result<BuildSummary> {
    let record = InputRecord::take(&mut inputs);
    let plan = Plan::new(config, request, &InputFacts::of(&inputs))?;
    let mut shard = Shard::new(config, &plan, inputs)?;
    let stats = GlobalStats::new(config, &plan, &[shard.summarize()])?;
    let outcomes = plan.outcomes.is_some();
    let headers = output::headers(&plan.layout.specs, outcomes);
    let id_type = shard.ids().data_type();
    let (data, counts) = crate::output::stage(path, |file| {
        let mut writer = TableWriter::new(path, file, id_type, &headers)?;
        let counts = shard.finish(&stats, |shard, rows| {
            Columns::new(shard, &plan.layout.specs).write(&mut writer, rows)
        })?;
        writer.finish()?;
        Ok(counts)
    })?;
    let summary = plan.summary(config, &shard, record, counts, &stats);
    crate::output::commit_with_summary(data, |digest| BuildSummary {
        file: Some(digest.clone()),
        ..summary
    })
}

/// The feature columns [`build`] writes for `request` on `inputs`, in order, each with its meaning: the
/// layout a build names its columns with, computed by the same code without computing any feature. The
/// event types that get columns are those with an event on or before the last as-of date, so the request
/// needs the as-of dates of the build it describes (see [`last_data_day`] for the latest possible one).
pub fn columns(config: &Config, inputs: &Inputs, request: &BuildRequest) -> Result<Layout> {
    request.validate()?;
    Ok(Plan::unchecked(config, request, &InputFacts::of(inputs))?.layout)
}

/// The last day of the dated inputs (rows outside each input's accepted range left out): the latest
/// as-of date a build accepts. `None` when no input carries time.
pub fn last_data_day(inputs: &Inputs) -> Option<NaiveDate> {
    InputFacts::of(inputs)
        .range()
        .map(|(_, last)| date_from_days(last))
}

/// What the inputs' record says of the reading, taken from them before the rows are grouped.
struct InputRecord {
    rows_read: BTreeMap<String, u64>,
    rejected: BTreeMap<String, u64>,
    date_windows: BTreeMap<String, crate::input::DateWindow>,
    duplicate_rows: BTreeMap<String, u64>,
    duplicates_dropped: bool,
    warnings: Vec<String>,
    customers: usize,
}

impl InputRecord {
    fn take(inputs: &mut Inputs) -> Self {
        Self {
            rows_read: std::mem::take(&mut inputs.rows_read),
            rejected: std::mem::take(&mut inputs.rejected),
            date_windows: std::mem::take(&mut inputs.date_windows),
            duplicate_rows: std::mem::take(&mut inputs.duplicate_rows),
            duplicates_dropped: inputs.duplicates_dropped,
            warnings: std::mem::take(&mut inputs.warnings),
            customers: inputs.ids.len(),
        }
    }
}

/// What a build's columns and labels depend on in the inputs: the date range of each dated input, the
/// event types and their first days, and the attributes of `[customers]`. A build on parts of the
/// customers takes the facts of every part, merged ([`InputFacts::merge`]), so every part gets the
/// same columns and labels.
#[derive(Debug, Clone, Default)]
pub struct InputFacts {
    ranges: InputRanges,
    /// Each event type with the first day it has an event on; `None` without events.
    event_types: Option<BTreeMap<String, Day>>,
    event_values: bool,
    numeric_attributes: Vec<String>,
    categorical_attributes: Vec<String>,
    date_attributes: Vec<(String, DateMode)>,
}

impl InputFacts {
    /// The facts of `inputs`.
    pub fn of(inputs: &Inputs) -> Self {
        let ranges = input_ranges(
            inputs.transactions.as_ref().map(|t| &t.day[..]),
            inputs.events.as_ref().map(|e| &e.day[..]),
            inputs.customers.as_ref(),
            inputs.subscriptions.as_ref(),
        );
        let event_types = inputs.events.as_ref().map(|events| {
            let mut first = vec![None::<Day>; events.type_names.len()];
            for (&kind, &day) in events.event_type.iter().zip(&events.day) {
                let first = &mut first[usize::from(kind)];
                *first = Some(first.map_or(day, |f| f.min(day)));
            }
            events
                .type_names
                .iter()
                .zip(first)
                .filter_map(|(name, first)| Some((name.clone(), first?)))
                .collect()
        });
        let (numeric_attributes, categorical_attributes) = attribute_names(inputs.customers.as_ref());
        let date_attributes = inputs
            .customers
            .iter()
            .flat_map(|t| &t.dates)
            .map(|d| (d.name.clone(), d.mode))
            .collect();
        Self {
            ranges,
            event_types,
            event_values: inputs.events.as_ref().is_some_and(|e| e.value.is_some()),
            numeric_attributes,
            categorical_attributes,
            date_attributes,
        }
    }

    /// The facts of two parts of the customers together. The attributes are the configuration's, the
    /// same in every part.
    pub fn merge(mut self, other: Self) -> Self {
        for (input, (first, last)) in other.ranges {
            self.ranges
                .entry(input)
                .and_modify(|range| *range = (range.0.min(first), range.1.max(last)))
                .or_insert((first, last));
        }
        if let Some(types) = other.event_types {
            let mine = self.event_types.get_or_insert_default();
            for (name, day) in types {
                // One type however a part spells it (see `input::events`): the smallest spelling names it.
                let column = layout::column_safe(&name);
                let same = mine
                    .keys()
                    .find(|kept| layout::column_safe(kept) == column)
                    .cloned();
                let (name, day) = match same {
                    Some(kept) => {
                        let first = mine.remove(&kept).unwrap_or(day);
                        (kept.min(name), first.min(day))
                    }
                    None => (name, day),
                };
                mine.insert(name, day);
            }
        }
        self.event_values |= other.event_values;
        self
    }

    /// First and last day over all dated inputs.
    fn range(&self) -> Option<(Day, Day)> {
        self.ranges
            .values()
            .copied()
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }
}

/// What a build is made of before any feature is computed: the inputs' date ranges, the as-of days, the
/// columns and where the labels come from. Made from the facts of all the inputs, it is the same for
/// every part of the customers.
pub struct Plan {
    /// First and last day of each dated input.
    ranges: InputRanges,
    /// First and last day over all dated inputs.
    range: Option<(Day, Day)>,
    /// The as-of days, sorted and distinct (`[None]` for a snapshot).
    as_of_days: Vec<Option<Day>>,
    /// Whether the inputs carry no time.
    snapshot: bool,
    /// The columns.
    layout: Layout,
    /// The event types that get columns, in column order.
    event_types: Vec<String>,
    /// How labels are defined.
    label_kind: LabelKind,
    /// The label horizon in days.
    horizon: Option<u32>,
    /// The last day labels may look at.
    data_end: Option<Day>,
    /// Whether and how rows get their time to churn.
    outcomes: Option<Outcomes>,
    /// `[subscriptions] grace_days` (0 without subscriptions).
    grace_days: u32,
    /// The last as-of day whose label horizon fits in the data.
    last_labelled_as_of: Option<Day>,
    /// Warnings about the request.
    warnings: Vec<String>,
}

impl Plan {
    /// The plan of a build of `config` for `request` on inputs with `facts`, after checking the request
    /// ([`BuildRequest::check`]) and its as-of dates against the data: refused when no as-of date can be
    /// labelled, with a warning when some cannot ([`Plan::warnings`]).
    pub fn new(config: &Config, request: &BuildRequest, facts: &InputFacts) -> Result<Self> {
        let warnings = request.check(config)?;
        let mut plan = Self::unchecked(config, request, facts)?;
        plan.last_labelled_as_of = check_label_horizon(
            plan.label_kind,
            plan.horizon,
            plan.range
                .zip(plan.data_end)
                .map(|((first, _), end)| (first, end)),
            &plan.as_of_days,
        )?;
        plan.warnings = warnings;
        Ok(plan)
    }

    /// The warnings about the request, for the caller to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The plan without the request's label checks: the columns a build would have.
    fn unchecked(config: &Config, request: &BuildRequest, facts: &InputFacts) -> Result<Self> {
        let snapshot = config.is_snapshot();
        let range = facts.range();
        let as_of_days = check_as_of(snapshot, request, range)?;
        let last_as_of = as_of_days.iter().copied().flatten().max();
        // Event types with an event on or before the last as-of date, by name.
        let event_types: Vec<String> = facts
            .event_types
            .iter()
            .flatten()
            .filter(|&(_, &first)| last_as_of.is_none_or(|last| first <= last))
            .map(|(name, _)| name.clone())
            .collect();
        let layout = Layout::new(
            &LayoutInputs {
                transactions: config.transactions.is_some(),
                event_types: facts.event_types.as_ref().map(|_| &event_types[..]),
                event_values: facts.event_values,
                numeric_attributes: &facts.numeric_attributes,
                categorical_attributes: &facts.categorical_attributes,
                date_attributes: &facts.date_attributes,
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
            &facts.numeric_attributes,
            &facts.categorical_attributes,
            &facts.date_attributes,
        )?;
        let grace_days = config.subscriptions.as_ref().map_or(0, |s| s.grace_days);
        let ranges = facts.ranges.clone();
        let end_of = |kind: LabelKind| match kind {
            LabelKind::Inactivity => ranges.get("transactions").map(|&(_, end)| end),
            // Subscription labels depend on the periods alone: a period's end or a new start is seen only
            // up to the subscriptions' own last day, whatever later rows the other inputs hold.
            LabelKind::Subscriptions => ranges
                .get("subscriptions")
                .map(|&(_, end)| end.saturating_sub(Day::try_from(grace_days).unwrap_or(Day::MAX))),
            _ => range.map(|(_, end)| end),
        };
        let label_kind = label_kind(config, request.horizon_days);
        // Durations come from the churn that labels would look for, with or without a horizon, and are
        // censored where that churn stops being known.
        let outcomes = writes_durations(config, request).then(|| {
            let kind = self::label_kind(config, Some(1));
            Outcomes {
                kind,
                data_end: end_of(kind),
            }
        });
        Ok(Self {
            data_end: end_of(label_kind),
            ranges,
            range,
            as_of_days,
            snapshot,
            layout,
            event_types,
            label_kind,
            horizon: request.horizon_days,
            outcomes,
            grace_days,
            last_labelled_as_of: None,
            warnings: Vec::new(),
        })
    }

    /// The columns of the build.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The run summary of a build of this plan on one machine.
    fn summary(
        &self,
        config: &Config,
        shard: &Shard<'_>,
        record: InputRecord,
        counts: Counts,
        stats: &GlobalStats,
    ) -> BuildSummary {
        let mut warnings = record.warnings;
        warnings.extend(self.warnings.iter().cloned());
        let rows: usize = counts.per_date.iter().map(|&(rows, ..)| rows).sum();
        warnings.extend(hidden_date_warnings(
            config,
            shard.customer_table(),
            &counts.hidden_dates,
            rows,
        ));
        let labelled: usize = counts.per_date.iter().map(|&(_, labelled, _)| labelled).sum();
        let positives: usize = counts.per_date.iter().map(|&(.., positives)| positives).sum();
        let as_of = self
            .as_of_days
            .iter()
            .zip(&counts.per_date)
            .zip(stats.value_fits())
            .map(|((&as_of, &(rows, labelled, positives)), value)| AsOfSummary {
                as_of: as_of.map(date_from_days),
                rows,
                labelled,
                positives,
                label_rate: (labelled > 0).then(|| positives as f64 / labelled as f64),
                value,
            })
            .collect();
        BuildSummary {
            rows_read: record.rows_read,
            rows_rejected: record.rejected,
            customers_in_inputs: record.customers,
            customers: counts.customers,
            rows,
            data_range: self.range.map(|(a, b)| (date_from_days(a), date_from_days(b))),
            input_ranges: self
                .ranges
                .iter()
                .map(|(&input, &(first, last))| {
                    let window = record.date_windows.get(input);
                    let range = InputRange {
                        first: date_from_days(first),
                        last: date_from_days(last),
                        accepted_from: window.map(|w| date_from_days(w.first)),
                        accepted_to: window.map(|w| date_from_days(w.last)),
                    };
                    (input.to_string(), range)
                })
                .collect(),
            label_data_end: self
                .data_end
                .filter(|_| {
                    matches!(
                        self.label_kind,
                        LabelKind::Inactivity | LabelKind::Contractual | LabelKind::Subscriptions
                    )
                })
                .map(date_from_days),
            duplicate_rows: record.duplicate_rows,
            duplicates_dropped: record.duplicates_dropped,
            label_kind: self.label_kind,
            horizon_days: self.horizon,
            label_lookahead_days: self
                .horizon
                .filter(|_| self.label_kind == LabelKind::Subscriptions && self.grace_days > 0)
                .map(|horizon| horizon.saturating_add(self.grace_days)),
            as_of,
            label_rate: (labelled > 0).then(|| positives as f64 / labelled as f64),
            last_labelled_as_of: self.last_labelled_as_of.map(date_from_days),
            warnings,
            file: None,
        }
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

/// A warning (also logged) for each `age` date attribute of `table` with dates after their row's as-of
/// date (`later[k]` of `rows` rows), where the age is null: in a file pulled after the as-of dates, a date
/// later than one of them is often a date recorded after the fact (a last login), whose mere presence
/// then leaks what happened after the as-of date.
fn hidden_date_warnings(
    config: &Config,
    table: Option<&crate::input::Customers>,
    later: &[usize],
    rows: usize,
) -> Vec<String> {
    let (Some(table), Some(source)) = (table, config.customers.as_ref()) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for (date, &later) in table.dates.iter().zip(later) {
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

/// Where a build's durations come from.
#[derive(Debug, Clone, Copy)]
struct Outcomes {
    /// The churn they time: given, contractual or from subscriptions.
    kind: LabelKind,
    /// The last day churn is known on: durations of customers who have not churned by then are censored
    /// there.
    data_end: Option<Day>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_that_spell_an_event_type_differently_merge_into_one_type() {
        let facts = |types: &[(&str, Day)]| InputFacts {
            event_types: Some(types.iter().map(|&(name, day)| (name.to_string(), day)).collect()),
            ..InputFacts::default()
        };
        let a = || facts(&[("login", 10), ("Support Ticket", 5), ("refund", 9)]);
        let b = || facts(&[("Login ", 3), ("support_ticket", 7)]);
        let want: Vec<(String, Day)> = vec![
            ("Login ".into(), 3),
            ("Support Ticket".into(), 5),
            ("refund".into(), 9),
        ];
        for merged in [a().merge(b()), b().merge(a())] {
            let types: Vec<(String, Day)> = merged.event_types.expect("types").into_iter().collect();
            assert_eq!(types, want);
        }
    }
}
