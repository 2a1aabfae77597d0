//! Gradient boosting's scoring layout: the trees packed into one node pool for predictions
//! ([`crate::flat_tree`]), each tree prepared for fast TreeSHAP ([`super::fast_shap`]), and the base
//! value, all built once from the fitted trees.

use super::GradientBoostingModel;
use super::fast_shap::{Scratch, ShapTree};
use super::shap;
use crate::flat_tree::{BLOCK_ROWS, NodePool, TreeArrays};
use crate::matrix::Matrix;
use rayon::prelude::*;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct BoostingLayout {
    pool: NodePool,
    /// Per tree, its TreeSHAP preparation (`None`: the reference algorithm explains it).
    shap: Vec<Option<ShapTree>>,
    /// [`GradientBoostingModel::base_value`], summed as it sums.
    base_value: f64,
}

impl BoostingLayout {
    /// The layout of `model`'s trees; `None` when a tree is malformed.
    pub fn build(model: &GradientBoostingModel) -> Option<Self> {
        let arrays = model.trees.iter().map(|tree| TreeArrays {
            feature: &tree.feature,
            threshold: &tree.threshold,
            default_left: Some(&tree.default_left),
            left: &tree.left,
            right: &tree.right,
            value: &tree.value,
        });
        let (pool, _) = NodePool::build(arrays, model.n_columns)?;
        let shap = model
            .trees
            .iter()
            .map(|tree| ShapTree::new(tree, model.n_columns))
            .collect();
        let base_value = model
            .trees
            .iter()
            .fold(model.base_score, |sum, tree| sum + tree.expected_value());
        Some(Self {
            pool,
            shap,
            base_value,
        })
    }

    /// The base value TreeSHAP contributions start from.
    pub fn base_value(&self) -> f64 {
        self.base_value
    }

    /// Whether `row` can be scored here (it has every column the trees test).
    pub fn accepts(&self, row: &[f64]) -> bool {
        self.pool.accepts(row)
    }

    /// The raw score of an [accepted](Self::accepts) row: `base_score` plus every tree's output, in tree
    /// order.
    pub fn raw_score(&self, base_score: f64, row: &[f64]) -> f64 {
        self.pool.sum(row, base_score)
    }

    /// Raw scores (log-odds) of the rows of `x` (which must have the model's columns), in parallel blocks.
    pub fn raw_scores(&self, base_score: f64, x: &Matrix) -> Vec<f64> {
        let mut out = vec![base_score; x.rows()];
        out.par_chunks_mut(BLOCK_ROWS)
            .enumerate()
            .for_each(|(block, out)| self.pool.add_block(x, block * BLOCK_ROWS, out));
        out
    }

    /// Adds the TreeSHAP values of an [accepted](Self::accepts) row to `contributions` (one slot per
    /// column).
    pub fn add_contributions(
        &self,
        model: &GradientBoostingModel,
        row: &[f64],
        contributions: &mut [f64],
        scratch: &mut Scratch,
    ) {
        for (tree, prepared) in model.trees.iter().zip(&self.shap) {
            match prepared {
                Some(prepared) => prepared.add(row, contributions, scratch),
                None => shap::add_tree_shap_reference(tree, row, contributions),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boosting::GradientBoostingParams;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The interaction data with 5 % of the values missing.
    fn data_with_missing(n: usize, seed: u64) -> (Matrix, Vec<u8>) {
        let (x, y) = crate::histogram::interaction_data(n, seed);
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let values = x
            .as_slice()
            .iter()
            .map(|&v| if rng.random::<f64>() < 0.05 { f64::NAN } else { v })
            .collect();
        (Matrix::from_vec(x.rows(), x.cols(), values).expect("shape"), y)
    }

    fn model() -> GradientBoostingModel {
        let (x, y) = data_with_missing(2000, 1);
        GradientBoostingParams {
            n_rounds: 37,
            early_stopping_rounds: 0,
            ..GradientBoostingParams::default()
        }
        .fit(&x, &y, None, &|| {})
        .expect("fit")
    }

    /// Scores and explanations of `model` equal those of the fitted arrays: the same bits for scores and
    /// the base value, TreeSHAP to 1e-12 (another summation order).
    fn assert_scores_as_the_fitted_arrays(model: &GradientBoostingModel, x: &Matrix) {
        let batch = model.predict(x);
        let contributions = model.contributions_batch(x);
        let base = model
            .trees
            .iter()
            .fold(model.base_score, |sum, tree| sum + tree.expected_value());
        assert_eq!(model.base_value().to_bits(), base.to_bits());
        for (i, from_batch) in batch.iter().enumerate() {
            let row = x.row(i);
            let raw = model
                .trees
                .iter()
                .fold(model.base_score, |sum, tree| sum + tree.predict(row));
            assert_eq!(model.raw_score(row).to_bits(), raw.to_bits(), "row {i}");
            assert_eq!(
                from_batch.to_bits(),
                crate::logistic::sigmoid(raw).to_bits(),
                "row {i}"
            );
            let mut reference = vec![0.0; model.n_columns];
            for tree in &model.trees {
                shap::add_tree_shap_reference(tree, row, &mut reference);
            }
            let ours = model.contributions(row);
            assert_eq!(ours.as_slice(), contributions.row(i));
            for (a, b) in ours.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-12, "row {i}: {ours:?} vs {reference:?}");
            }
        }
    }

    #[test]
    fn the_layout_scores_and_explains_as_the_fitted_trees_on_rows_with_missing_values() {
        let model = model();
        assert!(model.layout().is_some());
        let (x, _) = data_with_missing(700, 2);
        assert_scores_as_the_fitted_arrays(&model, &x);
    }

    #[test]
    fn a_serde_round_trip_keeps_every_score_and_explanation() {
        let model = model();
        let (x, _) = data_with_missing(300, 3);
        let before = (
            model.predict(&x),
            model.contributions_batch(&x),
            model.base_value(),
        );
        let json = serde_json::to_string(&model).expect("json");
        assert!(!json.contains("layout"));
        let loaded: GradientBoostingModel = serde_json::from_str(&json).expect("parse");
        assert_eq!(loaded, model);
        loaded.validate(3).expect("valid");
        let after = (
            loaded.predict(&x),
            loaded.contributions_batch(&x),
            loaded.base_value(),
        );
        assert_eq!(before, after);
        assert_scores_as_the_fitted_arrays(&loaded, &x);
    }

    #[test]
    fn malformed_trees_are_scored_by_the_fitted_arrays_and_refused_by_validation() {
        let mut model = model();
        // A NaN threshold: no layout is built, and the fitted arrays still score (sending rows right).
        model.trees[0].threshold[0] = f64::NAN;
        assert!(model.layout().is_none());
        assert!(model.validate(3).is_err());
        let row = [0.1, -0.2, 0.3];
        let raw = model
            .trees
            .iter()
            .fold(model.base_score, |sum, tree| sum + tree.predict(&row));
        assert_eq!(model.raw_score(&row).to_bits(), raw.to_bits());
    }
}
