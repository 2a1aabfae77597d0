//! Shared fixtures of the integration tests: a synthetic feature table, models trained on it with
//! `churn-models`, a registry on disk, and a server on 127.0.0.1 with a free port.

#![allow(dead_code, missing_docs)]

use chrono::NaiveDate;
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use churn_models::train::{NoProgress, TrainOptions, ValidationPlan, train};
use churn_models::{
    ForestParams, GradientBoostingParams, LogisticParams, ModelArtifact, ModelParams, Registry,
};
use churn_server::ServerConfig;
use churn_server::proto::scoring_service_client::ScoringServiceClient;
use churn_server::server::ServerHandle;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use tonic::transport::Channel;
pub use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Name of the model in the test registries.
pub const MODEL: &str = "churn";

/// How customer ids are typed in a synthetic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Integers 1000, 1001, ...
    Int,
    /// Strings `cust-001000`, ...
    Str,
}

/// The as-of date of the first snapshot.
pub fn march() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 31).expect("date")
}

/// The as-of date of the second snapshot.
pub fn april() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 4, 30).expect("date")
}

/// The id of customer `i` of a synthetic table.
pub fn customer_id(ids: Ids, i: usize) -> String {
    match ids {
        Ids::Int => (1000 + i).to_string(),
        Ids::Str => format!("cust-{:06}", 1000 + i),
    }
}

/// A feature table of `customers` rows: five numeric features (one with missing values), the two
/// customer-value columns (`clv_12m`, `p_alive`, derived from them, with missing values), one
/// categorical, three descriptors, and a churn label that depends on the features. The `seed` changes
/// every value.
pub fn synthetic_table(customers: usize, seed: u64, as_of: NaiveDate, ids: Ids) -> FeatureTable {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut days = Vec::new();
    let mut purchases = Vec::new();
    let mut spend = Vec::new();
    let mut tenure = Vec::new();
    let mut tickets = Vec::new();
    let mut plan = Vec::new();
    let mut labels = Vec::new();
    let mut lifecycle = Vec::new();
    let mut segment = Vec::new();
    let mut tier = Vec::new();
    for _ in 0..customers {
        let d: f64 = rng.random_range(0.0..365.0);
        let p = f64::from(rng.random_range(0u32..20));
        let s: f64 = (rng.random_range(0.0f64..8.0)).exp();
        let t: f64 = rng.random_range(30.0..2000.0);
        let k = f64::from(rng.random_range(0u32..5));
        let level = rng.random_range(0..10);
        let logit = -1.0 + 0.012 * d - 0.15 * p + 0.4 * k - 0.0004 * t + if level < 2 { 0.8 } else { 0.0 };
        let probability = 1.0 / (1.0 + (-logit).exp());
        labels.push(Some(i8::from(rng.random_range(0.0..1.0) < probability)));
        days.push((rng.random_range(0..20) != 0).then_some(d));
        purchases.push(Some(p));
        spend.push(Some(s));
        tenure.push(Some(t));
        tickets.push(Some(k));
        plan.push(match level {
            0..=1 => Some("bronze".to_string()),
            2..=5 => Some("silver".to_string()),
            6..=8 => Some("gold".to_string()),
            _ => None,
        });
        lifecycle.push(Some(
            if d > 180.0 {
                "lapsed"
            } else if d > 90.0 {
                "at_risk"
            } else {
                "active"
            }
            .to_string(),
        ));
        segment.push((p > 0.0).then(|| if p > 10.0 { "champions" } else { "hibernating" }.to_string()));
        tier.push(Some(if s > 500.0 { "high" } else { "low" }.to_string()));
    }
    // Value columns as the customer-value models shape them: none for a customer without purchases.
    let clv: Vec<Option<f64>> = purchases
        .iter()
        .zip(&spend)
        .map(|(p, s)| Some((*s)? * (*p)? / 10.0).filter(|_| *p != Some(0.0)))
        .collect();
    let p_alive: Vec<Option<f64>> = days.iter().map(|d| d.map(|d| (-d / 200.0).exp())).collect();
    let numeric = |name: &str, values: Vec<Option<f64>>| FeatureColumn {
        name: name.into(),
        role: ColumnRole::Numeric,
        description: Some(format!("synthetic {name}")),
        values: ColumnValues::Numeric(values),
    };
    let text = |name: &str, role, values: Vec<Option<String>>| FeatureColumn {
        name: name.into(),
        role,
        description: None,
        values: ColumnValues::Categorical(values),
    };
    FeatureTable {
        customer_ids: match ids {
            Ids::Int => CustomerIds::Int((0..customers).map(|i| 1000 + i as i64).collect()),
            Ids::Str => CustomerIds::Str((0..customers).map(|i| customer_id(Ids::Str, i)).collect()),
        },
        as_of: vec![Some(as_of); customers],
        labels,
        columns: vec![
            numeric("days_since_last_purchase", days),
            numeric("purchases_90d", purchases),
            numeric("total_spend", spend),
            numeric("tenure_days", tenure),
            numeric("support_tickets_30d", tickets),
            numeric("clv_12m", clv),
            numeric("p_alive", p_alive),
            text("plan", ColumnRole::Categorical, plan),
            text("lifecycle_stage", ColumnRole::Descriptor, lifecycle),
            text("rfm_segment", ColumnRole::Descriptor, segment),
            text("value_tier", ColumnRole::Descriptor, tier),
        ],
    }
}

/// The kinds of model the fixtures train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Logistic regression with inverse L2 strength `c`.
    Logistic(f64),
    /// A small random forest with this seed.
    Forest(u64),
    /// Small gradient-boosted trees with this seed.
    Boosting(u64),
}

/// Trains a model of `kind` on `table` (no validation, no importance: fast).
pub fn train_model(table: &FeatureTable, kind: Kind) -> ModelArtifact {
    let params = match kind {
        Kind::Logistic(c) => ModelParams::Logistic(LogisticParams {
            c,
            ..LogisticParams::default()
        }),
        Kind::Forest(seed) => ModelParams::RandomForest(ForestParams {
            n_trees: 15,
            max_depth: 5,
            seed,
            ..ForestParams::default()
        }),
        Kind::Boosting(seed) => ModelParams::GradientBoosting(GradientBoostingParams {
            n_rounds: 40,
            learning_rate: 0.2,
            seed,
            ..GradientBoostingParams::default()
        }),
    };
    let mut options = TrainOptions::new(params);
    options.validation = ValidationPlan::None;
    options.importance = None;
    train(table, &options, &NoProgress).expect("training").artifact
}

/// A registry, a snapshot file and the table behind it, in a temporary directory.
pub struct Fixture {
    pub dir: TempDir,
    pub registry_dir: PathBuf,
    pub snapshot: PathBuf,
    pub table: FeatureTable,
}

impl Fixture {
    /// A registry holding one logistic model (v1, promoted) and a snapshot of `customers` rows.
    pub fn new(customers: usize, ids: Ids) -> Self {
        let fixture = Self::empty(customers, ids);
        let artifact = train_model(&fixture.table, Kind::Logistic(1.0));
        let version = fixture.save(&artifact);
        fixture.promote(&version);
        fixture
    }

    /// A registry without models, and a snapshot of `customers` rows.
    pub fn empty(customers: usize, ids: Ids) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry_dir = dir.path().join("registry");
        Registry::create(&registry_dir).expect("registry");
        let snapshot = dir.path().join("snapshot.parquet");
        let table = synthetic_table(customers, 7, march(), ids);
        table.write_parquet(&snapshot).expect("snapshot");
        Self {
            dir,
            registry_dir,
            snapshot,
            table,
        }
    }

    pub fn registry(&self) -> Registry {
        Registry::open(&self.registry_dir).expect("registry")
    }

    /// Saves `artifact` as the next version; returns the version.
    pub fn save(&self, artifact: &ModelArtifact) -> String {
        self.registry().save(MODEL, artifact).expect("save")
    }

    pub fn promote(&self, version: &str) {
        self.registry().promote(MODEL, version).expect("promote");
    }

    /// Replaces the snapshot file (atomically) with `table`.
    pub fn write_snapshot(&self, table: &FeatureTable) {
        table.write_parquet(&self.snapshot).expect("snapshot");
    }

    /// A configuration for this fixture: 127.0.0.1 with free ports, no polling.
    pub fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(&self.registry_dir, MODEL, &self.snapshot);
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
        config.reload_interval = None;
        config.id_hash_key = Some(b"test key".to_vec());
        config
    }
}

/// Starts a server and waits until it serves.
pub async fn start_serving(config: ServerConfig) -> ServerHandle {
    let handle = churn_server::start(config).await.expect("server starts");
    wait_for_status(handle.local_addr(), ServingStatus::Serving).await;
    handle
}

/// A plaintext channel to `address`.
pub async fn channel(address: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// A scoring client of the server at `address`.
pub async fn client(address: std::net::SocketAddr) -> ScoringServiceClient<Channel> {
    ScoringServiceClient::new(channel(address).await)
}

/// The health of the whole server (`""`).
pub async fn health(address: std::net::SocketAddr) -> ServingStatus {
    let mut client = HealthClient::new(channel(address).await);
    let response: HealthCheckResponse = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    ServingStatus::try_from(response.status).expect("known status")
}

/// Waits (through the health `Watch` stream, no polling) until the server reports `wanted`.
pub async fn wait_for_status(address: std::net::SocketAddr, wanted: ServingStatus) {
    let mut client = HealthClient::new(channel(address).await);
    let mut stream = client
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let wait = async {
        while let Some(update) = stream.message().await.expect("watch stream") {
            if update.status == wanted as i32 {
                return;
            }
        }
        panic!("health stream ended before {wanted:?}");
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("server did not report {wanted:?} within 30 s"));
}

/// Waits until `condition` holds, checking every few milliseconds (for server-side counters that have
/// no event stream). Fails after 30 s, a bound far above any expected wait.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let wait = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Expected probability of every row of `table` under `artifact`, as `churn-models` computes it.
pub fn expected_probabilities(artifact: &ModelArtifact, table: &FeatureTable) -> Vec<f64> {
    artifact.predict_proba(table).expect("predict")
}

/// Reads a file as text, for tests that check what a file holds.
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

/// A `Ping` that waits `millis` ms before answering (the `test-hold` feature, on in these tests), to hold
/// a call slot.
pub fn held_ping(millis: u64) -> tonic::Request<churn_server::proto::PingRequest> {
    let mut request = tonic::Request::new(churn_server::proto::PingRequest {});
    request.metadata_mut().insert(
        "churn-test-hold-ms",
        millis.to_string().parse().expect("header value"),
    );
    request
}
