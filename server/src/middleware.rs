//! The guard in front of the scoring services (`churn.v1` and the Open Inference Protocol): bearer-token check, load shedding, deadlines and request
//! metrics, in that order.
//!
//! - **Authentication**: with a token configured, a call without `authorization: Bearer <token>` ends
//!   with UNAUTHENTICATED before it uses any capacity.
//! - **Load shedding**: at most `max_concurrent_requests` calls run at once; a call beyond that ends at
//!   once with RESOURCE_EXHAUSTED rather than waiting in an unbounded queue. A call holds its slot until
//!   its response has been sent, and, when it handed work to a blocking thread, until that work has
//!   ended: the service finds the slot as a [`CallSlot`] in the request's extensions and keeps a copy
//!   for its blocking work, so a call cut off by its deadline does not free its slot while it still
//!   uses a core.
//! - **Deadlines**: a call runs for at most the shorter of the client's deadline (`grpc-timeout`) and the
//!   server's `request_timeout`, then ends with DEADLINE_EXCEEDED; a call whose deadline has already
//!   passed is not started.
//! - **Metrics**: every call is counted by method and final status, timed until its status is sent, and
//!   counted in flight while it runs (see [`crate::metrics`]).
//!
//! Health and reflection are not behind the guard: probes must work under load and without a token.

use crate::metrics::Metrics;
use http::{HeaderMap, Request, Response};
use http_body::Body as _;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::Service;

/// The methods of `churn.v1.ScoringService` and of `inference.GRPCInferenceService` (the Open Inference
/// Protocol), as metric labels.
const METHODS: [&str; 12] = [
    "Score",
    "ScoreBatch",
    "ScoreFeatures",
    "SurvivalCurve",
    "GetModelInfo",
    "Ping",
    "ServerLive",
    "ServerReady",
    "ModelReady",
    "ServerMetadata",
    "ModelMetadata",
    "ModelInfer",
];

/// A share of a call's concurrency slot, found in the request's extensions. The slot is freed when the
/// call has ended and every share is dropped.
#[derive(Debug, Clone)]
pub struct CallSlot {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// What the guard enforces.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Bearer token calls must carry; `None` accepts every call.
    pub token: Option<String>,
    /// Most calls in progress at once.
    pub max_concurrent_requests: usize,
    /// Longest time a call may run.
    pub request_timeout: Duration,
    /// Largest request message, in bytes: a refused call's body is read up to this size.
    pub max_message_bytes: usize,
}

struct Shared {
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
    expected_authorization: Option<Vec<u8>>,
    request_timeout: Duration,
    max_message_bytes: usize,
}

/// A service behind the guard. It keeps the service's gRPC name, so it is added to a tonic server like
/// the service itself; services guarded by [`Guarded::guard`] share one guard (token, slots, metrics).
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("max_concurrent_requests", &self.shared.max_concurrent_requests)
            .field("request_timeout", &self.shared.request_timeout)
            .field("authenticated", &self.shared.expected_authorization.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Guarded<S> {
    /// Puts `inner` behind a guard with `settings`, reporting to `metrics`.
    pub fn new(inner: S, settings: GuardSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                metrics,
                permits: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
                max_concurrent_requests: settings.max_concurrent_requests,
                expected_authorization: settings.token.map(|token| format!("Bearer {token}").into_bytes()),
                request_timeout: settings.request_timeout,
                max_message_bytes: settings.max_message_bytes,
            }),
        }
    }
}

impl<S> Guarded<S> {
    /// Puts `other` behind the same guard: its calls take slots from the same limit.
    pub fn guard<T>(&self, other: T) -> Guarded<T> {
        Guarded {
            inner: other,
            shared: self.shared.clone(),
        }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for Guarded<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Capacity is decided per call (a full server answers RESOURCE_EXHAUSTED), and the generated
        // service is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone is ready because the service always is; keep the original for the next call.
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut request = request;
            let method = method_label(request.uri().path());
            let mut call = CallRecord::start(shared.metrics.clone(), method);
            if let Some(expected) = &shared.expected_authorization
                && !authorized(request.headers(), expected)
            {
                return Ok(call
                    .refuse(
                        request,
                        shared.max_message_bytes,
                        Status::unauthenticated(
                            "missing or invalid bearer token (send `authorization: Bearer <token>`)",
                        ),
                    )
                    .await);
            }
            let timeout = match client_timeout(request.headers()) {
                Ok(Some(client)) => client.min(shared.request_timeout),
                Ok(None) => shared.request_timeout,
                Err(()) => {
                    let status = Status::invalid_argument("malformed grpc-timeout header");
                    return Ok(call.refuse(request, shared.max_message_bytes, status).await);
                }
            };
            if timeout.is_zero() {
                let status = Status::deadline_exceeded("the call's deadline had passed before it started");
                return Ok(call.refuse(request, shared.max_message_bytes, status).await);
            }
            let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
                let status = Status::resource_exhausted(format!(
                    "the server is at its limit of {} calls in progress; retry with backoff",
                    shared.max_concurrent_requests
                ));
                // Shed at once: the body is read for no longer than the call's deadline.
                call.drain_timeout = call.drain_timeout.min(timeout);
                return Ok(call.refuse(request, shared.max_message_bytes, status).await);
            };
            let slot = CallSlot {
                _permit: Arc::new(permit),
            };
            request.extensions_mut().insert(slot.clone());
            call.permit = Some(slot);
            match tokio::time::timeout(timeout, inner.call(request)).await {
                Ok(Ok(response)) => Ok(call.attach(response)),
                Ok(Err(never)) => match never {},
                Err(_elapsed) => Ok(call.finish_with(Status::deadline_exceeded(format!(
                    "the call did not finish within its deadline of {timeout:?}"
                )))),
            }
        })
    }
}

/// The metric label of a request path `/churn.v1.ScoringService/<Method>`.
fn method_label(path: &str) -> &'static str {
    let method = path.rsplit('/').next().unwrap_or_default();
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("unknown")
}

/// True when the `authorization` header equals `expected`, compared in constant time.
fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    value.len() == expected.len() && value.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The client's deadline from the `grpc-timeout` header: `Ok(None)` without one, `Err` when malformed.
fn client_timeout(headers: &HeaderMap) -> Result<Option<Duration>, ()> {
    let Some(value) = headers.get("grpc-timeout") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?;
    if text.len() < 2 || text.len() > 9 {
        return Err(());
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    let amount: u64 = digits.parse().map_err(|_| ())?;
    let duration = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(()),
    };
    Ok(Some(duration))
}

/// Longest wait for the body of a refused call.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(250);

/// Reads and discards a request body (up to the gRPC frame of a `max_message_bytes` message, for at most
/// `wait`). A call refused as soon as its headers arrive would otherwise leave its message to
/// arrive on a stream nobody reads, and the HTTP/2 layer charges such frames to a per-connection budget
/// it never refills: after a few hundred refusals it would close the client's whole connection
/// (GOAWAY `ENHANCE_YOUR_CALM`), failing every call on it.
async fn drain_body(mut body: Body, max_message_bytes: usize, wait: Duration) {
    let limit = max_message_bytes.saturating_add(5);
    let mut seen = 0usize;
    let read = std::future::poll_fn(move |cx| {
        loop {
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    seen += frame.data_ref().map_or(0, Bytes::len);
                    if seen > limit {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    });
    let _ = tokio::time::timeout(wait, read).await;
}

/// The status code in a response's headers (a trailers-only response) or trailers.
fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from(value))
}

/// One call's metrics and concurrency slot. It records the call exactly once: when its status is known,
/// or as CANCELLED if it is dropped before (the client went away).
struct CallRecord {
    metrics: Arc<Metrics>,
    method: &'static str,
    started: Instant,
    permit: Option<CallSlot>,
    finished: bool,
    /// Longest wait for the body of a refused call.
    drain_timeout: Duration,
}

impl CallRecord {
    fn start(metrics: Arc<Metrics>, method: &'static str) -> Self {
        metrics.call_started();
        Self {
            metrics,
            method,
            started: Instant::now(),
            permit: None,
            finished: false,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }

    fn finish(&mut self, code: Code) {
        if !self.finished {
            self.finished = true;
            self.permit = None;
            self.metrics
                .call_finished(self.method, code, self.started.elapsed().as_secs_f64());
        }
    }

    fn finish_with(mut self, status: Status) -> Response<Body> {
        self.finish(status.code());
        status.into_http()
    }

    /// Answers `status` without running the call, after reading the request's body (see
    /// [`drain_body`]).
    async fn refuse(
        self,
        request: Request<Body>,
        max_message_bytes: usize,
        status: Status,
    ) -> Response<Body> {
        drain_body(request.into_body(), max_message_bytes, self.drain_timeout).await;
        self.finish_with(status)
    }

    /// Records the call when its status is in the headers, or when the body delivers its trailers.
    fn attach(mut self, response: Response<Body>) -> Response<Body> {
        if let Some(code) = status_code(response.headers()) {
            self.finish(code);
            return response;
        }
        if http_body::Body::is_end_stream(response.body()) {
            self.finish(Code::Ok);
            return response;
        }
        response.map(|body| {
            Body::new(RecordedBody {
                inner: body,
                call: self,
            })
        })
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// A response body that records its call when the trailers (with the status) go out.
struct RecordedBody {
    inner: Body,
    call: CallRecord,
}

impl http_body::Body for RecordedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call.finish(status_code(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(status))) => this.call.finish(status.code()),
            Poll::Ready(None) => this.call.finish(Code::Ok),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Ends the `Watch` streams of a health service when the server's listener closes, so a watcher learns
/// the server is going away and does not hold the drain open until its timeout. A watcher first receives
/// NOT_SERVING (set when draining starts); its stream then ends with UNAVAILABLE.
#[derive(Clone)]
pub struct EndWatchesOnShutdown<S> {
    inner: S,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl<S> std::fmt::Debug for EndWatchesOnShutdown<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndWatchesOnShutdown").finish_non_exhaustive()
    }
}

impl<S> EndWatchesOnShutdown<S> {
    /// Wraps `inner`; its `Watch` streams end when `shutdown` turns true (or its sender is dropped).
    pub fn new(inner: S, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { inner, shutdown }
    }
}

impl<S: NamedService> NamedService for EndWatchesOnShutdown<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for EndWatchesOnShutdown<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        let is_watch = request.uri().path().ends_with("/Watch");
        let mut shutdown = self.shutdown.clone();
        Box::pin(async move {
            let response = inner.call(request).await?;
            if !is_watch {
                return Ok(response);
            }
            let stop: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            });
            Ok(response.map(|body| {
                Body::new(EndOnSignal {
                    inner: body,
                    stop,
                    ended: false,
                })
            }))
        })
    }
}

/// A streaming body that ends with UNAVAILABLE when `stop` completes.
struct EndOnSignal {
    inner: Body,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    ended: bool,
}

impl http_body::Body for EndOnSignal {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        // Frames already produced go out first; the stop is checked when the stream is idle.
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        if self.stop.as_mut().poll(cx).is_ready() {
            self.ended = true;
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from(Code::Unavailable as i32));
            trailers.insert(
                "grpc-message",
                http::HeaderValue::from_static("server%20shutting%20down"),
            );
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        let parse = |value| client_timeout(&headers("grpc-timeout", value));
        assert_eq!(parse("2H"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(parse("3M"), Ok(Some(Duration::from_secs(180))));
        assert_eq!(parse("5S"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(parse("250m"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(parse("99999999u"), Ok(Some(Duration::from_micros(99_999_999))));
        assert_eq!(parse("1n"), Ok(Some(Duration::from_nanos(1))));
        assert_eq!(client_timeout(&HeaderMap::new()), Ok(None));
        for bad in ["", "5", "S", "123456789S", "5s", "-5S", "5.0S"] {
            assert_eq!(parse(bad), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn tokens_must_match_exactly() {
        let expected = b"Bearer s3cret";
        assert!(authorized(&headers("authorization", "Bearer s3cret"), expected));
        assert!(!authorized(&headers("authorization", "Bearer s3cre"), expected));
        assert!(!authorized(&headers("authorization", "Bearer s3creT"), expected));
        assert!(!authorized(&headers("authorization", "bearer s3cret"), expected));
        assert!(!authorized(&HeaderMap::new(), expected));
    }

    #[test]
    fn methods_become_bounded_labels() {
        assert_eq!(method_label("/churn.v1.ScoringService/Score"), "Score");
        assert_eq!(method_label("/churn.v1.ScoringService/ScoreBatch"), "ScoreBatch");
        assert_eq!(method_label("/churn.v1.ScoringService/Nope"), "unknown");
        assert_eq!(
            method_label("/inference.GRPCInferenceService/ModelInfer"),
            "ModelInfer"
        );
    }
}
