//! The ensemble: a logistic regression and gradient-boosted trees fitted on the same rows, their log-odds
//! averaged.
//!
//! The two kinds err differently: the linear model extrapolates smoothly and is hard to overfit, the trees
//! find thresholds and interactions. The mean of their log-odds is usually better ranked and better
//! calibrated than either alone (the usual result of averaging diverse models); `--model auto` keeps it
//! only when it beats every simpler kind's held-out ROC AUC by more than its tie margin. The weights are
//! equal and fixed: nothing is fitted to choose them, so nothing can overfit there. Its reasons cost what
//! gradient boosting's do (TreeSHAP) and a little more.
//!
//! Reasons add up exactly: half of each model's contributions (exact for the logistic regression,
//! TreeSHAP for the trees) with half of each base sum to the ensemble's log-odds.

use crate::boosting::{GradientBoostingModel, GradientBoostingParams};
use crate::error::Result;
use crate::logistic::{LogisticModel, LogisticParams, sigmoid};
use crate::matrix::Matrix;
use crate::model::{ChurnModel, ContributionScale, KindParams, Overrides, ValidationSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Hyperparameters of the ensemble: those of its two members (`[ensemble.logistic]` and
/// `[ensemble.gradient_boosting]` in a model configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    /// The logistic regression's.
    pub logistic: LogisticParams,
    /// The gradient-boosted trees'.
    pub gradient_boosting: GradientBoostingParams,
}

/// A fitted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleModel {
    /// The logistic regression.
    pub logistic: LogisticModel,
    /// The gradient-boosted trees.
    pub gradient_boosting: GradientBoostingModel,
}

impl EnsembleModel {
    /// The ensemble's log-odds of one encoded row: the mean of its members'.
    pub fn logit(&self, row: &[f64]) -> f64 {
        mean(self.logistic.logit(row), self.gradient_boosting.raw_score(row))
    }
}

/// The mean of a member's figure and the other's: how the ensemble combines log-odds and contributions.
fn mean(linear: f64, trees: f64) -> f64 {
    0.5 * (linear + trees)
}

/// Each of the trees' contributions replaced by its mean with the linear model's.
fn average_into(trees: &mut [f64], linear: &[f64]) {
    for (t, &l) in trees.iter_mut().zip(linear) {
        *t = mean(l, *t);
    }
}

impl KindParams for EnsembleParams {
    type Model = EnsembleModel;
    const DESCRIPTION: &'static str =
        "logistic regression and gradient-boosted trees fitted on the same rows, their log-odds averaged";

    fn check(&self) -> Result<()> {
        self.logistic.check()?;
        self.gradient_boosting.check()
    }

    fn fit(
        &self,
        x: &Matrix,
        y: &[u8],
        validation: Option<ValidationSet<'_>>,
        on_step: &(dyn Fn() + Sync),
    ) -> Result<EnsembleModel> {
        let logistic = KindParams::fit(&self.logistic, x, y, None, on_step)?;
        let gradient_boosting = KindParams::fit(&self.gradient_boosting, x, y, validation, on_step)?;
        Ok(EnsembleModel {
            logistic,
            gradient_boosting,
        })
    }

    fn steps(&self) -> u64 {
        KindParams::steps(&self.logistic) + KindParams::steps(&self.gradient_boosting)
    }

    fn uses_validation(&self) -> bool {
        KindParams::uses_validation(&self.gradient_boosting)
    }

    fn apply(&mut self, overrides: &Overrides) -> Vec<&'static str> {
        let unused_by_logistic = KindParams::apply(&mut self.logistic, overrides);
        let unused_by_trees = KindParams::apply(&mut self.gradient_boosting, overrides);
        unused_by_logistic
            .into_iter()
            .filter(|flag| unused_by_trees.contains(flag))
            .collect()
    }
}

impl ChurnModel for EnsembleModel {
    fn predict_encoded(&self, x: &Matrix) -> Vec<f64> {
        let trees = self.gradient_boosting.raw_scores(x);
        trees
            .into_par_iter()
            .enumerate()
            .with_min_len(256)
            .map(|(i, trees)| sigmoid(mean(self.logistic.logit(x.row(i)), trees)))
            .collect()
    }

    fn predict_encoded_row(&self, row: &[f64]) -> f64 {
        sigmoid(self.logit(row))
    }

    fn contributions_encoded(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let (linear_base, linear) = self.logistic.contributions_encoded(row);
        let (trees_base, mut contributions) = self.gradient_boosting.contributions_encoded(row);
        average_into(&mut contributions, &linear);
        (mean(linear_base, trees_base), contributions)
    }

    fn contributions_encoded_batch(&self, x: &Matrix) -> (f64, Matrix) {
        let (linear_base, linear) = self.logistic.contributions_encoded_batch(x);
        let (trees_base, mut contributions) = self.gradient_boosting.contributions_encoded_batch(x);
        average_into(contributions.as_mut_slice(), linear.as_slice());
        (mean(linear_base, trees_base), contributions)
    }

    fn contribution_scale(&self) -> ContributionScale {
        ContributionScale::Logit
    }

    fn check_loaded(&self, columns: usize) -> std::result::Result<(), String> {
        self.logistic.check_loaded(columns)?;
        self.gradient_boosting.check_loaded(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::interaction_data;
    use crate::metrics::roc_auc;

    fn quick() -> EnsembleParams {
        EnsembleParams {
            gradient_boosting: GradientBoostingParams {
                n_rounds: 200,
                learning_rate: 0.1,
                ..GradientBoostingParams::default()
            },
            ..EnsembleParams::default()
        }
    }

    #[test]
    fn the_ensemble_averages_its_members_log_odds_and_its_reasons_add_up_to_them() {
        let (x, y) = interaction_data(3000, 1);
        let (test_x, test_y) = interaction_data(1500, 2);
        let model = KindParams::fit(&quick(), &x, &y, None, &|| {}).expect("fit");
        let predicted = model.predict_encoded(&test_x);
        let (base, batch) = model.contributions_encoded_batch(&test_x);
        for (i, &p) in predicted.iter().enumerate().take(300) {
            let row = test_x.row(i);
            let mean = 0.5 * (model.logistic.logit(row) + model.gradient_boosting.raw_score(row));
            assert_eq!(p.to_bits(), sigmoid(mean).to_bits(), "row {i}");
            let (one_base, contributions) = model.contributions_encoded(row);
            assert_eq!(one_base.to_bits(), base.to_bits());
            assert_eq!(contributions.as_slice(), batch.row(i));
            let total = base + contributions.iter().sum::<f64>();
            assert!((total - mean).abs() < 1e-9, "row {i}: {total} vs {mean}");
        }
        // The interaction the trees find carries the ensemble well above the linear model's chance.
        let auc = roc_auc(&test_y, &predicted).expect("auc");
        let linear = roc_auc(&test_y, &model.logistic.predict(&test_x)).expect("auc");
        assert!(auc > linear + 0.1, "ensemble {auc}, logistic {linear}");
        model.check_loaded(3).expect("valid");
        assert!(model.check_loaded(4).is_err());
    }

    #[test]
    fn overrides_reach_the_member_they_mean_and_bad_members_are_refused() {
        let mut params = EnsembleParams::default();
        let unused = params.apply(&Overrides {
            trees: Some(7),
            max_depth: Some(3),
            ..Overrides::default()
        });
        assert!(unused.is_empty(), "{unused:?}");
        assert_eq!(params.gradient_boosting.n_rounds, 7);
        assert_eq!(params.gradient_boosting.max_depth, 3);
        params.logistic.c = -1.0;
        assert!(KindParams::check(&params).is_err());
        let section: EnsembleParams =
            toml::from_str("[logistic]\nc = 0.5\n[gradient_boosting]\nlearning_rate = 0.05\n").expect("toml");
        assert_eq!(section.logistic.c, 0.5);
        assert_eq!(section.gradient_boosting.learning_rate, 0.05);
        assert!(toml::from_str::<EnsembleParams>("trees = 3\n").is_err());
    }
}
