//! `churn-trainer train / evaluate / score / models` end to end through the binary, on the real data sets
//! ([`RealData`]; skipped when they are absent): parity with the peer baselines of
//! `reference/peer_baselines.json` on Telco and CDNOW, the registry workflow, and clear failures on bad
//! input.

use crate::common::{CDNOW, RealData, TELCO, fails, ok, path};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use churn_features::{ColumnValues, FeatureTable};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the Telco and CDNOW (as of 1997-09-30, horizon 273) feature tables with the example configs.
fn feature_tables(data: &RealData, dir: &Path) -> (PathBuf, PathBuf) {
    let telco = dir.join("telco.parquet");
    let cdnow = dir.join("cdnow.parquet");
    ok(&[
        "features",
        "--config",
        path(&data.config("telco")),
        "--out",
        path(&telco),
    ]);
    ok(&[
        "features",
        "--config",
        path(&data.config("cdnow")),
        "--as-of",
        "1997-09-30",
        "--horizon",
        "273",
        "--out",
        path(&cdnow),
    ]);
    (telco, cdnow)
}

fn held_out_auc(registry: &Path, model: &str) -> f64 {
    let text = ok(&["models", "show", model, "--registry", path(registry), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let metrics = &json["metrics"];
    eprintln!(
        "{model}: roc_auc {} brier {} (before calibration {})",
        metrics["roc_auc"], metrics["brier"], metrics["before_calibration"]["brier"]
    );
    metrics["roc_auc"].as_f64().expect("roc_auc")
}

/// The peers' recipe: 5-fold stratified, out-of-fold ROC AUC. Floors from the issue: Telco logistic
/// ≥ 0.840 and forest ≥ 0.839; CDNOW logistic ≥ 0.766, forest ≥ 0.756, the better of the two ≥ 0.771.
#[test]
fn parity_with_peer_baselines_on_telco_and_cdnow() {
    let Some(data) = RealData::find(&[TELCO, CDNOW]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (telco, cdnow) = feature_tables(&data, dir.path());
    let registry = dir.path().join("registry");
    let mut auc = std::collections::HashMap::new();
    for (name, table) in [("telco", &telco), ("cdnow", &cdnow)] {
        for model in ["logistic", "random-forest"] {
            let out = ok(&[
                "train",
                "--features",
                path(table),
                "--model",
                model,
                "--registry",
                path(&registry),
                "--name",
                name,
                "--cv",
                "5",
                "--no-importance",
            ]);
            let version = out
                .split_once('@')
                .and_then(|(_, rest)| rest.split(':').next())
                .expect("version");
            auc.insert(
                (name, model),
                held_out_auc(&registry, &format!("{name}@{version}")),
            );
        }
    }
    eprintln!("out-of-fold ROC AUC: {auc:?}");
    assert!(auc[&("telco", "logistic")] >= 0.840, "{auc:?}");
    assert!(auc[&("telco", "random-forest")] >= 0.839, "{auc:?}");
    assert!(auc[&("cdnow", "logistic")] >= 0.766, "{auc:?}");
    assert!(auc[&("cdnow", "random-forest")] >= 0.756, "{auc:?}");
    assert!(
        auc[&("cdnow", "logistic")].max(auc[&("cdnow", "random-forest")]) >= 0.771,
        "{auc:?}"
    );
}

#[test]
fn train_evaluate_score_promote_and_roll_back() {
    let Some(data) = RealData::find(&[CDNOW]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = dir.path().join("registry");
    // CDNOW with two as-of dates: out of time, train on 1997-06-30, test on 1997-09-30; with a 90-day
    // horizon the training rows' label window ends on 1997-09-28, before the test date, so none is purged.
    let cdnow = dir.path().join("cdnow2.parquet");
    ok(&[
        "features",
        "--config",
        path(&data.config("cdnow")),
        "--as-of",
        "1997-06-30",
        "--as-of",
        "1997-09-30",
        "--horizon",
        "90",
        "--out",
        path(&cdnow),
    ]);
    let out = ok(&[
        "train",
        "--features",
        path(&cdnow),
        "--model",
        "logistic",
        "--registry",
        path(&registry),
        "--name",
        "cdnow",
        "--test-as-of",
        "1997-09-30",
        "--threshold",
        "recall:0.8",
        "--promote",
    ]);
    assert!(out.starts_with("cdnow@v1: logistic model"), "{out}");
    assert!(
        out.contains("out of time on 1997-09-30, 0 training rows purged") && out.contains("(promoted)"),
        "{out}"
    );
    let out = ok(&[
        "train",
        "--features",
        path(&cdnow),
        "--model",
        "random-forest",
        "--registry",
        path(&registry),
        "--name",
        "cdnow",
        "--trees",
        "20",
        "--max-depth",
        "6",
        "--no-importance",
    ]);
    assert!(out.starts_with("cdnow@v2: random-forest model"), "{out}");

    let list = ok(&["models", "list", "--registry", path(&registry)]);
    // A reader that stops early (`| head`) ends the command quietly, with success and no panic.
    let mut closed = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .args(["--quiet", "models", "list", "--registry", path(&registry)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run churn-trainer");
    drop(closed.stdout.take());
    let closed = closed.wait_with_output().expect("wait");
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    assert!(
        closed.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(
        lines[1].starts_with("cdnow") && lines[1].contains("v1") && lines[1].ends_with('*'),
        "{list}"
    );
    assert!(lines[2].contains("v2") && lines[2].contains("random-forest") && !lines[2].ends_with('*'));
    let show = ok(&["models", "show", "cdnow", "--registry", path(&registry)]);
    assert!(
        show.contains("cdnow@v1 [promoted]") && show.contains("as-of dates [1997-06-30]"),
        "{show}"
    );

    // Evaluate v2 on the table: metrics.json with the documented keys and a self-contained report.
    let eval = dir.path().join("eval");
    let out = ok(&[
        "evaluate",
        "--model",
        "cdnow@v2",
        "--registry",
        path(&registry),
        "--features",
        path(&cdnow),
        "--out",
        path(&eval),
    ]);
    assert!(out.contains("roc_auc"), "{out}");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval.join("metrics.json")).expect("metrics"))
            .expect("json");
    for key in [
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "threshold",
        "precision",
        "recall",
        "f1",
        "confusion",
        "lift_by_decile",
        "calibration",
    ] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
    }
    assert_eq!(metrics["lift_by_decile"].as_array().map(Vec::len), Some(10));
    assert_eq!(metrics["calibration"].as_array().map(Vec::len), Some(10));
    let html = std::fs::read_to_string(eval.join("report.html")).expect("report");
    assert!(html.contains("<svg") && !html.contains("<script"));

    // Score with the promoted version (v1): every row, probabilities, bands, reasons, descriptors.
    let scores = dir.path().join("scores.parquet");
    let out = ok(&[
        "score",
        "--model",
        "cdnow",
        "--registry",
        path(&registry),
        "--features",
        path(&cdnow),
        "--out",
        path(&scores),
        "--top-k",
        "2",
    ]);
    assert!(out.contains("with cdnow@v1"), "{out}");
    assert!(out.contains("value at risk: "), "{out}");
    let table = FeatureTable::read_parquet(&cdnow).expect("features");
    let file = std::fs::File::open(&scores).expect("scores");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let schema = reader.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for name in [
        "customer_id",
        "as_of",
        "churn_probability",
        "risk_band",
        "flagged",
        "reason_1",
        "reason_1_value",
        "reason_1_contribution",
        "reason_2",
        "clv",
        "value_at_risk",
        "p_alive",
        "model_name",
        "model_version",
    ] {
        assert!(names.contains(&name), "scores lack {name}: {names:?}");
    }
    for descriptor in table
        .columns
        .iter()
        .filter(|c| c.role == churn_features::ColumnRole::Descriptor)
    {
        assert!(
            names.contains(&descriptor.name.as_str()),
            "descriptor {} not copied",
            descriptor.name
        );
    }
    let mut rows = 0;
    for batch in reader.build().expect("reader") {
        let batch = batch.expect("batch");
        let p = batch
            .column_by_name("churn_probability")
            .expect("p")
            .as_primitive::<Float64Type>();
        assert!(p.values().iter().all(|p| (0.0..=1.0).contains(p)));
        rows += batch.num_rows();
    }
    assert_eq!(rows, table.len());

    // Promotion switches the pointer; rollback restores the previous promotion.
    ok(&["models", "promote", "cdnow@v2", "--registry", path(&registry)]);
    let pointer = registry.join("cdnow/PROMOTED");
    assert_eq!(std::fs::read_to_string(&pointer).expect("pointer"), "v2\n");
    let out = ok(&["models", "rollback", "cdnow", "--registry", path(&registry)]);
    assert_eq!(out.trim(), "rolled back cdnow to v1");
    assert_eq!(std::fs::read_to_string(&pointer).expect("pointer"), "v1\n");
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let Some(data) = RealData::find(&[TELCO]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = dir.path().join("registry");
    let telco = dir.path().join("telco.parquet");
    ok(&[
        "features",
        "--config",
        path(&data.config("telco")),
        "--out",
        path(&telco),
    ]);
    let table = FeatureTable::read_parquet(&telco).expect("read");

    let mut unlabelled = table.clone();
    unlabelled.labels = vec![None; unlabelled.len()];
    let unlabelled_path = dir.path().join("unlabelled.parquet");
    unlabelled.write_parquet(&unlabelled_path).expect("write");
    let error = fails(&[
        "train",
        "--features",
        path(&unlabelled_path),
        "--registry",
        path(&registry),
        "--name",
        "t",
    ]);
    assert!(error.contains("no labelled rows"), "{error}");

    let mut one_class = table.clone();
    one_class.labels = vec![Some(1); one_class.len()];
    let one_class_path = dir.path().join("one_class.parquet");
    one_class.write_parquet(&one_class_path).expect("write");
    let error = fails(&[
        "train",
        "--features",
        path(&one_class_path),
        "--registry",
        path(&registry),
        "--name",
        "t",
    ]);
    assert!(error.contains("both classes are needed"), "{error}");

    ok(&[
        "train",
        "--features",
        path(&telco),
        "--registry",
        path(&registry),
        "--name",
        "t",
        "--cv",
        "3",
        "--no-importance",
    ]);

    // A table without the model's `Contract` feature, and one where `tenure` holds text.
    let mut missing = table.clone();
    missing.columns.retain(|c| c.name != "Contract");
    let missing_path = dir.path().join("missing.parquet");
    missing.write_parquet(&missing_path).expect("write");
    let scores = dir.path().join("scores.parquet");
    let error = fails(&[
        "score",
        "--model",
        "t@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&missing_path),
        "--out",
        path(&scores),
    ]);
    assert!(
        error.contains("feature `Contract` is required by the model"),
        "{error}"
    );
    assert!(!scores.exists(), "no partial output");

    let mut wrong_type = table.clone();
    let tenure = wrong_type
        .columns
        .iter_mut()
        .find(|c| c.name == "tenure")
        .expect("tenure column");
    tenure.role = churn_features::ColumnRole::Categorical;
    tenure.values = ColumnValues::Categorical(vec![Some("long".into()); table.len()]);
    let wrong_path = dir.path().join("wrong.parquet");
    wrong_type.write_parquet(&wrong_path).expect("write");
    let error = fails(&[
        "score",
        "--model",
        "t@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&wrong_path),
        "--out",
        path(&scores),
    ]);
    assert!(error.contains("`tenure` must be a number"), "{error}");

    let mut nan = table.clone();
    let charges = nan
        .columns
        .iter_mut()
        .find(|c| c.name == "MonthlyCharges")
        .expect("column");
    if let ColumnValues::Numeric(values) = &mut charges.values {
        values[3] = Some(f64::NAN);
    }
    let nan_path = dir.path().join("nan.parquet");
    nan.write_parquet(&nan_path).expect("write");
    let error = fails(&[
        "score",
        "--model",
        "t@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&nan_path),
        "--out",
        path(&scores),
    ]);
    assert!(
        error.contains("`MonthlyCharges` holds a non-finite value (NaN) at row 3"),
        "{error}"
    );

    // A corrupt artifact and one from a future format version.
    let artifact = registry.join("t/v1/model.json");
    let text = std::fs::read_to_string(&artifact).expect("artifact");
    std::fs::write(&artifact, &text[..text.len() - 100]).expect("truncate");
    let error = fails(&["models", "show", "t@v1", "--registry", path(&registry)]);
    assert!(error.contains("truncated"), "{error}");
    std::fs::write(
        &artifact,
        text.replacen("\"format_version\":2", "\"format_version\":7", 1),
    )
    .expect("write");
    let error = fails(&[
        "score",
        "--model",
        "t@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&telco),
        "--out",
        path(&scores),
    ]);
    assert!(
        error.contains("format version 7 is newer than the supported version 2"),
        "{error}"
    );

    let error = fails(&["models", "show", "nobody", "--registry", path(&registry)]);
    assert!(error.contains("no model `nobody`"), "{error}");
}

#[test]
fn unknown_kinds_and_bad_parameters_fail_before_the_feature_table_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let absent = dir.path().join("absent.parquet");
    let registry = dir.path().join("registry");
    let output = crate::common::trainer(&[
        "train",
        "--features",
        path(&absent),
        "--model",
        "xgboost",
        "--registry",
        path(&registry),
        "--name",
        "m",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gradient-boosting") && stderr.contains("auto"),
        "{stderr}"
    );

    let config = dir.path().join("model.toml");
    std::fs::write(&config, "[gradient_boosting]\nlearning_rate = 2.0\n").expect("write");
    let error = fails(&[
        "train",
        "--features",
        path(&absent),
        "--model",
        "gradient-boosting",
        "--model-config",
        path(&config),
        "--registry",
        path(&registry),
        "--name",
        "m",
    ]);
    assert!(
        error.contains("learning_rate") && !error.contains("absent.parquet"),
        "{error}"
    );
}
