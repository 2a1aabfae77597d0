//! The input of every customer-value model: the BTYD summary of a set of customers (frequency, recency,
//! age, in one period unit), checked once, described in figures for error messages, and compressed into
//! distinct patterns with counts so a likelihood is evaluated once per pattern, not once per customer.

use super::error::ValueError;
use rayon::prelude::*;
use serde::Serialize;

/// The BTYD summary of a set of customers, in one period unit (days, weeks, ...): for each customer the
/// frequency `x` (repeat purchase periods), the recency `t_x` (age at the last purchase) and the age `T`
/// (periods from the first purchase to the end of observation), as `lifetimes` and the papers define them.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    frequency: &'a [f64],
    recency: &'a [f64],
    age: &'a [f64],
}

impl<'a> Summary<'a> {
    /// Checks the columns: equal lengths, at least one customer, every frequency a whole number ≥ 0,
    /// `0 ≤ t_x ≤ T`, and `t_x = 0` when `x = 0`.
    pub fn new(frequency: &'a [f64], recency: &'a [f64], age: &'a [f64]) -> Result<Self, ValueError> {
        if frequency.len() != recency.len() || frequency.len() != age.len() {
            return Err(ValueError::InvalidSummary {
                customer: 0,
                reason: format!(
                    "the columns differ in length: {} frequencies, {} recencies, {} ages",
                    frequency.len(),
                    recency.len(),
                    age.len()
                ),
            });
        }
        if frequency.is_empty() {
            return Err(ValueError::NoCustomers);
        }
        for (customer, ((&x, &t_x), &t)) in frequency.iter().zip(recency).zip(age).enumerate() {
            let reason = if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
                format!("frequency {x} is not a whole number of at least 0")
            } else if !(t_x.is_finite() && t.is_finite() && 0.0 <= t_x && t_x <= t) {
                format!("recency {t_x} and age {t} do not satisfy 0 <= recency <= age")
            } else if x == 0.0 && t_x != 0.0 {
                format!("recency {t_x} with frequency 0 (recency is 0 without repeat purchases)")
            } else {
                continue;
            };
            return Err(ValueError::InvalidSummary { customer, reason });
        }
        Ok(Self {
            frequency,
            recency,
            age,
        })
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    /// Always false: a summary has at least one customer.
    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    /// Frequencies.
    pub fn frequency(&self) -> &'a [f64] {
        self.frequency
    }

    /// Recencies.
    pub fn recency(&self) -> &'a [f64] {
        self.recency
    }

    /// Ages.
    pub fn age(&self) -> &'a [f64] {
        self.age
    }

    /// The figures that describe these data in an error message.
    pub fn figures(&self) -> DataFigures {
        let n = self.len() as f64;
        DataFigures {
            customers: self.len(),
            repeat_customers: self.frequency.iter().filter(|&&x| x > 0.0).count(),
            mean_frequency: self.frequency.iter().sum::<f64>() / n,
            max_frequency: self.frequency.iter().fold(0.0, |m: f64, &x| m.max(x)),
            mean_age: self.age.iter().sum::<f64>() / n,
            max_age: self.age.iter().fold(0.0, |m: f64, &t| m.max(t)),
            mean_spend: None,
        }
    }
}

/// A data set in figures, for the messages of errors about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataFigures {
    /// Customers.
    pub customers: usize,
    /// Customers with at least one repeat purchase.
    pub repeat_customers: usize,
    /// Mean frequency (repeat purchase periods).
    pub mean_frequency: f64,
    /// Largest frequency.
    pub max_frequency: f64,
    /// Mean age (periods since the first purchase).
    pub mean_age: f64,
    /// Largest age.
    pub max_age: f64,
    /// Mean spend per repeat purchase period, for the spend model.
    pub mean_spend: Option<f64>,
}

impl std::fmt::Display for DataFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} customers, {} with repeat purchases, mean frequency {:.3} (largest {})",
            self.customers, self.repeat_customers, self.mean_frequency, self.max_frequency,
        )?;
        // The spend model's data have no ages.
        if !self.mean_age.is_nan() {
            write!(
                f,
                ", mean age {:.3} periods (largest {})",
                self.mean_age, self.max_age
            )?;
        }
        match self.mean_spend {
            Some(spend) => write!(f, ", mean spend per repeat purchase {spend:.3}"),
            None => Ok(()),
        }
    }
}

/// The distinct `(x, t_x, T)` of a summary with the number of customers of each, sorted by `x` (so the
/// terms that depend on `x` alone change rarely along the list), its times possibly rescaled.
pub(crate) struct Patterns {
    /// Frequency.
    pub x: Vec<f64>,
    /// Recency.
    pub recency: Vec<f64>,
    /// Age.
    pub age: Vec<f64>,
    /// Customers with this pattern.
    pub weight: Vec<f64>,
    /// The distinct times (recencies and ages; after [`Patterns::scaled`] two may have become equal),
    /// ascending: a likelihood computes what it needs of each once per evaluation instead of once per
    /// pattern (times in whole days or weeks repeat a lot).
    pub times: Vec<f64>,
    /// Position of each pattern's recency in `times`.
    pub recency_at: Vec<u32>,
    /// Position of each pattern's age in `times`.
    pub age_at: Vec<u32>,
    /// Sum of the weights.
    pub total_weight: f64,
}

impl Patterns {
    /// The patterns of `summary`.
    pub fn new(summary: &Summary<'_>) -> Self {
        // Non-negative floats order as their bit patterns do.
        let mut keys: Vec<[u64; 3]> = (0..summary.len())
            .into_par_iter()
            .map(|i| {
                [
                    summary.frequency[i].to_bits(),
                    summary.recency[i].to_bits(),
                    summary.age[i].to_bits(),
                ]
            })
            .collect();
        keys.par_sort_unstable();
        let mut patterns = Self {
            x: Vec::new(),
            recency: Vec::new(),
            age: Vec::new(),
            weight: Vec::new(),
            total_weight: summary.len() as f64,
            times: Vec::new(),
            recency_at: Vec::new(),
            age_at: Vec::new(),
        };
        let mut previous = None;
        for key in keys {
            if previous == Some(key) {
                if let Some(w) = patterns.weight.last_mut() {
                    *w += 1.0;
                }
                continue;
            }
            previous = Some(key);
            patterns.x.push(f64::from_bits(key[0]));
            patterns.recency.push(f64::from_bits(key[1]));
            patterns.age.push(f64::from_bits(key[2]));
            patterns.weight.push(1.0);
        }
        let mut times: Vec<f64> = patterns.recency.iter().chain(&patterns.age).copied().collect();
        times.par_sort_unstable_by(f64::total_cmp);
        times.dedup();
        let position = |values: &[f64]| -> Vec<u32> {
            values
                .par_iter()
                .map(|v| times.partition_point(|t| t < v) as u32)
                .collect()
        };
        patterns.recency_at = position(&patterns.recency);
        patterns.age_at = position(&patterns.age);
        patterns.times = times;
        patterns
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// The same patterns with every time multiplied by `scale` (> 0). Two distinct times may then become
    /// equal and keep two entries in `times`, which changes no sum over the patterns.
    pub fn scaled(&self, scale: f64) -> Self {
        let times = |values: &[f64]| -> Vec<f64> { values.iter().map(|t| t * scale).collect() };
        Self {
            x: self.x.clone(),
            recency: times(&self.recency),
            age: times(&self.age),
            weight: self.weight.clone(),
            times: times(&self.times),
            recency_at: self.recency_at.clone(),
            age_at: self.age_at.clone(),
            total_weight: self.total_weight,
        }
    }

    /// Every `step`-th pattern (from the first, in pattern order, so spread over all frequencies and
    /// times), with its weight: a smaller data set of the same shape.
    pub fn every(&self, step: usize) -> Self {
        let step = step.max(1);
        let pick = |values: &[f64]| -> Vec<f64> { values.iter().step_by(step).copied().collect() };
        let pick_at = |values: &[u32]| -> Vec<u32> { values.iter().step_by(step).copied().collect() };
        let weight = pick(&self.weight);
        Self {
            x: pick(&self.x),
            recency: pick(&self.recency),
            age: pick(&self.age),
            total_weight: weight.iter().sum(),
            weight,
            times: self.times.clone(),
            recency_at: pick_at(&self.recency_at),
            age_at: pick_at(&self.age_at),
        }
    }
}

/// Patterns per block of a parallel sum: blocks are fixed, and their sums added in order, so a sum is the
/// same on every run whatever the threads do.
const BLOCK: usize = 4096;

/// `Σ f(i)` over `0..n` for a vector-valued `f` (written into its second argument, which it adds to),
/// in parallel blocks added in a fixed order.
pub(crate) fn block_sum<const K: usize>(
    n: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f64; K]) + Sync,
) -> [f64; K] {
    let blocks = n.div_ceil(BLOCK);
    let sums: Vec<[f64; K]> = (0..blocks)
        .into_par_iter()
        .map(|block| {
            let mut sum = [0.0; K];
            f(block * BLOCK..((block + 1) * BLOCK).min(n), &mut sum);
            sum
        })
        .collect();
    let mut total = [0.0; K];
    for sum in sums {
        for (t, s) in total.iter_mut().zip(sum) {
            *t += s;
        }
    }
    total
}

/// The factor lifetimes multiplies times by before fitting, so the oldest customer's age is 10: the
/// likelihood's maximum does not move (rates scale back), but the optimiser starts from parameters of the
/// right size, and a penalty on the parameters means what it means in lifetimes.
pub(crate) fn time_scale(summary: &Summary<'_>) -> f64 {
    let oldest = summary.age.iter().fold(0.0, |m: f64, &t| m.max(t));
    if oldest > 0.0 { 10.0 / oldest } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_summaries_name_the_customer_and_the_reason() {
        let check = |x: &[f64], t_x: &[f64], t: &[f64]| {
            Summary::new(x, t_x, t).map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(check(&[0.0, 2.0], &[0.0, 3.0], &[5.0, 5.0]).is_ok());
        let message = check(&[0.0, 1.5], &[0.0, 3.0], &[5.0, 5.0]).expect_err("fractional frequency");
        assert!(
            message.contains("customer 1") && message.contains("1.5"),
            "{message}"
        );
        assert!(check(&[1.0], &[6.0], &[5.0]).is_err());
        assert!(check(&[0.0], &[1.0], &[5.0]).is_err());
        assert!(check(&[f64::NAN], &[0.0], &[5.0]).is_err());
        assert!(check(&[1.0], &[1.0], &[5.0, 6.0]).is_err());
        assert!(matches!(
            Summary::new(&[], &[], &[]),
            Err(ValueError::NoCustomers)
        ));
    }

    #[test]
    fn patterns_count_customers_with_the_same_summary() {
        let x = [1.0, 0.0, 1.0, 1.0, 0.0];
        let t_x = [2.0, 0.0, 2.0, 3.0, 0.0];
        let t = [4.0, 4.0, 4.0, 4.0, 5.0];
        let summary = Summary::new(&x, &t_x, &t).expect("valid");
        let patterns = Patterns::new(&summary).scaled(0.5);
        assert_eq!(patterns.x, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(patterns.recency, vec![0.0, 0.0, 1.0, 1.5]);
        assert_eq!(patterns.age, vec![2.0, 2.5, 2.0, 2.0]);
        assert_eq!(patterns.weight, vec![1.0, 1.0, 2.0, 1.0]);
        assert_eq!(patterns.total_weight, 5.0);
        assert_eq!(patterns.times, vec![0.0, 1.0, 1.5, 2.0, 2.5]);
        for i in 0..patterns.len() {
            assert_eq!(
                patterns.times[patterns.recency_at[i] as usize],
                patterns.recency[i]
            );
            assert_eq!(patterns.times[patterns.age_at[i] as usize], patterns.age[i]);
        }
    }

    #[test]
    fn block_sums_add_up() {
        let n = 10_000;
        let [sum, count] = block_sum::<2>(n, |range, acc| {
            for i in range {
                acc[0] += i as f64;
                acc[1] += 1.0;
            }
        });
        assert_eq!(sum, (n * (n - 1) / 2) as f64);
        assert_eq!(count, n as f64);
    }
}
