//! Global importance: permutation importance for any model, standardised coefficients for the linear one.

use crate::error::Result;
use crate::kinds::FittedModel;
use crate::matrix::Matrix;
use crate::metrics::{FeatureImportance, roc_auc};
use crate::model::ChurnModel;
use crate::preprocess::FeatureSchema;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use rayon::prelude::*;

/// How permutation importance is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermutationParams {
    /// Shuffles per feature (the drops are averaged).
    pub repeats: usize,
    /// Rows used at most (an evenly spaced subsample of larger inputs).
    pub max_rows: usize,
    /// Seed of the shuffles.
    pub seed: u64,
}

impl Default for PermutationParams {
    fn default() -> Self {
        Self {
            repeats: 3,
            max_rows: 20_000,
            seed: 0,
        }
    }
}

/// Drop of ROC AUC when each input feature's values (all its encoded columns together) are shuffled
/// across held-out rows, largest first. For logistic regression the largest absolute standardised
/// coefficient of each feature is reported alongside.
pub fn permutation_importance(
    model: &FittedModel,
    schema: &FeatureSchema,
    x: &Matrix,
    labels: &[u8],
    params: PermutationParams,
) -> Result<Vec<FeatureImportance>> {
    let stride = x.rows().div_ceil(params.max_rows.max(1)).max(1);
    let rows: Vec<usize> = (0..x.rows()).step_by(stride).collect();
    let x = x.select_rows(&rows);
    let labels: Vec<u8> = rows.iter().map(|&i| labels[i]).collect();
    let baseline = roc_auc(&labels, &model.predict_encoded(&x))?;
    let coefficients = model
        .linear_weights()
        .map(|weights| standardised_coefficients(weights, schema));
    let drops = (0..schema.features.len())
        .into_par_iter()
        .map(|feature| {
            let columns: Vec<usize> = schema
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.feature == feature)
                .map(|(j, _)| j)
                .collect();
            let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(feature as u64));
            let mut total = 0.0;
            for _ in 0..params.repeats.max(1) {
                let mut order: Vec<usize> = (0..x.rows()).collect();
                order.shuffle(&mut rng);
                let mut shuffled = x.clone();
                for (i, &source) in order.iter().enumerate() {
                    for &j in &columns {
                        shuffled.row_mut(i)[j] = x.get(source, j);
                    }
                }
                total += baseline - roc_auc(&labels, &model.predict_encoded(&shuffled))?;
            }
            Ok(total / params.repeats.max(1) as f64)
        })
        .collect::<Result<Vec<f64>>>()?;
    let mut importance: Vec<FeatureImportance> = schema
        .features
        .iter()
        .zip(drops)
        .enumerate()
        .map(|(f, (spec, auc_drop))| FeatureImportance {
            feature: spec.name.clone(),
            auc_drop,
            standardised_coefficient: coefficients.as_ref().map(|c| c[f]),
        })
        .collect();
    importance.sort_by(|a, b| b.auc_drop.total_cmp(&a.auc_drop));
    Ok(importance)
}

/// For each input feature, the standardised coefficient of largest magnitude among its encoded columns
/// (with its sign).
pub fn standardised_coefficients(weights: &[f64], schema: &FeatureSchema) -> Vec<f64> {
    let mut best = vec![0.0f64; schema.features.len()];
    for (w, column) in weights.iter().zip(&schema.columns) {
        if w.abs() > best[column.feature].abs() {
            best[column.feature] = *w;
        }
    }
    best
}
