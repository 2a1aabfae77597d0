//! `churn-trainer generate`: a seeded synthetic data set (transactions with products, categories and
//! quantities, events, customers, subscription periods) with a planted, learnable churn mechanism, plus the `churn.toml` that points the feature
//! engine at it and `churn-subscriptions.toml`, which adds the subscriptions.

use super::Ui;
use crate::synthetic::{self, IdType, Spec};
use anyhow::Result;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;

/// Generate a synthetic data set for demos, scale tests and benchmarks.
///
/// Writes OUT/transactions.parquet, OUT/events.parquet, OUT/customers.parquet, OUT/subscriptions.parquet
/// (subscription periods from each customer's signup to their churn, with plan changes, short pauses and
/// some returns), OUT/churn.toml (a feature configuration for the first three: inactivity labels),
/// OUT/churn-subscriptions.toml (the same with [subscriptions]: contractual labels) and OUT/generate.json
/// (the parameters and row counts). Each transaction line has a product_id, its category (8 of them) and
/// a quantity in units (negative for a return, as the amount); churn.toml maps them, so the features
/// include the order-line (basket) family. The same seed and parameters always give the same files.
/// Customers churn through a hidden mechanism driven by plan, acquisition channel, age, spend, purchase
/// rate, support tickets and how narrow their basket is (a narrow basket raises churn on the basic plan
/// and lowers it on the others); before they leave, their purchases fade, their baskets narrow to fewer
/// categories and units, and their tickets and complaints rise.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  churn-trainer generate --out demo --customers 50000 --seed 7
  churn-trainer features --config demo/churn.toml --as-of 2024-06-30 \\
      --horizon 90 --out features.parquet")]
pub struct GenerateArgs {
    /// Folder to write the data set to (created if missing; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Number of customers.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub customers: u64,

    /// Mean number of transaction rows per customer over the period (heavy-tailed across customers).
    #[arg(long, value_name = "MEAN", default_value_t = 20.0)]
    pub transactions_per_customer: f64,

    /// First day of the simulated period (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", default_value = "2023-01-01")]
    pub start: NaiveDate,

    /// Last day of the simulated period, included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", default_value = "2024-12-31")]
    pub end: NaiveDate,

    /// Seed of every random draw: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Type of the customer_id and order_id columns.
    #[arg(long, value_enum, default_value_t = IdTypeArg::String)]
    pub id_type: IdTypeArg,
}

/// Type of the id columns, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdTypeArg {
    /// Text ids such as C000042 (orders C000042-3).
    String,
    /// Integer ids such as 42 (orders 42000003).
    Int,
}

impl From<IdTypeArg> for IdType {
    fn from(value: IdTypeArg) -> Self {
        match value {
            IdTypeArg::String => IdType::String,
            IdTypeArg::Int => IdType::Int,
        }
    }
}

/// Runs `churn-trainer generate`.
pub fn run(args: GenerateArgs, ui: &Ui) -> Result<()> {
    let spec = Spec {
        customers: args.customers,
        transactions_per_customer: args.transactions_per_customer,
        start: args.start,
        end: args.end,
        seed: args.seed,
        id_type: args.id_type.into(),
    };
    spec.validate()?;
    let started = Instant::now();
    let bar = ui.progress(spec.customers, "generating", "customers");
    let counts = synthetic::generate(&spec, &args.out, &|customers| bar.inc(customers))?;
    bar.finish_and_clear();
    tracing::info!(
        customers = counts.customers,
        transactions = counts.transactions,
        events = counts.total_events(),
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "wrote {}",
        args.out.display()
    );
    Ok(())
}
