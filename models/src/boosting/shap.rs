//! Path-dependent TreeSHAP (Lundberg, Erion and Lee 2018, "Consistent individualized feature attribution
//! for tree ensembles", Algorithm 2), as LightGBM's `pred_contrib` and the `shap` package compute it.
//!
//! The value of a set `S` of known features is the tree's output when features in `S` follow the row and
//! every other split sends the row down both sides, weighted by the training cover of each side. The
//! Shapley values of that game add up exactly: `expected_value + Σ contributions = tree output`. The
//! algorithm tracks, along the path from the root, the fraction of all feature orderings in which each
//! path feature is "known" (`one`) or not (`zero`), in polynomial time instead of over `2^M` subsets.

use super::tree::BoostedTree;

/// One feature on the path from the root: the fractions of the paths that flow through when it is
/// unknown (`zero`) and known (`one`), and the permutation weight of subsets of that size.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    /// The feature, or `usize::MAX` for the root's placeholder.
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Adds the SHAP values of `row` through `tree` to `contributions` (one slot per encoded column).
///
/// Computed by a one-pass algorithm (Gauss–Legendre quadrature of the Shapley weights, see the crate's
/// `boosting::fast_shap` module) after preparing the tree, which a model does once for all rows; trees
/// too deep for it use Algorithm 2 itself ([`add_tree_shap_reference`]).
pub fn add_tree_shap(tree: &BoostedTree, row: &[f64], contributions: &mut [f64]) {
    match super::fast_shap::ShapTree::new(tree, contributions.len()) {
        Some(prepared) => {
            prepared.add(row, contributions, &mut super::fast_shap::Scratch::default());
        }
        None => add_tree_shap_reference(tree, row, contributions),
    }
}

/// [`add_tree_shap`] by Algorithm 2 itself: the reference the faster algorithm is tested against, and
/// what explains trees it does not take.
pub fn add_tree_shap_reference(tree: &BoostedTree, row: &[f64], contributions: &mut [f64]) {
    // A path is at most (depth + 2) long; each recursion level keeps its own copy after the parent's.
    let mut path = Vec::with_capacity(64);
    recurse(tree, row, contributions, 0, &mut path, 0, 1.0, 1.0, usize::MAX);
}

/// Algorithm 2's RECURSE: `path[start..]` is the path down to `node` (copied from the caller's), extended
/// here with the feature of the split that led to `node`.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &BoostedTree,
    row: &[f64],
    contributions: &mut [f64],
    node: usize,
    path: &mut Vec<PathElement>,
    start: usize,
    zero: f64,
    one: f64,
    feature: usize,
) {
    extend(path, start, zero, one, feature);
    let depth = path.len() - start - 1;
    if tree.is_leaf(node) {
        let value = tree.value[node];
        for i in 1..=depth {
            let element = path[start + i];
            let weight = unwound_sum(&path[start..], i);
            contributions[element.feature] += weight * (element.one - element.zero) * value;
        }
        return;
    }
    let split_feature = tree.feature[node] as usize;
    let hot = tree.child(node, row);
    let (left, right) = (tree.left[node] as usize, tree.right[node] as usize);
    let cold = if hot == left { right } else { left };
    // A feature met again on the path is unwound first, so it appears once with its combined fractions.
    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    let mut depth = depth;
    if let Some(k) = (1..=depth).find(|&k| path[start + k].feature == split_feature) {
        incoming_zero = path[start + k].zero;
        incoming_one = path[start + k].one;
        unwind(path, start, k);
        depth -= 1;
    }
    let cover = tree.cover[node];
    for (child, one) in [(hot, incoming_one), (cold, 0.0)] {
        let next = path.len();
        path.extend_from_within(start..start + depth + 1);
        recurse(
            tree,
            row,
            contributions,
            child,
            path,
            next,
            incoming_zero * tree.cover[child] / cover,
            one,
            split_feature,
        );
        path.truncate(next);
    }
}

/// Algorithm 2's EXTEND: appends a feature to `path[start..]` and updates the permutation weights of
/// every subset size.
fn extend(path: &mut Vec<PathElement>, start: usize, zero: f64, one: f64, feature: usize) {
    let l = path.len() - start;
    path.push(PathElement {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    });
    let m = &mut path[start..];
    let scale = (l + 1) as f64;
    for i in (0..l).rev() {
        m[i + 1].weight += one * m[i].weight * (i + 1) as f64 / scale;
        m[i].weight = zero * m[i].weight * (l - i) as f64 / scale;
    }
}

/// Algorithm 2's UNWIND: removes element `i` of `path[start..]`, undoing its [`extend`].
fn unwind(path: &mut Vec<PathElement>, start: usize, i: usize) {
    let m = &mut path[start..];
    let l = m.len() - 1;
    let (one, zero) = (m[i].one, m[i].zero);
    let mut next = m[l].weight;
    let scale = (l + 1) as f64;
    for j in (0..l).rev() {
        if one != 0.0 {
            let kept = m[j].weight;
            m[j].weight = next * scale / ((j + 1) as f64 * one);
            next = kept - m[j].weight * zero * (l - j) as f64 / scale;
        } else {
            m[j].weight = m[j].weight * scale / (zero * (l - j) as f64);
        }
    }
    for j in i..l {
        m[j].feature = m[j + 1].feature;
        m[j].zero = m[j + 1].zero;
        m[j].one = m[j + 1].one;
    }
    path.pop();
}

/// The total permutation weight of `path` with element `i` unwound, without changing `path`.
fn unwound_sum(path: &[PathElement], i: usize) -> f64 {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let scale = (l + 1) as f64;
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[l].weight;
        for j in (0..l).rev() {
            let weight = next * scale / ((j + 1) as f64 * one);
            total += weight;
            next = path[j].weight - weight * zero * (l - j) as f64 / scale;
        }
    } else {
        for j in (0..l).rev() {
            total += path[j].weight * scale / (zero * (l - j) as f64);
        }
    }
    total
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::tree::{BoostedTree, LEAF};
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// A random tree over `features` columns, with covers that add up and repeated features on paths.
    pub(crate) fn random_tree(rng: &mut StdRng, features: usize, max_depth: usize) -> BoostedTree {
        let root_cover = rng.random_range(50.0..500.0_f64).round();
        let mut tree = BoostedTree::leaf_only(rng.random_range(-1.0..1.0), root_cover);
        let mut stack = vec![(0usize, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            let cover = tree.cover[node];
            if depth >= max_depth || cover < 2.0 || (depth > 0 && rng.random::<f64>() < 0.25) {
                continue;
            }
            let left_cover = (cover * rng.random_range(0.05..0.95_f64))
                .round()
                .clamp(1.0, cover - 1.0);
            let left = tree.push_leaf(rng.random_range(-1.0..1.0), left_cover);
            let right = tree.push_leaf(rng.random_range(-1.0..1.0), cover - left_cover);
            tree.feature[node] = rng.random_range(0..features) as u32;
            tree.threshold[node] = rng.random_range(-1.0..1.0);
            tree.default_left[node] = rng.random();
            tree.value[node] = 0.0;
            tree.left[node] = left as u32;
            tree.right[node] = right as u32;
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
        tree
    }

    /// The path-dependent value of knowing the features in `known` (a bit set).
    fn value_of(tree: &BoostedTree, row: &[f64], known: u32, node: usize) -> f64 {
        if tree.feature[node] == LEAF {
            return tree.value[node];
        }
        let feature = tree.feature[node] as usize;
        if known & (1 << feature) != 0 {
            return value_of(tree, row, known, tree.child(node, row));
        }
        let (l, r) = (tree.left[node] as usize, tree.right[node] as usize);
        (tree.cover[l] * value_of(tree, row, known, l) + tree.cover[r] * value_of(tree, row, known, r))
            / tree.cover[node]
    }

    /// Shapley values by enumerating every subset of the other features.
    fn brute_force(tree: &BoostedTree, row: &[f64], features: usize) -> Vec<f64> {
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let total = factorial(features);
        (0..features)
            .map(|i| {
                let mut phi = 0.0;
                for subset in 0u32..(1 << features) {
                    if subset & (1 << i) != 0 {
                        continue;
                    }
                    let size = subset.count_ones() as usize;
                    let weight = factorial(size) * factorial(features - size - 1) / total;
                    phi +=
                        weight * (value_of(tree, row, subset | (1 << i), 0) - value_of(tree, row, subset, 0));
                }
                phi
            })
            .collect()
    }

    #[test]
    fn equals_brute_force_shapley_values_and_adds_up_on_random_trees() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut checked = 0;
        for case in 0..300 {
            let features = 1 + case % 8;
            let tree = random_tree(&mut rng, features, 1 + case % 7);
            tree.validate(features).expect("random tree is well formed");
            for _ in 0..4 {
                let row: Vec<f64> = (0..features)
                    .map(|_| {
                        if rng.random::<f64>() < 0.1 {
                            f64::NAN
                        } else {
                            rng.random_range(-1.2..1.2)
                        }
                    })
                    .collect();
                let mut contributions = vec![0.0; features];
                add_tree_shap(&tree, &row, &mut contributions);
                let expected = brute_force(&tree, &row, features);
                for (f, (ours, exact)) in contributions.iter().zip(&expected).enumerate() {
                    assert!(
                        (ours - exact).abs() < 1e-9,
                        "case {case} feature {f}: {ours} vs brute force {exact}"
                    );
                }
                let total = tree.expected_value() + contributions.iter().sum::<f64>();
                assert!((total - tree.predict(&row)).abs() < 1e-9, "case {case}: {total}");
                checked += 1;
            }
        }
        assert_eq!(checked, 1200);
    }

    #[test]
    fn a_single_split_gives_its_whole_effect_to_its_feature() {
        let mut tree = BoostedTree::leaf_only(0.0, 4.0);
        let left = tree.push_leaf(-1.0, 1.0);
        let right = tree.push_leaf(3.0, 3.0);
        tree.feature[0] = 1;
        tree.left[0] = left as u32;
        tree.right[0] = right as u32;
        let mut contributions = vec![0.0; 2];
        add_tree_shap(&tree, &[0.0, -1.0], &mut contributions);
        // Expected value (−1 + 9)/4 = 2; the row gets −1.
        assert_eq!(contributions[0], 0.0);
        assert!((contributions[1] + 3.0).abs() < 1e-12, "{contributions:?}");
    }
}
