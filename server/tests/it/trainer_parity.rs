//! The server's scores equal the batch scoring path of `churn-models` (what `churn-trainer score` writes)
//! for the same model and snapshot: probability within 1e-12, the same risk band, flag and top reasons
//! (names, values, contributions within 1e-12), for each model kind. Both sides run in this process, so
//! no other crate has to be built for it.

use crate::common::{self, Fixture, Ids, Kind, MODEL};
use churn_models::Registry;
use churn_server::proto::{ScoreBatchRequest, score_batch_result::Outcome};
use churn_server::reload::ReloadOutcome;

const CUSTOMERS: usize = 400;
const TOP_K: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_scores_equal_batch_scores_for_each_model_kind() {
    let fixture = Fixture::new(CUSTOMERS, Ids::Str);
    let forest = fixture.save(&common::train_model(&fixture.table, Kind::Forest(11)));
    let boosting = fixture.save(&common::train_model(&fixture.table, Kind::Boosting(11)));
    let server = common::start_serving(fixture.config()).await;
    let mut client = common::client(server.local_addr()).await;
    let registry = Registry::open(&fixture.registry_dir).expect("registry");
    let rows: Vec<usize> = (0..fixture.table.len()).collect();

    for (version, kind) in [
        ("v1", "logistic"),
        (forest.as_str(), "random-forest"),
        (boosting.as_str(), "gradient-boosting"),
    ] {
        if version != "v1" {
            fixture.promote(version);
            let outcome = server.reload(false).await;
            assert!(matches!(outcome, ReloadOutcome::Swapped(_)), "{outcome:?}");
        }
        let model = registry.resolve(&format!("{MODEL}@{version}")).expect("model");
        let expected = model
            .scorer()
            .score_table(&fixture.table, &rows, TOP_K)
            .expect("batch scores");
        let ids: Vec<String> = rows
            .iter()
            .map(|&r| fixture.table.customer_id_string(r))
            .collect();

        let response = client
            .score_batch(ScoreBatchRequest {
                customer_ids: ids.clone(),
                max_reasons: TOP_K as u32,
            })
            .await
            .expect("batch")
            .into_inner();
        assert_eq!(response.version.expect("version").model_version, version);
        let mut worst = 0.0f64;
        for ((id, want), result) in ids.iter().zip(&expected).zip(&response.results) {
            assert_eq!(&result.customer_id, id);
            let Some(Outcome::Score(got)) = &result.outcome else {
                panic!("{id} was not scored: {:?}", result.outcome);
            };
            let difference = (got.churn_probability - want.probability).abs();
            worst = worst.max(difference);
            assert!(difference <= 1e-12, "{kind} {id}: {difference}");
            assert_eq!(
                got.risk_band,
                model.risk_bands().band(want.probability),
                "{kind} {id}"
            );
            assert_eq!(
                got.above_threshold,
                Some(want.probability >= model.threshold()),
                "{kind} {id}"
            );
            assert_eq!(got.reasons.len(), want.reasons.len(), "{kind} {id}");
            for (reason, expected) in got.reasons.iter().zip(&want.reasons) {
                assert_eq!(reason.feature, expected.feature);
                assert_eq!(reason.value, expected.value.to_string());
                assert!((reason.contribution - expected.contribution).abs() <= 1e-12);
            }
        }
        println!("{kind}: {CUSTOMERS} customers, largest probability difference {worst:e}");
    }
    server.shutdown();
    server.wait().await.expect("clean stop");
}
