//! The first and last of the build's three phases, on one set of customers: all of them, or any part of
//! them (a hash partition of the customer ids, say) whose every row the caller holds.
//!
//! - (a) [`Shard::summarize`]: block by block, what each customer's own rows give at each as-of date
//!   (windows, BTYD summary, trends, rhythm, labels, durations), and the small [`Summaries`] the
//!   population statistics need.
//! - (b) is [`GlobalStats::new`], over the summaries of every part.
//! - (c) [`Shard::finish`]: each block finished with the population statistics (R/F/M scores and segment,
//!   value tiers, customer-value columns, lifecycle stage) and handed on, block by block, to be written.
//!
//! Memory: the rows grouped by customer and one set of [`Summaries`] per as-of date stay in memory; the
//! computed rows come a block at a time. A block's rows are computed in phase (a) and kept for phase (c)
//! while the kept blocks stay within a budget ([`KEPT_BYTES`], or [`Shard::keep_at_most`]); the others are
//! computed again in phase (c), so writing the table holds one block of rows at a time.
//!
//! Parts must agree on what they read: each part's inputs are screened by the accepted date range of
//! `[data]`, and without one by a default worked out from that part's own rows, so a partitioned build
//! should set `[data]` min and max dates. Every part must hold rows of every configured input.

use super::global::{DateStats, GlobalStats, Summaries};
use super::grouped::{self, EventRow, Grouped, TxRow};
use super::layout::Layout;
use super::output::{Columns, Output};
use super::value::PeriodSummary;
use super::{LabelKind, Outcomes, Plan, customer, order_lines, segments, subscriptions, value};
use crate::config::{Config, DateMode};
use crate::error::{FeatureError, Result};
use crate::input::ids::CustomerInterner;
use crate::input::{AttributeValues, Inputs};
use crate::table::FeatureTable;
use crate::time::{Day, date_from_days};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Customers per block: a row group of the written table.
pub const BLOCK_ROWS: usize = 1 << 17;

/// Bytes of phase (a)'s rows kept for phase (c); blocks beyond them are computed again.
pub const KEPT_BYTES: usize = 1 << 29;

/// Customer-level facts that do not depend on the as-of date.
struct Static {
    signup: Vec<Option<Day>>,
    churn: Vec<Option<Day>>,
    attribute_row: Vec<Option<u32>>,
    in_snapshot: Vec<bool>,
}

/// One as-of date's rows of a block of customers from their own rows (phase (a)), the population
/// statistics not yet applied.
struct Block {
    customers: Vec<u32>,
    numeric: Vec<Vec<f64>>,
    btyd: Vec<PeriodSummary>,
    labels: Vec<Option<i8>>,
    outcomes: Option<Vec<Option<(f64, f64)>>>,
    plans: Vec<Option<u32>>,
}

impl Block {
    fn bytes(&self) -> usize {
        self.customers.len() * (8 * (self.numeric.len() + 6) + 32)
    }
}

/// What phase (c) counted of the rows it finished.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Rows, labelled rows and rows with label 1, per as-of date.
    pub per_date: Vec<(usize, usize, usize)>,
    /// Distinct customers with a row.
    pub customers: usize,
    /// Per `age` date attribute of `[customers]`: rows where the date was after the as-of date (hidden).
    pub hidden_dates: Vec<usize>,
}

/// One set of customers with their rows grouped, ready for phases (a) and (c).
pub struct Shard<'a> {
    config: &'a Config,
    plan: &'a Plan,
    ids: CustomerInterner,
    statics: Static,
    tx: Option<Grouped<TxRow>>,
    lines: Option<Grouped<order_lines::LineRow>>,
    events: Option<Grouped<EventRow>>,
    periods: Option<Grouped<subscriptions::PeriodRow>>,
    /// For each event type index of these inputs, its slot among the plan's event types.
    slot_of_kind: Vec<Option<usize>>,
    customer_table: Option<crate::input::Customers>,
    labels: Option<crate::input::Labels>,
    plan_names: Option<Vec<String>>,
    /// Phase (a)'s blocks per as-of date, where kept.
    kept: Vec<Vec<Option<Block>>>,
    /// Bytes of phase (a)'s blocks to keep.
    kept_bytes: usize,
}

impl<'a> Shard<'a> {
    /// Groups `inputs` (every row of this set of customers) by customer for `plan`, after checking that
    /// `[customers]` and `[subscriptions]` agree on signup and churn. The inputs' record (rows read,
    /// rejected, warnings) is the caller's to take before.
    pub fn new(config: &'a Config, plan: &'a Plan, inputs: Inputs) -> Result<Self> {
        let customers = inputs.ids.len();
        let Inputs {
            ids,
            transactions,
            events,
            customers: customer_table,
            subscriptions: subscription_table,
            labels,
            ..
        } = inputs;
        let mut statics = static_facts(
            customers,
            customer_table.as_ref(),
            labels.as_ref().map(|l| &l.by_customer),
        );
        let periods = subscription_table
            .as_ref()
            .map(|t| subscriptions::group(customers, t));
        if let Some(periods) = &periods {
            if let (Some(table), Some(source)) = (customer_table.as_ref(), config.customers.as_ref()) {
                super::agreement::check(source, table, periods)?;
            }
            // Signup is the first start, unless `[customers]` gives it (and then they agree).
            for (c, signup) in statics.signup.iter_mut().enumerate() {
                if signup.is_none() {
                    *signup = periods.of(c).first().map(|r| r.start);
                }
            }
        }
        let started = std::time::Instant::now();
        let lines = plan
            .layout
            .order_lines
            .as_ref()
            .and(transactions.as_ref())
            .map(|t| order_lines::group(customers, t));
        let tx = transactions.map(|t| Grouped::transactions(customers, t));
        let slot_of_kind = events
            .as_ref()
            .map(|e| {
                e.type_names
                    .iter()
                    .map(|name| {
                        let column = super::layout::column_safe(name);
                        plan.event_types
                            .iter()
                            .position(|kept| super::layout::column_safe(kept) == column)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let events = events.as_ref().map(|e| Grouped::events(customers, e));
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "rows grouped by customer"
        );
        let plan_names = subscription_table
            .filter(|_| plan.layout.subscriptions.as_ref().is_some_and(|b| b.plan))
            .map(|t| t.plan_names);
        Ok(Self {
            config,
            plan,
            ids,
            statics,
            tx,
            lines,
            events,
            periods,
            slot_of_kind,
            customer_table,
            labels,
            plan_names,
            kept: Vec::new(),
            kept_bytes: KEPT_BYTES,
        })
    }

    /// Keeps at most `bytes` of phase (a)'s blocks for phase (c) instead of [`KEPT_BYTES`]; the others
    /// are computed again there. Less memory for more time, the same rows.
    pub fn keep_at_most(&mut self, bytes: usize) {
        self.kept_bytes = bytes;
    }

    /// The customer ids of these inputs.
    pub(super) fn ids(&self) -> &CustomerInterner {
        &self.ids
    }

    /// The plan names of the `subscription_plan` column, when it is written.
    pub(super) fn plan_names(&self) -> Option<&[String]> {
        self.plan_names.as_deref()
    }

    /// The `[customers]` table, when there is one.
    pub(super) fn customer_table(&self) -> Option<&crate::input::Customers> {
        self.customer_table.as_ref()
    }

    /// Phase (a): each customer's own features at every as-of date of the plan, block by block; returns
    /// the summaries the population statistics need, one per as-of date in the plan's order. Blocks are
    /// kept for phase (c) while they fit in the budget ([`KEPT_BYTES`], or [`Shard::keep_at_most`]).
    pub fn summarize(&mut self) -> Vec<Summaries> {
        let mut kept_bytes = 0;
        let mut all = Vec::with_capacity(self.plan.as_of_days.len());
        let mut kept = Vec::with_capacity(self.plan.as_of_days.len());
        for &as_of in &self.plan.as_of_days {
            let started = std::time::Instant::now();
            let population = self.population(as_of);
            let mut summaries = Summaries::default();
            let mut blocks = Vec::new();
            for customers in population.chunks(BLOCK_ROWS) {
                let block = self.compute(customers, as_of);
                summaries.extend(&Summaries::of(
                    &self.plan.layout,
                    &block.numeric,
                    block.btyd.clone(),
                ));
                let keep = kept_bytes + block.bytes() <= self.kept_bytes;
                if keep {
                    kept_bytes += block.bytes();
                }
                blocks.push(keep.then_some(block));
            }
            tracing::debug!(
                as_of = ?as_of.map(date_from_days),
                customers = population.len(),
                seconds = started.elapsed().as_secs_f64(),
                "features of each customer computed"
            );
            all.push(summaries);
            kept.push(blocks);
        }
        self.kept = kept;
        all
    }

    /// Phase (c): finishes every block with `stats` (from the summaries of every part of the customers,
    /// [`GlobalStats::new`]) into the rows of these customers at every as-of date.
    pub fn finish_table(&mut self, stats: &GlobalStats) -> Result<(FeatureTable, Counts)> {
        let mut rows: Option<Output> = None;
        let counts = self.finish(stats, |_, output| {
            match &mut rows {
                Some(rows) => rows.append(output),
                None => rows = Some(output),
            }
            Ok(())
        })?;
        let layout = &self.plan.layout;
        let rows = rows.unwrap_or_else(|| Output::empty(layout, self.plan.outcomes.is_some()));
        Ok((Columns::new(self, &layout.specs).into_table(rows), counts))
    }

    /// Phase (c): finishes every block with `stats` and hands each to `sink`, as-of date by as-of date, in
    /// customer order within a date. A block is finished while `sink` takes the one before it (writing a
    /// row group leaves cores idle between its columns), so at most two finished blocks are held at once, one
    /// of them being written.
    pub(super) fn finish(
        &mut self,
        stats: &GlobalStats,
        mut sink: impl FnMut(&Self, Output) -> Result<()> + Send,
    ) -> Result<Counts> {
        if stats.as_of_days != self.plan.as_of_days {
            return Err(FeatureError::Request(
                "the population statistics are of other as-of dates than this part's plan: compute them \
                 from the summaries of parts with the same plan"
                    .into(),
            ));
        }
        let hidden_len = self.customer_table.as_ref().map_or(0, |t| t.dates.len());
        let mut counts = Counts {
            hidden_dates: vec![0; hidden_len],
            ..Counts::default()
        };
        let mut seen = vec![false; self.statics.signup.len()];
        let mut kept = std::mem::take(&mut self.kept);
        let mut pending: Option<Output> = None;
        for (d, (&as_of, date_stats)) in self.plan.as_of_days.iter().zip(&stats.dates).enumerate() {
            let started = std::time::Instant::now();
            let population = self.population(as_of);
            self.count_hidden_dates(&population, as_of, &mut counts.hidden_dates);
            let (mut rows, mut labelled, mut positives) = (0, 0, 0);
            for (b, customers) in population.chunks(BLOCK_ROWS).enumerate() {
                let block = kept.get_mut(d).and_then(|blocks| blocks.get_mut(b)?.take());
                for &c in customers {
                    seen[c as usize] = true;
                }
                let this = &*self;
                let prepare = || {
                    let block = block.unwrap_or_else(|| this.compute(customers, as_of));
                    this.finalize(block, as_of, date_stats)
                };
                let output = match pending.take() {
                    Some(previous) => {
                        let (written, output) = rayon::join(|| sink(this, previous), prepare);
                        written?;
                        output
                    }
                    None => prepare(),
                };
                rows += output.rows();
                let labels = output.labels();
                labelled += labels.iter().flatten().count();
                positives += labels.iter().flatten().filter(|&&l| l == 1).count();
                pending = Some(output);
            }
            tracing::debug!(
                as_of = ?as_of.map(date_from_days),
                customers = population.len(),
                seconds = started.elapsed().as_secs_f64(),
                "rows finished"
            );
            counts.per_date.push((rows, labelled, positives));
        }
        if let Some(last) = pending {
            sink(self, last)?;
        }
        counts.customers = seen.iter().filter(|&&s| s).count();
        Ok(counts)
    }

    /// Customers who exist at `as_of` (any row on or before it, or signed up by then) and have not churned;
    /// with subscriptions, those with a period running at `as_of` (and no `[customers]` churn date by then).
    fn population(&self, as_of: Option<Day>) -> Vec<u32> {
        let customers = self.statics.signup.len();
        let snapshot = self.plan.snapshot;
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
                if let Some(periods) = &self.periods {
                    return subscriptions::Known::new(periods.of(i), as_of, self.plan.grace_days).running();
                }
                let first_tx = self.tx.as_ref().and_then(|g| g.of(i).first().map(|r| r.day));
                let first_event = self.events.as_ref().and_then(|g| g.of(i).first().map(|r| r.day));
                [first_tx, first_event, self.statics.signup[i]]
                    .into_iter()
                    .flatten()
                    .any(|d| d <= as_of)
            })
            .collect()
    }

    /// Counts the rows of `population` at `as_of` whose `age` date attribute is after it (and so hidden).
    fn count_hidden_dates(&self, population: &[u32], as_of: Option<Day>, counts: &mut [usize]) {
        let (Some(table), Some(as_of)) = (&self.customer_table, as_of) else {
            return;
        };
        for (date, later) in table.dates.iter().zip(counts) {
            if date.mode != DateMode::Age {
                continue;
            }
            *later += population
                .iter()
                .filter_map(|&c| self.statics.attribute_row[c as usize])
                .filter(|&row| date.days[row as usize].is_some_and(|day| day > as_of))
                .count();
        }
    }

    /// Phase (a) for one block: the rows of `customers` at `as_of` from their own rows.
    fn compute(&self, customers: &[u32], as_of: Option<Day>) -> Block {
        let numeric = self.numeric_columns(customers, as_of);
        let btyd = self.btyd_summaries(customers, as_of, &numeric);
        let labels = customers
            .par_iter()
            .map(|&c| self.label(c as usize, as_of))
            .collect();
        let outcomes = self.plan.outcomes.map(|outcomes| {
            customers
                .par_iter()
                .map(|&c| self.outcome(outcomes, c as usize, as_of))
                .collect()
        });
        let plans = match (&self.periods, as_of) {
            (Some(periods), Some(as_of)) if self.plan_names.is_some() => customers
                .par_iter()
                .map(|&c| {
                    subscriptions::Known::new(periods.of(c as usize), as_of, self.plan.grace_days)
                        .current_plan()
                })
                .collect(),
            _ => Vec::new(),
        };
        Block {
            customers: customers.to_vec(),
            numeric,
            btyd,
            labels,
            outcomes,
            plans,
        }
    }

    /// The BTYD summaries of `customers` in the value models' periods (empty without the value block):
    /// the `btyd_*` columns with one-day periods, else from the rows.
    fn btyd_summaries(
        &self,
        customers: &[u32],
        as_of: Option<Day>,
        numeric: &[Vec<f64>],
    ) -> Vec<PeriodSummary> {
        let layout = &self.plan.layout;
        let (Some(_), Some(tx_start), Some(as_of)) = (&layout.value, layout.tx_start, as_of) else {
            return Vec::new();
        };
        match (self.config.value.period_days, &self.tx) {
            (1, _) | (_, None) => {
                let column = |k: usize| &numeric[tx_start + k];
                let (x, t_x, t, m) = (
                    column(super::tx::BTYD_FREQUENCY),
                    column(super::tx::BTYD_RECENCY),
                    column(super::tx::BTYD_T),
                    column(super::tx::BTYD_MONETARY),
                );
                (0..customers.len()).map(|i| [x[i], t_x[i], t[i], m[i]]).collect()
            }
            (period_days, Some(tx)) => customers
                .par_iter()
                .map(|&c| value::period_summary(tx.of(c as usize), as_of, period_days))
                .collect(),
        }
    }

    /// Phase (c) for one block: the population statistics applied.
    fn finalize(&self, block: Block, as_of: Option<Day>, stats: &DateStats) -> Output {
        let layout = &self.plan.layout;
        let Block {
            customers,
            mut numeric,
            btyd,
            labels,
            outcomes,
            plans,
        } = block;
        let mut descriptors: Vec<Vec<Option<&'static str>>> = Vec::new();
        if let (Some(start), Some((model, _, _))) = (layout.value_start, &stats.value) {
            let (values, _) = model.columns(&btyd);
            for (k, values) in values.into_iter().enumerate() {
                numeric[start + k] = values;
            }
        }
        if let (Some(start), Some(rfm), Some(tiers)) = (layout.tx_start, &stats.rfm, &stats.spend_tiers) {
            let summaries = Summaries::of(layout, &numeric, Vec::new());
            let score = |quintiles: &segments::Quintiles, values: &[f64]| -> Vec<f64> {
                values.iter().map(|&v| quintiles.score(v)).collect()
            };
            let r = score(&rfm[0], &summaries.days_since);
            let f = score(&rfm[1], &summaries.purchases);
            let m = score(&rfm[2], &summaries.spend);
            descriptors.push(
                r.iter()
                    .zip(&f)
                    .map(|(&r, &f)| Some(segments::rfm_segment(r, f)))
                    .collect(),
            );
            descriptors.push(summaries.spend.iter().map(|&s| Some(tiers.tier(s))).collect());
            if let (Some(value_start), Some(columns), Some((_, clv_tiers, _))) =
                (layout.value_start, &layout.value, &stats.value)
            {
                let clv = &numeric[value_start + columns.clv()];
                descriptors.push(
                    clv.iter()
                        .map(|&v| (!v.is_nan()).then(|| clv_tiers.tier(v)))
                        .collect(),
                );
            }
            numeric[start + super::tx::R_SCORE] = r;
            numeric[start + super::tx::F_SCORE] = f;
            numeric[start + super::tx::M_SCORE] = m;
        }
        if as_of.is_some() {
            let since = &numeric[layout.activity_start];
            let tenure = &numeric[layout.activity_start + 1];
            // A customer with a subscription running at the as-of date is active now, however long ago
            // their last purchase or event.
            let running = layout.subscriptions.as_ref().and_then(|block| {
                let k = block
                    .features
                    .iter()
                    .position(|&measure| measure == subscriptions::SubscriptionMeasure::Concurrent)?;
                Some(&numeric[block.start + k])
            });
            descriptors.push(
                tenure
                    .iter()
                    .zip(since)
                    .enumerate()
                    .map(|(row, (&t, &s))| {
                        let s = if running.is_some_and(|count| count[row] > 0.0) {
                            0.0
                        } else {
                            s
                        };
                        Some(segments::lifecycle_stage(t, s, &self.config.lifecycle))
                    })
                    .collect(),
            );
        }
        let attribute_rows = customers
            .iter()
            .map(|&c| self.statics.attribute_row[c as usize])
            .collect();
        Output::new(
            customers,
            as_of,
            labels,
            numeric,
            descriptors,
            attribute_rows,
            plans,
            outcomes,
        )
    }

    /// The numeric feature columns of `customers` at `as_of`. Rows are computed in parallel pieces and
    /// turned into columns piece by piece, so memory is walked in cache-sized pieces.
    fn numeric_columns(&self, customers: &[u32], as_of: Option<Day>) -> Vec<Vec<f64>> {
        const PIECE: usize = 4096;
        let width = self.plan.layout.numeric_len;
        if width == 0 {
            return Vec::new();
        }
        // Allocated (and its pages touched) on every core: tens of megabytes per block.
        let mut columns: Vec<Vec<f64>> = (0..width)
            .into_par_iter()
            .map(|_| vec![f64::NAN; customers.len()])
            .collect();
        // Each piece of customers gets its own piece of every column, so pieces fill them in parallel.
        let mut pieces: Vec<Vec<&mut [f64]>> = customers
            .chunks(PIECE)
            .map(|_| Vec::with_capacity(width))
            .collect();
        for column in &mut columns {
            for (piece, part) in pieces.iter_mut().zip(column.chunks_mut(PIECE)) {
                piece.push(part);
            }
        }
        pieces
            .into_par_iter()
            .zip(customers.par_chunks(PIECE))
            .for_each(|(mut piece, customers)| {
                let mut rows = vec![f64::NAN; customers.len() * width];
                for (row, &c) in rows.chunks_mut(width).zip(customers) {
                    self.fill(c as usize, as_of, row);
                }
                for (j, part) in piece.iter_mut().enumerate() {
                    for (i, value) in part.iter_mut().enumerate() {
                        *value = rows[i * width + j];
                    }
                }
            });
        columns
    }

    /// Fills the numeric row of customer `c` at `as_of`.
    fn fill(&self, c: usize, as_of: Option<Day>, row: &mut [f64]) {
        let layout: &Layout = &self.plan.layout;
        if let Some(as_of) = as_of {
            let tx_span = match (layout.tx_start, &self.tx) {
                (Some(start), Some(tx)) => customer::fill_transactions(layout, start, tx.of(c), as_of, row),
                _ => None,
            };
            if let (Some(block), Some(lines)) = (&layout.order_lines, &self.lines) {
                order_lines::fill(block, lines.of(c), as_of, row);
            }
            if let (Some(block), Some(periods)) = (&layout.subscriptions, &self.periods) {
                let known = subscriptions::Known::new(periods.of(c), as_of, self.plan.grace_days);
                subscriptions::fill(block, &known, block.plan, row);
            }
            let event_span = self.events.as_ref().and_then(|events| {
                customer::fill_events(layout, &self.slot_of_kind, events.of(c), as_of, row)
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
        if let (Some(table), Some(attribute_row)) = (&self.customer_table, self.statics.attribute_row[c]) {
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
                    row[layout.dates_start + k] = super::date_attribute_days(date.mode, day, as_of);
                }
            }
        }
    }

    /// Customer `c`'s duration in days from `as_of` and whether it ends in churn (1) or is censored (0):
    /// to the churn date when it is known by the end of the data, else to that end; `None` when unknown
    /// (a given label that is null, an as-of date after the end of the data).
    fn outcome(&self, outcomes: Outcomes, c: usize, as_of: Option<Day>) -> Option<(f64, f64)> {
        if outcomes.kind == LabelKind::Given {
            let labels = self.labels.as_ref()?;
            let event = labels.by_customer.get(&(c as u32)).copied().flatten()?;
            let days = *labels.durations.as_ref()?.get(&(c as u32))?;
            return Some((days, f64::from(event)));
        }
        let as_of = as_of?;
        let end = outcomes.data_end?;
        if end < as_of {
            return None;
        }
        let churn = match outcomes.kind {
            LabelKind::Subscriptions => {
                subscriptions::churn_of_life_at(self.periods.as_ref()?.of(c), as_of, self.plan.grace_days)
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
        let plan = self.plan;
        match plan.label_kind {
            LabelKind::None => None,
            LabelKind::Given => self
                .labels
                .as_ref()
                .and_then(|l| l.by_customer.get(&(c as u32)).copied().flatten()),
            LabelKind::Contractual | LabelKind::Inactivity | LabelKind::Subscriptions => {
                let as_of = as_of?;
                let horizon_end = as_of + i32::try_from(plan.horizon?).ok()?;
                if horizon_end > plan.data_end? {
                    return None;
                }
                if plan.label_kind == LabelKind::Subscriptions {
                    let rows = self.periods.as_ref()?.of(c);
                    let churn = subscriptions::churn_of_life_at(rows, as_of, plan.grace_days);
                    return Some(i8::from(churn.is_some_and(|d| d > as_of && d <= horizon_end)));
                }
                if plan.label_kind == LabelKind::Contractual {
                    let churned = self.statics.churn[c].is_some_and(|d| d > as_of && d <= horizon_end);
                    return Some(i8::from(churned));
                }
                let rows = self.tx.as_ref()?.of(c);
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

fn static_facts(
    customers: usize,
    table: Option<&crate::input::Customers>,
    labels: Option<&FxHashMap<u32, Option<i8>>>,
) -> Static {
    let mut facts = Static {
        signup: vec![None; customers],
        churn: vec![None; customers],
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
