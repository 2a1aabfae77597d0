//! `churn-trainer quickstart` end to end through the binary: every file it promises, a promotion that
//! follows the out-of-time ROC AUC, batch scores of the whole snapshot from the promoted model, next steps
//! that name what was built, a second run in the same folder, and a refusal to write into a foreign
//! folder. Also checks that every subcommand's `--help` has a description and an example.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use churn_features::FeatureTable;
use churn_models::Registry;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .args(args)
        .env_remove("CHURN_LOG")
        .output()
        .expect("run churn-trainer")
}

fn quickstart(dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.to_str().expect("utf8 path");
    let mut args = vec!["quickstart", "--dir", dir, "--customers", "800", "--seed", "7"];
    args.extend_from_slice(extra);
    let output = trainer(&args);
    assert!(
        output.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("open parquet");
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet reader")
        .build()
        .expect("build reader")
        .map(|batch| batch.expect("batch"))
        .collect()
}

/// (customer_id, churn_probability, model_version) of every row of a score file.
fn read_scores(path: &Path) -> Vec<(String, f64, String)> {
    let mut rows = Vec::new();
    for batch in read_batches(path) {
        let ids = batch.column_by_name("customer_id").expect("customer_id");
        let ids = ids.as_string::<i32>();
        let probabilities = batch.column_by_name("churn_probability").expect("probability");
        let probabilities = probabilities.as_primitive::<Float64Type>();
        let versions = batch.column_by_name("model_version").expect("model_version");
        let versions = versions.as_string::<i32>();
        for row in 0..batch.num_rows() {
            rows.push((
                ids.value(row).to_string(),
                probabilities.value(row),
                versions.value(row).to_string(),
            ));
        }
    }
    rows
}

/// (in_population, lifecycle_stage) of every row of a score file written with `--all-rows`.
fn read_population(path: &Path) -> Vec<(bool, String)> {
    let mut rows = Vec::new();
    for batch in read_batches(path) {
        let flags = batch.column_by_name("in_population").expect("in_population");
        let stages = batch.column_by_name("lifecycle_stage").expect("lifecycle_stage");
        let (flags, stages) = (flags.as_boolean(), stages.as_string::<i32>());
        for row in 0..batch.num_rows() {
            rows.push((flags.value(row), stages.value(row).to_string()));
        }
    }
    rows
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

#[test]
fn quickstart_builds_trains_promotes_scores_and_says_what_next() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("demo");
    let output = quickstart(&dir, &[]);
    let stdout = String::from_utf8(output.stdout).expect("utf8 stdout");
    let stderr = String::from_utf8(output.stderr).expect("utf8 stderr");

    for file in [
        "data/transactions.parquet",
        "data/events.parquet",
        "data/customers.parquet",
        "data/churn.toml",
        "model.toml",
        "features/train.parquet",
        "features/test.parquet",
        "features/snapshot.parquet",
        "scores/latest.parquet",
        "quickstart.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }

    // The demo data have products, categories and quantities, and its configuration maps them, so the
    // training table has the order-line (basket) features.
    let config = std::fs::read_to_string(dir.join("data/churn.toml")).expect("churn.toml");
    for line in [
        "product_id = \"product_id\"",
        "category = \"category\"",
        "quantity = \"quantity\"",
    ] {
        assert!(config.contains(line), "churn.toml lacks {line}");
    }
    let train = read_batches(&dir.join("features/train.parquet"));
    let schema = train.first().expect("training rows").schema();
    for column in [
        "units_per_order_90d",
        "distinct_products",
        "distinct_categories_30d",
        "top_category_spend_share",
        "returned_unit_share",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "{column} missing");
    }

    // Each step logs the command it runs, so the quickstart doubles as a transcript.
    for command in ["generate", "features", "train", "evaluate", "score", "models"] {
        assert!(
            stderr.contains(&format!("$ churn-trainer {command} ")),
            "no `{command}` step logged:\n{stderr}"
        );
    }

    let manifest = json(&dir.join("quickstart.json"));
    assert_eq!(manifest["customers"], 800);
    assert_eq!(manifest["test_as_of"], "2024-09-30");
    assert_eq!(manifest["snapshot_as_of"], "2024-12-31");
    let models = manifest["models"].as_array().expect("models");
    assert_eq!(models.len(), 1, "train --model auto keeps one model");
    // Every kind was compared on the same rows, and the one kept has the best ROC AUC.
    let candidates = manifest["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), churn_models::ModelKind::classifiers().count());
    let best_auc = candidates
        .iter()
        .map(|m| m["roc_auc"].as_f64().expect("roc_auc"))
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen: Vec<_> = candidates.iter().filter(|c| c["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0]["kind"], models[0]["kind"]);
    let chosen_auc = chosen[0]["roc_auc"].as_f64().expect("roc_auc");
    assert!(
        chosen_auc >= best_auc - churn_models::train::AUTO_TIE_AUC,
        "{candidates:?}"
    );
    for file in ["metrics", "report", "test_scores"] {
        let file = models[0][file].as_str().expect("file");
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    let promoted = manifest["promoted"]["version"]
        .as_str()
        .expect("promoted version");
    assert_eq!(manifest["promoted"]["roc_auc"].as_f64(), Some(chosen_auc));

    // The registry agrees: the promoted pointer, and each report evaluated the same held-out rows the
    // training run validated on, so their ROC AUCs are the same number.
    let registry = Registry::open(dir.join("registry")).expect("registry");
    assert_eq!(
        registry.promoted_version("churn").expect("promoted").as_deref(),
        Some(promoted)
    );
    for model in models {
        let version = model["version"].as_str().expect("version");
        let loaded = registry.load("churn", version).expect("load");
        assert_eq!(
            loaded.artifact.kind.to_string(),
            model["kind"].as_str().expect("kind")
        );
        assert_eq!(loaded.artifact.label.horizon_days, Some(90));
        // The model is for customers who purchased and are not lapsed, and says so.
        let population = &loaded.artifact.population;
        assert_eq!(
            population.lifecycle_stages.as_deref(),
            Some(&["new".to_string(), "active".to_string(), "at_risk".to_string()][..])
        );
        assert!(population.exclude_never_purchased);
        assert!(loaded.artifact.training.population_excluded > 0);
        let report = json(&dir.join(model["metrics"].as_str().expect("metrics path")));
        let reported = report["roc_auc"].as_f64().expect("report roc_auc");
        let recorded = model["roc_auc"].as_f64().expect("roc_auc");
        assert!(
            (reported - recorded).abs() < 1e-12,
            "{version}: {reported} vs {recorded}"
        );
        assert!(recorded > 0.7, "{version} learned little: ROC AUC {recorded}");
        assert!(report["population_excluded"].as_u64() > Some(0), "{report}");
        let stages: Vec<&str> = report["by_segment"]
            .as_array()
            .expect("by_segment")
            .iter()
            .filter(|s| s["column"] == "lifecycle_stage")
            .filter_map(|s| s["segment"].as_str())
            .collect();
        assert!(!stages.is_empty() && !stages.contains(&"lapsed"), "{stages:?}");
    }

    // Time to churn: a Cox model on the subscriptions' churn, tested out of time where the 90-day label
    // and the 30-day grace period still fit before the end of the data, evaluated and scored.
    let survival = &manifest["survival"];
    assert_eq!(survival["model_name"], "churn-survival");
    assert_eq!(survival["test_as_of"], "2024-08-31");
    let loaded = registry
        .load("churn-survival", survival["version"].as_str().expect("version"))
        .expect("survival model");
    assert_eq!(loaded.artifact.kind, churn_models::ModelKind::Cox);
    let concordance = survival["concordance"].as_f64().expect("concordance");
    assert!(concordance > 0.55, "the Cox model learned little: {concordance}");
    let cox_metrics = json(&dir.join(survival["metrics"].as_str().expect("metrics")));
    assert!(
        cox_metrics["survival"]["kaplan_meier_by_risk"]
            .as_array()
            .is_some_and(|g| g.len() == 3)
    );
    let cox_scores = read_batches(&dir.join(survival["test_scores"].as_str().expect("scores")));
    let schema = cox_scores.first().expect("scored rows").schema();
    for column in [
        "churn_probability_30d",
        "churn_probability_90d",
        "expected_active_days_90d",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "{column} missing");
    }
    assert!(stdout.contains("registry/churn-survival/ v1 cox"), "{stdout}");

    // The snapshot: every customer as of the last day, labels unknown; all of it scored by the promoted
    // model, with whether each is in its population; the example in the next steps is the customer of
    // the population most at risk, who is not lapsed.
    let snapshot = FeatureTable::read_parquet(&dir.join("features/snapshot.parquet")).expect("snapshot");
    assert!(snapshot.labels.iter().all(Option::is_none));
    let scores = read_scores(&dir.join("scores/latest.parquet"));
    assert_eq!(scores.len(), snapshot.len());
    assert_eq!(manifest["scored"].as_u64(), Some(scores.len() as u64));
    assert!(
        scores
            .iter()
            .all(|(_, p, v)| (0.0..=1.0).contains(p) && v == promoted)
    );
    let population = read_population(&dir.join("scores/latest.parquet"));
    assert_eq!(population.len(), scores.len());
    let in_population = population.iter().filter(|(keep, _)| *keep).count();
    assert!(in_population > 0 && in_population < scores.len());
    assert_eq!(manifest["in_population"].as_u64(), Some(in_population as u64));
    let (riskiest, (_, stage)) = scores
        .iter()
        .zip(&population)
        .filter(|(_, (keep, _))| *keep)
        .max_by(|a, b| a.0.1.total_cmp(&b.0.1))
        .expect("some scores");
    assert_ne!(stage, "lapsed");
    assert_eq!(
        manifest["example_customer_id"].as_str(),
        Some(riskiest.0.as_str())
    );

    // The next steps on stdout name the server command on what was built and a grpcurl call.
    let registry_arg = format!("--registry {}", dir.join("registry").display());
    let features_arg = format!("--features {}", dir.join("features/snapshot.parquet").display());
    assert!(stdout.contains("cargo run -p churn-server --"), "{stdout}");
    assert!(stdout.contains(&registry_arg), "{stdout}");
    assert!(stdout.contains(&features_arg), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "grpcurl -plaintext -d '{{\"customer_id\": \"{}\", \"max_reasons\": 3}}' 127.0.0.1:50051 \
             churn.v1.ScoringService/Score",
            riskiest.0
        )),
        "{stdout}"
    );

    // Again in the same folder, quietly: the data and reports are replaced, a new version is added and
    // promoted.
    let again = quickstart(&dir, &["--quiet"]);
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(registry.versions("churn").expect("versions"), ["v1", "v2"]);
    let manifest = json(&dir.join("quickstart.json"));
    let promoted = manifest["promoted"]["version"].as_str().expect("promoted");
    assert_eq!(promoted, "v2");
    assert_eq!(
        registry.promoted_version("churn").expect("promoted").as_deref(),
        Some(promoted)
    );
}

#[test]
fn quickstart_refuses_a_folder_with_other_files() {
    let temp = tempfile::tempdir().expect("tempdir");
    let precious = temp.path().join("notes.txt");
    std::fs::write(&precious, "keep me").expect("write");
    let output = trainer(&["quickstart", "--dir", temp.path().to_str().expect("utf8")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(std::fs::read_dir(temp.path()).expect("read dir").count(), 1);
    assert_eq!(std::fs::read_to_string(&precious).expect("read"), "keep me");
}

#[test]
fn top_level_help_points_newcomers_at_the_quickstart() {
    let output = trainer(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("utf8");
    assert!(help.contains("churn-trainer quickstart"), "{help}");
    assert!(help.contains("Example"), "{help}");
}

#[test]
fn every_subcommand_help_has_a_description_and_an_example() {
    for subcommand in [
        "features",
        "generate",
        "train",
        "evaluate",
        "score",
        "models",
        "quickstart",
    ] {
        let output = trainer(&[subcommand, "--help"]);
        assert!(output.status.success(), "{subcommand} --help failed");
        let help = String::from_utf8(output.stdout).expect("utf8");
        let description = help.lines().next().unwrap_or_default();
        assert!(
            !description.trim().is_empty() && !description.starts_with("Usage"),
            "`{subcommand} --help` starts without a description:\n{help}"
        );
        assert!(
            help.contains("Example"),
            "`{subcommand} --help` shows no example:\n{help}"
        );
        assert!(
            help.contains(&format!("churn-trainer {subcommand}")),
            "`{subcommand} --help` has no example of itself:\n{help}"
        );
    }
}
