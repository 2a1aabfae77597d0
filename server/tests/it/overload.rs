//! Overload stays bounded: batches are admitted by their number of ids, refused at once when the server
//! is full, and a batch cut off by its deadline stops its work instead of burning CPU after its call
//! ended.

use crate::common::{self, Fixture, Ids, Kind};
use churn_server::proto::ScoreBatchRequest;
use std::time::{Duration, Instant};
use tonic::Code;

/// Concurrent `ScoreBatch` calls of 10,000 ids.
const CALLS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_past_their_deadline_end_in_time_and_leave_no_work_behind() {
    let fixture = Fixture::new(2_000, Ids::Int);
    // Gradient boosting, the slowest kind to score with reasons (exact TreeSHAP), so that 10,000 ids take
    // far longer than the deadline and no batch can finish in time: an answer that did would be a large
    // message, whose arrival a busy test process can delay past the bound checked here.
    let version = fixture.save(&common::train_model(&fixture.table, Kind::Boosting(3)));
    fixture.promote(&version);
    // The deadline is the server's: a tonic client whose own deadline fires first resets the call and
    // sees CANCELLED, never the server's answer.
    let deadline = Duration::from_millis(20);
    let mut config = fixture.config();
    config.limits.request_timeout = deadline;
    config.limits.max_batch_size = 10_000;
    let server = common::start_serving(config).await;
    let ids: Vec<String> = (0..10_000)
        .map(|i| common::customer_id(Ids::Int, i % 2_000))
        .collect();

    // Sixteen calls at once: eight times what the batch budget admits (two batches of 10,000 ids). More
    // would measure this process's own client more than the server: 60 such calls put 3.6 MB through one
    // client on the same two cores (that run is measured with churn-loadgen, see server/README.md).
    let client = common::client(server.local_addr()).await;
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let mut client = client.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                let request = tonic::Request::new(ScoreBatchRequest {
                    customer_ids: ids,
                    max_reasons: 20,
                });
                let started = Instant::now();
                let code = match client.score_batch(request).await {
                    Ok(_) => Code::Ok,
                    Err(status) => status.code(),
                };
                (code, started.elapsed(), Instant::now())
            })
        })
        .collect();
    let mut last_end = None;
    for call in calls {
        let (code, took, ended) = call.await.expect("call task");
        assert!(
            matches!(code, Code::Ok | Code::ResourceExhausted | Code::DeadlineExceeded),
            "{code:?}"
        );
        assert!(
            took <= deadline + Duration::from_millis(100),
            "{code:?} after {took:?}"
        );
        last_end = last_end.max(Some(ended));
    }
    let last_end = last_end.expect("calls");

    // The work of every batch stops within a chunk of its call's end.
    common::wait_until("batch work to stop", || {
        server.metrics().batch_ids_in_flight() == 0 && server.metrics().in_flight() == 0
    })
    .await;
    let stopped_after = last_end.elapsed();
    assert!(
        stopped_after <= Duration::from_millis(100),
        "batch work ran on for {stopped_after:?} after the last call ended"
    );
    let metrics = server.metrics();
    assert_eq!(
        metrics.requests("ScoreBatch", Code::Ok)
            + metrics.requests("ScoreBatch", Code::ResourceExhausted)
            + metrics.requests("ScoreBatch", Code::DeadlineExceeded),
        CALLS as u64
    );
    assert!(
        metrics.requests("ScoreBatch", Code::ResourceExhausted) > 0,
        "some calls are shed"
    );
    assert!(
        metrics.requests("ScoreBatch", Code::DeadlineExceeded) > 0,
        "some admitted calls are cut off by the deadline"
    );
    server.shutdown();
    server.wait().await.expect("clean stop");
}
