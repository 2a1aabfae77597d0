//! Growing one regression tree on gradient and hessian histograms, leaf by leaf.
//!
//! The leaf whose best split gains the most is split next (LightGBM's leaf-wise growth), until
//! `max_leaves` or no split gains. Each leaf keeps a histogram of gradient and hessian sums per bin of
//! every column drawn for the tree; after a split only the smaller child's histogram is built from its
//! rows, and the larger one's is the parent's minus it, which halves the passes over rows at least.
//! Histograms are filled row by row from [`RowBins`], each row's bins side by side: a leaf's rows are
//! scattered over the table, and one cache line then brings every column's bin of a row, where column
//! by column it would bring one.

use crate::histogram::{BinnedColumns, MISSING_BIN, stable_partition};
use rayon::prelude::*;

use super::tree::BoostedTree;

/// Histogram slots per column: 255 real bins at most, and [`MISSING_BIN`].
const SLOTS: usize = 256;

/// Rows × columns below which a node's histogram is filled on one thread, as smaller work is cheaper
/// than handing it to rayon.
const PARALLEL_WORK: usize = 64 * 1024;

/// Rows whose derivatives and bins are fetched together before they are added to a histogram.
const GATHER_ROWS: usize = 64;

/// What bounds a tree; see [`super::GradientBoostingParams`] for the meaning of each.
#[derive(Debug, Clone, Copy)]
pub(super) struct GrowthLimits {
    pub max_leaves: usize,
    pub max_depth: usize,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian: f64,
    pub l2: f64,
    pub min_gain: f64,
    pub learning_rate: f64,
}

/// Gradient, hessian and row count of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    gradient: f64,
    hessian: f64,
    rows: u32,
}

impl Sums {
    fn add(&mut self, gradient: f64, hessian: f64) {
        self.gradient += gradient;
        self.hessian += hessian;
        self.rows += 1;
    }

    fn plus(self, other: Self) -> Self {
        Self {
            gradient: self.gradient + other.gradient,
            hessian: self.hessian + other.hessian,
            rows: self.rows + other.rows,
        }
    }

    fn minus(self, other: Self) -> Self {
        Self {
            gradient: self.gradient - other.gradient,
            hessian: self.hessian - other.hessian,
            rows: self.rows - other.rows,
        }
    }

    /// The loss reduction a leaf with these sums achieves at its optimal value (up to a factor ½).
    fn score(self, l2: f64) -> f64 {
        self.gradient * self.gradient / (self.hessian + l2)
    }

    /// The optimal leaf value `−G / (H + λ)`.
    fn leaf_value(self, l2: f64) -> f64 {
        -self.gradient / (self.hessian + l2)
    }
}

/// A split of a leaf: rows whose bin in `column` is at most `bin` go left, missing ones as `default_left`.
#[derive(Debug, Clone, Copy)]
struct Split {
    column: usize,
    bin: u8,
    default_left: bool,
    gain: f64,
    left: Sums,
}

/// A leaf that may still be split.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sums: Sums,
    histogram: Option<Vec<Sums>>,
    best: Option<Split>,
}

/// The bins of every row side by side (row-major), for filling histograms row by row.
pub(super) struct RowBins {
    columns: usize,
    bins: Vec<u8>,
}

impl RowBins {
    /// The bins of `binned` laid out row by row.
    pub fn new(binned: &BinnedColumns) -> Self {
        let columns = binned.bins.len();
        let rows = binned.bins.first().map_or(0, Vec::len);
        let mut bins = vec![0; rows * columns];
        bins.par_chunks_mut(columns.max(1))
            .enumerate()
            .for_each(|(row, out)| {
                for (slot, column) in out.iter_mut().zip(&binned.bins) {
                    *slot = column[row];
                }
            });
        Self { columns, bins }
    }

    fn row(&self, row: usize) -> &[u8] {
        &self.bins[row * self.columns..(row + 1) * self.columns]
    }

    /// Reads the first and last bin of `row`, which brings the row (at most two cache lines) into the
    /// cache; the result means nothing.
    fn touch(&self, row: usize) -> u8 {
        let row = self.row(row);
        row.first().copied().unwrap_or(0) ^ row.last().copied().unwrap_or(0)
    }
}

/// Histogram buffers kept from node to node and tree to tree, so a node's histogram does not ask the
/// allocator (and, at this size, the kernel) for freshly zeroed pages.
#[derive(Default)]
pub(super) struct HistogramPool(Vec<Vec<Sums>>);

impl HistogramPool {
    fn take(&mut self) -> Vec<Sums> {
        self.0.pop().unwrap_or_default()
    }

    fn give(&mut self, buffer: Option<Vec<Sums>>) {
        self.0.extend(buffer);
    }
}

/// A fitted tree and, per node, the bin its split cuts at (for walking the training rows by bins).
pub(super) struct GrownTree {
    pub tree: BoostedTree,
    pub split_bins: Vec<u8>,
    /// The rows the tree was grown on, grouped by leaf, and each leaf's node and range in them.
    pub rows: Vec<u32>,
    pub leaves: Vec<(u32, usize, usize)>,
}

impl GrownTree {
    /// The output of the tree for training row `row`, walked by bins.
    pub fn predict_binned(&self, binned: &BinnedColumns, row: usize) -> f64 {
        let tree = &self.tree;
        let mut node = 0;
        while !tree.is_leaf(node) {
            let bin = binned.bins[tree.feature[node] as usize][row];
            let left = if bin == MISSING_BIN {
                tree.default_left[node]
            } else {
                bin <= self.split_bins[node]
            };
            node = if left { tree.left[node] } else { tree.right[node] } as usize;
        }
        tree.value[node]
    }

    /// Adds the tree's output to the `scores` of the rows it was grown on, leaf by leaf (no walk).
    pub fn add_to_grown_rows(&self, scores: &mut [f64]) {
        for &(node, start, end) in &self.leaves {
            let value = self.tree.value[node as usize];
            for &r in &self.rows[start..end] {
                scores[r as usize] += value;
            }
        }
    }
}

/// Grows a tree on `rows` (the round's sample) using only `columns`.
pub(super) fn grow(
    binned: &BinnedColumns,
    row_bins: &RowBins,
    derivatives: &[(f64, f64)],
    mut rows: Vec<u32>,
    columns: &[usize],
    limits: &GrowthLimits,
    pool: &mut HistogramPool,
) -> GrownTree {
    let mut root_sums = Sums::default();
    for &r in &rows {
        let (g, h) = derivatives[r as usize];
        root_sums.add(g, h);
    }
    let mut grown = GrownTree {
        tree: BoostedTree::leaf_only(
            limits.learning_rate * root_sums.leaf_value(limits.l2),
            f64::from(root_sums.rows),
        ),
        split_bins: vec![0],
        rows: Vec::new(),
        leaves: Vec::new(),
    };
    let grower = Grower {
        binned,
        row_bins,
        derivatives,
        columns,
        limits,
    };
    let mut open = Vec::new();
    let mut root = Leaf {
        node: 0,
        start: 0,
        end: rows.len(),
        depth: 0,
        sums: root_sums,
        histogram: None,
        best: None,
    };
    if grower.may_split(&root) {
        let histogram = grower.histogram(&rows, pool.take());
        root.best = grower.best_split(&histogram, root.sums);
        root.histogram = Some(histogram);
    }
    open.push(root);
    // Leaves that will not be split: (node, start, end) in `rows`.
    let mut closed: Vec<(u32, usize, usize)> = Vec::new();
    let close = |leaf: &Leaf| (leaf.node as u32, leaf.start, leaf.end);
    let mut leaves = 1;
    let mut scratch = Vec::with_capacity(rows.len());
    while leaves < limits.max_leaves {
        // The open leaf with the largest gain; ties go to the earlier node, so growth is deterministic.
        let Some(at) = open
            .iter()
            .enumerate()
            .filter_map(|(i, leaf)| leaf.best.map(|s| (i, s.gain)))
            .fold(None, |best: Option<(usize, f64)>, (i, gain)| match best {
                Some((_, g)) if g >= gain => best,
                _ => Some((i, gain)),
            })
            .map(|(i, _)| i)
        else {
            break;
        };
        let leaf = open.swap_remove(at);
        let split = leaf.best.expect("chosen leaves have a split");
        let bins = &binned.bins[columns[split.column]];
        let middle = leaf.start
            + stable_partition(&mut rows[leaf.start..leaf.end], &mut scratch, |r| {
                let bin = bins[r as usize];
                if bin == MISSING_BIN {
                    split.default_left
                } else {
                    bin <= split.bin
                }
            });
        let right_sums = leaf.sums.minus(split.left);
        let tree = &mut grown.tree;
        let l2 = limits.l2;
        let left_node = tree.push_leaf(
            limits.learning_rate * split.left.leaf_value(l2),
            f64::from(split.left.rows),
        );
        let right_node = tree.push_leaf(
            limits.learning_rate * right_sums.leaf_value(l2),
            f64::from(right_sums.rows),
        );
        grown.split_bins.extend([0, 0]);
        let column = columns[split.column];
        tree.feature[leaf.node] = column as u32;
        tree.threshold[leaf.node] = binned.thresholds[column][usize::from(split.bin)];
        tree.default_left[leaf.node] = split.default_left;
        tree.left[leaf.node] = left_node as u32;
        tree.right[leaf.node] = right_node as u32;
        tree.value[leaf.node] = 0.0;
        grown.split_bins[leaf.node] = split.bin;
        leaves += 1;

        let mut left = Leaf {
            node: left_node,
            start: leaf.start,
            end: middle,
            depth: leaf.depth + 1,
            sums: split.left,
            histogram: None,
            best: None,
        };
        let mut right = Leaf {
            node: right_node,
            start: middle,
            end: leaf.end,
            depth: leaf.depth + 1,
            sums: right_sums,
            histogram: None,
            best: None,
        };
        if leaves < limits.max_leaves && (grower.may_split(&left) || grower.may_split(&right)) {
            let parent = leaf.histogram.expect("a split leaf has its histogram");
            let (small, large) = if left.end - left.start <= right.end - right.start {
                (&mut left, &mut right)
            } else {
                (&mut right, &mut left)
            };
            let small_histogram = grower.histogram(&rows[small.start..small.end], pool.take());
            let mut large_histogram = parent;
            for (large, small) in large_histogram.iter_mut().zip(&small_histogram) {
                *large = large.minus(*small);
            }
            small.histogram = Some(small_histogram);
            large.histogram = Some(large_histogram);
            for child in [left, right] {
                let mut child = child;
                if grower.may_split(&child) {
                    let histogram = child.histogram.as_ref().expect("built above");
                    child.best = grower.best_split(histogram, child.sums);
                }
                if child.best.is_some() {
                    open.push(child);
                } else {
                    closed.push(close(&child));
                    pool.give(child.histogram);
                }
            }
        } else {
            closed.extend([close(&left), close(&right)]);
            pool.give(leaf.histogram);
        }
    }
    closed.extend(open.iter().map(close));
    for leaf in open {
        pool.give(leaf.histogram);
    }
    grown.rows = rows;
    grown.leaves = closed;
    grown
}

struct Grower<'a> {
    binned: &'a BinnedColumns,
    row_bins: &'a RowBins,
    /// Each row's gradient and hessian, side by side so a histogram pass reads them together.
    derivatives: &'a [(f64, f64)],
    columns: &'a [usize],
    limits: &'a GrowthLimits,
}

impl Grower<'_> {
    fn may_split(&self, leaf: &Leaf) -> bool {
        leaf.depth < self.limits.max_depth
            && leaf.sums.rows as usize >= 2 * self.limits.min_data_in_leaf
            && leaf.sums.hessian >= 2.0 * self.limits.min_sum_hessian
    }

    /// Gradient and hessian sums per bin of every drawn column over `rows`, in `buffer` (any previous
    /// content is overwritten). Rows are read in order; for large nodes the columns are shared out among
    /// the cores, each filling its columns' slots from every row, so every sum is added in row order
    /// whatever the number of cores and no partial histograms need adding up.
    fn histogram(&self, rows: &[u32], mut buffer: Vec<Sums>) -> Vec<Sums> {
        buffer.clear();
        buffer.resize(self.columns.len() * SLOTS, Sums::default());
        let fill = |histogram: &mut [Sums], columns: &[usize]| {
            let (histogram, _) = histogram.as_chunks_mut::<SLOTS>();
            let mut gathered = [(0.0, 0.0); GATHER_ROWS];
            for block in rows.chunks(GATHER_ROWS) {
                // A leaf's rows are scattered over the table, so each row's derivatives and bins are a
                // cache miss. Reading them first in a loop of independent loads lets the memory system
                // fetch a whole block at once, where the filling loop would wait for one row at a time.
                let mut touched = 0;
                for (slot, &r) in gathered.iter_mut().zip(block) {
                    *slot = self.derivatives[r as usize];
                    touched ^= self.row_bins.touch(r as usize);
                }
                std::hint::black_box(touched);
                for (&(g, h), &r) in gathered.iter().zip(block) {
                    let bins = self.row_bins.row(r as usize);
                    for (slots, &column) in histogram.iter_mut().zip(columns) {
                        slots[usize::from(bins[column])].add(g, h);
                    }
                }
            }
        };
        let tasks = if rows.len() * self.columns.len() < PARALLEL_WORK {
            1
        } else {
            rayon::current_num_threads().min(self.columns.len())
        };
        if tasks <= 1 {
            fill(&mut buffer, self.columns);
        } else {
            let per_task = self.columns.len().div_ceil(tasks);
            buffer
                .par_chunks_mut(per_task * SLOTS)
                .zip(self.columns.par_chunks(per_task))
                .for_each(|(part, columns)| fill(part, columns));
        }
        buffer
    }

    /// The split with the largest gain over every drawn column, if one gains more than `min_gain` and
    /// leaves enough rows and hessian on both sides.
    fn best_split(&self, histogram: &[Sums], total: Sums) -> Option<Split> {
        let limits = self.limits;
        let parent = total.score(limits.l2);
        let allowed = |side: Sums| {
            side.rows as usize >= limits.min_data_in_leaf && side.hessian >= limits.min_sum_hessian
        };
        let mut best: Option<Split> = None;
        for (k, slots) in histogram.chunks(SLOTS).enumerate() {
            let edges = self.binned.thresholds[self.columns[k]].len();
            if edges == 0 {
                continue;
            }
            let missing = slots[usize::from(MISSING_BIN)];
            let present = total.minus(missing);
            // Without missing rows the default side is the one with more rows, the likelier guess for an
            // unseen missing value; with them both sides are tried and the better one learned.
            let directions: &[bool] = if missing.rows == 0 { &[] } else { &[true, false] };
            let mut left = Sums::default();
            for (bin, slot) in slots[..edges].iter().enumerate() {
                left = left.plus(*slot);
                if slot.rows == 0 {
                    continue;
                }
                let right = present.minus(left);
                if right.rows == 0 {
                    break;
                }
                let mut consider = |left: Sums, default_left: bool| {
                    let right = total.minus(left);
                    if !(allowed(left) && allowed(right)) {
                        return;
                    }
                    let gain = left.score(limits.l2) + right.score(limits.l2) - parent;
                    if gain > limits.min_gain && best.is_none_or(|b| gain > b.gain) {
                        best = Some(Split {
                            column: k,
                            bin: bin as u8,
                            default_left,
                            gain,
                            left,
                        });
                    }
                };
                if directions.is_empty() {
                    consider(left, left.rows >= right.rows);
                } else {
                    consider(left.plus(missing), true);
                    consider(left, false);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    fn pairs(gradients: &[f64], hessians: &[f64]) -> Vec<(f64, f64)> {
        gradients.iter().copied().zip(hessians.iter().copied()).collect()
    }

    fn limits() -> GrowthLimits {
        GrowthLimits {
            max_leaves: 31,
            max_depth: 8,
            min_data_in_leaf: 1,
            min_sum_hessian: 0.0,
            l2: 0.0,
            min_gain: 0.0,
            learning_rate: 1.0,
        }
    }

    #[test]
    fn a_step_function_is_learned_exactly_with_no_penalty() {
        // Gradients of a squared loss at 0 with targets 1 (x < 5) and 3: the leaves are −g/h = targets.
        let x = Matrix::from_vec(10, 1, (0..10).map(f64::from).collect()).expect("shape");
        let binned = BinnedColumns::new(&x, 255);
        let gradients: Vec<f64> = (0..10).map(|i| if i < 5 { -1.0 } else { -3.0 }).collect();
        let hessians = vec![1.0; 10];
        let grown = grow(
            &binned,
            &RowBins::new(&binned),
            &pairs(&gradients, &hessians),
            (0..10).collect(),
            &[0],
            &limits(),
            &mut HistogramPool::default(),
        );
        assert_eq!(grown.tree.leaves(), 2);
        assert_eq!(grown.tree.threshold[0], 4.5);
        for i in 0..10 {
            let expected = if i < 5 { 1.0 } else { 3.0 };
            assert_eq!(grown.tree.predict(x.row(i)), expected);
            assert_eq!(grown.predict_binned(&binned, i), expected);
        }
        grown.tree.validate(1).expect("valid");
    }

    #[test]
    fn limits_bound_leaves_depth_and_leaf_size() {
        let n = 400;
        let x =
            Matrix::from_vec(n, 2, (0..2 * n).map(|i| ((i * 7919) % 1000) as f64).collect()).expect("shape");
        let binned = BinnedColumns::new(&x, 255);
        let gradients: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let hessians = vec![1.0; n];
        let rows: Vec<u32> = (0..n as u32).collect();
        for (max_leaves, max_depth, min_data) in [(31, 3, 1), (5, 10, 1), (31, 10, 60)] {
            let limits = GrowthLimits {
                max_leaves,
                max_depth,
                min_data_in_leaf: min_data,
                ..limits()
            };
            let grown = grow(
                &binned,
                &RowBins::new(&binned),
                &pairs(&gradients, &hessians),
                rows.clone(),
                &[0, 1],
                &limits,
                &mut HistogramPool::default(),
            );
            let tree = &grown.tree;
            assert!(
                tree.leaves() <= max_leaves.min(1 << max_depth),
                "{}",
                tree.leaves()
            );
            assert!(tree.leaves() > 1);
            for node in 0..tree.nodes() {
                if tree.is_leaf(node) {
                    assert!(tree.cover[node] >= min_data as f64);
                }
            }
            let depth = |mut node: usize| {
                let mut depth = 0;
                while node != 0 {
                    node = (0..tree.nodes())
                        .find(|&p| {
                            !tree.is_leaf(p)
                                && (tree.left[p] as usize == node || tree.right[p] as usize == node)
                        })
                        .expect("parent");
                    depth += 1;
                }
                depth
            };
            assert!((0..tree.nodes()).all(|node| depth(node) <= max_depth));
            tree.validate(2).expect("valid");
            let mut by_leaf = vec![0.0; n];
            grown.add_to_grown_rows(&mut by_leaf);
            for (i, by_leaf) in by_leaf.iter().enumerate() {
                assert_eq!(tree.predict(x.row(i)), grown.predict_binned(&binned, i));
                assert_eq!(*by_leaf, grown.predict_binned(&binned, i), "row {i}");
            }
        }
    }

    #[test]
    fn histograms_filled_on_several_cores_equal_the_one_pass_sums() {
        let n = 50_000;
        let x =
            Matrix::from_vec(n, 3, (0..3 * n).map(|i| ((i * 7919) % 997) as f64).collect()).expect("shape");
        let binned = BinnedColumns::new(&x, 255);
        let row_bins = RowBins::new(&binned);
        let gradients: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let hessians: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let columns = [0, 2];
        let grower = Grower {
            binned: &binned,
            row_bins: &row_bins,
            derivatives: &pairs(&gradients, &hessians),
            columns: &columns,
            limits: &limits(),
        };
        let rows: Vec<u32> = (0..n as u32).filter(|r| r % 5 != 0).collect();
        assert!(
            rows.len() * columns.len() > PARALLEL_WORK,
            "filled on several cores"
        );
        let histogram = grower.histogram(&rows, vec![Sums::default(); 7]);
        for (k, &column) in columns.iter().enumerate() {
            let mut expected = vec![Sums::default(); SLOTS];
            for &r in &rows {
                let r = r as usize;
                expected[usize::from(binned.bins[column][r])].add(gradients[r], hessians[r]);
            }
            // Bit for bit: each sum is added in row order on whichever core fills its column.
            assert_eq!(&histogram[k * SLOTS..(k + 1) * SLOTS], &expected[..]);
        }
    }

    #[test]
    fn missing_values_go_to_the_side_that_fits_them() {
        // Present values carry no signal; missing rows have a large negative gradient, like the right half.
        let mut values = Vec::new();
        let mut gradients = Vec::new();
        for i in 0..60 {
            let missing = i % 3 == 0;
            values.push(if missing { f64::NAN } else { f64::from(i) });
            gradients.push(if missing || i >= 30 { -2.0 } else { 1.0 });
        }
        let x = Matrix::from_vec(60, 1, values).expect("shape");
        let binned = BinnedColumns::new(&x, 255);
        let grown = grow(
            &binned,
            &RowBins::new(&binned),
            &pairs(&gradients, &[1.0; 60]),
            (0..60).collect(),
            &[0],
            &GrowthLimits {
                max_leaves: 2,
                ..limits()
            },
            &mut HistogramPool::default(),
        );
        let tree = &grown.tree;
        assert!(!tree.default_left[0], "missing rows belong with the large values");
        assert_eq!(tree.predict(&[f64::NAN]), tree.predict(&[59.0]));
    }
}
