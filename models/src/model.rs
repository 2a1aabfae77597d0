//! The fitted models behind one interface, and their per-customer explanations.

use crate::boosting::{GradientBoostingModel, GradientBoostingParams, ValidationSet};
use crate::forest::{ForestModel, ForestParams};
use crate::input::FeatureValue;
use crate::logistic::{LogisticModel, LogisticParams, sigmoid};
use crate::matrix::Matrix;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a fitted churn model does, whatever its kind: probabilities and additive explanations of encoded
/// rows. Inputs are the standardised columns of a [`crate::FeatureSchema`]; callers with raw features use
/// [`crate::ModelArtifact`], which encodes first.
pub trait ChurnModel {
    /// Churn probability of each encoded row.
    fn predict_encoded(&self, x: &Matrix) -> Vec<f64>;
    /// Churn probability of one encoded row.
    fn predict_encoded_row(&self, row: &[f64]) -> f64;
    /// Contribution of each encoded column to one row's score, and the base they add to. For logistic
    /// regression and gradient boosting the scale is the logit, for the forest the probability.
    fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>);
    /// [`ChurnModel::contributions_encoded`] of many rows at once: the base and one row of contributions
    /// per input row.
    fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix);
    /// The scale [`ChurnModel::contributions_encoded`] adds up on.
    fn contribution_scale(&self) -> ContributionScale;
}

/// The kind of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// L2-regularised logistic regression.
    Logistic,
    /// Random forest.
    RandomForest,
    /// Gradient-boosted trees.
    GradientBoosting,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Logistic => "logistic",
            Self::RandomForest => "random-forest",
            Self::GradientBoosting => "gradient-boosting",
        })
    }
}

/// Hyperparameters of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelParams {
    /// Logistic regression.
    Logistic(LogisticParams),
    /// Random forest.
    RandomForest(ForestParams),
    /// Gradient-boosted trees.
    GradientBoosting(GradientBoostingParams),
}

impl ModelParams {
    /// Default parameters of a kind.
    pub fn default_for(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Logistic => Self::Logistic(LogisticParams::default()),
            ModelKind::RandomForest => Self::RandomForest(ForestParams::default()),
            ModelKind::GradientBoosting => Self::GradientBoosting(GradientBoostingParams::default()),
        }
    }

    /// The kind these parameters fit.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Logistic(_) => ModelKind::Logistic,
            Self::RandomForest(_) => ModelKind::RandomForest,
            Self::GradientBoosting(_) => ModelKind::GradientBoosting,
        }
    }

    /// Checks the parameters' domains, so a bad value fails before any data is read.
    pub fn check(&self) -> crate::Result<()> {
        match self {
            Self::Logistic(params) => params.check(),
            Self::RandomForest(params) => params.check(),
            Self::GradientBoosting(params) => params.check(),
        }
    }

    /// Whether the kind uses validation rows while fitting (early stopping); [`crate::train`] then
    /// passes the out-of-time rows of the training set when it has some.
    pub fn uses_validation(&self) -> bool {
        matches!(self, Self::GradientBoosting(params) if params.early_stopping_rounds > 0)
    }

    /// Fits on encoded rows; `validation` rows (used by kinds that stop early) are never fitted on.
    /// `on_step` is called as training progresses (once per tree for tree kinds).
    pub fn fit(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_step: &(dyn Fn() + Sync),
    ) -> crate::Result<FittedModel> {
        Ok(match self {
            Self::Logistic(params) => {
                let model = params.fit(x, y)?;
                on_step();
                FittedModel::Logistic(model)
            }
            Self::RandomForest(params) => FittedModel::RandomForest(params.fit(x, y, on_step)?),
            Self::GradientBoosting(params) => {
                FittedModel::GradientBoosting(params.fit(x, y, validation, on_step)?)
            }
        })
    }

    /// Number of progress steps [`ModelParams::fit`] reports.
    pub fn steps(&self) -> u64 {
        match self {
            Self::Logistic(_) => 1,
            Self::RandomForest(params) => params.n_trees as u64,
            Self::GradientBoosting(params) => params.n_rounds as u64,
        }
    }
}

/// A fitted model of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FittedModel {
    /// Logistic regression.
    Logistic(LogisticModel),
    /// Random forest.
    RandomForest(ForestModel),
    /// Gradient-boosted trees.
    GradientBoosting(GradientBoostingModel),
}

impl FittedModel {
    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Logistic(_) => ModelKind::Logistic,
            Self::RandomForest(_) => ModelKind::RandomForest,
            Self::GradientBoosting(_) => ModelKind::GradientBoosting,
        }
    }

    /// Checks the model's inner consistency against `columns` encoded inputs (used when loading).
    pub(crate) fn validate(&self, columns: usize) -> Result<(), String> {
        match self {
            Self::Logistic(model) => {
                if model.coefficients.len() != columns {
                    return Err(format!(
                        "logistic model has {} coefficients, the schema encodes {columns} columns",
                        model.coefficients.len()
                    ));
                }
                if !(model.intercept.is_finite() && model.coefficients.iter().all(|w| w.is_finite())) {
                    return Err("logistic model has non-finite coefficients".into());
                }
                Ok(())
            }
            Self::RandomForest(model) => model.validate(columns),
            Self::GradientBoosting(model) => model.validate(columns),
        }
    }
}

impl ChurnModel for FittedModel {
    fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
        match self {
            Self::Logistic(model) => model.predict(x),
            Self::RandomForest(model) => model.predict(x),
            Self::GradientBoosting(model) => model.predict(x),
        }
    }

    fn predict_encoded_row(&self, row: &[f64]) -> f64 {
        match self {
            Self::Logistic(model) => sigmoid(model.logit(row)),
            Self::RandomForest(model) => model.predict_row(row),
            Self::GradientBoosting(model) => model.predict_row(row),
        }
    }

    fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>) {
        match self {
            Self::Logistic(model) => (model.intercept, model.contributions(row)),
            Self::RandomForest(model) => (model.base_value(), model.contributions(row)),
            Self::GradientBoosting(model) => (model.base_value(), model.contributions(row)),
        }
    }

    fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix) {
        match self {
            Self::Logistic(model) => {
                let mut out = x.clone();
                for i in 0..out.rows() {
                    for (c, w) in out.row_mut(i).iter_mut().zip(&model.coefficients) {
                        *c *= w;
                    }
                }
                (model.intercept, out)
            }
            Self::RandomForest(model) => (model.base_value(), model.contributions_batch(x)),
            Self::GradientBoosting(model) => (model.base_value(), model.contributions_batch(x)),
        }
    }

    fn contribution_scale(&self) -> ContributionScale {
        match self {
            Self::Logistic(_) | Self::GradientBoosting(_) => ContributionScale::Logit,
            Self::RandomForest(_) => ContributionScale::Probability,
        }
    }
}

/// The scale on which contributions add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContributionScale {
    /// `base + Σ contributions = logit`, and the probability is its sigmoid (logistic regression;
    /// gradient boosting's TreeSHAP values).
    Logit,
    /// `base + Σ contributions = probability` (random forest path contributions).
    Probability,
}

impl ContributionScale {
    /// The probability of a total on this scale.
    pub fn probability(self, total: f64) -> f64 {
        match self {
            Self::Logit => sigmoid(total),
            Self::Probability => total.clamp(0.0, 1.0),
        }
    }
}

/// One feature's part in a customer's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The input feature.
    pub feature: String,
    /// The customer's raw value of it.
    pub value: FeatureValue,
    /// How much it moves the score (on the explanation's scale); positive raises churn risk.
    pub contribution: f64,
}

/// Why a customer got their score: every input feature's contribution, largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The churn probability.
    pub probability: f64,
    /// The scale contributions add up on.
    pub scale: ContributionScale,
    /// The base value: intercept (logit) or mean training churn share of the trees (probability).
    pub base_value: f64,
    /// Every input feature's contribution (one-hot columns summed per feature), sorted by descending
    /// contribution.
    pub contributions: Vec<Reason>,
}

impl Explanation {
    pub(crate) fn new(
        scale: ContributionScale,
        base_value: f64,
        encoded: &[f64],
        column_features: impl Iterator<Item = usize>,
        feature_names: &[&str],
        values: Vec<FeatureValue>,
    ) -> Self {
        let mut per_feature = vec![0.0; feature_names.len()];
        for (c, f) in encoded.iter().zip(column_features) {
            per_feature[f] += c;
        }
        let probability = scale.probability(base_value + per_feature.iter().sum::<f64>());
        let mut contributions: Vec<Reason> = per_feature
            .into_iter()
            .zip(values)
            .zip(feature_names)
            .map(|((contribution, value), name)| Reason {
                feature: name.to_string(),
                value,
                contribution,
            })
            .collect();
        contributions.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        Self {
            probability,
            scale,
            base_value,
            contributions,
        }
    }

    /// The score the contributions add up to: `base_value + Σ contributions` (a logit or a probability,
    /// see [`Explanation::scale`]).
    pub fn total(&self) -> f64 {
        self.base_value + self.contributions.iter().map(|r| r.contribution).sum::<f64>()
    }

    /// Up to `k` features that push the risk up the most (positive contributions only), largest first.
    pub fn top_reasons(&self, k: usize) -> impl Iterator<Item = &Reason> {
        self.contributions
            .iter()
            .take_while(|r| r.contribution > 0.0)
            .take(k)
    }
}
