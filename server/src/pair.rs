//! What one answer is computed with: a model and a snapshot checked against each other
//! ([`ServingPair`]), and the versions of both ([`ServingVersion`]).

use crate::snapshot::Snapshot;
use chrono::NaiveDate;
use churn_features::ColumnValues;
use churn_models::{DriftLevel, DriftReport, LoadedModel, Matrix, ModelError};
use std::sync::Arc;

/// Names the model and snapshot an answer was computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingVersion {
    /// Model name in the registry.
    pub model_name: String,
    /// Model version, e.g. `v3`.
    pub model_version: String,
    /// The snapshot's latest as-of date.
    pub snapshot_as_of: Option<NaiveDate>,
    /// The snapshot file's fingerprint (see [`Snapshot::id`]).
    pub snapshot_id: String,
}

/// A model and a snapshot that fits its feature schema, with the snapshot encoded for the model.
#[derive(Debug)]
pub struct ServingPair {
    /// The model.
    pub model: Arc<LoadedModel>,
    /// The snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Versions of both.
    pub version: ServingVersion,
    /// The snapshot's served rows encoded as the model's inputs, one row per snapshot entry.
    pub(crate) encoded: Matrix,
    /// For each model feature, its column in the snapshot table.
    pub(crate) feature_columns: Vec<usize>,
    /// The snapshot's raw values of the model's numeric features (NaN for a missing value, and in a
    /// categorical feature's place; the snapshot has only finite values), one row per entry: the values
    /// a score's reasons quote sit together instead of one per table column, each a cache miss.
    pub(crate) numbers: Matrix,
    /// How far the snapshot's customers (those of the model's population) have moved from the
    /// model's training distributions; `None` when the model stores none or it cannot be measured.
    pub drift: Option<DriftReport>,
}

impl ServingPair {
    /// Checks that `snapshot` holds every feature of `model`'s schema with the training type and finite
    /// values, and encodes it once for scoring.
    pub fn build(model: Arc<LoadedModel>, snapshot: Arc<Snapshot>) -> Result<Self, ModelError> {
        let schema = model.schema();
        schema.check_table(&snapshot.table)?;
        let (encoded, unknown) = schema.encode_table_reporting(&snapshot.table, snapshot.rows())?;
        for summary in unknown.summaries(5) {
            tracing::warn!(
                model = %format!("{}@{}", model.name, model.version),
                "feature snapshot: {summary}"
            );
        }
        let feature_columns = schema
            .features
            .iter()
            .map(|feature| {
                snapshot
                    .table
                    .columns
                    .iter()
                    .position(|column| column.name == feature.name)
                    .ok_or_else(|| ModelError::MissingFeature {
                        feature: feature.name.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let numeric: Vec<Option<&[Option<f64>]>> = feature_columns
            .iter()
            .map(|&column| match &snapshot.table.columns[column].values {
                ColumnValues::Numeric(values) => Some(values.as_slice()),
                ColumnValues::Categorical(_) => None,
            })
            .collect();
        let mut numbers = Matrix::zeros(snapshot.rows().len(), numeric.len());
        for (entry, &row) in snapshot.rows().iter().enumerate() {
            for (number, values) in numbers.row_mut(entry).iter_mut().zip(&numeric) {
                *number = values.and_then(|v| v[row]).unwrap_or(f64::NAN);
            }
        }
        // Measured once per pair, here, off the request path, from the rows just encoded; the metrics
        // export it.
        let scorer = model.artifact.scorer();
        let drift =
            churn_models::drift::monitor_scored(&model.artifact, &snapshot.table, snapshot.rows(), |k| {
                scorer.calibrate(churn_models::ChurnModel::predict_encoded_row(
                    &model.artifact.model,
                    encoded.row(k),
                ))
            })
            .unwrap_or_else(|error| {
                tracing::warn!(
                    model = %format!("{}@{}", model.name, model.version),
                    "cannot measure the feature snapshot's drift, so no drift gauges are exported: {error}"
                );
                None
            });
        if let Some(report) = &drift {
            let count = |level| report.features.iter().filter(|d| d.level == level).count();
            tracing::info!(
                model = %format!("{}@{}", model.name, model.version),
                act = count(DriftLevel::Act),
                watch = count(DriftLevel::Watch),
                score_psi = report.score.psi,
                rows = report.rows,
                "feature snapshot against the training distributions: features whose PSI calls for \
                 action or watching (churn_feature_psi)"
            );
        }
        let version = ServingVersion {
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            snapshot_as_of: snapshot.as_of,
            snapshot_id: snapshot.id.clone(),
        };
        Ok(Self {
            model,
            snapshot,
            version,
            encoded,
            feature_columns,
            numbers,
            drift,
        })
    }
}
