//! `churn-trainer models`: list, show, promote and roll back model versions in a registry.

use super::outln;
use super::train::describe_validation;
use super::{Ui, UsageError};
use anyhow::Result;
use churn_models::Registry;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Inspect and manage the model registry (DIR/NAME/<version>/).
///
/// Promotion rewrites DIR/NAME/PROMOTED atomically; a running server watching that file switches to the
/// promoted version. Rollback promotes again the version that was promoted before the current one.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  churn-trainer models list --registry models\n  \
                        churn-trainer models show telco@v2 --registry models\n  \
                        churn-trainer models promote telco@v2 --registry models\n  \
                        churn-trainer models rollback telco --registry models")]
pub struct ModelsArgs {
    /// Model registry directory.
    #[arg(long, value_name = "DIR", global = true, default_value = "models")]
    pub registry: PathBuf,

    #[command(subcommand)]
    pub action: ModelsAction,
}

/// What to do with the registry.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// List models and their versions with kind, creation time and held-out ROC AUC.
    List {
        /// Only this model.
        name: Option<String>,
    },
    /// Show one version: features, preprocessing, parameters, threshold, training and metrics.
    Show {
        /// NAME (its promoted version; an error when none is promoted) or NAME@VERSION.
        model: String,
        /// Print the full artifact metadata and metrics as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Promote a version: NAME@VERSION.
    Promote {
        /// NAME@VERSION.
        model: String,
    },
    /// Promote again the version promoted before the current one.
    Rollback {
        /// Model name.
        name: String,
    },
}

/// Runs `churn-trainer models`.
pub fn run(args: ModelsArgs, _ui: &Ui) -> Result<()> {
    let registry = Registry::open(&args.registry)?;
    match args.action {
        ModelsAction::List { name } => list(&registry, name),
        ModelsAction::Show { model, json } => show(&registry, &model, json),
        ModelsAction::Promote { model } => {
            let Some((name, version)) = model.split_once('@') else {
                return Err(UsageError(format!(
                    "promote needs NAME@VERSION (e.g. telco@v2), got `{model}`"
                ))
                .into());
            };
            registry.promote(name, version)?;
            outln!("promoted {name}@{version}")?;
            Ok(())
        }
        ModelsAction::Rollback { name } => {
            let version = registry.rollback(&name)?;
            outln!("rolled back {name} to {version}")?;
            Ok(())
        }
    }
}

fn list(registry: &Registry, only: Option<String>) -> Result<()> {
    let names = match only {
        Some(name) => vec![name],
        None => registry.model_names()?,
    };
    // The widest kind name sets the KIND column's width.
    let kind_width = churn_models::ModelKind::ALL
        .iter()
        .map(|kind| kind.name().len())
        .max()
        .unwrap_or(0);
    outln!(
        "{:<20} {:<8} {:<kind_width$} {:<21} {:>8} {:>9}",
        "NAME",
        "VERSION",
        "KIND",
        "CREATED",
        "ROC_AUC",
        "PROMOTED"
    )?;
    for name in names {
        let promoted = registry.promoted_version(&name)?;
        for version in registry.versions(&name)? {
            let is_promoted = promoted.as_deref() == Some(version.as_str());
            match registry.load(&name, &version) {
                Ok(model) => {
                    let a = &model.artifact;
                    let auc = a
                        .metrics
                        .as_ref()
                        .map_or("-".to_string(), |m| format!("{:.4}", m.roc_auc));
                    outln!(
                        "{name:<20} {version:<8} {:<kind_width$} {:<21} {auc:>8} {:>9}",
                        a.kind.to_string(),
                        a.created_at,
                        if is_promoted { "*" } else { "" }
                    )?;
                }
                Err(error) => outln!("{name:<20} {version:<8} unreadable: {error}")?,
            }
        }
    }
    Ok(())
}

fn show(registry: &Registry, spec: &str, json: bool) -> Result<()> {
    let model = registry.resolve(spec)?;
    let a = &model.artifact;
    if json {
        let summary = serde_json::json!({
            "name": a.name,
            "version": a.version,
            "created_at": a.created_at,
            "kind": a.kind,
            "library_version": a.library_version,
            "schema": a.schema,
            "preprocess": a.preprocess,
            "params": a.params,
            "threshold": a.threshold,
            "threshold_rule": a.threshold_rule,
            "risk_bands": a.risk_bands,
            "label": a.label,
            "training": a.training,
            "metrics": a.metrics,
            "descriptors": a.descriptors,
            "drift_reference": a.drift_reference,
        });
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    let promoted = registry.promoted_version(&model.name)?;
    outln!(
        "{}@{}{}  ({} model, created {}, churn-models {})",
        a.name,
        a.version,
        if promoted.as_deref() == Some(a.version.as_str()) {
            " [promoted]"
        } else {
            ""
        },
        a.kind,
        a.created_at,
        a.library_version
    )?;
    outln!("file: {}", model.path.display())?;
    let t = &a.training;
    outln!(
        "training: {} rows ({} churned), {} skipped with unknown label, as-of dates [{}], fit {:.2}s, source {}",
        t.rows,
        t.positives,
        t.skipped_unlabelled,
        t.as_of_dates.join(", "),
        t.fit_seconds,
        t.source.as_deref().unwrap_or("-")
    )?;
    if let Some(definition) = &a.label.definition {
        outln!("label: {definition}")?;
    }
    outln!("validation: {}", describe_validation(&t.validation))?;
    match &a.drift_reference {
        Some(reference) => outln!(
            "training distributions (for monitor): {} features over {} rows; the score over {} ({} rows)",
            reference.features.len(),
            reference.rows,
            reference.score.source.describe(),
            reference.score.rows
        )?,
        None => outln!(
            "training distributions (for monitor): none (trained before drift monitoring; train a new \
             version to monitor drift)"
        )?,
    }
    outln!(
        "threshold: {:.4} ({})",
        a.threshold,
        serde_json::to_string(&a.threshold_rule)?
    )?;
    let bands: Vec<String> = a
        .risk_bands
        .bands()
        .iter()
        .map(|b| format!("{} ≥ {}", b.name, b.min_probability))
        .collect();
    outln!("risk bands: {}", bands.join(", "))?;
    outln!("params: {}", serde_json::to_string(&a.params)?)?;
    outln!(
        "features ({} inputs, {} encoded columns):",
        a.schema.features.len(),
        a.schema.width()
    )?;
    for feature in &a.schema.features {
        outln!(
            "  {:<36} {:<12} {}",
            feature.name,
            feature.encoding.type_name(),
            serde_json::to_string(&feature.encoding)?
        )?;
    }
    for dropped in &a.schema.dropped {
        outln!("  (left out: {} — {})", dropped.name, dropped.reason)?;
    }
    if let Some(m) = &a.metrics {
        outln!(
            "metrics: roc_auc {:.4}  pr_auc {:.4}  log_loss {:.4}  brier {:.4}  precision {:.3}  recall {:.3}  f1 {:.3}  ({} rows, {} churned)",
            m.roc_auc,
            m.pr_auc,
            m.log_loss,
            m.brier,
            m.precision,
            m.recall,
            m.f1,
            m.rows,
            m.positives
        )?;
        if !m.importance.is_empty() {
            outln!("most important features (ROC AUC drop when shuffled):")?;
            for item in m.importance.iter().take(10) {
                outln!("  {:<36} {:.4}", item.feature, item.auc_drop)?;
            }
        }
    }
    Ok(())
}
