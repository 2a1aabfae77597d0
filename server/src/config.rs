//! Settings: command-line options, `CHURN_*` environment variables and an optional TOML file.
//!
//! Precedence, highest first: a command-line option, its environment variable, the TOML file, the
//! default. [`ServerArgs`] is the command line (clap reads the environment variables too), [`FileConfig`]
//! the file, and [`ServerConfig`] the resolved, checked result the server runs with.
//!
//! Durations are written as a number and a unit: `250ms`, `5s`, `2m`.

use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default address of the gRPC listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default address of the Prometheus metrics listener.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// Options of `churn-server` (each also read from the `CHURN_*` variable shown with it).
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// TOML configuration file; its values apply where neither an option nor an environment variable
    /// is given.
    #[arg(long, env = "CHURN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Model registry directory (models live under DIR/NAME/<version>/).
    #[arg(long, env = "CHURN_REGISTRY", value_name = "DIR")]
    pub registry: Option<PathBuf>,

    /// Model to serve: NAME serves its promoted version and follows promotions and rollbacks (a model
    /// without a promoted version is not served: UNAVAILABLE, with the log saying how to promote one);
    /// NAME@VERSION serves that version whatever is promoted. `churn-trainer score` picks versions by
    /// the same rule.
    #[arg(long, env = "CHURN_MODEL", value_name = "NAME[@VERSION]")]
    pub model: Option<String>,

    /// Feature snapshot to score from: a feature table in Parquet, one row per customer (when a customer
    /// has several rows, the latest as-of date is used).
    #[arg(long, env = "CHURN_FEATURES", value_name = "SNAPSHOT.parquet")]
    pub features: Option<PathBuf>,

    /// Address the gRPC server listens on [default: 127.0.0.1:50051].
    #[arg(long, env = "CHURN_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Address of the Prometheus metrics endpoint (GET /metrics), or `off` [default: 127.0.0.1:9464].
    #[arg(long, env = "CHURN_METRICS_LISTEN", value_name = "ADDR|off")]
    pub metrics_listen: Option<String>,

    /// How often to look for a newly promoted version or a new snapshot; `0s` turns polling off (SIGHUP
    /// still reloads) [default: 5s].
    #[arg(long, env = "CHURN_RELOAD_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub reload_interval: Option<Duration>,

    /// Largest request or response message, in bytes [default: 4194304].
    #[arg(long, env = "CHURN_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Most customer ids one ScoreBatch call may carry [default: 10000].
    #[arg(long, env = "CHURN_MAX_BATCH_SIZE", value_name = "N")]
    pub max_batch_size: Option<usize>,

    /// Most scoring calls in progress at once; calls beyond it are refused at once with
    /// RESOURCE_EXHAUSTED instead of queueing [default: 256].
    #[arg(long, env = "CHURN_MAX_CONCURRENT_REQUESTS", value_name = "N")]
    pub max_concurrent_requests: Option<usize>,

    /// Longest time a call may take; a shorter client deadline (grpc-timeout) wins. Calls past it end
    /// with DEADLINE_EXCEEDED [default: 5s].
    #[arg(long, env = "CHURN_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,

    /// Reasons returned per customer when a request asks for 0 [default: 3].
    #[arg(long, env = "CHURN_DEFAULT_REASONS", value_name = "N")]
    pub default_reasons: Option<u32>,

    /// Most reasons returned per customer, whatever a request asks for [default: 20].
    #[arg(long, env = "CHURN_MAX_REASONS", value_name = "N")]
    pub max_reasons: Option<u32>,

    /// Server certificate chain (PEM); with --tls-key, serves TLS.
    #[arg(long, env = "CHURN_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// Server private key (PEM).
    #[arg(long, env = "CHURN_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// CA certificate(s) (PEM) that client certificates must chain to; requires TLS and turns on mutual
    /// TLS (clients without a valid certificate are refused).
    #[arg(long, env = "CHURN_TLS_CLIENT_CA", value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,

    /// File holding the bearer token scoring calls must send (`authorization: Bearer <token>`). The
    /// token can also come from the CHURN_AUTH_TOKEN variable. Health and reflection stay open.
    #[arg(long, env = "CHURN_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// On SIGTERM or SIGINT, report NOT_SERVING for this long before closing the listener, so load
    /// balancers stop sending calls first [default: 0s].
    #[arg(long, env = "CHURN_SHUTDOWN_GRACE", value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,

    /// Longest wait for in-flight calls to finish after the listener closes; calls still running then
    /// are cut off [default: 30s].
    #[arg(long, env = "CHURN_DRAIN_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,

    /// File holding the key customer ids are hashed with in logs, so hashes stay the same across
    /// restarts and replicas [default: a random key per start].
    #[arg(long, env = "CHURN_ID_HASH_KEY_FILE", value_name = "FILE")]
    pub id_hash_key_file: Option<PathBuf>,

    /// Tokio worker threads [default: one per core].
    #[arg(long, env = "CHURN_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
}

/// The TOML configuration file. Every key is optional; relative paths are relative to the file.
///
/// ```toml
/// registry = "registry"
/// model = "churn"                   # its promoted version; "churn@v3" pins a version
/// features = "snapshot.parquet"
/// listen = "0.0.0.0:50051"
/// metrics_listen = "0.0.0.0:9464"   # or "off"
/// reload_interval = "5s"
///
/// [limits]
/// max_message_bytes = 4194304
/// max_batch_size = 10000
/// max_concurrent_requests = 256
/// request_timeout = "5s"
/// default_reasons = 3
/// max_reasons = 20
///
/// [tls]
/// cert = "server.pem"
/// key = "server.key"
/// client_ca = "clients-ca.pem"      # optional: mutual TLS
///
/// [auth]
/// token_file = "token"
///
/// [shutdown]
/// grace = "5s"
/// drain_timeout = "30s"
///
/// [logging]
/// id_hash_key_file = "id-key"       # keeps hashed customer ids stable across restarts
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Model registry directory.
    pub registry: Option<PathBuf>,
    /// Model: `NAME` or `NAME@VERSION`.
    pub model: Option<String>,
    /// Feature snapshot file.
    pub features: Option<PathBuf>,
    /// gRPC listen address.
    pub listen: Option<SocketAddr>,
    /// Metrics listen address or `off`.
    pub metrics_listen: Option<String>,
    /// Poll interval (`0s` = off).
    pub reload_interval: Option<String>,
    /// Worker threads.
    pub worker_threads: Option<usize>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: FileLimits,
    /// `[tls]`.
    #[serde(default)]
    pub tls: FileTls,
    /// `[auth]`.
    #[serde(default)]
    pub auth: FileAuth,
    /// `[shutdown]`.
    #[serde(default)]
    pub shutdown: FileShutdown,
    /// `[logging]`.
    #[serde(default)]
    pub logging: FileLogging,
}

/// `[limits]` of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Largest message in bytes.
    pub max_message_bytes: Option<usize>,
    /// Most ids per batch.
    pub max_batch_size: Option<usize>,
    /// Most calls in progress.
    pub max_concurrent_requests: Option<usize>,
    /// Longest call.
    pub request_timeout: Option<String>,
    /// Reasons when a request asks for 0.
    pub default_reasons: Option<u32>,
    /// Most reasons per customer.
    pub max_reasons: Option<u32>,
}

/// `[tls]` of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// Server certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Server private key (PEM).
    pub key: Option<PathBuf>,
    /// Client CA (PEM) for mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// `[auth]` of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuth {
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
}

/// `[shutdown]` of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileShutdown {
    /// NOT_SERVING period before the listener closes.
    pub grace: Option<String>,
    /// Longest wait for in-flight calls.
    pub drain_timeout: Option<String>,
}

/// `[logging]` of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLogging {
    /// File holding the key customer ids are hashed with in logs.
    pub id_hash_key_file: Option<PathBuf>,
}

/// Request limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Most ids per `ScoreBatch`.
    pub max_batch_size: usize,
    /// Most scoring calls in progress; more are refused with RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: usize,
    /// Longest call (a shorter client deadline wins).
    pub request_timeout: Duration,
    /// Reasons per customer when a request asks for 0.
    pub default_reasons: u32,
    /// Most reasons per customer.
    pub max_reasons: u32,
}

impl Limits {
    /// Most customer ids all `ScoreBatch` calls in progress may hold together: two largest batches.
    /// A batch whose ids do not fit is refused at once with RESOURCE_EXHAUSTED, so batch work (CPU and
    /// memory) admitted at any moment is bounded by ids, not by calls.
    pub fn batch_ids_in_flight(&self) -> usize {
        self.max_batch_size.saturating_mul(2)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_batch_size: 10_000,
            max_concurrent_requests: 256,
            request_timeout: Duration::from_secs(5),
            default_reasons: 3,
            max_reasons: 20,
        }
    }
}

/// TLS settings: PEM file contents.
#[derive(Clone, PartialEq)]
pub struct TlsSettings {
    /// Server certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// Server private key (PEM).
    pub key_pem: Vec<u8>,
    /// CA certificates client certificates must chain to (PEM); `Some` turns on mutual TLS.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Shutdown behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownSettings {
    /// NOT_SERVING period before the listener closes.
    pub grace: Duration,
    /// Longest wait for in-flight calls after the listener closes.
    pub drain_timeout: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The resolved configuration the server runs with.
#[derive(Clone)]
pub struct ServerConfig {
    /// Model registry directory.
    pub registry: PathBuf,
    /// The model to serve: `NAME` (its promoted version) or `NAME@VERSION`.
    pub model: String,
    /// Feature snapshot file.
    pub features: PathBuf,
    /// gRPC listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Metrics listen address; `None` turns the endpoint off.
    pub metrics_listen: Option<SocketAddr>,
    /// Poll interval for promotions and snapshots; `None` turns polling off.
    pub reload_interval: Option<Duration>,
    /// Request limits.
    pub limits: Limits,
    /// TLS, when configured.
    pub tls: Option<TlsSettings>,
    /// Bearer token scoring calls must send, when configured.
    pub auth_token: Option<String>,
    /// Shutdown behaviour.
    pub shutdown: ShutdownSettings,
    /// Key customer ids are hashed with in logs; `None` draws a random key.
    pub id_hash_key: Option<Vec<u8>>,
    /// Tokio worker threads; `None` uses one per core.
    pub worker_threads: Option<usize>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("registry", &self.registry)
            .field("model", &self.model)
            .field("features", &self.features)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("reload_interval", &self.reload_interval)
            .field("limits", &self.limits)
            .field("tls", &self.tls)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<redacted>"))
            .field("shutdown", &self.shutdown)
            .field("worker_threads", &self.worker_threads)
            .finish_non_exhaustive()
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TOML file is invalid.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting is missing or out of range.
    #[error("{0}")]
    Invalid(String),
}

impl ServerConfig {
    /// A configuration with every default, serving `model` from `registry` with the `features` snapshot.
    pub fn new(registry: impl Into<PathBuf>, model: impl Into<String>, features: impl Into<PathBuf>) -> Self {
        Self {
            registry: registry.into(),
            model: model.into(),
            features: features.into(),
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            metrics_listen: Some(DEFAULT_METRICS_LISTEN.parse().expect("valid default address")),
            reload_interval: Some(Duration::from_secs(5)),
            limits: Limits::default(),
            tls: None,
            auth_token: None,
            shutdown: ShutdownSettings::default(),
            id_hash_key: None,
            worker_threads: None,
        }
    }

    /// Resolves the command line (with its environment variables), the TOML file it names and the
    /// defaults; `auth_token_env` is the value of `CHURN_AUTH_TOKEN`, if set.
    pub fn resolve(args: &ServerArgs, auth_token_env: Option<String>) -> Result<Self, ConfigError> {
        let (file, base) = match &args.config {
            Some(path) => (read_file_config(path)?, path.parent().map(Path::to_path_buf)),
            None => (FileConfig::default(), None),
        };
        let in_file = |path: &Option<PathBuf>| -> Option<PathBuf> {
            path.as_ref().map(|p| match &base {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.clone(),
            })
        };
        let duration =
            |cli: Option<Duration>, file_value: &Option<String>, key: &str, default: Duration| match (
                cli, file_value,
            ) {
                (Some(value), _) => Ok(value),
                (None, Some(text)) => parse_duration(text)
                    .map_err(|e| ConfigError::Invalid(format!("configuration key `{key}`: {e}"))),
                (None, None) => Ok(default),
            };
        let required = |value: Option<PathBuf>, what: &str, flag: &str| {
            value.ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "no {what}: pass --{flag}, set CHURN_{}, or set `{}` in the configuration file",
                    flag.replace('-', "_").to_uppercase(),
                    flag.replace('-', "_")
                ))
            })
        };

        let registry = required(
            args.registry.clone().or(in_file(&file.registry)),
            "model registry",
            "registry",
        )?;
        let features = required(
            args.features.clone().or(in_file(&file.features)),
            "feature snapshot",
            "features",
        )?;
        let model = args.model.clone().or(file.model.clone()).ok_or_else(|| {
            ConfigError::Invalid(
                "no model name: pass --model, set CHURN_MODEL, or set `model` in the configuration file"
                    .into(),
            )
        })?;
        let listen = match args.listen.or(file.listen) {
            Some(address) => address,
            None => DEFAULT_LISTEN.parse().expect("valid default address"),
        };
        let metrics_listen = parse_metrics_listen(
            args.metrics_listen
                .as_deref()
                .or(file.metrics_listen.as_deref())
                .unwrap_or(DEFAULT_METRICS_LISTEN),
        )?;
        let reload_interval = duration(
            args.reload_interval,
            &file.reload_interval,
            "reload_interval",
            Duration::from_secs(5),
        )?;
        let defaults = Limits::default();
        let limits = Limits {
            max_message_bytes: args
                .max_message_bytes
                .or(file.limits.max_message_bytes)
                .unwrap_or(defaults.max_message_bytes),
            max_batch_size: args
                .max_batch_size
                .or(file.limits.max_batch_size)
                .unwrap_or(defaults.max_batch_size),
            max_concurrent_requests: args
                .max_concurrent_requests
                .or(file.limits.max_concurrent_requests)
                .unwrap_or(defaults.max_concurrent_requests),
            request_timeout: duration(
                args.request_timeout,
                &file.limits.request_timeout,
                "limits.request_timeout",
                defaults.request_timeout,
            )?,
            default_reasons: args
                .default_reasons
                .or(file.limits.default_reasons)
                .unwrap_or(defaults.default_reasons),
            max_reasons: args
                .max_reasons
                .or(file.limits.max_reasons)
                .unwrap_or(defaults.max_reasons),
        };
        let tls = match (
            args.tls_cert.clone().or(in_file(&file.tls.cert)),
            args.tls_key.clone().or(in_file(&file.tls.key)),
            args.tls_client_ca.clone().or(in_file(&file.tls.client_ca)),
        ) {
            (Some(cert), Some(key), client_ca) => Some(TlsSettings {
                cert_pem: read(&cert)?,
                key_pem: read(&key)?,
                client_ca_pem: client_ca.map(|path| read(&path)).transpose()?,
            }),
            (None, None, None) => None,
            (None, None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "a client CA (mutual TLS) needs TLS: set the server certificate and key too".into(),
                ));
            }
            _ => {
                return Err(ConfigError::Invalid(
                    "TLS needs both a certificate (--tls-cert) and a private key (--tls-key)".into(),
                ));
            }
        };
        let auth_token = match args.auth_token_file.clone().or(in_file(&file.auth.token_file)) {
            Some(path) => Some(read_secret(&path)?),
            None => auth_token_env.map(|t| t.trim().to_string()),
        };
        let id_hash_key = args
            .id_hash_key_file
            .clone()
            .or(in_file(&file.logging.id_hash_key_file))
            .map(|path| read_secret(&path).map(String::into_bytes))
            .transpose()?;
        let config = Self {
            registry,
            model,
            features,
            listen,
            metrics_listen,
            reload_interval: (!reload_interval.is_zero()).then_some(reload_interval),
            limits,
            tls,
            auth_token,
            shutdown: ShutdownSettings {
                grace: duration(
                    args.shutdown_grace,
                    &file.shutdown.grace,
                    "shutdown.grace",
                    Duration::ZERO,
                )?,
                drain_timeout: duration(
                    args.drain_timeout,
                    &file.shutdown.drain_timeout,
                    "shutdown.drain_timeout",
                    Duration::from_secs(30),
                )?,
            },
            id_hash_key,
            worker_threads: args.worker_threads.or(file.worker_threads),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that have a valid range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        let positive = [
            ("max_message_bytes", limits.max_message_bytes),
            ("max_batch_size", limits.max_batch_size),
            ("max_concurrent_requests", limits.max_concurrent_requests),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        if limits.request_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "request_timeout must be longer than 0s".into(),
            ));
        }
        if limits.default_reasons > limits.max_reasons {
            return Err(ConfigError::Invalid(format!(
                "default_reasons ({}) is larger than max_reasons ({})",
                limits.default_reasons, limits.max_reasons
            )));
        }
        if self.auth_token.as_deref() == Some("") {
            return Err(ConfigError::Invalid("the bearer token is empty".into()));
        }
        if self.worker_threads == Some(0) {
            return Err(ConfigError::Invalid("worker_threads must be at least 1".into()));
        }
        Ok(())
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h` (a whole number and a unit; `0` alone is zero).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 250ms, 5s or 2m"))?;
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(value.saturating_mul(3600))),
        _ => Err(format!("`{text}`: unknown unit `{unit}` (use ms, s, m or h)")),
    }
}

fn parse_metrics_listen(text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ConfigError::Invalid(format!("metrics address `{text}` is neither HOST:PORT nor `off`")))
}

fn read_file_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.into(),
        message: e.to_string(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })
}

fn read_secret(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{}: the file is empty",
            path.display()
        )));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn command_line_beats_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("token"), "s3cret\n").expect("token");
        let path = dir.path().join("server.toml");
        std::fs::write(
            &path,
            r#"
registry = "reg"
model = "from-file"
features = "/data/snapshot.parquet"
reload_interval = "0s"
metrics_listen = "off"
[limits]
max_batch_size = 50
request_timeout = "250ms"
[auth]
token_file = "token"
[shutdown]
grace = "2s"
"#,
        )
        .expect("config");
        let args = ServerArgs {
            config: Some(path),
            model: Some("from-cli".into()),
            max_concurrent_requests: Some(8),
            ..ServerArgs::default()
        };
        let config = ServerConfig::resolve(&args, None).expect("valid");
        assert_eq!(config.model, "from-cli");
        assert_eq!(config.registry, dir.path().join("reg"), "relative to the file");
        assert_eq!(config.features, PathBuf::from("/data/snapshot.parquet"));
        assert_eq!(config.reload_interval, None);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.limits.max_batch_size, 50);
        assert_eq!(config.limits.max_concurrent_requests, 8);
        assert_eq!(config.limits.request_timeout, Duration::from_millis(250));
        assert_eq!(config.limits.max_reasons, Limits::default().max_reasons);
        assert_eq!(config.auth_token.as_deref(), Some("s3cret"));
        assert_eq!(config.shutdown.grace, Duration::from_secs(2));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let error = ServerConfig::resolve(&ServerArgs::default(), None).expect_err("no registry");
        assert!(error.to_string().contains("--registry"), "{error}");

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("server.toml");
        std::fs::write(&path, "registry = \"r\"\nmodle = \"typo\"\n").expect("config");
        let args = ServerArgs {
            config: Some(path),
            ..ServerArgs::default()
        };
        let error = ServerConfig::resolve(&args, None).expect_err("unknown key");
        assert!(error.to_string().contains("modle"), "{error}");

        let args = ServerArgs {
            registry: Some("r".into()),
            model: Some("m".into()),
            features: Some("f".into()),
            tls_cert: Some("cert.pem".into()),
            ..ServerArgs::default()
        };
        let error = ServerConfig::resolve(&args, None).expect_err("cert without key");
        assert!(error.to_string().contains("--tls-key"), "{error}");

        let args = ServerArgs {
            registry: Some("r".into()),
            model: Some("m".into()),
            features: Some("f".into()),
            default_reasons: Some(30),
            ..ServerArgs::default()
        };
        let error = ServerConfig::resolve(&args, None).expect_err("reasons");
        assert!(error.to_string().contains("default_reasons"), "{error}");
    }

    #[test]
    fn token_comes_from_the_environment_when_no_file_is_named() {
        let args = ServerArgs {
            registry: Some("r".into()),
            model: Some("m".into()),
            features: Some("f".into()),
            ..ServerArgs::default()
        };
        let config = ServerConfig::resolve(&args, Some(" abc ".into())).expect("valid");
        assert_eq!(config.auth_token.as_deref(), Some("abc"));
        assert!(ServerConfig::resolve(&args, Some("  ".into())).is_err());
    }
}
