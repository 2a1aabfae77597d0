//! Churn models: preprocessing, logistic regression, random forest, gradient-boosted trees and Cox
//! proportional hazards for time to churn ([`cox`], with the survival metrics of [`survival`]),
//! calibration, evaluation, explanations, the one scoring path and the versioned model artifact. Consumes the feature table built by `churn-features`.
//!
//! # Serving a model
//!
//! A server needs only the registry, a loaded model and its scoring methods:
//!
//! ```no_run
//! use churn_models::{FeatureRow, FeatureValue, Registry};
//!
//! # fn main() -> Result<(), churn_models::ModelError> {
//! let registry = Registry::open("registry")?;
//! let model = registry.load_promoted("churn")?;
//! println!("{} {} threshold {}", model.name, model.version, model.threshold());
//!
//! // One customer, features by name (every feature of `model.schema()` must be present).
//! let mut row = FeatureRow::new();
//! for feature in &model.schema().features {
//!     row.insert(feature.name.clone(), FeatureValue::Missing);
//! }
//! let score = model.scorer().score_row(&row, 3)?;
//! println!("p = {:.3}, band {}, flagged {}", score.probability, score.risk_band, score.above_threshold);
//! for reason in &score.reasons {
//!     // e.g. "recency + frequency and spend: no purchase for 526 days; this customer used to buy
//!     // every 31 days (+2.041)"
//!     println!("  {}: {} (+{:.3})", reason.label, reason.text, reason.contribution);
//! }
//! // Watch this file to notice promotions and rollbacks, then call `load_promoted` again.
//! let _pointer = registry.promotion_pointer("churn")?;
//! # Ok(())
//! # }
//! ```
//!
//! Every caller scores through a [`Scorer`] (tables with [`Scorer::score_table`], encoded rows with
//! [`Scorer::score_encoded`]), so the trainer and the server give a customer the same answer.

//!
//! # Evaluation, scores files and call lists
//!
//! [`evaluate`] judges a model on the labelled rows of a table (metrics at its threshold, probabilities
//! before calibration, permutation importance, a [`CallList`]); [`ScoresFile`] writes batch scores as
//! Parquet with their summary; [`call_list::call_list`] picks the customers most worth a call and writes
//! them as a CSV for spreadsheets; [`customer_value`] reads a customer's lifetime value and P(alive) from the
//! table, so scores, call lists and the server put the value at risk (probability × lifetime value) beside
//! the risk. Both binaries can use them.
//!
//! # Drift
//!
//! [`train::train`] stores in the artifact what the training customers looked like
//! ([`DriftReference`]: each feature's distribution in bins, and the probability's);
//! [`drift::monitor`] measures how far a table of customers to score has moved from it, per feature
//! and for the score, as population stability indices ([`DriftReport`]).
//!
//! # Model kinds
//!
//! A kind is a module implementing [`KindParams`] (parameters, check, fit) and [`ChurnModel`] (what its
//! fitted model does), listed once in [`kinds`]; everything that takes a kind by name follows from that
//! list.
//!
//! # Training
//!
//! [`train::train`] fits preprocessing ([`FeatureSchema`]) and a model ([`ModelParams`]) on the labelled
//! rows of a [`churn_features::FeatureTable`] in the model's [`Population`] (the customers it is for),
//! validates out of time or by stratified k-fold, computes [`Metrics`] (also per lifecycle stage and RFM
//! segment) and returns a [`ModelArtifact`] for [`Registry::save`].
//!
//! # Explanations
//!
//! Logistic regression contributions are exact: `intercept + Σ contributions = logit`. Forest
//! contributions are path contributions: `mean root value + Σ contributions = probability`. Gradient
//! boosting contributions are TreeSHAP values: `base value + Σ contributions = logit`. The ensemble's are
//! the mean of its logistic regression's and its trees' (`mean base + Σ contributions = logit`). One-hot
//! columns are summed back to their feature, and features to their reason group ([`ReasonGroups`]:
//! one catalog family, merged with every feature correlated above |r| = 0.8 on the training rows), so a
//! reason names a group (`frequency and spend`), its features with the customer's values, the summed
//! contribution, and a sentence ([`reason_text`]).

pub mod artifact;
pub mod bands;
pub mod boosting;
pub mod calibration;
pub mod call_list;
pub mod checks;
pub mod class_weight;
pub mod config;
pub mod cox;
pub mod customer_value;
pub mod drift;
pub mod ensemble;
pub mod error;
pub mod evaluation;
mod flat_tree;
pub mod forest;
pub mod histogram;
pub mod importance;
pub mod input;
pub mod kinds;
pub mod logistic;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod population;
pub mod preprocess;
pub mod reason_groups;
pub mod reason_text;
pub mod registry;
pub mod scorer;
pub mod scores;
pub mod survival;
#[cfg(test)]
mod test_support;
pub mod train;

pub use artifact::{FORMAT_VERSION, LabelInfo, ModelArtifact, TrainingInfo, TrainingOverlap, Validation};
pub use bands::{BandShift, RiskBand, RiskBands};
pub use boosting::{BoostedTree, GradientBoostingModel, GradientBoostingParams};
pub use calibration::{CalibrationMethod, Calibrator};
pub use call_list::{CallEntry, CallList, CallListOptions, ValueColumn};
pub use checks::{HeldOutWarning, held_out_warnings};
pub use class_weight::ClassWeight;
pub use config::ModelConfig;
pub use cox::{CoxModel, CoxParams};
pub use customer_value::{CustomerValue, ValueColumns};
pub use drift::{DriftLevel, DriftReference, DriftReport};
pub use error::{ModelError, Result};
pub use evaluation::{Evaluation, EvaluationOptions, evaluate};
pub use forest::{ForestModel, ForestParams, MaxFeatures};
pub use input::{FeatureRow, FeatureValue};
pub use kinds::{FittedModel, ModelKind, ModelParams};
pub use logistic::{LogisticModel, LogisticParams};
pub use matrix::Matrix;
pub use metrics::{Metrics, ThresholdRule};
pub use model::{
    ChurnModel, ContributionScale, Explanation, KindParams, Overrides, Reason, ReasonFeature, SurvivalModel,
};
pub use population::Population;
pub use preprocess::{FeatureSchema, PreprocessParams, UnknownCategories, UnknownValues};
pub use reason_groups::{ReasonGroup, ReasonGroups};
pub use registry::{LoadedModel, Registry};
pub use scorer::{Score, Scorer};
pub use scores::{ScoresFile, ScoresSummary};
pub use survival::{
    Concordance, KaplanMeier, Survival, SurvivalMetrics, SurvivalScore, brier_score, harrell_concordance,
    integrated_brier_score, time_dependent_auc, uno_concordance,
};
pub use train::{TrainOptions, TrainOutcome, ValidationPlan};
