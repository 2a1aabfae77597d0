//! `churn-trainer train`: fit a churn model on a feature table, validate it, and save it in the registry.

use super::Ui;
use super::model_config::{KindArg, ModelConfig, parse_threshold_rule};
use super::outln;
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use churn_features::FeatureTable;
use churn_models::train::{Progress, ValidationPlan, train};
use churn_models::{ClassWeight, ModelKind, ModelParams, Registry, TrainOptions};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Train a churn model on the labelled rows of a feature table and save it as a new registry version.
///
/// Rows with an unknown (null) label are skipped and counted. Validation is out of time with
/// --test-as-of (train on earlier as-of dates, test on that one) or stratified k-fold with --cv (metrics
/// from out-of-fold predictions, the saved model refitted on all rows); without either, a table with
/// several as-of dates is validated out of time on its latest date, a snapshot table by 5-fold. The
/// decision threshold is chosen on the held-out predictions. Writes DIR/NAME/<version>/model.json and
/// metrics.json and prints the version and headline metrics.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  churn-trainer train --features telco.parquet --model logistic \\\n      \
                        --registry models --name telco --cv 5\n  \
                        churn-trainer train --features telco.parquet --model gradient-boosting \\\n      \
                        --registry models --name telco --cv 5\n  \
                        churn-trainer train --features cdnow.parquet --model random-forest \\\n      \
                        --registry models --name cdnow --test-as-of 1997-09-30 \\\n      \
                        --threshold recall:0.8 --promote"
)]
pub struct TrainArgs {
    /// Feature table (Parquet) written by `churn-trainer features`.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,

    /// Kind of model.
    #[arg(long, value_enum, default_value_t = KindArg::Logistic)]
    pub model: KindArg,

    /// Model registry directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub registry: PathBuf,

    /// Model name in the registry.
    #[arg(long)]
    pub name: String,

    /// Out-of-time validation: train on rows with an earlier as-of date, test on rows of this date.
    /// Training rows whose label window (as-of, as-of + horizon] reaches past it are purged, so no
    /// training label has seen the test period; the horizon comes from the model config's [label] or the
    /// feature table's summary.
    #[arg(long, value_name = "DATE", conflicts_with_all = ["cv", "no_validation"])]
    pub test_as_of: Option<NaiveDate>,

    /// Days added to the horizon when purging before --test-as-of (a wider embargo).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    pub gap: u32,

    /// Stratified K-fold cross-validation (out-of-fold metrics).
    #[arg(long, value_name = "K", conflicts_with = "no_validation")]
    pub cv: Option<usize>,

    /// Skip validation: no metrics; the threshold is chosen on the training rows.
    #[arg(long)]
    pub no_validation: bool,

    /// Decision threshold rule: max-f1, recall:R (highest threshold reaching recall R), fixed:T, or
    /// profit (costs from the [threshold] section of --model-config).
    #[arg(long, value_name = "RULE", default_value = "max-f1")]
    pub threshold: String,

    /// Model configuration file (TOML): hyperparameters, preprocessing, threshold costs, risk bands,
    /// label definition.
    #[arg(long, value_name = "FILE")]
    pub model_config: Option<PathBuf>,

    /// Class weights (overrides the configuration file).
    #[arg(long, value_enum)]
    pub class_weight: Option<ClassWeightArg>,

    /// Number of trees of a random forest, or boosting rounds at most of gradient boosting (overrides
    /// the configuration file).
    #[arg(long, value_name = "N")]
    pub trees: Option<usize>,

    /// Maximum tree depth of a random forest or of gradient boosting (overrides the configuration file).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,

    /// Seed of the tree kinds' random draws and of the folds.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Skip permutation importance (faster on wide tables).
    #[arg(long)]
    pub no_importance: bool,

    /// Promote the new version right away.
    #[arg(long)]
    pub promote: bool,
}

/// Class weights as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassWeightArg {
    /// Every row counts once.
    None,
    /// Classes weighted inversely to their frequency.
    Balanced,
}

/// Drives a progress bar per training stage.
struct StageBars<'a> {
    ui: &'a Ui,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for StageBars<'_> {
    fn stage(&self, name: &str, steps: u64) {
        if let Ok(mut bar) = self.bar.lock() {
            if let Some(previous) = bar.take() {
                previous.finish_and_clear();
            }
            *bar = Some(self.ui.progress(steps, name, "steps"));
        }
    }

    fn step(&self) {
        if let Ok(bar) = self.bar.lock()
            && let Some(bar) = bar.as_ref()
        {
            bar.inc(1);
        }
    }
}

impl StageBars<'_> {
    fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(bar) = bar.take()
        {
            bar.finish_and_clear();
        }
    }
}

/// Runs `churn-trainer train`.
pub fn run(args: TrainArgs, ui: &Ui) -> Result<()> {
    let config = ModelConfig::load(args.model_config.as_deref())?;
    let kind = ModelKind::from(args.model);
    let class_weight = args.class_weight.map(|w| match w {
        ClassWeightArg::None => ClassWeight::None,
        ClassWeightArg::Balanced => ClassWeight::Balanced,
    });
    let params = match kind {
        ModelKind::Logistic => {
            if args.trees.is_some() || args.max_depth.is_some() {
                bail!(
                    "--trees and --max-depth apply to the tree kinds (random-forest, gradient-boosting) only"
                );
            }
            let mut params = config.logistic.clone();
            if let Some(weight) = class_weight {
                params.class_weight = weight;
            }
            ModelParams::Logistic(params)
        }
        ModelKind::RandomForest => {
            let mut params = config.random_forest.clone();
            if let Some(weight) = class_weight {
                params.class_weight = weight;
            }
            if let Some(trees) = args.trees {
                params.n_trees = trees;
            }
            if let Some(depth) = args.max_depth {
                params.max_depth = depth;
            }
            if let Some(seed) = args.seed {
                params.seed = seed;
            }
            ModelParams::RandomForest(params)
        }
        ModelKind::GradientBoosting => {
            let mut params = config.gradient_boosting.clone();
            if let Some(weight) = class_weight {
                params.class_weight = weight;
            }
            if let Some(rounds) = args.trees {
                params.n_rounds = rounds;
            }
            if let Some(depth) = args.max_depth {
                params.max_depth = depth;
            }
            if let Some(seed) = args.seed {
                params.seed = seed;
            }
            ModelParams::GradientBoosting(params)
        }
    };
    // Bad hyperparameters fail here, before the feature table is read.
    params.check().context("invalid model parameters")?;
    let mut options = TrainOptions::new(params);
    options.preprocess = config.preprocess.clone();
    options.threshold_rule = parse_threshold_rule(&args.threshold, &config)?;
    if let Some(bands) = config.risk_bands()? {
        options.risk_bands = bands;
    }
    if let Some(label) = &config.label {
        options.label = label.clone();
    }
    if options.label.horizon_days.is_none() {
        options.label.horizon_days = summary_horizon(&args.features);
    }
    options.gap_days = args.gap;
    options.source = Some(args.features.display().to_string());
    options.validation = match (args.test_as_of, args.cv, args.no_validation) {
        (Some(test_as_of), _, _) => ValidationPlan::OutOfTime { test_as_of },
        (None, Some(folds), _) => ValidationPlan::CrossValidation {
            folds,
            seed: args.seed.unwrap_or(0),
        },
        (None, None, true) => ValidationPlan::None,
        (None, None, false) => ValidationPlan::Auto,
    };
    if args.no_importance {
        options.importance = None;
    }

    // Fail on an unusable registry or a bad name before spending time on reading and training.
    let registry = Registry::create(&args.registry)?;
    registry.model_dir(&args.name)?;
    let started = Instant::now();
    let table = FeatureTable::read_parquet(&args.features)
        .with_context(|| format!("cannot read feature table {}", args.features.display()))?;
    tracing::info!(
        rows = table.len(),
        columns = table.columns.len(),
        "read feature table"
    );

    let bars = StageBars {
        ui,
        bar: Mutex::new(None),
    };
    let outcome = train(&table, &options, &bars);
    bars.finish();
    let outcome = outcome.context("training failed")?;
    let artifact = &outcome.artifact;
    if artifact.training.skipped_unlabelled > 0 {
        tracing::info!(
            skipped = artifact.training.skipped_unlabelled,
            "skipped rows with an unknown label"
        );
    }
    for dropped in &artifact.schema.dropped {
        tracing::warn!(feature = %dropped.name, reason = %dropped.reason, "feature left out");
    }
    let version = registry.save(&args.name, artifact)?;
    if args.promote {
        registry.promote(&args.name, &version)?;
    }

    outln!(
        "{}@{version}: {} model on {} features ({} encoded columns), {} training rows ({} churned), {} skipped with unknown label",
        args.name,
        artifact.kind,
        artifact.schema.features.len(),
        artifact.schema.width(),
        artifact.training.rows,
        artifact.training.positives,
        artifact.training.skipped_unlabelled,
    )?;
    match &artifact.metrics {
        Some(m) => outln!(
            "validation {}: roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  threshold {:.4}  precision {:.3}  recall {:.3}  f1 {:.3}",
            describe_validation(&artifact.training.validation),
            m.roc_auc,
            m.pr_auc,
            m.log_loss,
            m.brier,
            m.threshold,
            m.precision,
            m.recall,
            m.f1
        )?,
        None => outln!(
            "no validation; threshold {:.4} chosen on training rows",
            artifact.threshold
        )?,
    }
    outln!(
        "fit {:.2}s (preprocessing {:.2}s), total {:.2}s; saved to {}{}",
        artifact.training.fit_seconds,
        artifact.training.preprocess_seconds,
        started.elapsed().as_secs_f64(),
        registry.model_dir(&args.name)?.join(&version).display(),
        if args.promote { " (promoted)" } else { "" }
    )?;
    Ok(())
}

/// The label horizon recorded in the feature table's run summary, if there is one.
fn summary_horizon(features: &std::path::Path) -> Option<u32> {
    let text = std::fs::read_to_string(churn_features::output::summary_path(features)).ok()?;
    let summary: serde_json::Value = serde_json::from_str(&text).ok()?;
    summary.get("horizon_days")?.as_u64()?.try_into().ok()
}

/// One-line description of a validation.
pub fn describe_validation(validation: &churn_models::Validation) -> String {
    match validation {
        churn_models::Validation::CrossValidation { folds, .. } => {
            format!("{folds}-fold stratified (out-of-fold)")
        }
        churn_models::Validation::OutOfTime {
            test_as_of,
            purge_days: Some(days),
            purged_rows,
        } => format!(
            "out of time on {test_as_of}, {purged_rows} training rows purged (label window of {days} days reaching past it)"
        ),
        churn_models::Validation::OutOfTime { test_as_of, .. } => {
            format!("out of time on {test_as_of} (horizon unknown: no training rows purged)")
        }
        churn_models::Validation::None => "none".into(),
    }
}
