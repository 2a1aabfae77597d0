//! `churn-trainer monitor` on generated data: the customers of one generated business, as of one date,
//! split in two halves; a model is trained on one half, and the other half, with two features shifted
//! on purpose, is compared with it. Exactly those two are flagged; every other feature stays below the
//! watch level; `--fail-on` turns the flags into exit code 1; bad input (an unknown model, a table
//! without a model feature, an output inside the registry, a model without training distributions)
//! fails clearly, writing nothing.

use crate::common::{BIN, fails, generate, ok, path};
use churn_features::{ColumnValues, FeatureTable};
use churn_models::Registry;
use std::path::Path;
use std::process::Command;

/// The two features shifted in the compared half.
const SHIFTED: [&str; 2] = ["total_spend", "region"];

/// Runs `churn-trainer --quiet monitor ARGS`; returns (exit code, stdout, stderr).
fn monitor(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .args(["--quiet", "monitor"])
        .args(args)
        .output()
        .expect("run churn-trainer");
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("utf8"),
        String::from_utf8(output.stderr).expect("utf8"),
    )
}

fn read_json(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).expect("drift.json")).expect("JSON")
}

/// `(name, psi, level)` of every feature in a `drift.json`.
fn features(json: &serde_json::Value) -> Vec<(String, f64, String)> {
    json["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name").to_string(),
                f["psi"].as_f64().expect("psi"),
                f["level"].as_str().expect("level").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_planted_shift_in_two_features_is_flagged_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    generate(&data, 4000, 11);
    let table_path = dir.path().join("all.parquet");
    ok(&[
        "features",
        "--config",
        path(&data.join("churn.toml")),
        "--as-of",
        "2024-06-30",
        "--horizon",
        "90",
        "--out",
        path(&table_path),
    ]);
    let table = FeatureTable::read_parquet(&table_path).expect("feature table");
    let (even, odd): (Vec<usize>, Vec<usize>) = (0..table.len()).partition(|i| i % 2 == 0);
    let (train_path, same_path, shifted_path) = (
        dir.path().join("train.parquet"),
        dir.path().join("same.parquet"),
        dir.path().join("shifted.parquet"),
    );
    table
        .select_rows(&even)
        .write_parquet(&train_path)
        .expect("write");
    let same = table.select_rows(&odd);
    same.write_parquet(&same_path).expect("write");

    // Spend five times as high, and every customer in the first region.
    let mut shifted = same.clone();
    let first_region = match &table.column("region").expect("region").values {
        ColumnValues::Categorical(values) => values.iter().flatten().min().expect("a region").clone(),
        ColumnValues::Numeric(_) => panic!("region is a category"),
    };
    for column in &mut shifted.columns {
        match (column.name.as_str(), &mut column.values) {
            ("total_spend", ColumnValues::Numeric(values)) => {
                for value in values.iter_mut().flatten() {
                    *value *= 5.0;
                }
            }
            ("region", ColumnValues::Categorical(values)) => values.fill(Some(first_region.clone())),
            _ => {}
        }
    }
    shifted.write_parquet(&shifted_path).expect("write");

    let registry = dir.path().join("registry");
    ok(&[
        "train",
        "--features",
        path(&train_path),
        "--model",
        "logistic",
        "--registry",
        path(&registry),
        "--name",
        "churn",
        "--cv",
        "3",
        "--calibration",
        "none",
        "--no-importance",
        // Customers who never purchased have no inactivity label, so the model is fitted on none of
        // them: its population leaves them out, and so does the comparison.
        "--exclude-never-purchased",
    ]);

    // The same customers' other half: nothing moved beyond sampling noise.
    let out_same = dir.path().join("drift-same");
    let (code, stdout, stderr) = monitor(&[
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&same_path),
        "--out",
        path(&out_same),
        "--fail-on",
        "watch",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let json = read_json(&out_same.join("drift.json"));
    let compared = json["rows"].as_u64().expect("rows");
    let left_out = json["population_excluded"].as_u64().expect("left out");
    assert!(compared > 1000 && left_out > 0, "{stdout}");
    assert_eq!(compared + left_out, odd.len() as u64);
    assert_eq!(json["worst"], "none", "{stdout}");
    let unshifted = features(&json);
    assert!(unshifted.len() > 50, "every model feature: {}", unshifted.len());
    for (name, psi, _) in &unshifted {
        assert!(
            *psi < 0.1,
            "{name} has PSI {psi} between two halves of one population"
        );
    }
    assert!(json["score"]["psi"].as_f64().expect("score psi") < 0.1);
    assert_eq!(json["score_source"], "out_of_fold");

    // The shifted half: exactly the two shifted features need action; the exit code stays 0.
    let out = dir.path().join("drift");
    let args = [
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&shifted_path),
        "--out",
        path(&out),
    ];
    let (code, stdout, stderr) = monitor(&args);
    assert_eq!(code, Some(0), "{stderr}");
    let json = read_json(&out.join("drift.json"));
    let features = features(&json);
    let act: Vec<&str> = features
        .iter()
        .filter(|(_, _, level)| level == "act")
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert_eq!(act.len(), 2, "{features:?}");
    assert!(SHIFTED.iter().all(|name| act.contains(name)), "{act:?}");
    for (name, psi, level) in &features {
        if SHIFTED.contains(&name.as_str()) {
            assert!(*psi > 0.25, "{name}: {psi}");
        } else {
            assert!(
                *psi < 0.1 && level == "none",
                "{name} was not shifted but has PSI {psi}"
            );
        }
    }
    // Largest first; each with its bins, labelled, and both distributions summing to 1.
    assert!(SHIFTED.contains(&features[0].0.as_str()) && SHIFTED.contains(&features[1].0.as_str()));
    let region = &json["features"][features.iter().position(|f| f.0 == "region").expect("region")];
    let bins = region["bins"].as_array().expect("bins");
    assert_eq!(bins.last().expect("bin")["label"], "(missing)");
    assert!(
        bins.iter()
            .any(|b| b["label"] == first_region.as_str() && b["current"] == 1.0)
    );
    for key in ["reference", "current"] {
        let total: f64 = bins.iter().map(|b| b[key].as_f64().expect("share")).sum();
        assert!((total - 1.0).abs() < 1e-9, "{key}: {total}");
    }
    assert_eq!(json["method"]["act"], 0.25);
    assert!(json["score"]["bins"].as_array().is_some_and(|b| b.len() >= 2));
    // One line per flagged feature on stdout, then the summary.
    let flagged: Vec<&str> = stdout.lines().filter(|l| l.starts_with("act ")).collect();
    assert_eq!(flagged.len(), 2, "{stdout}");
    assert!(flagged[0].contains("PSI ") && SHIFTED.iter().any(|s| flagged[0].contains(s)));
    assert!(stdout.contains("2 features to act on, 0 to watch"), "{stdout}");
    let html = std::fs::read_to_string(out.join("drift.html")).expect("drift.html");
    assert!(html.contains("<svg") && !html.contains("<script"));
    assert!(html.contains(r#"<span class="level level-act">act</span>"#));
    // A chart for each flagged feature and one for the score.
    assert_eq!(html.matches(r#"<svg class="chart""#).count(), 3);

    // --fail-on act: exit code 1 once the files are written, naming what reached the level.
    std::fs::remove_file(out.join("drift.json")).expect("remove");
    let mut failing = args.to_vec();
    failing.extend(["--fail-on", "act"]);
    let (code, _, stderr) = monitor(&failing);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--fail-on act") && stderr.contains("total_spend"),
        "{stderr}"
    );
    assert!(out.join("drift.json").is_file(), "written before failing");

    // Even when nobody reads the flag lines (`monitor ... | head -1`), the exit code says so.
    let mut child = Command::new(BIN)
        .args(["--quiet", "monitor"])
        .args(&failing)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run churn-trainer");
    drop(child.stdout.take());
    assert_eq!(child.wait().expect("wait").code(), Some(1));

    // Bad input: an unknown model, a table without a model feature, and the output over an input.
    let out_bad = dir.path().join("drift-bad");
    let error = fails(&[
        "monitor",
        "--model",
        "nobody",
        "--registry",
        path(&registry),
        "--features",
        path(&shifted_path),
        "--out",
        path(&out_bad),
    ]);
    assert!(error.contains("no model `nobody`"), "{error}");
    assert!(!out_bad.exists(), "a failed run leaves no --out folder behind");
    let mut missing = same.clone();
    missing.columns.retain(|c| c.name != "spend_365d");
    let missing_path = dir.path().join("missing.parquet");
    missing.write_parquet(&missing_path).expect("write");
    let error = fails(&[
        "monitor",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&missing_path),
        "--out",
        path(&out_bad),
    ]);
    assert!(
        error.contains("feature `spend_365d` is required by the model") && error.contains("missing.parquet"),
        "{error}"
    );
    assert!(!out_bad.join("drift.json").exists() && !out_bad.join("drift.html").exists());
    let error = fails(&[
        "monitor",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&shifted_path),
        "--out",
        path(&registry),
    ]);
    assert!(error.contains("registry"), "{error}");
    // A model without training distributions (as those trained before drift monitoring).
    let registry_handle = Registry::open(&registry).expect("registry");
    let mut old = registry_handle.load("churn", "v1").expect("v1").artifact;
    old.drift_reference = None;
    let v2 = registry_handle.save("churn", &old).expect("save");
    let error = fails(&[
        "monitor",
        "--model",
        &format!("churn@{v2}"),
        "--registry",
        path(&registry),
        "--features",
        path(&same_path),
        "--out",
        path(&out_bad),
    ]);
    assert!(
        error.contains("no training distributions") && error.contains("train a new version"),
        "{error}"
    );
    let show = ok(&["models", "show", "churn@v1", "--registry", path(&registry)]);
    assert!(
        show.contains("training distributions (for monitor): ")
            && show
                .contains("the score over every training row, scored by the cross-validation fold's model"),
        "{show}"
    );
    let show = ok(&[
        "models",
        "show",
        &format!("churn@{v2}"),
        "--registry",
        path(&registry),
    ]);
    assert!(
        show.contains("training distributions (for monitor): none"),
        "{show}"
    );
    let output = Command::new(BIN)
        .args(["monitor", "--model", "churn", "--features", path(&same_path)])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "a missing option is a usage error");
}
