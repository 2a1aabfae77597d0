//! Class weights, shared by every kind that weighs rows by their label.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};

/// How much each class counts in training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row counts once.
    #[default]
    None,
    /// Classes weighted inversely to their frequency (`n / (2 · n_class)`), as scikit-learn's
    /// `class_weight="balanced"`.
    Balanced,
    /// Explicit weights.
    Custom {
        /// Weight of label 0 (stayed).
        negative: f64,
        /// Weight of label 1 (churned).
        positive: f64,
    },
}

impl ClassWeight {
    /// The (negative, positive) weights for labels with `positives` ones among `rows`.
    pub fn weights(&self, rows: usize, positives: usize) -> (f64, f64) {
        match *self {
            Self::None => (1.0, 1.0),
            Self::Balanced => (
                rows as f64 / (2.0 * (rows - positives).max(1) as f64),
                rows as f64 / (2.0 * positives.max(1) as f64),
            ),
            Self::Custom { negative, positive } => (negative, positive),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Self::Custom { negative, positive } = *self
            && !(negative.is_finite() && positive.is_finite() && negative > 0.0 && positive > 0.0)
        {
            return Err(ModelError::InvalidParameter {
                name: "class_weight",
                reason: format!("weights must be finite and positive, got {negative} and {positive}"),
            });
        }
        Ok(())
    }
}
