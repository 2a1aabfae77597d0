//! The errors a request can meet, and the one place they become gRPC status codes.
//!
//! Messages of client errors (bad arguments, unknown customers) go back to the caller as they are: they
//! only repeat what the caller sent and name features. Internal errors (unreadable files, bugs) are logged
//! in full and answered with a generic message, so no path or internal detail leaks to clients.

use churn_models::ModelError;
use tonic::{Code, Status};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request is malformed: an empty id, too many ids, missing, unknown or non-finite features.
    #[error("{0}")]
    InvalidArgument(String),
    /// The customer id is not in the feature snapshot. Holds the id as the caller sent it: the message
    /// goes back to the caller, and must never be logged (log [`crate::redact::IdHasher`] hashes instead).
    #[error("customer `{0}` is not in the feature snapshot")]
    CustomerNotFound(String),
    /// No model and snapshot are loaded yet.
    #[error("{0}")]
    Unavailable(String),
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
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::CustomerNotFound(_) => Code::NotFound,
            Self::Unavailable(_) => Code::Unavailable,
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
    }
}
