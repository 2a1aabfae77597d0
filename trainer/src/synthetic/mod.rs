//! Seeded synthetic customer data: transactions, events, customers and subscription periods with a
//! planted, learnable churn mechanism, for demos, scale tests and benchmarks.
//!
//! The data set is a function of its [`Spec`] alone. Each customer is simulated from their own random
//! stream, seeded from the run's seed and the customer's index, so the files are identical whatever the
//! number of threads. Customers are simulated in chunks, in parallel on the rayon pool, and streamed to
//! four Parquet writers (one thread each) in customer order: memory stays flat however large the request.
//!
//! How customers behave (see `customer` and `activity`): signups spread over the period, more of them early;
//! purchase rates are gamma-mixed Poisson (a few heavy buyers, many light ones) with lognormal line amounts,
//! weekly and yearly seasonality, multi-line orders and about 3% returns. Each order line holds a product of
//! a catalogue of 400 in 8 categories, drawn with a popularity skew around the customer's main category,
//! and a number of units (see `basket`); a return is of its line's product. Each customer's latent churn
//! hazard depends on plan, acquisition channel, age, spend level, purchase rate, a hidden dissatisfaction
//! that shows as support tickets and complaints, and how narrow their basket is: narrow baskets raise it on
//! the basic plan and lower it on the others (an interaction: over all plans the basket hardly matters). In
//! the eight weeks before churn purchases and logins fade while tickets and complaints surge, and baskets
//! narrow to fewer categories and fewer units; at churn everything stops.

mod activity;
mod basket;
mod calendar;
mod chunk;
mod customer;
mod output;
mod rng;
mod subscription;

use activity::Rates;
use anyhow::{Context, Result, anyhow, ensure};
use arrow_array::RecordBatch;
use calendar::Calendar;
use chrono::NaiveDate;
pub use chunk::Counts;
use chunk::{ChunkContext, simulate_chunk};
use churn_features::output::{FileDigest, Staged};
use output::ParquetOutput;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Largest number of customers one run may ask for (integer order ids must fit in 64 bits).
pub const MAX_CUSTOMERS: u64 = 1_000_000_000_000;
/// Largest mean number of transaction rows per customer.
pub const MAX_TRANSACTIONS_PER_CUSTOMER: f64 = 10_000.0;
/// Longest period, in days.
pub const MAX_PERIOD_DAYS: i64 = 36_525;
/// Most customers in one chunk, the unit of parallel work.
const MAX_CHUNK_CUSTOMERS: u64 = 20_000;
/// Batches waiting for each writer; with the chunks being simulated this bounds memory.
const WRITER_QUEUE: usize = 2;

/// Type of the customer and order id columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    /// `C000001`-style customer ids and `C000001-3`-style order ids.
    String,
    /// Customer ids 1, 2, 3, ...; order ids `customer_id × 1,000,000 + order number`.
    Int,
}

impl IdType {
    /// The name used on the command line and in `generate.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Number of customers.
    pub customers: u64,
    /// Requested mean number of transaction rows per customer.
    pub transactions_per_customer: f64,
    /// First day of the period.
    pub start: NaiveDate,
    /// Last day of the period (included).
    pub end: NaiveDate,
    /// Seed of every random draw.
    pub seed: u64,
    /// Type of the id columns.
    pub id_type: IdType,
}

impl Spec {
    /// Checks that the request makes sense, explaining what is wrong if not.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_CUSTOMERS).contains(&self.customers),
            "--customers must be between 1 and {MAX_CUSTOMERS}, got {}",
            self.customers
        );
        ensure!(
            self.transactions_per_customer.is_finite()
                && self.transactions_per_customer > 0.0
                && self.transactions_per_customer <= MAX_TRANSACTIONS_PER_CUSTOMER,
            "--transactions-per-customer must be above 0 and at most {MAX_TRANSACTIONS_PER_CUSTOMER}, got {}",
            self.transactions_per_customer
        );
        ensure!(
            self.end >= self.start,
            "--end ({}) is before --start ({})",
            self.end,
            self.start
        );
        let days = (self.end - self.start).num_days() + 1;
        ensure!(
            days <= MAX_PERIOD_DAYS,
            "the period from --start to --end is {days} days; at most {MAX_PERIOD_DAYS}"
        );
        Ok(())
    }
}

/// Customers per chunk: small enough that small runs still use every core, and a function of the request
/// only, so that the output never depends on the machine.
fn chunk_size(customers: u64) -> u64 {
    customers.div_ceil(16).clamp(1_000, MAX_CHUNK_CUSTOMERS)
}

/// The inputs both feature-engine configurations written beside the data map (paths relative to their
/// folder).
const INPUTS_TOML: &str = r#"
[transactions]
path = "transactions.parquet"
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
order_id = "order_id"
product_id = "product_id"
category = "category"
quantity = "quantity"

[events]
path = "events.parquet"
customer_id = "customer_id"
timestamp = "ts"
event_type = "event_type"
value = "value"

[customers]
path = "customers.parquet"
customer_id = "customer_id"
signup_date = "signup_date"
"#;

/// The heading of `churn.toml`, the feature-engine configuration of the demo (inactivity labels).
const CHURN_TOML_HEADING: &str = "\
# Feature-engine configuration for this synthetic data set (written by `churn-trainer generate`).
# Paths are relative to this file's folder.
";

/// The heading of `churn-subscriptions.toml`: the same inputs and `[subscriptions]`, whose periods make
/// the labels contractual (see the README's "Subscriptions"). `churn.toml` leaves them out, so the demo's
/// labels stay inactivity labels.
const CHURN_SUBSCRIPTIONS_TOML_HEADING: &str = "\
# Feature-engine configuration with the subscription periods (written by `churn-trainer generate`).
# Labels are contractual: a customer churns when their last period ends and no period starts within
# grace_days after it. Paths are relative to this file's folder.
";

/// The `[subscriptions]` section of `churn-subscriptions.toml`.
const SUBSCRIPTIONS_TOML: &str = r#"
[subscriptions]
path = "subscriptions.parquet"
customer_id = "customer_id"
start = "start_date"
end = "end_date"
plan = "plan"
amount = "amount"
billing_months = "billing_months"
quantity = "seats"
discount = "discount"
grace_days = 30
"#;

/// The contents of `generate.json`: the request, the row counts and the files written.
#[derive(Debug, Serialize)]
struct Manifest {
    generator: &'static str,
    parameters: ManifestParameters,
    rows: ManifestRows,
    transactions: ManifestTransactions,
    events: ManifestEvents,
    customers: ManifestCustomers,
    files: ManifestFiles,
    /// Size and SHA-256 of every data file, so a damaged file can be told from a good one.
    checksums: Vec<FileDigest>,
}

#[derive(Debug, Serialize)]
struct ManifestParameters {
    customers: u64,
    transactions_per_customer: f64,
    start: String,
    end: String,
    seed: u64,
    id_type: &'static str,
}

#[derive(Debug, Serialize)]
struct ManifestRows {
    transactions: u64,
    events: u64,
    customers: u64,
    subscriptions: u64,
}

#[derive(Debug, Serialize)]
struct ManifestTransactions {
    orders: u64,
    purchase_lines: u64,
    returns: u64,
}

/// Event rows by type, named as in the `event_type` column.
#[derive(Debug, Serialize)]
struct ManifestEvents {
    login: u64,
    page_view: u64,
    support_ticket: u64,
    complaint: u64,
}

#[derive(Debug, Serialize)]
struct ManifestCustomers {
    without_transactions: u64,
    /// Customers whose hidden churn time falls inside the period (the truth a model tries to recover).
    latent_churn_within_period: u64,
}

#[derive(Debug, Serialize)]
struct ManifestFiles {
    transactions: &'static str,
    events: &'static str,
    customers: &'static str,
    subscriptions: &'static str,
    config: &'static str,
    subscriptions_config: &'static str,
}

impl Manifest {
    fn new(spec: &Spec, counts: &Counts) -> Self {
        let [login, page_view, support_ticket, complaint] = counts.events;
        Self {
            generator: concat!("churn-trainer ", env!("CARGO_PKG_VERSION")),
            parameters: ManifestParameters {
                customers: spec.customers,
                transactions_per_customer: spec.transactions_per_customer,
                start: spec.start.to_string(),
                end: spec.end.to_string(),
                seed: spec.seed,
                id_type: spec.id_type.name(),
            },
            rows: ManifestRows {
                transactions: counts.transactions,
                events: counts.total_events(),
                customers: counts.customers,
                subscriptions: counts.subscriptions,
            },
            transactions: ManifestTransactions {
                orders: counts.orders,
                purchase_lines: counts.purchase_lines,
                returns: counts.returns,
            },
            events: ManifestEvents {
                login,
                page_view,
                support_ticket,
                complaint,
            },
            customers: ManifestCustomers {
                without_transactions: counts.without_transactions,
                latent_churn_within_period: counts.churned_in_period,
            },
            files: ManifestFiles {
                transactions: "transactions.parquet",
                events: "events.parquet",
                customers: "customers.parquet",
                subscriptions: "subscriptions.parquet",
                config: "churn.toml",
                subscriptions_config: "churn-subscriptions.toml",
            },
            checksums: Vec::new(),
        }
    }
}

/// Generates the data set described by `spec` into folder `out` (created if missing): `transactions.parquet`,
/// `events.parquet`, `customers.parquet`, `subscriptions.parquet`, `churn.toml`, `churn-subscriptions.toml`
/// and `generate.json`. `progress` is told how many more
/// customers have been written, chunk by chunk. Files appear only when all of them are complete.
pub fn generate(spec: &Spec, out: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<Counts> {
    spec.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating output folder {}", out.display()))?;
    let calendar = Calendar::new(spec.start, spec.end);
    let rates = Rates::calibrate(
        &calendar,
        spec.seed,
        spec.customers,
        spec.transactions_per_customer,
    );
    tracing::debug!(?rates, "calibrated rates");
    let context = ChunkContext {
        calendar,
        rates,
        seed: spec.seed,
        id_type: spec.id_type,
        id_digits: spec.customers.to_string().len().max(6),
    };

    let outputs = [
        ParquetOutput::create(
            out,
            "transactions.parquet",
            chunk::transactions_schema(spec.id_type),
            &["ts", "amount", "order_id"],
        )?,
        ParquetOutput::create(
            out,
            "events.parquet",
            chunk::events_schema(spec.id_type),
            &["ts", "value"],
        )?,
        ParquetOutput::create(
            out,
            "customers.parquet",
            chunk::customers_schema(spec.id_type),
            &["customer_id"],
        )?,
        ParquetOutput::create(
            out,
            "subscriptions.parquet",
            chunk::subscriptions_schema(spec.id_type),
            &["amount"],
        )?,
    ];
    let (parquet_files, counts) = std::thread::scope(|scope| -> Result<(Vec<Staged>, Counts)> {
        let mut senders = Vec::new();
        let mut writers = Vec::new();
        for output in outputs {
            let (sender, receiver) = sync_channel::<RecordBatch>(WRITER_QUEUE);
            senders.push(sender);
            writers.push(scope.spawn(move || write_all(output, receiver)));
        }
        let simulated = simulate_all(spec, &context, &senders, progress);
        // Closing the queues tells the writers to finish their files.
        drop(senders);
        let mut files = Vec::new();
        for writer in writers {
            files.push(
                writer
                    .join()
                    .map_err(|_| anyhow!("a Parquet writer thread panicked"))??,
            );
        }
        // A writer's error explains a failed send, so it is reported first (by the loop above).
        Ok((files, simulated?))
    })?;

    let config = output::write_text(out, "churn.toml", &format!("{CHURN_TOML_HEADING}{INPUTS_TOML}"))?;
    let subscriptions_config = output::write_text(
        out,
        "churn-subscriptions.toml",
        &format!("{CHURN_SUBSCRIPTIONS_TOML_HEADING}{INPUTS_TOML}{SUBSCRIPTIONS_TOML}"),
    )?;
    let mut described = Manifest::new(spec, &counts);
    described.checksums = parquet_files.iter().map(|f| f.digest().clone()).collect();
    described.checksums.push(config.digest().clone());
    described.checksums.push(subscriptions_config.digest().clone());
    let manifest_text = serde_json::to_string_pretty(&described)? + "\n";
    let manifest = output::write_text(out, "generate.json", &manifest_text)?;
    for file in parquet_files {
        file.commit()?;
    }
    config.commit()?;
    subscriptions_config.commit()?;
    // Last, so that a folder with a generate.json holds a complete data set.
    manifest.commit()?;
    Ok(counts)
}

/// Simulates every chunk, a few at a time in parallel, and queues their batches to the writers in order.
fn simulate_all(
    spec: &Spec,
    context: &ChunkContext,
    writers: &[SyncSender<RecordBatch>],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Counts> {
    let chunk_size = chunk_size(spec.customers);
    let chunk_count = spec.customers.div_ceil(chunk_size);
    // Enough chunks in flight to keep every thread busy while the writers drain the previous ones.
    let window = (2 * rayon::current_num_threads()).max(2) as u64;
    let mut counts = Counts::default();
    let mut first = 0;
    while first < chunk_count {
        let last = (first + window).min(chunk_count);
        let chunks: Vec<_> = (first..last)
            .into_par_iter()
            .map(|c| {
                simulate_chunk(
                    context,
                    c * chunk_size..((c + 1) * chunk_size).min(spec.customers),
                )
            })
            .collect();
        for chunk in chunks {
            let chunk = chunk.context("assembling a chunk of synthetic rows")?;
            counts.add(&chunk.counts);
            for (writer, batch) in writers.iter().zip([
                chunk.transactions,
                chunk.events,
                chunk.customers,
                chunk.subscriptions,
            ]) {
                writer
                    .send(batch)
                    .map_err(|_| anyhow!("a Parquet writer stopped early"))?;
            }
            progress(chunk.counts.customers);
        }
        first = last;
    }
    Ok(counts)
}

/// Writes every batch that arrives to `output`, then finishes the file.
fn write_all(mut output: ParquetOutput, batches: Receiver<RecordBatch>) -> Result<Staged> {
    for batch in batches {
        output.write(&batch)?;
    }
    output.finish()
}
