//! Authentication: with a token configured, a call without `authorization: Bearer <token>` ends with
//! UNAUTHENTICATED before it uses any capacity. The scheme's name is matched in any case, as HTTP
//! authentication schemes are (RFC 7235, section 2.1); the token exactly, in constant time.

use super::{CallFuture, DRAIN_TIMEOUT, guard_layer, refuse};
use crate::error::ServeError;
use http::{HeaderMap, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::time::Instant;
use tonic::body::Body;
use tower::Service;

/// Refuses calls without the bearer token.
#[derive(Clone)]
pub struct AuthLayer {
    /// The token; `None` accepts every call.
    expected: Option<Arc<[u8]>>,
    max_message_bytes: usize,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticated", &self.expected.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Calls must carry `token` (`None`: every call is accepted); the body of a refused call is read up
    /// to a message of `max_message_bytes`.
    pub fn new(token: Option<&str>, max_message_bytes: usize) -> Self {
        Self {
            expected: token.map(|token| Arc::from(token.as_bytes())),
            max_message_bytes,
        }
    }
}

guard_layer!(
    AuthLayer,
    /// A service whose calls must carry the bearer token (see [`AuthLayer`]).
    Authenticate
);

impl<S> Authenticate<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    /// The call, refused or passed on to the inner service.
    fn guard(&mut self, request: Request<Body>) -> CallFuture {
        match &self.layer.expected {
            Some(expected) if !authorized(request.headers(), expected) => {
                let error = ServeError::Unauthenticated(
                    "missing or invalid bearer token (send `authorization: Bearer <token>`)".into(),
                );
                let until = Instant::now() + DRAIN_TIMEOUT;
                Box::pin(refuse(request, self.layer.max_message_bytes, until, error))
            }
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

/// True when the `authorization` header is `Bearer` (in any case), one or more spaces and the token
/// `expected`, the token compared in constant time.
fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    const SCHEME: &[u8] = b"bearer ";
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return false;
    };
    let Some((scheme, token)) = value.as_bytes().split_at_checked(SCHEME.len()) else {
        return false;
    };
    let token = token.trim_ascii_start();
    scheme.eq_ignore_ascii_case(SCHEME)
        && token.len() == expected.len()
        && token.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tokens_must_match_exactly_and_the_scheme_in_any_case() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", HeaderValue::from_str(value).expect("header"));
            headers
        };
        let expected = b"s3cret";
        assert!(authorized(&headers("Bearer s3cret"), expected));
        assert!(authorized(&headers("bearer s3cret"), expected));
        assert!(authorized(&headers("BEARER s3cret"), expected));
        assert!(!authorized(&headers("Bearer s3cre"), expected));
        assert!(!authorized(&headers("Bearer s3creT"), expected));
        assert!(authorized(&headers("Bearer  s3cret"), expected));
        assert!(!authorized(&headers("Bearer s3cret "), expected));
        assert!(!authorized(&headers("Basic s3cret"), expected));
        assert!(!authorized(&headers("s3cret"), expected));
        assert!(!authorized(&HeaderMap::new(), expected));
    }
}
