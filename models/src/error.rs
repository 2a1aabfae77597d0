//! Errors of the models crate. Every variant says what was wrong and, where it applies, which feature,
//! file or version it is about, so a caller can show it to a person as is.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// What went wrong while training, scoring, saving or loading a churn model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The training rows cannot produce a model (no labelled rows, a single class, no usable feature...).
    #[error("cannot train: {0}")]
    Training(String),
    /// A hyperparameter is out of its domain.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why the value was rejected.
        reason: String,
    },
    /// A feature the model needs is absent from the input.
    #[error("feature `{feature}` is required by the model but missing from the input")]
    MissingFeature {
        /// The feature's name.
        feature: String,
    },
    /// A feature has a different type than the model was trained with.
    #[error("feature `{feature}` must be {expected} (as in training) but the input has {found}")]
    WrongFeatureType {
        /// The feature's name.
        feature: String,
        /// The type the model expects.
        expected: &'static str,
        /// The type found in the input.
        found: &'static str,
    },
    /// A numeric feature holds NaN or an infinity.
    #[error(
        "feature `{feature}` holds a non-finite value ({value}) at row {row}: use null for a missing value"
    )]
    NonFiniteValue {
        /// The feature's name.
        feature: String,
        /// The row, counting from 0.
        row: usize,
        /// The value, as text.
        value: String,
    },
    /// The input has a different number of values than expected.
    #[error("{what}: expected {expected} values, got {found}")]
    LengthMismatch {
        /// Which input.
        what: String,
        /// The number expected.
        expected: usize,
        /// The number found.
        found: usize,
    },
    /// A metric cannot be computed from these labels and scores.
    #[error("cannot compute metrics: {0}")]
    Metrics(String),
    /// The artifact cannot be used: corrupt, truncated, from an unknown format version or mismatched.
    #[error("model artifact {path}: {reason}")]
    InvalidArtifact {
        /// The artifact file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The artifact was written by a newer, unknown format version.
    #[error(
        "model artifact {path}: format version {found} is newer than the supported version {supported}; upgrade churn-models to load it"
    )]
    UnsupportedFormatVersion {
        /// The artifact file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The registry has no such model, version or promotion.
    #[error("{0}")]
    NotFound(String),
    /// A model was named without a version, which means its promoted version, and none is promoted.
    #[error(
        "model `{name}` has no promoted version, and a name without a version means the promoted one \
         (its versions: {}); promote one (churn-trainer models promote {name}@{} --registry {}) or name \
         a version ({name}@{})",
        versions.join(", "),
        versions.last().map_or("v1", String::as_str),
        registry.display(),
        versions.last().map_or("v1", String::as_str)
    )]
    NotPromoted {
        /// The model's name.
        name: String,
        /// The registry directory.
        registry: PathBuf,
        /// The model's versions, oldest first (at least one).
        versions: Vec<String>,
    },
    /// A registry name or version is not acceptable.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName {
        /// `model name` or `version`.
        what: &'static str,
        /// The rejected text.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The model configuration file is invalid.
    #[error("invalid model configuration {path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// Which section or field is wrong, and why.
        reason: String,
    },
    /// The column a call list takes customers' value from cannot be used.
    #[error("value column `{column}`: {reason}")]
    InvalidValueColumn {
        /// The column asked for.
        column: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Scores could not be laid out as an Arrow record batch.
    #[error("cannot lay out the scores: {0}")]
    Batch(#[from] arrow_schema::ArrowError),
    /// A population rule needs a column that the feature table lacks or holds with another type.
    #[error("population rule `{rule}` needs the {expected} column `{column}`, {problem}")]
    PopulationColumn {
        /// The rule, as the `[population]` section spells it.
        rule: &'static str,
        /// The column it reads.
        column: &'static str,
        /// `numeric` or `category`.
        expected: &'static str,
        /// What is wrong with the table.
        problem: String,
    },
    /// Writing an output failed or was refused (see `churn_features::output`).
    #[error(transparent)]
    Output(Box<churn_features::FeatureError>),
    /// A table cannot be compared with a model's training distributions.
    #[error("cannot measure drift: {0}")]
    Drift(String),
    /// JSON could not be produced.
    #[error("cannot serialise {what}: {source}")]
    Serialise {
        /// What was being written.
        what: &'static str,
        /// The serialiser's error.
        source: serde_json::Error,
    },
}

impl From<churn_features::FeatureError> for ModelError {
    fn from(error: churn_features::FeatureError) -> Self {
        Self::Output(Box::new(error))
    }
}

impl ModelError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An invalid-artifact error about `path`.
    pub(crate) fn artifact(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::InvalidArtifact {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
