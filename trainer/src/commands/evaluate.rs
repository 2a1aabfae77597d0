//! `churn-trainer evaluate`: metrics and an HTML report of a registry model on a labelled feature table.

use super::Ui;
use super::outln;
use super::population::{self, PopulationArgs, describe, print_by_segment};
use super::report::{ReportInput, render};
use super::score::value_column;
use anyhow::{Context, Result};
use churn_features::FeatureTable;
use churn_features::output;
use churn_models::call_list::{CallListOptions, DEFAULT_SIZE};
use churn_models::registry::write_metrics;
use churn_models::{EvaluationOptions, Registry, evaluate};
use clap::Args;
use std::path::PathBuf;

/// Evaluate a registry model on the labelled rows of a feature table.
///
/// Writes OUT/metrics.json (ROC AUC, PR AUC, log loss, Brier, precision / recall / F1 and the confusion
/// matrix at the model's threshold, lift and capture by decile, a 10-bin calibration table, for a
/// calibrated model the same before calibration, permutation importance) and OUT/report.html, a
/// self-contained page for readers who never open a terminal: what churn means and the dates evaluated,
/// the customers to call first with their reasons in words, ROC, precision-recall, lift, gain and
/// calibration charts, what drives the predictions, and the kinds --model auto compared. Rows with an
/// unknown label are skipped. Only the rows of the model's population are evaluated (the population flags
/// replace its rules; --all-rows evaluates every row), and the rows it leaves out are counted; the metrics
/// are printed also per lifecycle stage and RFM segment. Evaluating rows the model was trained on (an as-of date of its training rows, or its own
/// training table when that had no dates) warns that the metrics are optimistic.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  churn-trainer evaluate --model cdnow@v2 --registry models \\\n      \
                  --features cdnow_1998.parquet --out eval/cdnow"
)]
pub struct EvaluateArgs {
    /// Model to evaluate: NAME (its promoted version; an error when none is promoted) or
    /// NAME@VERSION.
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

    /// Customers on the report's call list (0 for none).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SIZE)]
    pub call_list: usize,

    /// Numeric column holding a customer's value: the call list ranks by probability × value. Default:
    /// the predicted lifetime value (clv_<N>m, from the [value] models) when the table has one with
    /// values, else the longest-window spend column (spend_<N>d) when it has one; `none` ranks by
    /// probability.
    #[arg(long, value_name = "COLUMN")]
    pub value_column: Option<String>,

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
    let spec = format!("{}@{}", model.name, model.version);
    // Labels over another horizon judge the model against another definition of churn.
    if let (Some(model_days), Some(table_days)) = (
        model.artifact.label.horizon_days,
        super::train::summary_days(&args.features, "horizon_days"),
    ) && model_days != table_days
    {
        tracing::warn!(
            "{} is labelled over {table_days} days, but {spec} predicts churn within {model_days} days: its \
             metrics judge it against another definition of churn; build the table with --horizon {model_days}",
            args.features.display()
        );
    }
    let all: Vec<usize> = (0..table.len()).collect();
    for summary in model.schema().unknown_categories(&table, &all).summaries(5) {
        tracing::warn!("{}: {summary}", args.features.display());
    }
    let options = EvaluationOptions {
        population: match args.all_rows {
            true => churn_models::Population::everyone(),
            false => args.population.over(&model.artifact.population),
        },
        importance: (!args.no_importance).then(Default::default),
        call_list: CallListOptions {
            size: args.call_list,
            value: value_column(args.value_column.as_deref()),
            ..CallListOptions::default()
        },
    };
    let bar = ui.progress(1, "evaluating", "steps");
    let evaluation = evaluate(model.scorer(), &table, &options)
        .with_context(|| format!("cannot evaluate {spec} on {}", args.features.display()))?;
    bar.finish_and_clear();
    let metrics = &evaluation.metrics;
    // Rows the model was fitted on make metrics optimistic (ROC AUC near 1 on a model's own rows).
    let overlap = model
        .artifact
        .training
        .overlap(&table, &evaluation.rows, &args.features);
    if let Some(warning) = overlap.warning(&args.features.display().to_string()) {
        tracing::warn!("{warning}");
    }

    write_metrics(&metrics_path, metrics)?;
    let html = render(&ReportInput {
        model: &spec,
        artifact: &model.artifact,
        data: &args.features.display().to_string(),
        evaluation: &evaluation,
    });
    output::write_bytes_atomically(&report_path, html.as_bytes())?;
    outln!(
        "{spec} on {} rows ({} churned, {} skipped with unknown label): roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  precision {:.3}  recall {:.3}  f1 {:.3} at threshold {:.4}",
        metrics.rows,
        metrics.positives,
        evaluation.skipped_unlabelled,
        metrics.roc_auc,
        metrics.pr_auc,
        metrics.log_loss,
        metrics.brier,
        metrics.precision,
        metrics.recall,
        metrics.f1,
        metrics.threshold
    )?;
    if let (Some(method), Some(before)) = (metrics.calibration_method, &metrics.before_calibration) {
        outln!(
            "calibration {method}: brier {:.4} -> {:.4}  log_loss {:.4} -> {:.4}  expected calibration error {:.4} -> {:.4}",
            before.brier,
            metrics.brier,
            before.log_loss,
            metrics.log_loss,
            before.expected_calibration_error,
            metrics.expected_calibration_error
        )?;
    }
    if let Some(survival) = &metrics.survival {
        outln!("{}", super::train::describe_survival(survival))?;
    }
    if !metrics.population.is_everyone() {
        outln!(
            "{}",
            describe(
                &metrics.population,
                evaluation.outside_population,
                table.len(),
                "left out"
            )
        )?;
    }
    print_by_segment(&metrics.by_segment)?;
    outln!("wrote {} and {}", metrics_path.display(), report_path.display())?;
    Ok(())
}
