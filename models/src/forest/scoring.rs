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
        out.par_chunks_mut(BLOCK_ROWS).enumerate().for_each(|(block, out)| {
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
        let nodes = self.pool.nodes();
        for t in 0..self.pool.trees() {
            let mut at = self.pool.root(t);
            while !nodes[at].is_leaf() {
                let next = self.pool.child(at, row);
                contributions[nodes[at].feature()] += self.steps[next];
                at = next;
            }
        }
    }
}
