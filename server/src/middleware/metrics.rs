//! Request metrics: every call is counted by method and final status, timed until its status is sent,
//! and counted in flight while it runs, refused calls included.

use super::{CallFuture, named_layer_service, status_code};
use crate::metrics::Metrics;
use http::{Request, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::Code;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tower::{Layer, Service};

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

/// Records every call in [`Metrics`].
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    /// Records calls in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = RecordCalls<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordCalls {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// A service whose calls are recorded (see [`MetricsLayer`]).
#[derive(Clone)]
pub struct RecordCalls<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

named_layer_service!(RecordCalls);

impl<S> Service<Request<Body>> for RecordCalls<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let call = CallRecord::start(self.metrics.clone(), method_label(request.uri().path()));
        let response = self.inner.call(request);
        Box::pin(async move { Ok(call.attach(response.await?)) })
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

/// One call's metrics. It records the call exactly once: when its status is known, or as CANCELLED if
/// it is dropped before (the client went away).
struct CallRecord {
    metrics: Arc<Metrics>,
    method: &'static str,
    started: Instant,
    finished: bool,
}

impl CallRecord {
    fn start(metrics: Arc<Metrics>, method: &'static str) -> Self {
        metrics.call_started();
        Self {
            metrics,
            method,
            started: Instant::now(),
            finished: false,
        }
    }

    fn finish(&mut self, code: Code) {
        if !self.finished {
            self.finished = true;
            self.metrics
                .call_finished(self.method, code, self.started.elapsed().as_secs_f64());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
