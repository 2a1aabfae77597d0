//! Each RPC of `churn.v1.ScoringService` against a server on 127.0.0.1, with the generated client, and
//! each error code a caller can meet.

use crate::common::{self, Fixture, Ids, MODEL};
use churn_models::FeatureValue as ModelValue;
use churn_server::proto::scoring_service_client::ScoringServiceClient;
use churn_server::proto::{
    self, GetModelInfoRequest, PingRequest, ScoreBatchRequest, ScoreFeaturesRequest, ScoreRequest,
    SurvivalCurveRequest, feature_value::Kind as ValueKind, score_batch_result::Outcome,
};
use churn_server::server::ServerHandle;
use std::collections::HashMap;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

fn number(value: f64) -> proto::FeatureValue {
    proto::FeatureValue {
        kind: Some(ValueKind::Number(value)),
    }
}

fn text(value: &str) -> proto::FeatureValue {
    proto::FeatureValue {
        kind: Some(ValueKind::Text(value.into())),
    }
}

fn missing() -> proto::FeatureValue {
    proto::FeatureValue {
        kind: Some(ValueKind::Missing(true)),
    }
}

/// The features of row `row` of the fixture table as a ScoreFeatures request map.
fn request_features(fixture: &Fixture, row: usize) -> HashMap<String, proto::FeatureValue> {
    let mut features = HashMap::new();
    for column in &fixture.table.columns {
        let value = match &column.values {
            churn_features::ColumnValues::Numeric(values) => values[row].map_or_else(missing, number),
            churn_features::ColumnValues::Categorical(values) => {
                values[row].as_deref().map_or_else(missing, text)
            }
        };
        if column.role != churn_features::ColumnRole::Descriptor {
            features.insert(column.name.clone(), value);
        }
    }
    features
}

#[tokio::test]
async fn score_answers_with_the_model_probability_reasons_descriptors_and_versions() {
    let fixture = Fixture::new(300, Ids::Int);
    let artifact = fixture.registry().load(MODEL, "v1").expect("model").artifact;
    let expected = common::expected_probabilities(&artifact, &fixture.table);
    let explanations = artifact.explain(&fixture.table).expect("explain");
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;

    let curve = client
        .survival_curve(SurvivalCurveRequest {
            customer_id: common::customer_id(Ids::Int, 0),
            days: vec![30],
        })
        .await
        .expect_err("a classifier has no survival curve");
    assert_eq!(curve.code(), Code::FailedPrecondition, "{curve:?}");
    assert!(curve.message().contains("--model cox"), "{curve:?}");

    for row in [0, 1, 17, 299] {
        let id = common::customer_id(Ids::Int, row);
        let response = client
            .score(ScoreRequest {
                customer_id: id.clone(),
                max_reasons: 4,
            })
            .await
            .expect("score")
            .into_inner();
        let score = response.score.expect("score");
        assert_eq!(score.customer_id, id);
        assert!(score.survival.is_none(), "a classifier has no survival answers");
        assert!(
            (score.churn_probability - expected[row]).abs() <= 1e-12,
            "row {row}"
        );
        assert_eq!(score.risk_band, artifact.risk_band(expected[row]));
        assert_eq!(score.above_threshold, Some(expected[row] >= artifact.threshold));
        let want: Vec<_> = explanations[row].top_reasons(4).collect();
        assert_eq!(score.reasons.len(), want.len(), "row {row}");
        for (got, want) in score.reasons.iter().zip(want) {
            assert_eq!(got.feature, want.feature);
            assert_eq!(got.value, want.value.to_string());
            assert!((got.contribution - want.contribution).abs() <= 1e-12);
            assert!(got.contribution > 0.0);
        }
        let descriptor = |name: &str| match &fixture.table.column(name).expect("descriptor").values {
            churn_features::ColumnValues::Categorical(values) => values[row].clone().unwrap_or_default(),
            churn_features::ColumnValues::Numeric(_) => unreachable!("descriptors are text"),
        };
        assert_eq!(score.lifecycle_stage, descriptor("lifecycle_stage"));
        assert_eq!(score.rfm_segment, descriptor("rfm_segment"));
        assert_eq!(score.value_tier, descriptor("value_tier"));
        let value = |name: &str| match &fixture.table.column(name).expect("value column").values {
            churn_features::ColumnValues::Numeric(values) => values[row],
            churn_features::ColumnValues::Categorical(_) => unreachable!("values are numbers"),
        };
        assert_eq!(score.clv, value("clv_12m"));
        assert_eq!(score.p_alive, value("p_alive"));
        assert_eq!(
            score.value_at_risk,
            value("clv_12m").map(|clv| score.churn_probability * clv)
        );
        assert_eq!(score.as_of_date, "2024-03-31");
        let version = response.version.expect("version");
        assert_eq!(version.model_name, MODEL);
        assert_eq!(version.model_version, "v1");
        assert_eq!(version.snapshot_as_of_date, "2024-03-31");
        assert_eq!(version.snapshot_id.len(), 16);
    }

    // max_reasons = 0 gives the default (3), and larger requests are capped (20).
    let default = client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("score")
        .into_inner();
    assert_eq!(
        default.score.expect("score").reasons.len(),
        explanations[0].top_reasons(3).count()
    );
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn a_survival_model_answers_churn_within_30_60_90_days_and_expected_active_days() {
    use churn_features::table::{DURATION_COLUMN, EVENT_COLUMN};
    use churn_features::{ColumnRole, ColumnValues, FeatureColumn};
    use churn_models::train::{NoProgress, TrainOptions, ValidationPlan, train};
    let fixture = Fixture::empty(300, Ids::Int);
    // Durations for training only (the snapshot has none): churned customers leave within 10..69
    // days, the others are censored at 120.
    let mut table = fixture.table.clone();
    let (mut durations, mut events) = (Vec::new(), Vec::new());
    for (i, label) in table.labels.iter().enumerate() {
        let churned = *label == Some(1);
        durations.push(Some(if churned { 10.0 + (i % 60) as f64 } else { 120.0 }));
        events.push(Some(f64::from(u8::from(churned))));
    }
    for (name, values) in [(DURATION_COLUMN, durations), (EVENT_COLUMN, events)] {
        table.columns.push(FeatureColumn {
            name: name.into(),
            role: ColumnRole::Outcome,
            description: None,
            values: ColumnValues::Numeric(values),
        });
    }
    let mut options = TrainOptions::new(churn_models::ModelParams::default_for(
        churn_models::ModelKind::Cox,
    ));
    options.validation = ValidationPlan::None;
    options.importance = None;
    let artifact = train(&table, &options, &NoProgress).expect("train").artifact;
    let version = fixture.save(&artifact);
    fixture.promote(&version);
    let expected = common::expected_probabilities(&artifact, &fixture.table);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    for row in [0, 17, 299] {
        let response = client
            .score(ScoreRequest {
                customer_id: common::customer_id(Ids::Int, row),
                max_reasons: 2,
            })
            .await
            .expect("score")
            .into_inner();
        let score = response.score.expect("score");
        let survival = score.survival.expect("a survival model's answer");
        assert!(
            (score.churn_probability - expected[row]).abs() <= 1e-12,
            "row {row}"
        );
        // The probability is churn within the model's 90-day horizon.
        assert_eq!(survival.horizon_days, 90);
        assert_eq!(survival.churn_probability_90d, score.churn_probability);
        assert!(survival.churn_probability_30d <= survival.churn_probability_60d);
        assert!(survival.churn_probability_60d <= survival.churn_probability_90d);
        assert!(survival.expected_active_days > 0.0 && survival.expected_active_days <= 90.0);
    }
    let info = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.contribution_scale, "log_cumulative_hazard");

    // The survival curve at the requested days, in request order, agrees with the score's churn within
    // 30/60/90 days; without days it is every day of the horizon, never rising.
    let curve = |days: Vec<u32>, row: usize| SurvivalCurveRequest {
        customer_id: common::customer_id(Ids::Int, row),
        days,
    };
    let score = client
        .score(ScoreRequest {
            customer_id: common::customer_id(Ids::Int, 17),
            max_reasons: 0,
        })
        .await
        .expect("score")
        .into_inner()
        .score
        .and_then(|s| s.survival)
        .expect("survival");
    let answer = client
        .survival_curve(curve(vec![90, 30, 60, 0], 17))
        .await
        .expect("curve")
        .into_inner();
    let expected = [
        (90, 1.0 - score.churn_probability_90d),
        (30, 1.0 - score.churn_probability_30d),
        (60, 1.0 - score.churn_probability_60d),
        (0, 1.0),
    ];
    assert_eq!(answer.points.len(), expected.len());
    for (point, (day, survival)) in answer.points.iter().zip(expected) {
        assert_eq!(point.day, day);
        assert!((point.survival - survival).abs() <= 1e-12, "{point:?}");
    }
    assert_eq!(answer.horizon_days, 90);
    assert!(answer.version.is_some());
    let whole = client
        .survival_curve(curve(Vec::new(), 17))
        .await
        .expect("curve")
        .into_inner();
    let days: Vec<u32> = whole.points.iter().map(|p| p.day).collect();
    assert_eq!(days, (1..=90).collect::<Vec<_>>());
    assert!(whole.points.windows(2).all(|w| w[1].survival <= w[0].survival));
    let too_many = client
        .survival_curve(curve(vec![1; 1_001], 17))
        .await
        .expect_err("1,001 days");
    assert_eq!(too_many.code(), Code::InvalidArgument, "{too_many:?}");
    let unknown = client
        .survival_curve(curve(vec![30], 100_000))
        .await
        .expect_err("unknown id");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn score_refuses_unknown_and_empty_ids() {
    let fixture = Fixture::new(50, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;

    let unknown = client
        .score(ScoreRequest {
            customer_id: "999999".into(),
            max_reasons: 0,
        })
        .await
        .expect_err("unknown id");
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.message().contains("999999"), "{}", unknown.message());

    let empty = client
        .score(ScoreRequest {
            customer_id: String::new(),
            max_reasons: 0,
        })
        .await
        .expect_err("empty id");
    assert_eq!(empty.code(), Code::InvalidArgument);

    let metrics = server.metrics();
    assert_eq!(metrics.requests("Score", Code::NotFound), 1);
    assert_eq!(metrics.requests("Score", Code::InvalidArgument), 1);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn score_batch_reports_bad_ids_inside_the_answer_and_refuses_oversized_batches() {
    let fixture = Fixture::new(200, Ids::Str);
    let artifact = fixture.registry().load(MODEL, "v1").expect("model").artifact;
    let expected = common::expected_probabilities(&artifact, &fixture.table);
    let mut config = fixture.config();
    config.limits.max_batch_size = 150;
    let server = common::start_serving(config).await;
    let mut client = common::client(server.local_addr()).await;

    // Long enough to take the parallel path, with an unknown and an empty id in the middle.
    let mut ids: Vec<String> = (0..120).map(|i| common::customer_id(Ids::Str, i)).collect();
    ids.insert(60, "nobody".into());
    ids.insert(61, String::new());
    let response = client
        .score_batch(ScoreBatchRequest {
            customer_ids: ids.clone(),
            max_reasons: 2,
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(response.results.len(), ids.len());
    assert_eq!(response.version.expect("version").model_version, "v1");
    for (result, id) in response.results.iter().zip(&ids) {
        assert_eq!(&result.customer_id, id);
        match (result.outcome.as_ref().expect("outcome"), id.as_str()) {
            (Outcome::Error(error), "nobody") => assert_eq!(error.code, Code::NotFound as i32),
            (Outcome::Error(error), "") => assert_eq!(error.code, Code::InvalidArgument as i32),
            (Outcome::Score(score), id) => {
                let row: usize = id.trim_start_matches("cust-").parse::<usize>().expect("number") - 1000;
                assert!((score.churn_probability - expected[row]).abs() <= 1e-12);
                assert!(score.reasons.len() <= 2);
            }
            (other, id) => panic!("unexpected outcome {other:?} for `{id}`"),
        }
    }

    // A short batch (sequential path) gives the same scores.
    let short = client
        .score_batch(ScoreBatchRequest {
            customer_ids: ids[..3].to_vec(),
            max_reasons: 2,
        })
        .await
        .expect("short batch")
        .into_inner();
    assert_eq!(short.results[..], response.results[..3]);

    let empty = client
        .score_batch(ScoreBatchRequest {
            customer_ids: Vec::new(),
            max_reasons: 0,
        })
        .await
        .expect("empty batch")
        .into_inner();
    assert!(empty.results.is_empty());

    let too_many = client
        .score_batch(ScoreBatchRequest {
            customer_ids: vec!["cust-001000".into(); 151],
            max_reasons: 0,
        })
        .await
        .expect_err("over the limit");
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert!(too_many.message().contains("150"), "{}", too_many.message());
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn score_features_scores_supplied_features_and_names_every_bad_one() {
    let fixture = Fixture::new(100, Ids::Int);
    let model = fixture.registry().load(MODEL, "v1").expect("model");
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;

    let row = 5;
    let features = request_features(&fixture, row);
    let response = client
        .score_features(ScoreFeaturesRequest {
            features: features.clone(),
            max_reasons: 3,
        })
        .await
        .expect("score features")
        .into_inner();
    let score = response.score.expect("score");
    let model_row: churn_models::FeatureRow = features
        .iter()
        .map(|(name, value)| {
            let value = match value.kind.clone().expect("set") {
                ValueKind::Number(v) => ModelValue::Number(v),
                ValueKind::Text(t) => ModelValue::Text(t),
                ValueKind::Missing(_) => ModelValue::Missing,
            };
            (name.clone(), value)
        })
        .collect();
    let expected = model.scorer().score_row(&model_row, 3).expect("score");
    assert!((score.churn_probability - expected.probability).abs() <= 1e-12);
    let reasons: Vec<_> = expected.reasons.iter().map(|r| r.feature.clone()).collect();
    assert_eq!(
        score
            .reasons
            .iter()
            .map(|r| r.feature.clone())
            .collect::<Vec<_>>(),
        reasons
    );
    assert_eq!(score.customer_id, "");
    assert_eq!(score.rfm_segment, "");
    assert_eq!(response.version.expect("version").model_version, "v1");
    assert!(response.unknown_categories.is_empty());

    // A category the model has no level for is scored, and named in the answer.
    let mut typo = features.clone();
    typo.insert("plan".into(), text("platinum-typo"));
    let response = client
        .score_features(ScoreFeaturesRequest {
            features: typo,
            max_reasons: 0,
        })
        .await
        .expect("a typo is scored")
        .into_inner();
    let mut typo_row = model_row.clone();
    typo_row.insert("plan".into(), ModelValue::Text("platinum-typo".into()));
    let expected_typo = model.scorer().score_row(&typo_row, 0).expect("score");
    assert!((response.score.expect("score").churn_probability - expected_typo.probability).abs() <= 1e-12);
    assert_eq!(
        response.unknown_categories,
        [proto::UnknownCategory {
            feature: "plan".into(),
            value: "platinum-typo".into(),
            // Every plan of the fixture is common, so the model has no `other` level.
            scored_as: "no level".into(),
        }]
    );

    // The same customer scored by id gets the same probability.
    let by_id = client
        .score(ScoreRequest {
            customer_id: common::customer_id(Ids::Int, row),
            max_reasons: 0,
        })
        .await
        .expect("score")
        .into_inner();
    assert!((by_id.score.expect("score").churn_probability - score.churn_probability).abs() <= 1e-12);

    let refuse = |features: HashMap<String, proto::FeatureValue>| {
        let mut client = client.clone();
        async move {
            client
                .score_features(ScoreFeaturesRequest {
                    features,
                    max_reasons: 0,
                })
                .await
                .expect_err("must be refused")
        }
    };

    let mut bad = features.clone();
    bad.remove("tenure_days");
    bad.remove("plan");
    let status = refuse(bad).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("`plan`") && status.message().contains("`tenure_days`"),
        "{}",
        status.message()
    );

    let mut bad = features.clone();
    bad.insert("shoe_size".into(), number(44.0));
    bad.insert("rfm_segment".into(), text("champions"));
    let status = refuse(bad).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("`rfm_segment`, `shoe_size`"),
        "{}",
        status.message()
    );

    let mut bad = features.clone();
    bad.insert("total_spend".into(), number(f64::NAN));
    bad.insert("tenure_days".into(), number(f64::INFINITY));
    let status = refuse(bad).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("`total_spend`") && status.message().contains("`tenure_days`"),
        "{}",
        status.message()
    );

    let mut bad = features.clone();
    bad.insert("purchases_90d".into(), text("many"));
    let status = refuse(bad).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("purchases_90d"), "{}", status.message());

    let mut bad = features;
    bad.insert("plan".into(), proto::FeatureValue { kind: None });
    let status = refuse(bad).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("`plan`"), "{}", status.message());
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn model_info_describes_schema_versions_and_limits() {
    let fixture = Fixture::new(80, Ids::Int);
    let model = fixture.registry().load(MODEL, "v1").expect("model");
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    let info = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.model_kind, "logistic");
    assert_eq!(info.contribution_scale, "logit");
    let names: Vec<_> = info.features.iter().map(|f| f.name.as_str()).collect();
    let schema: Vec<_> = model.schema().feature_names().collect();
    assert_eq!(names, schema);
    assert!(names.contains(&"plan") && !names.contains(&"rfm_segment"));
    let plan = info.features.iter().find(|f| f.name == "plan").expect("plan");
    assert_eq!(plan.kind, "categorical");
    assert_eq!(info.threshold, model.threshold());
    assert_eq!(info.risk_bands.len(), model.risk_bands().bands().len());
    assert_eq!(info.snapshot_customers, 80);
    assert_eq!(info.max_batch_size, 5_000);
    assert_eq!(info.clv_column, "clv_12m");
    assert_eq!(info.created_at, model.artifact.created_at);
    let version = info.version.expect("version");
    assert_eq!(
        (version.model_name.as_str(), version.model_version.as_str()),
        (MODEL, "v1")
    );
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn ping_answers_and_gzip_is_spoken_both_ways() {
    let fixture = Fixture::new(30, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr())
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    client.ping(PingRequest {}).await.expect("ping");
    let response = client
        .score_batch(ScoreBatchRequest {
            customer_ids: (0..30).map(|i| common::customer_id(Ids::Int, i)).collect(),
            max_reasons: 3,
        })
        .await
        .expect("compressed batch");
    assert_eq!(
        response
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().expect("ascii")),
        Some("gzip")
    );
    assert_eq!(response.into_inner().results.len(), 30);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn scoring_is_unavailable_until_a_version_is_promoted() {
    let fixture = Fixture::empty(40, Ids::Int);
    let server = churn_server::start(fixture.config()).await.expect("start");
    let mut client = common::client(server.local_addr()).await;
    // The first load attempt fails (nothing promoted); wait for it to be counted.
    common::wait_until("the first load attempt", || server.metrics().reloads(false) >= 1).await;
    assert_eq!(
        common::health(server.local_addr()).await,
        common::ServingStatus::NotServing
    );
    let status = client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect_err("nothing loaded");
    assert_eq!(status.code(), Code::Unavailable);
    let status = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .expect_err("nothing loaded");
    assert_eq!(status.code(), Code::Unavailable);

    let version = fixture.save(&common::train_model(&fixture.table, common::Kind::Logistic(1.0)));
    fixture.promote(&version);
    let outcome = server.reload(false).await;
    assert!(
        matches!(outcome, churn_server::reload::ReloadOutcome::Swapped(_)),
        "{outcome:?}"
    );
    assert_eq!(
        common::health(server.local_addr()).await,
        common::ServingStatus::Serving
    );
    client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("served after the promotion");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn a_bare_name_serves_only_a_promoted_version_and_name_at_version_pins_one() {
    use churn_server::reload::ReloadOutcome;
    let fixture = Fixture::empty(60, Ids::Int);
    let v1 = fixture.save(&common::train_model(&fixture.table, common::Kind::Logistic(1.0)));

    // A version exists but none is promoted: nothing is served, and the failure says how to go on.
    let server = churn_server::start(fixture.config()).await.expect("start");
    common::wait_until("the first load attempt", || server.metrics().reloads(false) >= 1).await;
    match server.reload(true).await {
        ReloadOutcome::Failed(message) => assert!(
            message.contains("no promoted version")
                && message.contains(&format!("churn-trainer models promote {MODEL}@{v1}")),
            "{message}"
        ),
        other => panic!("an unpromoted model was served: {other:?}"),
    }
    server.shutdown();
    server.wait().await.expect("clean stop");

    // NAME@VERSION serves that version, promoted or not, and a promotion leaves it alone.
    let mut config = fixture.config();
    config.model = format!("{MODEL}@{v1}");
    let server = common::start_serving(config).await;
    let v2 = fixture.save(&common::train_model(&fixture.table, common::Kind::Logistic(0.1)));
    fixture.promote(&v2);
    assert_eq!(server.reload(false).await, ReloadOutcome::Unchanged);
    let mut client = common::client(server.local_addr()).await;
    let info = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.version.expect("version").model_version, v1);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

/// A server admitting one call at a time, its only slot taken by a `Ping` held open.
struct OneSlotHeld {
    _fixture: Fixture,
    server: ServerHandle,
    client: ScoringServiceClient<Channel>,
    held: tokio::task::JoinHandle<Result<tonic::Response<proto::PingResponse>, tonic::Status>>,
}

async fn one_slot_held() -> OneSlotHeld {
    let fixture = Fixture::new(30, Ids::Int);
    let mut config = fixture.config();
    config.limits.max_concurrent_requests = 1;
    let server = common::start_serving(config).await;
    let client = common::client(server.local_addr()).await;
    let mut holder = client.clone();
    let held = tokio::spawn(async move { holder.ping(common::held_ping(600_000)).await });
    common::wait_until("the held call to be in flight", || {
        server.metrics().in_flight() == 1
    })
    .await;
    OneSlotHeld {
        _fixture: fixture,
        server,
        client,
        held,
    }
}

#[tokio::test]
async fn overload_is_shed_with_resource_exhausted() {
    // One long call takes the only slot...
    let OneSlotHeld {
        _fixture,
        server,
        mut client,
        held,
    } = one_slot_held().await;
    // ...so the next is refused at once rather than queued.
    let status = client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect_err("shed");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(server.metrics().requests("Score", Code::ResourceExhausted), 1);

    // The client giving up frees the slot.
    held.abort();
    common::wait_until("the slot to be freed", || server.metrics().in_flight() == 0).await;
    client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("served once the slot is free");
    assert_eq!(server.metrics().requests("Ping", Code::Cancelled), 1);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn calls_past_their_deadline_end_with_deadline_exceeded() {
    let fixture = Fixture::new(30, Ids::Int);
    let mut config = fixture.config();
    config.limits.request_timeout = std::time::Duration::from_millis(50);
    let server = common::start_serving(config).await;
    let mut client = common::client(server.local_addr()).await;
    let status = client
        .ping(common::held_ping(600_000))
        .await
        .expect_err("server deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(server.metrics().requests("Ping", Code::DeadlineExceeded), 1);
    // Calls within the deadline are unaffected.
    client.ping(PingRequest {}).await.expect("fast call");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let fixture = Fixture::new(30, Ids::Int);
    let mut config = fixture.config();
    config.limits.max_message_bytes = 1024;
    let server = common::start_serving(config).await;
    let mut client = common::client(server.local_addr()).await;
    let status = client
        .score_batch(ScoreBatchRequest {
            customer_ids: vec!["1000".into(); 500],
            max_reasons: 0,
        })
        .await
        .expect_err("request too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    // An answer over the limit is refused too, rather than sent, saying why (see limits.rs).
    let status = client
        .score_batch(ScoreBatchRequest {
            customer_ids: vec!["1000".into(); 30],
            max_reasons: 5,
        })
        .await
        .expect_err("response too large");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("small calls pass");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn refusing_hundreds_of_calls_keeps_the_connection_open() {
    let OneSlotHeld {
        _fixture,
        server,
        mut client,
        held,
    } = one_slot_held().await;

    // Each refusal is answered by the guard; none may cost the connection (the HTTP/2 layer closes a
    // connection whose unread small frames pile up).
    for i in 0..600 {
        let status = client
            .score(ScoreRequest {
                customer_id: "1000".into(),
                max_reasons: 0,
            })
            .await
            .expect_err("shed");
        assert_eq!(status.code(), Code::ResourceExhausted, "call {i}: {status:?}");
        assert!(
            status.message().contains("limit of 1 calls"),
            "call {i}: {status:?}"
        );
    }
    assert_eq!(server.metrics().requests("Score", Code::ResourceExhausted), 600);
    held.abort();
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn answers_say_whether_the_customer_is_in_the_models_population() {
    use churn_server::reload::ReloadOutcome;
    let fixture = Fixture::new(120, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    let score = |client: &mut ScoringServiceClient<Channel>, row: usize| {
        let mut client = client.clone();
        async move {
            client
                .score(ScoreRequest {
                    customer_id: common::customer_id(Ids::Int, row),
                    max_reasons: 0,
                })
                .await
                .expect("score")
                .into_inner()
                .score
                .expect("score")
        }
    };
    // A model for everyone says nothing.
    assert_eq!(score(&mut client, 0).await.in_population, None);

    let mut artifact = common::train_model(&fixture.table, common::Kind::Logistic(0.1));
    artifact.population = churn_models::Population {
        max_days_since_last_purchase: Some(60),
        ..churn_models::Population::default()
    };
    let mask = artifact.population.mask(&fixture.table).expect("mask");
    assert!(
        mask.contains(&true) && mask.contains(&false),
        "the case needs both"
    );
    fixture.promote(&fixture.save(&artifact));
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    for (row, &inside) in mask.iter().enumerate() {
        assert_eq!(
            score(&mut client, row).await.in_population,
            Some(inside),
            "row {row}"
        );
    }
    server.shutdown();
    server.wait().await.expect("clean stop");
}
