//! Features that compare a customer with the others at the same as-of date: R/F/M quintile scores and
//! the RFM segment, the value tier, and the lifecycle stage read from thresholds.

use crate::config::{LifecycleParams, ValueTierParams};
use crate::order::{from_total_order, total_order};
use rayon::prelude::*;

/// Scores 1–5 by quintile: a value's score is `1 + ⌊5 · (values ranked below it) / n⌋` among the `n`
/// values of the population it was fitted on, so ties share a score. With `reversed`, smaller values rank
/// higher (recency: fewer days since the last purchase is better). NaN values get NaN.
///
/// Fitted on the whole population of an as-of date, it keeps only the four values where the score steps
/// up, so a block of customers (or a partition of them) is scored exactly as if scored among everyone.
#[derive(Debug, Clone, PartialEq)]
pub struct Quintiles {
    /// For scores 2..=5: the value a customer must pass (exceed, or with `reversed` stay under) to reach
    /// it; `None` when every value reaches it.
    steps: [Option<f64>; 4],
    reversed: bool,
    /// Fitted on no value.
    empty: bool,
}

impl Quintiles {
    /// The quintiles of `values` (NaN values left out).
    pub fn fit(values: &[f64], reversed: bool) -> Self {
        let mut keys: Vec<i64> = values
            .iter()
            .filter(|v| !v.is_nan())
            .map(|&v| total_order(v))
            .collect();
        let n = keys.len();
        let score = |below: usize| (1.0 + (5.0 * below as f64 / n as f64).floor()).min(5.0);
        // Where each step's value stands among the values in ascending order.
        let positions = [2.0, 3.0, 4.0, 5.0].map(|level| {
            // The fewest values ranked below that give `level` (all `n` give 5): the score grows with them.
            let (mut below, mut most) = (0, n);
            while below < most {
                let middle = (below + most) / 2;
                if score(middle) < level {
                    below = middle + 1;
                } else {
                    most = middle;
                }
            }
            match below {
                0 => None,
                _ if reversed => Some(n - below),
                _ => Some(below - 1),
            }
        });
        let steps =
            positions.map(|position| position.map(|p| from_total_order(*keys.select_nth_unstable(p).1)));
        Self {
            steps,
            reversed,
            empty: n == 0,
        }
    }

    /// The score of `value` (NaN for NaN, and for any value when the quintiles were fitted on none).
    pub fn score(&self, value: f64) -> f64 {
        if value.is_nan() || self.empty {
            return f64::NAN;
        }
        let passed = self
            .steps
            .iter()
            .filter(|step| step.is_none_or(|step| if self.reversed { value < step } else { value > step }));
        1.0 + passed.count() as f64
    }
}

/// The RFM segment of a customer from their recency and frequency scores.
pub fn rfm_segment(r: f64, f: f64) -> &'static str {
    if r.is_nan() || f.is_nan() {
        return "no_purchases";
    }
    let (r, f) = (r as u8, f as u8);
    match (r, f) {
        (5, 1) => "new_customers",
        (4..=5, 4..=5) => "champions",
        (3..=5, 3..=5) => "loyal",
        (4..=5, _) => "promising",
        (3, _) => "need_attention",
        (_, 4..=5) => "cant_lose",
        (_, 3) => "at_risk",
        (2, _) => "hibernating",
        _ => "lost",
    }
}

/// Value tiers by share of total spend: sorted by spend, the customers who together bring the first
/// `high_share` of revenue are `high`, the next `medium_share` `medium`, the rest (and everyone without
/// spend, or with an unknown one) `low`. Ties in spend share a tier.
///
/// Fitted on the whole population of an as-of date, it keeps the smallest spend of each tier, so a
/// block of customers gets the tiers it has among everyone.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueTiers {
    /// The smallest spend that is `high`, and that is `medium` or better; `None` when no spend is.
    high_from: Option<f64>,
    medium_from: Option<f64>,
}

impl ValueTiers {
    /// The tiers of `spend` (NaN for unknown).
    pub fn fit(spend: &[f64], params: &ValueTierParams) -> Self {
        // Largest first; unknown, zero and negative values take no part.
        // Positive floats order as their bits do.
        let mut bits: Vec<u64> = spend.iter().filter(|&&v| v > 0.0).map(|v| v.to_bits()).collect();
        bits.par_sort_unstable();
        let sorted: Vec<f64> = bits.into_iter().rev().map(f64::from_bits).collect();
        // Summed in sorted order, so the total does not depend on the order of the customers.
        let total: f64 = sorted.iter().filter(|v| v.is_finite()).sum();
        let mut tiers = Self {
            high_from: None,
            medium_from: None,
        };
        if total <= 0.0 {
            return tiers;
        }
        let mut before = 0.0;
        let mut i = 0;
        while i < sorted.len() {
            let value = sorted[i];
            let share = before / total;
            if share < params.high_share {
                tiers.high_from = Some(value);
            }
            if share < params.high_share + params.medium_share {
                tiers.medium_from = Some(value);
            }
            while i < sorted.len() && sorted[i] == value {
                before += value;
                i += 1;
            }
        }
        tiers
    }

    /// The tier of `spend`.
    pub fn tier(&self, spend: f64) -> &'static str {
        if spend.is_nan() || spend <= 0.0 {
            "low"
        } else if self.high_from.is_some_and(|from| spend >= from) {
            "high"
        } else if self.medium_from.is_some_and(|from| spend >= from) {
            "medium"
        } else {
            "low"
        }
    }
}

/// Every lifecycle stage [`lifecycle_stage`] gives, from the youngest relationship to the oldest silence.
pub const LIFECYCLE_STAGES: [&str; 4] = ["new", "active", "at_risk", "lapsed"];

/// The lifecycle stage from tenure and days since the last activity (one of [`LIFECYCLE_STAGES`]); the
/// engine counts a subscription running at the as-of date as activity on that day.
pub fn lifecycle_stage(tenure_days: f64, days_since_activity: f64, params: &LifecycleParams) -> &'static str {
    if tenure_days < f64::from(params.new_days) {
        "new"
    } else if days_since_activity <= f64::from(params.active_days) {
        "active"
    } else if days_since_activity <= f64::from(params.at_risk_days) {
        "at_risk"
    } else {
        "lapsed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_share_scores_on_ties_and_reverse_recency() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, f64::NAN, 10.0, 11.0, 12.0, 13.0];
        let quintiles = Quintiles::fit(&values, false);
        let scores: Vec<f64> = values.iter().map(|&v| quintiles.score(v)).collect();
        assert_eq!(&scores[..6], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        assert!(scores[6].is_nan());
        assert_eq!(&scores[7..], &[4.0, 4.0, 5.0, 5.0]);
        let days = [0.0, 10.0, 100.0, 1000.0, 5000.0];
        let recency = Quintiles::fit(&days, true);
        let scores: Vec<f64> = days.iter().map(|&v| recency.score(v)).collect();
        assert_eq!(scores, vec![5.0, 4.0, 3.0, 2.0, 1.0]);
    }

    /// Every score is the definition's, `1 + ⌊5 · (values ranked below) / n⌋`, on many ties, negative
    /// values and both directions.
    #[test]
    fn quintile_scores_follow_their_definition() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let values: Vec<f64> = (0..997)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 50 == 0 {
                    f64::NAN
                } else {
                    (state % 41) as f64 - 20.0
                }
            })
            .collect();
        let known: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        for reversed in [false, true] {
            let quintiles = Quintiles::fit(&values, reversed);
            for &v in &known {
                let below = known
                    .iter()
                    .filter(|&&u| if reversed { u > v } else { u < v })
                    .count();
                let expected = (1.0 + (5.0 * below as f64 / known.len() as f64).floor()).min(5.0);
                assert_eq!(quintiles.score(v), expected, "{v}, reversed {reversed}");
            }
        }
    }

    #[test]
    fn segments_follow_the_grid() {
        assert_eq!(rfm_segment(5.0, 5.0), "champions");
        assert_eq!(rfm_segment(5.0, 1.0), "new_customers");
        assert_eq!(rfm_segment(1.0, 5.0), "cant_lose");
        assert_eq!(rfm_segment(1.0, 1.0), "lost");
        assert_eq!(rfm_segment(f64::NAN, 1.0), "no_purchases");
    }

    fn tiers_of(spend: &[f64]) -> Vec<&'static str> {
        let tiers = ValueTiers::fit(spend, &ValueTierParams::default());
        spend.iter().map(|&v| tiers.tier(v)).collect()
    }

    #[test]
    fn value_tiers_split_revenue() {
        // Total 100: the 50 alone reaches half (high), 30 is the next 30% (medium), the rest low.
        let spend = [10.0, 50.0, 30.0, 5.0, 5.0, 0.0];
        let tiers = tiers_of(&spend);
        assert_eq!(tiers, vec!["low", "high", "medium", "low", "low", "low"]);
        // Unknown values (a lifetime value without a fit) rank last, and the others keep their tiers.
        let with_unknown = [f64::NAN, 10.0, 50.0, f64::NAN, 30.0, 5.0, 5.0, 0.0];
        let tiers = tiers_of(&with_unknown);
        assert_eq!(
            tiers,
            vec!["low", "low", "high", "low", "medium", "low", "low", "low"]
        );
    }

    #[test]
    fn lifecycle_thresholds() {
        let params = LifecycleParams::default();
        assert_eq!(lifecycle_stage(10.0, 1.0, &params), "new");
        assert_eq!(lifecycle_stage(400.0, 60.0, &params), "active");
        assert_eq!(lifecycle_stage(400.0, 61.0, &params), "at_risk");
        assert_eq!(lifecycle_stage(400.0, f64::NAN, &params), "lapsed");
        for (tenure, since) in [(10.0, 1.0), (400.0, 60.0), (400.0, 61.0), (400.0, 200.0)] {
            assert!(LIFECYCLE_STAGES.contains(&lifecycle_stage(tenure, since, &params)));
        }
    }
}
