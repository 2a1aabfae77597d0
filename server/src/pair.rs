//! What one answer is computed with: a model and a snapshot checked against each other
//! ([`ServingPair`]), and the versions of both ([`ServingVersion`]).

use crate::snapshot::Snapshot;
use chrono::NaiveDate;
use churn_features::ColumnValues;
use churn_models::{DriftLevel, DriftReport, LoadedModel, Matrix, ModelError};
use std::collections::HashMap;
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
    /// The snapshot's raw values of the model's features, one row per entry: a number as it is, a
    /// category as the position of its value in the feature's [`ServingPair::levels`], NaN when missing
    /// (the snapshot has only finite numbers). The values a score's reasons quote sit together instead
    /// of one per table column, each a cache miss.
    pub(crate) values: Matrix,
    /// For each model feature, its distinct values when it is categorical (`None` when numeric).
    pub(crate) levels: Vec<Option<Vec<String>>>,
    /// How far the snapshot's customers (those of the model's population) have moved from the
    /// model's training distributions; `None` when the model stores none or it cannot be measured.
    pub drift: Option<DriftReport>,
    /// For each snapshot entry, whether the customer is in the model's population; `None` when the
    /// model is for everyone or the snapshot lacks a column its population reads.
    pub in_population: Option<Vec<bool>>,
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
        let mut values = Matrix::zeros(snapshot.rows().len(), feature_columns.len());
        let mut levels = Vec::with_capacity(feature_columns.len());
        for (feature, &column) in feature_columns.iter().enumerate() {
            let rows = snapshot.rows().iter().enumerate();
            match &snapshot.table.columns[column].values {
                ColumnValues::Numeric(numbers) => {
                    for (entry, &row) in rows {
                        values.row_mut(entry)[feature] = numbers[row].unwrap_or(f64::NAN);
                    }
                    levels.push(None);
                }
                ColumnValues::Categorical(categories) => {
                    let mut distinct: Vec<String> = Vec::new();
                    let mut positions: HashMap<&str, usize> = HashMap::new();
                    for (entry, &row) in rows {
                        values.row_mut(entry)[feature] =
                            categories[row].as_deref().map_or(f64::NAN, |category| {
                                *positions.entry(category).or_insert_with(|| {
                                    distinct.push(category.to_string());
                                    distinct.len() - 1
                                }) as f64
                            });
                    }
                    levels.push(Some(distinct));
                }
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
        let population = &model.artifact.population;
        let in_population = match population.mask(&snapshot.table) {
            _ if population.is_everyone() => None,
            Ok(mask) => Some(snapshot.rows().iter().map(|&row| mask[row]).collect()),
            Err(error) => {
                tracing::warn!(
                    model = %format!("{}@{}", model.name, model.version),
                    "answers cannot say whether a customer is in the model's population: {error}"
                );
                None
            }
        };
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
            values,
            levels,
            drift,
            in_population,
        })
    }
}
