//! Checks of a model's held-out results that catch a model not worth acting on, so that training can say
//! so instead of saving it in silence:
//!
//! - **no better than chance**: the held-out ROC AUC is below [`MIN_USEFUL_AUC`], or its 95% interval
//!   (Hanley & McNeil's standard error, from the numbers of churned and retained rows) reaches down to
//!   0.5. A forest cross-validated on 20 rows with a ROC AUC of 0.5 is one;
//! - **flags almost everyone**: the decision threshold flags more than [`MAX_FLAGGED_SHARE`] of the
//!   held-out rows, which is what a threshold chosen by F1 does when the scores do not separate the
//!   classes;
//! - **too good to be true**: the held-out ROC AUC is at least [`SUSPECT_AUC`]. Churn is never that
//!   predictable from honest features: a column almost surely carries the label (the churn flag left
//!   in a snapshot table, a cancellation date, a status written after the fact).
//!
//! The checks read [`Metrics`] only, so they apply to any kind and any validation.

use crate::metrics::Metrics;
use std::fmt;

/// A held-out ROC AUC below this is called no better than chance, however narrow its interval.
pub const MIN_USEFUL_AUC: f64 = 0.55;
/// A threshold flagging more than this share of the held-out rows is called indiscriminate.
pub const MAX_FLAGGED_SHARE: f64 = 0.9;
/// A held-out ROC AUC from this up is taken for a label leak.
pub const SUSPECT_AUC: f64 = 0.995;
/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Something about a model's held-out results that makes it unfit to act on as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum HeldOutWarning {
    /// The ROC AUC is within noise of 0.5.
    NoBetterThanChance {
        /// The held-out ROC AUC.
        roc_auc: f64,
        /// Its 95% interval.
        interval: (f64, f64),
        /// Held-out rows.
        rows: usize,
        /// Churned rows among them.
        positives: usize,
    },
    /// The ROC AUC is so high that a feature most likely carries the label.
    TooGoodToBeTrue {
        /// The held-out ROC AUC.
        roc_auc: f64,
        /// The feature the model relies on most, when importance was computed.
        main_feature: Option<String>,
    },
    /// The threshold flags nearly every held-out row.
    FlagsAlmostEveryone {
        /// The decision threshold.
        threshold: f64,
        /// Held-out rows flagged.
        flagged: usize,
        /// Held-out rows.
        rows: usize,
    },
}

impl fmt::Display for HeldOutWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBetterThanChance {
                roc_auc,
                interval: (low, high),
                rows,
                positives,
            } => write!(
                f,
                "the model is no better than chance on its held-out rows: ROC AUC {roc_auc:.3}, 95% interval \
                 {low:.3} to {high:.3} ({positives} churned of {rows} rows), below {MIN_USEFUL_AUC} or \
                 within noise of 0.5; it was saved, but do not act on its scores: train on more rows or \
                 better features"
            ),
            Self::TooGoodToBeTrue {
                roc_auc,
                main_feature,
            } => {
                write!(
                    f,
                    "the held-out ROC AUC is {roc_auc:.4}: churn is never that predictable from honest features, \
                     so one most likely carries the label"
                )?;
                if let Some(feature) = main_feature {
                    write!(f, " (the model relies most on `{feature}`)")?;
                }
                f.write_str(
                    "; leave it out (`exclude = [\"...\"]` under [customers] in the features configuration, or \
                     under [preprocess] in --model-config) and train again",
                )
            }
            Self::FlagsAlmostEveryone {
                threshold,
                flagged,
                rows,
            } => write!(
                f,
                "the decision threshold {threshold:.4} flags {flagged} of {rows} held-out rows ({:.0}%, more \
                 than {:.0}%): flagging nearly everyone decides nothing (the scores barely tell churners \
                 apart); consider another --threshold rule (recall:R, fixed:T, profit)",
                100.0 * *flagged as f64 / (*rows).max(1) as f64,
                100.0 * MAX_FLAGGED_SHARE
            ),
        }
    }
}

/// The 95% interval of a ROC AUC measured on `positives` churned and `negatives` retained rows, from
/// Hanley & McNeil's standard error, clipped to [0, 1]. Without rows of both classes it is [0, 1].
pub fn auc_interval(roc_auc: f64, positives: usize, negatives: usize) -> (f64, f64) {
    if positives == 0 || negatives == 0 || !roc_auc.is_finite() {
        return (0.0, 1.0);
    }
    let a = roc_auc;
    let (n1, n0) = (positives as f64, negatives as f64);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let variance = (a * (1.0 - a) + (n1 - 1.0) * (q1 - a * a) + (n0 - 1.0) * (q2 - a * a)) / (n1 * n0);
    let half = Z_95 * variance.max(0.0).sqrt();
    ((a - half).max(0.0), (a + half).min(1.0))
}

/// What is wrong with held-out `metrics`, by the rules of this module; empty for a usable model.
pub fn held_out_warnings(metrics: &Metrics) -> Vec<HeldOutWarning> {
    let mut warnings = Vec::new();
    let negatives = metrics.rows.saturating_sub(metrics.positives);
    let interval = auc_interval(metrics.roc_auc, metrics.positives, negatives);
    // A NaN ROC AUC (rows of one class only) is no use either.
    if metrics.roc_auc.is_nan() || metrics.roc_auc < MIN_USEFUL_AUC || interval.0 <= 0.5 {
        warnings.push(HeldOutWarning::NoBetterThanChance {
            roc_auc: metrics.roc_auc,
            interval,
            rows: metrics.rows,
            positives: metrics.positives,
        });
    }
    if metrics.roc_auc >= SUSPECT_AUC {
        warnings.push(HeldOutWarning::TooGoodToBeTrue {
            roc_auc: metrics.roc_auc,
            main_feature: metrics
                .importance
                .iter()
                .max_by(|a, b| a.auc_drop.total_cmp(&b.auc_drop))
                .map(|i| i.feature.clone()),
        });
    }
    let flagged = metrics.confusion.true_positive + metrics.confusion.false_positive;
    if metrics.rows > 0 && flagged as f64 > MAX_FLAGGED_SHARE * metrics.rows as f64 {
        warnings.push(HeldOutWarning::FlagsAlmostEveryone {
            threshold: metrics.threshold,
            flagged,
            rows: metrics.rows,
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ThresholdRule;

    #[test]
    fn the_interval_narrows_with_rows() {
        // A = 0.8 with 50 of each class: standard error 0.0445 (Hanley & McNeil's formula by hand).
        let (low, high) = auc_interval(0.8, 50, 50);
        assert!(
            ((high - low) / (2.0 * Z_95) - 0.0445).abs() < 0.0005,
            "{low} {high}"
        );
        let (low, high) = auc_interval(0.5, 10, 10);
        assert!(low < 0.3 && high > 0.7);
        let (low, _) = auc_interval(0.58, 5000, 5000);
        assert!(low > 0.56);
        assert_eq!(auc_interval(0.7, 0, 10), (0.0, 1.0));
    }

    fn metrics(labels: &[u8], scores: &[f64]) -> Metrics {
        Metrics::compute(labels, scores, ThresholdRule::MaxF1).expect("metrics")
    }

    #[test]
    fn a_forest_on_twenty_rows_at_chance_is_called_out_twice() {
        // Scores unrelated to labels: ROC AUC 0.5, and max F1 flags everyone but one.
        let labels: Vec<u8> = (0..20).map(|i| u8::from(i % 2 == 0)).collect();
        let mut scores = vec![0.6; 20];
        scores[1] = 0.1;
        let warnings = held_out_warnings(&metrics(&labels, &scores));
        assert!(
            matches!(
                warnings[0],
                HeldOutWarning::NoBetterThanChance {
                    rows: 20,
                    positives: 10,
                    ..
                }
            ),
            "{warnings:?}"
        );
        assert!(
            matches!(
                warnings[1],
                HeldOutWarning::FlagsAlmostEveryone {
                    flagged: 19,
                    rows: 20,
                    ..
                }
            ),
            "{warnings:?}"
        );
        assert!(warnings[0].to_string().contains("no better than chance"));
        assert!(
            warnings[1]
                .to_string()
                .contains("flags 19 of 20 held-out rows (95%")
        );
    }

    #[test]
    fn a_perfect_separation_is_taken_for_a_label_leak() {
        let labels: Vec<u8> = (0..200).map(|i| u8::from(i % 4 == 0)).collect();
        let scores: Vec<f64> = labels.iter().map(|&l| f64::from(l) * 0.8 + 0.1).collect();
        let mut m = metrics(&labels, &scores);
        m.importance = vec![
            crate::metrics::FeatureImportance {
                feature: "tenure".into(),
                auc_drop: 0.01,
                standardised_coefficient: None,
            },
            crate::metrics::FeatureImportance {
                feature: "Churn".into(),
                auc_drop: 0.5,
                standardised_coefficient: None,
            },
        ];
        let warnings = held_out_warnings(&m);
        assert!(
            matches!(&warnings[..], [HeldOutWarning::TooGoodToBeTrue { main_feature: Some(f), .. }] if f == "Churn"),
            "{warnings:?}"
        );
        assert!(warnings[0].to_string().contains("`Churn`"), "{}", warnings[0]);
    }

    #[test]
    fn a_separating_model_on_enough_rows_passes() {
        // 200 rows, churners scored higher with some overlap: ROC AUC about 0.9.
        let labels: Vec<u8> = (0..200).map(|i| u8::from(i % 4 == 0)).collect();
        let scores: Vec<f64> = (0..200)
            .map(|i| {
                if i % 4 == 0 {
                    0.4 + (i % 7) as f64 * 0.05
                } else {
                    (i % 9) as f64 * 0.05
                }
            })
            .collect();
        let m = metrics(&labels, &scores);
        assert!(m.roc_auc > 0.8, "{}", m.roc_auc);
        assert!(held_out_warnings(&m).is_empty(), "{:?}", held_out_warnings(&m));
        // A fair separation on 12 rows (ROC AUC 0.72) is within noise.
        let m = metrics(
            &[1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
            &[0.9, 0.8, 0.7, 0.35, 0.3, 0.2, 0.65, 0.5, 0.4, 0.25, 0.1, 0.05],
        );
        assert!((m.roc_auc - 0.7222).abs() < 1e-3, "{}", m.roc_auc);
        assert!(
            held_out_warnings(&m)
                .iter()
                .any(|w| matches!(w, HeldOutWarning::NoBetterThanChance { .. })),
            "{m:?}"
        );
    }
}
