//! The model artifact: everything needed to score and explain, self-described and checked on load.
//!
//! On disk it is JSON (no code runs on load):
//! `{"format":"churn-model","format_version":1,"checksum":"sha256:<hex>","payload":{…}}` where the checksum
//! is the SHA-256 of the payload's exact bytes. Loading reads the header first, so a file from a newer
//! format version is refused with that reason rather than a parse error, then verifies the checksum, then
//! parses the payload and checks its inner consistency (column counts, tree node indices), so a truncated,
//! edited or mismatched file fails with a clear error instead of a panic or a wrong score.

use crate::bands::RiskBands;
use crate::calibration::Calibrator;
use crate::drift::DriftReference;
use crate::error::{ModelError, Result};
use crate::input::FeatureRow;
use crate::kinds::{FittedModel, ModelKind, ModelParams};
use crate::metrics::{Metrics, ThresholdRule};
use crate::model::{ChurnModel, Explanation};
use crate::population::Population;
use crate::preprocess::{FeatureSchema, PreprocessParams};
use crate::reason_groups::ReasonGroups;
use crate::scorer::Scorer;
use churn_features::FeatureTable;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The artifact format version this build writes and the newest it reads.
///
/// Format 2 added the optional `calibration`; format 1 files still load (uncalibrated). The optional
/// `reason_groups` came later within format 2: it changes which reasons are given, never a probability,
/// so files without it load (one reason per feature) and older readers of format 2 ignore it. So did
/// `population` and `training.population_excluded`: files without them load as models for every row
/// (an older reader ignores a population and would select every row). So did `drift_reference`: files
/// without it load, and have no drift to measure.
pub const FORMAT_VERSION: u32 = 2;
/// The `format` field of every artifact file.
pub const FORMAT_NAME: &str = "churn-model";

/// What the label means, for people reading the artifact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelInfo {
    /// E.g. "no purchase in the 273 days after the as-of date".
    pub definition: Option<String>,
    /// Label horizon in days, when the label looks ahead from an as-of date.
    pub horizon_days: Option<u32>,
    /// Days after the as-of date whose data a label depends on, when more than the horizon (a
    /// subscription label waits for the grace period after it). Time-ordered splits purge by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookahead_days: Option<u32>,
}

/// How the model was validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Validation {
    /// Stratified k-fold: metrics from out-of-fold predictions; the stored model is fitted on all rows.
    CrossValidation {
        /// Number of folds.
        folds: usize,
        /// Seed of the fold assignment.
        seed: u64,
    },
    /// Out of time: fitted on rows before `test_as_of`, metrics on the rows of that date; the stored
    /// model is the one fitted on the earlier rows.
    OutOfTime {
        /// The as-of date tested on (`YYYY-MM-DD`).
        test_as_of: String,
        /// Training rows were purged when as-of + this many days (the label horizon plus any gap) passed
        /// the test date; `None` when the horizon was unknown and nothing was purged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purge_days: Option<u32>,
        /// Training rows left out by that purge.
        #[serde(default)]
        purged_rows: usize,
    },
    /// No held-out evaluation.
    None,
}

/// Where the training rows came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The feature table file, when trained from one.
    pub source: Option<String>,
    /// Rows the stored model was fitted on.
    pub rows: usize,
    /// Churned rows among them.
    pub positives: usize,
    /// Rows of the population skipped because their label is unknown.
    pub skipped_unlabelled: usize,
    /// Rows of the feature table left out by the population rule ([`ModelArtifact::population`]).
    #[serde(default)]
    pub population_excluded: usize,
    /// Distinct as-of dates of the training rows (`YYYY-MM-DD`), empty for snapshot tables.
    pub as_of_dates: Vec<String>,
    /// How the metrics were obtained.
    pub validation: Validation,
    /// Wall-clock seconds spent fitting the stored model, preprocessing included.
    pub fit_seconds: f64,
    /// The part of `fit_seconds` spent fitting the preprocessing and encoding the training rows.
    #[serde(default)]
    pub preprocess_seconds: f64,
}

/// How the rows of a table being evaluated overlap the rows a model was fitted on (see
/// [`TrainingInfo::overlap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingOverlap {
    /// Whether the table is the file the model was trained from ([`TrainingInfo::source`]).
    pub same_file: bool,
    /// Evaluated rows that may be training rows: those with an as-of date of the training rows (or,
    /// for a model trained on a table without dates, every row of its own training file).
    pub rows: usize,
    /// Rows evaluated.
    pub evaluated: usize,
    /// The training as-of dates among the evaluated rows (`YYYY-MM-DD`), oldest first.
    pub dates: Vec<String>,
}

impl TrainingOverlap {
    /// Whether some evaluated rows may be training rows.
    pub fn any(&self) -> bool {
        self.rows > 0
    }

    /// A warning for people about `table` (how the evaluated table is named), or `None` without
    /// overlap. It ends by saying that the metrics are optimistic.
    pub fn warning(&self, table: &str) -> Option<String> {
        if !self.any() {
            return None;
        }
        let mut dates = self.dates.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        if self.dates.len() > 3 {
            dates.push_str(&format!(" and {} more", self.dates.len() - 3));
        }
        let (rows, evaluated) = (self.rows, self.evaluated);
        Some(match (self.same_file, self.dates.is_empty()) {
            (true, true) => format!(
                "{table} is the feature table the model was trained on, and every one of its {evaluated} \
                 evaluated rows was a training row: the model has seen their labels, so these metrics are \
                 optimistic; evaluate on rows of a later as-of date"
            ),
            (true, false) => format!(
                "{table} is the feature table the model was trained on, and {rows} of its {evaluated} \
                 evaluated rows are training rows (as-of {dates}): the model has seen their labels, so \
                 these metrics are optimistic; evaluate on rows of a later as-of date"
            ),
            (false, _) => format!(
                "{rows} of the {evaluated} evaluated rows of {table} have an as-of date the model was \
                 trained on ({dates}): for customers that were in the training table, the model has \
                 seen their labels, so these metrics are optimistic; evaluate on rows of a later as-of \
                 date"
            ),
        })
    }
}

impl TrainingInfo {
    /// How the `rows` of `table`, read from `path`, overlap the rows the model was fitted on. An
    /// evaluated row may be a training row when its as-of date is one of [`TrainingInfo::as_of_dates`];
    /// when the model was trained on a table without as-of dates, only its own training file
    /// ([`TrainingInfo::source`], compared as canonical paths) counts, all of it. Rows of other files
    /// and dates are not training rows (the fitted rows are not recorded one by one).
    pub fn overlap(&self, table: &FeatureTable, rows: &[usize], path: &Path) -> TrainingOverlap {
        let same_file = self.source.as_deref().is_some_and(|source| {
            let source = Path::new(source);
            match (source.canonicalize(), path.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => source == path,
            }
        });
        let mut dates = std::collections::BTreeSet::new();
        let mut overlapping = 0;
        if self.as_of_dates.is_empty() {
            if same_file {
                overlapping = rows.len();
            }
        } else {
            let trained: std::collections::HashSet<&str> =
                self.as_of_dates.iter().map(String::as_str).collect();
            for &row in rows {
                if let Some(date) = table.as_of.get(row).copied().flatten() {
                    let date = date.to_string();
                    if trained.contains(date.as_str()) {
                        overlapping += 1;
                        dates.insert(date);
                    }
                }
            }
        }
        TrainingOverlap {
            same_file,
            rows: overlapping,
            evaluated: rows.len(),
            dates: dates.into_iter().collect(),
        }
    }
}

/// A trained churn model with everything needed to score, explain and audit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// Registry name of the model.
    pub name: String,
    /// Registry version, e.g. `v3` (empty until saved in a registry).
    pub version: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Version of churn-models that wrote it.
    pub library_version: String,
    /// The model's kind.
    pub kind: ModelKind,
    /// Input features and their preprocessing, in order.
    pub schema: FeatureSchema,
    /// How the preprocessing was fitted.
    pub preprocess: PreprocessParams,
    /// Hyperparameters.
    pub params: ModelParams,
    /// The fitted model.
    pub model: FittedModel,
    /// Maps the model's probability to a calibrated one (fitted on rows the model was not fitted on);
    /// `None` when uncalibrated. Absent in format 1.
    #[serde(default)]
    pub calibration: Option<Calibrator>,
    /// Decision threshold: a customer is flagged when the probability is at least this.
    pub threshold: f64,
    /// How the threshold was chosen.
    pub threshold_rule: ThresholdRule,
    /// Named probability bands for people (e.g. low / medium / high), aligned with `threshold`: every
    /// band lies wholly below it or wholly at or above it (see [`crate::bands`]).
    pub risk_bands: RiskBands,
    /// What the label means.
    pub label: LabelInfo,
    /// Which customers the model is for: the rows it was trained and validated on, and those evaluation
    /// and scoring select by default. Absent (every row) in artifacts written before populations.
    #[serde(default, skip_serializing_if = "Population::is_everyone")]
    pub population: Population,
    /// Training rows, dates and validation.
    pub training: TrainingInfo,
    /// Held-out metrics, when validated.
    pub metrics: Option<Metrics>,
    /// Descriptor columns of the training table (segment labels that scoring copies through).
    pub descriptors: Vec<String>,
    /// Which features are given as one reason (fitted on the training rows); `None` in artifacts
    /// written before reason groups existed, which give one reason per feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_groups: Option<ReasonGroups>,
    /// What the training customers looked like, for drift monitoring (see [`crate::drift`]); `None` in
    /// artifacts written before drift monitoring, which have nothing to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_reference: Option<DriftReference>,
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    format_version: Option<u32>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    checksum: String,
    #[serde(borrow)]
    payload: &'a RawValue,
}

impl ModelArtifact {
    /// The [`Scorer`] of this model: the one path from features to probability, band and reasons.
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer::new(self)
    }

    /// Churn probability of every row of a table (see [`Scorer::predict_table`]).
    pub fn predict_proba(&self, table: &FeatureTable) -> Result<Vec<f64>> {
        let rows: Vec<usize> = (0..table.len()).collect();
        self.scorer().predict_table(table, &rows)
    }

    /// Churn probability of one row given by feature name → value.
    pub fn predict_proba_row(&self, row: &FeatureRow) -> Result<f64> {
        Ok(self.scorer().score_row(row, 0)?.probability)
    }

    /// Explanation of one row given by feature name → value (see [`Scorer::explain_row`]).
    pub fn explain_row(&self, row: &FeatureRow) -> Result<Explanation> {
        self.scorer().explain_row(row)
    }

    /// Explanations of every row of a table (see [`Scorer::explain_table`]).
    pub fn explain(&self, table: &FeatureTable) -> Result<Vec<Explanation>> {
        let rows: Vec<usize> = (0..table.len()).collect();
        self.scorer().explain_table(table, &rows)
    }

    /// The risk band of a probability.
    pub fn risk_band(&self, probability: f64) -> &str {
        self.risk_bands.band(probability)
    }

    /// The artifact as file text (header, checksum and payload).
    pub fn to_json(&self) -> Result<String> {
        let payload = serde_json::to_string(self).map_err(|source| ModelError::Serialise {
            what: "model artifact",
            source,
        })?;
        Ok(format!(
            "{{\"format\":\"{FORMAT_NAME}\",\"format_version\":{FORMAT_VERSION},\"checksum\":\"sha256:{}\",\"payload\":{payload}}}\n",
            sha256_hex(payload.as_bytes())
        ))
    }

    /// Parses artifact file text; `path` is only used in error messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let header: Header = serde_json::from_str(text).map_err(|e| {
            let reason = if e.is_eof() {
                "the file is truncated (it ends before the JSON does)".to_string()
            } else {
                format!("not a model artifact (invalid JSON: {e})")
            };
            ModelError::artifact(path, reason)
        })?;
        if header.format.as_deref() != Some(FORMAT_NAME) {
            return Err(ModelError::artifact(
                path,
                format!("not a model artifact (the `format` field is not \"{FORMAT_NAME}\")"),
            ));
        }
        let version = header
            .format_version
            .ok_or_else(|| ModelError::artifact(path, "the `format_version` field is missing"))?;
        if version > FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormatVersion {
                path: path.into(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(ModelError::artifact(path, "format version 0 does not exist"));
        }
        let envelope: Envelope<'_> = serde_json::from_str(text)
            .map_err(|e| ModelError::artifact(path, format!("malformed envelope: {e}")))?;
        let payload = envelope.payload.get();
        let actual = format!("sha256:{}", sha256_hex(payload.as_bytes()));
        if envelope.checksum != actual {
            return Err(ModelError::artifact(
                path,
                format!(
                    "checksum mismatch: the file says {} but its payload hashes to {actual}; the file is corrupt or was edited",
                    envelope.checksum
                ),
            ));
        }
        let mut artifact: Self = serde_json::from_str(payload).map_err(|e| {
            ModelError::artifact(
                path,
                format!("payload does not match format version {version}: {e}"),
            )
        })?;
        artifact
            .validate()
            .map_err(|reason| ModelError::artifact(path, reason))?;
        // Artifacts written before bands were aligned with the threshold at training get the same
        // alignment here (a single band, which cannot be aligned, is kept as it is).
        if let Ok(bands) = artifact
            .risk_bands
            .aligned_logged(artifact.threshold, &path.display().to_string())
        {
            artifact.risk_bands = bands;
        }
        Ok(artifact)
    }

    /// Writes the artifact to `path` atomically (temporary file in the same directory, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        churn_features::output::write_bytes_atomically(path, self.to_json()?.as_bytes())?;
        Ok(())
    }

    /// Reads and checks an artifact file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ModelError::artifact(path, "not a model artifact (not UTF-8 text)"))?;
        Self::from_json(&text, path)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        self.schema.validate()?;
        self.model.check_loaded(self.schema.width())?;
        if let Some(groups) = &self.reason_groups {
            groups.validate(self.schema.features.len())?;
        }
        if let Some(calibrator) = &self.calibration {
            calibrator
                .validate()
                .map_err(|reason| format!("calibration: {reason}"))?;
        }
        if self.model.kind() != self.kind {
            return Err(format!(
                "the artifact says it is a {} model but holds a {}",
                self.kind,
                self.model.kind()
            ));
        }
        if let Some(reference) = &self.drift_reference {
            reference
                .validate(&self.schema)
                .map_err(|reason| format!("drift reference: {reason}"))?;
        }
        self.population.check().map_err(|e| format!("population: {e}"))?;
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(format!("threshold {} is outside [0, 1]", self.threshold));
        }
        self.risk_bands.validate()
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use churn_features::CustomerIds;

    fn info(source: Option<&Path>, dates: &[&str]) -> TrainingInfo {
        TrainingInfo {
            source: source.map(|p| p.display().to_string()),
            rows: 10,
            positives: 5,
            skipped_unlabelled: 0,
            as_of_dates: dates.iter().map(|d| d.to_string()).collect(),
            validation: Validation::None,
            fit_seconds: 0.0,
            preprocess_seconds: 0.0,
            population_excluded: 0,
        }
    }

    fn table(dates: &[Option<&str>]) -> FeatureTable {
        let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        FeatureTable {
            customer_ids: CustomerIds::Int((0..dates.len() as i64).collect()),
            as_of: dates.iter().map(|d| d.map(parse)).collect(),
            labels: vec![Some(0); dates.len()],
            columns: Vec::new(),
        }
    }

    #[test]
    fn evaluated_rows_of_training_dates_or_of_the_training_file_overlap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let train = dir.path().join("train.parquet");
        let other = dir.path().join("test.parquet");
        std::fs::write(&train, b"x").expect("write");
        std::fs::write(&other, b"y").expect("write");
        let stacked = table(&[
            Some("2024-05-31"),
            Some("2024-06-30"),
            Some("2024-06-30"),
            Some("2024-09-30"),
        ]);
        let all = [0, 1, 2, 3];
        let trained = info(Some(&train), &["2024-05-31", "2024-06-30"]);

        // The training file itself, through another spelling of its path: its training dates overlap,
        // the test date does not.
        let spelled = dir.path().join(".").join("train.parquet");
        let overlap = trained.overlap(&stacked, &all, &spelled);
        assert!(overlap.same_file && overlap.any());
        assert_eq!((overlap.rows, overlap.evaluated), (3, 4));
        assert_eq!(overlap.dates, ["2024-05-31", "2024-06-30"]);
        let warning = overlap.warning("train.parquet").expect("a warning");
        assert!(
            warning.contains("the feature table the model was trained on")
                && warning.contains("3 of its 4")
                && warning.ends_with("these metrics are optimistic; evaluate on rows of a later as-of date"),
            "{warning}"
        );

        // Another file: the dates still count; the rows of the test date alone do not.
        let overlap = trained.overlap(&stacked, &[1], &other);
        assert!(!overlap.same_file);
        assert!(
            overlap
                .warning("test.parquet")
                .expect("warning")
                .contains("metrics are optimistic")
        );
        let overlap = trained.overlap(&stacked, &[3], &other);
        assert!(!overlap.any() && overlap.warning("test.parquet").is_none());

        // A model trained on a table without dates: its own file overlaps entirely, others not at all.
        let snapshot = table(&[None, None]);
        let trained = info(Some(&train), &[]);
        let overlap = trained.overlap(&snapshot, &[0, 1], &train);
        assert_eq!(overlap.rows, 2);
        assert!(
            overlap
                .warning("train.parquet")
                .expect("warning")
                .contains("every one of its 2")
        );
        assert!(!trained.overlap(&snapshot, &[0, 1], &other).any());
        assert!(!info(None, &[]).overlap(&snapshot, &[0, 1], &train).any());
    }
}
