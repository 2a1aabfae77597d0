//! Settings: command-line options, `CHURN_*` environment variables and an optional TOML file.
//!
//! Every setting is declared once, as a field of [`Settings`] (or of one of its file sections): its
//! option, environment variable, TOML key, type, default and help all sit on that field. clap fills a
//! [`Settings`] from the command line and the environment, serde fills another from the TOML file, and
//! [`ServerConfig::resolve`] layers them. Precedence, highest first: a command-line option, its
//! environment variable, the TOML file, the default. [`ServerConfig`] is the resolved, checked result the
//! server runs with (secrets read, `off` and `0s` turned into "none").
//!
//! Durations are written as a number and a unit: `250ms`, `5s`, `2m`.

use clap::Args;
use serde::{Deserialize, Deserializer};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default address of the gRPC listener.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50051));
/// Default address of the Prometheus metrics listener.
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));
/// Default interval between looks for a new model version or snapshot.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// One layer of settings (the command line with its environment, the file, or the defaults): every value
/// is optional, and [`SettingsLayer::or`] fills the values a layer leaves unset from a lower one.
pub trait SettingsLayer: Sized {
    /// `self`, with each unset value taken from `lower`.
    fn or(self, lower: Self) -> Self;
    /// Makes relative paths relative to `base` (the directory of the file they were read from).
    fn rebase(&mut self, base: &Path);
    /// The defaults layer.
    fn defaults() -> Self;
}

/// Values with no path to rebase.
macro_rules! plain_layer {
    ($($ty:ty),*) => {$(
        impl SettingsLayer for Option<$ty> {
            fn or(self, lower: Self) -> Self {
                Option::or(self, lower)
            }
            fn rebase(&mut self, _base: &Path) {}
            fn defaults() -> Self {
                None
            }
        }
    )*};
}
plain_layer!(String, SocketAddr, Duration, usize, u32);

impl SettingsLayer for Option<PathBuf> {
    fn or(self, lower: Self) -> Self {
        Option::or(self, lower)
    }
    fn rebase(&mut self, base: &Path) {
        if let Some(path) = self
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }
    fn defaults() -> Self {
        None
    }
}

/// Declares a struct of settings and implements [`SettingsLayer`] for it from the same field list. A field
/// written `name: Option<T> = value` has `value` as its default; a field of a section struct takes the
/// section's defaults.
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty $(= $default:expr)?,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl SettingsLayer for $name {
            fn or(self, lower: Self) -> Self {
                Self {
                    $($field: SettingsLayer::or(self.$field, lower.$field),)*
                }
            }
            fn rebase(&mut self, base: &Path) {
                $(SettingsLayer::rebase(&mut self.$field, base);)*
            }
            fn defaults() -> Self {
                Self {
                    $($field: settings!(@default $($default)?),)*
                }
            }
        }
    };
    (@default) => { SettingsLayer::defaults() };
    (@default $default:expr) => { Some($default) };
}

settings! {
    /// Every setting of `churn-server`: the command line fills it (each option also read from the
    /// `CHURN_*` variable shown with it), and so does the TOML file, whose keys are the field names (in
    /// the sections `[limits]`, `[tls]`, `[auth]`, `[shutdown]` and `[logging]`). Every key is optional;
    /// unknown keys are refused; relative paths in the file are relative to the file.
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
    /// max_batch_size = 5000
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
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Settings {
        /// TOML configuration file; its values apply where neither an option nor an environment variable
        /// is given.
        #[arg(long, env = "CHURN_CONFIG", value_name = "FILE")]
        #[serde(skip)]
        pub config: Option<PathBuf>,

        /// Model registry directory (models live under DIR/NAME/VERSION/). One that does not exist yet,
        /// like a model without a promoted version or a missing snapshot, is waited for: the server
        /// answers UNAVAILABLE (health NOT_SERVING) and looks again at every reload interval; a file that
        /// can never be served (corrupt, truncated, not fitting the model) stops it at start.
        #[arg(long, env = "CHURN_REGISTRY", value_name = "DIR")]
        pub registry: Option<PathBuf>,

        /// Model to serve: NAME serves its promoted version and follows promotions and rollbacks (a model
        /// without a promoted version is not served: UNAVAILABLE, with the log saying how to promote one);
        /// NAME@VERSION serves that version whatever is promoted. `churn-trainer score` picks versions by
        /// the same rule.
        #[arg(long, env = "CHURN_MODEL", value_name = "NAME[@VERSION]")]
        pub model: Option<String>,

        /// Feature snapshot to score from: a feature table in Parquet, one row per customer (when a
        /// customer has several rows, the latest as-of date is used).
        #[arg(long, env = "CHURN_FEATURES", value_name = "SNAPSHOT.parquet")]
        pub features: Option<PathBuf>,

        /// Address the gRPC server listens on, as IP:PORT (`0.0.0.0:50051`, `[::1]:50051`; not a host
        /// name) [default: 127.0.0.1:50051].
        #[arg(long, env = "CHURN_LISTEN", value_name = "ADDR")]
        pub listen: Option<SocketAddr> = DEFAULT_LISTEN,

        /// Address of the Prometheus metrics endpoint (GET /metrics), or `off` [default: 127.0.0.1:9464].
        #[arg(long, env = "CHURN_METRICS_LISTEN", value_name = "ADDR|off")]
        pub metrics_listen: Option<String> = DEFAULT_METRICS_LISTEN.to_string(),

        /// How often to look for a newly promoted version or a new snapshot; `0s` turns polling off
        /// (SIGHUP still reloads) [default: 5s].
        #[arg(long, env = "CHURN_RELOAD_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
        #[serde(default, deserialize_with = "duration")]
        pub reload_interval: Option<Duration> = DEFAULT_RELOAD_INTERVAL,

        /// Request limits: `[limits]` in the file.
        #[command(flatten)]
        #[serde(default)]
        pub limits: LimitsSection,

        /// TLS: `[tls]` in the file.
        #[command(flatten)]
        #[serde(default)]
        pub tls: TlsSection,

        /// Authentication: `[auth]` in the file.
        #[command(flatten)]
        #[serde(default)]
        pub auth: AuthSection,

        /// Shutdown: `[shutdown]` in the file.
        #[command(flatten)]
        #[serde(default)]
        pub shutdown: ShutdownSection,

        /// Logging: `[logging]` in the file.
        #[command(flatten)]
        #[serde(default)]
        pub logging: LoggingSection,

        /// Tokio worker threads [default: one per core].
        #[arg(long, env = "CHURN_WORKER_THREADS", value_name = "N")]
        pub worker_threads: Option<usize>,
    }
}

settings! {
    /// `[limits]`: request limits.
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LimitsSection {
        /// Largest request or response message, in bytes [default: 4194304].
        #[arg(long, env = "CHURN_MAX_MESSAGE_BYTES", value_name = "BYTES")]
        pub max_message_bytes: Option<usize> = Limits::default().max_message_bytes,

        /// Most customer ids one ScoreBatch call may carry; with ids of usual length and the default
        /// reasons, the largest batch's answer fits the default message size [default: 5000].
        #[arg(long, env = "CHURN_MAX_BATCH_SIZE", value_name = "N")]
        pub max_batch_size: Option<usize> = Limits::default().max_batch_size,

        /// Most scoring calls in progress at once; calls beyond it are refused at once with
        /// RESOURCE_EXHAUSTED instead of queueing [default: 256].
        #[arg(long, env = "CHURN_MAX_CONCURRENT_REQUESTS", value_name = "N")]
        pub max_concurrent_requests: Option<usize> = Limits::default().max_concurrent_requests,

        /// Longest time a call may take; a shorter client deadline (grpc-timeout) wins. Calls past it
        /// end with DEADLINE_EXCEEDED [default: 5s].
        #[arg(long, env = "CHURN_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
        #[serde(default, deserialize_with = "duration")]
        pub request_timeout: Option<Duration> = Limits::default().request_timeout,

        /// Reasons returned per customer when a request asks for 0 [default: 3].
        #[arg(long, env = "CHURN_DEFAULT_REASONS", value_name = "N")]
        pub default_reasons: Option<u32> = Limits::default().default_reasons,

        /// Most reasons returned per customer, whatever a request asks for [default: 20].
        #[arg(long, env = "CHURN_MAX_REASONS", value_name = "N")]
        pub max_reasons: Option<u32> = Limits::default().max_reasons,
    }
}

settings! {
    /// `[tls]`: the server's certificate and key, and the CA of client certificates.
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TlsSection {
        /// Server certificate chain (PEM); with --tls-key, serves TLS.
        #[arg(long = "tls-cert", env = "CHURN_TLS_CERT", value_name = "PEM")]
        pub cert: Option<PathBuf>,

        /// Server private key (PEM).
        #[arg(long = "tls-key", env = "CHURN_TLS_KEY", value_name = "PEM")]
        pub key: Option<PathBuf>,

        /// CA certificate(s) (PEM) that client certificates must chain to; requires TLS and turns on
        /// mutual TLS (clients without a valid certificate are refused).
        #[arg(long = "tls-client-ca", env = "CHURN_TLS_CLIENT_CA", value_name = "PEM")]
        pub client_ca: Option<PathBuf>,
    }
}

settings! {
    /// `[auth]`: the bearer token scoring calls must send.
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AuthSection {
        /// File holding the bearer token scoring calls must send (`authorization: Bearer <token>`). The
        /// token can also come from the CHURN_AUTH_TOKEN variable. Health and reflection stay open.
        #[arg(long = "auth-token-file", env = "CHURN_AUTH_TOKEN_FILE", value_name = "FILE")]
        pub token_file: Option<PathBuf>,
    }
}

settings! {
    /// `[shutdown]`: how the server drains.
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ShutdownSection {
        /// On SIGTERM or SIGINT, report NOT_SERVING for this long before closing the listener, so load
        /// balancers stop sending calls first [default: 0s].
        #[arg(
            long = "shutdown-grace",
            env = "CHURN_SHUTDOWN_GRACE",
            value_name = "DURATION",
            value_parser = parse_duration
        )]
        #[serde(default, deserialize_with = "duration")]
        pub grace: Option<Duration> = ShutdownSettings::default().grace,

        /// Longest wait for in-flight calls to finish after the listener closes; calls still running
        /// then are cut off [default: 30s].
        #[arg(long, env = "CHURN_DRAIN_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
        #[serde(default, deserialize_with = "duration")]
        pub drain_timeout: Option<Duration> = ShutdownSettings::default().drain_timeout,
    }
}

settings! {
    /// `[logging]`: how customer ids are hashed in logs.
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LoggingSection {
        /// File holding the key customer ids are hashed with in logs, so hashes stay the same across
        /// restarts and replicas [default: a random key per start].
        #[arg(long, env = "CHURN_ID_HASH_KEY_FILE", value_name = "FILE")]
        pub id_hash_key_file: Option<PathBuf>,
    }
}

impl Settings {
    /// Reads the TOML file at `path`, with its relative paths made relative to the file.
    pub fn read_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let mut settings: Self = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.into(),
            message: e.to_string(),
        })?;
        if let Some(base) = path.parent() {
            settings.rebase(base);
        }
        Ok(settings)
    }

    /// The settings in force: these (the command line with its environment variables), then the TOML
    /// file they name, then the defaults.
    pub fn layered(self) -> Result<Self, ConfigError> {
        let file = match &self.config {
            Some(path) => Self::read_file(path)?,
            None => Self::default(),
        };
        Ok(self.or(file).or(Self::defaults()))
    }
}

/// A duration in the TOML file, written as for [`parse_duration`].
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map(Some).map_err(serde::de::Error::custom)
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
            max_batch_size: 5_000,
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
            listen: DEFAULT_LISTEN,
            metrics_listen: Some(DEFAULT_METRICS_LISTEN),
            reload_interval: Some(DEFAULT_RELOAD_INTERVAL),
            limits: Limits::default(),
            tls: None,
            auth_token: None,
            shutdown: ShutdownSettings::default(),
            id_hash_key: None,
            worker_threads: None,
        }
    }

    /// Resolves `settings` (the command line with its environment variables), the TOML file they name
    /// and the defaults, in that precedence, into the checked configuration; `auth_token_env` is the value
    /// of `CHURN_AUTH_TOKEN`, if set.
    pub fn resolve(settings: Settings, auth_token_env: Option<String>) -> Result<Self, ConfigError> {
        let Settings {
            config: _,
            registry,
            model,
            features,
            listen,
            metrics_listen,
            reload_interval,
            limits,
            tls,
            auth,
            shutdown,
            logging,
            worker_threads,
        } = settings.layered()?;
        let tls = match (tls.cert, tls.key, tls.client_ca) {
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
        let auth_token = match auth.token_file {
            Some(path) => Some(read_secret(&path, "--auth-token-file (auth.token_file)")?),
            None => auth_token_env.map(|t| t.trim().to_string()),
        };
        let reload_interval = given(reload_interval, "reload-interval")?;
        let config = Self {
            registry: given(registry, "registry")?,
            model: given(model, "model")?,
            features: given(features, "features")?,
            listen: given(listen, "listen")?,
            metrics_listen: parse_metrics_listen(&given(metrics_listen, "metrics-listen")?)?,
            reload_interval: (!reload_interval.is_zero()).then_some(reload_interval),
            limits: Limits {
                max_message_bytes: given(limits.max_message_bytes, "max-message-bytes")?,
                max_batch_size: given(limits.max_batch_size, "max-batch-size")?,
                max_concurrent_requests: given(limits.max_concurrent_requests, "max-concurrent-requests")?,
                request_timeout: given(limits.request_timeout, "request-timeout")?,
                default_reasons: given(limits.default_reasons, "default-reasons")?,
                max_reasons: given(limits.max_reasons, "max-reasons")?,
            },
            tls,
            auth_token,
            shutdown: ShutdownSettings {
                grace: given(shutdown.grace, "shutdown-grace")?,
                drain_timeout: given(shutdown.drain_timeout, "drain-timeout")?,
            },
            id_hash_key: logging
                .id_hash_key_file
                .map(|path| {
                    read_secret(&path, "--id-hash-key-file (logging.id_hash_key_file)")
                        .map(String::into_bytes)
                })
                .transpose()?,
            worker_threads,
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

/// The value of the setting whose option is `--{flag}`, or an error naming the option and its
/// environment variable (only settings without a default can be missing).
fn given<T>(value: Option<T>, flag: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| {
        ConfigError::Invalid(format!(
            "no {flag} given: pass --{flag}, set CHURN_{}, or set it in the configuration file",
            flag.replace('-', "_").to_uppercase()
        ))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })
}

/// The secret in the file at `path`, which the setting `setting` names (e.g. `--auth-token-file`).
fn read_secret(path: &Path, setting: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Invalid(format!("{setting} {}: {e}", path.display())))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{setting} {}: the file is empty",
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

    /// The settings as a command line without environment variables gives them.
    fn parse(args: &[&str]) -> Settings {
        use clap::FromArgMatches;
        let command =
            Settings::augment_args(clap::Command::new("churn-server")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(std::iter::once("churn-server").chain(args.iter().copied()))
            .expect("valid command line");
        Settings::from_arg_matches(&matches).expect("settings")
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
max_concurrent_requests = 16
request_timeout = "250ms"
[auth]
token_file = "token"
[shutdown]
grace = "2s"
"#,
        )
        .expect("config");
        let config_path = path.to_str().expect("utf-8");
        let args = [
            "--config",
            config_path,
            "--model",
            "from-cli",
            "--max-concurrent-requests",
            "8",
        ];
        let config = ServerConfig::resolve(parse(&args), None).expect("valid");
        assert_eq!(config.model, "from-cli");
        assert_eq!(config.registry, dir.path().join("reg"), "relative to the file");
        assert_eq!(config.features, PathBuf::from("/data/snapshot.parquet"));
        assert_eq!(config.reload_interval, None);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.limits.max_batch_size, 50);
        assert_eq!(config.limits.max_concurrent_requests, 8);
        assert_eq!(config.limits.request_timeout, Duration::from_millis(250));
        assert_eq!(config.limits.max_reasons, Limits::default().max_reasons);
        assert_eq!(config.auth_token.as_deref(), Some("s3cret"));
        assert_eq!(config.shutdown.grace, Duration::from_secs(2));
        assert_eq!(
            config.shutdown.drain_timeout,
            ShutdownSettings::default().drain_timeout
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn every_default_is_the_one_the_help_states() {
        // Each `[default: VALUE]` of the help, given as options, must parse to the defaults layer.
        let command = Settings::augment_args(clap::Command::new("churn-server"));
        let mut args = Vec::new();
        let mut stated = 0;
        for arg in command.get_arguments() {
            let help = arg.get_help().expect("every setting has a help text").to_string();
            let long = arg.get_long().expect("every setting has an option");
            assert!(arg.get_env().is_some(), "--{long} has no environment variable");
            match help
                .split_once("[default: ")
                .and_then(|(_, rest)| rest.split_once(']'))
            {
                Some((value, _)) if !value.contains(' ') => {
                    args.push(format!("--{long}"));
                    args.push(value.to_string());
                    stated += 1;
                }
                // Defaults that are not values ("one per core") are no value in the defaults layer.
                _ => {}
            }
        }
        assert_eq!(stated, 11, "{args:?}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(parse(&args), Settings::defaults());
    }

    #[test]
    fn the_operator_readme_lists_every_setting() {
        let readme = include_str!("../README.md");
        let command = Settings::augment_args(clap::Command::new("churn-server"));
        for arg in command.get_arguments() {
            let long = format!("`--{}", arg.get_long().expect("option"));
            let env = arg.get_env().expect("variable").to_string_lossy().into_owned();
            assert!(readme.contains(&long), "server/README.md does not list {long}`");
            assert!(readme.contains(&env), "server/README.md does not list {env}");
        }
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        let error = ServerConfig::resolve(parse(&[]), None).expect_err("no registry");
        assert!(error.to_string().contains("--registry"), "{error}");

        let dir = tempfile::tempdir().expect("temp dir");
        for (file, unknown) in [
            ("registry = \"r\"\nmodle = \"typo\"\n", "modle"),
            ("[limits]\nmax_batch = 5\n", "max_batch"),
            ("[tsl]\ncert = \"c.pem\"\n", "tsl"),
            ("config = \"other.toml\"\n", "config"),
        ] {
            let path = dir.path().join("server.toml");
            std::fs::write(&path, file).expect("config");
            let settings = parse(&["--config", path.to_str().expect("utf-8")]);
            let error = ServerConfig::resolve(settings, None).expect_err("unknown key");
            assert!(error.to_string().contains(unknown), "{error}");
        }
        let path = dir.path().join("server.toml");
        std::fs::write(&path, "[shutdown]\ngrace = \"5 parsecs\"\n").expect("config");
        let settings = parse(&["--config", path.to_str().expect("utf-8")]);
        let error = ServerConfig::resolve(settings, None).expect_err("bad duration");
        assert!(error.to_string().contains("grace"), "{error}");

        let required = ["--registry", "r", "--model", "m", "--features", "f"];
        let args = [&required[..], &["--tls-cert", "cert.pem"]].concat();
        let error = ServerConfig::resolve(parse(&args), None).expect_err("cert without key");
        assert!(error.to_string().contains("--tls-key"), "{error}");

        let args = [&required[..], &["--default-reasons", "30"]].concat();
        let error = ServerConfig::resolve(parse(&args), None).expect_err("reasons");
        assert!(error.to_string().contains("default_reasons"), "{error}");
    }

    #[test]
    fn token_comes_from_the_environment_when_no_file_is_named() {
        let settings = parse(&["--registry", "r", "--model", "m", "--features", "f"]);
        let config = ServerConfig::resolve(settings.clone(), Some(" abc ".into())).expect("valid");
        assert_eq!(config.auth_token.as_deref(), Some("abc"));
        assert!(ServerConfig::resolve(settings, Some("  ".into())).is_err());
    }
}
