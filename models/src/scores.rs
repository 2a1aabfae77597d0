//! The batch scores file: the [`Score`]s of a feature table's rows as Parquet, with a run summary beside
//! it, written as a pair through `churn_features::output` (so a reader sees the old pair or the new one).
//!
//! Columns, one row per table row in table order: `customer_id` (as typed in the table), `as_of`,
//! `churn_probability`, `risk_band` and `flagged` (the score's own band and above-threshold flag, as the
//! [`crate::Scorer`] decided them), `in_population` (only when rows outside the model's population are
//! written too), for survival models (`--model cox`) `churn_probability_30d`, `_60d` and `_90d` (the
//! probability of churning within 30, 60 and 90 days, 1 − S(t)) and `expected_active_days_<H>d` (the
//! expected days still a customer over the model's horizon H, the restricted mean survival time), the
//! customer's value when the table has it (`clv`, the lifetime value of its `clv_<N>m`
//! column, and `value_at_risk` = churn probability × `clv`; `p_alive`, the probability of still buying;
//! see [`crate::customer_value`]), `reason_K`, `reason_K_value`, `reason_K_contribution`,
//! `reason_K_group` (the reason's group of features) and `reason_K_text` (the reason in words) for
//! K = 1..=the reasons asked for (null where a row has fewer), the table's descriptor columns that the
//! model recorded (segments), then `model_name` and `model_version`.

use crate::artifact::ModelArtifact;
use crate::customer_value::ValueColumns;
use crate::error::{ModelError, Result};
use crate::model::ChurnModel;
use crate::population::Population;
use crate::scorer::{Score, Scorer};
use crate::survival::{HORIZONS, SurvivalScore};
use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use churn_features::output::{self, FileDigest};
use churn_features::{ColumnValues, CustomerIds, FeatureError, FeatureTable};
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The scores of every row of a feature table, ready to be written.
#[derive(Debug, Clone, Copy)]
pub struct ScoresFile<'a> {
    /// The table scored.
    pub table: &'a FeatureTable,
    /// One score per table row, in row order (from [`crate::Scorer::score_table`]).
    pub scores: &'a [Score],
    /// Reason columns per row (`reason_1` ..): the number of reasons the scores were asked for.
    pub reasons: usize,
    /// The model that scored them (name, version, threshold, descriptor columns).
    pub artifact: &'a ModelArtifact,
    /// The population the rows were selected by (recorded in the summary).
    pub population: &'a Population,
    /// Per table row, whether it is in the population: written as `in_population` when the table holds
    /// rows outside it, `None` when every row written is in it.
    pub in_population: Option<&'a [bool]>,
    /// Rows of the scored feature file outside the population (not in `table`, or marked by
    /// `in_population`).
    pub outside_population: usize,
}

/// The run summary written beside a scores file (`<name>.summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoresSummary {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// The feature table scored.
    pub features: PathBuf,
    /// Rows scored.
    pub rows: usize,
    /// Rows in the population whose probability reaches the threshold (under `--all-rows`, rows outside
    /// it are scored but not counted).
    pub flagged: usize,
    /// The model's decision threshold.
    pub threshold: f64,
    /// The population the rows were selected by (no rules: every row).
    #[serde(default)]
    pub population: Population,
    /// Rows of the feature file outside the population: not scored, or scored with `in_population`
    /// false.
    #[serde(default)]
    pub outside_population: usize,
    /// The table's lifetime value column written as `clv`, when it has one.
    #[serde(default)]
    pub clv_column: Option<String>,
    /// The value expected to be lost to churn: the sum of `value_at_risk` over the rows in the population
    /// (an unknown lifetime value counts as 0); absent without a lifetime value column.
    #[serde(default)]
    pub value_at_risk: Option<f64>,
    /// The scores file this summary describes (size and SHA-256).
    pub file: Option<FileDigest>,
}

impl<'a> ScoresFile<'a> {
    /// The scores as one Arrow record batch (see the module documentation for the columns). Fails when
    /// there is not one score per table row.
    pub fn batch(&self) -> Result<RecordBatch> {
        let (table, scores) = (self.table, self.scores);
        for (what, found) in [
            ("scores of the feature table", Some(scores.len())),
            (
                "population flags of the feature table",
                self.in_population.map(<[bool]>::len),
            ),
        ] {
            if let Some(found) = found.filter(|&n| n != table.len()) {
                return Err(ModelError::LengthMismatch {
                    what: what.into(),
                    expected: table.len(),
                    found,
                });
            }
        }
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
        push(
            Field::new("as_of", DataType::Date32, true),
            Arc::new(
                table
                    .as_of
                    .iter()
                    .map(|d| d.map(days_since_epoch))
                    .collect::<Date32Array>(),
            ),
        );
        push(
            Field::new("churn_probability", DataType::Float64, false),
            Arc::new(scores.iter().map(|s| s.probability).collect::<Float64Array>()),
        );
        push(
            Field::new("risk_band", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(
                scores.iter().map(|s| s.risk_band.as_str()),
            )),
        );
        push(
            Field::new("flagged", DataType::Boolean, false),
            Arc::new(
                scores
                    .iter()
                    .map(|s| Some(s.above_threshold))
                    .collect::<BooleanArray>(),
            ),
        );
        if let Some(in_population) = self.in_population {
            push(
                Field::new("in_population", DataType::Boolean, false),
                Arc::new(BooleanArray::from(in_population.to_vec())),
            );
        }
        if let Some(model) = self.artifact.model.as_survival() {
            let scorer = Scorer::new(self.artifact);
            let rows: Vec<usize> = (0..table.len()).collect();
            let x = self.artifact.schema.encode_table(table, &rows)?;
            let survival: Vec<SurvivalScore> =
                (0..x.rows()).filter_map(|i| scorer.survival(x.row(i))).collect();
            let column = |f: &dyn Fn(&SurvivalScore) -> f64| -> ArrayRef {
                Arc::new(survival.iter().map(f).collect::<Float64Array>())
            };
            for (k, horizon) in HORIZONS.iter().enumerate() {
                push(
                    Field::new(format!("churn_probability_{horizon}d"), DataType::Float64, false),
                    column(&|s| s.churn_within[k]),
                );
            }
            push(
                Field::new(
                    format!("expected_active_days_{}d", model.horizon_days()),
                    DataType::Float64,
                    false,
                ),
                column(&|s| s.expected_active_days),
            );
        }
        let value = ValueColumns::of(table);
        let value_column = |f: &dyn Fn(usize, &Score) -> Option<f64>| -> ArrayRef {
            Arc::new(
                scores
                    .iter()
                    .enumerate()
                    .map(|(row, s)| f(row, s))
                    .collect::<Float64Array>(),
            )
        };
        if value.has_clv() {
            push(
                Field::new("clv", DataType::Float64, true),
                value_column(&|row, _| value.at(table, row).clv),
            );
            push(
                Field::new("value_at_risk", DataType::Float64, true),
                value_column(&|row, s| value.at(table, row).value_at_risk(s.probability)),
            );
        }
        if value.has_p_alive() {
            push(
                Field::new("p_alive", DataType::Float64, true),
                value_column(&|row, _| value.at(table, row).p_alive),
            );
        }
        for rank in 0..self.reasons {
            let k = rank + 1;
            let reason = |s: &'a Score| s.reasons.get(rank);
            push(
                Field::new(format!("reason_{k}"), DataType::Utf8, true),
                Arc::new(
                    scores
                        .iter()
                        .map(|s| reason(s).map(|r| r.feature.as_str()))
                        .collect::<StringArray>(),
                ),
            );
            push(
                Field::new(format!("reason_{k}_value"), DataType::Utf8, true),
                Arc::new(
                    scores
                        .iter()
                        .map(|s| reason(s).map(|r| r.value.to_string()))
                        .collect::<StringArray>(),
                ),
            );
            push(
                Field::new(format!("reason_{k}_contribution"), DataType::Float64, true),
                Arc::new(
                    scores
                        .iter()
                        .map(|s| reason(s).map(|r| r.contribution))
                        .collect::<Float64Array>(),
                ),
            );
            push(
                Field::new(format!("reason_{k}_group"), DataType::Utf8, true),
                Arc::new(
                    scores
                        .iter()
                        .map(|s| reason(s).map(|r| r.label.as_str()))
                        .collect::<StringArray>(),
                ),
            );
            push(
                Field::new(format!("reason_{k}_text"), DataType::Utf8, true),
                Arc::new(
                    scores
                        .iter()
                        .map(|s| reason(s).map(|r| r.text.as_str()))
                        .collect::<StringArray>(),
                ),
            );
        }
        for name in &self.artifact.descriptors {
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
                self.artifact.name.as_str(),
                rows,
            ))),
        );
        push(
            Field::new("model_version", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                self.artifact.version.as_str(),
                rows,
            ))),
        );
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }

    /// The run summary of these scores of the table read from `features` (without the file digest,
    /// which [`ScoresFile::write`] adds).
    pub fn summary(&self, features: &Path) -> ScoresSummary {
        let value = ValueColumns::of(self.table);
        let in_population = |row: usize| {
            self.in_population
                .is_none_or(|flags| flags.get(row) == Some(&true))
        };
        let value_at_risk = value.has_clv().then(|| {
            self.scores
                .iter()
                .enumerate()
                .take(self.table.len())
                .filter(|&(row, _)| in_population(row))
                .filter_map(|(row, s)| value.at(self.table, row).value_at_risk(s.probability))
                .sum()
        });
        ScoresSummary {
            model: self.artifact.name.clone(),
            version: self.artifact.version.clone(),
            features: features.to_path_buf(),
            rows: self.scores.len(),
            flagged: self
                .scores
                .iter()
                .enumerate()
                .filter(|&(row, s)| s.above_threshold && in_population(row))
                .count(),
            threshold: self.artifact.threshold,
            population: self.population.clone(),
            outside_population: self.outside_population,
            clv_column: value.clv_column(self.table).map(str::to_string),
            value_at_risk,
            file: None,
        }
    }

    /// Writes the scores to `path` as Parquet and their summary beside it, as a pair (the summary holds
    /// the file's size and SHA-256); `features` is the scored table's file, recorded in the summary.
    /// Returns the summary written.
    pub fn write(&self, path: &Path, features: &Path) -> Result<ScoresSummary> {
        let batch = self.batch()?;
        let summary = self.summary(features);
        let properties = output::parquet_properties().build();
        let (data, ()) = output::stage(path, |file| {
            let parquet_error = |e: parquet::errors::ParquetError| FeatureError::output(path, e.to_string());
            let mut writer =
                ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet_error)?;
            writer.write(&batch).map_err(parquet_error)?;
            writer.close().map_err(parquet_error)?;
            Ok(())
        })?;
        Ok(output::commit_with_summary(data, |digest| ScoresSummary {
            file: Some(digest.clone()),
            ..summary
        })?)
    }
}

/// Days from 1970-01-01, as Arrow's `Date32` counts them.
fn days_since_epoch(date: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::FeatureValue;
    use crate::model::Reason;
    use crate::test_support::{labelled_table, numeric_column, trained};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    fn score(probability: f64, band: &str, flagged: bool, reasons: usize) -> Score {
        Score {
            probability,
            risk_band: band.into(),
            above_threshold: flagged,
            reasons: (0..reasons)
                .map(|k| Reason {
                    feature: format!("f{k}"),
                    value: FeatureValue::Number(k as f64),
                    contribution: 1.0 / (k + 1) as f64,
                    label: format!("group {k}"),
                    features: Vec::new(),
                    text: format!("reason {k} in words"),
                })
                .collect(),
        }
    }

    #[test]
    fn the_batch_takes_band_and_flag_from_the_scores_and_pads_missing_reasons() {
        let table = labelled_table(3, 1);
        let mut artifact = trained(&labelled_table(200, 1));
        artifact.name = "churn".into();
        artifact.version = "v4".into();
        // Bands and flags that no threshold of the artifact would give: the file must copy them.
        let scores = vec![
            score(0.9, "calm", false, 2),
            score(0.1, "alarm", true, 0),
            score(0.5, "mid", false, 1),
        ];
        let population = Population {
            min_tenure_days: Some(30),
            ..Population::default()
        };
        let file = ScoresFile {
            table: &table,
            scores: &scores,
            reasons: 2,
            artifact: &artifact,
            population: &population,
            in_population: Some(&[true, false, true]),
            outside_population: 1,
        };
        let batch = file.batch().expect("batch");
        let in_population = batch.column_by_name("in_population").expect("in_population");
        let in_population: Vec<bool> = in_population.as_boolean().iter().flatten().collect();
        assert_eq!(in_population, [true, false, true]);
        assert_eq!(batch.num_rows(), 3);
        let bands = batch.column_by_name("risk_band").expect("band");
        let bands: Vec<&str> = bands.as_string::<i32>().iter().flatten().collect();
        assert_eq!(bands, ["calm", "alarm", "mid"]);
        let flagged = batch
            .column_by_name("flagged")
            .expect("flagged")
            .as_boolean()
            .clone();
        assert_eq!(flagged.iter().flatten().collect::<Vec<_>>(), [false, true, false]);
        let second = batch.column_by_name("reason_2").expect("reason_2");
        let second = second.as_string::<i32>();
        assert_eq!(second.value(0), "f1");
        assert!(second.is_null(1) && second.is_null(2));
        let text = batch.column_by_name("reason_2_text").expect("reason_2_text");
        assert_eq!(text.as_string::<i32>().value(0), "reason 1 in words");
        let group = batch.column_by_name("reason_1_group").expect("reason_1_group");
        assert_eq!(group.as_string::<i32>().value(0), "group 0");
        assert!(batch.column_by_name("reason_3").is_none());
        assert!(
            batch.column_by_name("lifecycle_stage").is_some(),
            "descriptors copied"
        );
        let versions = batch.column_by_name("model_version").expect("version");
        assert_eq!(versions.as_string::<i32>().value(2), "v4");
        let summary = file.summary(Path::new("t.parquet"));
        // The one flagged row is outside the population: it is written, not counted.
        assert_eq!((summary.flagged, summary.outside_population), (0, 1));
        assert_eq!(summary.population, population);
    }

    #[test]
    fn the_customers_value_sits_beside_the_score() {
        let mut table = labelled_table(3, 1);
        table
            .columns
            .push(numeric_column("clv_12m", vec![Some(100.0), None, Some(40.0)]));
        table
            .columns
            .push(numeric_column("p_alive", vec![Some(0.9), Some(0.2), None]));
        let artifact = trained(&labelled_table(200, 1));
        let scores = vec![
            score(0.5, "mid", false, 0),
            score(0.9, "high", true, 0),
            score(0.25, "low", false, 0),
        ];
        let everyone = Population::everyone();
        let file = ScoresFile {
            table: &table,
            scores: &scores,
            reasons: 0,
            artifact: &artifact,
            population: &everyone,
            in_population: Some(&[true, true, false]),
            outside_population: 1,
        };
        let batch = file.batch().expect("batch");
        let column = |name: &str| -> Vec<Option<f64>> {
            let column = batch.column_by_name(name).expect(name);
            column
                .as_primitive::<arrow_array::types::Float64Type>()
                .iter()
                .collect()
        };
        assert_eq!(column("clv"), [Some(100.0), None, Some(40.0)]);
        assert_eq!(column("value_at_risk"), [Some(50.0), None, Some(10.0)]);
        assert_eq!(column("p_alive"), [Some(0.9), Some(0.2), None]);
        let summary = file.summary(Path::new("t.parquet"));
        assert_eq!(summary.clv_column.as_deref(), Some("clv_12m"));
        // The third row is outside the population.
        assert_eq!(summary.value_at_risk, Some(50.0));

        let plain = labelled_table(3, 1);
        let file = ScoresFile {
            table: &plain,
            ..file
        };
        let batch = file.batch().expect("batch");
        for name in ["clv", "value_at_risk", "p_alive"] {
            assert!(batch.column_by_name(name).is_none(), "{name}");
        }
        assert_eq!(file.summary(Path::new("t.parquet")).value_at_risk, None);
    }

    #[test]
    fn survival_models_add_churn_within_30_60_90_days_and_expected_active_days() {
        use crate::train::{NoProgress, TrainOptions, ValidationPlan, train};
        let table = crate::test_support::survival_table(300, 8);
        let mut options = TrainOptions::new(crate::ModelParams::default_for(crate::ModelKind::Cox));
        options.validation = ValidationPlan::None;
        options.importance = None;
        let artifact = train(&table, &options, &NoProgress).expect("train").artifact;
        let rows: Vec<usize> = (0..table.len()).collect();
        let scores = artifact.scorer().score_table(&table, &rows, 0).expect("scores");
        let file = ScoresFile {
            table: &table,
            scores: &scores,
            reasons: 0,
            artifact: &artifact,
            population: &Population::everyone(),
            in_population: None,
            outside_population: 0,
        };
        let batch = file.batch().expect("batch");
        let column = |name: &str| -> Vec<f64> {
            let array = batch.column_by_name(name).unwrap_or_else(|| panic!("no {name}"));
            let values = array.as_any().downcast_ref::<Float64Array>().expect("floats");
            values.values().to_vec()
        };
        let (p30, p60, p90) = (
            column("churn_probability_30d"),
            column("churn_probability_60d"),
            column("churn_probability_90d"),
        );
        let days = column("expected_active_days_90d");
        let probability = column("churn_probability");
        for i in 0..table.len() {
            assert!(0.0 <= p30[i] && p30[i] <= p60[i] && p60[i] <= p90[i] && p90[i] < 1.0);
            // The model's probability is churn within its 90-day horizon.
            assert_eq!(probability[i], p90[i]);
            // Between 90·S(90) (churn at once after 90 days) and 90 days.
            assert!(
                days[i] <= 90.0 && days[i] >= 90.0 * (1.0 - p90[i]),
                "{} {}",
                days[i],
                p90[i]
            );
        }
    }

    #[test]
    fn one_score_per_row_or_an_error() {
        let table = labelled_table(4, 2);
        let artifact = trained(&labelled_table(200, 2));
        let scores = vec![score(0.2, "low", false, 0)];
        let everyone = Population::everyone();
        let file = ScoresFile {
            table: &table,
            scores: &scores,
            reasons: 0,
            artifact: &artifact,
            population: &everyone,
            in_population: None,
            outside_population: 0,
        };
        assert!(matches!(file.batch(), Err(ModelError::LengthMismatch { .. })));
        let scores = vec![score(0.2, "low", false, 0); 4];
        let file = ScoresFile {
            scores: &scores,
            in_population: Some(&[true; 3]),
            ..file
        };
        assert!(matches!(file.batch(), Err(ModelError::LengthMismatch { .. })));
        assert!(
            file.batch()
                .is_err_and(|e| e.to_string().contains("population flags"))
        );
        let batch = ScoresFile {
            in_population: None,
            ..file
        }
        .batch()
        .expect("batch");
        assert!(batch.column_by_name("in_population").is_none());
    }

    #[test]
    fn write_commits_the_file_and_a_summary_that_describes_it() {
        let table = labelled_table(50, 3);
        let artifact = trained(&table);
        let rows: Vec<usize> = (0..table.len()).collect();
        let scores = artifact.scorer().score_table(&table, &rows, 2).expect("scores");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("scores.parquet");
        let summary = ScoresFile {
            table: &table,
            scores: &scores,
            reasons: 2,
            artifact: &artifact,
            population: &Population::everyone(),
            in_population: None,
            outside_population: 0,
        }
        .write(&path, Path::new("features.parquet"))
        .expect("write");
        assert_eq!(summary.rows, 50);
        let digest = summary.file.expect("digest");
        assert_eq!(digest.bytes, std::fs::metadata(&path).expect("file").len());
        churn_features::output::check_against_summary(&path).expect("summary matches the file");
        let written: ScoresSummary =
            serde_json::from_str(&std::fs::read_to_string(output::summary_path(&path)).expect("summary"))
                .expect("summary json");
        assert_eq!(
            written.flagged,
            scores.iter().filter(|s| s.above_threshold).count()
        );
    }
}
