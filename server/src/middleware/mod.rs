//! The guard in front of the scoring services (`churn.v1` and the Open Inference Protocol): one tower
//! layer per concern, composed in one `tower::ServiceBuilder` by [`crate::server`], outermost first:
//!
//! - [`metrics`]: every call is counted by method and final status, timed until its status is sent, and
//!   counted in flight while it runs (see [`crate::metrics`]);
//! - [`auth`]: with a token configured, a call without `authorization: Bearer <token>` ends with
//!   UNAUTHENTICATED before it uses any capacity;
//! - [`deadline`]: a call runs for at most the shorter of the client's deadline (`grpc-timeout`) and the
//!   server's `request_timeout`, then ends with DEADLINE_EXCEEDED; a call whose deadline has already
//!   passed is not started;
//! - [`shedding`]: at most `max_concurrent_requests` calls run at once; a call beyond that ends at once
//!   with RESOURCE_EXHAUSTED rather than waiting in an unbounded queue. A call holds its slot until its
//!   response has been sent, and, when it handed work to another thread, until that work has ended: the
//!   service finds the slot as a [`CallSlot`] in the request's extensions and keeps a copy for that work,
//!   so a call cut off by its deadline does not free its slot while it still uses a core.
//!
//! Each layer wraps any service of gRPC requests and keeps its gRPC name, so a guarded service is added to
//! a tonic server like the service itself. Refusals are [`ServeError`]s, turned into statuses by
//! [`crate::error`] like every other answer. Health and reflection are not behind the guard: probes must
//! work under load and without a token; [`health_watch`] ends their `Watch` streams at shutdown.

pub mod auth;
pub mod deadline;
pub mod health_watch;
pub mod metrics;
pub mod shedding;

pub use shedding::CallSlot;

use crate::error::ServeError;
use http::{HeaderMap, Request, Response};
use http_body::Body as _;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::{Code, Status};

/// The response future of every layer.
type CallFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// Longest wait for the body of a refused call.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(250);

/// Answers `error` without running the call, after reading the request's body (up to the gRPC frame of
/// a `max_message_bytes` message, until `until` at the latest). A call refused as soon as its headers
/// arrive would otherwise leave its message to arrive on a stream nobody reads, and the HTTP/2 layer
/// charges such frames to a per-connection budget it never refills: after a few hundred refusals it would
/// close the client's whole connection (GOAWAY `ENHANCE_YOUR_CALM`), failing every call on it.
async fn refuse(
    request: Request<Body>,
    max_message_bytes: usize,
    until: Instant,
    error: ServeError,
) -> Result<Response<Body>, Infallible> {
    let mut body = request.into_body();
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
    let _ = tokio::time::timeout_at(until, read).await;
    Ok(Status::from(error).into_http())
}

/// The status code in a response's headers (a trailers-only response) or trailers.
fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from(value))
}

/// Implements `tonic::server::NamedService` (keeping the inner service's gRPC name) and `Debug` for a
/// layer's service.
macro_rules! named_layer_service {
    ($service:ident) => {
        impl<S: tonic::server::NamedService> tonic::server::NamedService for $service<S> {
            const NAME: &'static str = S::NAME;
        }

        impl<S> std::fmt::Debug for $service<S> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($service)).finish_non_exhaustive()
            }
        }
    };
}
use named_layer_service;

/// A guard layer's service: `$service` wraps the inner service with a copy of `$layer` (its settings),
/// which `$layer` implements `tower::Layer` to make; with [`named_layer_service`]'s gRPC name and `Debug`.
/// Its `tower::Service` is ready when the inner service is (capacity is decided per call, so a full
/// server answers at once) and hands each call to the service's own `guard` method, which refuses it or
/// passes it on.
macro_rules! guard_layer {
    ($layer:ident, $(#[$doc:meta])* $service:ident) => {
        impl<S> tower::Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    layer: self.clone(),
                }
            }
        }

        $(#[$doc])*
        #[derive(Clone)]
        pub struct $service<S> {
            inner: S,
            layer: $layer,
        }

        super::named_layer_service!($service);

        impl<S> tower::Service<http::Request<tonic::body::Body>> for $service<S>
        where
            S: tower::Service<
                    http::Request<tonic::body::Body>,
                    Response = http::Response<tonic::body::Body>,
                    Error = std::convert::Infallible,
                >,
            S::Future: Send + 'static,
        {
            type Response = http::Response<tonic::body::Body>;
            type Error = std::convert::Infallible;
            type Future = super::CallFuture;

            fn poll_ready(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
                self.guard(request)
            }
        }
    };
}
use guard_layer;

#[cfg(test)]
mod tests {
    use super::deadline::DeadlineLayer;
    use super::shedding::SheddingLayer;
    use super::*;
    use std::task::Context;
    use tower::{Service, ServiceBuilder, ServiceExt};

    /// A request body whose message never arrives.
    struct Stalled;

    impl http_body::Body for Stalled {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_call_shed_just_before_its_deadline_is_answered_with_the_shedding_status() {
        // No slot at all, and a deadline shorter than the wait for a refused call's body: the refusal
        // ends at the deadline and is the answer, not DEADLINE_EXCEEDED.
        let deadline = Duration::from_millis(30);
        let never = tower::service_fn(|_request: Request<Body>| async {
            std::future::pending::<Result<Response<Body>, Infallible>>().await
        });
        let mut guarded = ServiceBuilder::new()
            .layer(DeadlineLayer::new(deadline, 1024))
            .layer(SheddingLayer::new(0, 1024))
            .service(never);
        for _ in 0..20 {
            let started = tokio::time::Instant::now();
            let request = Request::new(Body::new(Stalled));
            let response = guarded
                .ready()
                .await
                .expect("ready")
                .call(request)
                .await
                .expect("answer");
            assert_eq!(status_code(response.headers()), Some(Code::ResourceExhausted));
            let took = started.elapsed();
            assert!(took >= deadline && took < DRAIN_TIMEOUT, "{took:?}");
        }
    }
}
