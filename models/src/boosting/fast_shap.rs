//! Path-dependent TreeSHAP in one pass over a tree's nodes per row, with the row-independent parts
//! computed once per tree. It gives the same Shapley values as Algorithm 2 of [`super::shap`] (the
//! reference the tests compare with), with no allocation and no division per row.
//!
//! # The formula
//!
//! In the path-dependent game a leaf `l` with output `v` contributes `v · Π_j (o_j if j is known else
//! z_j)` over the distinct columns `j` tested on its path, where `z_j` is the product of the cover
//! ratios of the path's splits on `j` and `o_j` is 1 when the row satisfies all of them, else 0. The
//! Shapley weight `|S|!(d−|S|−1)!/d!` of a subset is the Beta integral `∫₀¹ t^|S| (1−t)^(d−|S|−1) dt`,
//! so the leaf's share of column `i` is
//!
//! `φᵢ = (o_i − z_i) ∫₀¹ v · Π_{j≠i} g_j(t) dt`, with `g_j(t) = z_j + (o_j − z_j)·t`,
//!
//! the integral of a polynomial of degree `d − 1`, which Gauss–Legendre quadrature with `⌈d/2⌉` points
//! integrates exactly (this is the idea of "Linear TreeShap", Yu, Xu, Bifet and Read, NeurIPS 2022; it
//! replaces the per-leaf subset tables of "Fast TreeSHAP" v2, Yang 2021, whose memory grows as `2^d`).
//! With `G(t) = v · Π_j g_j(t)` at each quadrature point:
//!
//! - a column the row fails (`o_i = 0`, `g_i = z_i(1 − t)`) gets `−∫ G(t)/(1 − t) dt` from the leaf,
//!   the same for every such column, so a split's cold child passes on the sum of its leaves' `G`;
//! - a column the row satisfies (`o_i = 1`) gets `(1 − z_i) ∫ G(t)/g_i(t) dt`, where `g_i` is fixed
//!   by the tree alone; the division becomes a weight precomputed per split.
//!
//! One depth-first pass carries `Π_j g_j` at the quadrature points down the tree and the sums of the
//! leaves' `G` back up; each split adds its column's share for the leaves below it whose path does not
//! test that column again (the deeper split of the same column accounts for those). Per row and tree
//! this is `O(nodes × ⌈d/2⌉)` multiplications and additions.
//!
//! Trees deeper than [`MAX_DEPTH`] or whose paths test more than `2 ×` [`MAX_POINTS`] distinct columns
//! are left to the reference algorithm.

use super::tree::{BoostedTree, LEAF};

/// Deepest tree (splits from the root to a leaf) this algorithm takes.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most quadrature points; a path may test up to twice as many distinct columns.
pub(crate) const MAX_POINTS: usize = 8;

const NO_ANCESTOR: u8 = u8::MAX;

/// One node, in depth-first order: an internal node's left child follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ShapNode {
    /// An internal node's threshold, a leaf's output.
    value: f64,
    /// The column tested.
    feature: u32,
    /// Index of the right child; 0 marks a leaf.
    right: u32,
    /// Where a missing value goes.
    default_left: bool,
    /// Depth of the nearest ancestor testing the same column, or [`NO_ANCESTOR`].
    ancestor: u8,
    /// Whether the left and the right subtree test the node's column again.
    repeats: [bool; 2],
    /// Cover ratio of the left and the right child.
    ratio: [f64; 2],
    /// `z` of the node's column after the step into the left and the right child.
    z: [f64; 2],
    /// Offset of the node's precomputed weights in [`ShapTree::weights`] (whose first weights are those
    /// of a column the row fails, `−wₖ / (1 − tₖ)`): for each child the weights of
    /// a satisfied column, then for a repeated column the reciprocal of its factor before the node, when
    /// the row failed it and when the row satisfied it.
    weights: u32,
}

/// A tree prepared for [`ShapTree::add`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapTree {
    nodes: Vec<ShapNode>,
    weights: Vec<f64>,
    /// Quadrature points used (a const-generic walk is picked by it).
    points: usize,
    /// Quadrature nodes on [0, 1].
    t: [f64; MAX_POINTS],
}

/// Per-row working memory shared by the trees of a model.
pub(crate) struct Scratch {
    /// For each depth of the current path, whether the row satisfies the column of the split there
    /// along the path so far.
    hot: [bool; MAX_DEPTH],
    /// For each depth, the sum of `G` below deeper splits of the same column (to leave out).
    below: [f64; MAX_DEPTH * MAX_POINTS],
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            hot: [false; MAX_DEPTH],
            below: [0.0; MAX_DEPTH * MAX_POINTS],
        }
    }
}

/// A step on the path from the root while a tree is prepared.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The column of the split.
    feature: u32,
    /// That column's `z` after the step.
    z: f64,
    /// The split's slot.
    node: usize,
    /// 0 for a step to the left child, 1 to the right.
    side: usize,
}

/// What a pass over a tree's structure finds.
struct Shape {
    depth: usize,
    distinct: usize,
}

impl ShapTree {
    /// Prepares `tree`, whose columns are below `columns`. `None` when the tree is too deep, tests too
    /// many distinct columns on a path, or is not well formed (indices, covers); the reference algorithm
    /// then handles it.
    pub fn new(tree: &BoostedTree, columns: usize) -> Option<Self> {
        let shape = shape(tree, columns)?;
        if shape.depth > MAX_DEPTH || shape.distinct > 2 * MAX_POINTS {
            return None;
        }
        let points = shape.distinct.div_ceil(2).max(1);
        let (t, w) = gauss_legendre(points);
        let mut cold = [0.0; MAX_POINTS];
        for k in 0..points {
            cold[k] = -w[k] / (1.0 - t[k]);
        }
        let mut built = Self {
            nodes: Vec::with_capacity(tree.nodes()),
            // The weights of a failed column come first, so picking them is arithmetic (see `visit`).
            weights: cold[..points].to_vec(),
            points,
            t,
        };
        // Per ancestor on the path: its column and that column's `z` after the step towards the node.
        let mut path = Vec::new();
        built.place(tree, 0, &mut path, &w);
        Some(built)
    }

    /// Appends `node` and its subtree; `path` holds, per ancestor, its column and that column's `z`
    /// after the step towards `node`.
    fn place(&mut self, tree: &BoostedTree, node: usize, path: &mut Vec<Step>, w: &[f64; MAX_POINTS]) {
        let slot = self.nodes.len();
        if tree.is_leaf(node) {
            self.nodes.push(ShapNode {
                value: tree.value[node],
                feature: 0,
                right: 0,
                default_left: false,
                ancestor: NO_ANCESTOR,
                repeats: [false; 2],
                ratio: [0.0; 2],
                z: [0.0; 2],
                weights: 0,
            });
            return;
        }
        let feature = tree.feature[node];
        let (l, r) = (tree.left[node] as usize, tree.right[node] as usize);
        let ratio = [tree.cover[l] / tree.cover[node], tree.cover[r] / tree.cover[node]];
        let (ancestor, z_before) = match path.iter().rposition(|step| step.feature == feature) {
            Some(depth) => {
                let step = path[depth];
                self.nodes[step.node].repeats[step.side] = true;
                (depth as u8, step.z)
            }
            None => (NO_ANCESTOR, 1.0),
        };
        let z = [z_before * ratio[0], z_before * ratio[1]];
        let offset = self.weights.len() as u32;
        let points = self.t.iter().zip(w).take(self.points);
        for z in z {
            self.weights
                .extend(points.clone().map(|(t, w)| w * (1.0 - z) / (z + (1.0 - z) * t)));
        }
        if ancestor != NO_ANCESTOR {
            // 1 / g of the column before this split: when the row failed it higher up, then when not.
            self.weights
                .extend(points.clone().map(|(t, _)| 1.0 / (z_before * (1.0 - t))));
            self.weights
                .extend(points.map(|(t, _)| 1.0 / (z_before + (1.0 - z_before) * t)));
        }
        self.nodes.push(ShapNode {
            value: tree.threshold[node],
            feature,
            right: 0,
            default_left: tree.default_left[node],
            ancestor,
            repeats: [false; 2],
            ratio,
            z,
            weights: offset,
        });
        for (side, child) in [l, r].into_iter().enumerate() {
            if side == 1 {
                self.nodes[slot].right = self.nodes.len() as u32;
            }
            path.push(Step {
                feature,
                z: z[side],
                node: slot,
                side,
            });
            self.place(tree, child, path, w);
            path.pop();
        }
    }

    /// Adds the tree's SHAP values for `row` to `contributions`. `row` and `contributions` must hold
    /// every column the tree tests.
    pub fn add(&self, row: &[f64], contributions: &mut [f64], scratch: &mut Scratch) {
        match self.points {
            1 => self.walk::<1>(row, contributions, scratch),
            2 => self.walk::<2>(row, contributions, scratch),
            3 => self.walk::<3>(row, contributions, scratch),
            4 => self.walk::<4>(row, contributions, scratch),
            5 => self.walk::<5>(row, contributions, scratch),
            6 => self.walk::<6>(row, contributions, scratch),
            7 => self.walk::<7>(row, contributions, scratch),
            _ => self.walk::<8>(row, contributions, scratch),
        }
    }

    fn walk<const Q: usize>(&self, row: &[f64], contributions: &mut [f64], scratch: &mut Scratch) {
        if self.nodes.first().is_none_or(|root| root.right == 0) {
            return;
        }
        let mut walk = Walk::<Q> {
            nodes: &self.nodes,
            weights: &self.weights,
            t: std::array::from_fn(|k| self.t[k]),
            row,
            contributions,
            scratch,
        };
        walk.visit(0, 0, [1.0; Q]);
    }
}

struct Walk<'a, const Q: usize> {
    nodes: &'a [ShapNode],
    weights: &'a [f64],
    t: [f64; Q],
    row: &'a [f64],
    contributions: &'a mut [f64],
    scratch: &'a mut Scratch,
}

impl<const Q: usize> Walk<'_, Q> {
    /// Visits the subtree at `at` (at `depth`), reached with `product` = `Π_j g_j` at the quadrature
    /// points; returns the sum of its leaves' `G`.
    fn visit(&mut self, at: usize, depth: usize, product: [f64; Q]) -> [f64; Q] {
        let nodes = self.nodes;
        let node = &nodes[at];
        // Every decision that depends on the row is arithmetic, not a branch: which side is hot changes
        // from row to row and would be mispredicted half the time.
        let feature = node.feature as usize;
        let x = self.row[feature];
        let go_left = (x <= node.value) | (x.is_nan() & node.default_left);
        let weights = self.weights;
        let offset = node.weights as usize;
        let repeated = node.ancestor != NO_ANCESTOR;
        let ancestor = usize::from(node.ancestor);
        // Whether the row satisfies this column's splits above (always, for a column new on the path).
        let satisfied = !repeated || self.scratch.hot[ancestor];
        let without = if repeated {
            // Divide the column's factor before this split out of the product.
            let start = offset + 2 * Q + usize::from(satisfied) * Q;
            let inverse = &weights[start..start + Q];
            std::array::from_fn(|k| product[k] * inverse[k])
        } else {
            product
        };
        let mut sum = [0.0; Q];
        let mut share = 0.0;
        for (side, child) in [at + 1, node.right as usize].into_iter().enumerate() {
            let hot = satisfied & ((side == 0) == go_left);
            let z = node.z[side];
            let o = f64::from(u8::from(hot));
            let factor: [f64; Q] = self.t.map(|t| z + (o - z) * t);
            self.scratch.hot[depth] = hot;
            let product = std::array::from_fn(|k| without[k] * factor[k]);
            let start = usize::from(hot) * (offset + side * Q);
            let weight = &weights[start..start + Q];
            // Leaves are handled here rather than by a call: half the nodes are leaves.
            let child_node = &nodes[child];
            let below = if child_node.right == 0 {
                product.map(|p| p * child_node.value)
            } else if node.repeats[side] {
                self.scratch.below[depth * Q..depth * Q + Q].fill(0.0);
                let below = self.visit(child, depth + 1, product);
                let excluded = &self.scratch.below[depth * Q..depth * Q + Q];
                for k in 0..Q {
                    share -= weight[k] * excluded[k];
                }
                below
            } else {
                self.visit(child, depth + 1, product)
            };
            for k in 0..Q {
                share += weight[k] * below[k];
            }
            add(&mut sum, &below);
        }
        // A column the row failed higher up got its share there, for every leaf below.
        let counted = f64::from(u8::from(satisfied));
        self.contributions[feature] += counted * share;
        if repeated {
            // The ancestor's share must leave these leaves out: their column's factor is this split's.
            let excluded = &mut self.scratch.below[ancestor * Q..ancestor * Q + Q];
            for k in 0..Q {
                excluded[k] += counted * sum[k];
            }
        }
        sum
    }
}

fn add<const Q: usize>(sum: &mut [f64; Q], other: &[f64; Q]) {
    for (s, o) in sum.iter_mut().zip(other) {
        *s += o;
    }
}

/// Checks the structure the walk relies on and measures the tree: `None` when an index is out of range
/// or not after its parent, a node is reached twice, a column is out of range, or a cover is not
/// positive and finite.
fn shape(tree: &BoostedTree, columns: usize) -> Option<Shape> {
    let n = tree.nodes();
    let lengths = [
        tree.threshold.len(),
        tree.default_left.len(),
        tree.left.len(),
        tree.right.len(),
        tree.value.len(),
        tree.cover.len(),
    ];
    if n == 0 || lengths.iter().any(|&len| len != n) {
        return None;
    }
    let mut seen = vec![false; n];
    let mut shape = Shape {
        depth: 0,
        distinct: 0,
    };
    // (node, depth, the columns on the path so far).
    let mut stack: Vec<(usize, usize, Vec<u32>)> = vec![(0, 0, Vec::new())];
    seen[0] = true;
    while let Some((node, depth, columns_above)) = stack.pop() {
        if !(tree.cover[node].is_finite() && tree.cover[node] > 0.0) || depth > MAX_DEPTH {
            return None;
        }
        shape.depth = shape.depth.max(depth);
        let feature = tree.feature[node];
        if feature == LEAF {
            shape.distinct = shape.distinct.max(columns_above.len());
            continue;
        }
        let (l, r) = (tree.left[node] as usize, tree.right[node] as usize);
        if feature as usize >= columns
            || l <= node
            || r <= node
            || l >= n
            || r >= n
            || l == r
            || seen[l]
            || seen[r]
        {
            return None;
        }
        seen[l] = true;
        seen[r] = true;
        let mut below = columns_above;
        if !below.contains(&feature) {
            below.push(feature);
        }
        stack.push((r, depth + 1, below.clone()));
        stack.push((l, depth + 1, below));
    }
    Some(shape)
}

/// The `n`-point Gauss–Legendre rule on [0, 1] (nodes and weights; the rest of the arrays is 0): it
/// integrates polynomials of degree up to `2n − 1` exactly. Nodes are found by Newton's method on the
/// Legendre polynomial, to full double precision.
pub(crate) fn gauss_legendre(n: usize) -> ([f64; MAX_POINTS], [f64; MAX_POINTS]) {
    let (mut t, mut w) = ([0.0; MAX_POINTS], [0.0; MAX_POINTS]);
    let n = n.clamp(1, MAX_POINTS);
    // P_n(x) and its derivative.
    let legendre = |x: f64| {
        let (mut previous, mut current) = (1.0, x);
        for k in 2..=n {
            let k = k as f64;
            let next = ((2.0 * k - 1.0) * x * current - (k - 1.0) * previous) / k;
            previous = current;
            current = next;
        }
        let derivative = n as f64 * (x * current - previous) / (x * x - 1.0);
        (current, derivative)
    };
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = legendre(x);
            let step = p / dp;
            x -= step;
            if step.abs() <= 1e-17 {
                break;
            }
        }
        let (_, dp) = legendre(x);
        t[i] = (1.0 - x) / 2.0;
        w[i] = 1.0 / ((1.0 - x * x) * dp * dp);
    }
    (t, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_reference_algorithm_on_deep_trees_with_repeated_columns() {
        use crate::boosting::shap::{add_tree_shap_reference, tests::random_tree};
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(5);
        let mut scratch = Scratch::default();
        for case in 0..120 {
            let columns = 2 + case % 14;
            let tree = random_tree(&mut rng, columns, 4 + case % 13);
            let prepared = ShapTree::new(&tree, columns).expect("within the limits");
            for _ in 0..5 {
                let row: Vec<f64> = (0..columns)
                    .map(|_| {
                        if rng.random::<f64>() < 0.1 {
                            f64::NAN
                        } else {
                            rng.random_range(-1.2..1.2)
                        }
                    })
                    .collect();
                let mut ours = vec![0.0; columns];
                prepared.add(&row, &mut ours, &mut scratch);
                let mut reference = vec![0.0; columns];
                add_tree_shap_reference(&tree, &row, &mut reference);
                let scale = reference.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                for (a, b) in ours.iter().zip(&reference) {
                    assert!(
                        (a - b).abs() < 1e-10 * scale,
                        "case {case}: {ours:?} vs {reference:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn trees_beyond_the_limits_are_left_to_the_reference_algorithm() {
        // A chain of 70 splits on one column: too deep.
        let mut tree = BoostedTree::leaf_only(0.0, 1e6);
        let mut node = 0;
        for k in 0..70 {
            let cover = tree.cover[node];
            let left = tree.push_leaf(k as f64, 1.0);
            let right = tree.push_leaf(-1.0, cover - 1.0);
            tree.feature[node] = 0;
            tree.threshold[node] = k as f64;
            tree.left[node] = left as u32;
            tree.right[node] = right as u32;
            node = right;
        }
        tree.validate(1).expect("valid");
        assert!(ShapTree::new(&tree, 1).is_none());
        let mut contributions = [0.0];
        super::super::shap::add_tree_shap(&tree, &[30.5], &mut contributions);
        let total = tree.expected_value() + contributions[0];
        assert!((total - tree.predict(&[30.5])).abs() < 1e-9);
        // A column out of range is refused too.
        assert!(ShapTree::new(&tree, 0).is_none());
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in 1..=MAX_POINTS {
            let (t, w) = gauss_legendre(n);
            for degree in 0..2 * n {
                let integral: f64 = (0..n).map(|k| w[k] * t[k].powi(degree as i32)).sum();
                let exact = 1.0 / (degree + 1) as f64;
                assert!(
                    (integral - exact).abs() < 1e-14,
                    "n {n} degree {degree}: {integral} vs {exact}"
                );
            }
            assert!(t[..n].iter().all(|&t| t > 0.0 && t < 1.0));
        }
    }
}
