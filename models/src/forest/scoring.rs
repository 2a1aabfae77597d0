//! The forest's scoring layout: its trees packed into one node pool ([`crate::flat_tree`]), with the
//! change of node value each step into a node makes (the path contributions), built once from the
//! fitted trees.

use super::ForestModel;
use crate::flat_tree::{BLOCK_ROWS, NodePool, TreeArrays};
use crate::matrix::Matrix;
use rayon::prelude::*;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct ForestLayout {
    pool: NodePool,
    /// Per pool node, its value minus its parent's: what the step into it adds to the tested column.
    steps: Vec<f64>,
}

impl ForestLayout {
    /// The layout of `model`'s trees; `None` when a tree is malformed.
    pub fn build(model: &ForestModel) -> Option<Self> {
        let arrays = model.trees.iter().map(|tree| TreeArrays {
            feature: &tree.feature,
            threshold: &tree.threshold,
            default_left: None,
            left: &tree.left,
            right: &tree.right,
            value: &tree.value,
        });
        let (pool, origins) = NodePool::build(arrays, model.n_columns)?;
        let steps = origins
            .iter()
            .map(|origin| match model.trees.get(origin.tree as usize) {
                Some(tree) if origin.parent != u32::MAX => {
                    tree.value[origin.node as usize] - tree.value[origin.parent as usize]
                }
                _ => 0.0,
            })
            .collect();
        Some(Self { pool, steps })
    }

    /// Whether `row` can be scored here (it has every column the trees test).
    pub fn accepts(&self, row: &[f64]) -> bool {
        self.pool.accepts(row)
    }

    /// The churn probability of an [accepted](Self::accepts) row: the mean leaf value, summed in tree
    /// order.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.pool.sum(row, 0.0) / self.pool.trees() as f64
    }

    /// Probabilities of the rows of `x` (which must have the model's columns), in parallel blocks.
    pub fn predict(&self, x: &Matrix) -> Vec<f64> {
        let mut out = vec![0.0; x.rows()];
        let n = self.pool.trees() as f64;
        out.par_chunks_mut(BLOCK_ROWS)
            .enumerate()
            .for_each(|(block, out)| {
                self.pool.add_block(x, block * BLOCK_ROWS, out);
                for p in out.iter_mut() {
                    *p /= n;
                }
            });
        out
    }

    /// Adds each tree's path contributions for an [accepted](Self::accepts) row to `contributions`, tree
    /// after tree and root to leaf (the caller divides by the number of trees).
    pub fn add_contributions(&self, row: &[f64], contributions: &mut [f64]) {
        self.pool.for_each_path(row, |path| {
            for step in path.windows(2) {
                let (at, next) = (step[0] as usize, step[1] as usize);
                if at == next {
                    break;
                }
                contributions[self.pool.feature(at)] += self.steps[next];
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{ForestParams, LEAF};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Random rows of `columns` values in [-2, 2], 5 % missing.
    fn rows(n: usize, columns: usize, seed: u64) -> Matrix {
        let mut rng = StdRng::seed_from_u64(seed);
        let values = (0..n * columns)
            .map(|_| {
                if rng.random::<f64>() < 0.05 {
                    f64::NAN
                } else {
                    rng.random_range(-2.0..2.0)
                }
            })
            .collect();
        Matrix::from_vec(n, columns, values).expect("shape")
    }

    /// Scores and path contributions of `forest` are bit for bit those of walking the fitted arrays.
    fn assert_scores_as_the_fitted_arrays(forest: &ForestModel, x: &Matrix) {
        assert!(forest.layout().is_some());
        let batch = forest.predict(x);
        let contributions = forest.contributions_batch(x);
        let n = forest.trees.len() as f64;
        for (i, from_batch) in batch.iter().enumerate() {
            let row = x.row(i);
            let sum = forest
                .trees
                .iter()
                .fold(0.0, |sum, tree| sum + tree.value[tree.leaf(row)]);
            assert_eq!(forest.predict_row(row).to_bits(), (sum / n).to_bits(), "row {i}");
            assert_eq!(from_batch.to_bits(), (sum / n).to_bits(), "row {i}");
            let mut reference = vec![0.0; forest.n_columns];
            for tree in &forest.trees {
                let mut node = 0;
                while tree.feature[node] != LEAF {
                    let next = tree.child(node, row);
                    reference[tree.feature[node] as usize] += tree.value[next] - tree.value[node];
                    node = next;
                }
            }
            for c in &mut reference {
                *c /= n;
            }
            assert_eq!(forest.contributions(row), reference, "row {i}");
            assert_eq!(contributions.row(i), reference.as_slice(), "row {i}");
        }
    }

    #[test]
    fn the_layout_scores_as_the_fitted_trees_on_rows_with_missing_values() {
        let (x, y) = crate::histogram::interaction_data(1500, 1);
        // 21 trees: two full lockstep groups and a short one.
        let forest = ForestParams {
            n_trees: 21,
            max_depth: 9,
            ..ForestParams::default()
        }
        .fit(&x, &y, &|| {})
        .expect("fit");
        assert_scores_as_the_fitted_arrays(&forest, &rows(1100, 3, 2));
    }

    #[test]
    fn the_forest_fixture_scores_as_its_fitted_trees_and_survives_a_serde_round_trip() {
        let artifact: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/it/fixtures/v1-forest.json")).expect("json");
        let forest: ForestModel =
            serde_json::from_value(artifact["payload"]["model"].clone()).expect("a forest");
        forest.validate(forest.n_columns).expect("valid");
        let x = rows(600, forest.n_columns, 3);
        assert_scores_as_the_fitted_arrays(&forest, &x);
        let loaded: ForestModel =
            serde_json::from_str(&serde_json::to_string(&forest).expect("json")).expect("parse");
        assert_eq!(loaded, forest);
        let before = (forest.predict(&x), forest.contributions_batch(&x));
        assert_eq!(before, (loaded.predict(&x), loaded.contributions_batch(&x)));
    }

    #[test]
    fn a_malformed_forest_has_no_layout_and_is_refused() {
        let (x, y) = crate::histogram::interaction_data(300, 4);
        let mut forest = ForestParams {
            n_trees: 3,
            max_depth: 4,
            ..ForestParams::default()
        }
        .fit(&x, &y, &|| {})
        .expect("fit");
        forest.trees[1].threshold[0] = f64::NAN;
        assert!(forest.layout().is_none());
        assert!(forest.validate(3).is_err());
        let row = [0.3, -0.1, 0.9];
        let sum = forest
            .trees
            .iter()
            .fold(0.0, |sum, tree| sum + tree.value[tree.leaf(&row)]);
        assert_eq!(forest.predict_row(&row).to_bits(), (sum / 3.0).to_bits());
    }
}
