//! `churn-trainer evaluate`: metrics and an HTML report of a registry model on a labelled feature table.

use super::Ui;
use super::outln;
use super::population::{self, PopulationArgs, describe, population_mask, print_by_segment};
use super::report::{ReportInput, render};
use anyhow::{Context, Result, bail};
use churn_features::FeatureTable;
use churn_features::output;
use churn_models::importance::{PermutationParams, permutation_importance};
use churn_models::metrics::table_segment_metrics;
use churn_models::registry::write_metrics;
use churn_models::train::labelled_rows_in;
use churn_models::{Metrics, Registry};
use clap::Args;
use std::path::PathBuf;

/// Evaluate a registry model on the labelled rows of a feature table.
///
/// Writes OUT/metrics.json (ROC AUC, PR AUC, log loss, Brier, precision / recall / F1 and the confusion
/// matrix at the model's threshold, lift and capture by decile, a 10-bin calibration table, permutation
/// importance) and OUT/report.html, a self-contained page with ROC, precision-recall, calibration,
/// lift/gain and importance charts for readers who never open a terminal. Rows with an unknown label are
/// skipped. Only the rows of the model's population are evaluated (the population flags replace its
/// rules; --all-rows evaluates every row), and the rows it left out are counted. Prints the metrics,
/// also per lifecycle stage and RFM segment.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  churn-trainer evaluate --model cdnow@v2 --registry models \\\n      \
                  --features cdnow_1998.parquet --out eval/cdnow"
)]
pub struct EvaluateArgs {
    /// Model to evaluate: NAME (promoted or latest version) or NAME@VERSION.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub model: String,

    /// Model registry directory.
    #[arg(long, value_name = "DIR")]
    pub registry: PathBuf,

    /// Labelled feature table (Parquet).
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,

    /// Output directory for metrics.json and report.html (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Skip permutation importance.
    #[arg(long)]
    pub no_importance: bool,

    /// Evaluate every labelled row, not only the model's population.
    #[arg(long, help_heading = population::HEADING, conflicts_with_all = [
        "max_days_since_last_purchase", "lifecycle_stages", "min_tenure_days", "exclude_never_purchased",
    ])]
    pub all_rows: bool,

    /// Which customers to evaluate on (the model's population unless given).
    #[command(flatten)]
    pub population: PopulationArgs,
}

/// Runs `churn-trainer evaluate`.
pub fn run(args: EvaluateArgs, ui: &Ui) -> Result<()> {
    let metrics_path = args.out.join("metrics.json");
    let report_path = args.out.join("report.html");
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    output::check_outputs(&[&metrics_path, &report_path], &[&args.features, &args.registry])?;
    let registry = Registry::open(&args.registry)?;
    let model = registry.resolve(&args.model)?;
    let table = FeatureTable::read_parquet(&args.features)
        .with_context(|| format!("cannot read feature table {}", args.features.display()))?;
    let population = match args.all_rows {
        true => churn_models::Population::everyone(),
        false => args.population.over(&model.artifact.population),
    };
    let in_population = population_mask(&table, &args.features, &population)?;
    let candidates: Vec<usize> = (0..table.len()).filter(|&i| in_population[i]).collect();
    let left_out = table.len() - candidates.len();
    let (rows, labels, skipped) = labelled_rows_in(&table, &candidates)?;
    if rows.is_empty() {
        bail!(
            "{} has no labelled rows ({} rows{}, all with an unknown label): nothing to evaluate",
            args.features.display(),
            candidates.len(),
            match population.is_everyone() {
                true => String::new(),
                false => format!(" in the population ({population})"),
            }
        );
    }
    let bar = ui.progress(2, "evaluating", "steps");
    let x = model.schema().encode_table(&table, &rows).with_context(|| {
        format!(
            "{} does not fit model {}@{}",
            args.features.display(),
            model.name,
            model.version
        )
    })?;
    let probabilities = model.scorer().predict_encoded(&x);
    let mut metrics = Metrics::at_threshold(
        &labels,
        &probabilities,
        model.threshold(),
        model.artifact.threshold_rule,
    )
    .context("cannot compute metrics")?;
    metrics.by_segment = table_segment_metrics(&table, &rows, &labels, &probabilities, &probabilities)?;
    (metrics.population, metrics.population_excluded) = (population.clone(), left_out);
    bar.inc(1);
    if !args.no_importance {
        metrics.importance = permutation_importance(
            &model.artifact.model,
            model.schema(),
            &x,
            &labels,
            PermutationParams::default(),
        )?;
    }
    bar.finish_and_clear();

    write_metrics(&metrics_path, &metrics)?;
    let spec = format!("{}@{}", model.name, model.version);
    let html = render(&ReportInput {
        model: &spec,
        kind: &model.artifact.kind.to_string(),
        data: &args.features.display().to_string(),
        metrics: &metrics,
        labels: &labels,
        probabilities: &probabilities,
    });
    output::write_bytes_atomically(&report_path, html.as_bytes())?;
    outln!(
        "{spec} on {} rows ({} churned, {skipped} skipped with unknown label): roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  precision {:.3}  recall {:.3}  f1 {:.3} at threshold {:.4}",
        metrics.rows,
        metrics.positives,
        metrics.roc_auc,
        metrics.pr_auc,
        metrics.log_loss,
        metrics.brier,
        metrics.precision,
        metrics.recall,
        metrics.f1,
        metrics.threshold
    )?;
    if !population.is_everyone() {
        outln!("{}", describe(&population, left_out, table.len(), "left out"))?;
    }
    print_by_segment(&metrics.by_segment)?;
    outln!(
        "wrote {} and {}",
        args.out.join("metrics.json").display(),
        report_path.display()
    )?;
    Ok(())
}
