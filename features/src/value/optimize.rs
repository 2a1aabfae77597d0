//! Minimisation for the maximum-likelihood fits: BFGS with a backtracking line search, over the
//! logarithms of the parameters (so every parameter stays positive), and central-difference gradients
//! for objectives without an analytic one. Deterministic: the same objective gives the same steps.

/// Where a minimisation ended.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// The point (log-parameters).
    pub point: Vec<f64>,
    /// Iterations taken.
    pub iterations: usize,
}

/// Why a minimisation failed, in words for an error message.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The objective is not finite at the starting point.
    NotFiniteAtStart,
    /// A log-parameter ran past ±`LOG_BOUND`: the parameter goes to zero or infinity, the data do not
    /// pin it down.
    RanAway {
        /// Index of the parameter.
        parameter: usize,
        /// Its value when it was stopped.
        value: f64,
    },
    /// No step lowered the objective while the gradient was still large.
    Stalled {
        /// Largest absolute gradient component where it stalled.
        gradient_norm: f64,
    },
    /// The iteration limit was reached.
    IterationLimit {
        /// Largest absolute gradient component at the end.
        gradient_norm: f64,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFiniteAtStart => write!(f, "the likelihood is not finite at the starting point"),
            Self::RanAway { parameter, value } => write!(
                f,
                "parameter {parameter} ran to {:e} without the likelihood reaching a maximum",
                value.exp()
            ),
            Self::Stalled { gradient_norm } => write!(
                f,
                "no step improved the likelihood while its gradient was still {gradient_norm:.3e}"
            ),
            Self::IterationLimit { gradient_norm } => write!(
                f,
                "the iteration limit was reached with the gradient at {gradient_norm:.3e}"
            ),
        }
    }
}

/// A log-parameter beyond this (a parameter below e⁻³⁰ ≈ 1e-13 or above e³⁰ ≈ 1e13) has run away.
const LOG_BOUND: f64 = 30.0;

/// Settings of [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Converged when every gradient component is at most this.
    pub gradient_tolerance: f64,
    /// A stall with the gradient below this still counts as converged (the objective is flat to
    /// rounding there).
    pub stall_tolerance: f64,
    /// Iteration limit.
    pub max_iterations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            gradient_tolerance: 1e-10,
            stall_tolerance: 1e-6,
            max_iterations: 400,
        }
    }
}

/// Minimises `objective` (which returns the value at a point and writes the gradient into its second
/// argument; a non-finite value means "not here") from `start` by BFGS.
pub fn minimize(
    objective: impl Fn(&[f64], &mut [f64]) -> f64,
    start: &[f64],
    settings: Settings,
) -> Result<Minimum, Failure> {
    let n = start.len();
    let mut point = start.to_vec();
    let mut gradient = vec![0.0; n];
    let mut value = objective(&point, &mut gradient);
    if !value.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
        return Err(Failure::NotFiniteAtStart);
    }
    // Inverse Hessian approximation, row-major.
    let mut inverse = identity(n);
    let mut trial = vec![0.0; n];
    let mut trial_gradient = vec![0.0; n];
    let mut direction = vec![0.0; n];
    let mut reset = false;
    for iteration in 0..settings.max_iterations {
        let norm = max_abs(&gradient);
        if norm <= settings.gradient_tolerance {
            return Ok(Minimum {
                point,
                iterations: iteration,
            });
        }
        for i in 0..n {
            direction[i] = -(0..n).map(|j| inverse[i * n + j] * gradient[j]).sum::<f64>();
        }
        let mut slope: f64 = direction.iter().zip(&gradient).map(|(d, g)| d * g).sum();
        if slope >= 0.0 {
            // Not a descent direction: fall back to steepest descent.
            inverse = identity(n);
            for i in 0..n {
                direction[i] = -gradient[i];
            }
            slope = -gradient.iter().map(|g| g * g).sum::<f64>();
        }
        // Keep the first step within a change of 2 in any log-parameter (a factor of e² ≈ 7.4).
        let longest = max_abs(&direction);
        let mut step = if longest > 2.0 { 2.0 / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            for i in 0..n {
                trial[i] = point[i] + step * direction[i];
            }
            let trial_value = objective(&trial, &mut trial_gradient);
            if trial_value.is_finite()
                && trial_gradient.iter().all(|g| g.is_finite())
                && trial_value <= value + 1e-4 * step * slope
            {
                accepted = Some(trial_value);
                break;
            }
            step *= 0.5;
        }
        let Some(trial_value) = accepted else {
            if !reset && inverse != identity(n) {
                // The curvature model may be stale: retry once along the gradient.
                inverse = identity(n);
                reset = true;
                continue;
            }
            if norm <= settings.stall_tolerance {
                return Ok(Minimum {
                    point,
                    iterations: iteration,
                });
            }
            return Err(Failure::Stalled { gradient_norm: norm });
        };
        reset = false;
        if let Some(parameter) = trial.iter().position(|p| p.abs() > LOG_BOUND) {
            return Err(Failure::RanAway {
                parameter,
                value: trial[parameter],
            });
        }
        let s: Vec<f64> = trial.iter().zip(&point).map(|(t, p)| t - p).collect();
        let y: Vec<f64> = trial_gradient.iter().zip(&gradient).map(|(t, g)| t - g).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-300 {
            update_inverse(&mut inverse, &s, &y, sy);
        }
        let improvement = value - trial_value;
        point.copy_from_slice(&trial);
        gradient.copy_from_slice(&trial_gradient);
        value = trial_value;
        // A step that changes nothing representable: the minimum is as close as rounding allows.
        if improvement <= f64::EPSILON * value.abs() && max_abs(&s) <= 1e-14 {
            let norm = max_abs(&gradient);
            if norm <= settings.stall_tolerance {
                return Ok(Minimum {
                    point,
                    iterations: iteration + 1,
                });
            }
        }
    }
    Err(Failure::IterationLimit {
        gradient_norm: max_abs(&gradient),
    })
}

/// Central-difference gradient of `objective` at `point` into `gradient`; returns the value at `point`.
pub fn numeric_gradient(objective: &impl Fn(&[f64]) -> f64, point: &[f64], gradient: &mut [f64]) -> f64 {
    const STEP: f64 = 1e-5;
    let value = objective(point);
    let mut shifted = point.to_vec();
    for i in 0..point.len() {
        shifted[i] = point[i] + STEP;
        let up = objective(&shifted);
        shifted[i] = point[i] - STEP;
        let down = objective(&shifted);
        shifted[i] = point[i];
        gradient[i] = (up - down) / (2.0 * STEP);
    }
    value
}

fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The BFGS update of the inverse Hessian `h` with step `s`, gradient change `y` and `sy = s·y`:
/// `H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ`, `ρ = 1 / sy`.
fn update_inverse(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
        .collect();
    let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_the_rosenbrock_function() {
        let rosenbrock = |p: &[f64]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
        let minimum = minimize(
            |p, g| numeric_gradient(&rosenbrock, p, g),
            &[-1.2, 1.0],
            Settings {
                gradient_tolerance: 1e-8,
                ..Settings::default()
            },
        )
        .expect("converges");
        assert!((minimum.point[0] - 1.0).abs() < 1e-6, "{minimum:?}");
        assert!((minimum.point[1] - 1.0).abs() < 1e-6, "{minimum:?}");
    }

    #[test]
    fn an_unbounded_objective_runs_away_and_says_so() {
        // Decreasing for ever in the first coordinate: no minimum.
        let falling = |p: &[f64]| -p[0] + (p[1] - 1.0).powi(2);
        let failure = minimize(
            |p, g| numeric_gradient(&falling, p, g),
            &[0.0, 0.0],
            Settings::default(),
        )
        .expect_err("no minimum");
        assert!(
            matches!(failure, Failure::RanAway { parameter: 0, .. }),
            "{failure:?}"
        );
    }

    #[test]
    fn a_start_where_the_objective_is_not_finite_is_refused() {
        let failure = minimize(|_, _| f64::NAN, &[0.0], Settings::default()).expect_err("NaN");
        assert_eq!(failure, Failure::NotFiniteAtStart);
    }
}
