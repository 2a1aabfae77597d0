//! `churn-trainer score`: score every row of a feature table with a registry model and write Parquet.

use super::Ui;
use super::outln;
use super::population::{self, PopulationArgs, describe, population_mask};
use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use churn_features::{ColumnValues, CustomerIds, FeatureError, FeatureTable, output};
use churn_models::{ModelConfig, Population, Reason, Registry, RiskBands};
use clap::Args;
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Rows scored per progress step.
const CHUNK_ROWS: usize = 32_768;

/// Score a feature table's rows (the model's population): churn probability, risk band, top reasons.
///
/// Writes Parquet with one row per scored row: customer_id, as_of, churn_probability, risk_band, flagged
/// (probability at least the model's threshold), in_population (with --all-rows), reason_1..K (the
/// groups of features pushing the risk up the most: each one's main feature, its value, the group's
/// contribution, the group's name in reason_K_group and the reason in words in reason_K_text), the
/// table's descriptor columns (segments), and the model's name and version; and beside it
/// <name>.summary.json (model, rows, flagged, population, the file's SHA-256). Both are written
/// atomically, and never over the feature table, the registry or the model config. NAME alone means the promoted version (the latest
/// when none is promoted); NAME@VERSION picks one.
///
/// Only the rows of the model's population are scored and written (the [population] section of
/// --model-config replaces the model's rules, the population flags replace single rules); the rows it
/// left out are counted. With --all-rows every row is written, with an in_population column saying
/// whether the row is in the population.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  churn-trainer score --model cdnow --registry models \\\n      \
                  --features cdnow.parquet --out scores.parquet --top-k 3\n  \
                  churn-trainer score --model churn --registry models \\\n      \
                  --features snapshot.parquet --out scores.parquet --all-rows"
)]
pub struct ScoreArgs {
    /// Model to use: NAME or NAME@VERSION.
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
    /// replaces the model's population.
    #[arg(long, value_name = "FILE")]
    pub model_config: Option<PathBuf>,

    /// Score and write every row, with an in_population column (true for the rows of the population),
    /// instead of the population's rows only.
    #[arg(long, help_heading = population::HEADING)]
    pub all_rows: bool,

    /// Which customers to score (the model's population unless given).
    #[command(flatten)]
    pub population: PopulationArgs,
}

/// Scores and reasons of a table.
struct Scored {
    probabilities: Vec<f64>,
    /// Per reason rank, per row.
    reasons: Vec<Vec<Option<Reason>>>,
}

/// Runs `churn-trainer score`.
pub fn run(args: ScoreArgs, ui: &Ui) -> Result<()> {
    let started = Instant::now();
    let summary_path = output::summary_path(&args.out);
    let features_summary = output::summary_path(&args.features);
    let mut inputs = vec![
        args.features.as_path(),
        &features_summary,
        args.registry.as_path(),
    ];
    inputs.extend(args.model_config.as_deref());
    output::check_outputs(&[&args.out, &summary_path], &inputs)?;
    let registry = Registry::open(&args.registry)?;
    let model = registry.resolve(&args.model)?;
    let config = ModelConfig::load(args.model_config.as_deref())?;
    let bands = match config.risk_bands {
        Some(bands) => bands,
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
    for feature in model.schema().all_null_features(&table) {
        tracing::warn!(
            feature,
            "the feature is null in every row of {}; the model fills in its training median for all of them, \
             so scores lose what the feature carried",
            args.features.display()
        );
    }

    let bar = ui.progress(table.len() as u64, "scoring", "rows");
    let mut scored = Scored {
        probabilities: Vec::with_capacity(table.len()),
        reasons: vec![Vec::with_capacity(table.len()); args.top_k],
    };
    let all: Vec<usize> = (0..table.len()).collect();
    for chunk in all.chunks(CHUNK_ROWS) {
        for score in scorer.score_table(&table, chunk, args.top_k)? {
            scored.probabilities.push(score.probability);
            let mut top = score.reasons.into_iter();
            for rank in &mut scored.reasons {
                rank.push(top.next());
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let batch = build_batch(&table, &scored, &bands, &model, in_population.as_deref())?;
    let flagged = scored
        .probabilities
        .iter()
        .filter(|&&p| p >= model.threshold())
        .count();
    let summary = ScoresSummary {
        model: &model.name,
        version: &model.version,
        features: &args.features,
        rows: table.len(),
        flagged,
        threshold: model.threshold(),
        population: &population,
        outside_population,
        file: None,
    };
    write_with_summary(&args.out, &batch, summary)?;
    outln!(
        "scored {} rows with {}@{} in {:.2}s: {} flagged at threshold {:.4}; wrote {}",
        table.len(),
        model.name,
        model.version,
        started.elapsed().as_secs_f64(),
        flagged,
        model.threshold(),
        args.out.display()
    )?;
    if !population.is_everyone() {
        let what = match args.all_rows {
            true => "outside it (written with in_population = false)",
            false => "left out (not scored; --all-rows writes them too)",
        };
        outln!("{}", describe(&population, outside_population, read_rows, what))?;
    }
    Ok(())
}

fn build_batch(
    table: &FeatureTable,
    scored: &Scored,
    bands: &RiskBands,
    model: &churn_models::LoadedModel,
    in_population: Option<&[bool]>,
) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut push = |field: Field, array: ArrayRef| {
        fields.push(field);
        arrays.push(array);
    };
    match &table.customer_ids {
        CustomerIds::Int(ids) => push(
            Field::new("customer_id", DataType::Int64, false),
            Arc::new(Int64Array::from(ids.clone())),
        ),
        CustomerIds::Str(ids) => push(
            Field::new("customer_id", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(ids)),
        ),
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).context("epoch")?;
    push(
        Field::new("as_of", DataType::Date32, true),
        Arc::new(
            table
                .as_of
                .iter()
                .map(|d| d.map(|d| (d - epoch).num_days() as i32))
                .collect::<Date32Array>(),
        ),
    );
    push(
        Field::new("churn_probability", DataType::Float64, false),
        Arc::new(Float64Array::from(scored.probabilities.clone())),
    );
    push(
        Field::new("risk_band", DataType::Utf8, false),
        Arc::new(StringArray::from_iter_values(
            scored.probabilities.iter().map(|&p| bands.band(p)),
        )),
    );
    push(
        Field::new("flagged", DataType::Boolean, false),
        Arc::new(
            scored
                .probabilities
                .iter()
                .map(|&p| Some(p >= model.threshold()))
                .collect::<BooleanArray>(),
        ),
    );
    if let Some(in_population) = in_population {
        push(
            Field::new("in_population", DataType::Boolean, false),
            Arc::new(BooleanArray::from(in_population.to_vec())),
        );
    }
    for (rank, reasons) in scored.reasons.iter().enumerate() {
        let k = rank + 1;
        let text = |name: String, of: &dyn Fn(&Reason) -> String| {
            let values = reasons
                .iter()
                .map(|r| r.as_ref().map(of))
                .collect::<StringArray>();
            (
                Field::new(name, DataType::Utf8, true),
                Arc::new(values) as ArrayRef,
            )
        };
        let (field, array) = text(format!("reason_{k}"), &|r| r.feature.clone());
        push(field, array);
        let (field, array) = text(format!("reason_{k}_value"), &|r| r.value.to_string());
        push(field, array);
        push(
            Field::new(format!("reason_{k}_contribution"), DataType::Float64, true),
            Arc::new(
                reasons
                    .iter()
                    .map(|r| r.as_ref().map(|r| r.contribution))
                    .collect::<Float64Array>(),
            ),
        );
        let (field, array) = text(format!("reason_{k}_group"), &|r| r.label.clone());
        push(field, array);
        let (field, array) = text(format!("reason_{k}_text"), &|r| r.text.clone());
        push(field, array);
    }
    for name in &model.artifact.descriptors {
        if let Some(column) = table.column(name)
            && let ColumnValues::Categorical(values) = &column.values
        {
            push(
                Field::new(name, DataType::Utf8, true),
                Arc::new(values.iter().map(Option::as_deref).collect::<StringArray>()),
            );
        }
    }
    let rows = table.len();
    push(
        Field::new("model_name", DataType::Utf8, false),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            model.name.as_str(),
            rows,
        ))),
    );
    push(
        Field::new("model_version", DataType::Utf8, false),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            model.version.as_str(),
            rows,
        ))),
    );
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// The run summary written beside the scores.
#[derive(Serialize)]
struct ScoresSummary<'a> {
    model: &'a str,
    version: &'a str,
    features: &'a Path,
    rows: usize,
    flagged: usize,
    threshold: f64,
    /// The population rule (empty: every row).
    population: &'a Population,
    /// Rows of the feature table outside the population: not scored, or scored with in_population
    /// false under --all-rows.
    outside_population: usize,
    /// The scores file this summary describes.
    file: Option<output::FileDigest>,
}

/// Writes the scores as Parquet and the summary beside them, as a pair (see `churn_features::output`).
fn write_with_summary(path: &Path, batch: &RecordBatch, summary: ScoresSummary<'_>) -> Result<()> {
    let properties = output::parquet_properties().build();
    let (data, ()) = output::stage(path, |file| {
        let parquet_error = |e: parquet::errors::ParquetError| FeatureError::output(path, e.to_string());
        let mut writer =
            ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet_error)?;
        writer.write(batch).map_err(parquet_error)?;
        writer.close().map_err(parquet_error)?;
        Ok(())
    })?;
    output::commit_with_summary(data, |digest| ScoresSummary {
        file: Some(digest.clone()),
        ..summary
    })?;
    Ok(())
}
