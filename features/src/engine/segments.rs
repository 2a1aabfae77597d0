//! Features that compare a customer with the others at the same as-of date: R/F/M quintile scores and
//! the RFM segment, the value tier, and the lifecycle stage read from thresholds.

use crate::config::{LifecycleParams, ValueTierParams};
use rayon::prelude::*;

/// Scores 1–5 by quintile: a value's score is `1 + ⌊5 · (values ranked below it) / n⌋`, so ties share a
/// score. With `reversed`, smaller values rank higher (recency: fewer days since the last purchase is
/// better). NaN values get NaN.
pub fn quintile_scores(values: &[f64], reversed: bool) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.par_sort_unstable_by(f64::total_cmp);
    let n = sorted.len() as f64;
    values
        .par_iter()
        .map(|&v| {
            if v.is_nan() {
                return f64::NAN;
            }
            let below = if reversed {
                sorted.len() - sorted.partition_point(|&x| x <= v)
            } else {
                sorted.partition_point(|&x| x < v)
            };
            (1.0 + (5.0 * below as f64 / n).floor()).min(5.0)
        })
        .collect()
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
pub fn value_tiers(spend: &[f64], params: &ValueTierParams) -> Vec<&'static str> {
    let total: f64 = spend.iter().filter(|s| s.is_finite() && **s > 0.0).sum();
    // Largest first, unknown (NaN) values last.
    let mut order: Vec<(f64, usize)> = spend
        .iter()
        .map(|&v| if v.is_nan() { f64::NEG_INFINITY } else { v })
        .zip(0..)
        .collect();
    order.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let order: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    let mut tiers = vec!["low"; spend.len()];
    if total <= 0.0 {
        return tiers;
    }
    let mut before = 0.0;
    let mut i = 0;
    while i < order.len() {
        let value = spend[order[i]];
        if value.is_nan() || value <= 0.0 {
            break;
        }
        let share = before / total;
        let tier = if share < params.high_share {
            "high"
        } else if share < params.high_share + params.medium_share {
            "medium"
        } else {
            "low"
        };
        while i < order.len() && spend[order[i]] == value {
            tiers[order[i]] = tier;
            before += value;
            i += 1;
        }
    }
    tiers
}

/// Every lifecycle stage [`lifecycle_stage`] gives, from the youngest relationship to the oldest silence.
pub const LIFECYCLE_STAGES: [&str; 4] = ["new", "active", "at_risk", "lapsed"];

/// The lifecycle stage from tenure and days since the last activity (one of [`LIFECYCLE_STAGES`]).
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
        let scores = quintile_scores(&values, false);
        assert_eq!(&scores[..6], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        assert!(scores[6].is_nan());
        assert_eq!(&scores[7..], &[4.0, 4.0, 5.0, 5.0]);
        let recency = quintile_scores(&[0.0, 10.0, 100.0, 1000.0, 5000.0], true);
        assert_eq!(recency, vec![5.0, 4.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn segments_follow_the_grid() {
        assert_eq!(rfm_segment(5.0, 5.0), "champions");
        assert_eq!(rfm_segment(5.0, 1.0), "new_customers");
        assert_eq!(rfm_segment(1.0, 5.0), "cant_lose");
        assert_eq!(rfm_segment(1.0, 1.0), "lost");
        assert_eq!(rfm_segment(f64::NAN, 1.0), "no_purchases");
    }

    #[test]
    fn value_tiers_split_revenue() {
        // Total 100: the 50 alone reaches half (high), 30 is the next 30% (medium), the rest low.
        let spend = [10.0, 50.0, 30.0, 5.0, 5.0, 0.0];
        let tiers = value_tiers(&spend, &ValueTierParams::default());
        assert_eq!(tiers, vec!["low", "high", "medium", "low", "low", "low"]);
        // Unknown values (a lifetime value without a fit) rank last, and the others keep their tiers.
        let with_unknown = [f64::NAN, 10.0, 50.0, f64::NAN, 30.0, 5.0, 5.0, 0.0];
        let tiers = value_tiers(&with_unknown, &ValueTierParams::default());
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
