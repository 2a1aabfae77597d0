//! Prometheus metrics, served as text on their own port (`GET /metrics`).
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `churn_requests_total` | counter | `method`, `code` (gRPC status name) |
//! | `churn_request_duration_seconds` | histogram | `method` |
//! | `churn_requests_in_flight` | gauge | |
//! | `churn_batch_size` | histogram (ids or rows per `ScoreBatch` or `ModelInfer`) | |
//! | `churn_batch_ids_in_flight` | gauge (ids or rows admitted to batch scoring whose work has not ended) | |
//! | `churn_model_info` | gauge (1 for the model served) | `model`, `version` |
//! | `churn_model_loaded` | gauge (0 or 1) | |
//! | `churn_snapshot_as_of_timestamp_seconds` | gauge (end of the snapshot's as-of day, Unix time) | |
//! | `churn_snapshot_age_seconds` | gauge (time since then, at scrape time) | |
//! | `churn_snapshot_customers` | gauge | |
//! | `churn_reloads_total` | counter | `outcome` (`success` or `failure`) |
//! | `churn_feature_psi` | gauge (the snapshot's population stability index against the training rows) | `feature` |
//! | `churn_score_psi` | gauge (the same for the model's probability) | `model`, `version` |
//!
//! The PSI gauges are set at each swap, from the pair's [`churn_models::DriftReport`]; their series
//! are replaced then, so a feature the new model lacks disappears, and there are none while the model
//! stores no training distributions.

use crate::pair::ServingPair;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::Code;

/// Labels of a finished call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: &'static str,
}

/// Labels of a method.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// Labels of the served model.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    version: String,
}

/// Labels of a model feature.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeatureLabels {
    feature: String,
}

/// Labels of a reload attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<MethodLabels>,
    in_flight: Gauge,
    batch_ids_in_flight: Gauge,
    batch_size: Histogram,
    model_info: Family<ModelLabels, Gauge>,
    model_loaded: Gauge,
    snapshot_as_of: Gauge<f64, AtomicU64>,
    snapshot_age: Gauge<f64, AtomicU64>,
    snapshot_customers: Gauge,
    reloads: Family<OutcomeLabels, Counter>,
    feature_psi: Family<FeatureLabels, Gauge<f64, AtomicU64>>,
    score_psi: Family<ModelLabels, Gauge<f64, AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 25 µs to ~0.8 s, doubling.
    Histogram::new(exponential_buckets(25e-6, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("churn");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Finished scoring calls by method and gRPC status",
            requests.clone(),
        );
        let latency: HistogramFamily<MethodLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from receiving a scoring call to sending its status",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Scoring calls in progress",
            in_flight.clone(),
        );
        let batch_ids_in_flight = Gauge::default();
        registry.register(
            "batch_ids_in_flight",
            "Customer ids (or rows of features) admitted to ScoreBatch and ModelInfer whose scoring has not ended (it ends at the call's deadline)",
            batch_ids_in_flight.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        registry.register(
            "batch_size",
            "Customer ids (or rows of features) per ScoreBatch or ModelInfer call",
            batch_size.clone(),
        );
        let model_info = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_info",
            "The model being served (value 1)",
            model_info.clone(),
        );
        let model_loaded = Gauge::default();
        registry.register(
            "model_loaded",
            "1 when a model and a feature snapshot are loaded, else 0",
            model_loaded.clone(),
        );
        let snapshot_as_of = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_as_of_timestamp_seconds",
            "End of the feature snapshot's latest as-of day, Unix time",
            snapshot_as_of.clone(),
        );
        let snapshot_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_age_seconds",
            "Seconds since the end of the feature snapshot's latest as-of day",
            snapshot_age.clone(),
        );
        let snapshot_customers = Gauge::default();
        registry.register(
            "snapshot_customers",
            "Customers in the feature snapshot",
            snapshot_customers.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reloads",
            "Attempts to load a new model or snapshot, by outcome",
            reloads.clone(),
        );
        for outcome in ["success", "failure"] {
            reloads.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        let feature_psi = Family::<FeatureLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "feature_psi",
            "Population stability index of each model feature in the feature snapshot against the model's training rows (watch from 0.1, act from 0.25)",
            feature_psi.clone(),
        );
        let score_psi = Family::<ModelLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "score_psi",
            "Population stability index of the model's churn probability on the feature snapshot against its reference rows (watch from 0.1, act from 0.25)",
            score_psi.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            batch_ids_in_flight,
            batch_size,
            model_info,
            model_loaded,
            snapshot_as_of,
            snapshot_age,
            snapshot_customers,
            reloads,
            feature_psi,
            score_psi,
        }
    }

    /// Counts a call to `method` that began.
    pub fn call_started(&self) {
        self.in_flight.inc();
    }

    /// Counts a call to `method` that ended with `code` after `seconds`.
    pub fn call_finished(&self, method: &'static str, code: Code, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels {
                method,
                code: code_name(code),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels { method })
            .observe(seconds);
    }

    /// Calls in progress.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Finished calls to `method` that ended with `code`.
    pub fn requests(&self, method: &'static str, code: Code) -> u64 {
        self.requests
            .get(&RequestLabels {
                method,
                code: code_name(code),
            })
            .map_or(0, |counter| counter.get())
    }

    /// Counts `ids` more (or, negative, fewer) ids in batch work.
    pub fn add_batch_ids_in_flight(&self, ids: i64) {
        self.batch_ids_in_flight.inc_by(ids);
    }

    /// Customer ids admitted to batch scoring whose work has not ended yet.
    pub fn batch_ids_in_flight(&self) -> i64 {
        self.batch_ids_in_flight.get()
    }

    /// Records the length of a batch.
    pub fn observe_batch(&self, ids: usize) {
        self.batch_size.observe(ids as f64);
    }

    /// Records the pair now being served.
    pub fn record_serving(&self, pair: &ServingPair) {
        self.model_info.clear();
        self.model_info
            .get_or_create(&ModelLabels {
                model: pair.version.model_name.clone(),
                version: pair.version.model_version.clone(),
            })
            .set(1);
        self.model_loaded.set(1);
        self.snapshot_customers.set(pair.snapshot.len() as i64);
        let end_of_day = pair
            .snapshot
            .as_of
            .and_then(|date| date.succ_opt())
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map_or(0.0, |time| time.and_utc().timestamp() as f64);
        self.snapshot_as_of.set(end_of_day);
        self.feature_psi.clear();
        self.score_psi.clear();
        if let Some(drift) = &pair.drift {
            for feature in &drift.features {
                self.feature_psi
                    .get_or_create(&FeatureLabels {
                        feature: feature.name.clone(),
                    })
                    .set(feature.psi);
            }
            self.score_psi
                .get_or_create(&ModelLabels {
                    model: pair.version.model_name.clone(),
                    version: pair.version.model_version.clone(),
                })
                .set(drift.score.psi);
        }
    }

    /// Counts a reload attempt.
    pub fn record_reload(&self, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Reload attempts with this outcome so far.
    pub fn reloads(&self, success: bool) -> u64 {
        let outcome = if success { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).get()
    }

    /// The metrics in the Prometheus / OpenMetrics text format.
    pub fn encode(&self) -> String {
        let as_of = self.snapshot_as_of.get();
        if as_of > 0.0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.snapshot_age.set((now - as_of).max(0.0));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The canonical name of a gRPC status code, e.g. `RESOURCE_EXHAUSTED`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new().route("/metrics", get(scrape)).with_state(metrics);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_reloads_appear_in_the_text() {
        let metrics = Metrics::new();
        metrics.call_started();
        metrics.call_finished("Score", Code::NotFound, 0.0003);
        metrics.call_started();
        assert_eq!(metrics.in_flight(), 1);
        metrics.record_reload(false);
        let text = metrics.encode();
        assert!(
            text.contains(r#"churn_requests_total{method="Score",code="NOT_FOUND"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"churn_request_duration_seconds_count{method="Score"} 1"#),
            "{text}"
        );
        assert!(text.contains("churn_requests_in_flight 1"), "{text}");
        assert!(
            text.contains(r#"churn_reloads_total{outcome="failure"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"churn_reloads_total{outcome="success"} 0"#),
            "{text}"
        );
        assert!(text.contains("churn_model_loaded 0"), "{text}");
        assert_eq!(metrics.requests("Score", Code::NotFound), 1);
        assert_eq!(metrics.requests("Score", Code::Ok), 0);
    }
}
