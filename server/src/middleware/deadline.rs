//! Deadlines: a call runs for at most the shorter of the client's deadline (`grpc-timeout`) and the
//! server's `request_timeout`, then ends with DEADLINE_EXCEEDED; a call whose deadline has already passed
//! is not started. The call's deadline goes into the request's extensions as a [`CallDeadline`], so the
//! layers inside finish their own refusals before it.

use super::{CallFuture, DRAIN_TIMEOUT, guard_layer, refuse};
use crate::error::ServeError;
use http::{HeaderMap, Request, Response};
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;
use tonic::Status;
use tonic::body::Body;
use tower::Service;

/// When a call must have ended, found in its request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline(pub Instant);

/// Ends calls at their deadline.
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    request_timeout: Duration,
    max_message_bytes: usize,
}

impl DeadlineLayer {
    /// Calls run for at most `request_timeout` (a shorter client deadline wins); the body of a refused
    /// call is read up to a message of `max_message_bytes`.
    pub fn new(request_timeout: Duration, max_message_bytes: usize) -> Self {
        Self {
            request_timeout,
            max_message_bytes,
        }
    }
}

guard_layer!(
    DeadlineLayer,
    /// A service whose calls end at their deadline (see [`DeadlineLayer`]).
    EnforceDeadline
);

impl<S> EnforceDeadline<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    /// The call, refused or passed on to the inner service.
    fn guard(&mut self, mut request: Request<Body>) -> CallFuture {
        let now = Instant::now();
        let max_message_bytes = self.layer.max_message_bytes;
        let refuse_now = |request: Request<Body>, error: ServeError| -> CallFuture {
            Box::pin(refuse(request, max_message_bytes, now + DRAIN_TIMEOUT, error))
        };
        let timeout = match client_timeout(request.headers()) {
            Ok(Some(client)) => client.min(self.layer.request_timeout),
            Ok(None) => self.layer.request_timeout,
            Err(()) => {
                let error = ServeError::InvalidArgument("malformed grpc-timeout header".into());
                return refuse_now(request, error);
            }
        };
        if timeout.is_zero() {
            let error =
                ServeError::DeadlineExceeded("the call's deadline had passed before it started".into());
            return refuse_now(request, error);
        }
        let deadline = now + timeout;
        request.extensions_mut().insert(CallDeadline(deadline));
        let call = self.inner.call(request);
        Box::pin(async move {
            // The call is polled before the timer, so a refusal ending at the deadline itself wins.
            match tokio::time::timeout_at(deadline, call).await {
                Ok(response) => response,
                Err(_elapsed) => Ok(Status::from(ServeError::DeadlineExceeded(format!(
                    "the call did not finish within its deadline of {timeout:?}"
                )))
                .into_http()),
            }
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        let parse = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", HeaderValue::from_str(value).expect("header"));
            client_timeout(&headers)
        };
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
}
