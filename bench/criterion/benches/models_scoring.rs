//! Per-customer scoring cost of each model kind inside `churn-models`, without preprocessing or a server:
//! a prediction, a prediction with its exact reasons (base value, contributions and probability, as a
//! server's Score call with reasons needs them), and a 100,000-row batch prediction for the tree kinds.
//!
//! `cargo bench --manifest-path bench/criterion/Cargo.toml --bench models_scoring` (a filter after `--`
//! picks groups, e.g. `-- boosting/`).
//!
//! Models are fitted here on generated data: 20,000 rows × 30 columns whose churn probability has
//! interactions, a logistic regression, a random forest of 100 trees of depth 12, gradient boosting of
//! 100 trees of 31 leaves, and gradient boosting with the default parameters (learning rate 0.05, early
//! stopping), the model size a real training run ends with.

#![allow(missing_docs)]

use churn_models::{
    ForestModel, ForestParams, GradientBoostingModel, GradientBoostingParams, LogisticModel, LogisticParams,
    Matrix,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::hint::black_box;
use std::time::Duration;

const COLUMNS: usize = 30;
const TRAIN_ROWS: usize = 20_000;
const BATCH_ROWS: usize = 100_000;
/// Rows the per-customer benchmarks cycle through, so no single path is learned by the branch predictor.
const PROBE_ROWS: usize = 4096;

/// `n` rows of 30 columns: uniform values, a few 0/1 indicator columns, and a churn probability driven by
/// two interactions, a threshold effect and a smooth term; 1 % of the values of column 7 are missing.
fn data(n: usize, seed: u64) -> (Matrix, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(n * COLUMNS);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..COLUMNS)
            .map(|j| {
                if j >= 25 {
                    f64::from(u8::from(rng.random::<f64>() < 0.3))
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        let logit = 1.5 * row[0] * row[1] - 1.2 * row[2] * f64::from(u8::from(row[3] > 0.2))
            + 0.8 * row[4]
            + (2.0 * row[5]).sin()
            + 0.6 * row[25]
            - 0.4 * row[26] * row[6];
        let p = 1.0 / (1.0 + (-logit).exp());
        labels.push(u8::from(rng.random::<f64>() < p));
        values.extend(row.iter().enumerate().map(|(j, &v)| {
            if j == 7 && rng.random::<f64>() < 0.01 {
                f64::NAN
            } else {
                v
            }
        }));
    }
    (Matrix::from_vec(n, COLUMNS, values).expect("shape"), labels)
}

struct Models {
    logistic: LogisticModel,
    forest: ForestModel,
    boosting: GradientBoostingModel,
    early_stopped: GradientBoostingModel,
}

/// `x` with missing values replaced by 0 (encoded rows are imputed; the logistic model needs it).
fn imputed(x: &Matrix) -> Matrix {
    let values = x
        .as_slice()
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    Matrix::from_vec(x.rows(), x.cols(), values).expect("shape")
}

fn models() -> Models {
    let (x, y) = data(TRAIN_ROWS, 1);
    let logistic = LogisticParams::default().fit(&imputed(&x), &y).expect("logistic");
    let forest = ForestParams {
        n_trees: 100,
        max_depth: 12,
        ..ForestParams::default()
    }
    .fit(&x, &y, &|| {})
    .expect("forest");
    let boosting = GradientBoostingParams {
        n_rounds: 100,
        learning_rate: 0.1,
        max_leaves: 31,
        early_stopping_rounds: 0,
        ..GradientBoostingParams::default()
    }
    .fit(&x, &y, None, &|| {})
    .expect("boosting");
    let early_stopped = GradientBoostingParams::default()
        .fit(&x, &y, None, &|| {})
        .expect("boosting");
    let nodes =
        |trees: usize, total: usize| format!("{trees} trees, {:.0} nodes each", total as f64 / trees as f64);
    eprintln!(
        "forest: {}; boosting: {}; early-stopped boosting: {}",
        nodes(
            forest.trees.len(),
            forest.trees.iter().map(|t| t.feature.len()).sum()
        ),
        nodes(
            boosting.trees.len(),
            boosting.trees.iter().map(|t| t.nodes()).sum()
        ),
        nodes(
            early_stopped.trees.len(),
            early_stopped.trees.iter().map(|t| t.nodes()).sum()
        ),
    );
    Models {
        logistic,
        forest,
        boosting,
        early_stopped,
    }
}

/// Times `score` on one probe row per iteration, cycling through the probe rows.
fn per_row<T>(c: &mut Criterion, name: &str, probe: &Matrix, mut score: impl FnMut(&[f64]) -> T) {
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % probe.rows();
            black_box(score(black_box(probe.row(i))))
        })
    });
}

fn scoring(c: &mut Criterion) {
    let models = models();
    let (probe, _) = data(PROBE_ROWS, 2);
    let (batch, _) = data(BATCH_ROWS, 3);

    let logistic = &models.logistic;
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let imputed_probe = imputed(&probe);
    per_row(c, "logistic/predict", &imputed_probe, |row| {
        sigmoid(logistic.logit(row))
    });
    per_row(c, "logistic/predict+contributions", &imputed_probe, |row| {
        (
            sigmoid(logistic.logit(row)),
            logistic.intercept,
            logistic.contributions(row),
        )
    });

    let forest = &models.forest;
    per_row(c, "forest/predict", &probe, |row| forest.predict_row(row));
    per_row(c, "forest/predict+contributions", &probe, |row| {
        (
            forest.predict_row(row),
            forest.base_value(),
            forest.contributions(row),
        )
    });

    for (name, model) in [
        ("boosting", &models.boosting),
        ("boosting-early-stopped", &models.early_stopped),
    ] {
        per_row(c, &format!("{name}/predict"), &probe, |row| {
            model.predict_row(row)
        });
        per_row(c, &format!("{name}/predict+contributions"), &probe, |row| {
            (
                model.predict_row(row),
                model.base_value(),
                model.contributions(row),
            )
        });
    }

    let mut group = c.benchmark_group("batch-100k");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("forest/predict", |b| b.iter(|| black_box(forest.predict(&batch))));
    group.bench_function("boosting/predict", |b| {
        b.iter(|| black_box(models.boosting.predict(&batch)))
    });
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
