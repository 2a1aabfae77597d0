//! `churn-trainer score`: score the rows of a feature table in a registry model's population and write
//! Parquet (and, with `--call-list`, a CSV of the customers most worth a call).

use super::outln;
use super::population::{self, PopulationArgs, describe, population_mask};
use super::{Ui, UsageError};
use anyhow::{Context, Result};
use churn_features::{FeatureTable, output};
use churn_models::call_list::{CallListOptions, ValueColumn, call_list, call_list_path};
use churn_models::{ModelConfig, Registry, ScoresFile};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Rows scored per progress step.
const CHUNK_ROWS: usize = 32_768;

/// Score a feature table's rows (the model's population): churn probability, risk band, top reasons.
///
/// Writes Parquet with one row per scored row: customer_id, as_of, churn_probability, risk_band, flagged
/// (probability at least the model's threshold), in_population (with --all-rows), the customer's value
/// when the table has the customer-value columns (clv: the lifetime value of its clv_<N>m column;
/// value_at_risk = churn_probability × clv, the money a customer's leaving would likely cost; p_alive:
/// the probability that the customer still buys), reason_1..K (the groups of features pushing the risk
/// up the most: each one's main feature, its value, the group's contribution, the group's name in
/// reason_K_group and the reason in words in reason_K_text), the table's descriptor columns (segments),
/// and the model's name and version; and beside it <name>.summary.json (model, rows, flagged, population,
/// the total value at risk, the file's SHA-256). Both are written atomically, and never over the feature table, the registry or the model
/// config. Category values the model has no level for (unseen in training, or too rare there) are scored
/// as its `other` level and reported in a warning with their counts per feature.
///
/// --model NAME scores with the promoted version, and fails when none is promoted (promote one with
/// `churn-trainer models promote NAME@VERSION`, or name it); NAME@VERSION picks any version. This is
/// the rule churn-server follows too.
///
/// Only the rows of the model's population are scored and written (the [population] section of
/// --model-config replaces the model's rules, the population flags replace single rules); the rows it
/// leaves out are counted. With --all-rows every row is written, with an in_population column saying
/// whether the row is in the population.
///
/// With --call-list N it also writes <name>.call-list.csv beside them: the N customers most worth a
/// call (of the population's rows at the latest as-of date), ranked by value at risk (probability × the value column) or, without
/// one, by probability, with customer_id, churn_probability (3 decimals), risk_band, the value and
/// value_at_risk, p_alive, the segments (lifecycle_stage, rfm_segment, ...) and the reasons in words. It is UTF-8
/// CSV (RFC 4180 quoting) that spreadsheets open as is.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  churn-trainer score --model cdnow --registry models \\\n      \
                  --features cdnow.parquet --out scores.parquet --top-k 3\n  \
                  # also scores.call-list.csv: the 50 customers to call first\n  \
                  churn-trainer score --model cdnow --registry models \\\n      \
                  --features cdnow.parquet --out scores.parquet --call-list 50\n  \
                  # every row, with in_population saying whom the model is for\n  \
                  churn-trainer score --model cdnow --registry models \\\n      \
                  --features cdnow.parquet --out scores.parquet --all-rows"
)]
pub struct ScoreArgs {
    /// Model to use: NAME (its promoted version) or NAME@VERSION.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub model: String,

    /// Model registry directory.
    #[arg(long, value_name = "DIR")]
    pub registry: PathBuf,

    /// Feature table (Parquet) to score.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,

    /// Output Parquet file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Number of reasons per row (0 for probabilities only, which is faster).
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub top_k: usize,

    /// Model configuration file whose [[risk_bands]] replace the model's bands, and whose [population]
    /// replaces the model's.
    #[arg(long, value_name = "FILE")]
    pub model_config: Option<PathBuf>,

    /// Also write <out name>.call-list.csv: the N customers most worth a call (N at least 1), with
    /// reasons in words.
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub call_list: Option<usize>,

    /// Numeric column holding a customer's value: the call list ranks by probability × value. Default:
    /// the predicted lifetime value (clv_<N>m, from the [value] models) when the table has one with
    /// values, else the longest-window spend column (spend_<N>d) when it has one; `none` ranks by
    /// probability.
    #[arg(long, value_name = "COLUMN", requires = "call_list")]
    pub value_column: Option<String>,

    /// Score and write every row, with an in_population column (true for the rows of the population),
    /// instead of the population's rows only.
    #[arg(long, help_heading = population::HEADING)]
    pub all_rows: bool,

    /// Which customers to score (the model's population unless given).
    #[command(flatten)]
    pub population: PopulationArgs,
}

/// The value column as the command line gives it.
pub fn value_column(arg: Option<&str>) -> ValueColumn {
    match arg {
        None => ValueColumn::Auto,
        Some("none") => ValueColumn::None,
        Some(name) => ValueColumn::Named(name.to_string()),
    }
}

/// Runs `churn-trainer score`.
pub fn run(args: ScoreArgs, ui: &Ui) -> Result<()> {
    let started = Instant::now();
    let summary_path = output::summary_path(&args.out);
    let features_summary = output::summary_path(&args.features);
    let call_list_file = args.call_list.map(|_| call_list_path(&args.out));
    let mut inputs = vec![
        args.features.as_path(),
        &features_summary,
        args.registry.as_path(),
    ];
    inputs.extend(args.model_config.as_deref());
    let mut outputs = vec![args.out.as_path(), &summary_path];
    outputs.extend(call_list_file.as_deref());
    output::check_parquet_name(&args.out).map_err(|e| UsageError(e.to_string()))?;
    output::check_outputs(&outputs, &inputs)?;
    output::check_summary_is_its_own(&args.out)?;
    let registry = Registry::open(&args.registry)?;
    let model = registry.resolve(&args.model)?;
    let config = ModelConfig::load(args.model_config.as_deref())?;
    let bands = match config.risk_bands {
        // Bands from a configuration agree with the model's threshold as the model's own do.
        Some(bands) => bands
            .aligned_logged(model.threshold(), "--model-config")
            .map_err(anyhow::Error::msg)?,
        None => model.risk_bands().clone(),
    };
    let population = args
        .population
        .over(config.population.as_ref().unwrap_or(&model.artifact.population));
    let scorer = model.scorer().with_bands(&bands);
    let table = FeatureTable::read_parquet(&args.features)
        .with_context(|| format!("cannot read feature table {}", args.features.display()))?;
    let in_population = population_mask(&table, &args.features, &population)?;
    let outside_population = in_population.iter().filter(|&&keep| !keep).count();
    let read_rows = table.len();
    let (table, in_population) = match args.all_rows || outside_population == 0 {
        true => (table, args.all_rows.then_some(in_population)),
        false => {
            let rows: Vec<usize> = (0..table.len()).filter(|&i| in_population[i]).collect();
            (table.select_rows(&rows), None)
        }
    };
    model.schema().check_table(&table).with_context(|| {
        format!(
            "{} does not fit model {}@{}",
            args.features.display(),
            model.name,
            model.version
        )
    })?;
    let call_list_options = args.call_list.map(|size| CallListOptions {
        size,
        value: value_column(args.value_column.as_deref()),
        ..CallListOptions::default()
    });
    if let Some(options) = &call_list_options {
        // A bad --value-column fails before the scoring.
        options
            .value_column(&table)
            .with_context(|| format!("cannot rank the call list of {}", args.features.display()))?;
    }
    for feature in model.schema().all_null_features(&table) {
        tracing::warn!(
            feature,
            "the feature is null in every row of {}; the model fills in its training median for all of them, \
             so scores lose what the feature carried",
            args.features.display()
        );
    }

    let all: Vec<usize> = (0..table.len()).collect();
    for summary in model.schema().unknown_categories(&table, &all).summaries(5) {
        tracing::warn!("{}: {summary}", args.features.display());
    }

    let bar = ui.progress(table.len() as u64, "scoring", "rows");
    let mut scores = Vec::with_capacity(table.len());
    for chunk in all.chunks(CHUNK_ROWS) {
        scores.extend(scorer.score_table(&table, chunk, args.top_k)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let file = ScoresFile {
        table: &table,
        scores: &scores,
        reasons: args.top_k,
        artifact: &model.artifact,
        population: &population,
        in_population: in_population.as_deref(),
        outside_population,
    };
    let summary = file.write(&args.out, &args.features)?;
    outln!(
        "scored {} rows with {}@{} in {:.2}s: {} flagged at threshold {:.4}; wrote {}",
        table.len(),
        model.name,
        model.version,
        started.elapsed().as_secs_f64(),
        summary.flagged,
        model.threshold(),
        args.out.display()
    )?;
    if let (Some(total), Some(column)) = (summary.value_at_risk, &summary.clv_column) {
        outln!(
            "value at risk: {total:.2} expected to be lost to churn (churn probability × {column}, summed \
             over the population; per customer in the value_at_risk column)"
        )?;
    }
    if !population.is_everyone() {
        let what = match args.all_rows {
            true => "outside it (written with in_population = false)",
            false => "left out (not scored; --all-rows writes them too)",
        };
        outln!("{}", describe(&population, outside_population, read_rows, what))?;
    }
    if let (Some(options), Some(path)) = (call_list_options, call_list_file) {
        // Only the population's customers are worth a call, also when every row was scored.
        let rows: Vec<usize> = match &in_population {
            Some(keep) => all.iter().copied().filter(|&i| keep[i]).collect(),
            None => all,
        };
        let probabilities: Vec<f64> = rows.iter().map(|&i| scores[i].probability).collect();
        let list = call_list(scorer, &table, &rows, &probabilities, &options)?;
        list.write_csv(&path)?;
        outln!(
            "call list: the {} customers with {} of {}{}; wrote {}",
            list.entries.len(),
            list.ranking(),
            list.considered,
            list.as_of.map_or_else(String::new, |d| format!(" as of {d}")),
            path.display()
        )?;
    }
    Ok(())
}
