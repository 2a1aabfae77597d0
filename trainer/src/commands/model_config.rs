//! Command-line spellings of model choices, calibration methods and threshold rules. The model
//! configuration file itself is `churn_models::ModelConfig`.

use anyhow::{Context, Result, bail};
use churn_models::{CalibrationMethod, ModelConfig, ModelKind, ThresholdRule};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// What `--model` asks for: one kind, or every kind compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// Fit every kind on the same split and keep the best by validation ROC AUC.
    Auto,
    /// One kind.
    Kind(ModelKind),
}

/// `--model`'s parser: the kinds of the registry of kinds, then `auto`.
pub fn model_choice() -> impl TypedValueParser<Value = ModelChoice> {
    let kinds = ModelKind::ALL
        .iter()
        .map(|kind| PossibleValue::new(kind.name()).help(kind.description()));
    let auto = PossibleValue::new("auto").help(
        "every kind fitted on labels (all but the survival kind cox) on the same split; keeps the best \
         validation ROC AUC (a more complex kind must win by more than 0.001)",
    );
    PossibleValuesParser::new(kinds.chain([auto]))
        .map(|name| name.parse().map_or(ModelChoice::Auto, ModelChoice::Kind))
}

/// `--calibration`'s parser.
pub fn calibration_method() -> impl TypedValueParser<Value = CalibrationMethod> {
    PossibleValuesParser::new(CalibrationMethod::ALL.map(|method| method.name()))
        .map(|name| name.parse().unwrap_or(CalibrationMethod::Auto))
}

/// Parses and checks a threshold rule: `max-f1`, `recall:0.8`, `fixed:0.35` or `profit` (whose costs
/// come from the configuration file's `[threshold]` section).
pub fn parse_threshold_rule(text: &str, config: &ModelConfig) -> Result<ThresholdRule> {
    let number = |value: &str| -> Result<f64> {
        value
            .parse::<f64>()
            .with_context(|| format!("`{value}` is not a number"))
    };
    let rule = match text.split_once(':') {
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
    };
    rule.check()?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rules_parse_and_profit_needs_its_costs() {
        let config = ModelConfig::parse(
            "[threshold]\nrule = \"expected_profit\"\noffer_cost = 5.0\ncustomer_value = 120.0\nacceptance_rate = 0.3\n",
        )
        .expect("config");
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
