//! The model configuration file (TOML) that `churn-trainer train` and `score` read: hyperparameters of
//! each kind, preprocessing, how the threshold is chosen, risk bands, what the label means and which
//! customers the model is for. Every section is optional; unknown sections and fields are errors.
//!
//! ```toml
//! [logistic]                 # churn_models::LogisticParams
//! c = 1.0
//! class_weight = { type = "balanced" }
//!
//! [random_forest]            # churn_models::ForestParams
//! n_trees = 200
//! max_depth = 10
//!
//! [gradient_boosting]        # churn_models::GradientBoostingParams
//! learning_rate = 0.05
//! max_leaves = 31
//!
//! [ensemble.logistic]        # churn_models::ensemble::EnsembleParams: its members' parameters
//! c = 1.0
//! [ensemble.gradient_boosting]
//! learning_rate = 0.05
//!
//! [preprocess]               # churn_models::PreprocessParams
//! exclude = ["customer_age_days"]
//!
//! [threshold]                # how the decision threshold is chosen (churn_models::ThresholdRule)
//! rule = "expected_profit"
//! offer_cost = 5.0
//! customer_value = 120.0
//! acceptance_rate = 0.3
//!
//! [[risk_bands]]             # named probability bands, lowest first
//! name = "low"
//! min_probability = 0.0
//! [[risk_bands]]
//! name = "high"
//! min_probability = 0.5
//!
//! [label]                    # what the label means (recorded in the model)
//! definition = "no purchase in the 273 days after the as-of date"
//! horizon_days = 273
//!
//! [population]               # which customers the model is for (churn_models::Population)
//! max_days_since_last_purchase = 365
//! lifecycle_stages = ["new", "active", "at_risk"]
//! ```
//!
//! The kinds' sections follow the registry of kinds ([`crate::kinds`]): `[<kind name with _ for ->]`.

use crate::artifact::LabelInfo;
use crate::bands::{RiskBand, RiskBands};
use crate::error::{ModelError, Result};
use crate::kinds::{ModelKind, ModelParams};
use crate::metrics::ThresholdRule;
use crate::population::Population;
use crate::preprocess::PreprocessParams;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The sections that are not a model kind's.
const OTHER_SECTIONS: [&str; 5] = ["preprocess", "threshold", "risk_bands", "label", "population"];

/// A parsed model configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    /// Hyperparameters of the kinds that have a section.
    pub params: BTreeMap<ModelKind, ModelParams>,
    /// Preprocessing.
    pub preprocess: PreprocessParams,
    /// The threshold rule's costs, when given.
    pub threshold: Option<ThresholdRule>,
    /// Risk bands, when given (checked).
    pub risk_bands: Option<RiskBands>,
    /// What the label means, when given.
    pub label: Option<LabelInfo>,
    /// Which customers the model is trained, evaluated and scored on, when given (checked).
    pub population: Option<Population>,
}

impl ModelConfig {
    /// Reads a configuration file, or the defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(&text).map_err(|reason| ModelError::Config {
            path: path.into(),
            reason,
        })
    }

    /// Parses configuration text; the error says which section or field is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut config = Self::default();
        for (section, value) in table {
            let invalid = |e: toml::de::Error| format!("[{section}]: {}", e.message());
            if let Some(&kind) = ModelKind::ALL.iter().find(|k| k.section() == section) {
                let params = ModelParams::deserialize_for(kind, value).map_err(invalid)?;
                config.params.insert(kind, params);
                continue;
            }
            match section.as_str() {
                "preprocess" => config.preprocess = PreprocessParams::deserialize(value).map_err(invalid)?,
                "threshold" => config.threshold = Some(ThresholdRule::deserialize(value).map_err(invalid)?),
                "risk_bands" => {
                    let bands = Vec::<RiskBand>::deserialize(value).map_err(invalid)?;
                    config.risk_bands =
                        Some(RiskBands::new(bands).map_err(|e| format!("[[risk_bands]]: {e}"))?);
                }
                "label" => config.label = Some(LabelInfo::deserialize(value).map_err(invalid)?),
                "population" => {
                    let population = Population::deserialize(value).map_err(invalid)?;
                    population.check().map_err(|e| format!("[population]: {e}"))?;
                    config.population = Some(population);
                }
                _ => {
                    let known: Vec<String> = ModelKind::ALL
                        .iter()
                        .map(|k| k.section())
                        .chain(OTHER_SECTIONS.iter().map(|s| s.to_string()))
                        .collect();
                    return Err(format!(
                        "unknown section [{section}]; the sections are {}",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(config)
    }

    /// The parameters of `kind`: its section's, or the defaults.
    pub fn params(&self, kind: ModelKind) -> ModelParams {
        self.params
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| ModelParams::default_for(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_and_names_what_is_wrong() {
        let text = r#"
            [logistic]
            c = 0.5
            class_weight = { type = "balanced" }
            [random_forest]
            n_trees = 20
            [gradient_boosting]
            learning_rate = 0.1
            early_stopping_rounds = 20
            [ensemble.gradient_boosting]
            max_leaves = 15
            [threshold]
            rule = "expected_profit"
            offer_cost = 5.0
            customer_value = 120.0
            acceptance_rate = 0.3
            [[risk_bands]]
            name = "low"
            min_probability = 0.0
            [[risk_bands]]
            name = "high"
            min_probability = 0.5
            [label]
            horizon_days = 90
            [population]
            max_days_since_last_purchase = 365
            lifecycle_stages = ["active", "at_risk"]
        "#;
        let config = ModelConfig::parse(text).expect("parse");
        let ModelParams::Logistic(logistic) = config.params(ModelKind::Logistic) else {
            panic!("logistic")
        };
        assert_eq!(logistic.c, 0.5);
        let ModelParams::RandomForest(forest) = config.params(ModelKind::RandomForest) else {
            panic!("forest")
        };
        assert_eq!(forest.n_trees, 20);
        assert_eq!(forest.max_depth, crate::ForestParams::default().max_depth);
        let ModelParams::GradientBoosting(boosting) = config.params(ModelKind::GradientBoosting) else {
            panic!("boosting")
        };
        assert_eq!(boosting.learning_rate, 0.1);
        assert_eq!(
            boosting.max_leaves,
            crate::GradientBoostingParams::default().max_leaves
        );
        let ModelParams::Ensemble(ensemble) = config.params(ModelKind::Ensemble) else {
            panic!("ensemble")
        };
        assert_eq!(ensemble.gradient_boosting.max_leaves, 15);
        assert_eq!(ensemble.logistic, crate::LogisticParams::default());
        assert_eq!(config.risk_bands.expect("bands").band(0.7), "high");
        assert!(matches!(
            config.threshold,
            Some(ThresholdRule::ExpectedProfit { .. })
        ));
        assert_eq!(config.label.and_then(|l| l.horizon_days), Some(90));
        let population = config.population.expect("population");
        assert_eq!(population.max_days_since_last_purchase, Some(365));
        assert_eq!(
            population.lifecycle_stages,
            Some(vec!["active".to_string(), "at_risk".to_string()])
        );
        assert_eq!(population.min_tenure_days, None);
        for (text, needle) in [
            ("[population]\nmax_days = 3\n", "max_days"),
            ("[population]\nlifecycle_stages = [\"gone\"]\n", "gone"),
            ("[population]\nmin_tenure_days = -1\n", "[population]"),
        ] {
            let error = ModelConfig::parse(text).expect_err(text);
            assert!(
                error.contains("[population]") && error.contains(needle),
                "{error}"
            );
        }

        let unknown_field = ModelConfig::parse("[gradient_boosting]\nleaves = 8\n").expect_err("field");
        assert!(
            unknown_field.contains("[gradient_boosting]") && unknown_field.contains("leaves"),
            "{unknown_field}"
        );
        let unknown_section = ModelConfig::parse("[xgboost]\n").expect_err("section");
        assert!(unknown_section.contains("gradient_boosting"), "{unknown_section}");
        assert_eq!(ModelConfig::parse("").expect("empty"), ModelConfig::default());
    }
}
