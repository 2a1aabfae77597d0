//! Reasons on quickstart-like data, through the binary: generated data, monthly features, a logistic
//! model. Features whose encoded columns correlate above the threshold on the training rows are never
//! given as different reasons, in any row; score files carry each reason's group and sentence.

use crate::common::{generate, ok, path};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use chrono::NaiveDate;
use churn_features::FeatureTable;
use churn_models::reason_groups::CORRELATION_THRESHOLD;
use churn_models::{Matrix, Registry};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{HashMap, HashSet};

/// Pearson correlation of columns `j` and `k` of `x`; `None` when either is constant.
fn pearson(x: &Matrix, j: usize, k: usize) -> Option<f64> {
    let n = x.rows() as f64;
    let (mj, mk) = (0..x.rows()).fold((0.0, 0.0), |(a, b), i| (a + x.get(i, j), b + x.get(i, k)));
    let (mj, mk) = (mj / n, mk / n);
    let (mut sjk, mut sjj, mut skk) = (0.0, 0.0, 0.0);
    for i in 0..x.rows() {
        let (a, b) = (x.get(i, j) - mj, x.get(i, k) - mk);
        sjk += a * b;
        sjj += a * a;
        skk += b * b;
    }
    (sjj > 1e-9 && skk > 1e-9).then(|| sjk / (sjj * skk).sqrt())
}

#[test]
fn features_correlated_above_the_threshold_are_never_given_as_different_reasons() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let (data, train, registry, scores) = (
        dir.join("data"),
        dir.join("train.parquet"),
        dir.join("registry"),
        dir.join("scores.parquet"),
    );
    generate(&data, 600, 11);
    ok(&[
        "features",
        "--config",
        path(&data.join("churn.toml")),
        "--as-of-range",
        "2023-10-31..2024-06-30",
        "--step",
        "monthly",
        "--horizon",
        "90",
        "--out",
        path(&train),
    ]);
    ok(&[
        "train",
        "--features",
        path(&train),
        "--model",
        "logistic",
        "--registry",
        path(&registry),
        "--name",
        "churn",
        "--test-as-of",
        "2024-06-30",
        // A name alone means the promoted version.
        "--promote",
    ]);
    ok(&[
        "score",
        "--model",
        "churn",
        "--registry",
        path(&registry),
        "--features",
        path(&train),
        "--out",
        path(&scores),
    ]);

    let table = FeatureTable::read_parquet(&train).expect("feature table");
    let model = Registry::open(&registry)
        .expect("registry")
        .resolve("churn")
        .expect("model");
    let artifact = &model.artifact;
    let dates: HashSet<NaiveDate> = artifact
        .training
        .as_of_dates
        .iter()
        .map(|d| d.parse().expect("date"))
        .collect();
    let training_rows: Vec<usize> = (0..table.len())
        .filter(|&i| table.labels[i].is_some() && table.as_of[i].is_some_and(|d| dates.contains(&d)))
        .collect();
    assert_eq!(training_rows.len(), artifact.training.rows);
    let x = artifact
        .schema
        .encode_table(&table, &training_rows)
        .expect("encode");
    let columns = &artifact.schema.columns;
    let mut correlated = HashSet::new();
    for j in 0..x.cols() {
        for k in j + 1..x.cols() {
            let (a, b) = (columns[j].feature, columns[k].feature);
            if a != b && pearson(&x, j, k).is_some_and(|r| r.abs() > CORRELATION_THRESHOLD) {
                correlated.insert((a.min(b), a.max(b)));
            }
        }
    }
    let names: Vec<&str> = artifact.schema.feature_names().collect();
    let family = |f: usize| churn_features::engine::family::Family::of(names[f]);
    assert!(
        correlated.iter().any(|&(a, b)| family(a) != family(b)),
        "the data have correlated features of different families: {correlated:?}"
    );

    let every_row: Vec<usize> = (0..table.len()).collect();
    let explanations = artifact
        .scorer()
        .explain_table(&table, &every_row)
        .expect("explain");
    for (row, explanation) in explanations.iter().enumerate() {
        let mut reason_of = HashMap::new();
        for (r, reason) in explanation.contributions.iter().enumerate() {
            for feature in &reason.features {
                assert!(
                    reason_of.insert(feature.name.as_str(), r).is_none(),
                    "row {row}: {} is in two reasons",
                    feature.name
                );
            }
        }
        assert_eq!(
            reason_of.len(),
            names.len(),
            "row {row}: every feature is in a reason"
        );
        for &(a, b) in &correlated {
            assert_eq!(
                reason_of[names[a]], reason_of[names[b]],
                "row {row}: {} and {} are correlated above {CORRELATION_THRESHOLD} but given as different reasons",
                names[a], names[b]
            );
        }
    }

    let file = std::fs::File::open(&scores).expect("scores");
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("reader")
        .build()
        .expect("reader")
    {
        let batch = batch.expect("batch");
        for k in 1..=3 {
            let column = |suffix: &str| {
                batch
                    .column_by_name(&format!("reason_{k}{suffix}"))
                    .unwrap_or_else(|| panic!("reason_{k}{suffix}"))
                    .as_string::<i32>()
                    .clone()
            };
            let (feature, group, text) = (column(""), column("_group"), column("_text"));
            for i in 0..batch.num_rows() {
                assert_eq!(feature.is_null(i), group.is_null(i));
                assert_eq!(feature.is_null(i), text.is_null(i));
                if !feature.is_null(i) {
                    assert!(!group.value(i).is_empty() && !text.value(i).is_empty());
                }
            }
        }
    }
}
