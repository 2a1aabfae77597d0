//! `churn-trainer train`: fit a churn model on a feature table, validate it, and save it in the registry.

use super::model_config::{ModelChoice, calibration_method, model_choice, parse_threshold_rule};
use super::outln;
use super::population::{PopulationArgs, describe, print_by_segment};
use super::{Ui, UsageError};
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use churn_features::FeatureTable;
use churn_models::train::{Progress, ValidationPlan, train, train_auto};
use churn_models::{
    CalibrationMethod, ClassWeight, ModelConfig, ModelKind, Overrides, Registry, TrainOptions,
};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Train a churn model on the labelled rows of a feature table and save it as a new registry version.
///
/// Only the rows of the population are used (the [population] section of --model-config, with the
/// population flags replacing its rules; every row without either), before any split; the rule is stored
/// in the model, so `evaluate` and `score` apply it too, and the rows it left out are counted. Rows with
/// an unknown (null) label are skipped and counted. Validation is out of time with
/// --test-as-of (train on earlier as-of dates, test on that one) or stratified k-fold with --cv (metrics
/// from out-of-fold predictions, the saved model refitted on all rows); without either, a table with
/// several as-of dates is validated out of time on its latest date, a snapshot table by 5-fold. The
/// decision threshold is chosen on the held-out predictions. Writes DIR/NAME/<version>/model.json and
/// metrics.json and prints the version, the headline metrics and the metrics per lifecycle stage and
/// RFM segment.
///
/// The model is saved whatever its metrics, but training warns when it is no better than chance (a
/// held-out ROC AUC below 0.55, or whose 95% interval reaches 0.5), when it is too good to be true (a
/// held-out ROC AUC from 0.995: a feature carries the label) or when its threshold flags more than 90%
/// of the held-out rows. Risk bands are aligned with the threshold: the band boundary nearest
/// it moves onto it, so every band lies wholly below or wholly above it.
#[derive(Debug, Args)]
#[command(
    after_help = "Model configuration (--model-config FILE, TOML; every section and field optional, \
                  unknown ones are errors):\n  \
                  [logistic]            # c = 1.0, class_weight = { type = \"balanced\" }\n  \
                  [random_forest]       # n_trees = 200, max_depth = 10, min_samples_leaf = 5\n  \
                  [gradient_boosting]   # n_rounds = 1000, learning_rate = 0.05, max_leaves = 31,\n  \
                  \x20                     # max_depth = 8, early_stopping_rounds = 50, l2 = 1.0\n  \
                  [ensemble.logistic]   # the ensemble's members: the same fields as [logistic]\n  \
                  [ensemble.gradient_boosting]  # and as [gradient_boosting]\n  \
                  [preprocess]          # exclude = [\"customer_age_days\"]\n  \
                  [threshold]           # rule = \"expected_profit\", offer_cost = 5.0,\n  \
                  \x20                     # customer_value = 120.0, acceptance_rate = 0.3\n  \
                  [[risk_bands]]        # name = \"high\", min_probability = 0.5 (one per band)\n  \
                  [label]               # definition = \"...\", horizon_days = 90\n  \
                  [population]          # max_days_since_last_purchase = 365,\n  \
                  \x20                     # lifecycle_stages = [\"active\"], min_tenure_days = 30,\n  \
                  \x20                     # exclude_never_purchased = true\n\n\
                  Examples:\n  churn-trainer train --features telco.parquet --model logistic \\\n      \
                        --registry models --name telco --cv 5\n  \
                        churn-trainer train --features telco.parquet --model auto \\\n      \
                        --registry models --name telco --cv 5 --calibration auto\n  \
                        churn-trainer train --features telco.parquet --model gradient-boosting \\\n      \
                        --registry models --name telco --cv 5\n  \
                        churn-trainer train --features train.parquet --model random-forest \\\n      \
                        --registry models --name churn --test-as-of 2024-06-30 \\\n      \
                        --threshold recall:0.8 --promote\n  \
                        churn-trainer train --features train.parquet --model logistic \\\n      \
                        --registry models --name churn --test-as-of 2024-06-30 \\\n      \
                        --max-days-since-last-purchase 365"
)]
pub struct TrainArgs {
    /// Feature table (Parquet) written by `churn-trainer features`.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,

    /// Kind of model, or `auto` to fit every kind on the same split and keep the best.
    #[arg(long, value_name = "KIND", default_value = "logistic", value_parser = model_choice())]
    pub model: ModelChoice,

    /// Probability calibration, fitted on rows the model was not fitted on (out-of-fold predictions
    /// under --cv, else a held-out slice of the training rows: their latest as-of date, or a stratified
    /// 15%). auto: of Platt and (from 1,000 rows) isotonic, those that lower both log loss and Brier
    /// score out of fold, the one with the lower log loss; none if neither does.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = calibration_method())]
    pub calibration: CalibrationMethod,

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
    /// label definition, population.
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

    /// Which customers the model is for.
    #[command(flatten)]
    pub population: PopulationArgs,
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

/// Folders this run creates for the registry (it and the missing folders above it), removed again at the
/// end of the run when nothing was saved in them: a failed training leaves no empty registry behind, and
/// a folder with anything in it is never removed.
struct RemovedIfEmpty(Vec<PathBuf>);

impl RemovedIfEmpty {
    /// The folders of `dir` (innermost first) that do not exist yet.
    fn missing(dir: &std::path::Path) -> Self {
        let missing = dir
            .ancestors()
            .take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists())
            .map(std::path::Path::to_path_buf)
            .collect();
        Self(missing)
    }
}

impl Drop for RemovedIfEmpty {
    fn drop(&mut self) {
        for folder in &self.0 {
            if std::fs::remove_dir(folder).is_err() {
                break;
            }
        }
    }
}

/// Runs `churn-trainer train`.
pub fn run(args: TrainArgs, ui: &Ui) -> Result<()> {
    let config = ModelConfig::load(args.model_config.as_deref())?;
    let overrides = Overrides {
        class_weight: args.class_weight.map(|w| match w {
            ClassWeightArg::None => ClassWeight::None,
            ClassWeightArg::Balanced => ClassWeight::Balanced,
        }),
        trees: args.trees,
        max_depth: args.max_depth,
        seed: args.seed,
    };
    let kinds: Vec<ModelKind> = match args.model {
        ModelChoice::Auto => ModelKind::classifiers().collect(),
        ModelChoice::Kind(kind) => vec![kind],
    };
    let mut candidates = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let mut params = config.params(kind);
        let unused = params.apply(&overrides);
        if !unused.is_empty() && args.model != ModelChoice::Auto {
            bail!("{} do not apply to {kind} models", unused.join(" and "));
        }
        // Bad hyperparameters fail here, before the feature table is read.
        params
            .check()
            .with_context(|| format!("invalid {kind} parameters"))?;
        candidates.push(params);
    }
    let params = candidates[0].clone();
    let mut options = TrainOptions::new(params);
    options.preprocess = config.preprocess.clone();
    options.threshold_rule = parse_threshold_rule(&args.threshold, &config)
        .map_err(|e| UsageError(format!("--threshold {}: {e:#}", args.threshold)))?;
    if let Some(bands) = &config.risk_bands {
        options.risk_bands = bands.clone();
    }
    if let Some(label) = &config.label {
        options.label = label.clone();
    }
    options.population = args
        .population
        .over(&config.population.clone().unwrap_or_default());
    if options.label.horizon_days.is_none() {
        options.label.horizon_days = summary_days(&args.features, "horizon_days");
    }
    if options.label.lookahead_days.is_none() {
        options.label.lookahead_days = summary_days(&args.features, "label_lookahead_days");
    }
    options.gap_days = args.gap;
    options.calibration = args.calibration;
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
    let _created = RemovedIfEmpty::missing(&args.registry);
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
    let outcome = match args.model {
        ModelChoice::Auto => train_auto(&table, &options, &candidates, &bars),
        ModelChoice::Kind(_) => train(&table, &options, &bars),
    };
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
    if !artifact.population.is_everyone() {
        outln!(
            "{}",
            describe(
                &artifact.population,
                artifact.training.population_excluded,
                table.len(),
                "left out"
            )
        )?;
    }
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
    if let Some(survival) = artifact.metrics.as_ref().and_then(|m| m.survival.as_ref()) {
        outln!("{}", describe_survival(survival))?;
    }
    if let Some(m) = &artifact.metrics {
        // A model no better than chance, or a threshold flagging nearly everyone, is saved but called out.
        for warning in churn_models::held_out_warnings(m) {
            tracing::warn!("{}@{version}: {warning}", args.name);
        }
        if let (Some(method), Some(before)) = (m.calibration_method, &m.before_calibration) {
            outln!(
                "calibration {method}: brier {:.4} -> {:.4}  log_loss {:.4} -> {:.4}  expected calibration error {:.4} -> {:.4}",
                before.brier,
                m.brier,
                before.log_loss,
                m.log_loss,
                before.expected_calibration_error,
                m.expected_calibration_error
            )?;
        }
        print_by_segment(&m.by_segment)?;
        for candidate in &m.candidates {
            outln!(
                "  {} {:<18} roc_auc {:.4}  pr_auc {:.4}  brier {:.4}  log_loss {:.4}  fit {:.2}s",
                if candidate.chosen { "*" } else { " " },
                candidate.kind.name(),
                candidate.roc_auc,
                candidate.pr_auc,
                candidate.brier,
                candidate.log_loss,
                candidate.fit_seconds
            )?;
        }
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

/// A number of days recorded in the feature table's run summary (`horizon_days`,
/// `label_lookahead_days`), if there is one.
pub(crate) fn summary_days(features: &std::path::Path, key: &str) -> Option<u32> {
    let text = std::fs::read_to_string(churn_features::output::summary_path(features)).ok()?;
    let summary: serde_json::Value = serde_json::from_str(&text).ok()?;
    summary.get(key)?.as_u64()?.try_into().ok()
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

/// One line of a survival model's held-out time-to-churn metrics.
pub fn describe_survival(survival: &churn_models::SurvivalMetrics) -> String {
    let mut line = format!(
        "time to churn ({} rows, {} churns): concordance {:.4} (Harrell)",
        survival.rows, survival.churns, survival.harrell_concordance
    );
    if let Some(uno) = survival.uno_concordance {
        line.push_str(&format!(" {uno:.4} (Uno)"));
    }
    for auc in &survival.time_dependent_auc {
        line.push_str(&format!("  auc@{}d {:.4}", auc.days, auc.value));
    }
    if let Some(brier) = &survival.integrated_brier_score {
        line.push_str(&format!(
            "  integrated brier {:.4} (days {}..{})",
            brier.value, brier.from_days, brier.to_days
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::RemovedIfEmpty;

    #[test]
    fn registry_folders_a_failed_run_created_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = dir.path().join("a/b/registry");
        let created = RemovedIfEmpty::missing(&registry);
        std::fs::create_dir_all(&registry).expect("create");
        drop(created);
        assert!(!dir.path().join("a").exists() && dir.path().exists());

        let created = RemovedIfEmpty::missing(&registry);
        std::fs::create_dir_all(registry.join("churn/v1")).expect("a saved model");
        drop(created);
        assert!(registry.join("churn/v1").exists());
    }
}
