//! Live swaps under load: 60 promotions and snapshot replacements while clients score without pause.
//! No call may fail, every answer must name a promoted version, and every score must be the one its
//! named model and snapshot give (so no answer mixes two pairs). The drift gauges on `/metrics` follow
//! each swap.

use crate::common::{self, Fixture, Ids, Kind, MODEL};
use churn_server::proto::{ScoreBatchRequest, ScoreRequest, score_batch_result::Outcome};
use churn_server::reload::ReloadOutcome;
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
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

/// `GET /metrics` from the metrics port, as a Prometheus scraper asks for it; the body.
async fn scrape(address: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).expect("connect to the metrics port");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .expect("a body")
    })
    .await
    .expect("scrape")
}

/// The value of the series `series` (name and labels, as written) in a scraped text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn drift_gauges_follow_each_swap() {
    let fixture = Fixture::new(300, Ids::Int);
    let server = common::start_serving(fixture.config()).await;
    let address = server.metrics_addr().expect("a metrics port");
    let tenure = r#"churn_feature_psi{feature="tenure_days"}"#;
    let tickets = r#"churn_feature_psi{feature="support_tickets_30d"}"#;

    // v1 was fitted on every row of the March snapshot it serves: nothing has moved.
    let text = scrape(address).await;
    let features = fixture
        .registry()
        .load(MODEL, "v1")
        .expect("v1")
        .artifact
        .schema
        .features
        .len();
    assert_eq!(text.matches("churn_feature_psi{").count(), features, "{text}");
    assert_eq!(value(&text, tenure), Some(0.0), "{text}");
    assert_eq!(
        value(&text, r#"churn_score_psi{model="churn",version="v1"}"#),
        Some(0.0),
        "{text}"
    );

    // An April snapshot whose customers have been with us three years longer.
    let mut april = common::synthetic_table(300, 8, common::april(), Ids::Int);
    for column in &mut april.columns {
        if let ("tenure_days", churn_features::ColumnValues::Numeric(values)) =
            (column.name.as_str(), &mut column.values)
        {
            for value in values.iter_mut().flatten() {
                *value += 3.0 * 365.0;
            }
        }
    }
    fixture.write_snapshot(&april);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    let text = scrape(address).await;
    let shifted = value(&text, tenure).expect("tenure's PSI");
    assert!(shifted > 0.25, "tenure_days moved by three years: PSI {shifted}");
    assert!(value(&text, tickets).is_some_and(|psi| psi < 0.25), "{text}");

    // v2 does without support tickets: their series leaves with v1, and the score's names v2.
    let mut narrower = fixture.table.clone();
    narrower.columns.retain(|c| c.name != "support_tickets_30d");
    let v2 = fixture.save(&common::train_model(&narrower, Kind::Logistic(1.0)));
    fixture.promote(&v2);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    let text = scrape(address).await;
    assert_eq!(value(&text, tickets), None, "{text}");
    assert_eq!(text.matches("churn_feature_psi{").count(), features - 1, "{text}");
    assert!(value(&text, tenure).is_some_and(|psi| psi > 0.25));
    assert!(value(&text, r#"churn_score_psi{model="churn",version="v2"}"#).is_some());
    assert!(!text.contains(r#"version="v1"}"#), "{text}");

    // v3 stores no training distributions (as models trained before drift monitoring): no PSI at all.
    let mut old = common::train_model(&fixture.table, Kind::Logistic(1.0));
    old.drift_reference = None;
    let v3 = fixture.save(&old);
    fixture.promote(&v3);
    assert!(matches!(server.reload(false).await, ReloadOutcome::Swapped(_)));
    let text = scrape(address).await;
    assert!(
        !text.contains("churn_feature_psi{") && !text.contains("churn_score_psi{"),
        "{text}"
    );
    assert!(text.contains(r#"churn_model_info{model="churn",version="v3"} 1"#));
    server.shutdown();
    server.wait().await.expect("clean stop");
}
