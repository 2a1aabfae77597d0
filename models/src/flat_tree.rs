//! The scoring layout of a tree ensemble: every tree's nodes packed into one pool of 16-byte nodes.
//!
//! Fitted and loaded trees keep their struct-of-arrays form (it is what artifacts store); scoring walks
//! this copy instead. A node is its threshold, its column (with a flag for the side a missing value
//! takes) and the index of its left child, whose right sibling is the next node. One step down a tree is
//! one 16-byte load, one load of the row's value and a comparison, and both children of a node share a
//! cache line. Trees are laid out breadth first, so the top levels of a tree, which every row passes,
//! are contiguous.
//!
//! A leaf is a node that leads to itself whatever the row (threshold +∞, missing values to the left,
//! left child itself); its output is kept beside the pool. A row walks [`LANES`] trees in lockstep, each
//! group for as many steps as its deepest tree needs, so the walk has no data-dependent branch and the
//! processor overlaps the walks' loads. Indices are masked to the pool's and the row buffer's
//! power-of-two sizes, which keeps bounds checks out of the loop. Leaf outputs are added in tree order,
//! so sums are bit for bit those of walking one tree after the other. Thresholds are compared as the
//! `f64` they were fitted as.

use crate::matrix::Matrix;

/// Trees (or rows) walked in lockstep.
pub(crate) const LANES: usize = 8;

/// Rows of a batch scored together, tree after tree, so a tree's nodes stay in cache.
pub(crate) const BLOCK_ROWS: usize = 512;

/// Set in [`PackedNode::feature`] when a missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 31;

/// The largest pool: indices stay below the [`DEFAULT_LEFT`] bit.
const MAX_NODES: usize = 1 << 30;

/// The most columns a layout takes (models with more are scored with their fitted arrays): rows are
/// copied into a buffer of 32, 256 or this many values, whose power-of-two size lets the walk mask its
/// index instead of checking it.
const MAX_COLUMNS: usize = 4096;

/// The node marking a leaf in the fitted trees' `feature` arrays (both tree kinds use it).
const FITTED_LEAF: u32 = u32::MAX;

/// One node of the pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PackedNode {
    /// `x <= threshold` goes left; +∞ at a leaf.
    threshold: f64,
    /// The column tested (0 at a leaf), with [`DEFAULT_LEFT`].
    feature: u32,
    /// The pool index of the left child (the right child follows it); a leaf's own index.
    left: u32,
}

impl PackedNode {
    const EMPTY: Self = Self {
        threshold: f64::INFINITY,
        feature: DEFAULT_LEFT,
        left: 0,
    };

    /// The column an internal node tests.
    pub fn feature(&self) -> usize {
        (self.feature & !DEFAULT_LEFT) as usize
    }

    /// The pool index of the child `row` goes to (a leaf's own index for a leaf). `row` is indexed by
    /// the column masked with `N - 1` (`N` is a power of two at least the number of columns).
    #[inline(always)]
    fn child<const MISSING: bool, const N: usize>(&self, row: &[f64; N]) -> u32 {
        let x = row[self.feature as usize & (N - 1)];
        let mut left = x <= self.threshold;
        if MISSING {
            left |= x.is_nan() & (self.feature & DEFAULT_LEFT != 0);
        }
        self.left + u32::from(!left)
    }
}

/// The arrays of one fitted tree, as both tree kinds store them (node 0 is the root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeArrays<'a> {
    /// Column tested, or `u32::MAX` at a leaf.
    pub feature: &'a [u32],
    /// `x <= threshold` goes left.
    pub threshold: &'a [f64],
    /// Whether a missing value goes left (`None`: it goes right, as `x <= threshold` says for NaN).
    pub default_left: Option<&'a [bool]>,
    /// Left children.
    pub left: &'a [u32],
    /// Right children.
    pub right: &'a [u32],
    /// Leaf outputs (other nodes' values are not used here).
    pub value: &'a [f64],
}

/// Where a pool node came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The tree.
    pub tree: u32,
    /// Its index in the fitted tree.
    pub node: u32,
    /// The fitted index of its parent (`u32::MAX` for a root).
    pub parent: u32,
}

/// All trees of a model in one pool; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodePool {
    /// The nodes, padded with empty leaves to a power of two; index 0 is an empty leaf.
    nodes: Vec<PackedNode>,
    /// Each node's output if it is a leaf (0 elsewhere).
    outputs: Vec<f64>,
    /// Root of each tree, in groups of [`LANES`]; the last group is padded with the empty leaf at 0.
    groups: Vec<[u32; LANES]>,
    /// Steps the deepest tree of each group takes to a leaf.
    group_depths: Vec<u32>,
    /// Steps each tree's deepest leaf is from its root.
    depths: Vec<u32>,
    /// Columns a row must have: one more than the largest column a tree may test, at least 1.
    columns: usize,
}

impl NodePool {
    /// Packs `trees`, whose internal nodes test columns below `columns`. `None` when a tree is not a
    /// well-formed tree (array lengths differ, a child index is out of range or not after its parent, a
    /// node is reached twice, a column is out of range, a threshold is NaN) or the pool would exceed 2³⁰
    /// nodes: callers then score with the fitted arrays, as before this layout existed.
    pub fn build<'a>(
        trees: impl IntoIterator<Item = TreeArrays<'a>>,
        columns: usize,
    ) -> Option<(Self, Vec<Origin>)> {
        let mut nodes = vec![PackedNode::EMPTY];
        let mut outputs = vec![0.0];
        let mut origins = vec![Origin {
            tree: u32::MAX,
            node: 0,
            parent: u32::MAX,
        }];
        let mut roots = Vec::new();
        let mut depths = Vec::new();
        let mut seen = Vec::new();
        for (t, tree) in trees.into_iter().enumerate() {
            let n = tree.feature.len();
            let lengths_agree = [
                tree.threshold.len(),
                tree.left.len(),
                tree.right.len(),
                tree.value.len(),
            ]
            .iter()
            .chain(tree.default_left.map(<[bool]>::len).as_ref())
            .all(|&len| len == n);
            if n == 0 || !lengths_agree || !Self::fits(columns) {
                return None;
            }
            seen.clear();
            seen.resize(n, false);
            seen[0] = true;
            let root = nodes.len();
            roots.push(root as u32);
            nodes.push(PackedNode::EMPTY);
            outputs.push(0.0);
            origins.push(Origin {
                tree: t as u32,
                node: 0,
                parent: u32::MAX,
            });
            // Breadth first: (fitted node, its pool slot, depth).
            let mut queue = std::collections::VecDeque::from([(0usize, root, 0u32)]);
            let mut depth = 0;
            while let Some((node, slot, level)) = queue.pop_front() {
                depth = depth.max(level);
                let feature = tree.feature[node];
                if feature == FITTED_LEAF {
                    nodes[slot].left = slot as u32;
                    outputs[slot] = tree.value[node];
                    continue;
                }
                let (l, r) = (tree.left[node] as usize, tree.right[node] as usize);
                let malformed = feature as usize >= columns
                    || l <= node
                    || r <= node
                    || l >= n
                    || r >= n
                    || l == r
                    || seen[l]
                    || seen[r]
                    || tree.threshold[node].is_nan();
                let left = nodes.len();
                if malformed || left + 2 > MAX_NODES {
                    return None;
                }
                seen[l] = true;
                seen[r] = true;
                let default_left = tree.default_left.is_some_and(|d| d[node]);
                nodes[slot] = PackedNode {
                    threshold: tree.threshold[node],
                    feature: feature | if default_left { DEFAULT_LEFT } else { 0 },
                    left: left as u32,
                };
                for child in [l, r] {
                    nodes.push(PackedNode::EMPTY);
                    outputs.push(0.0);
                    origins.push(Origin {
                        tree: t as u32,
                        node: child as u32,
                        parent: node as u32,
                    });
                }
                queue.push_back((l, left, level + 1));
                queue.push_back((r, left + 1, level + 1));
            }
            depths.push(depth);
        }
        // Padding leaves lead to themselves, like every leaf.
        let padded = nodes.len().next_power_of_two();
        for slot in nodes.len()..padded {
            nodes.push(PackedNode {
                left: slot as u32,
                ..PackedNode::EMPTY
            });
            outputs.push(0.0);
        }
        let mut groups = Vec::new();
        let mut group_depths = Vec::new();
        for (roots, depths) in roots.chunks(LANES).zip(depths.chunks(LANES)) {
            let mut group = [0u32; LANES];
            group[..roots.len()].copy_from_slice(roots);
            groups.push(group);
            group_depths.push(depths.iter().copied().max().unwrap_or(0));
        }
        let pool = Self {
            nodes,
            outputs,
            groups,
            group_depths,
            depths,
            columns: columns.max(1),
        };
        Some((pool, origins))
    }

    /// The nodes, a power of two of them.
    fn nodes(&self) -> &[PackedNode] {
        &self.nodes[..=self.nodes.len() - 1]
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.depths.len()
    }

    /// The pool index of tree `t`'s root.
    pub fn root(&self, t: usize) -> usize {
        self.groups[t / LANES][t % LANES] as usize
    }

    /// Whether pool node `at` is a leaf.
    #[cfg(test)]
    pub fn is_leaf(&self, at: usize) -> bool {
        self.nodes[at].left as usize == at
    }

    /// The column internal pool node `at` tests.
    pub fn feature(&self, at: usize) -> usize {
        self.nodes[at].feature()
    }

    /// Whether `row` is long enough for every column the trees test (shorter rows are scored the old
    /// way, which panics only where a walk reads past the row's end).
    pub fn accepts(&self, row: &[f64]) -> bool {
        row.len() >= self.columns
    }

    /// Whether the trees test few enough columns for this layout ([`MAX_COLUMNS`]).
    fn fits(columns: usize) -> bool {
        columns <= MAX_COLUMNS
    }

    /// Adds every tree's leaf output for `row` to `start`, in tree order. `row` must be
    /// [accepted](Self::accepts).
    pub fn sum(&self, row: &[f64], start: f64) -> f64 {
        match self.columns {
            0..=32 => self.sum_buffered::<32>(row, start),
            33..=256 => self.sum_buffered::<256>(row, start),
            _ => self.sum_buffered::<MAX_COLUMNS>(row, start),
        }
    }

    /// [`NodePool::sum`] with the row copied into a buffer of `N` values, so the walk indexes it with a
    /// mask instead of a bounds check.
    fn sum_buffered<const N: usize>(&self, row: &[f64], start: f64) -> f64 {
        let row = &row[..self.columns];
        let mut buffer = [0.0; N];
        buffer[..row.len()].copy_from_slice(row);
        if has_missing(row) {
            self.sum_with::<true, N>(&buffer, start)
        } else {
            self.sum_with::<false, N>(&buffer, start)
        }
    }

    fn sum_with<const MISSING: bool, const N: usize>(&self, row: &[f64; N], mut sum: f64) -> f64 {
        let nodes = self.nodes();
        let mask = nodes.len() - 1;
        let mut remaining = self.trees();
        for (group, &depth) in self.groups.iter().zip(&self.group_depths) {
            let mut at = *group;
            for _ in 0..depth {
                for at in &mut at {
                    *at = nodes[*at as usize & mask].child::<MISSING, N>(row);
                }
            }
            let count = remaining.min(LANES);
            for &leaf in &at[..count] {
                sum += self.outputs[leaf as usize];
            }
            remaining -= count;
        }
        sum
    }

    /// Calls `visit` with each tree's path for `row`, tree after tree: the pool indices from the root on,
    /// the leaf repeated once reached (so a step from a node to itself ends the path). The trees are
    /// walked in lockstep, as [`NodePool::sum`] walks them. `row` must be [accepted](Self::accepts).
    pub fn for_each_path(&self, row: &[f64], mut visit: impl FnMut(&[u32])) {
        match self.columns {
            0..=32 => self.paths_buffered::<32>(row, &mut visit),
            33..=256 => self.paths_buffered::<256>(row, &mut visit),
            _ => self.paths_buffered::<MAX_COLUMNS>(row, &mut visit),
        }
    }

    fn paths_buffered<const N: usize>(&self, row: &[f64], visit: &mut impl FnMut(&[u32])) {
        let row = &row[..self.columns];
        let mut buffer = [0.0; N];
        buffer[..row.len()].copy_from_slice(row);
        if has_missing(row) {
            self.paths_with::<true, N>(&buffer, visit);
        } else {
            self.paths_with::<false, N>(&buffer, visit);
        }
    }

    fn paths_with<const MISSING: bool, const N: usize>(
        &self,
        row: &[f64; N],
        visit: &mut impl FnMut(&[u32]),
    ) {
        let nodes = self.nodes();
        let mask = nodes.len() - 1;
        let stride = self.group_depths.iter().copied().max().unwrap_or(0) as usize + 1;
        // Lane after lane, each lane's path.
        let mut paths = vec![0u32; LANES * stride];
        let mut remaining = self.trees();
        for (group, &depth) in self.groups.iter().zip(&self.group_depths) {
            let depth = depth as usize;
            let mut at = *group;
            for step in 0..depth {
                for (lane, at) in at.iter_mut().enumerate() {
                    paths[lane * stride + step] = *at;
                    *at = nodes[*at as usize & mask].child::<MISSING, N>(row);
                }
            }
            let count = remaining.min(LANES);
            for (lane, &leaf) in at.iter().enumerate().take(count) {
                let path = &mut paths[lane * stride..lane * stride + depth + 1];
                path[depth] = leaf;
                visit(path);
            }
            remaining -= count;
        }
    }

    /// The child of internal pool node `at` that `row` (with every column the trees test) goes to.
    #[cfg(test)]
    pub fn child(&self, at: usize, row: &[f64]) -> usize {
        let node = &self.nodes[at];
        let x = row[node.feature()];
        let left = x <= node.threshold || (x.is_nan() && node.feature & DEFAULT_LEFT != 0);
        node.left as usize + usize::from(!left)
    }

    /// For each row of `x` from `first` on (one per slot of `out`), adds every tree's leaf output to
    /// the slot, in tree order: the same sums as [`NodePool::sum`] row by row, computed tree after tree
    /// so each tree's nodes stay in cache while the rows walk it, [`LANES`] rows in lockstep. The rows
    /// must be [accepted](Self::accepts).
    pub fn add_block(&self, x: &Matrix, first: usize, out: &mut [f64]) {
        match self.columns {
            0..=32 => self.add_block_buffered::<32>(x, first, out),
            33..=256 => self.add_block_buffered::<256>(x, first, out),
            _ => self.add_block_buffered::<MAX_COLUMNS>(x, first, out),
        }
    }

    /// [`NodePool::add_block`] with each row copied into a buffer of `N` values (256 KiB of rows at a
    /// time).
    fn add_block_buffered<const N: usize>(&self, x: &Matrix, first: usize, out: &mut [f64]) {
        let rows_at_once = (32 * 1024 / N).max(LANES);
        let mut rows = vec![[0.0; N]; rows_at_once.min(out.len())];
        for (part, out) in out.chunks_mut(rows_at_once).enumerate() {
            let first = first + part * rows_at_once;
            let rows = &mut rows[..out.len()];
            for (k, buffer) in rows.iter_mut().enumerate() {
                buffer[..self.columns].copy_from_slice(&x.row(first + k)[..self.columns]);
            }
            let missing: Vec<bool> = rows
                .chunks(LANES)
                .map(|lanes| lanes.iter().any(|row| has_missing(&row[..self.columns])))
                .collect();
            for (t, &depth) in self.depths.iter().enumerate() {
                let root = self.root(t) as u32;
                for ((sums, lanes), &missing) in out.chunks_mut(LANES).zip(rows.chunks(LANES)).zip(&missing) {
                    if missing {
                        self.add_lanes::<true, N>(root, depth, lanes, sums);
                    } else {
                        self.add_lanes::<false, N>(root, depth, lanes, sums);
                    }
                }
            }
        }
    }

    /// Adds tree `root`'s output for each of `rows` (at most [`LANES`]) to its slot of `sums`.
    fn add_lanes<const MISSING: bool, const N: usize>(
        &self,
        root: u32,
        depth: u32,
        rows: &[[f64; N]],
        sums: &mut [f64],
    ) {
        let nodes = self.nodes();
        let mask = nodes.len() - 1;
        // Idle lanes (in a last, short group) walk the first row.
        let lanes: [&[f64; N]; LANES] = std::array::from_fn(|k| rows.get(k).unwrap_or(&rows[0]));
        let mut at = [root; LANES];
        for _ in 0..depth {
            for (at, row) in at.iter_mut().zip(&lanes) {
                *at = nodes[*at as usize & mask].child::<MISSING, N>(row);
            }
        }
        for (sum, &leaf) in sums.iter_mut().zip(&at) {
            *sum += self.outputs[leaf as usize];
        }
    }
}

/// Whether any value is missing (NaN).
pub(crate) fn has_missing(row: &[f64]) -> bool {
    row.iter().fold(false, |any, v| any | v.is_nan())
}

/// A scoring layout built from a model's trees on first use (or when the model is validated after
/// loading), kept beside the trees and never serialised.
///
/// The trees of a fitted or loaded model are treated as read-only: the layout is built once from them.
/// A clone starts without a layout (so a clone whose trees are edited builds its own), and models compare
/// equal whatever their layouts.
pub(crate) struct LazyLayout<T>(std::sync::OnceLock<Option<T>>);

impl<T> LazyLayout<T> {
    /// The layout, built by `build` on the first call; `None` when `build` found the trees unfit.
    pub fn get_or_build(&self, build: impl FnOnce() -> Option<T>) -> Option<&T> {
        self.0.get_or_init(build).as_ref()
    }
}

impl<T> Default for LazyLayout<T> {
    fn default() -> Self {
        Self(std::sync::OnceLock::new())
    }
}

impl<T> Clone for LazyLayout<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> PartialEq for LazyLayout<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for LazyLayout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.get().is_some() {
            "built"
        } else {
            "not built"
        };
        f.write_str(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boosting::BoostedTree;
    use crate::boosting::shap::tests::random_tree;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn arrays(tree: &BoostedTree) -> TreeArrays<'_> {
        TreeArrays {
            feature: &tree.feature,
            threshold: &tree.threshold,
            default_left: Some(&tree.default_left),
            left: &tree.left,
            right: &tree.right,
            value: &tree.value,
        }
    }

    #[test]
    fn the_pool_walks_to_the_leaves_of_the_node_by_node_walk_on_rows_with_missing_values() {
        let mut rng = StdRng::seed_from_u64(11);
        // Column counts that pick each row buffer size; tree counts around the lockstep width.
        for (columns, n_trees) in [(3, 1), (7, LANES), (40, 2 * LANES + 3), (300, 3 * LANES - 1)] {
            let trees: Vec<BoostedTree> = (0..n_trees)
                .map(|t| random_tree(&mut rng, columns.min(30), 1 + t % 9))
                .collect();
            let (pool, origins) = NodePool::build(trees.iter().map(arrays), columns).expect("well formed");
            assert_eq!(pool.trees(), n_trees);
            assert!(pool.nodes().len().is_power_of_two());
            let n = 500;
            let values = (0..n * columns)
                .map(|_| {
                    if rng.random::<f64>() < 0.15 {
                        f64::NAN
                    } else {
                        rng.random_range(-1.2..1.2)
                    }
                })
                .collect();
            let x = Matrix::from_vec(n, columns, values).expect("shape");
            let mut block = vec![0.25; n];
            pool.add_block(&x, 0, &mut block);
            for (i, from_block) in block.iter().enumerate() {
                let row = x.row(i);
                let reference = trees.iter().fold(0.25, |sum, tree| sum + tree.predict(row));
                assert_eq!(pool.sum(row, 0.25).to_bits(), reference.to_bits(), "row {i}");
                assert_eq!(from_block.to_bits(), reference.to_bits(), "row {i}");
                let mut t = 0;
                pool.for_each_path(row, |path| {
                    let leaf = *path.last().expect("a path");
                    assert_eq!(
                        origins[leaf as usize].node as usize,
                        trees[t].leaf(row),
                        "tree {t} row {i}"
                    );
                    t += 1;
                });
                assert_eq!(t, n_trees);
                for (t, tree) in trees.iter().enumerate() {
                    // The single-tree walk reaches the pool node of the fitted leaf.
                    let mut at = pool.root(t);
                    while !pool.is_leaf(at) {
                        at = pool.child(at, row);
                    }
                    assert_eq!(origins[at].tree as usize, t);
                    assert_eq!(origins[at].node as usize, tree.leaf(row), "tree {t} row {i}");
                }
            }
        }
    }

    #[test]
    fn malformed_trees_are_not_packed() {
        let mut rng = StdRng::seed_from_u64(12);
        let tree = random_tree(&mut rng, 4, 4);
        assert!(NodePool::build([arrays(&tree)], 4).is_some());
        let internal = (0..tree.nodes()).find(|&n| !tree.is_leaf(n)).expect("a split");
        let corruptions: [fn(&mut BoostedTree, usize); 4] = [
            |tree, n| tree.left[n] = 10_000,
            |tree, n| tree.right[n] = n as u32,
            |tree, n| tree.right[n] = tree.left[n],
            |tree, n| tree.threshold[n] = f64::NAN,
        ];
        for corrupt in corruptions {
            let mut broken = tree.clone();
            corrupt(&mut broken, internal);
            assert!(NodePool::build([arrays(&broken)], 4).is_none());
        }
        let mut short = tree.clone();
        short.value.pop();
        assert!(NodePool::build([arrays(&short)], 4).is_none());
        assert!(NodePool::build([arrays(&tree)], MAX_COLUMNS + 1).is_none());
    }
}
