//! Gradient boosting's scoring layout: the trees packed into one node pool for predictions
//! ([`crate::flat_tree`]), each tree prepared for fast TreeSHAP ([`super::fast_shap`]), and the base
//! value, all built once from the fitted trees.

use super::GradientBoostingModel;
use super::fast_shap::{Scratch, ShapTree};
use super::shap;
use crate::flat_tree::{BLOCK_ROWS, NodePool, TreeArrays};
use crate::logistic::sigmoid;
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

    /// Probabilities of the rows of `x` (which must have the model's columns), in parallel blocks.
    pub fn predict(&self, base_score: f64, x: &Matrix) -> Vec<f64> {
        let mut out = vec![base_score; x.rows()];
        out.par_chunks_mut(BLOCK_ROWS).enumerate().for_each(|(block, out)| {
            self.pool.add_block(x, block * BLOCK_ROWS, out);
            for p in out.iter_mut() {
                *p = sigmoid(*p);
            }
        });
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
mod timing_tmp {
    use super::*;
    use crate::boosting::GradientBoostingParams;

    fn cpu_ns() -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
        s.split_whitespace().next().expect("field").parse().expect("number")
    }

    fn data(n: usize, seed: u64) -> (Matrix, Vec<u8>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let row: Vec<f64> = (0..30).map(|j| if j >= 25 { f64::from(u8::from(rng.random::<f64>() < 0.3)) } else { rng.random_range(-1.0..1.0) }).collect();
            let logit = 1.5 * row[0] * row[1] - 1.2 * row[2] * f64::from(u8::from(row[3] > 0.2)) + 0.8 * row[4] + (2.0 * row[5]).sin() + 0.6 * row[25] - 0.4 * row[26] * row[6];
            let p = 1.0 / (1.0 + (-logit).exp());
            labels.push(u8::from(rng.random::<f64>() < p));
            values.extend(row);
        }
        (Matrix::from_vec(n, 30, values).expect("shape"), labels)
    }

    #[test]
    #[ignore]
    fn timing() {
        let start = cpu_ns();
        let mut v = 1.0f64;
        for _ in 0..100_000_000 {
            v = std::hint::black_box(v * 1.0000001);
        }
        eprintln!("calibration: {} ns per dependent mul ({v})", (cpu_ns() - start) as f64 / 1e8);
        let (x, y) = data(20000, 1);
        let model = GradientBoostingParams { n_rounds: 100, learning_rate: 0.1, early_stopping_rounds: 0, ..Default::default() }
            .fit(&x, &y, None, &|| {}).expect("fit");
        let layout = model.layout().expect("layout");
        let some = layout.shap.iter().filter(|s| s.is_some()).count();
        let points: Vec<usize> = layout.shap.iter().flatten().map(|s| s.points()).collect();
        eprintln!("prepared {some} of {}, points {:?}", layout.shap.len(), &points[..20]);
        let mut total = 0.0;
        for _ in 0..3 {
            let start = cpu_ns();
            for i in 0..2000 {
                total += model.contributions(x.row(i))[0];
            }
            eprintln!("contributions {} ns per row", (cpu_ns() - start) / 2000);
            let start = cpu_ns();
            for i in 0..20000 {
                total += model.predict_row(x.row(i));
            }
            eprintln!("predict {} ns per row", (cpu_ns() - start) / 20000);
        }
        eprintln!("{total}");
    }
}
