//! Health transitions, live swaps (promotion, rollback, new snapshot, polling), failed loads that keep
//! the old pair serving, and graceful shutdown that finishes calls in flight.

use crate::common::{self, Fixture, Ids, Kind, MODEL, ServingStatus};
use churn_server::proto::{PingRequest, ScoreRequest};
use churn_server::reload::ReloadOutcome;
use std::time::Duration;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn version_of(
    client: &mut churn_server::proto::scoring_service_client::ScoringServiceClient<tonic::transport::Channel>,
) -> (String, String) {
    let version = client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("score")
        .into_inner()
        .version
        .expect("version");
    (version.model_version, version.snapshot_as_of_date)
}

#[tokio::test]
async fn promotions_rollbacks_and_new_snapshots_are_swapped_in() {
    let fixture = Fixture::new(120, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    assert_eq!(version_of(&mut client).await, ("v1".into(), "2024-03-31".into()));

    // Nothing changed: nothing to do.
    assert_eq!(server.reload(false).await, ReloadOutcome::Unchanged);

    let v2 = fixture.save(&common::train_model(&fixture.table, Kind::Forest(3)));
    fixture.promote(&v2);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(v) if v.model_version == "v2"));
    assert_eq!(version_of(&mut client).await, ("v2".into(), "2024-03-31".into()));

    let april = common::synthetic_table(120, 8, common::april(), Ids::Int);
    fixture.write_snapshot(&april);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    assert_eq!(version_of(&mut client).await, ("v2".into(), "2024-04-30".into()));

    assert_eq!(fixture.registry().rollback(MODEL).expect("rollback"), "v1");
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    assert_eq!(version_of(&mut client).await, ("v1".into(), "2024-04-30".into()));

    // A forced reload (SIGHUP) reads both again even though nothing changed.
    assert!(matches!(server.reload(true).await, ReloadOutcome::Swapped(_)));
    assert_eq!(server.metrics().reloads(true), 5);
    assert_eq!(server.metrics().reloads(false), 0);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn polling_notices_a_promotion_without_being_asked() {
    let fixture = Fixture::new(60, Ids::Int);
    let mut config = fixture.config();
    config.reload_interval = Some(Duration::from_millis(20));
    let server = common::start_serving(config).await;
    let v2 = fixture.save(&common::train_model(&fixture.table, Kind::Logistic(0.05)));
    fixture.promote(&v2);
    common::wait_until("the poller to swap in v2", || {
        server.state().version().is_some_and(|v| v.model_version == "v2")
    })
    .await;
    let mut client = common::client(server.local_addr()).await;
    assert_eq!(version_of(&mut client).await.0, "v2");
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn a_corrupt_model_or_a_mismatched_snapshot_leaves_the_old_pair_serving() {
    let fixture = Fixture::new(80, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    let before = client
        .score(ScoreRequest {
            customer_id: "1001".into(),
            max_reasons: 3,
        })
        .await
        .expect("score")
        .into_inner();

    // v2 is promoted, then its artifact is damaged on disk (one byte of the payload changed).
    let v2 = fixture.save(&common::train_model(&fixture.table, Kind::Logistic(0.1)));
    fixture.promote(&v2);
    let artifact = fixture.registry_dir.join(MODEL).join(&v2).join("model.json");
    let text = common::read_text(&artifact).replacen("\"threshold\":", "\"threshold\": ", 1);
    std::fs::write(&artifact, text).expect("corrupt");
    match server.reload(false).await {
        ReloadOutcome::Failed(error) => assert!(error.contains("checksum"), "{error}"),
        other => panic!("expected a failed load, got {other:?}"),
    }
    let after = client
        .score(ScoreRequest {
            customer_id: "1001".into(),
            max_reasons: 3,
        })
        .await
        .expect("still served")
        .into_inner();
    assert_eq!(after, before, "the old pair answers, unchanged");
    assert_eq!(common::health(server.local_addr()).await, ServingStatus::Serving);
    // The same failure is not retried until something changes.
    assert_eq!(server.reload(false).await, ReloadOutcome::Unchanged);
    assert_eq!(server.metrics().reloads(false), 1);

    // Back to v1; a snapshot without a feature the model needs is refused by name.
    assert_eq!(fixture.registry().rollback(MODEL).expect("rollback"), "v1");
    let mut table = common::synthetic_table(80, 9, common::april(), Ids::Int);
    table.columns.retain(|c| c.name != "tenure_days");
    fixture.write_snapshot(&table);
    match server.reload(false).await {
        ReloadOutcome::Failed(error) => assert!(error.contains("tenure_days"), "{error}"),
        other => panic!("expected a failed load, got {other:?}"),
    }
    // A file that is not Parquet at all.
    std::fs::write(&fixture.snapshot, b"PAR1 but not really").expect("garbage");
    assert!(matches!(server.reload(false).await, ReloadOutcome::Failed(_)));
    let still = client
        .score(ScoreRequest {
            customer_id: "1001".into(),
            max_reasons: 3,
        })
        .await
        .expect("still served")
        .into_inner();
    assert_eq!(still, before);
    assert_eq!(server.metrics().reloads(false), 3);
    let metrics_text = server.metrics().encode();
    assert!(
        metrics_text.contains(r#"churn_reloads_total{outcome="failure"} 3"#),
        "{metrics_text}"
    );
    assert!(
        metrics_text.contains(r#"churn_model_info{model="churn",version="v1"} 1"#),
        "{metrics_text}"
    );

    // Fixing both brings the new pair in.
    let v3 = fixture.save(&common::train_model(&fixture.table, Kind::Logistic(0.2)));
    fixture.promote(&v3);
    fixture.write_snapshot(&common::synthetic_table(80, 9, common::april(), Ids::Int));
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(v) if v.model_version == "v3"));
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn a_snapshot_refused_for_its_stale_summary_is_read_again_once_the_summary_changes() {
    let fixture = Fixture::new(60, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    // A new snapshot copied over the old one, beside a summary of another file.
    fixture.write_snapshot(&common::synthetic_table(60, 9, common::april(), Ids::Int));
    let summary = churn_features::output::summary_path(&fixture.snapshot);
    let stale = serde_json::json!({ "file": { "name": "snapshot.parquet", "bytes": 1, "sha256": "00" } });
    std::fs::write(&summary, stale.to_string()).expect("stale summary");
    match server.reload(false).await {
        ReloadOutcome::Failed(error) => assert!(error.contains("does not match its summary"), "{error}"),
        other => panic!("expected a failed load, got {other:?}"),
    }
    assert_eq!(server.reload(false).await, ReloadOutcome::Unchanged);
    // The stale summary removed (or replaced by the right one): the snapshot is read again, no SIGHUP.
    std::fs::remove_file(&summary).expect("remove");
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(v) if v.snapshot_as_of.is_some()));
    // Writing a summary beside the served snapshot reloads nothing.
    std::fs::write(&summary, "{}").expect("summary");
    assert_eq!(server.reload(false).await, ReloadOutcome::Unchanged);
    server.shutdown();
    server.wait().await.expect("clean stop");
}

#[tokio::test]
async fn health_goes_not_serving_then_serving_then_not_serving_while_draining() {
    let fixture = Fixture::empty(40, Ids::Int);
    let server = churn_server::start(fixture.config()).await.expect("start");
    common::wait_until("the first load attempt", || server.metrics().reloads(false) >= 1).await;
    assert_eq!(
        common::health(server.local_addr()).await,
        ServingStatus::NotServing
    );

    let version = fixture.save(&common::train_model(&fixture.table, Kind::Logistic(1.0)));
    fixture.promote(&version);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    assert_eq!(common::health(server.local_addr()).await, ServingStatus::Serving);

    // With a grace period the listener stays open, reporting NOT_SERVING, while calls still work.
    let mut config = fixture.config();
    config.shutdown.grace = Duration::from_secs(600);
    server.shutdown();
    server.wait().await.expect("clean stop");
    let server = common::start_serving(config).await;
    let address = server.local_addr();
    server.shutdown();
    common::wait_for_status(address, ServingStatus::NotServing).await;
    let mut client = common::client(address).await;
    client
        .ping(PingRequest {})
        .await
        .expect("served during the grace period");
    client
        .score(ScoreRequest {
            customer_id: "1000".into(),
            max_reasons: 0,
        })
        .await
        .expect("scored during the grace period");
    // Reloading stops with the shutdown: the pair being served stays until the end.
    assert!(matches!(server.reload(true).await, ReloadOutcome::Failed(_)));
    assert_eq!(common::health(address).await, ServingStatus::NotServing);
}

#[tokio::test]
async fn graceful_shutdown_finishes_calls_in_flight_and_refuses_new_connections() {
    let fixture = Fixture::new(40, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let address = server.local_addr();
    let mut client = common::client(address).await;

    // A health watcher keeps its stream open until the server ends it.
    let mut health = HealthClient::new(common::channel(address).await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("stream").expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let in_flight = tokio::spawn(async move { client.ping(common::held_ping(1_500)).await });
    common::wait_until("the call to be in flight", || server.metrics().in_flight() == 1).await;
    let metrics = server.metrics().clone();
    server.shutdown();
    let stopped = tokio::spawn(server.wait());

    let answer = in_flight.await.expect("task");
    assert!(answer.is_ok(), "the call in flight finished normally: {answer:?}");
    // The watcher hears NOT_SERVING, then its stream ends with UNAVAILABLE instead of holding the drain.
    let draining = watch.message().await.expect("stream").expect("status");
    assert_eq!(draining.status, ServingStatus::NotServing as i32);
    let end = watch.message().await.expect_err("the stream ends with a status");
    assert_eq!(end.code(), Code::Unavailable);
    stopped.await.expect("task").expect("clean stop");
    assert_eq!(metrics.requests("Ping", Code::Ok), 1);
    assert_eq!(metrics.in_flight(), 0);
    let refused = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}
