//! What every model kind implements ([`KindParams`] to fit, [`ChurnModel`] once fitted), and the
//! per-customer explanations all kinds share. The kinds themselves are listed once, in [`crate::kinds`].

pub use crate::boosting::ValidationSet;
use crate::class_weight::ClassWeight;
use crate::input::FeatureValue;
use crate::logistic::sigmoid;
use crate::matrix::Matrix;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The hyperparameters of one model kind, and how they fit a model: the one trait a new kind implements
/// (with [`ChurnModel`] for what it fits), before it is listed in [`crate::kinds`].
///
/// As in linfa, parameters are plain data that [`KindParams::check`] validates before any data is read;
/// [`KindParams::fit`] then turns them and encoded rows into a fitted model.
pub trait KindParams:
    Clone + fmt::Debug + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The fitted model.
    type Model: ChurnModel + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;

    /// One line for `--help` and the documentation.
    const DESCRIPTION: &'static str;

    /// Checks every parameter's domain, so a bad value fails before any data is read.
    fn check(&self) -> crate::Result<()>;

    /// Fits on encoded rows `x` with 0/1 labels `y`. `validation` rows, given to kinds that
    /// [`use them`](KindParams::uses_validation), are never fitted on. `on_step` is called
    /// [`KindParams::steps`] times as the fit progresses.
    fn fit(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_step: &(dyn Fn() + Sync),
    ) -> crate::Result<Self::Model>;

    /// Whether the kind is a survival model: fitted on durations and churn events
    /// ([`KindParams::fit_survival`]) rather than on 0/1 labels.
    const SURVIVAL: bool = false;

    /// Fits on encoded rows `x` with each row's duration and churn event; only survival kinds
    /// ([`KindParams::SURVIVAL`]) implement it.
    fn fit_survival(
        &self,
        _x: &Matrix,
        _outcome: &crate::survival::Survival<'_>,
        _on_step: &(dyn Fn() + Sync),
    ) -> crate::Result<Self::Model> {
        Err(crate::ModelError::Training(
            "this kind is fitted on 0/1 labels, not on durations and churn events".into(),
        ))
    }

    /// Progress steps of one fit (e.g. trees).
    fn steps(&self) -> u64 {
        1
    }

    /// Whether the fit uses validation rows (early stopping).
    fn uses_validation(&self) -> bool {
        false
    }

    /// Ties the parameters to the horizon in days of the labels the model is judged on (`None` when the
    /// labels have none): a kind whose probability looks a horizon of its own ahead takes the labels'
    /// when it has none, and refuses one that differs. Other kinds have nothing to tie.
    fn follow_label_horizon(&mut self, _label_days: Option<u32>) -> crate::Result<()> {
        Ok(())
    }

    /// Applies the command line's overrides that mean something for this kind; returns the flags of
    /// those that do not.
    fn apply(&mut self, overrides: &Overrides) -> Vec<&'static str>;
}

/// Hyperparameters the command line sets for whichever kind is trained.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// `--class-weight`.
    pub class_weight: Option<ClassWeight>,
    /// `--trees`: trees of a forest, rounds at most of boosting.
    pub trees: Option<usize>,
    /// `--max-depth`.
    pub max_depth: Option<usize>,
    /// `--seed`.
    pub seed: Option<u64>,
}

impl Overrides {
    /// The flags of the overrides that are set, among `flags` = (flag, is set).
    pub(crate) fn unused(flags: &[(&'static str, bool)]) -> Vec<&'static str> {
        flags
            .iter()
            .filter(|(_, set)| *set)
            .map(|(flag, _)| *flag)
            .collect()
    }
}

/// What a fitted churn model does, whatever its kind: probabilities and additive explanations of encoded
/// rows. Inputs are the standardised columns of a [`crate::FeatureSchema`]; callers with raw features use
/// the [`crate::Scorer`], which encodes first.
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
    /// Checks a loaded model's inner consistency against `columns` encoded inputs.
    fn check_loaded(&self, columns: usize) -> Result<(), String>;
    /// One weight per encoded column on the standardised scale, for linear models (shown beside
    /// permutation importance).
    fn linear_weights(&self) -> Option<&[f64]> {
        None
    }
    /// The model's time-to-churn answers, for survival models.
    fn as_survival(&self) -> Option<&dyn SurvivalModel> {
        None
    }
}

/// What a survival model adds to a churn model: when, not only whether, a customer churns. Rows are
/// encoded rows, as in [`ChurnModel`]; durations are in days.
pub trait SurvivalModel {
    /// The horizon in days of the model's churn probability ([`ChurnModel::predict_encoded`]).
    fn horizon_days(&self) -> u32;
    /// A risk score: higher means churning sooner (the log hazard ratio for Cox), for concordance.
    fn risk(&self, row: &[f64]) -> f64;
    /// `S(t | x)`, the probability of still being a customer after each of `days`.
    fn survival_curve(&self, row: &[f64], days: &[f64]) -> Vec<f64>;
    /// The expected active days over the next `horizon` days: `∫₀^horizon S(t | x) dt`.
    fn expected_active_days(&self, row: &[f64], horizon: f64) -> f64;
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
    /// `base + Σ contributions = ln H(horizon | x)`, the log cumulative hazard at the model's horizon,
    /// and the probability is `1 − exp(−exp(total))` (Cox proportional hazards: the base is the log
    /// baseline cumulative hazard, each contribution a feature's part of the log hazard ratio).
    LogCumulativeHazard,
}

impl ContributionScale {
    /// The probability of a total on this scale.
    pub fn probability(self, total: f64) -> f64 {
        match self {
            Self::Logit => sigmoid(total),
            Self::Probability => total.clamp(0.0, 1.0),
            Self::LogCumulativeHazard => -(-total.exp()).exp_m1(),
        }
    }
}

/// One reason's part in a customer's score: a group of features (see [`crate::reason_groups`]) whose
/// contributions are summed, e.g. every frequency and spend feature.
///
/// `feature` and `value` name one real input feature, so callers that read a reason as one feature keep
/// working: for a one-feature group (every reason of an artifact without groups) it is that feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The group's main feature: in the catalog family of the group that moves the score most in the
    /// direction of the group's contribution, the feature that does (see
    /// [`crate::reason_text::Described::main`]).
    pub feature: String,
    /// The customer's raw value of the main feature.
    pub value: FeatureValue,
    /// How much the group moves the score (its features' contributions summed, on the explanation's
    /// scale); positive raises churn risk.
    pub contribution: f64,
    /// The group's name for people, e.g. `frequency and spend`, `support ticket events`, `plan`.
    #[serde(default)]
    pub label: String,
    /// Every feature of the group with the customer's value and its own contribution, in schema order
    /// (in explanations; empty in scores, which read only the values their sentences say).
    #[serde(default)]
    pub features: Vec<ReasonFeature>,
    /// The reason in words, from the customer's values (see [`crate::reason_text`]), e.g. `no purchase
    /// for 526 days; this customer used to buy every 31 days`.
    #[serde(default)]
    pub text: String,
}

/// One input feature of a [`Reason`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonFeature {
    /// The input feature.
    pub name: String,
    /// The customer's raw value of it.
    pub value: FeatureValue,
    /// Its own contribution (on the explanation's scale).
    pub contribution: f64,
}

/// Why a customer got their score: every reason's contribution, largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The churn probability.
    pub probability: f64,
    /// The scale contributions add up on.
    pub scale: ContributionScale,
    /// The base value: intercept (logit) or mean training churn share of the trees (probability).
    pub base_value: f64,
    /// Every reason group's contribution (one-hot columns summed per feature, features summed per
    /// group), sorted by descending contribution.
    pub contributions: Vec<Reason>,
}

impl Explanation {
    /// The score the contributions add up to: `base_value + Σ contributions` (a logit or a probability,
    /// see [`Explanation::scale`]).
    pub fn total(&self) -> f64 {
        self.base_value + self.contributions.iter().map(|r| r.contribution).sum::<f64>()
    }

    /// Up to `k` reasons that push the risk up the most (positive contributions only), largest first.
    pub fn top_reasons(&self, k: usize) -> impl Iterator<Item = &Reason> {
        self.contributions
            .iter()
            .take_while(|r| r.contribution > 0.0)
            .take(k)
    }
}
