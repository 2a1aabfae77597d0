//! Reason groups: which input features are given as one reason, their contributions summed.
//!
//! Per-feature contributions of correlated inputs contradict each other (a model may weigh purchase
//! count up and total spend down by about as much), so a single feature's contribution is not a reason a
//! person can act on. Reasons are therefore given per group of features, fitted with the model:
//!
//! - features of one catalog family are in one group (`churn_features::engine::family::Family`:
//!   recency, frequency and spend, returns, basket, tenure, each event type, each static attribute);
//! - two features whose encoded columns (the standardised inputs the model sees: a numeric feature's
//!   value column and missing indicator, a categorical feature's level indicators) have a Pearson
//!   correlation |r| > [`CORRELATION_THRESHOLD`] on the training rows are in one group;
//! - groups are the connected components of both relations (union-find), so no two features correlated
//!   above the threshold are ever given as different reasons.
//!
//! The grouping is stored in the artifact ([`crate::ModelArtifact::reason_groups`]); an artifact without
//! one (written before groups existed) gives one reason per feature.

use crate::matrix::Matrix;
use crate::preprocess::FeatureSchema;
use crate::reason_text::{self, Families, FeatureKind};
use churn_features::engine::family::Family;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The |r| above which two features' encoded columns put them in one reason group.
pub const CORRELATION_THRESHOLD: f64 = 0.8;

/// Rows per parallel task when summing cross products.
const ROWS_PER_TASK: usize = 4096;

/// How a model's input features are grouped into reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonGroups {
    /// The |r| above which correlated features were merged.
    pub threshold: f64,
    /// The groups, in schema order of their first feature; every feature is in exactly one.
    pub groups: Vec<ReasonGroup>,
    /// Each schema feature's catalog kind, parsed from its name on first use, and each group's features
    /// split by family.
    #[serde(skip)]
    kinds: KindCache,
}

/// The schema features' kinds and the groups' families ([`reason_text::families_of`]), computed once per
/// loaded model (not stored, and equal to any other).
#[derive(Debug, Clone, Default)]
struct KindCache(OnceLock<(Vec<FeatureKind>, Vec<Families>)>);

impl PartialEq for KindCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Features given as one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonGroup {
    /// The group's name for people: its families' names joined by ` + `, in the order recency,
    /// frequency and spend, returns, basket, tenure, event types, attributes (e.g. `frequency and spend`,
    /// `recency + frequency and spend`, `login events + page view events`).
    pub label: String,
    /// Indices of its features in the schema's features, ascending.
    pub features: Vec<usize>,
}

impl ReasonGroups {
    /// Groups the schema's features by catalog family and by correlation above
    /// [`CORRELATION_THRESHOLD`] on `x`, the encoded training rows.
    pub fn fit(schema: &FeatureSchema, x: &Matrix) -> Self {
        Self::fit_with(schema, x, CORRELATION_THRESHOLD)
    }

    /// [`ReasonGroups::fit`] with another threshold.
    pub fn fit_with(schema: &FeatureSchema, x: &Matrix, threshold: f64) -> Self {
        let n = schema.features.len();
        let mut sets = UnionFind::new(n);
        let families: Vec<Family> = schema.features.iter().map(|f| Family::of(&f.name)).collect();
        for a in 0..n {
            if let Some(b) = (0..a).find(|&b| families[b] == families[a]) {
                sets.union(a, b);
            }
        }
        for (a, b, _) in correlated_features(schema, x, threshold) {
            sets.union(a, b);
        }
        let mut groups: Vec<ReasonGroup> = Vec::new();
        let mut group_of_root = vec![usize::MAX; n];
        for feature in 0..n {
            let root = sets.find(feature);
            if group_of_root[root] == usize::MAX {
                group_of_root[root] = groups.len();
                groups.push(ReasonGroup {
                    label: String::new(),
                    features: Vec::new(),
                });
            }
            groups[group_of_root[root]].features.push(feature);
        }
        for group in &mut groups {
            let mut seen: Vec<&Family> = group.features.iter().map(|&f| &families[f]).collect();
            seen.sort();
            seen.dedup();
            group.label = seen.iter().map(|f| f.label()).collect::<Vec<_>>().join(" + ");
        }
        Self {
            threshold,
            groups,
            kinds: KindCache::default(),
        }
    }

    /// The catalog kind of each feature of `schema` (the schema these groups were fitted with), parsed
    /// from the names once, and for each group the positions of its features split by family
    /// ([`reason_text::families_of`]).
    pub(crate) fn kinds(&self, schema: &FeatureSchema) -> (&[FeatureKind], &[Families]) {
        let (kinds, families) = self.kinds.0.get_or_init(|| {
            let kinds: Vec<FeatureKind> = schema.features.iter().map(|f| FeatureKind::of(&f.name)).collect();
            let families = self
                .groups
                .iter()
                .map(|group| reason_text::families_of(group.features.iter().map(|&f| &kinds[f])))
                .collect();
            (kinds, families)
        });
        (kinds, families)
    }

    /// The group holding each feature (an index into [`ReasonGroups::groups`]), in schema order.
    pub fn group_of(&self, features: usize) -> Vec<usize> {
        let mut group_of = vec![0; features];
        for (g, group) in self.groups.iter().enumerate() {
            for &feature in &group.features {
                if let Some(slot) = group_of.get_mut(feature) {
                    *slot = g;
                }
            }
        }
        group_of
    }

    /// Checks a loaded grouping against a schema of `features` features: every feature in exactly one
    /// non-empty group, in ascending order, and a name for each group.
    pub(crate) fn validate(&self, features: usize) -> Result<(), String> {
        if !self.threshold.is_finite() {
            return Err(format!(
                "reason groups: threshold {} is not finite",
                self.threshold
            ));
        }
        let mut seen = vec![false; features];
        for group in &self.groups {
            if group.features.is_empty() || group.label.is_empty() {
                return Err("reason groups: a group is empty or has no name".into());
            }
            if group.features.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!(
                    "reason groups: group `{}` is not in schema order",
                    group.label
                ));
            }
            for &feature in &group.features {
                match seen.get_mut(feature) {
                    None => {
                        return Err(format!(
                            "reason groups: group `{}` names feature {feature} but the schema has {features}",
                            group.label
                        ));
                    }
                    Some(true) => {
                        return Err(format!(
                            "reason groups: feature {feature} is in more than one group"
                        ));
                    }
                    Some(slot) => *slot = true,
                }
            }
        }
        match seen.iter().position(|&s| !s) {
            Some(feature) => Err(format!("reason groups: feature {feature} is in no group")),
            None => Ok(()),
        }
    }
}

/// Pairs of features `(a, b, r)` with `a < b` that have encoded columns whose Pearson correlation on
/// the rows of `x` exceeds `threshold` in absolute value; `r` is the largest such correlation in
/// absolute value (with its sign). Constant columns correlate with nothing.
pub fn correlated_features(schema: &FeatureSchema, x: &Matrix, threshold: f64) -> Vec<(usize, usize, f64)> {
    let r = correlations(x);
    let width = x.cols();
    let mut strongest: Vec<((usize, usize), f64)> = Vec::new();
    for j in 0..width {
        for k in j + 1..width {
            let value = r[j * width + k];
            let (a, b) = (schema.columns[j].feature, schema.columns[k].feature);
            if a == b || value.is_nan() || value.abs() <= threshold {
                continue;
            }
            let pair = (a.min(b), a.max(b));
            match strongest.iter_mut().find(|(p, _)| *p == pair) {
                Some((_, best)) if value.abs() > best.abs() => *best = value,
                Some(_) => {}
                None => strongest.push((pair, value)),
            }
        }
    }
    strongest.sort_by_key(|&(pair, _)| pair);
    strongest.into_iter().map(|((a, b), r)| (a, b, r)).collect()
}

/// Pearson correlations of the columns of `x`, row-major `cols × cols` (NaN for constant columns).
/// Partial sums are reduced in a fixed order, so the result does not depend on thread timing.
fn correlations(x: &Matrix) -> Vec<f64> {
    let (rows, width) = (x.rows(), x.cols());
    if rows == 0 || width == 0 {
        return vec![f64::NAN; width * width];
    }
    let n = rows as f64;
    let reduce = |parts: Vec<Vec<f64>>, len: usize| {
        let mut total = vec![0.0; len];
        for part in parts {
            for (t, p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        total
    };
    let chunks = || x.as_slice().par_chunks(ROWS_PER_TASK * width);
    let sums = reduce(
        chunks()
            .map(|chunk| {
                let mut sums = vec![0.0; width];
                for row in chunk.chunks(width) {
                    for (s, v) in sums.iter_mut().zip(row) {
                        *s += v;
                    }
                }
                sums
            })
            .collect(),
        width,
    );
    let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
    let cross = reduce(
        chunks()
            .map(|chunk| {
                let mut cross = vec![0.0; width * width];
                let mut centred = vec![0.0; width];
                for row in chunk.chunks(width) {
                    for ((c, v), m) in centred.iter_mut().zip(row).zip(&means) {
                        *c = v - m;
                    }
                    for j in 0..width {
                        let cj = centred[j];
                        if cj == 0.0 {
                            continue;
                        }
                        let line = &mut cross[j * width..(j + 1) * width];
                        for k in j..width {
                            line[k] += cj * centred[k];
                        }
                    }
                }
                cross
            })
            .collect(),
        width * width,
    );
    let sd: Vec<f64> = (0..width).map(|j| cross[j * width + j].max(0.0).sqrt()).collect();
    // A column whose spread is rounding noise around its mean is constant.
    let tiny = 1e-12 * n.sqrt();
    let mut r = vec![f64::NAN; width * width];
    for j in 0..width {
        for k in j..width {
            let scale = sd[j] * sd[k];
            if sd[j] > tiny && sd[k] > tiny {
                let value = (cross[j * width + k] / scale).clamp(-1.0, 1.0);
                r[j * width + k] = value;
                r[k * width + j] = value;
            }
        }
    }
    r
}

/// Disjoint sets over `0..n` with path halving and union by index (the smaller root wins, so roots are
/// the first feature of each set).
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (low, high) = (ra.min(rb), ra.max(rb));
            self.parent[high] = low;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_match_the_textbook_formula() {
        let x = Matrix::from_vec(
            5,
            3,
            vec![
                1.0, 2.0, 7.0, //
                2.0, 4.1, 7.0, //
                3.0, 5.9, 7.0, //
                4.0, 8.2, 7.0, //
                5.0, 9.8, 7.0,
            ],
        )
        .expect("matrix");
        let r = correlations(&x);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [2.0, 4.1, 5.9, 8.2, 9.8];
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (ma, mb) = (mean(&a), mean(&b));
        let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let var = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
        let want = cov / (var(&a, ma) * var(&b, mb)).sqrt();
        assert!((r[1] - want).abs() < 1e-12, "{} vs {want}", r[1]);
        assert!((r[0] - 1.0).abs() < 1e-12);
        assert!(
            r[2].is_nan() && r[8].is_nan(),
            "a constant column correlates with nothing"
        );
    }

    #[test]
    fn union_find_keeps_the_first_feature_as_root() {
        let mut sets = UnionFind::new(5);
        sets.union(3, 1);
        sets.union(4, 3);
        assert_eq!(sets.find(4), 1);
        assert_eq!(sets.find(0), 0);
        assert_ne!(sets.find(2), sets.find(1));
    }
}
