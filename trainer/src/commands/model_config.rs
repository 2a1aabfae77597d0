//! The model configuration file (`--model-config FILE`, TOML) shared by `train` and `score`, and the
//! command-line spellings of threshold rules and model kinds.
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
//! [preprocess]               # churn_models::PreprocessParams
//! exclude = ["customer_age_days"]
//!
//! [threshold]                # how the decision threshold is chosen
//! rule = "expected_profit"
//! offer_cost = 5.0
//! customer_value = 120.0
//! acceptance_rate = 0.3
//!
//! [[risk_bands]]
//! name = "low"
//! min_probability = 0.0
//! [[risk_bands]]
//! name = "high"
//! min_probability = 0.5
//!
//! [label]
//! definition = "no purchase in the 273 days after the as-of date"
//! horizon_days = 273
//! ```

use anyhow::{Context, Result, bail};
use churn_models::{
    ForestParams, GradientBoostingParams, LabelInfo, LogisticParams, ModelKind, PreprocessParams, RiskBand,
    RiskBands, ThresholdRule,
};
use clap::ValueEnum;
use serde::Deserialize;
use std::path::Path;

/// The model configuration file; every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Logistic regression hyperparameters.
    #[serde(default)]
    pub logistic: LogisticParams,
    /// Random forest hyperparameters.
    #[serde(default)]
    pub random_forest: ForestParams,
    /// Gradient boosting hyperparameters.
    #[serde(default)]
    pub gradient_boosting: GradientBoostingParams,
    /// Preprocessing.
    #[serde(default)]
    pub preprocess: PreprocessParams,
    /// Threshold rule.
    pub threshold: Option<ThresholdRule>,
    /// Risk bands.
    pub risk_bands: Option<Vec<RiskBand>>,
    /// Label meaning.
    pub label: Option<LabelInfo>,
}

impl ModelConfig {
    /// Reads a configuration file, or the defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model configuration {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid model configuration {}", path.display()))
    }

    /// The configured risk bands, or the defaults.
    pub fn risk_bands(&self) -> Result<Option<RiskBands>> {
        self.risk_bands
            .clone()
            .map(|bands| RiskBands::new(bands).map_err(anyhow::Error::msg))
            .transpose()
    }
}

/// Model kind as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// L2-regularised logistic regression on standardised features.
    Logistic,
    /// Random forest (histogram-based, trees in parallel).
    RandomForest,
    /// Gradient-boosted trees (histogram-based, leaf-wise, early stopping on held-out rows).
    GradientBoosting,
}

impl From<KindArg> for ModelKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Logistic => Self::Logistic,
            KindArg::RandomForest => Self::RandomForest,
            KindArg::GradientBoosting => Self::GradientBoosting,
        }
    }
}

/// Parses a threshold rule: `max-f1`, `recall:0.8`, `fixed:0.35` or `profit` (whose costs come from the
/// configuration file's `[threshold]` section).
pub fn parse_threshold_rule(text: &str, config: &ModelConfig) -> Result<ThresholdRule> {
    let number = |value: &str| -> Result<f64> {
        value
            .parse::<f64>()
            .with_context(|| format!("`{value}` is not a number"))
    };
    Ok(match text.split_once(':') {
        None if text == "max-f1" => ThresholdRule::MaxF1,
        None if text == "profit" => match config.threshold {
            Some(rule @ ThresholdRule::ExpectedProfit { .. }) => rule,
            _ => bail!(
                "--threshold profit needs offer_cost, customer_value and acceptance_rate in the \
                 [threshold] section of --model-config (with rule = \"expected_profit\")"
            ),
        },
        Some(("recall", value)) => ThresholdRule::TargetRecall {
            recall: number(value)?,
        },
        Some(("fixed", value)) => ThresholdRule::Fixed {
            threshold: number(value)?,
        },
        _ => bail!("unknown threshold rule `{text}`: use max-f1, recall:R, fixed:T or profit"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
            [logistic]
            c = 0.5
            class_weight = { type = "balanced" }
            [random_forest]
            n_trees = 20
            [gradient_boosting]
            learning_rate = 0.1
            early_stopping_rounds = 20
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
        "#;
        let config: ModelConfig = toml::from_str(text).expect("parse");
        assert_eq!(config.logistic.c, 0.5);
        assert_eq!(config.random_forest.n_trees, 20);
        assert_eq!(config.random_forest.max_depth, ForestParams::default().max_depth);
        assert_eq!(config.gradient_boosting.learning_rate, 0.1);
        assert_eq!(config.gradient_boosting.early_stopping_rounds, 20);
        assert_eq!(
            config.gradient_boosting.max_leaves,
            GradientBoostingParams::default().max_leaves
        );
        let unknown = "[gradient_boosting]\nleaves = 8\n";
        assert!(toml::from_str::<ModelConfig>(unknown).is_err());
        let bands = config.risk_bands().expect("bands").expect("some");
        assert_eq!(bands.band(0.7), "high");
        assert!(matches!(
            parse_threshold_rule("profit", &config).expect("rule"),
            ThresholdRule::ExpectedProfit { .. }
        ));
        assert_eq!(
            parse_threshold_rule("recall:0.8", &config).expect("rule"),
            ThresholdRule::TargetRecall { recall: 0.8 }
        );
        assert!(parse_threshold_rule("best", &config).is_err());
        assert!(parse_threshold_rule("profit", &ModelConfig::default()).is_err());
    }
}
