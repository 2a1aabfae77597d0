//! What the server serves: a model and a snapshot checked against each other ([`ServingPair`]), behind
//! an atomic pointer ([`ServingState`]).
//!
//! A request takes its own reference to the current pair when it starts and scores with it to the end,
//! so a swap never changes the model or snapshot under a request, and the old pair is freed when the last
//! request holding it finishes.

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::proto::inference::grpc_inference_service_server::SERVICE_NAME as INFERENCE_SERVICE;
use crate::proto::scoring_service_server::SERVICE_NAME;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwapOption;
use chrono::NaiveDate;
use churn_models::{DriftLevel, DriftReport, LoadedModel, Matrix, ModelError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

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
            drift,
        })
    }
}

/// The pair being served, the health it implies, and whether the server is draining.
pub struct ServingState {
    current: ArcSwapOption<ServingPair>,
    health: HealthReporter,
    metrics: Arc<Metrics>,
    draining: AtomicBool,
    /// Serialises health changes, so a swap and the start of draining cannot interleave.
    health_changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ServingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingState")
            .field(
                "version",
                &self.current.load().as_ref().map(|pair| pair.version.clone()),
            )
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish()
    }
}

impl ServingState {
    /// An empty state: nothing loaded, health NOT_SERVING.
    pub async fn new(health: HealthReporter, metrics: Arc<Metrics>) -> Self {
        let state = Self {
            current: ArcSwapOption::empty(),
            health,
            metrics,
            draining: AtomicBool::new(false),
            health_changes: tokio::sync::Mutex::new(()),
        };
        state.report_health(ServingStatus::NotServing).await;
        state
    }

    /// The pair to answer a request with, or UNAVAILABLE while nothing is loaded.
    pub fn current(&self) -> Result<Arc<ServingPair>, ServeError> {
        self.current.load_full().ok_or_else(|| {
            ServeError::Unavailable("no model and feature snapshot are loaded yet; retry later".into())
        })
    }

    /// The version being served, if any.
    pub fn version(&self) -> Option<ServingVersion> {
        self.current.load().as_ref().map(|pair| pair.version.clone())
    }

    /// The metrics this state reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Makes `pair` the one new requests use; requests in progress finish with the pair they hold. The
    /// health becomes SERVING unless the server is draining.
    pub async fn install(&self, pair: Arc<ServingPair>) {
        let _guard = self.health_changes.lock().await;
        self.metrics.record_serving(&pair);
        self.current.store(Some(pair));
        if !self.is_draining() {
            self.report_health(ServingStatus::Serving).await;
        }
    }

    /// Marks the server as draining: health reports NOT_SERVING from now on, whatever is loaded.
    pub async fn begin_draining(&self) {
        let _guard = self.health_changes.lock().await;
        self.draining.store(true, Ordering::SeqCst);
        self.report_health(ServingStatus::NotServing).await;
    }

    /// True once [`ServingState::begin_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Sets the status of the whole server (`""`), of `churn.v1.ScoringService` and of
    /// `inference.GRPCInferenceService`.
    async fn report_health(&self, status: ServingStatus) {
        self.health.set_service_status("", status).await;
        self.health.set_service_status(SERVICE_NAME, status).await;
        self.health.set_service_status(INFERENCE_SERVICE, status).await;
    }
}
