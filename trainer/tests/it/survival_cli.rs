//! Time to churn from the command line: durations from generated subscriptions, a Cox model trained out
//! of time with its survival metrics, scores with churn within 30/60/90 days and expected active days,
//! and the refusal of durations for inactivity labels.

use crate::common::{ok, path, trainer};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[test]
fn cox_trains_on_contractual_durations_and_scores_churn_within_30_60_90_days() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let table = dir.path().join("survival.parquet");
    let registry = dir.path().join("registry");
    ok(&["generate", "--out", path(&data), "--customers", "800"]);
    ok(&[
        "features",
        "--config",
        path(&data.join("churn-subscriptions.toml")),
        "--as-of-range",
        "2024-02-29..2024-08-31",
        "--step",
        "monthly",
        "--horizon",
        "90",
        "--durations",
        "--out",
        path(&table),
    ]);
    let out = ok(&[
        "train",
        "--features",
        path(&table),
        "--model",
        "cox",
        "--registry",
        path(&registry),
        "--name",
        "churn",
        "--test-as-of",
        "2024-08-31",
    ]);
    assert!(out.starts_with("churn@v1: cox model"), "{out}");
    assert!(
        out.contains("time to churn (") && out.contains("concordance"),
        "{out}"
    );
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(registry.join("churn/v1/metrics.json")).expect("metrics"),
    )
    .expect("json");
    let survival = &metrics["survival"];
    let harrell = survival["harrell_concordance"].as_f64().expect("concordance");
    assert!(harrell > 0.5 && harrell < 1.0, "{survival}");
    let days: Vec<u64> = survival["time_dependent_auc"]
        .as_array()
        .expect("auc")
        .iter()
        .map(|v| v["days"].as_u64().expect("days"))
        .collect();
    assert_eq!(days, [30, 60, 90]);

    // evaluate judges the time to churn too, in metrics.json and the report.
    let eval = dir.path().join("eval");
    let out = ok(&[
        "evaluate",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&table),
        "--out",
        path(&eval),
    ]);
    assert!(out.contains("time to churn ("), "{out}");
    let report = std::fs::read_to_string(eval.join("report.html")).expect("report");
    assert!(report.contains("id=\"time-to-churn\"") && report.contains("Cox proportional hazards"));
    assert!(
        report.contains("Customers churned, by predicted risk"),
        "no Kaplan–Meier plot"
    );

    let scores = dir.path().join("scores.parquet");
    ok(&[
        "score",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&table),
        "--out",
        path(&scores),
    ]);
    let file = std::fs::File::open(&scores).expect("open the scores");
    let schema = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .schema()
        .clone();
    for column in [
        "churn_probability",
        "churn_probability_30d",
        "churn_probability_60d",
        "churn_probability_90d",
        "expected_active_days_90d",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "scores lack {column}");
    }
    // The outcome columns are never model inputs.
    let model = std::fs::read_to_string(registry.join("churn/v1/model.json")).expect("model");
    assert!(
        !model.contains("\"name\":\"churn_duration_days\""),
        "a duration became a feature"
    );

    // Inactivity labels have no churn time: a usage error.
    let refused = trainer(&[
        "features",
        "--config",
        path(&data.join("churn.toml")),
        "--as-of",
        "2024-06-30",
        "--horizon",
        "90",
        "--durations",
        "--out",
        path(&dir.path().join("inactivity.parquet")),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no observed churn time"), "{stderr}");
}
