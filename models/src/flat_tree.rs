//! The scoring layout of a tree ensemble: every tree's nodes packed into one pool of 16-byte nodes.
//!
//! Fitted and loaded trees keep their struct-of-arrays form (it is what artifacts store); scoring walks
//! this copy instead. A node is its threshold (a leaf: its output), its column and one link word: the
//! index of its left child, whose right sibling is the next node, and flags for a leaf and for the side
//! a missing (NaN) value takes. One step down a tree is then one 16-byte load, one load of the row's
//! value and a comparison, and both children of a node share a cache line. Trees are laid out breadth
//! first, so the top levels of a tree, which every row passes, are contiguous.
//!
//! A row walks [`LANES`] trees in lockstep, each group for as many steps as its deepest tree needs
//! (a leaf stays where it is), so there is no data-dependent branch and the processor overlaps the
//! walks' loads. Leaf outputs are added in tree order, so sums are bit for bit those of walking one tree
//! after the other. Thresholds are compared as the `f64` they were fitted as.

use crate::matrix::Matrix;

/// Trees (or rows) walked in lockstep.
pub(crate) const LANES: usize = 8;

/// Rows of a batch scored together, tree after tree, so a tree's nodes stay in cache.
pub(crate) const BLOCK_ROWS: usize = 512;

const LEAF_FLAG: u32 = 1 << 31;
const DEFAULT_LEFT: u32 = 1 << 30;
const INDEX_MASK: u32 = DEFAULT_LEFT - 1;

/// The node marking a leaf in the fitted trees' `feature` arrays (both tree kinds use it).
const FITTED_LEAF: u32 = u32::MAX;

/// One node of the pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PackedNode {
    /// An internal node's threshold (`x <= threshold` goes left), a leaf's output.
    pub value: f64,
    /// The column an internal node tests; 0 at a leaf (read and ignored while a leaf waits for the other
    /// lanes).
    feature: u32,
    /// Internal node: the pool index of the left child (the right child follows it) and
    /// [`DEFAULT_LEFT`]; leaf: [`LEAF_FLAG`].
    link: u32,
}

impl PackedNode {
    /// Whether the node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.link & LEAF_FLAG != 0
    }

    /// The column an internal node tests.
    pub fn feature(&self) -> usize {
        self.feature as usize
    }

    /// The pool index of the child `row` goes to from this internal node (a leaf's own index is not
    /// known here: callers keep it).
    #[inline(always)]
    fn child<const MISSING: bool>(&self, row: &[f64]) -> u32 {
        let x = row[self.feature as usize];
        let mut left = x <= self.value;
        if MISSING {
            left |= x.is_nan() & (self.link & DEFAULT_LEFT != 0);
        }
        (self.link & INDEX_MASK) + u32::from(!left)
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
    nodes: Vec<PackedNode>,
    /// Root of each tree, in groups of [`LANES`]; the last group is padded with the empty leaf at 0.
    groups: Vec<[u32; LANES]>,
    /// Steps the deepest tree of each group takes to a leaf.
    group_depths: Vec<u32>,
    /// Steps each tree's deepest leaf is from its root.
    depths: Vec<u32>,
    /// Columns a row must have: one more than the largest column tested, at least 1.
    columns: usize,
}

impl NodePool {
    /// Packs `trees`, whose internal nodes test columns below `columns`. `None` when a tree is not a
    /// well-formed tree (array lengths differ, a child index is out of range or not after its parent, a
    /// node is reached twice, a column is out of range) or the pool would exceed 2³⁰ nodes: callers then
    /// score with the fitted arrays, as before this layout existed.
    pub fn build<'a>(
        trees: impl IntoIterator<Item = TreeArrays<'a>>,
        columns: usize,
    ) -> Option<(Self, Vec<Origin>)> {
        // Node 0 is an empty leaf that padding lanes walk.
        let mut nodes = vec![PackedNode {
            value: 0.0,
            feature: 0,
            link: LEAF_FLAG,
        }];
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
            if n == 0 || !lengths_agree {
                return None;
            }
            seen.clear();
            seen.resize(n, false);
            seen[0] = true;
            let root = u32::try_from(nodes.len()).ok()?;
            roots.push(root);
            nodes.push(PackedNode {
                value: 0.0,
                feature: 0,
                link: 0,
            });
            origins.push(Origin {
                tree: t as u32,
                node: 0,
                parent: u32::MAX,
            });
            // Breadth first: (fitted node, its pool slot, depth).
            let mut queue = std::collections::VecDeque::from([(0usize, root as usize, 0u32)]);
            let mut depth = 0;
            while let Some((node, slot, level)) = queue.pop_front() {
                depth = depth.max(level);
                let feature = tree.feature[node];
                if feature == FITTED_LEAF {
                    nodes[slot] = PackedNode {
                        value: tree.value[node],
                        feature: 0,
                        link: LEAF_FLAG,
                    };
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
                if malformed {
                    return None;
                }
                seen[l] = true;
                seen[r] = true;
                let left = nodes.len();
                if left + 2 > INDEX_MASK as usize {
                    return None;
                }
                let default_left = tree.default_left.is_some_and(|d| d[node]);
                nodes[slot] = PackedNode {
                    value: tree.threshold[node],
                    feature,
                    link: left as u32 | if default_left { DEFAULT_LEFT } else { 0 },
                };
                for child in [l, r] {
                    nodes.push(PackedNode {
                        value: 0.0,
                        feature: 0,
                        link: 0,
                    });
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
            groups,
            group_depths,
            depths,
            columns: columns.max(1),
        };
        Some((pool, origins))
    }

    /// The nodes; index 0 is the empty leaf.
    pub fn nodes(&self) -> &[PackedNode] {
        &self.nodes
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.depths.len()
    }

    /// The pool index of tree `t`'s root.
    pub fn root(&self, t: usize) -> usize {
        self.groups[t / LANES][t % LANES] as usize
    }

    /// Whether `row` is long enough for every column the trees test (shorter rows are scored the old
    /// way, which panics only where a walk reads past the row's end).
    pub fn accepts(&self, row: &[f64]) -> bool {
        row.len() >= self.columns
    }

    /// Adds every tree's leaf output for `row` to `start`, in tree order. `row` must be
    /// [accepted](Self::accepts).
    pub fn sum(&self, row: &[f64], start: f64) -> f64 {
        if has_missing(&row[..self.columns]) {
            self.sum_with::<true>(row, start)
        } else {
            self.sum_with::<false>(row, start)
        }
    }

    fn sum_with<const MISSING: bool>(&self, row: &[f64], mut sum: f64) -> f64 {
        let nodes = &self.nodes[..];
        let mut remaining = self.trees();
        for (group, &depth) in self.groups.iter().zip(&self.group_depths) {
            let mut at = *group;
            for _ in 0..depth {
                for at in &mut at {
                    let node = &nodes[*at as usize];
                    let child = node.child::<MISSING>(row);
                    *at = if node.is_leaf() { *at } else { child };
                }
            }
            let count = remaining.min(LANES);
            for &leaf in &at[..count] {
                sum += nodes[leaf as usize].value;
            }
            remaining -= count;
        }
        sum
    }

    /// The leaf `row` reaches in tree `t` (pool index).
    pub fn leaf(&self, t: usize, row: &[f64]) -> usize {
        let nodes = &self.nodes[..];
        let mut at = self.root(t) as u32;
        loop {
            let node = &nodes[at as usize];
            if node.is_leaf() {
                return at as usize;
            }
            at = node.child::<true>(row);
        }
    }

    /// The child of internal pool node `at` that `row` goes to.
    pub fn child(&self, at: usize, row: &[f64]) -> usize {
        self.nodes[at].child::<true>(row) as usize
    }

    /// For each row of `x` from `first` on (one per slot of `out`), adds every tree's leaf output to
    /// the slot, in tree order: the same sums as [`NodePool::sum`] row by row, computed tree after tree
    /// so each tree's nodes stay in cache while the rows walk it, [`LANES`] rows in lockstep.
    pub fn add_block(&self, x: &Matrix, first: usize, out: &mut [f64]) {
        let rows: Vec<&[f64]> = (first..first + out.len()).map(|i| x.row(i)).collect();
        let missing: Vec<bool> = rows
            .chunks(LANES)
            .map(|lanes| lanes.iter().any(|row| has_missing(&row[..self.columns])))
            .collect();
        for (t, &depth) in self.depths.iter().enumerate() {
            let root = self.root(t) as u32;
            for ((sums, lanes), &missing) in out.chunks_mut(LANES).zip(rows.chunks(LANES)).zip(&missing) {
                if let (Ok(sums), Ok(lanes)) = (
                    <&mut [f64; LANES]>::try_from(&mut *sums),
                    <&[&[f64]; LANES]>::try_from(lanes),
                ) {
                    if missing {
                        self.add_lanes::<true>(root, depth, lanes, sums);
                    } else {
                        self.add_lanes::<false>(root, depth, lanes, sums);
                    }
                } else {
                    for (sum, row) in sums.iter_mut().zip(lanes) {
                        *sum += self.nodes[self.leaf(t, row)].value;
                    }
                }
            }
        }
    }

    fn add_lanes<const MISSING: bool>(
        &self,
        root: u32,
        depth: u32,
        rows: &[&[f64]; LANES],
        sums: &mut [f64; LANES],
    ) {
        let nodes = &self.nodes[..];
        let mut at = [root; LANES];
        for _ in 0..depth {
            for (at, row) in at.iter_mut().zip(rows) {
                let node = &nodes[*at as usize];
                let child = node.child::<MISSING>(row);
                *at = if node.is_leaf() { *at } else { child };
            }
        }
        for (sum, &leaf) in sums.iter_mut().zip(&at) {
            *sum += nodes[leaf as usize].value;
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
