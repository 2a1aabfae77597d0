//! The errors a request can meet, and the one place they become gRPC status codes.
//!
//! Messages of client errors (bad arguments, unknown customers) go back to the caller as they are. They
//! quote at most [`QUOTE_CHARS`] characters of anything the caller sent ([`excerpt`]) and at most
//! [`QUOTE_NAMES`] names of a list ([`name_list`]): a status message travels in an HTTP/2 trailer, and
//! clients refuse trailers beyond a few KiB, so a long message would reach the caller as a transport
//! error instead of its status. Internal errors (unreadable files, bugs) are logged in full and answered
//! with a generic message, so no path or internal detail leaks to clients.

use churn_models::ModelError;
use tonic::{Code, Status};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request is malformed: an empty id, too many ids, missing, unknown or non-finite features.
    #[error("{0}")]
    InvalidArgument(String),
    /// The customer id is not in the feature snapshot. Holds the id as the caller sent it: the message
    /// (which quotes its start) goes back to the caller, and must never be logged (log
    /// [`crate::redact::IdHasher`] hashes instead).
    #[error("customer {} is not in the feature snapshot", excerpt(.0))]
    CustomerNotFound(String),
    /// The request names a model or model version this server does not serve (the Open Inference
    /// Protocol names the model in every request).
    #[error("{0}")]
    ModelNotFound(String),
    /// The request's bytes are not a valid protobuf message of the method's request type.
    #[error("the request is not a valid protobuf message: {0}")]
    Undecodable(String),
    /// The answer would be larger than the largest message the server sends (and a client with the same
    /// limit accepts); the caller should ask for less.
    #[error(
        "the answer would be {bytes} bytes, above the limit of {limit} bytes per message; \
         ask for fewer customer ids or fewer reasons"
    )]
    AnswerTooLarge {
        /// Encoded size of the answer.
        bytes: usize,
        /// The server's `max_message_bytes`.
        limit: usize,
    },
    /// The request needs a kind of model other than the one served (a survival curve from a model that
    /// is not a survival model).
    #[error("{0}")]
    WrongModelKind(String),
    /// The server is at a capacity limit; the caller should retry later, with backoff.
    #[error("{0}")]
    Overloaded(String),
    /// No model and snapshot are loaded yet, or the server is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// The call lacks the bearer token the server requires.
    #[error("{0}")]
    Unauthenticated(String),
    /// The call's deadline passed before it was answered.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The model refused the input or failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Something failed inside the server.
    #[error("{0}")]
    Internal(String),
}

/// The message internal errors are answered with.
const INTERNAL_MESSAGE: &str = "internal error; the server log has the details";

impl ServeError {
    /// The gRPC status code of this error.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) | Self::Undecodable(_) | Self::AnswerTooLarge { .. } => {
                Code::InvalidArgument
            }
            Self::CustomerNotFound(_) | Self::ModelNotFound(_) => Code::NotFound,
            Self::WrongModelKind(_) => Code::FailedPrecondition,
            Self::Overloaded(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Self::Model(error) if is_input_error(error) => Code::InvalidArgument,
            Self::Model(_) | Self::Internal(_) => Code::Internal,
        }
    }

    /// The message for the caller: the error's text for client errors, a generic text for internal ones.
    pub fn client_message(&self) -> String {
        match self.code() {
            Code::Internal => INTERNAL_MESSAGE.to_string(),
            _ => self.to_string(),
        }
    }
}

/// Most characters of request data a message quotes.
pub const QUOTE_CHARS: usize = 32;

/// Most names of a list a message quotes.
pub const QUOTE_NAMES: usize = 3;

/// `text` in backquotes for a message, cut to its first [`QUOTE_CHARS`] characters (then followed by
/// `...` and its length in bytes).
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => format!("`{text}`"),
        Some((end, _)) => format!("`{}`... ({} bytes)", &text[..end], text.len()),
    }
}

/// `3 unknown features: `a`, `b`, `c`` for a message: how many `names` there are, what they are
/// (`what`, a plural), and the first [`QUOTE_NAMES`] of them, each an [`excerpt`], then `...` when there
/// are more.
pub fn name_list(what: &str, names: &[&str]) -> String {
    let mut quoted: Vec<String> = names.iter().take(QUOTE_NAMES).map(|name| excerpt(name)).collect();
    if names.len() > QUOTE_NAMES {
        quoted.push("...".to_string());
    }
    format!("{} {what}: {}", thousands(names.len()), quoted.join(", "))
}

/// `12,345` for 12345.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// True when the model rejected its input (the caller's fault), rather than failing by itself.
fn is_input_error(error: &ModelError) -> bool {
    matches!(
        error,
        ModelError::MissingFeature { .. }
            | ModelError::WrongFeatureType { .. }
            | ModelError::NonFiniteValue { .. }
            | ModelError::LengthMismatch { .. }
    )
}

impl From<ServeError> for Status {
    fn from(error: ServeError) -> Self {
        let code = error.code();
        if code == Code::Internal {
            tracing::error!(error = %error, "request failed with an internal error");
        }
        Status::new(code, error.client_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn client_errors_keep_their_message_and_internal_ones_hide_it() {
        let status = Status::from(ServeError::InvalidArgument("customer_id is empty".into()));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "customer_id is empty");

        let status = Status::from(ServeError::CustomerNotFound("42".into()));
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().contains("`42`"));

        let status = Status::from(ServeError::ModelNotFound("model `x` is not served".into()));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "model `x` is not served");

        let status = Status::from(ServeError::Unavailable("no model loaded".into()));
        assert_eq!(status.code(), Code::Unavailable);

        let status = Status::from(ServeError::Model(ModelError::MissingFeature {
            feature: "tenure_days".into(),
        }));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("tenure_days"));

        let io = ModelError::Io {
            path: PathBuf::from("/secret/registry/churn/v3/model.json"),
            source: std::io::Error::other("disk on fire"),
        };
        let status = Status::from(ServeError::Model(io));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/secret"), "{}", status.message());
        let status = Status::from(ServeError::Internal("panic in /src/x.rs".into()));
        assert_eq!(status.message(), INTERNAL_MESSAGE);

        let status = Status::from(ServeError::Undecodable("invalid wire type".into()));
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = Status::from(ServeError::AnswerTooLarge { bytes: 10, limit: 5 });
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = Status::from(ServeError::Overloaded("full".into()));
        assert_eq!(status.code(), Code::ResourceExhausted);
        let status = Status::from(ServeError::Unauthenticated("no token".into()));
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unauthenticated, "no token")
        );
        let status = Status::from(ServeError::DeadlineExceeded("too late".into()));
        assert_eq!(
            (status.code(), status.message()),
            (Code::DeadlineExceeded, "too late")
        );
    }

    #[test]
    fn messages_quote_a_prefix_of_request_data_and_a_few_names() {
        let long = "x".repeat(20_000);
        let status = Status::from(ServeError::CustomerNotFound(long.clone()));
        assert_eq!(
            status.message(),
            format!(
                "customer `{}`... (20000 bytes) is not in the feature snapshot",
                "x".repeat(32)
            )
        );
        assert_eq!(excerpt("C42"), "`C42`");
        // Cut at a character boundary.
        assert_eq!(
            excerpt(&"é".repeat(40)),
            format!("`{}`... (80 bytes)", "é".repeat(32))
        );

        let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            name_list("unknown features", &names),
            "1,000 unknown features: `f0`, `f1`, `f2`, ..."
        );
        assert_eq!(name_list("missing features", &["a"]), "1 missing features: `a`");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
