//! Populations through the binary: `train` with a `[population]` section stores the rule and trains on
//! its rows; `evaluate` and `score` then apply the model's rule by default (flags replace single rules,
//! `--all-rows` takes every row), count the rows left out, and name a column the rule needs but the table
//! lacks. Tables are built in code, so no data set is needed.

use crate::common::{fails, ok, path};
use arrow_array::cast::AsArray;
use chrono::NaiveDate;
use churn_features::{ColumnRole, ColumnValues, CustomerIds, FeatureColumn, FeatureTable};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeSet;
use std::path::Path;

/// One customer at one as-of date.
struct Row {
    id: String,
    as_of: NaiveDate,
    label: i8,
    recency: Option<f64>,
    stage: &'static str,
}

/// 600 customers at two month ends: lapsed customers nearly always churn, the others by recency.
fn rows() -> Vec<Row> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut rows = Vec::new();
    for as_of in [(2024, 5, 31), (2024, 6, 30)] {
        let as_of = NaiveDate::from_ymd_opt(as_of.0, as_of.1, as_of.2).expect("date");
        for c in 0..600 {
            let recency: f64 = rng.random_range(0.0..400.0);
            let stage = match recency {
                r if r <= 60.0 => "active",
                r if r <= 180.0 => "at_risk",
                _ => "lapsed",
            };
            let logit = if stage == "lapsed" {
                4.0
            } else {
                -2.0 + recency / 60.0
            };
            let churned = rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
            rows.push(Row {
                id: format!("C{c:04}"),
                as_of,
                label: i8::from(churned),
                recency: (c % 25 != 0).then_some(recency),
                stage,
            });
        }
    }
    rows
}

/// The rows as a feature table; without `lifecycle_stage` when `stages` is false.
fn write_table(rows: &[&Row], file: &Path, stages: bool) {
    let mut columns = vec![
        FeatureColumn {
            name: "days_since_last_purchase".into(),
            role: ColumnRole::Numeric,
            description: None,
            values: ColumnValues::Numeric(rows.iter().map(|r| r.recency).collect()),
        },
        FeatureColumn {
            name: "rfm_segment".into(),
            role: ColumnRole::Descriptor,
            description: None,
            values: ColumnValues::Categorical(
                rows.iter()
                    .map(|r| Some(if r.label == 1 { "lost" } else { "loyal" }.to_string()))
                    .collect(),
            ),
        },
    ];
    if stages {
        columns.push(FeatureColumn {
            name: "lifecycle_stage".into(),
            role: ColumnRole::Descriptor,
            description: None,
            values: ColumnValues::Categorical(rows.iter().map(|r| Some(r.stage.to_string())).collect()),
        });
    }
    FeatureTable {
        customer_ids: CustomerIds::Str(rows.iter().map(|r| r.id.clone()).collect()),
        as_of: rows.iter().map(|r| Some(r.as_of)).collect(),
        labels: rows.iter().map(|r| Some(r.label)).collect(),
        columns,
    }
    .write_parquet(file)
    .expect("write table");
}

/// The customer ids of a score file, and its `in_population` column when it has one.
fn scored(file: &Path) -> (Vec<String>, Option<Vec<bool>>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).expect("open"))
        .expect("reader")
        .build()
        .expect("build");
    let (mut ids, mut flags) = (Vec::new(), None::<Vec<bool>>);
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("customer_id").expect("customer_id");
        ids.extend(
            column
                .as_string::<i32>()
                .iter()
                .map(|v| v.expect("id").to_string()),
        );
        if let Some(column) = batch.column_by_name("in_population") {
            let values = column.as_boolean().iter().map(|v| v.expect("flag"));
            flags.get_or_insert_with(Vec::new).extend(values);
        }
    }
    (ids, flags)
}

/// The model's population: lifecycle stages active and at_risk.
fn in_population(row: &Row) -> bool {
    row.stage != "lapsed"
}

fn json(file: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(file).expect("read")).expect("json")
}

#[test]
fn evaluate_and_score_apply_the_population_the_model_was_trained_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name);
    let all = rows();
    let test_date = NaiveDate::from_ymd_opt(2024, 6, 30).expect("date");
    let test: Vec<&Row> = all.iter().filter(|r| r.as_of == test_date).collect();
    write_table(&all.iter().collect::<Vec<_>>(), &at("train.parquet"), true);
    write_table(&test, &at("test.parquet"), true);
    std::fs::write(
        at("model.toml"),
        "[population]\nlifecycle_stages = [\"active\", \"at_risk\"]\n",
    )
    .expect("config");
    let lapsed = all.iter().filter(|r| !in_population(r)).count();
    let lapsed_in_test = test.iter().filter(|r| !in_population(r)).count();
    let registry = at("registry");

    let out = ok(&[
        "train",
        "--features",
        path(&at("train.parquet")),
        "--registry",
        path(&registry),
        "--name",
        "churn",
        "--test-as-of",
        "2024-06-30",
        "--model-config",
        path(&at("model.toml")),
        "--no-importance",
    ]);
    assert_eq!(all.len(), 1200);
    let expected =
        format!("population (lifecycle_stage in (active, at_risk)): {lapsed} of 1,200 rows left out");
    assert!(out.contains(&expected), "{expected}\n{out}");
    assert!(
        out.contains("lifecycle_stage  active") && !out.contains("lifecycle_stage  lapsed"),
        "{out}"
    );
    let shown = json(&registry.join("churn/v1/metrics.json"));
    assert_eq!(shown["rows"], test.len() - lapsed_in_test);
    assert_eq!(shown["population"]["lifecycle_stages"][1], "at_risk");

    // evaluate: the model's population, counted; --all-rows: every labelled row.
    ok(&[
        "evaluate",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&at("test.parquet")),
        "--out",
        path(&at("eval")),
        "--no-importance",
    ]);
    let metrics = json(&at("eval/metrics.json"));
    assert_eq!(metrics["rows"], test.len() - lapsed_in_test);
    assert_eq!(metrics["population_excluded"], lapsed_in_test);
    let stages: Vec<&str> = metrics["by_segment"]
        .as_array()
        .expect("by_segment")
        .iter()
        .filter(|s| s["column"] == "lifecycle_stage")
        .map(|s| s["segment"].as_str().expect("segment"))
        .collect();
    assert_eq!(stages, ["active", "at_risk"]);
    let out = ok(&[
        "evaluate",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&at("test.parquet")),
        "--out",
        path(&at("eval-all")),
        "--no-importance",
        "--all-rows",
    ]);
    let everyone = json(&at("eval-all/metrics.json"));
    assert_eq!(everyone["rows"], test.len());
    assert!(everyone.get("population").is_none());
    assert!(out.contains("lifecycle_stage  lapsed"), "{out}");

    // score: the population's rows only; --all-rows: every row with in_population; flags replace rules.
    let test_file = at("test.parquet");
    let score = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "score",
            "--model",
            "churn@v1",
            "--registry",
            path(&registry),
            "--features",
            path(&test_file),
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let printed = score(path(&at("scores.parquet")), &[]);
    assert!(
        printed.contains(&format!("{lapsed_in_test} of 600 rows left out")),
        "{printed}"
    );
    let (ids, flags) = scored(&at("scores.parquet"));
    let expected: Vec<&str> = test
        .iter()
        .filter(|r| in_population(r))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(flags, None);
    assert_eq!(
        json(&at("scores.summary.json"))["outside_population"],
        lapsed_in_test
    );

    score(path(&at("all.parquet")), &["--all-rows"]);
    let (ids, flags) = scored(&at("all.parquet"));
    assert_eq!(ids.len(), test.len());
    let expected: Vec<bool> = test.iter().map(|r| in_population(r)).collect();
    assert_eq!(flags, Some(expected));
    assert_eq!(
        json(&at("all.summary.json"))["flagged"],
        json(&at("scores.summary.json"))["flagged"],
        "rows outside the population are written, not counted as flagged"
    );

    score(
        path(&at("recent.parquet")),
        &["--max-days-since-last-purchase", "30"],
    );
    let (ids, _) = scored(&at("recent.parquet"));
    let expected: BTreeSet<&str> = test
        .iter()
        .filter(|r| in_population(r) && r.recency.is_some_and(|d| d <= 30.0))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids.iter().map(String::as_str).collect::<BTreeSet<_>>(), expected);

    // A table without the column the rule reads fails, naming it.
    write_table(&test, &at("no-stages.parquet"), false);
    let stderr = fails(&[
        "score",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&at("no-stages.parquet")),
        "--out",
        path(&at("none.parquet")),
    ]);
    assert!(
        stderr.contains("`lifecycle_stage`") && stderr.contains("no-stages.parquet"),
        "{stderr}"
    );
    assert!(!at("none.parquet").exists());
}
