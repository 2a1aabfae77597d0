//! One boosted tree in a flat layout: parallel arrays indexed by node, children by index, root = 0.
//!
//! Arrays instead of boxed nodes keep a tree in a few cache lines and make a loaded artifact plain data
//! whose indices can be checked once ([`BoostedTree::validate`]).

use serde::{Deserialize, Serialize};

/// Marks a leaf in [`BoostedTree::feature`].
pub const LEAF: u32 = u32::MAX;

/// A regression tree on the log-odds scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostedTree {
    /// Encoded column tested at the node, or [`LEAF`].
    pub feature: Vec<u32>,
    /// Rows with `x[feature] <= threshold` go left, larger values right.
    pub threshold: Vec<f64>,
    /// Where a missing (NaN) value goes: learned from the training rows with a missing value, else the
    /// side that took more training rows.
    pub default_left: Vec<bool>,
    /// Left child.
    pub left: Vec<u32>,
    /// Right child.
    pub right: Vec<u32>,
    /// Leaf output added to the raw score (learning rate included); 0 at internal nodes.
    pub value: Vec<f64>,
    /// Training rows (of this tree's sample) that reached the node: the weights TreeSHAP averages with.
    pub cover: Vec<f64>,
}

impl BoostedTree {
    /// A tree that is a single leaf.
    pub(crate) fn leaf_only(value: f64, cover: f64) -> Self {
        let mut tree = Self {
            feature: Vec::new(),
            threshold: Vec::new(),
            default_left: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            value: Vec::new(),
            cover: Vec::new(),
        };
        tree.push_leaf(value, cover);
        tree
    }

    /// Appends a leaf; returns its index.
    pub(crate) fn push_leaf(&mut self, value: f64, cover: f64) -> usize {
        self.feature.push(LEAF);
        self.threshold.push(0.0);
        self.default_left.push(false);
        self.left.push(0);
        self.right.push(0);
        self.value.push(value);
        self.cover.push(cover);
        self.feature.len() - 1
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.feature.len()
    }

    /// Whether `node` is a leaf.
    pub fn is_leaf(&self, node: usize) -> bool {
        self.feature[node] == LEAF
    }

    /// Number of leaves.
    pub fn leaves(&self) -> usize {
        self.feature.iter().filter(|&&f| f == LEAF).count()
    }

    /// The child of internal `node` that `row` goes to.
    pub fn child(&self, node: usize, row: &[f64]) -> usize {
        let value = row[self.feature[node] as usize];
        let left = if value.is_nan() {
            self.default_left[node]
        } else {
            value <= self.threshold[node]
        };
        (if left { self.left[node] } else { self.right[node] }) as usize
    }

    /// The leaf a row falls in.
    pub fn leaf(&self, row: &[f64]) -> usize {
        let mut node = 0;
        while !self.is_leaf(node) {
            node = self.child(node, row);
        }
        node
    }

    /// The tree's output for a row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.value[self.leaf(row)]
    }

    /// The output expected when no feature is known: each split sends its share of the cover to both
    /// children. This is the value TreeSHAP's contributions start from.
    pub fn expected_value(&self) -> f64 {
        self.expected_below(0)
    }

    fn expected_below(&self, node: usize) -> f64 {
        if self.is_leaf(node) {
            return self.value[node];
        }
        let (l, r) = (self.left[node] as usize, self.right[node] as usize);
        (self.cover[l] * self.expected_below(l) + self.cover[r] * self.expected_below(r)) / self.cover[node]
    }

    /// Checks node indices, covers and values so a loaded tree cannot index out of bounds, loop, divide by
    /// zero or make contributions that do not add up.
    pub(crate) fn validate(&self, columns: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0
            || [
                self.threshold.len(),
                self.default_left.len(),
                self.left.len(),
                self.right.len(),
                self.value.len(),
                self.cover.len(),
            ]
            .iter()
            .any(|&len| len != n)
        {
            return Err("inconsistent node arrays".into());
        }
        let mut parents = vec![0usize; n];
        for node in 0..n {
            if !(self.value[node].is_finite() && self.cover[node].is_finite() && self.cover[node] > 0.0) {
                return Err(format!(
                    "node {node} has a non-finite value or a cover that is not positive"
                ));
            }
            if self.is_leaf(node) {
                continue;
            }
            // Children come after their parent, so every path ends.
            let (l, r) = (self.left[node] as usize, self.right[node] as usize);
            if self.feature[node] as usize >= columns
                || l <= node
                || r <= node
                || l >= n
                || r >= n
                || l == r
                || self.threshold[node].is_nan()
            {
                return Err(format!("node {node} is malformed"));
            }
            parents[l] += 1;
            parents[r] += 1;
            let children = self.cover[l] + self.cover[r];
            if (children - self.cover[node]).abs() > 1e-9 * self.cover[node] {
                return Err(format!(
                    "node {node}: the children's covers do not add up to the node's"
                ));
            }
        }
        if parents[0] != 0 || parents[1..].iter().any(|&p| p != 1) {
            return Err("a node has no parent or more than one".into());
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `x0 <= 0.5 ? (x1 <= 1 ? 1 : 2) : 3`, missing x0 going right.
    pub(crate) fn small_tree() -> BoostedTree {
        BoostedTree {
            feature: vec![0, 1, LEAF, LEAF, LEAF],
            threshold: vec![0.5, 1.0, 0.0, 0.0, 0.0],
            default_left: vec![false, true, false, false, false],
            left: vec![1, 3, 0, 0, 0],
            right: vec![2, 4, 0, 0, 0],
            value: vec![0.0, 0.0, 3.0, 1.0, 2.0],
            cover: vec![10.0, 6.0, 4.0, 2.0, 4.0],
        }
    }

    #[test]
    fn rows_follow_thresholds_and_missing_values_the_default_side() {
        let tree = small_tree();
        assert_eq!(tree.predict(&[0.0, 0.0]), 1.0);
        assert_eq!(tree.predict(&[0.5, 2.0]), 2.0);
        assert_eq!(tree.predict(&[0.6, 0.0]), 3.0);
        assert_eq!(tree.predict(&[f64::NAN, 0.0]), 3.0);
        assert_eq!(tree.predict(&[0.0, f64::NAN]), 1.0);
        // (2·1 + 4·2)/6 on the left, weighted 6/10 against 3 on the right.
        assert!((tree.expected_value() - (0.6 * 10.0 / 6.0 + 0.4 * 3.0)).abs() < 1e-12);
        tree.validate(2).expect("valid");
    }

    #[test]
    fn corrupt_trees_are_refused() {
        let mut tree = small_tree();
        tree.left[1] = 9;
        assert!(tree.validate(2).is_err());
        let mut tree = small_tree();
        tree.left[1] = 1;
        assert!(tree.validate(2).is_err());
        let mut tree = small_tree();
        tree.right[1] = 2;
        assert!(tree.validate(2).is_err());
        assert!(small_tree().validate(1).is_err());
        let mut tree = small_tree();
        tree.cover[3] = 0.0;
        assert!(tree.validate(2).is_err());
        let mut tree = small_tree();
        tree.cover[4] = 5.0;
        assert!(tree.validate(2).is_err());
        let mut tree = small_tree();
        tree.value.pop();
        assert!(tree.validate(2).is_err());
    }
}
