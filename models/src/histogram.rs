//! Histogram binning shared by the tree kinds (random forest and gradient boosting).
//!
//! Every encoded column is cut once into at most 255 quantile bins, so finding a split is a pass over a
//! node's rows adding to a 256-slot histogram, then a scan of the histogram, as LightGBM does. A tree
//! stores the upper edge of the chosen bin as a real-valued threshold, so prediction compares raw encoded
//! values and never needs the bins.

use crate::matrix::Matrix;
use rayon::prelude::*;

/// The bin of a missing (NaN) value. Real values use bins `0..=edges.len()`, at most 254 with 255 bins, so
/// the last slot of a 256-slot histogram is free for them and a tree can learn where they go.
pub const MISSING_BIN: u8 = u8::MAX;

/// Rows sampled to find bin edges at most.
const BINNING_SAMPLE: usize = 200_000;

/// Every column cut into quantile bins: `bins[col][row]`, and `thresholds[col][b]` the upper edge of bin `b`
/// (a row is in bin `b` when `x <= thresholds[b]` and above the previous edge). Columns are stored one after
/// the other so a histogram pass over one column reads one contiguous array.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedColumns {
    /// Bin of each row, per column.
    pub bins: Vec<Vec<u8>>,
    /// Upper edges of the bins, per column (the last bin has no edge).
    pub thresholds: Vec<Vec<f64>>,
    /// Whether each column has a missing value among the binned rows.
    pub has_missing: Vec<bool>,
}

impl BinnedColumns {
    /// Bins every column of `x` into at most `max_bins` bins (edges from an evenly spaced sample of at
    /// most 200,000 rows); NaN goes to [`MISSING_BIN`].
    pub fn new(x: &Matrix, max_bins: usize) -> Self {
        let n = x.rows();
        let stride = n.div_ceil(BINNING_SAMPLE).max(1);
        let columns: Vec<(Vec<u8>, Vec<f64>, bool)> = (0..x.cols())
            .into_par_iter()
            .map(|j| {
                let mut sample: Vec<f64> = (0..n)
                    .step_by(stride)
                    .map(|i| x.get(i, j))
                    .filter(|v| !v.is_nan())
                    .collect();
                sample.sort_by(f64::total_cmp);
                let edges = bin_edges(&sample, max_bins);
                let mut has_missing = false;
                let bins = (0..n)
                    .map(|i| {
                        let value = x.get(i, j);
                        if value.is_nan() {
                            has_missing = true;
                            MISSING_BIN
                        } else {
                            edges.partition_point(|&e| e < value) as u8
                        }
                    })
                    .collect();
                (bins, edges, has_missing)
            })
            .collect();
        let mut binned = Self {
            bins: Vec::with_capacity(columns.len()),
            thresholds: Vec::with_capacity(columns.len()),
            has_missing: Vec::with_capacity(columns.len()),
        };
        for (bins, edges, missing) in columns {
            binned.bins.push(bins);
            binned.thresholds.push(edges);
            binned.has_missing.push(missing);
        }
        binned
    }

    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.bins.len()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.bins.first().map_or(0, Vec::len)
    }
}

/// Upper edges of at most `max_bins` bins over sorted values: midpoints between neighbouring distinct
/// values when there are few of them, quantiles otherwise. The last bin has no edge (it takes the rest),
/// so there are at most `max_bins - 1` edges.
pub fn bin_edges(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<f64> = sorted.to_vec();
    distinct.dedup();
    if distinct.len() <= max_bins {
        return distinct.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2.0).collect();
    }
    let mut edges: Vec<f64> = (1..max_bins)
        .map(|k| sorted[k * sorted.len() / max_bins])
        .collect();
    edges.dedup();
    // The largest value must fall in the last bin, not on an edge.
    if edges.last() == distinct.last() {
        edges.pop();
    }
    edges
}

/// Rows from which a partition is shared out among the cores.
const PARALLEL_PARTITION_ROWS: usize = 64 * 1024;

/// Moves the rows satisfying `left` to the front, keeping the order within each side (so later passes
/// read the columns front to back); returns how many there are. Both tree kinds split a node's rows so.
/// Large row sets are cut into one piece per core, each partitioned on its own and the pieces' sides
/// then put together in order, so the result is the same for any number of cores.
pub(crate) fn stable_partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    left: impl Fn(u32) -> bool + Sync,
) -> usize {
    scratch.clear();
    scratch.resize(rows.len(), 0);
    let pieces = rayon::current_num_threads();
    if rows.len() < PARALLEL_PARTITION_ROWS || pieces < 2 {
        let (lefts, rights) = partition_piece(rows, scratch, &left);
        rows[lefts..].copy_from_slice(&scratch[..rights]);
        return lefts;
    }
    let piece = rows.len().div_ceil(pieces);
    let counts: Vec<(usize, usize)> = rows
        .par_chunks_mut(piece)
        .zip(scratch.par_chunks_mut(piece))
        .map(|(rows, rights)| partition_piece(rows, rights, &left))
        .collect();
    // Each piece holds its left rows at its front and its right rows in its part of `scratch`: the
    // left rows move together to the front, the right rows follow them.
    let mut next = 0;
    for (k, &(lefts, _)) in counts.iter().enumerate() {
        rows.copy_within(k * piece..k * piece + lefts, next);
        next += lefts;
    }
    let total_lefts = next;
    for (k, &(_, rights)) in counts.iter().enumerate() {
        rows[next..next + rights].copy_from_slice(&scratch[k * piece..k * piece + rights]);
        next += rights;
    }
    total_lefts
}

/// Compacts the rows satisfying `left` to the front of `rows` and writes the others to the front of
/// `rights` (as long as `rows`), both in order; returns how many of each. Every row is written to both
/// places and only the count of its side advances, so there is no branch on the outcome to mispredict.
fn partition_piece(rows: &mut [u32], rights: &mut [u32], left: &impl Fn(u32) -> bool) -> (usize, usize) {
    let (mut lefts, mut others) = (0, 0);
    for i in 0..rows.len() {
        let r = rows[i];
        let goes_left = left(r);
        rows[lefts] = r;
        rights[others] = r;
        lefts += usize::from(goes_left);
        others += usize::from(!goes_left);
    }
    (lefts, others)
}

/// Test data for the tree kinds: two informative columns with an interaction (churn probability 0.8 when
/// both have the same sign, else 0.2, so the Bayes-optimal ROC AUC is 0.8) and one noise column.
#[cfg(test)]
pub(crate) fn interaction_data(n: usize, seed: u64) -> (crate::matrix::Matrix, Vec<u8>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(n * 3);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let a: f64 = rng.random_range(-1.0..1.0);
        let b: f64 = rng.random_range(-1.0..1.0);
        let noise: f64 = rng.random_range(-1.0..1.0);
        let p = if a * b > 0.0 { 0.8 } else { 0.2 };
        y.push(u8::from(rng.random::<f64>() < p));
        data.extend([a, b, noise]);
    }
    (crate::matrix::Matrix::from_vec(n, 3, data).expect("shape"), y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_shared_among_cores_keeps_both_sides_in_order() {
        let goes_left = |r: u32| r.wrapping_mul(2_654_435_761).is_multiple_of(3);
        for n in [0, 10, PARALLEL_PARTITION_ROWS * 3 + 17] {
            let original: Vec<u32> = (0..n as u32).map(|i| i * 2 + 1).collect();
            let expected: Vec<u32> = original
                .iter()
                .filter(|&&r| goes_left(r))
                .chain(original.iter().filter(|&&r| !goes_left(r)))
                .copied()
                .collect();
            let lefts = original.iter().filter(|&&r| goes_left(r)).count();
            for threads in [1, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                let mut rows = original.clone();
                let found = pool.install(|| stable_partition(&mut rows, &mut Vec::new(), goes_left));
                assert_eq!(found, lefts, "{n} rows on {threads} threads");
                assert_eq!(rows, expected, "{n} rows on {threads} threads");
            }
        }
    }

    #[test]
    fn bin_edges_split_distinct_values_and_quantiles() {
        assert_eq!(bin_edges(&[0.0, 0.0, 1.0, 1.0, 3.0], 255), vec![0.5, 2.0]);
        let many: Vec<f64> = (0..1000).map(f64::from).collect();
        let edges = bin_edges(&many, 4);
        assert_eq!(edges, vec![250.0, 500.0, 750.0]);
        assert!(bin_edges(&[2.0, 2.0], 255).is_empty());
    }

    #[test]
    fn a_value_is_in_the_bin_whose_edge_bounds_it_and_nan_in_the_missing_bin() {
        let x = Matrix::from_vec(5, 1, vec![0.0, 1.0, f64::NAN, 3.0, 1.0]).expect("shape");
        let binned = BinnedColumns::new(&x, 255);
        assert_eq!(binned.thresholds[0], vec![0.5, 2.0]);
        assert_eq!(binned.bins[0], vec![0, 1, MISSING_BIN, 2, 1]);
        assert_eq!(binned.has_missing, vec![true]);
        for (row, &bin) in binned.bins[0].iter().enumerate() {
            let value = x.get(row, 0);
            if let Some(&edge) = binned.thresholds[0].get(bin as usize) {
                assert!(value <= edge);
            }
        }
    }
}
