//! `churn-trainer monitor`: how far the customers in a feature table have moved from those a registry
//! model was trained on (`churn_models::drift`), as `drift.json` and a self-contained `drift.html`.

use super::Ui;
use super::drift_report::render;
use super::outln;
use super::population::describe;
use anyhow::{Context, Result, anyhow, bail};
use churn_features::{FeatureTable, output};
use churn_models::drift::{ACT_PSI, Drift, PSI_EPSILON, QUANTILE_BINS, WATCH_PSI, monitor};
use churn_models::{DriftLevel, DriftReport, Registry};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Compare a feature table (the customers about to be scored) with those the model was trained on.
///
/// For every model feature and for the model's churn probability, the population stability index
/// (PSI) says how far the table's distribution has moved from the training one: the values are put
/// in the bins the model stored when it was trained (numbers: ten bins between the training rows'
/// deciles, plus missing values; categories: each level the model knows, every other value, and
/// missing values), and PSI = Σ (current share − training share) × ln(current share ÷ training
/// share) over the bins. Below 0.1 nothing significant changed; from 0.1 a feature is worth watching;
/// from 0.25 it has shifted significantly: check the pipeline feeding it, or retrain. The score's
/// reference is the model's probabilities on its held-out rows (out-of-time validation), on the rows
/// each cross-validation fold left out, or, trained without validation, on its training rows.
///
/// Only the rows of the model's population are compared (the customers it was trained on), and the
/// rows it leaves out are counted. Writes OUT/drift.json (per feature and for the score: the PSI,
/// its level none/watch/act, and the training and current shares of every bin with its label; the
/// rows compared) and OUT/drift.html (a table of the features by PSI, and a chart of training against
/// current shares for every flagged one and for the score), never over the feature table or the
/// registry. Prints one line per feature (or score) at `watch` or `act`.
///
/// Exit code 0 whatever the drift, unless --fail-on says otherwise (for cron or CI): 1 when a
/// feature or the score reaches that level (after the files are written), as for any failure.
/// Models trained before drift monitoring have no training distributions: retrain them first.
///
/// --model NAME compares with the promoted version, and fails when none is promoted (promote one
/// with `churn-trainer models promote NAME@VERSION`, or name it); NAME@VERSION picks any version, as
/// for `score` and churn-server.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  churn-trainer monitor --model churn --registry registry \\\n      \
                  --features snapshot.parquet --out drift\n  \
                  # in cron or CI: exit code 1 when a feature or the score needs action\n  \
                  churn-trainer monitor --model churn@v3 --registry registry \\\n      \
                  --features snapshot.parquet --out drift --fail-on act"
)]
pub struct MonitorArgs {
    /// Model whose training distributions to compare with: NAME (its promoted version; an error when
    /// none is promoted) or NAME@VERSION.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub model: String,

    /// Model registry directory.
    #[arg(long, value_name = "DIR")]
    pub registry: PathBuf,

    /// Feature table (Parquet) to compare, e.g. the snapshot about to be scored or served.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,

    /// Output directory for drift.json and drift.html (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Exit with code 1 when any feature or the score reaches this level (watch: PSI ≥ 0.1, act:
    /// PSI ≥ 0.25). Without it the exit code is 0 whatever the drift.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
}

/// The level `--fail-on` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// PSI ≥ 0.1: a moderate shift.
    Watch,
    /// PSI ≥ 0.25: a significant shift.
    Act,
}

impl From<FailOn> for DriftLevel {
    fn from(level: FailOn) -> Self {
        match level {
            FailOn::Watch => DriftLevel::Watch,
            FailOn::Act => DriftLevel::Act,
        }
    }
}

/// The cut-offs and the epsilon the PSI was computed with, recorded in `drift.json`.
#[derive(Debug, Serialize)]
struct Method {
    watch: f64,
    act: f64,
    epsilon: f64,
    quantile_bins: usize,
}

/// `drift.json`.
#[derive(Debug, Serialize)]
struct DriftFile<'a> {
    /// `NAME@VERSION`.
    model: String,
    /// The feature table compared, as given.
    features_file: String,
    /// Its as-of dates (`YYYY-MM-DD`), oldest first.
    as_of_dates: Vec<String>,
    /// The model's population, in words.
    population: String,
    /// The highest level of any feature or the score.
    worst: DriftLevel,
    /// Which rows the score's reference comes from, in words.
    score_reference: &'static str,
    method: Method,
    #[serde(flatten)]
    report: &'a DriftReport,
}

/// The `--out` folder, when this run creates it: removed again (if still empty) when the run fails before
/// writing into it, so a mistyped model or a bad table leaves nothing behind.
struct NewFolder<'a> {
    created: Option<&'a Path>,
}

impl<'a> NewFolder<'a> {
    fn create(path: &'a Path) -> Result<Self> {
        let created = (!path.exists()).then_some(path);
        std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { created })
    }

    /// The folder holds the report: it stays.
    fn keep(mut self) {
        self.created = None;
    }
}

impl Drop for NewFolder<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.created {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// Runs `churn-trainer monitor`.
pub fn run(args: MonitorArgs, _ui: &Ui) -> Result<()> {
    let json_path = args.out.join("drift.json");
    let html_path = args.out.join("drift.html");
    let features_summary = output::summary_path(&args.features);
    let folder = NewFolder::create(&args.out)?;
    output::check_outputs(
        &[&json_path, &html_path],
        &[&args.features, &features_summary, &args.registry],
    )?;
    let registry = Registry::open(&args.registry)?;
    let model = registry.resolve(&args.model)?;
    let spec = format!("{}@{}", model.name, model.version);
    let table = FeatureTable::read_parquet(&args.features)
        .with_context(|| format!("cannot read feature table {}", args.features.display()))?;
    let all: Vec<usize> = (0..table.len()).collect();
    let report = monitor(&model.artifact, &table, &all)
        .with_context(|| format!("cannot compare {} with {spec}", args.features.display()))?
        .ok_or_else(|| {
            anyhow!(
                "{spec} holds no training distributions to compare with: it was trained before drift \
                 monitoring; train a new version (churn-trainer train) to monitor drift"
            )
        })?;
    let as_of_dates: Vec<String> = table
        .as_of
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|d| d.to_string())
        .collect();
    let file = DriftFile {
        model: spec.clone(),
        features_file: args.features.display().to_string(),
        as_of_dates,
        population: model.artifact.population.to_string(),
        worst: report.worst(),
        score_reference: report.score_source.describe(),
        method: Method {
            watch: WATCH_PSI,
            act: ACT_PSI,
            epsilon: PSI_EPSILON,
            quantile_bins: QUANTILE_BINS,
        },
        report: &report,
    };
    let json = serde_json::to_string_pretty(&file).context("cannot lay out drift.json")?;
    output::write_bytes_atomically(&json_path, format!("{json}\n").as_bytes())?;
    folder.keep();
    let html = render(
        &model.artifact,
        &spec,
        &file.features_file,
        &file.as_of_dates,
        &report,
    );
    output::write_bytes_atomically(&html_path, html.as_bytes())?;

    // Printed before the verdict, but a closed stdout (`monitor ... | head`) must not hide it: the exit
    // code says whether --fail-on was reached whatever became of the lines.
    let printed = print_summary(
        &args,
        &spec,
        &table,
        &model.artifact,
        &report,
        &json_path,
        &html_path,
    );
    if let Some(level) = args.fail_on.map(DriftLevel::from)
        && report.worst() >= level
    {
        let reached: Vec<&str> = report.at_least(level).map(|d| d.name.as_str()).collect();
        bail!(
            "drift at level `{level}` or above (--fail-on {level}): {} ({} in all)",
            reached.iter().take(3).copied().collect::<Vec<_>>().join(", "),
            reached.len()
        );
    }
    Ok(printed?)
}

/// The flagged features, a summary line and the files written, on stdout.
fn print_summary(
    args: &MonitorArgs,
    spec: &str,
    table: &FeatureTable,
    artifact: &churn_models::ModelArtifact,
    report: &DriftReport,
    json_path: &std::path::Path,
    html_path: &std::path::Path,
) -> std::io::Result<()> {
    for drift in report.at_least(DriftLevel::Watch) {
        outln!("{}", flag_line(drift))?;
    }
    let count = |level| report.features.iter().filter(|d| d.level == level).count();
    outln!(
        "{spec}: {} rows of {} compared with the training distributions: {} features to act on, {} to \
         watch, {} unchanged; score PSI {:.3} ({})",
        report.rows,
        args.features.display(),
        count(DriftLevel::Act),
        count(DriftLevel::Watch),
        count(DriftLevel::None),
        report.score.psi,
        report.score.level
    )?;
    if !artifact.population.is_everyone() {
        outln!(
            "{}",
            describe(
                &artifact.population,
                report.population_excluded,
                table.len(),
                "left out"
            )
        )?;
    }
    outln!("wrote {} and {}", json_path.display(), html_path.display())
}

/// One flagged distribution in a line: `act    days_since_last_purchase  PSI 0.412  (missing) 2.0% → 31.0%`.
fn flag_line(drift: &Drift) -> String {
    let moved = drift.largest_move().map_or_else(String::new, |bin| {
        format!(
            "  largest move: {} {:.1}% → {:.1}%",
            bin.label,
            100.0 * bin.reference,
            100.0 * bin.current
        )
    });
    format!(
        "{:<6} {}  PSI {:.3}{moved}",
        drift.level.as_str(),
        drift.name,
        drift.psi
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_models::drift::BinShares;

    #[test]
    fn a_flag_reads_in_one_line() {
        let drift = Drift {
            name: "days_since_last_purchase".into(),
            kind: "numeric".into(),
            psi: 0.4123,
            level: DriftLevel::Act,
            reference_rows: 100,
            bins: vec![
                BinShares {
                    label: "≤ 3".into(),
                    reference: 0.5,
                    current: 0.45,
                },
                BinShares {
                    label: "(missing)".into(),
                    reference: 0.02,
                    current: 0.31,
                },
            ],
        };
        assert_eq!(
            flag_line(&drift),
            "act    days_since_last_purchase  PSI 0.412  largest move: (missing) 2.0% → 31.0%"
        );
    }
}
