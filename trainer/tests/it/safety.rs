//! A user's data is never lost or corrupted, through the binary: outputs that are inputs are refused before
//! any work, unusable output folders and registries fail first and clearly, concurrent promotions keep
//! every history entry, a corrupt history is set aside, and runs killed at random points leave neither a
//! data file beside another run's summary nor a lost promotion, while the next run removes their leftovers.
//! Nor do results mislead in silence: unknown category values, an unpromoted model named without a
//! version, evaluation on training rows and a model no better than chance are all called out.

use crate::common::{BIN, fails, generate, ok, path};
use churn_features::output::{TEMPORARY_SUFFIX, summary_path};
use churn_features::{ColumnValues, FeatureTable};
use churn_models::Registry;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A small generated data set (`churn.toml` and its Parquet inputs), shared by the tests of this module.
fn data() -> &'static Path {
    static DATA: OnceLock<tempfile::TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        generate(dir.path(), 400, 3);
        dir
    })
    .path()
}

fn build_features(out: &Path, as_of: &str) {
    build_features_over(out, as_of, "90");
}

/// Features as of `as_of` labelled over `horizon` days.
fn build_features_over(out: &Path, as_of: &str, horizon: &str) {
    let config = data().join("churn.toml");
    ok(&[
        "features",
        "-c",
        path(&config),
        "--as-of",
        as_of,
        "--horizon",
        horizon,
        "-o",
        path(out),
    ]);
}

fn train(features: &Path, registry: &Path) {
    ok(&[
        "train",
        "--features",
        path(features),
        "--model",
        "logistic",
        "--registry",
        path(registry),
        "--name",
        "churn",
        "--no-validation",
        "--no-importance",
    ]);
}

/// Files of `dir` whose name marks them as temporary output.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("list").flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(TEMPORARY_SUFFIX) {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

/// A deterministic stream of kill delays (xorshift64), so a failure can be replayed.
struct Delays(u64);

impl Delays {
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// Starts a command and kills it (SIGKILL) after `delay`, or lets it finish first.
fn kill_after(args: &[&str], delay: Duration) {
    let mut child: Child = Command::new(BIN)
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn churn-trainer");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

/// How long a command takes when it runs to the end.
fn duration_of(args: &[&str]) -> Duration {
    let started = Instant::now();
    ok(args);
    started.elapsed()
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work_and_the_input_is_kept() {
    let data = data();
    let config = data.join("churn.toml");
    let transactions = data.join("transactions.parquet");
    let before = std::fs::read(&transactions).expect("read");
    let config_before = std::fs::read(&config).expect("read");
    for out in [&transactions, &config] {
        let message = fails(&[
            "features",
            "-c",
            path(&config),
            "--as-of",
            "2024-06-30",
            "-o",
            path(out),
        ]);
        assert!(message.contains("also an input"), "{message}");
    }
    // Through another spelling of the same path.
    let roundabout = data.join(".").join("transactions.parquet");
    let message = fails(&[
        "features",
        "-c",
        path(&config),
        "--as-of",
        "2024-06-30",
        "-o",
        path(&roundabout),
    ]);
    assert!(message.contains("also an input"), "{message}");
    assert_eq!(std::fs::read(&transactions).expect("read"), before);
    assert_eq!(std::fs::read(&config).expect("read"), config_before);

    let dir = tempfile::tempdir().expect("temp dir");
    let snapshot = dir.path().join("snap.parquet");
    let registry = dir.path().join("registry");
    build_features(&snapshot, "2024-06-30");
    train(&snapshot, &registry);
    let snapshot_before = std::fs::read(&snapshot).expect("read");
    let score = |out: &Path| {
        fails(&[
            "score",
            "--model",
            "churn@v1",
            "--registry",
            path(&registry),
            "--features",
            path(&snapshot),
            "--out",
            path(out),
        ])
    };
    assert!(score(&snapshot).contains("also an input"));
    // `snap.pq` would get its summary written to `snap.summary.json`, the snapshot's own summary.
    assert!(score(&dir.path().join("snap.pq")).contains("also an input"));
    assert!(score(&registry.join("churn").join("v1").join("scores.parquet")).contains("input folder"));
    assert_eq!(std::fs::read(&snapshot).expect("read"), snapshot_before);
    FeatureTable::read_parquet(&snapshot).expect("the snapshot still matches its summary");
}

#[test]
fn unusable_outputs_fail_first_with_one_clear_message() {
    let config = data().join("churn.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing").join("x.parquet");
    let message = fails(&[
        "features",
        "-c",
        path(&config),
        "--as-of",
        "2024-06-30",
        "-o",
        path(&missing),
    ]);
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        !message.contains(TEMPORARY_SUFFIX),
        "names a temporary file: {message}"
    );
    assert_eq!(message.matches("No such file").count(), 0, "{message}");

    // A registry that is a file is refused before the feature table is even read (here it does not exist).
    let file = dir.path().join("registry-file");
    std::fs::write(&file, b"not a folder").expect("seed");
    let message = fails(&[
        "train",
        "--features",
        path(&dir.path().join("absent.parquet")),
        "--model",
        "logistic",
        "--registry",
        path(&file),
        "--name",
        "churn",
    ]);
    assert!(message.contains("is a file, not a folder"), "{message}");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a folder");
}

#[test]
fn concurrent_promotions_keep_every_entry_and_a_corrupt_history_is_set_aside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    let registry = dir.path().join("registry");
    build_features(&features, "2024-06-30");
    train(&features, &registry);
    train(&features, &registry);
    ok(&["models", "--registry", path(&registry), "promote", "churn@v1"]);

    const PROMOTERS: usize = 16;
    let children: Vec<Child> = (0..PROMOTERS)
        .map(|i| {
            let version = if i % 2 == 0 { "churn@v2" } else { "churn@v1" };
            Command::new(BIN)
                .args([
                    "--quiet",
                    "models",
                    "--registry",
                    path(&registry),
                    "promote",
                    version,
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let store = Registry::open(&registry).expect("registry");
    assert_eq!(store.history("churn").expect("history").len(), PROMOTERS + 1);

    let history = registry.join("churn").join("promotions.json");
    std::fs::write(&history, b"{ not json").expect("corrupt");
    ok(&["models", "--registry", path(&registry), "promote", "churn@v1"]);
    let set_aside: Vec<_> = std::fs::read_dir(registry.join("churn"))
        .expect("list")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("promotions.json.corrupt-")
        })
        .collect();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(std::fs::read(set_aside[0].path()).expect("read"), b"{ not json");
    let entries = store.history("churn").expect("a new history");
    // The version promoted before the history was lost is kept as its first entry, so rollback works.
    let versions: Vec<&str> = entries.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(versions.last(), Some(&"v1"));
    ok(&["models", "--registry", path(&registry), "promote", "churn@v2"]);
    ok(&["models", "--registry", path(&registry), "rollback", "churn"]);
    assert_eq!(
        store.promoted_version("churn").expect("pointer").as_deref(),
        Some("v1")
    );
}

#[test]
fn runs_killed_at_random_points_leave_matching_pairs_and_no_lost_promotion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = data().join("churn.toml");
    let features = dir.path().join("f.parquet");
    let registry = dir.path().join("registry");
    let scores = dir.path().join("scores.parquet");
    build_features(&features, "2024-03-31");
    let features_args = |as_of: &'static str| {
        [
            "features",
            "-c",
            path(&config),
            "--as-of",
            as_of,
            "--horizon",
            "90",
            "-o",
            path(&features),
        ]
    };
    let train_args = [
        "train",
        "--features",
        path(&features),
        "--model",
        "logistic",
        "--registry",
        path(&registry),
        "--name",
        "churn",
        "--no-validation",
        "--no-importance",
    ];
    let score_args = [
        "score",
        "--model",
        "churn@v1",
        "--registry",
        path(&registry),
        "--features",
        path(&features),
        "--out",
        path(&scores),
    ];
    let full = [
        duration_of(&features_args("2024-06-30")),
        duration_of(&train_args),
        duration_of(&score_args),
    ];
    let mut delays = Delays(0x9e37_79b9_7f4a_7c15);
    const KILLS: usize = 6;

    for round in 0..KILLS {
        // Alternate the as-of date so consecutive tables differ in rows and bytes.
        let as_of = if round % 2 == 0 {
            "2024-03-31"
        } else {
            "2024-06-30"
        };
        kill_after(&features_args(as_of), delays.next(full[0]));
        if summary_path(&features).exists() {
            let table = FeatureTable::read_parquet(&features).expect("a feature table matches its summary");
            let summary: serde_json::Value =
                serde_json::from_slice(&std::fs::read(summary_path(&features)).expect("read")).expect("json");
            assert_eq!(summary["rows"].as_u64(), Some(table.len() as u64));
        }
        kill_after(&score_args, delays.next(full[2]));
        if summary_path(&scores).exists() {
            churn_features::output::check_against_summary(&scores).expect("scores match their summary");
        }
        kill_after(&train_args, delays.next(full[1]));
        let store = Registry::open(&registry).expect("registry");
        for version in store.versions("churn").expect("versions") {
            store
                .load("churn", &version)
                .expect("every visible version loads whole");
        }
        let versions = store.versions("churn").expect("versions");
        let target = versions[delays.0 as usize % versions.len()].clone();
        let spec = format!("churn@{target}");
        let promote = ["models", "--registry", path(&registry), "promote", &spec];
        kill_after(&promote, delays.next(Duration::from_millis(40)));
        let pointer = store.promoted_version("churn").expect("pointer");
        let other = if target == versions[0] {
            versions[versions.len() - 1].clone()
        } else {
            versions[0].clone()
        };
        let spec = format!("churn@{other}");
        ok(&["models", "--registry", path(&registry), "promote", &spec]);
        let history = store.history("churn").expect("history");
        let recorded: Vec<&str> = history.iter().map(|p| p.version.as_str()).collect();
        if let Some(pointer) = pointer {
            assert_eq!(
                &recorded[recorded.len() - 2..],
                [pointer.as_str(), other.as_str()],
                "a promotion that took effect is in the history"
            );
        }
    }
    // Runs to the end remove what the killed ones left behind.
    ok(&features_args("2024-06-30"));
    ok(&train_args);
    ok(&score_args);
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    FeatureTable::read_parquet(&features).expect("final pair");
}

#[test]
fn scoring_warns_about_a_feature_null_in_every_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    let registry = dir.path().join("registry");
    build_features(&features, "2024-06-30");
    train(&features, &registry);
    let model = Registry::open(&registry)
        .expect("registry")
        .resolve("churn@v1")
        .expect("model");
    let emptied = model.schema().features[0].name.clone();
    let mut table = FeatureTable::read_parquet(&features).expect("table");
    let column = table
        .columns
        .iter_mut()
        .find(|c| c.name == emptied)
        .expect("column");
    column.values = match &column.values {
        ColumnValues::Numeric(values) => ColumnValues::Numeric(vec![None; values.len()]),
        ColumnValues::Categorical(values) => ColumnValues::Categorical(vec![None; values.len()]),
    };
    let blank = dir.path().join("blank.parquet");
    table.write_parquet(&blank).expect("write");
    let output = Command::new(BIN)
        .args(["score", "--model", "churn@v1", "--registry", path(&registry)])
        .args([
            "--features",
            path(&blank),
            "--out",
            path(&dir.path().join("s.parquet")),
        ])
        .output()
        .expect("run");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("null in every row") && stderr.contains(&emptied),
        "{stderr}"
    );
}

#[test]
fn scoring_warns_about_unknown_category_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    let registry = dir.path().join("registry");
    build_features(&features, "2024-06-30");
    train(&features, &registry);
    let mut table = FeatureTable::read_parquet(&features).expect("table");
    let plan = table
        .columns
        .iter_mut()
        .find(|c| c.name == "plan")
        .expect("the generated data have a `plan` attribute");
    let ColumnValues::Categorical(values) = &mut plan.values else {
        panic!("plan is a category");
    };
    values[0] = Some("platinum-typo".into());
    values[1] = Some("platinum-typo".into());
    values[2] = Some("Basic ".into());
    let typos = dir.path().join("typos.parquet");
    table.write_parquet(&typos).expect("write");
    let output = Command::new(BIN)
        .args(["score", "--model", "churn@v1", "--registry", path(&registry)])
        .args([
            "--features",
            path(&typos),
            "--out",
            path(&dir.path().join("s.parquet")),
        ])
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("feature `plan`: 3 rows hold values the model has no level for")
            && stderr.contains("`platinum-typo` (2), `Basic ` (1)"),
        "{stderr}"
    );
}

#[test]
fn scoring_by_name_needs_a_promoted_version_or_an_explicit_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    let registry = dir.path().join("registry");
    build_features(&features, "2024-06-30");
    train(&features, &registry);
    let out = dir.path().join("s.parquet");
    let score = |model: &'static str| {
        [
            "score",
            "--model",
            model,
            "--registry",
            path(&registry),
            "--features",
            path(&features),
            "--out",
            path(&out),
        ]
    };
    // Never the latest version in silence: the error says how to promote one or name it.
    let error = fails(&score("churn"));
    assert!(
        error.contains("no promoted version") && error.contains("churn-trainer models promote churn@v1"),
        "{error}"
    );
    assert!(ok(&score("churn@v1")).contains("with churn@v1"));
    ok(&["models", "--registry", path(&registry), "promote", "churn@v1"]);
    assert!(ok(&score("churn")).contains("with churn@v1"));
}

/// Runs churn-trainer, which must succeed; returns its stderr.
fn stderr_of(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().expect("run");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn evaluating_on_training_rows_or_other_labels_warns_that_the_metrics_mislead() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    let earlier = dir.path().join("earlier.parquet");
    let registry = dir.path().join("registry");
    build_features(&features, "2024-06-30");
    build_features(&earlier, "2024-03-31");
    train(&features, &registry);
    let evaluate = |table: &Path| {
        stderr_of(&[
            "evaluate",
            "--model",
            "churn@v1",
            "--registry",
            path(&registry),
            "--features",
            path(table),
            "--out",
            path(&dir.path().join("eval")),
            "--no-importance",
        ])
    };
    let stderr = evaluate(&features);
    assert!(
        stderr.contains("is the feature table the model was trained on")
            && stderr.contains("these metrics are optimistic"),
        "{stderr}"
    );
    // Rows of another as-of date are not training rows.
    let stderr = evaluate(&earlier);
    assert!(!stderr.contains("optimistic"), "{stderr}");
    assert!(!stderr.contains("another definition of churn"), "{stderr}");
    // Labels over another horizon are another definition of churn.
    let shorter = dir.path().join("shorter.parquet");
    build_features_over(&shorter, "2024-03-31", "60");
    let stderr = evaluate(&shorter);
    assert!(
        stderr.contains("labelled over 60 days") && stderr.contains("within 90 days"),
        "{stderr}"
    );
}

#[test]
fn a_model_no_better_than_chance_is_saved_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let features = dir.path().join("f.parquet");
    build_features(&features, "2024-06-30");
    let registry = dir.path().join("registry");
    // Labels drawn independently of every feature, three times: on a few hundred rows the out-of-fold
    // ROC AUC of a model of noise has a standard error near 0.03, so one draw in a few dozen looks
    // better than chance by luck; two of three draws failing to warn would not be luck.
    let mut warned = 0;
    for (draw, seed) in [
        0x2545_f491_4f6c_dd1d_u64,
        0x1234_5678_9abc_def1,
        0x0f0f_1e1e_2d2d_3c3c,
    ]
    .into_iter()
    .enumerate()
    {
        let mut table = FeatureTable::read_parquet(&features).expect("table");
        let mut state = seed;
        for label in &mut table.labels {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *label = Some(i8::from(state.is_multiple_of(3)));
        }
        let noise = dir.path().join(format!("noise-{draw}.parquet"));
        table.write_parquet(&noise).expect("write");
        let stderr = stderr_of(&[
            "train",
            "--features",
            path(&noise),
            "--model",
            "logistic",
            "--registry",
            path(&registry),
            "--name",
            "noise",
            "--cv",
            "3",
            "--no-importance",
        ]);
        let version = draw + 1;
        if stderr.contains(&format!(
            "noise@v{version}: the model is no better than chance on its held-out rows"
        )) {
            warned += 1;
        }
        assert!(
            registry.join(format!("noise/v{version}/model.json")).is_file(),
            "saved all the same"
        );
    }
    assert!(warned >= 2, "{warned} of 3 models of noise were warned about");
}
