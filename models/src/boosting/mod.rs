//! Gradient-boosted trees for binary churn labels (logistic loss), on the shared 255-bin histograms.
//!
//! Each round fits a regression tree to the gradient and hessian of the log loss at the current raw
//! scores (Newton boosting, as XGBoost and LightGBM do) and adds its leaves, shrunk by the learning rate.
//! Trees grow leaf-wise ([`grow`]) on a seeded sample of rows and columns. Rounds stop when the log loss on
//! a validation slice has not improved for `early_stopping_rounds`, and the model keeps the trees up to
//! its best round. The raw score is on the log-odds scale; per-customer reasons are TreeSHAP values
//! ([`shap`]) on that scale, so `base value + Σ contributions = raw score` exactly.
//!
//! The defaults are the conservative settings common to LightGBM's and XGBoost's guides, not values tuned
//! on any data set here: a small learning rate with many rounds and early stopping adapts the model size
//! to the data, 31 leaves and 20 rows per leaf bound each tree, L2 on the leaf values and 80 % row and
//! column samples damp variance.

mod fast_shap;
pub mod grow;
mod scoring;
pub mod shap;
pub mod tree;

use crate::class_weight::ClassWeight;
use crate::error::{ModelError, Result};
use crate::flat_tree::LazyLayout;
use crate::histogram::BinnedColumns;
use crate::logistic::sigmoid;
use crate::matrix::Matrix;
use grow::{GrowthLimits, HistogramPool, RowBins, grow};
use rand::seq::SliceRandom;
use rand::seq::index::sample;
use rand::{SeedableRng, rngs::StdRng};
use rayon::prelude::*;
use scoring::BoostingLayout;
use serde::{Deserialize, Serialize};
pub use tree::BoostedTree;

/// Rows scored per parallel task.
const CHUNK_ROWS: usize = 4096;

/// Hyperparameters of gradient boosting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GradientBoostingParams {
    /// Boosting rounds at most (early stopping usually ends sooner).
    pub n_rounds: usize,
    /// Shrinkage of each tree's leaf values, in (0, 1].
    pub learning_rate: f64,
    /// Leaves per tree at most (at least 2).
    pub max_leaves: usize,
    /// Depth of a tree at most (splits from the root to a leaf).
    pub max_depth: usize,
    /// Training rows in a leaf at least.
    pub min_data_in_leaf: usize,
    /// Hessian sum in a leaf at least (`p(1 − p)` summed over its rows).
    pub min_sum_hessian: f64,
    /// L2 penalty on leaf values (λ in `−G / (H + λ)`).
    pub l2: f64,
    /// Loss reduction a split must exceed.
    pub min_gain: f64,
    /// Fraction of the rows drawn (without replacement) for each tree, in (0, 1].
    pub row_subsample: f64,
    /// Fraction of the columns drawn for each tree, in (0, 1].
    pub column_subsample: f64,
    /// Stop when the validation log loss has not improved for this many rounds; 0 turns early stopping
    /// off (every round is kept).
    pub early_stopping_rounds: usize,
    /// Share of the training rows held out (stratified) for early stopping when the caller gives no
    /// validation rows, in (0, 0.5].
    pub validation_fraction: f64,
    /// Histogram bins per column (2..=255).
    pub max_bins: usize,
    /// Class weights in the loss; probabilities are shifted back to the training base rate afterwards.
    pub class_weight: ClassWeight,
    /// Seed of the row, column and validation draws; the same seed gives the same model whatever the
    /// thread count.
    pub seed: u64,
}

impl Default for GradientBoostingParams {
    fn default() -> Self {
        Self {
            n_rounds: 1000,
            learning_rate: 0.05,
            max_leaves: 31,
            max_depth: 8,
            min_data_in_leaf: 20,
            min_sum_hessian: 1e-3,
            l2: 1.0,
            min_gain: 0.0,
            row_subsample: 0.8,
            column_subsample: 0.8,
            early_stopping_rounds: 50,
            validation_fraction: 0.15,
            max_bins: 255,
            class_weight: ClassWeight::None,
            seed: 0,
        }
    }
}

/// Rows held out to decide when to stop.
#[derive(Debug, Clone, Copy)]
pub struct ValidationSet<'a> {
    /// Encoded rows.
    pub x: &'a Matrix,
    /// Their 0/1 labels.
    pub y: &'a [u8],
}

/// A fitted gradient-boosted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientBoostingModel {
    /// The parameters it was fitted with.
    pub params: GradientBoostingParams,
    /// Number of encoded input columns.
    pub n_columns: usize,
    /// The raw score before any tree: the log-odds of the training churn rate (class weights and their
    /// prior correction included).
    pub base_score: f64,
    /// The trees, up to the best round.
    pub trees: Vec<BoostedTree>,
    /// Rounds run before stopping (at least `trees.len()`).
    pub rounds_run: usize,
    /// The round with the lowest validation log loss (= `trees.len()`); every round without early
    /// stopping.
    pub best_iteration: usize,
    /// Validation log loss at the best round, when early stopping ran.
    pub validation_log_loss: Option<f64>,
    /// Rows early stopping was decided on (0 without early stopping).
    pub validation_rows: usize,
    /// The scoring layout, built from `trees` on first use; see [`crate::flat_tree::LazyLayout`].
    #[serde(skip)]
    layout: LazyLayout<BoostingLayout>,
}

impl GradientBoostingParams {
    /// Checks every parameter's domain; called before any data is read.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, reason: &str| {
            Err(ModelError::InvalidParameter {
                name,
                reason: reason.to_string(),
            })
        };
        let fraction = |f: f64| f > 0.0 && f <= 1.0;
        if self.n_rounds == 0 {
            return invalid("n_rounds", "must be at least 1");
        }
        if !fraction(self.learning_rate) {
            return invalid("learning_rate", "must be in (0, 1]");
        }
        if self.max_leaves < 2 {
            return invalid("max_leaves", "must be at least 2");
        }
        if self.max_depth == 0 {
            return invalid("max_depth", "must be at least 1");
        }
        if self.min_data_in_leaf == 0 {
            return invalid("min_data_in_leaf", "must be at least 1");
        }
        if !(self.min_sum_hessian.is_finite() && self.min_sum_hessian >= 0.0) {
            return invalid("min_sum_hessian", "must be finite and at least 0");
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return invalid("l2", "must be finite and at least 0");
        }
        if !(self.min_gain.is_finite() && self.min_gain >= 0.0) {
            return invalid("min_gain", "must be finite and at least 0");
        }
        if !fraction(self.row_subsample) {
            return invalid("row_subsample", "must be in (0, 1]");
        }
        if !fraction(self.column_subsample) {
            return invalid("column_subsample", "must be in (0, 1]");
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction <= 0.5) {
            return invalid("validation_fraction", "must be in (0, 0.5]");
        }
        if !(2..=255).contains(&self.max_bins) {
            return invalid("max_bins", "must be between 2 and 255");
        }
        self.class_weight.check()
    }

    /// Fits on encoded rows `x` with 0/1 labels `y`. Early stopping uses `validation` when given, else a
    /// stratified `validation_fraction` of the rows, which are then not fitted on. `on_round` is called
    /// once per round (for progress bars).
    pub fn fit(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_round: &(dyn Fn() + Sync),
    ) -> Result<GradientBoostingModel> {
        self.check()?;
        if x.rows() != y.len() {
            return Err(ModelError::LengthMismatch {
                what: "labels".into(),
                expected: x.rows(),
                found: y.len(),
            });
        }
        if x.rows() == 0 || x.cols() == 0 {
            return Err(ModelError::Training(
                "no rows or no columns to fit gradient boosting on".into(),
            ));
        }
        if let Some(v) = validation
            && (v.x.cols() != x.cols() || v.x.rows() != v.y.len())
        {
            return Err(ModelError::LengthMismatch {
                what: "validation rows".into(),
                expected: x.cols(),
                found: v.x.cols(),
            });
        }
        if self.early_stopping_rounds == 0 {
            return self.boost(x, y, None, on_round);
        }
        match validation {
            Some(v) if !v.y.is_empty() => self.boost(x, y, Some(v), on_round),
            _ => {
                let (fit_at, held_out_at) = stratified_holdout(y, self.validation_fraction, self.seed);
                if held_out_at.is_empty() || fit_at.is_empty() {
                    return self.boost(x, y, None, on_round);
                }
                let pick = |at: &[usize]| -> (Matrix, Vec<u8>) {
                    (x.select_rows(at), at.iter().map(|&i| y[i]).collect())
                };
                let (fit_x, fit_y) = pick(&fit_at);
                let (held_x, held_y) = pick(&held_out_at);
                self.boost(
                    &fit_x,
                    &fit_y,
                    Some(ValidationSet {
                        x: &held_x,
                        y: &held_y,
                    }),
                    on_round,
                )
            }
        }
    }

    fn boost(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_round: &(dyn Fn() + Sync),
    ) -> Result<GradientBoostingModel> {
        let n = x.rows();
        let positives = y.iter().filter(|&&l| l == 1).count();
        if positives == 0 || positives == n {
            return Err(ModelError::Training(
                "gradient boosting needs both classes among the rows it fits on".into(),
            ));
        }
        let (w0, w1) = self.class_weight.weights(n, positives);
        let weight = |label: u8| if label == 1 { w1 } else { w0 };
        // Start from the weighted log-odds, so the first tree fits residuals around the base rate.
        let weighted_positives = w1 * positives as f64;
        let weighted_negatives = w0 * (n - positives) as f64;
        let start = (weighted_positives / weighted_negatives).ln();
        let binned = BinnedColumns::new(x, self.max_bins);
        let row_bins = RowBins::new(&binned);
        let limits = GrowthLimits {
            max_leaves: self.max_leaves,
            max_depth: self.max_depth,
            min_data_in_leaf: self.min_data_in_leaf,
            min_sum_hessian: self.min_sum_hessian,
            l2: self.l2,
            min_gain: self.min_gain,
            learning_rate: self.learning_rate,
        };
        let mut scores = vec![start; n];
        let mut validation_scores = validation.map(|v| vec![start; v.y.len()]);
        let mut derivatives = vec![(0.0, 0.0); n];
        let sampled_rows = ((self.row_subsample * n as f64).round() as usize).clamp(1, n);
        let columns = x.cols();
        let sampled_columns = ((self.column_subsample * columns as f64).round() as usize).clamp(1, columns);
        let mut trees = Vec::new();
        let mut pool = HistogramPool::default();
        let (mut best_loss, mut best_iteration) = (f64::INFINITY, 0);
        let mut rounds_run = 0;
        for round in 0..self.n_rounds {
            derivatives
                .par_iter_mut()
                .zip(scores.par_iter().zip(y.par_iter()))
                .with_min_len(CHUNK_ROWS)
                .for_each(|(d, (&score, &label))| {
                    let p = sigmoid(score);
                    let w = weight(label);
                    // The hessian is floored so a saturated row cannot make a leaf's sum exactly zero.
                    *d = (w * (p - f64::from(label)), (w * p * (1.0 - p)).max(1e-16));
                });
            let mut rng = StdRng::seed_from_u64(
                self.seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(round as u64),
            );
            let mut rows: Vec<u32> = if sampled_rows == n {
                (0..n as u32).collect()
            } else {
                sample(&mut rng, n, sampled_rows)
                    .into_iter()
                    .map(|i| i as u32)
                    .collect()
            };
            rows.sort_unstable();
            let mut drawn: Vec<usize> = if sampled_columns == columns {
                (0..columns).collect()
            } else {
                sample(&mut rng, columns, sampled_columns).into_vec()
            };
            drawn.sort_unstable();
            let grown = grow(&binned, &row_bins, &derivatives, rows, &drawn, &limits, &mut pool);
            if sampled_rows == n {
                grown.add_to_grown_rows(&mut scores);
            } else {
                scores
                    .par_iter_mut()
                    .enumerate()
                    .with_min_len(CHUNK_ROWS)
                    .for_each(|(i, score)| *score += grown.predict_binned(&binned, i));
            }
            rounds_run = round + 1;
            let tree = grown.tree;
            on_round();
            if let (Some(v), Some(v_scores)) = (validation, validation_scores.as_mut()) {
                v_scores
                    .par_iter_mut()
                    .enumerate()
                    .with_min_len(CHUNK_ROWS)
                    .for_each(|(i, score)| *score += tree.predict(v.x.row(i)));
                trees.push(tree);
                let loss = log_loss_of_scores(v.y, v_scores);
                if loss < best_loss {
                    best_loss = loss;
                    best_iteration = round + 1;
                } else if round + 1 - best_iteration >= self.early_stopping_rounds {
                    break;
                }
            } else {
                trees.push(tree);
                best_iteration = round + 1;
            }
        }
        trees.truncate(best_iteration.max(1));
        // Class weights move the fitted log-odds by ln(w₁/w₀); subtracting it gives back probabilities at
        // the training base rate, as the logistic model's prior correction does.
        let prior_correction = -(w1 / w0).ln();
        Ok(GradientBoostingModel {
            params: self.clone(),
            n_columns: columns,
            base_score: start + prior_correction,
            rounds_run,
            best_iteration: trees.len(),
            trees,
            validation_log_loss: validation.map(|_| best_loss),
            validation_rows: validation.map_or(0, |v| v.y.len()),
            layout: LazyLayout::default(),
        })
    }
}

/// Positions of a stratified holdout: `fraction` of each class (at least one row of each when the class
/// has two), drawn with `seed`; returns (kept, held out), each in increasing order.
pub(crate) fn stratified_holdout(y: &[u8], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_5709);
    let (mut kept, mut held_out) = (Vec::new(), Vec::new());
    for class in [0u8, 1] {
        let mut members: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        members.shuffle(&mut rng);
        let take = if members.len() >= 2 {
            ((fraction * members.len() as f64).round() as usize).clamp(1, members.len() - 1)
        } else {
            0
        };
        held_out.extend_from_slice(&members[..take]);
        kept.extend_from_slice(&members[take..]);
    }
    kept.sort_unstable();
    held_out.sort_unstable();
    (kept, held_out)
}

/// Mean log loss of raw (log-odds) scores, computed without forming probabilities so saturated scores
/// stay finite: `ln(1 + e^(−s))` for churners, `ln(1 + e^s)` for the others.
fn log_loss_of_scores(y: &[u8], scores: &[f64]) -> f64 {
    let softplus = |s: f64| {
        if s > 0.0 {
            s + (-s).exp().ln_1p()
        } else {
            s.exp().ln_1p()
        }
    };
    let total: f64 = y
        .iter()
        .zip(scores)
        .map(|(&label, &s)| if label == 1 { softplus(-s) } else { softplus(s) })
        .sum();
    total / y.len() as f64
}

impl GradientBoostingModel {
    /// Raw score (log-odds) of one encoded row: the base score plus every tree's leaf value.
    pub fn raw_score(&self, row: &[f64]) -> f64 {
        match self.layout() {
            Some(layout) if layout.accepts(row) => layout.raw_score(self.base_score, row),
            _ => self
                .trees
                .iter()
                .fold(self.base_score, |sum, tree| sum + tree.predict(row)),
        }
    }

    /// Churn probability of one encoded row.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        sigmoid(self.raw_score(row))
    }

    /// Raw scores (log-odds) of encoded rows (in parallel).
    pub fn raw_scores(&self, x: &Matrix) -> Vec<f64> {
        match self.layout() {
            Some(layout) if x.rows() == 0 || layout.accepts(x.row(0)) => {
                layout.raw_scores(self.base_score, x)
            }
            _ => (0..x.rows())
                .into_par_iter()
                .with_min_len(256)
                .map(|i| self.raw_score(x.row(i)))
                .collect(),
        }
    }

    /// Churn probabilities of encoded rows (in parallel).
    pub fn predict(&self, x: &Matrix) -> Vec<f64> {
        let mut scores = self.raw_scores(x);
        scores
            .par_iter_mut()
            .with_min_len(256)
            .for_each(|score| *score = sigmoid(*score));
        scores
    }

    /// The base TreeSHAP contributions start from: the base score plus each tree's cover-weighted mean
    /// output.
    pub fn base_value(&self) -> f64 {
        match self.layout() {
            Some(layout) => layout.base_value(),
            None => self
                .trees
                .iter()
                .fold(self.base_score, |sum, tree| sum + tree.expected_value()),
        }
    }

    /// TreeSHAP contribution of each encoded column to one row's raw score; with
    /// [`GradientBoostingModel::base_value`] they add up to [`GradientBoostingModel::raw_score`].
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        let mut contributions = vec![0.0; self.n_columns];
        self.add_contributions(row, &mut contributions, &mut fast_shap::Scratch::default());
        contributions
    }

    /// [`GradientBoostingModel::contributions`] of every row (in parallel).
    pub fn contributions_batch(&self, x: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(x.rows(), self.n_columns);
        let width = self.n_columns.max(1);
        out.as_mut_slice()
            .par_chunks_mut(width * 64)
            .enumerate()
            .for_each(|(chunk, rows)| {
                let mut scratch = fast_shap::Scratch::default();
                for (k, contributions) in rows.chunks_mut(width).enumerate() {
                    self.add_contributions(x.row(chunk * 64 + k), contributions, &mut scratch);
                }
            });
        out
    }

    /// Adds the TreeSHAP values of `row` to `contributions`.
    fn add_contributions(&self, row: &[f64], contributions: &mut [f64], scratch: &mut fast_shap::Scratch) {
        match self.layout() {
            Some(layout) if layout.accepts(row) && contributions.len() >= self.n_columns => {
                layout.add_contributions(self, row, contributions, scratch);
            }
            _ => {
                for tree in &self.trees {
                    shap::add_tree_shap_reference(tree, row, contributions);
                }
            }
        }
    }

    /// The scoring layout, built on first use; `None` when a tree is malformed (scoring then walks the
    /// fitted arrays).
    fn layout(&self) -> Option<&BoostingLayout> {
        self.layout.get_or_build(|| BoostingLayout::build(self))
    }

    /// Checks the trees so a loaded model cannot index out of bounds, loop, or explain inexactly.
    pub(crate) fn validate(&self, columns: usize) -> std::result::Result<(), String> {
        if self.n_columns != columns {
            return Err(format!(
                "gradient boosting expects {} input columns, the schema encodes {columns}",
                self.n_columns
            ));
        }
        if self.trees.is_empty() {
            return Err("gradient boosting has no trees".into());
        }
        if !self.base_score.is_finite() {
            return Err("gradient boosting has a non-finite base score".into());
        }
        if self.best_iteration != self.trees.len() {
            return Err(format!(
                "gradient boosting records best iteration {} but holds {} trees",
                self.best_iteration,
                self.trees.len()
            ));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            tree.validate(columns)
                .map_err(|reason| format!("tree {t}: {reason}"))?;
        }
        // Builds the scoring layout now, so a loaded model's first score pays nothing for it.
        match self.layout() {
            Some(_) => Ok(()),
            None => Err("gradient boosting trees cannot be laid out for scoring".into()),
        }
    }
}

impl crate::model::KindParams for GradientBoostingParams {
    type Model = GradientBoostingModel;
    const DESCRIPTION: &'static str =
        "gradient-boosted trees (histogram-based, leaf-wise, early stopping on held-out rows)";

    fn check(&self) -> Result<()> {
        GradientBoostingParams::check(self)
    }

    fn fit(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_step: &(dyn Fn() + Sync),
    ) -> Result<GradientBoostingModel> {
        GradientBoostingParams::fit(self, x, y, validation, on_step)
    }

    fn steps(&self) -> u64 {
        self.n_rounds as u64
    }

    fn uses_validation(&self) -> bool {
        self.early_stopping_rounds > 0
    }

    fn apply(&mut self, overrides: &crate::model::Overrides) -> Vec<&'static str> {
        if let Some(weight) = overrides.class_weight {
            self.class_weight = weight;
        }
        if let Some(rounds) = overrides.trees {
            self.n_rounds = rounds;
        }
        if let Some(depth) = overrides.max_depth {
            self.max_depth = depth;
        }
        if let Some(seed) = overrides.seed {
            self.seed = seed;
        }
        Vec::new()
    }
}

impl crate::model::ChurnModel for GradientBoostingModel {
    fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
        self.predict(x)
    }

    fn predict_encoded_row(&self, row: &[f64]) -> f64 {
        self.predict_row(row)
    }

    fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>) {
        (self.base_value(), self.contributions(row))
    }

    fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix) {
        (self.base_value(), self.contributions_batch(x))
    }

    fn contribution_scale(&self) -> crate::model::ContributionScale {
        crate::model::ContributionScale::Logit
    }

    fn check_loaded(&self, columns: usize) -> std::result::Result<(), String> {
        self.validate(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::roc_auc;

    use crate::histogram::interaction_data as synthetic;

    fn quick() -> GradientBoostingParams {
        GradientBoostingParams {
            n_rounds: 200,
            learning_rate: 0.1,
            ..GradientBoostingParams::default()
        }
    }

    #[test]
    fn learns_an_interaction_stops_early_and_explains_exactly() {
        let (x, y) = synthetic(4000, 1);
        let (test_x, test_y) = synthetic(2000, 2);
        let model = quick().fit(&x, &y, None, &|| {}).expect("fit");
        let predicted = model.predict(&test_x);
        let auc = roc_auc(&test_y, &predicted).expect("auc");
        // The Bayes-optimal AUC here is 0.8 (p is 0.8 or 0.2); a linear model gets about 0.5.
        assert!(auc > 0.77, "auc {auc}");
        assert_eq!(model.validation_rows, 600);
        assert!(
            model.rounds_run < 200,
            "a pure-noise tail must stop early: {}",
            model.rounds_run
        );
        assert_eq!(model.best_iteration, model.trees.len());
        assert!(model.rounds_run >= model.best_iteration + quick().early_stopping_rounds);
        for (i, predicted) in predicted.iter().enumerate().take(200) {
            let row = test_x.row(i);
            let total = model.base_value() + model.contributions(row).iter().sum::<f64>();
            assert!((total - model.raw_score(row)).abs() < 1e-9, "row {i}");
            assert_eq!(predicted.to_bits(), model.predict_row(row).to_bits());
        }
        let batch = model.contributions_batch(&test_x);
        assert_eq!(batch.row(7), model.contributions(test_x.row(7)).as_slice());
        model.validate(3).expect("valid");
        assert!(model.validate(4).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_model_and_another_seed_differs() {
        let (x, y) = synthetic(1500, 3);
        let params = GradientBoostingParams {
            n_rounds: 30,
            ..quick()
        };
        let a = params.fit(&x, &y, None, &|| {}).expect("fit");
        let b = params.fit(&x, &y, None, &|| {}).expect("fit");
        assert_eq!(a, b);
        let c = GradientBoostingParams { seed: 9, ..params }
            .fit(&x, &y, None, &|| {})
            .expect("fit");
        assert_ne!(a, c);
    }

    #[test]
    fn given_validation_rows_decide_the_stopping_round() {
        let (x, y) = synthetic(1500, 4);
        let (vx, vy) = synthetic(500, 5);
        let params = GradientBoostingParams {
            n_rounds: 300,
            learning_rate: 0.3,
            early_stopping_rounds: 10,
            ..quick()
        };
        let model = params
            .fit(&x, &y, Some(ValidationSet { x: &vx, y: &vy }), &|| {})
            .expect("fit");
        assert_eq!(model.validation_rows, 500);
        // The recorded loss is the validation loss of the kept trees, and the best one seen.
        let scores: Vec<f64> = (0..vx.rows()).map(|i| model.raw_score(vx.row(i))).collect();
        let loss = log_loss_of_scores(&vy, &scores);
        assert!((loss - model.validation_log_loss.expect("loss")).abs() < 1e-9);
        assert_eq!(model.rounds_run, model.best_iteration + 10);
        // Without early stopping every round is kept.
        let all = GradientBoostingParams {
            n_rounds: 25,
            early_stopping_rounds: 0,
            ..params
        }
        .fit(&x, &y, None, &|| {})
        .expect("fit");
        assert_eq!((all.trees.len(), all.validation_rows), (25, 0));
    }

    #[test]
    fn class_weights_are_corrected_back_to_the_base_rate() {
        let (x, mut y) = synthetic(3000, 6);
        // Make churn rare: keep one churner in four.
        for (i, label) in y.iter_mut().enumerate() {
            if *label == 1 && i % 4 != 0 {
                *label = 0;
            }
        }
        let rate = y.iter().filter(|&&l| l == 1).count() as f64 / y.len() as f64;
        let params = GradientBoostingParams {
            n_rounds: 50,
            early_stopping_rounds: 0,
            class_weight: ClassWeight::Balanced,
            ..quick()
        };
        let model = params.fit(&x, &y, None, &|| {}).expect("fit");
        let mean = model.predict(&x).iter().sum::<f64>() / y.len() as f64;
        assert!((mean - rate).abs() < 0.05, "mean {mean} vs rate {rate}");
        assert!((sigmoid(model.base_score) - rate).abs() < 1e-9);
    }

    #[test]
    fn invalid_parameters_are_named() {
        let (x, y) = synthetic(100, 7);
        for (params, name) in [
            (
                GradientBoostingParams {
                    learning_rate: 0.0,
                    ..quick()
                },
                "learning_rate",
            ),
            (
                GradientBoostingParams {
                    max_leaves: 1,
                    ..quick()
                },
                "max_leaves",
            ),
            (
                GradientBoostingParams {
                    row_subsample: 1.5,
                    ..quick()
                },
                "row_subsample",
            ),
            (
                GradientBoostingParams {
                    max_bins: 256,
                    ..quick()
                },
                "max_bins",
            ),
            (
                GradientBoostingParams {
                    l2: f64::NAN,
                    ..quick()
                },
                "l2",
            ),
            (
                GradientBoostingParams {
                    n_rounds: 0,
                    ..quick()
                },
                "n_rounds",
            ),
        ] {
            let message = params.check().expect_err("invalid").to_string();
            assert!(message.contains(name), "{message}");
            assert!(params.fit(&x, &y, None, &|| {}).is_err());
        }
        assert!(quick().fit(&x, &y[..50], None, &|| {}).is_err());
        assert!(quick().fit(&x, &[1; 100], None, &|| {}).is_err());
    }

    #[test]
    fn stratified_holdout_keeps_both_classes_and_the_fraction() {
        let y: Vec<u8> = (0..100).map(|i| u8::from(i % 5 == 0)).collect();
        let (kept, held_out) = stratified_holdout(&y, 0.2, 1);
        assert_eq!(held_out.len(), 20);
        assert_eq!(held_out.iter().filter(|&&i| y[i] == 1).count(), 4);
        assert_eq!(kept.len() + held_out.len(), 100);
        assert!(kept.iter().all(|i| !held_out.contains(i)));
    }
}
