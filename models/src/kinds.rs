//! The registry of model kinds: the one place that lists them.
//!
//! Each line names a kind (its command-line and artifact name) and the parameters type of the module
//! that implements it ([`KindParams`], whose fitted model implements [`ChurnModel`]). From this list
//! follow [`ModelKind`] (with [`ModelKind::ALL`], names, descriptions and TOML sections), the serialised
//! [`ModelParams`] and [`FittedModel`], and everything that takes a kind by name: the trainer's
//! `--model`, the model configuration's sections, `--model auto` and the server. Adding a kind is a
//! module and one line here.
//!
//! The order is the order of simplicity: `--model auto` breaks ties in favour of the earlier kind.

use crate::error::{ModelError, Result};
use crate::matrix::Matrix;
use crate::model::{ChurnModel, ContributionScale, KindParams, Overrides, ValidationSet};
use crate::survival::Survival;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! model_kinds {
    ($($variant:ident = $name:literal => $params:ty),+ $(,)?) => {
        /// The kind of a model (see [`crate::kinds`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum ModelKind {
            $(
                #[doc = $name]
                #[serde(rename = $name)]
                $variant,
            )+
        }

        impl ModelKind {
            /// Every kind, simplest first.
            pub const ALL: &'static [ModelKind] = &[$(ModelKind::$variant),+];

            /// The kind's name on the command line and in artifacts, e.g. `gradient-boosting`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// One line saying what the kind is.
            pub fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => <$params as KindParams>::DESCRIPTION,)+
                }
            }

            /// Whether the kind is a survival model, fitted on durations and churn events rather than
            /// on 0/1 labels ([`KindParams::SURVIVAL`]).
            pub fn is_survival(self) -> bool {
                match self {
                    $(Self::$variant => <$params as KindParams>::SURVIVAL,)+
                }
            }
        }

        /// Hyperparameters of one kind.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum ModelParams {
            $(
                #[doc = $name]
                #[serde(rename = $name)]
                $variant($params),
            )+
        }

        impl ModelParams {
            /// Default parameters of a kind.
            pub fn default_for(kind: ModelKind) -> Self {
                match kind {
                    $(ModelKind::$variant => Self::$variant(<$params>::default()),)+
                }
            }

            /// Parameters of `kind` from its configuration section (fields not given keep their
            /// defaults; unknown fields are an error).
            pub fn deserialize_for<'de, D: serde::Deserializer<'de>>(
                kind: ModelKind,
                section: D,
            ) -> std::result::Result<Self, D::Error> {
                Ok(match kind {
                    $(ModelKind::$variant => Self::$variant(<$params>::deserialize(section)?),)+
                })
            }

            /// The kind these parameters fit.
            pub fn kind(&self) -> ModelKind {
                match self {
                    $(Self::$variant(_) => ModelKind::$variant,)+
                }
            }

            /// Checks the parameters' domains, so a bad value fails before any data is read.
            pub fn check(&self) -> Result<()> {
                match self {
                    $(Self::$variant(params) => KindParams::check(params),)+
                }
            }

            /// Whether the kind uses validation rows while fitting (early stopping).
            pub fn uses_validation(&self) -> bool {
                match self {
                    $(Self::$variant(params) => KindParams::uses_validation(params),)+
                }
            }

            /// Number of progress steps [`ModelParams::fit`] reports.
            pub fn steps(&self) -> u64 {
                match self {
                    $(Self::$variant(params) => KindParams::steps(params),)+
                }
            }

            /// Ties the parameters to the labels' horizon ([`KindParams::follow_label_horizon`]).
            pub fn follow_label_horizon(&mut self, label_days: Option<u32>) -> Result<()> {
                match self {
                    $(Self::$variant(params) => KindParams::follow_label_horizon(params, label_days),)+
                }
            }

            /// Applies the command line's overrides; returns the flags that do not apply to this kind.
            pub fn apply(&mut self, overrides: &Overrides) -> Vec<&'static str> {
                match self {
                    $(Self::$variant(params) => KindParams::apply(params, overrides),)+
                }
            }

            /// Fits a survival kind ([`ModelKind::is_survival`]) on encoded rows with each row's duration
            /// and churn event; other kinds refuse.
            pub fn fit_survival(
                &self,
                x: &Matrix,
                outcome: &Survival<'_>,
                on_step: &(dyn Fn() + Sync),
            ) -> Result<FittedModel> {
                Ok(match self {
                    $(Self::$variant(params) => FittedModel::$variant(KindParams::fit_survival(params, x, outcome, on_step)?),)+
                })
            }

            /// Fits on encoded rows; `validation` rows (used by kinds that stop early) are never fitted
            /// on. `on_step` is called as training progresses.
            pub fn fit(
                &self,
                x: &Matrix,
                y: &[u8],
                validation: Option<ValidationSet<'_>>,
                on_step: &(dyn Fn() + Sync),
            ) -> Result<FittedModel> {
                Ok(match self {
                    $(Self::$variant(params) => FittedModel::$variant(KindParams::fit(params, x, y, validation, on_step)?),)+
                })
            }
        }

        /// A fitted model of any kind.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum FittedModel {
            $(
                #[doc = $name]
                #[serde(rename = $name)]
                $variant(<$params as KindParams>::Model),
            )+
        }

        impl FittedModel {
            /// The model's kind.
            pub fn kind(&self) -> ModelKind {
                match self {
                    $(Self::$variant(_) => ModelKind::$variant,)+
                }
            }
        }

        impl ChurnModel for FittedModel {
            fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
                match self {
                    $(Self::$variant(model) => ChurnModel::predict_encoded(model, x),)+
                }
            }

            fn predict_encoded_row(&self, row: &[f64]) -> f64 {
                match self {
                    $(Self::$variant(model) => ChurnModel::predict_encoded_row(model, row),)+
                }
            }

            fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>) {
                match self {
                    $(Self::$variant(model) => ChurnModel::contributions_encoded(model, row),)+
                }
            }

            fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix) {
                match self {
                    $(Self::$variant(model) => ChurnModel::contributions_encoded_batch(model, x),)+
                }
            }

            fn contribution_scale(&self) -> ContributionScale {
                match self {
                    $(Self::$variant(model) => ChurnModel::contribution_scale(model),)+
                }
            }

            fn check_loaded(&self, columns: usize) -> std::result::Result<(), String> {
                match self {
                    $(Self::$variant(model) => ChurnModel::check_loaded(model, columns),)+
                }
            }

            fn linear_weights(&self) -> Option<&[f64]> {
                match self {
                    $(Self::$variant(model) => ChurnModel::linear_weights(model),)+
                }
            }

            fn as_survival(&self) -> Option<&dyn crate::model::SurvivalModel> {
                match self {
                    $(Self::$variant(model) => ChurnModel::as_survival(model),)+
                }
            }
        }
    };
}

model_kinds! {
    Logistic = "logistic" => crate::logistic::LogisticParams,
    RandomForest = "random-forest" => crate::forest::ForestParams,
    GradientBoosting = "gradient-boosting" => crate::boosting::GradientBoostingParams,
    Ensemble = "ensemble" => crate::ensemble::EnsembleParams,
    Cox = "cox" => crate::cox::CoxParams,
}

impl ModelKind {
    /// The kind's section in the model configuration file: its name with `_` for `-`, e.g.
    /// `[gradient_boosting]`.
    pub fn section(self) -> String {
        self.name().replace('-', "_")
    }

    /// The kinds fitted on 0/1 labels (every kind but the survival ones), simplest first: those
    /// `--model auto` compares by held-out ROC AUC.
    pub fn classifiers() -> impl Iterator<Item = ModelKind> {
        Self::ALL.iter().copied().filter(|kind| !kind.is_survival())
    }

    /// Every kind's name, simplest first.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.iter().map(|kind| kind.name())
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| ModelError::InvalidParameter {
                name: "model",
                reason: format!(
                    "unknown model kind `{text}`; the kinds are {}",
                    Self::names().collect::<Vec<_>>().join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_serde_and_sections() {
        for &kind in ModelKind::ALL {
            assert_eq!(kind.name().parse::<ModelKind>().expect("parse"), kind);
            let json = serde_json::to_string(&kind).expect("json");
            assert_eq!(json, format!("\"{}\"", kind.name()));
            let params = ModelParams::default_for(kind);
            assert_eq!(params.kind(), kind);
            let value = serde_json::to_value(&params).expect("json");
            assert_eq!(value["kind"], kind.name());
            assert!(!kind.description().is_empty());
            assert!(!kind.section().contains('-'));
        }
        assert!(ModelKind::Cox.is_survival());
        assert!(!ModelKind::classifiers().any(ModelKind::is_survival));
        let error = "xgboost".parse::<ModelKind>().expect_err("unknown");
        assert!(
            error
                .to_string()
                .contains("logistic, random-forest, gradient-boosting, ensemble, cox"),
            "{error}"
        );
    }
}
