//! Scores and reasons from a [`ServingPair`], independent of gRPC.
//!
//! Customers in the snapshot are scored from the rows the pair encoded when it was built, so a request
//! costs one model evaluation. Probabilities, bands and reasons come from `churn_models::Scorer`, the
//! scoring path `churn-trainer score` also uses, so the results equal its.

use crate::error::{ServeError, excerpt, name_list, thousands};
use crate::pair::ServingPair;
use crate::snapshot::Descriptor;
use chrono::NaiveDate;
use churn_models::{ChurnModel, CustomerValue, FeatureRow, FeatureValue, SurvivalScore, UnknownCategories};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Batches at least this long are scored on the blocking pool, in parallel.
pub const PARALLEL_BATCH: usize = 64;

/// Longest customer id accepted, in bytes. Longer ids are refused with INVALID_ARGUMENT before any
/// lookup: no snapshot holds them, and a batch echoes every id in its answer.
pub const MAX_CUSTOMER_ID_BYTES: usize = 256;

/// A cancellable batch is scored in chunks of this many ids, and checks between chunks whether it was
/// cancelled: large enough to keep every core busy, small enough to stop within milliseconds.
pub const CANCEL_CHUNK: usize = 512;

/// Most days a survival curve is asked at in one call.
pub const MAX_CURVE_DAYS: usize = 1_000;

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
    /// The customer's lifetime value and P(alive) from the snapshot.
    pub value: CustomerValue,
    /// Churn within 30/60/90 days and expected active days, for survival models.
    pub survival: Option<SurvivalScore>,
    /// Whether the customer is in the model's population (`None`: the model is for everyone, or it
    /// cannot be told).
    pub in_population: Option<bool>,
}

/// One reason's part in a score (a group of features).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreReason {
    /// The feature.
    pub feature: String,
    /// The customer's value, as text (`missing` when unknown).
    pub value: String,
    /// How much it raises the risk, on the model's contribution scale (summed over its group).
    pub contribution: f64,
    /// The group of features the reason stands for, e.g. `frequency and spend`.
    pub group: String,
    /// The reason in words.
    pub text: String,
}

impl ServingPair {
    /// Scores the customer `customer_id` of the snapshot with up to `reasons` reasons.
    pub fn score_customer(&self, customer_id: &str, reasons: usize) -> Result<Score, ServeError> {
        let entry = self.locate(customer_id)?;
        let (probability, reasons) = self.compute(entry, reasons);
        Ok(self.snapshot_score(entry, customer_id, probability, reasons))
    }

    /// Scores many customers; each id gets its own result, in order. Batches of at least
    /// [`PARALLEL_BATCH`] known ids are evaluated together, which lets a forest walk each tree for many
    /// customers while it is in cache, and uses every core.
    pub fn score_customers(&self, customer_ids: &[String], reasons: usize) -> Vec<Result<Score, ServeError>> {
        let located: Vec<Result<usize, ServeError>> = customer_ids.iter().map(|id| self.locate(id)).collect();
        let entries: Vec<usize> = located
            .iter()
            .filter_map(|entry| entry.as_ref().ok().copied())
            .collect();
        let parallel = entries.len() >= PARALLEL_BATCH;
        let computed = if parallel {
            self.compute_batch(&entries, reasons)
        } else {
            entries
                .iter()
                .map(|&entry| self.compute(entry, reasons))
                .collect()
        };
        // A located customer with its probability and reasons, or why it was not found.
        type Prepared = Result<(usize, f64, Vec<ScoreReason>), ServeError>;
        let mut computed = computed.into_iter();
        let prepared: Vec<Prepared> = located
            .into_iter()
            .map(|entry| {
                entry.map(|entry| {
                    let (probability, reasons) = computed.next().expect("one result per located entry");
                    (entry, probability, reasons)
                })
            })
            .collect();
        let finish = |(prepared, id): (Prepared, &String)| {
            prepared.map(|(entry, probability, reasons)| self.snapshot_score(entry, id, probability, reasons))
        };
        if parallel {
            prepared
                .into_par_iter()
                .zip(customer_ids)
                .with_min_len(PARALLEL_BATCH / 2)
                .map(finish)
                .collect()
        } else {
            prepared.into_iter().zip(customer_ids).map(finish).collect()
        }
    }

    /// [`ServingPair::score_customers`] in chunks of [`CANCEL_CHUNK`] ids, checking `cancelled` before
    /// each: `None` when it was set, and then no more work is done.
    pub fn score_customers_until(
        &self,
        customer_ids: &[String],
        reasons: usize,
        cancelled: &AtomicBool,
    ) -> Option<Vec<Result<Score, ServeError>>> {
        let mut scores = Vec::with_capacity(customer_ids.len());
        for chunk in customer_ids.chunks(CANCEL_CHUNK) {
            if cancelled.load(Ordering::Relaxed) {
                return None;
            }
            scores.extend(self.score_customers(chunk, reasons));
        }
        Some(scores)
    }

    /// The snapshot entry of `customer_id`.
    fn locate(&self, customer_id: &str) -> Result<usize, ServeError> {
        check_customer_id(customer_id)?;
        self.snapshot
            .lookup(customer_id)
            .ok_or_else(|| ServeError::CustomerNotFound(customer_id.to_string()))
    }

    /// Probability and reasons of one snapshot entry.
    fn compute(&self, entry: usize, reasons: usize) -> (f64, Vec<ScoreReason>) {
        if reasons > 0 {
            load_into_cache(self.values.row(entry));
        }
        let score = self
            .model
            .scorer()
            .score_encoded_row(self.encoded.row(entry), reasons, |feature| {
                self.snapshot_value(feature, entry)
            });
        (score.probability, score_reasons(score.reasons))
    }

    /// Probability and reasons of many snapshot entries, evaluated as one matrix.
    fn compute_batch(&self, entries: &[usize], reasons: usize) -> Vec<(f64, Vec<ScoreReason>)> {
        let x = self.encoded.select_rows(entries);
        self.model
            .scorer()
            .score_encoded(&x, reasons, |i, feature| self.snapshot_value(feature, entries[i]))
            .into_iter()
            .map(|score| (score.probability, score_reasons(score.reasons)))
            .collect()
    }

    /// A snapshot customer's score from its probability and reasons.
    fn snapshot_score(
        &self,
        entry: usize,
        customer_id: &str,
        probability: f64,
        reasons: Vec<ScoreReason>,
    ) -> Score {
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
            value: self.snapshot.customer_value(entry),
            survival: self.survival(self.encoded.row(entry)),
            in_population: self.in_population.as_ref().map(|mask| mask[entry]),
        }
    }

    /// Scores a customer described by `features` (feature name → value) with up to `reasons` reasons,
    /// and returns with the score the category values the model has no level for (scored, but worth
    /// telling the caller: a typo changes the score). Every feature of the model's schema must be
    /// present, no other name may be, and numbers must be finite; each violation is reported with every
    /// feature name it concerns.
    pub fn score_features(
        &self,
        features: &FeatureRow,
        reasons: usize,
    ) -> Result<(Score, UnknownCategories), ServeError> {
        let schema = self.model.schema();
        let mut unknown: Vec<&str> = features
            .keys()
            .map(String::as_str)
            .filter(|name| !schema.features.iter().any(|f| f.name == *name))
            .collect();
        unknown.sort_unstable();
        if !unknown.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "{} (not used by model {}@{})",
                name_list("unknown features", &unknown),
                self.model.name,
                self.model.version,
            )));
        }
        let missing: Vec<&str> = schema
            .feature_names()
            .filter(|name| !features.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "{} (send `missing: true` for an unknown value)",
                name_list("missing features", &missing)
            )));
        }
        let non_finite: Vec<&str> = schema
            .feature_names()
            .filter(|name| matches!(features.get(*name), Some(FeatureValue::Number(v)) if !v.is_finite()))
            .collect();
        if !non_finite.is_empty() {
            return Err(ServeError::InvalidArgument(format!(
                "{} (NaN or infinite; send `missing: true` for an unknown value)",
                name_list("features with non-finite values", &non_finite)
            )));
        }
        let (x, unknown) = schema.encode_row_reporting(features)?;
        let score = self.model.scorer().score_encoded_row(&x, reasons, |feature| {
            features
                .get(&schema.features[feature].name)
                .cloned()
                .unwrap_or(FeatureValue::Missing)
        });
        let (probability, reasons) = (score.probability, score_reasons(score.reasons));
        let score = Score {
            customer_id: String::new(),
            probability,
            risk_band: self.model.risk_bands().band(probability).to_string(),
            above_threshold: probability >= self.model.threshold(),
            reasons,
            lifecycle_stage: None,
            rfm_segment: None,
            value_tier: None,
            as_of: None,
            value: CustomerValue::default(),
            survival: self.survival(&x),
            in_population: None,
        };
        Ok((score, unknown))
    }

    /// The time-to-churn answers of an encoded row, when the model is a survival model.
    fn survival(&self, row: &[f64]) -> Option<SurvivalScore> {
        self.model.scorer().survival(row)
    }

    /// The survival curve of the customer `customer_id` of the snapshot at each of `days` (every day of
    /// the model's horizon when empty), with the model's horizon; refused for a model that is not a
    /// survival model.
    pub fn survival_curve(
        &self,
        customer_id: &str,
        days: &[u32],
    ) -> Result<(Vec<(u32, f64)>, u32), ServeError> {
        let Some(model) = self.model.artifact.model.as_survival() else {
            return Err(ServeError::WrongModelKind(format!(
                "the served model is a {} model, which has no survival curve: serve a survival model \
                 (churn-trainer train --model cox)",
                self.model.artifact.model.kind().name()
            )));
        };
        if days.len() > MAX_CURVE_DAYS {
            return Err(ServeError::InvalidArgument(format!(
                "{} days asked for; the limit is {}",
                thousands(days.len()),
                thousands(MAX_CURVE_DAYS)
            )));
        }
        let horizon = model.horizon_days();
        let days: Vec<u32> = if days.is_empty() {
            (1..=horizon).collect()
        } else {
            days.to_vec()
        };
        let entry = self.locate(customer_id)?;
        let at: Vec<f64> = days.iter().map(|&d| f64::from(d)).collect();
        let survival = self
            .model
            .scorer()
            .survival_curve(self.encoded.row(entry), &at)
            .unwrap_or_default();
        Ok((days.into_iter().zip(survival).collect(), horizon))
    }

    /// The raw snapshot value of model feature `feature` for snapshot entry `entry`, from the entry's
    /// row of values (in cache once the reasons start).
    fn snapshot_value(&self, feature: usize, entry: usize) -> FeatureValue {
        let value = self.values.row(entry)[feature];
        if value.is_nan() {
            return FeatureValue::Missing;
        }
        match &self.levels[feature] {
            None => FeatureValue::Number(value),
            Some(levels) => FeatureValue::Text(levels[value as usize].clone()),
        }
    }
}

/// Reads one value of each cache line of `values`. The loads do not depend on each other, so the
/// processor waits for the lines together, once, rather than for each in turn when the reasons' sentences
/// read their values one after another.
fn load_into_cache(values: &[f64]) {
    const PER_LINE: usize = 64 / std::mem::size_of::<f64>();
    // The last value too: a row that starts inside a line ends in one more.
    let touched = values
        .iter()
        .step_by(PER_LINE)
        .chain(values.last())
        .fold(0.0, |sum, value| sum + value);
    std::hint::black_box(touched);
}

/// The library's reasons as the service shows them (values as text).
fn score_reasons(reasons: Vec<churn_models::Reason>) -> Vec<ScoreReason> {
    reasons
        .into_iter()
        .map(|reason| ScoreReason {
            feature: reason.feature,
            value: reason.value.to_string(),
            contribution: reason.contribution,
            group: reason.label,
            text: reason.text,
        })
        .collect()
}

/// Refuses an empty customer id, or one longer than [`MAX_CUSTOMER_ID_BYTES`].
pub fn check_customer_id(customer_id: &str) -> Result<(), ServeError> {
    if customer_id.is_empty() {
        return Err(ServeError::InvalidArgument("customer_id is empty".into()));
    }
    if customer_id.len() > MAX_CUSTOMER_ID_BYTES {
        return Err(ServeError::InvalidArgument(format!(
            "customer_id {} is {} bytes long; the limit is {MAX_CUSTOMER_ID_BYTES}",
            excerpt(customer_id),
            thousands(customer_id.len())
        )));
    }
    Ok(())
}
