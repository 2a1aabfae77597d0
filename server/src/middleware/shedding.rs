//! Load shedding: at most `max_concurrent_requests` calls run at once; a call beyond that ends at once
//! with RESOURCE_EXHAUSTED rather than waiting in an unbounded queue. A call holds its slot until its
//! response has been sent, and, when it handed work to another thread, until that work has ended (see
//! [`CallSlot`]).

use super::deadline::CallDeadline;
use super::{CallFuture, DRAIN_TIMEOUT, guard_layer, refuse, status_code};
use crate::error::ServeError;
use http::{Request, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tower::Service;

/// A share of a call's concurrency slot, found in the request's extensions. The slot is freed when the
/// call's response has been sent and every share is dropped.
#[derive(Debug, Clone)]
pub struct CallSlot {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Refuses calls beyond a number in progress; the services it wraps share its slots.
#[derive(Debug, Clone)]
pub struct SheddingLayer {
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
    max_message_bytes: usize,
}

impl SheddingLayer {
    /// At most `max_concurrent_requests` calls at once; the body of a refused call is read up to a
    /// message of `max_message_bytes`.
    pub fn new(max_concurrent_requests: usize, max_message_bytes: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent_requests)),
            max_concurrent_requests,
            max_message_bytes,
        }
    }
}

guard_layer!(
    SheddingLayer,
    /// A service whose calls take a slot or are refused (see [`SheddingLayer`]).
    ShedLoad
);

impl<S> ShedLoad<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    /// The call, refused or passed on to the inner service.
    fn guard(&mut self, mut request: Request<Body>) -> CallFuture {
        let Ok(permit) = self.layer.permits.clone().try_acquire_owned() else {
            let error = ServeError::Overloaded(format!(
                "the server is at its limit of {} calls in progress; retry with backoff",
                self.layer.max_concurrent_requests
            ));
            // Shed at once: the body is read for no longer than the call's deadline.
            let mut until = Instant::now() + DRAIN_TIMEOUT;
            if let Some(CallDeadline(deadline)) = request.extensions().get::<CallDeadline>() {
                until = until.min(*deadline);
            }
            return Box::pin(refuse(request, self.layer.max_message_bytes, until, error));
        };
        let slot = CallSlot {
            _permit: Arc::new(permit),
        };
        request.extensions_mut().insert(slot.clone());
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            // A trailers-only response is complete; otherwise the slot goes out with the body.
            if status_code(response.headers()).is_some() || http_body::Body::is_end_stream(response.body()) {
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(SlotBody {
                    inner: body,
                    slot: Some(slot),
                })
            }))
        })
    }
}

/// A response body that holds its call's slot until the body has ended.
struct SlotBody {
    inner: Body,
    slot: Option<CallSlot>,
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.is_trailers(),
            Poll::Ready(Some(Err(_)) | None) => true,
            Poll::Pending => false,
        };
        if ended {
            self.slot = None;
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
