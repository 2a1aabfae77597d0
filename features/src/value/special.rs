//! Special functions the customer-value models need, in forms that stay finite where the models go:
//! `ln Γ`, digamma, `ln(eᵃ + eᵇ)`, and the Gaussian hypergeometric series after the Euler transformation
//! that keeps frequencies in the thousands from overflowing.

/// Coefficients of the Lanczos approximation with g = 7, n = 9 (about 15 significant digits for
/// positive arguments).
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0` (NaN otherwise).
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx), with sin(πx) > 0 on (0, ½).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS[0];
    for (i, &c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The digamma function ψ(x) = d/dx ln Γ(x) for `x > 0` (NaN otherwise): the recurrence up to 10, then
/// the asymptotic series.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    shift + x.ln() - 0.5 * inv - series
}

/// `ln(eᵃ + eᵇ)` without overflow or underflow.
pub fn ln_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (high, low) = if a >= b { (a, b) } else { (b, a) };
    high + (low - high).exp().ln_1p()
}

/// `ln(eᵃ − eᵇ)` for `a ≥ b`; `-∞` when they are equal (or `b` is the larger by rounding).
pub fn ln_sub_exp(a: f64, b: f64) -> f64 {
    if b >= a {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp_m1()).ln()
}

/// The largest number of terms a series may take before it counts as not converging.
const MAX_TERMS: usize = 1_000_000;

/// Relative size of the last term at which a series stops.
const SERIES_EPSILON: f64 = 1e-17;

/// `Σₖ (a)ₖ (b)ₖ / ((c)ₖ k!) zᵏ` for `0 ≤ z < 1`, summed from `k = start`, whose term is
/// `first_term`: each term is the previous one times `(a+k)(b+k) / ((c+k)(k+1)) · z`, so a caller can sum
/// a tail, or a series with a factor taken out of every term. Terms may have either sign. `None` when
/// the series has not converged within a million terms or met a pole (`c` a whole number ≤ 0).
pub fn hypergeometric_sum(a: f64, b: f64, c: f64, z: f64, start: usize, first_term: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    let mut term = first_term;
    let mut sum = first_term;
    let mut k = start as f64;
    for _ in 0..MAX_TERMS {
        if term == 0.0 {
            return Some(sum);
        }
        let ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        term *= ratio;
        sum += term;
        k += 1.0;
        if !sum.is_finite() {
            return None;
        }
        // Once the ratio is below one it keeps falling towards z (for k past |a|, |b|, |c|), so the tail
        // is at most term · ratio / (1 − ratio).
        if k > a.abs().max(b.abs()).max(c.abs())
            && ratio.abs() < 1.0
            && term.abs() * ratio.abs() <= SERIES_EPSILON * sum.abs() * (1.0 - ratio.abs())
        {
            return Some(sum);
        }
    }
    None
}

/// `ln ₂F₁(a, b; a + 1; z)` for `a > 0`, `b > 0`, `0 ≤ z < 1`: the hypergeometric function in the
/// Pareto/NBD likelihood. By Euler's transformation it equals `(1 − z)^(1 − b) · ₂F₁(1, a + 1 − b; a + 1;
/// z)`, whose terms are positive and shrink at least by `z` each step, however large `a` and `b` are (with
/// `b = r + x`, the direct series' terms grow like `(1 − z)^(−x)` and overflow for frequencies in the
/// hundreds). Returns `ln` of the transformed series; the caller adds `(1 − b) ln(1 − z)` in its own
/// terms, so `1 − z` is never formed by subtraction.
pub fn ln_hypergeometric_pareto(a: f64, b: f64, z: f64) -> Option<f64> {
    hypergeometric_sum(1.0, a + 1.0 - b, a + 1.0, z, 0, 1.0).map(f64::ln)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        // Γ(n) = (n−1)!, Γ(½) = √π, and a large argument against Stirling's series.
        let mut factorial = 1.0f64;
        for n in 1..25 {
            assert!(close(ln_gamma(f64::from(n)), factorial.ln(), 1e-14), "{n}");
            factorial *= f64::from(n);
        }
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-14));
        assert!(close(ln_gamma(1e-3), 6.907_178_885_383_854, 1e-14));
        let x: f64 = 1e6;
        let stirling = (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x);
        assert!(close(ln_gamma(x), stirling, 1e-14));
        assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
    }

    #[test]
    fn digamma_matches_known_values_and_the_derivative_of_ln_gamma() {
        let euler_gamma = 0.577_215_664_901_532_9;
        assert!(close(digamma(1.0), -euler_gamma, 1e-13));
        assert!(close(digamma(0.5), -euler_gamma - 2.0 * 2f64.ln(), 1e-13));
        for x in [0.01, 0.3, 2.5, 7.0, 130.0, 1e5] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(close(digamma(x), numeric, 1e-7), "{x}");
        }
    }

    #[test]
    fn exp_sums_in_logs_stay_finite() {
        assert!(close(ln_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15));
        assert_eq!(ln_add_exp(f64::NEG_INFINITY, -3.0), -3.0);
        assert!(close(ln_sub_exp(2f64.ln(), 0.0), 0.0, 1e-15));
        assert_eq!(ln_sub_exp(1.0, 1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn hypergeometric_series_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1, 0.5, 0.9, 0.99] {
            let series = hypergeometric_sum(1.0, 1.0, 2.0, z, 0, 1.0).expect("converges");
            assert!(close(series, -(1.0 - z).ln() / z, 1e-13), "{z}");
        }
        // ₂F₁(a, b; b; z) = (1 − z)^(−a).
        let series = hypergeometric_sum(3.5, 2.0, 2.0, 0.7, 0, 1.0).expect("converges");
        assert!(close(series, 0.3f64.powf(-3.5), 1e-13));
        // A series that stops: ₂F₁(−2, b; c; z) is a polynomial.
        let polynomial = hypergeometric_sum(-2.0, 1.5, 2.5, 0.4, 0, 1.0).expect("finite");
        let expected = 1.0 - 2.0 * 1.5 / 2.5 * 0.4 + (-2.0 * -1.0) * (1.5 * 2.5) / (2.5 * 3.5 * 2.0) * 0.16;
        assert!(close(polynomial, expected, 1e-14));
        // The Pareto/NBD form: ₂F₁(a, b; a + 1; z) = (1 − z)^(1 − b) · series, against the direct sum.
        let (a, b, z) = (3.2, 1.7, 0.6);
        let direct = hypergeometric_sum(a, b, a + 1.0, z, 0, 1.0)
            .expect("converges")
            .ln();
        let transformed = (1.0 - b) * (1.0 - z).ln() + ln_hypergeometric_pareto(a, b, z).expect("converges");
        assert!(close(transformed, direct, 1e-13));
        // Frequencies in the tens of thousands: finite.
        let big = ln_hypergeometric_pareto(20_000.8, 20_000.2, 0.95).expect("converges");
        assert!(big.is_finite());
        assert!(hypergeometric_sum(1.0, 1.0, 2.0, 1.0, 0, 1.0).is_none());
    }
}
