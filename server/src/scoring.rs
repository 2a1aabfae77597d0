//! Scores and reasons from a [`ServingPair`], independent of gRPC.
//!
//! Customers in the snapshot are scored from the rows the pair encoded when it was built, so a request
//! costs one model evaluation (and one contribution pass when reasons are asked for). Reasons follow
//! `churn_models::Explanation::top_reasons`: the features with a positive contribution, largest first,
//! one-hot columns summed back to their feature.

use crate::error::ServeError;
use crate::snapshot::Descriptor;
use crate::state::ServingPair;
use chrono::NaiveDate;
use churn_features::ColumnValues;
use churn_models::{ChurnModel, FeatureRow, FeatureValue};
use rayon::prelude::*;

/// Batches at least this long are scored on the blocking pool, in parallel.
pub const PARALLEL_BATCH: usize = 64;

/// One customer's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The customer id (empty for caller-supplied features).
    pub customer_id: String,
    /// Churn probability.
    pub probability: f64,
    /// Name of the model's risk band holding the probability.
    pub risk_band: String,
    /// Whether the probability reaches the model's threshold.
    pub above_threshold: bool,
    /// Features raising the risk most, largest contribution first.
    pub reasons: Vec<ScoreReason>,
    /// `lifecycle_stage` from the snapshot.
    pub lifecycle_stage: Option<String>,
    /// `rfm_segment` from the snapshot.
    pub rfm_segment: Option<String>,
    /// `value_tier` from the snapshot.
    pub value_tier: Option<String>,
    /// As-of date of the customer's features.
    pub as_of: Option<NaiveDate>,
}

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreReason {
    /// The feature.
    pub feature: String,
    /// The customer's value, as text (`missing` when unknown).
    pub value: String,
    /// How much it raises the risk, on the model's contribution scale.
    pub contribution: f64,
}

impl ServingPair {
    /// Scores the customer `customer_id` of the snapshot with up to `reasons` reasons.
    pub fn score_customer(&self, customer_id: &str, reasons: usize) -> Result<Score, ServeError> {
        if customer_id.is_empty() {
            return Err(ServeError::InvalidArgument("customer_id is empty".into()));
        }
        let entry = self
            .snapshot
            .lookup(customer_id)
            .ok_or_else(|| ServeError::CustomerNotFound(customer_id.to_string()))?;
        Ok(self.score_entry(entry, customer_id, reasons))
    }

    /// Scores many customers; each id gets its own result, in order. Long batches use every core.
    pub fn score_customers(&self, customer_ids: &[String], reasons: usize) -> Vec<Result<Score, ServeError>> {
        if customer_ids.len() >= PARALLEL_BATCH {
            customer_ids
                .par_iter()
                .with_min_len(PARALLEL_BATCH / 2)
                .map(|id| self.score_customer(id, reasons))
                .collect()
        } else {
            customer_ids
                .iter()
                .map(|id| self.score_customer(id, reasons))
                .collect()
        }
    }

    /// Scores the snapshot entry `entry`.
    fn score_entry(&self, entry: usize, customer_id: &str, reasons: usize) -> Score {
        let x = self.encoded.row(entry);
        let probability = self.model.artifact.model.predict_encoded_row(x);
        let row = self.snapshot.table_row(entry);
        let reasons = self.top_reasons(x, reasons, |feature| self.snapshot_value(feature, row));
        let descriptor = |which| self.snapshot.descriptor(entry, which).map(str::to_string);
        Score {
            customer_id: customer_id.to_string(),
            probability,
            risk_band: self.model.risk_bands().band(probability).to_string(),
            above_threshold: probability >= self.model.threshold(),
            reasons,
            lifecycle_stage: descriptor(Descriptor::LifecycleStage),
            rfm_segment: descriptor(Descriptor::RfmSegment),
            value_tier: descriptor(Descriptor::ValueTier),
            as_of: self.snapshot.customer_as_of(entry),
        }
    }

    /// Scores a customer described by `features` (feature name → value) with up to `reasons` reasons.
    /// Every feature of the model's schema must be present, no other name may be, and numbers must be
    /// finite; each violation is reported with every feature name it concerns.
    pub fn score_features(&self, features: &FeatureRow, reasons: usize) -> Result<Score, ServeError> {
        let schema = self.model.schema();
        let mut unknown: Vec<&str> = features
            .keys()
            .map(String::as_str)
            .filter(|name| !schema.features.iter().any(|f| f.name == *name))
            .collect();
        unknown.sort_unstable();
        if !unknown.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "unknown features (not used by model {}@{}): {}",
                self.model.name,
                self.model.version,
                quoted(&unknown)
            )));
        }
        let missing: Vec<&str> = schema
            .feature_names()
            .filter(|name| !features.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "missing features (send `missing: true` for an unknown value): {}",
                quoted(&missing)
            )));
        }
        let non_finite: Vec<&str> = schema
            .feature_names()
            .filter(|name| matches!(features.get(*name), Some(FeatureValue::Number(v)) if !v.is_finite()))
            .collect();
        if !non_finite.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "non-finite values (NaN or infinite; send `missing: true` for an unknown value): {}",
                quoted(&non_finite)
            )));
        }
        let x = schema.encode_row(features)?;
        let probability = self.model.artifact.model.predict_encoded_row(&x);
        let reasons = self.top_reasons(&x, reasons, |feature| {
            features
                .get(&schema.features[feature].name)
                .cloned()
                .unwrap_or(FeatureValue::Missing)
        });
        Ok(Score {
            customer_id: String::new(),
            probability,
            risk_band: self.model.risk_bands().band(probability).to_string(),
            above_threshold: probability >= self.model.threshold(),
            reasons,
            lifecycle_stage: None,
            rfm_segment: None,
            value_tier: None,
            as_of: None,
        })
    }

    /// Up to `k` features with a positive contribution for the encoded row `x`, largest first (ties in
    /// schema order); `value(feature)` gives the raw value shown with a reason.
    fn top_reasons(&self, x: &[f64], k: usize, value: impl Fn(usize) -> FeatureValue) -> Vec<ScoreReason> {
        if k == 0 {
            return Vec::new();
        }
        let schema = self.model.schema();
        let (_, per_column) = self.model.artifact.model.contributions_encoded(x);
        let mut per_feature = vec![0.0; schema.features.len()];
        for (contribution, &feature) in per_column.iter().zip(&self.column_features) {
            per_feature[feature] += contribution;
        }
        let mut order: Vec<usize> = (0..per_feature.len()).filter(|&f| per_feature[f] > 0.0).collect();
        order.sort_by(|&a, &b| per_feature[b].total_cmp(&per_feature[a]));
        order.truncate(k);
        order
            .into_iter()
            .map(|feature| ScoreReason {
                feature: schema.features[feature].name.clone(),
                value: value(feature).to_string(),
                contribution: per_feature[feature],
            })
            .collect()
    }

    /// The raw snapshot value of model feature `feature` at table row `row`.
    fn snapshot_value(&self, feature: usize, row: usize) -> FeatureValue {
        match &self.snapshot.table.columns[self.feature_columns[feature]].values {
            ColumnValues::Numeric(values) => values[row].into(),
            ColumnValues::Categorical(values) => values[row]
                .as_deref()
                .map_or(FeatureValue::Missing, FeatureValue::from),
        }
    }
}

/// `a`, `b`, `c` with backquotes, for messages.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
