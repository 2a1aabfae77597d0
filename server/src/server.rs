//! Wiring: the gRPC server (scoring and the Open Inference Protocol behind one guard, health, reflection
//! v1 and v1alpha, gzip, TLS), the metrics endpoint, the reload task, and graceful shutdown.
//!
//! Shutdown drains: health turns NOT_SERVING at once, the listener stays open for the configured grace
//! period (so load balancers can stop routing first), then it closes and calls in flight run to their
//! end, for at most the drain timeout.

use crate::config::ServerConfig;
use crate::connection::CoalescingStream;
use crate::inference::InferenceApi;
use crate::metrics::{self, Metrics};
use crate::middleware::auth::AuthLayer;
use crate::middleware::deadline::DeadlineLayer;
use crate::middleware::health_watch::EndWatchesOnShutdown;
use crate::middleware::metrics::MetricsLayer;
use crate::middleware::shedding::SheddingLayer;
use crate::proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use crate::proto::{self, scoring_service_server::ScoringServiceServer};
use crate::redact::IdHasher;
use crate::reload::{self, Loader, ReloadOutcome, ReloadRequest};
use crate::service::ScoringApi;
use crate::state::ServingState;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tower::ServiceBuilder;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS configuration: {0}")]
    Tls(tonic::transport::Error),
    /// The reflection service could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed while serving.
    #[error("gRPC server: {0}")]
    Transport(tonic::transport::Error),
    /// The metrics endpoint failed.
    #[error("metrics endpoint: {0}")]
    Metrics(std::io::Error),
    /// The signal handlers could not be installed.
    #[error("signal handling: {0}")]
    Signal(std::io::Error),
    /// The model or the snapshot can never be served as configured (see [`crate::reload`]); nothing was
    /// served.
    #[error("cannot serve: {0}")]
    Startup(String),
    /// A server task ended abnormally.
    #[error("server task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    state: Arc<ServingState>,
    reload_requests: mpsc::Sender<ReloadRequest>,
    shutdown: Arc<watch::Sender<bool>>,
    task: JoinHandle<Result<(), ServerError>>,
}

/// Binds the listeners and starts serving `config` in the background. The model and snapshot load in the
/// background too: until they are in, health reports NOT_SERVING and scoring calls get UNAVAILABLE.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    let (shutdown_sender, shutdown) = watch::channel(false);
    let shutdown_sender = Arc::new(shutdown_sender);
    // Turns true when the listener closes, at the end of the grace period.
    let (closing_sender, closing) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let state = Arc::new(ServingState::new(health_reporter, metrics.clone()).await);
    let ids = config
        .id_hash_key
        .as_deref()
        .map_or_else(IdHasher::random, IdHasher::with_key);

    let limits = &config.limits;
    let scoring_api = ScoringApi::new(state.clone(), limits.clone(), ids);
    // The Open Inference Protocol shares the scoring service's state, limits and batch budget.
    let inference = GrpcInferenceServiceServer::new(InferenceApi::new(scoring_api.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let scoring = ScoringServiceServer::new(scoring_api)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    // The guard, one layer per concern, outermost first; both scoring services share its token, slots
    // and metrics.
    let guard = ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(AuthLayer::new(
            config.auth_token.as_deref(),
            limits.max_message_bytes,
        ))
        .layer(DeadlineLayer::new(
            limits.request_timeout,
            limits.max_message_bytes,
        ))
        .layer(SheddingLayer::new(
            limits.max_concurrent_requests,
            limits.max_message_bytes,
        ));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    // Receive windows follow the measured bandwidth-delay product, so large batch requests are not
    // held up by the 64 KiB default window.
    // A connection may open several times more streams than the guard admits calls, so that under
    // overload the guard sheds calls with RESOURCE_EXHAUSTED; at the HTTP/2 limit itself streams would be
    // refused, and a client that keeps hitting it gets its whole connection closed (ENHANCE_YOUR_CALM).
    let streams = limits.max_concurrent_requests.saturating_mul(4).max(1024);
    let mut builder = Server::builder()
        .http2_adaptive_window(Some(true))
        .max_concurrent_streams(Some(u32::try_from(streams).unwrap_or(u32::MAX)));
    if let Some(tls) = &config.tls {
        let mut tls_config = ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
        if let Some(ca) = &tls.client_ca_pem {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls_config).map_err(ServerError::Tls)?;
    }
    let router = builder
        .add_service(EndWatchesOnShutdown::new(health_service, closing))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(guard.service(scoring))
        .add_service(guard.service(inference));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            address: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        address: config.listen,
        source,
    })?;
    // Answers ready together leave in one write (see [`crate::connection`]).
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|connection| connection.map(CoalescingStream::new));

    let (metrics_addr, metrics_task) = match config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| ServerError::Bind { address, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| ServerError::Bind { address, source })?;
            let mut stop = shutdown.clone();
            let task = tokio::spawn(metrics::serve(listener, metrics.clone(), async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }));
            (Some(bound), Some(task))
        }
        None => (None, None),
    };

    let (reload_requests, reload_receiver) = mpsc::channel(8);
    let loader = Loader::new(
        config.registry.clone(),
        config.model.clone(),
        config.features.clone(),
    );
    // The reload task ends by itself only when nothing can ever be served; its reason comes here.
    let (impossible_sender, impossible) = oneshot::channel();
    let reload = reload::run(
        loader,
        state.clone(),
        config.reload_interval,
        reload_receiver,
        shutdown.clone(),
    );
    let reload_task = tokio::spawn(async move {
        if let Err(reason) = reload.await {
            let _ = impossible_sender.send(reason);
        }
    });

    let drain_state = state.clone();
    let settings = config.shutdown.clone();
    let mut drain_signal = shutdown.clone();
    let mut drain_deadline = shutdown.clone();
    let stop_everything = shutdown_sender.clone();
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = drain_signal.wait_for(|stop| *stop).await;
            drain_state.begin_draining().await;
            tracing::info!(grace = ?settings.grace, "shutting down: health is NOT_SERVING");
            tokio::time::sleep(settings.grace).await;
            closing_sender.send_replace(true);
            tracing::info!("listener closed; waiting for calls in flight");
        };
        let serve = router.serve_with_incoming_shutdown(incoming, signal);
        let cut_off = async move {
            let _ = drain_deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(settings.grace + settings.drain_timeout).await;
        };
        let served = tokio::select! {
            served = serve => served.map_err(ServerError::Transport),
            () = cut_off => {
                tracing::warn!(drain_timeout = ?settings.drain_timeout, "calls still in flight after the drain timeout were cut off");
                Ok(())
            }
            Ok(reason) = impossible => Err(ServerError::Startup(reason)),
        };
        // The gRPC server is done (drained, or failed): stop the other tasks too.
        stop_everything.send_replace(true);
        reload_task.await?;
        if let Some(task) = metrics_task {
            task.await?.map_err(ServerError::Metrics)?;
        }
        tracing::info!("server stopped");
        served
    });

    tracing::info!(address = %local_addr, metrics = ?metrics_addr, tls = config.tls.is_some(), "listening");
    Ok(ServerHandle {
        local_addr,
        metrics_addr,
        state,
        reload_requests,
        shutdown: shutdown_sender,
        task,
    })
}

impl ServerHandle {
    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the metrics endpoint, if it is on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The served state.
    pub fn state(&self) -> &Arc<ServingState> {
        &self.state
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.state.metrics()
    }

    /// Looks for a new model or snapshot now and swaps it in; with `force`, reads both again even if
    /// they look unchanged.
    pub async fn reload(&self, force: bool) -> ReloadOutcome {
        request_reload(&self.reload_requests, force).await
    }

    /// Starts a graceful shutdown (see the module documentation); [`ServerHandle::wait`] returns when it
    /// is complete.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task.await?
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully; SIGHUP forces a reload.
    #[cfg(unix)]
    /// Also returns when the server stops by itself (nothing can ever be served, or it failed).
    pub async fn run_until_signalled(mut self) -> Result<(), ServerError> {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| signal(kind).map_err(ServerError::Signal);
        let mut terminate = install(SignalKind::terminate())?;
        let mut interrupt = install(SignalKind::interrupt())?;
        let mut hangup = install(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading the model and the snapshot");
                    request_reload(&self.reload_requests, true).await;
                }
                stopped = &mut self.task => return stopped?,
            }
        }
        self.shutdown();
        self.wait().await
    }
}

/// Asks the reload task for a reload and waits for its outcome.
async fn request_reload(requests: &mpsc::Sender<ReloadRequest>, force: bool) -> ReloadOutcome {
    let (reply, outcome) = oneshot::channel();
    if requests.send(ReloadRequest { force, reply }).await.is_err() {
        return ReloadOutcome::Failed("the server is shutting down".into());
    }
    outcome
        .await
        .unwrap_or_else(|_| ReloadOutcome::Failed("the server is shutting down".into()))
}
