//! Scoring cost inside the server, without gRPC: one customer by id, a batch of 1,000 ids, and the
//! protobuf encoding of a 1,000-id answer, for a logistic regression and a 100-tree random forest trained
//! on the synthetic table of the integration tests (20,000 customers).
//!
//! `cargo bench --manifest-path bench/criterion/Cargo.toml --bench server_scoring`
//!
//! With `CHURN_BENCH_REGISTRY`, `CHURN_BENCH_SNAPSHOT` and `CHURN_BENCH_MODELS` (comma-separated model
//! names) set, it times those promoted models on that snapshot instead, with 1,000 ids drawn from it
//! (`bench/server_bench.sh` leaves such a registry and snapshot in `target/bench-data/`).

#![allow(missing_docs)]

#[path = "../../../server/tests/it/common.rs"]
mod common;

use churn_server::pair::ServingPair;
use churn_server::proto;
use churn_server::snapshot::Snapshot;
use common::{Ids, Kind};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use prost::Message;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const CUSTOMERS: usize = 20_000;

/// The server's allocator (see `src/main.rs`), so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pair(kind: Kind) -> ServingPair {
    let table = common::synthetic_table(CUSTOMERS, 7, common::march(), Ids::Int);
    let artifact = match kind {
        Kind::Logistic(_) | Kind::Boosting(_) => common::train_model(&table, kind),
        Kind::Forest(seed) => {
            let mut options = churn_models::train::TrainOptions::new(
                churn_models::ModelParams::RandomForest(churn_models::ForestParams {
                    n_trees: 100,
                    max_depth: 10,
                    seed,
                    ..churn_models::ForestParams::default()
                }),
            );
            options.validation = churn_models::train::ValidationPlan::None;
            options.importance = None;
            churn_models::train::train(&table, &options, &churn_models::train::NoProgress)
                .expect("training")
                .artifact
        }
    };
    let model = churn_models::LoadedModel {
        name: "bench".into(),
        version: "v1".into(),
        path: "model.json".into(),
        artifact,
    };
    let snapshot =
        Snapshot::from_table(table, Path::new("snapshot.parquet"), "bench".into(), None).expect("snapshot");
    ServingPair::build(Arc::new(model), Arc::new(snapshot)).expect("pair")
}

/// The pairs to time, with 1,000 ids of each: the named promoted models on the given snapshot when the
/// `CHURN_BENCH_*` variables are set, else both kinds trained on the synthetic table.
fn pairs() -> Vec<(String, ServingPair, Vec<String>)> {
    if let (Ok(registry), Ok(snapshot), Ok(models)) = (
        std::env::var("CHURN_BENCH_REGISTRY"),
        std::env::var("CHURN_BENCH_SNAPSHOT"),
        std::env::var("CHURN_BENCH_MODELS"),
    ) {
        let registry = churn_models::Registry::open(&registry).expect("registry");
        let snapshot = Arc::new(Snapshot::read(Path::new(&snapshot)).expect("snapshot"));
        let ids: Vec<String> = (0..1000)
            .map(|i| snapshot.customer_id((i * 7919) % snapshot.len()))
            .collect();
        return models
            .split(',')
            .map(|name| {
                let model = Arc::new(registry.load_promoted(name).expect("promoted model"));
                let pair = ServingPair::build(model, snapshot.clone()).expect("pair");
                (name.to_string(), pair, ids.clone())
            })
            .collect();
    }
    let ids: Vec<String> = (0..1000)
        .map(|i| common::customer_id(Ids::Int, (i * 17) % CUSTOMERS))
        .collect();
    [
        ("logistic", Kind::Logistic(1.0)),
        ("forest-100x10", Kind::Forest(1)),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_string(), pair(kind), ids.clone()))
    .collect()
}

fn scoring(c: &mut Criterion) {
    for (name, pair, ids) in pairs() {
        let mut group = c.benchmark_group(name);
        for reasons in [0, 3] {
            group.bench_with_input(
                BenchmarkId::new("score_customer", reasons),
                &reasons,
                |b, &reasons| {
                    let mut i = 0;
                    b.iter(|| {
                        i = (i + 1) % ids.len();
                        black_box(pair.score_customer(&ids[i], reasons).expect("known"))
                    })
                },
            );
        }
        group.bench_function("score_customers_1000", |b| {
            b.iter(|| black_box(pair.score_customers(&ids, 3)))
        });
        group.bench_function("encode_batch_answer_1000", |b| {
            let scores = pair.score_customers(&ids, 3);
            b.iter(|| {
                let results = ids
                    .iter()
                    .zip(&scores)
                    .map(|(id, score)| proto::ScoreBatchResult {
                        customer_id: id.clone(),
                        outcome: Some(proto::score_batch_result::Outcome::Score(
                            score.as_ref().expect("known").clone().into(),
                        )),
                    })
                    .collect();
                let response = proto::ScoreBatchResponse {
                    results,
                    version: Some((&pair.version).into()),
                };
                black_box(response.encode_to_vec())
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = scoring
}
criterion_main!(benches);
