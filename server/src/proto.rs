//! The `churn.v1` API generated from `proto/churn/v1/scoring.proto`, and the conversions between its
//! messages and the server's domain types. Conversions live here so that the service stays thin.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("churn.v1");

use crate::error::{ServeError, name_list};
use crate::pair::{ServingPair, ServingVersion as DomainVersion};
use crate::scoring::{Score, ScoreReason};
use churn_models::{ContributionScale, FeatureRow};
use std::collections::HashMap;

/// The encoded file descriptor set of `churn.v1` and `inference`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("api_descriptor");

/// The Open Inference Protocol (`inference.GRPCInferenceService`) generated from
/// `proto/inference/grpc_predict_v2.proto`; [`crate::inference`] serves it.
pub mod inference {
    tonic::include_proto!("inference");
}

/// A date as ISO 8601 (`YYYY-MM-DD`), written into a string of its length (chrono writes a date a
/// character at a time, which would grow an empty string three times, on every answer).
fn iso_date(date: chrono::NaiveDate) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(10);
    write!(text, "{date}").expect("a String takes any text");
    text
}

impl From<&DomainVersion> for ServingVersion {
    fn from(version: &DomainVersion) -> Self {
        Self {
            model_name: version.model_name.clone(),
            model_version: version.model_version.clone(),
            snapshot_as_of_date: version.snapshot_as_of.map(iso_date).unwrap_or_default(),
            snapshot_id: version.snapshot_id.clone(),
        }
    }
}

impl From<ScoreReason> for Reason {
    fn from(reason: ScoreReason) -> Self {
        Self {
            feature: reason.feature,
            value: reason.value,
            contribution: reason.contribution,
            group: reason.group,
            text: reason.text,
        }
    }
}

impl From<Score> for CustomerScore {
    fn from(score: Score) -> Self {
        Self {
            customer_id: score.customer_id,
            churn_probability: score.probability,
            risk_band: score.risk_band,
            above_threshold: Some(score.above_threshold),
            reasons: score.reasons.into_iter().map(Reason::from).collect(),
            lifecycle_stage: score.lifecycle_stage.unwrap_or_default(),
            rfm_segment: score.rfm_segment.unwrap_or_default(),
            value_tier: score.value_tier.unwrap_or_default(),
            as_of_date: score.as_of.map(iso_date).unwrap_or_default(),
            clv: score.value.clv,
            value_at_risk: score.value.value_at_risk(score.probability),
            p_alive: score.value.p_alive,
            survival: score.survival.map(|survival| SurvivalScore {
                churn_probability_30d: survival.churn_within[0],
                churn_probability_60d: survival.churn_within[1],
                churn_probability_90d: survival.churn_within[2],
                expected_active_days: survival.expected_active_days,
                horizon_days: survival.horizon_days,
            }),
            in_population: score.in_population,
        }
    }
}

/// The category values without a level in the model, one entry per feature and value, in feature name
/// then value order.
pub fn unknown_categories(unknown: &churn_models::UnknownCategories) -> Vec<UnknownCategory> {
    unknown
        .features()
        .flat_map(|(feature, values)| {
            values.counts.keys().map(move |value| UnknownCategory {
                feature: feature.to_string(),
                value: value.clone(),
                scored_as: if values.scored_as_other {
                    "other"
                } else {
                    "no level"
                }
                .to_string(),
            })
        })
        .collect()
}

/// The caller's features as the model reads them. A value must set exactly one of `number`, `text` or
/// `missing: true`; every feature that does not is named in the error.
pub fn feature_row(features: HashMap<String, FeatureValue>) -> Result<FeatureRow, ServeError> {
    let mut row = FeatureRow::with_capacity(features.len());
    let mut unset = Vec::new();
    for (name, value) in features {
        let value = match value.kind {
            Some(feature_value::Kind::Number(number)) => churn_models::FeatureValue::Number(number),
            Some(feature_value::Kind::Text(text)) => churn_models::FeatureValue::Text(text),
            Some(feature_value::Kind::Missing(true)) => churn_models::FeatureValue::Missing,
            Some(feature_value::Kind::Missing(false)) | None => {
                unset.push(name);
                continue;
            }
        };
        row.insert(name, value);
    }
    if !unset.is_empty() {
        unset.sort_unstable();
        let unset: Vec<&str> = unset.iter().map(String::as_str).collect();
        return Err(ServeError::InvalidArgument(format!(
            "{} (set `number`, `text` or `missing: true`)",
            name_list("features without a value", &unset)
        )));
    }
    Ok(row)
}

/// Describes the model of `pair`; `max_batch_size` is the server's batch limit.
pub fn model_info(pair: &ServingPair, max_batch_size: usize) -> GetModelInfoResponse {
    let artifact = &pair.model.artifact;
    let metrics = artifact
        .metrics
        .as_ref()
        .map(|m| {
            HashMap::from([
                ("roc_auc".to_string(), m.roc_auc),
                ("pr_auc".to_string(), m.pr_auc),
                ("log_loss".to_string(), m.log_loss),
                ("brier".to_string(), m.brier),
                ("precision".to_string(), m.precision),
                ("recall".to_string(), m.recall),
                ("f1".to_string(), m.f1),
            ])
        })
        .unwrap_or_default();
    let scale = churn_models::ChurnModel::contribution_scale(&artifact.model);
    GetModelInfoResponse {
        version: Some((&pair.version).into()),
        model_kind: artifact.kind.to_string(),
        features: artifact
            .schema
            .features
            .iter()
            .map(|feature| FeatureInfo {
                name: feature.name.clone(),
                kind: feature.encoding.type_name().to_string(),
                description: feature.description.clone().unwrap_or_default(),
            })
            .collect(),
        metrics,
        threshold: artifact.threshold,
        risk_bands: artifact
            .risk_bands
            .bands()
            .iter()
            .map(|band| RiskBandInfo {
                name: band.name.clone(),
                min_probability: band.min_probability,
            })
            .collect(),
        contribution_scale: match scale {
            ContributionScale::Logit => "logit",
            ContributionScale::Probability => "probability",
            ContributionScale::LogCumulativeHazard => "log_cumulative_hazard",
        }
        .to_string(),
        created_at: artifact.created_at.clone(),
        training_as_of_dates: artifact.training.as_of_dates.clone(),
        label_definition: artifact.label.definition.clone().unwrap_or_default(),
        label_horizon_days: artifact.label.horizon_days.unwrap_or(0),
        snapshot_customers: pair.snapshot.len() as u64,
        max_batch_size: u32::try_from(max_batch_size).unwrap_or(u32::MAX),
        clv_column: pair.snapshot.clv_column().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn above_threshold_false_is_sent_on_the_wire() {
        let score = |above_threshold| Score {
            customer_id: "C1".into(),
            probability: 0.25,
            risk_band: "low".into(),
            above_threshold,
            reasons: Vec::new(),
            lifecycle_stage: None,
            rfm_segment: None,
            value_tier: None,
            as_of: None,
            value: churn_models::CustomerValue::default(),
            survival: None,
            in_population: None,
        };
        for flag in [false, true] {
            let bytes = prost::Message::encode_to_vec(&CustomerScore::from(score(flag)));
            // Field 4, varint: tag byte 0x20, then the value; present even when false.
            assert!(
                bytes.windows(2).any(|pair| pair == [0x20, u8::from(flag)]),
                "{bytes:?}"
            );
            let decoded: CustomerScore = prost::Message::decode(bytes.as_slice()).expect("decode");
            assert_eq!(decoded.above_threshold, Some(flag));
        }
    }

    #[test]
    fn feature_values_need_exactly_one_kind() {
        let value = |kind| FeatureValue { kind };
        let row = feature_row(HashMap::from([
            ("a".to_string(), value(Some(feature_value::Kind::Number(1.5)))),
            (
                "b".to_string(),
                value(Some(feature_value::Kind::Text("gold".into()))),
            ),
            ("c".to_string(), value(Some(feature_value::Kind::Missing(true)))),
        ]))
        .expect("valid");
        assert_eq!(row["a"], churn_models::FeatureValue::Number(1.5));
        assert_eq!(row["b"], churn_models::FeatureValue::Text("gold".into()));
        assert_eq!(row["c"], churn_models::FeatureValue::Missing);

        let error = feature_row(HashMap::from([
            ("z".to_string(), value(None)),
            ("y".to_string(), value(Some(feature_value::Kind::Missing(false)))),
            ("a".to_string(), value(Some(feature_value::Kind::Number(1.0)))),
        ]))
        .expect_err("unset values");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            error.to_string(),
            "2 features without a value: `y`, `z` (set `number`, `text` or `missing: true`)"
        );
    }
}
