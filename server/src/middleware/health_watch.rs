//! Health `Watch` streams that end when the server's listener closes.

use crate::error::ServeError;
use http::{HeaderMap, Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::server::NamedService;
use tower::Service;

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
            let status = Status::from(ServeError::Unavailable("server shutting down".into()));
            // A status of a code and a plain message always fits in headers.
            let _ = status.add_header(&mut trailers);
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}
