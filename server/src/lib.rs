//! `churn-server`: a gRPC service that answers "how likely is customer X to leave, and why?".
//!
//! The server holds one model from the registry of `churn-models` (its promoted version, or the version
//! `NAME@VERSION` pins) and one feature
//! snapshot (a feature table written by `churn-features`) in memory, as a [`state::ServingPair`]. Requests
//! score customers by id from the snapshot, or from features the caller supplies. When a new version is
//! promoted or a new snapshot appears, the [`reload`] task loads the new pair in the background, checks
//! that the snapshot fits the model's feature schema and swaps it in atomically; a failed load keeps the
//! old pair serving.
//!
//! Layout, one concern per module:
//! - [`proto`]: the generated `churn.v1` and `inference` APIs and the conversions between it and the domain;
//! - [`codec`]: the protobuf codec, with undecodable requests as the caller's error;
//! - [`config`]: command line, TOML file and `CHURN_*` environment settings;
//! - [`snapshot`], [`state`], [`reload`]: the served data and its live swap;
//! - [`scoring`]: scores and reasons from a pair, independent of gRPC;
//! - [`service`]: the thin gRPC service over [`scoring`];
//! - [`inference`], [`tensors`]: the Open Inference Protocol (`inference.GRPCInferenceService`, for
//!   tritonclient and KServe clients) over the same calls, and its tensors;
//! - [`error`]: the one mapping from errors to gRPC status codes;
//! - [`middleware`]: authentication, load shedding, deadlines and request metrics;
//! - [`metrics`]: Prometheus metrics and their HTTP endpoint;
//! - [`server`]: wiring (health, reflection, TLS, gzip) and graceful shutdown;
//! - [`redact`]: keyed hashes that keep customer ids out of logs;
//! - [`loadgen`]: the load generator behind `churn-loadgen`.

pub mod codec;
pub mod config;
pub mod error;
pub mod inference;
pub mod loadgen;
pub mod metrics;
pub mod middleware;
pub mod proto;
pub use churn_features::redact;
pub mod reload;
pub mod scoring;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod state;
pub mod tensors;

pub use config::ServerConfig;
pub use error::ServeError;
pub use server::{ServerHandle, start};
