//! What the server serves: the current [`ServingPair`] behind an atomic pointer ([`ServingState`]), and
//! the health it implies.
//!
//! A request takes its own reference to the current pair when it starts and scores with it to the end,
//! so a swap never changes the model or snapshot under a request, and the old pair is freed when the last
//! request holding it finishes.

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::pair::{ServingPair, ServingVersion};
use crate::proto::inference::grpc_inference_service_server::SERVICE_NAME as INFERENCE_SERVICE;
use crate::proto::scoring_service_server::SERVICE_NAME;
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

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
