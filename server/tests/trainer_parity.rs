//! The server's scores equal `churn-trainer score` output for the same model and snapshot: probability
//! within 1e-12, the same risk band, flag and top reasons (names, values, contributions within 1e-12),
//! for each model kind.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use churn_server::proto::{ScoreBatchRequest, score_batch_result::Outcome};
use churn_server::reload::ReloadOutcome;
use common::{Fixture, Ids, Kind, MODEL};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;

const CUSTOMERS: usize = 400;
const TOP_K: usize = 3;

/// Builds `churn-trainer` (a no-op when it is up to date) and returns its path.
fn trainer_binary() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["build", "-q", "-p", "churn-trainer", "--bin", "churn-trainer"])
        .args(["--message-format", "json-render-diagnostics", "--manifest-path"])
        .arg(&manifest);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command.output().expect("run cargo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "churn-trainer")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the churn-trainer executable")
}

/// One row of `churn-trainer score` output.
#[derive(Debug)]
struct Scored {
    customer_id: String,
    probability: f64,
    risk_band: String,
    flagged: bool,
    reasons: Vec<(String, String, f64)>,
}

fn read_scores(path: &Path) -> Vec<Scored> {
    let file = std::fs::File::open(path).expect("scores file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.expect("batch");
        let text = |name: &str| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
        let ids = text("customer_id");
        let bands = text("risk_band");
        let probabilities = batch
            .column_by_name("churn_probability")
            .expect("probability")
            .as_primitive::<Float64Type>()
            .clone();
        let flagged = batch
            .column_by_name("flagged")
            .expect("flagged")
            .as_boolean()
            .clone();
        for row in 0..batch.num_rows() {
            let mut reasons = Vec::new();
            for k in 1..=TOP_K {
                let names = text(&format!("reason_{k}"));
                if names.is_null(row) {
                    break;
                }
                let values = text(&format!("reason_{k}_value"));
                let contributions = batch
                    .column_by_name(&format!("reason_{k}_contribution"))
                    .expect("contribution")
                    .as_primitive::<Float64Type>()
                    .clone();
                reasons.push((
                    names.value(row).to_string(),
                    values.value(row).to_string(),
                    contributions.value(row),
                ));
            }
            rows.push(Scored {
                customer_id: ids.value(row).to_string(),
                probability: probabilities.value(row),
                risk_band: bands.value(row).to_string(),
                flagged: flagged.value(row),
                reasons,
            });
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_scores_equal_churn_trainer_score_for_each_model_kind() {
    let trainer = trainer_binary();
    let fixture = Fixture::new(CUSTOMERS, Ids::Str);
    let forest = fixture.save(&common::train_model(&fixture.table, Kind::Forest(11)));
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;

    for (version, kind) in [("v1", "logistic"), (forest.as_str(), "random-forest")] {
        if version != "v1" {
            fixture.promote(version);
            let outcome = server.reload(false).await;
            assert!(matches!(outcome, ReloadOutcome::Swapped(_)), "{outcome:?}");
        }
        let out = fixture.dir.path().join(format!("scores-{version}.parquet"));
        let status = Command::new(&trainer)
            .args(["-q", "score", "--model", &format!("{MODEL}@{version}")])
            .arg("--registry")
            .arg(&fixture.registry_dir)
            .arg("--features")
            .arg(&fixture.snapshot)
            .arg("--out")
            .arg(&out)
            .args(["--top-k", &TOP_K.to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run churn-trainer score");
        assert!(status.success(), "churn-trainer score failed");
        let expected = read_scores(&out);
        assert_eq!(expected.len(), CUSTOMERS);

        let response = client
            .score_batch(ScoreBatchRequest {
                customer_ids: expected.iter().map(|row| row.customer_id.clone()).collect(),
                max_reasons: TOP_K as u32,
            })
            .await
            .expect("batch")
            .into_inner();
        assert_eq!(response.version.expect("version").model_version, version);
        let mut worst = 0.0f64;
        for (want, result) in expected.iter().zip(&response.results) {
            assert_eq!(result.customer_id, want.customer_id);
            let Some(Outcome::Score(got)) = &result.outcome else {
                panic!("{} was not scored: {:?}", want.customer_id, result.outcome);
            };
            let difference = (got.churn_probability - want.probability).abs();
            worst = worst.max(difference);
            assert!(difference <= 1e-12, "{kind} {}: {difference}", want.customer_id);
            assert_eq!(got.risk_band, want.risk_band, "{kind} {}", want.customer_id);
            assert_eq!(got.above_threshold, want.flagged, "{kind} {}", want.customer_id);
            assert_eq!(
                got.reasons.len(),
                want.reasons.len(),
                "{kind} {}",
                want.customer_id
            );
            for (reason, (feature, value, contribution)) in got.reasons.iter().zip(&want.reasons) {
                assert_eq!(&reason.feature, feature);
                assert_eq!(&reason.value, value);
                assert!((reason.contribution - contribution).abs() <= 1e-12);
            }
        }
        println!("{kind}: {CUSTOMERS} customers, largest probability difference {worst:e}");
    }
    server.shutdown();
    server.wait().await.expect("clean stop");
}
