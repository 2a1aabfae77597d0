//! Live swaps under load: 60 promotions and snapshot replacements while clients score without pause.
//! No call may fail, every answer must name a promoted version, and every score must be the one its
//! named model and snapshot give (so no answer mixes two pairs).

use crate::common::{self, Fixture, Ids, Kind, MODEL};
use churn_server::proto::{ScoreBatchRequest, ScoreRequest, score_batch_result::Outcome};
use churn_server::reload::ReloadOutcome;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const CUSTOMERS: usize = 200;
const SWAPS: usize = 60;
const CLIENTS: usize = 4;

/// What the clients saw.
#[derive(Default)]
struct Observed {
    answers: usize,
    failures: Vec<String>,
    pairs: BTreeSet<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_swaps_under_continuous_requests_fail_no_call() {
    let fixture = Fixture::new(CUSTOMERS, Ids::Int);
    let march = fixture.table.clone();
    let april = common::synthetic_table(CUSTOMERS, 8, common::april(), Ids::Int);
    let v2 = fixture.save(&common::train_model(&march, Kind::Forest(5)));
    let v3 = fixture.save(&common::train_model(&march, Kind::Logistic(0.05)));
    let versions = ["v1".to_string(), v2, v3];

    // The probability each (model version, snapshot date) pair gives each customer.
    let mut expected: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for version in &versions {
        let artifact = fixture.registry().load(MODEL, version).expect("model").artifact;
        for table in [&march, &april] {
            let date = table.as_of[0].expect("dated").to_string();
            expected.insert(
                (version.clone(), date),
                common::expected_probabilities(&artifact, table),
            );
        }
    }
    let expected = Arc::new(expected);

    let server = common::start_serving(fixture.config()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let mut clients = Vec::new();
    for worker in 0..CLIENTS {
        let mut client = common::client(server.local_addr()).await;
        let (stop, observed, expected) = (stop.clone(), observed.clone(), expected.clone());
        clients.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                i += 7;
                let row = i % CUSTOMERS;
                let mut seen = Vec::new();
                let mut failure = None;
                if i % 2 == 0 {
                    match client
                        .score(ScoreRequest {
                            customer_id: common::customer_id(Ids::Int, row),
                            max_reasons: 2,
                        })
                        .await
                    {
                        Ok(response) => {
                            let response = response.into_inner();
                            let version = response.version.expect("version");
                            let score = response.score.expect("score");
                            seen.push((
                                version.model_version,
                                version.snapshot_as_of_date,
                                row,
                                score.churn_probability,
                            ));
                        }
                        Err(status) => failure = Some(format!("Score: {status:?}")),
                    }
                } else {
                    let rows: Vec<usize> = (0..10).map(|k| (row + 13 * k) % CUSTOMERS).collect();
                    match client
                        .score_batch(ScoreBatchRequest {
                            customer_ids: rows.iter().map(|&r| common::customer_id(Ids::Int, r)).collect(),
                            max_reasons: 2,
                        })
                        .await
                    {
                        Ok(response) => {
                            let response = response.into_inner();
                            let version = response.version.expect("version");
                            for (result, &r) in response.results.iter().zip(&rows) {
                                match result.outcome.as_ref().expect("outcome") {
                                    Outcome::Score(score) => seen.push((
                                        version.model_version.clone(),
                                        version.snapshot_as_of_date.clone(),
                                        r,
                                        score.churn_probability,
                                    )),
                                    Outcome::Error(error) => {
                                        failure = Some(format!("batch entry: {error:?}"))
                                    }
                                }
                            }
                        }
                        Err(status) => failure = Some(format!("ScoreBatch: {status:?}")),
                    }
                }
                let mut observed = observed.lock().expect("lock");
                observed.answers += 1;
                observed.failures.extend(failure);
                for (version, date, row, probability) in seen {
                    match expected.get(&(version.clone(), date.clone())) {
                        Some(probabilities) if (probabilities[row] - probability).abs() <= 1e-12 => {}
                        Some(probabilities) => observed.failures.push(format!(
                            "{version}/{date} row {row}: {probability} instead of {}",
                            probabilities[row]
                        )),
                        None => observed.failures.push(format!("unknown pair {version}/{date}")),
                    }
                    observed.pairs.insert((version, date));
                }
            }
        }));
    }

    let mut promoted = BTreeSet::from(["v1".to_string()]);
    let mut model = 0;
    let mut on_april = false;
    for swap in 0..SWAPS {
        if swap % 2 == 0 {
            model = (model + 1) % versions.len();
            fixture.promote(&versions[model]);
            promoted.insert(versions[model].clone());
        } else {
            on_april = !on_april;
            fixture.write_snapshot(if on_april { &april } else { &march });
        }
        let outcome = server.reload(false).await;
        assert!(
            matches!(outcome, ReloadOutcome::Swapped(_)),
            "swap {swap}: {outcome:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }

    let observed = std::mem::take(&mut *observed.lock().expect("lock"));
    assert!(
        observed.failures.is_empty(),
        "{} failures, first: {:?}",
        observed.failures.len(),
        observed.failures.first()
    );
    assert!(
        observed.answers > SWAPS,
        "clients kept calling during the swaps ({} answers)",
        observed.answers
    );
    assert!(
        observed.pairs.len() >= 2,
        "answers came from several pairs: {:?}",
        observed.pairs
    );
    for (version, _) in &observed.pairs {
        assert!(promoted.contains(version), "{version} was never promoted");
    }
    assert_eq!(server.metrics().reloads(true), 1 + SWAPS as u64);
    assert_eq!(server.metrics().reloads(false), 0);
    server.shutdown();
    server.wait().await.expect("clean stop");
}
