//! Named risk bands that turn a probability into words account managers act on.
//!
//! # Bands and the decision threshold
//!
//! A model's bands agree with its decision threshold: every band lies wholly below the threshold or
//! wholly at or above it, so a customer flagged as above the threshold is never in a band below it, and
//! the flagged customers are exactly those of the bands from the one starting at the threshold upward.
//! Training enforces this rule with [`RiskBands::aligned_to`]: when the threshold falls inside a band,
//! the band boundary nearest to it (on a tie, the lower one; the lowest band's 0 never moves) is moved
//! onto the threshold. Artifacts written before the rule are aligned the same way when loaded, and
//! bands given at scoring time (`churn-trainer score --model-config`) too.

use serde::{Deserialize, Serialize};

/// One band: probabilities from `min_probability` up to the next band's minimum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskBand {
    /// Name shown to people, e.g. `high`.
    pub name: String,
    /// Lowest probability in the band.
    pub min_probability: f64,
}

/// Bands ordered by ascending `min_probability`; the first starts at 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RiskBands(Vec<RiskBand>);

impl Default for RiskBands {
    /// `low` below 0.3, `medium` below 0.6, `high` from 0.6.
    fn default() -> Self {
        Self(vec![
            RiskBand {
                name: "low".into(),
                min_probability: 0.0,
            },
            RiskBand {
                name: "medium".into(),
                min_probability: 0.3,
            },
            RiskBand {
                name: "high".into(),
                min_probability: 0.6,
            },
        ])
    }
}

/// A band boundary moved onto the decision threshold by [`RiskBands::aligned_to`].
#[derive(Debug, Clone, PartialEq)]
pub struct BandShift {
    /// The band whose lower edge moved.
    pub band: String,
    /// Its configured lower edge.
    pub from: f64,
    /// Its lower edge now: the threshold.
    pub to: f64,
}

impl RiskBands {
    /// Bands from `(name, min_probability)` pairs; they are sorted, and must start at 0, have distinct
    /// minimums in [0, 1] and non-empty names.
    pub fn new(bands: Vec<RiskBand>) -> Result<Self, String> {
        let mut bands = bands;
        bands.sort_by(|a, b| a.min_probability.total_cmp(&b.min_probability));
        let bands = Self(bands);
        bands.validate()?;
        Ok(bands)
    }

    /// The bands, lowest first.
    pub fn bands(&self) -> &[RiskBand] {
        &self.0
    }

    /// The name of the band holding `probability`.
    pub fn band(&self, probability: f64) -> &str {
        self.0
            .iter()
            .rev()
            .find(|b| probability >= b.min_probability)
            .or(self.0.first())
            .map_or("", |b| b.name.as_str())
    }

    /// The bands with a boundary at `threshold` (see the [module documentation](self)): unchanged
    /// when a band already starts at it, else the boundary nearest to it (on a tie, the lower one) moved
    /// onto it. Returns the bands and, when a boundary moved, which. Fails when nothing can move: a
    /// single band and a threshold above 0.
    pub fn aligned_to(&self, threshold: f64) -> Result<(Self, Option<BandShift>), String> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(format!("the decision threshold {threshold} is outside [0, 1]"));
        }
        if self.0.iter().any(|band| band.min_probability == threshold) {
            return Ok((self.clone(), None));
        }
        // The band holding the threshold: the last one starting below it (the first starts at 0).
        let holding = self
            .0
            .iter()
            .rposition(|band| band.min_probability < threshold)
            .unwrap_or(0);
        let lower = (holding > 0).then_some(holding);
        let upper = (holding + 1 < self.0.len()).then_some(holding + 1);
        let distance = |i: usize| (self.0[i].min_probability - threshold).abs();
        let moved = match (lower, upper) {
            (Some(l), Some(u)) if distance(u) < distance(l) => u,
            (Some(l), _) => l,
            (None, Some(u)) => u,
            (None, None) => {
                return Err(format!(
                    "risk bands: a single band (`{}`) cannot agree with the decision threshold {threshold}; \
                     give at least two bands",
                    self.0.first().map_or("", |b| b.name.as_str())
                ));
            }
        };
        let mut bands = self.clone();
        let shift = BandShift {
            band: bands.0[moved].name.clone(),
            from: bands.0[moved].min_probability,
            to: threshold,
        };
        bands.0[moved].min_probability = threshold;
        bands.validate()?;
        Ok((bands, Some(shift)))
    }

    /// [`RiskBands::aligned_to`], saying on the log (info) which boundary moved, for `what` (e.g. the
    /// model being trained).
    pub fn aligned_logged(&self, threshold: f64, what: &str) -> Result<Self, String> {
        let (bands, shift) = self.aligned_to(threshold)?;
        if let Some(shift) = shift {
            tracing::info!(
                band = %shift.band,
                from = shift.from,
                to = shift.to,
                "risk band `{}` of {what} now starts at the decision threshold {:.4} (was {}), so that \
                 every band lies wholly below or wholly above the threshold",
                shift.band,
                shift.to,
                shift.from
            );
        }
        Ok(bands)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let Some(first) = self.0.first() else {
            return Err("risk bands: at least one band is needed".into());
        };
        if first.min_probability != 0.0 {
            return Err("risk bands: the lowest band must start at 0".into());
        }
        for pair in self.0.windows(2) {
            if pair[0].min_probability >= pair[1].min_probability {
                return Err("risk bands: minimum probabilities must be distinct and ascending".into());
            }
        }
        for band in &self.0 {
            if band.name.trim().is_empty() || !(0.0..=1.0).contains(&band.min_probability) {
                return Err(format!(
                    "risk bands: band `{}` needs a name and a minimum in [0, 1]",
                    band.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_zero_to_one() {
        let bands = RiskBands::default();
        assert_eq!(bands.band(0.0), "low");
        assert_eq!(bands.band(0.3), "medium");
        assert_eq!(bands.band(0.99), "high");
        let bad = RiskBands::new(vec![RiskBand {
            name: "x".into(),
            min_probability: 0.2,
        }]);
        assert!(bad.is_err());
    }

    fn edges(bands: &RiskBands) -> Vec<f64> {
        bands.bands().iter().map(|b| b.min_probability).collect()
    }

    #[test]
    fn the_nearest_boundary_moves_onto_the_threshold() {
        let band = |name: &str, min_probability| RiskBand {
            name: name.into(),
            min_probability,
        };
        let quarters =
            RiskBands::new(vec![band("low", 0.0), band("medium", 0.25), band("high", 0.75)]).expect("bands");
        // 0.5 lies in `medium` [0.25, 0.75), 0.25 from either boundary: a tie moves the lower.
        let (aligned, shift) = quarters.aligned_to(0.5).expect("aligned");
        assert_eq!(edges(&aligned), [0.0, 0.5, 0.75]);
        assert_eq!(shift.expect("moved").band, "medium");
        let bands = RiskBands::default();
        // 0.4 is nearer 0.3: `medium` starts at 0.4.
        assert_eq!(edges(&bands.aligned_to(0.4).expect("aligned").0), [0.0, 0.4, 0.6]);
        // 0.5 is nearer 0.6: `high` starts at 0.5.
        let (aligned, shift) = bands.aligned_to(0.5).expect("aligned");
        assert_eq!(edges(&aligned), [0.0, 0.3, 0.5]);
        assert_eq!(
            shift,
            Some(BandShift {
                band: "high".into(),
                from: 0.6,
                to: 0.5
            })
        );
        // In the lowest band only its upper boundary can move; in the top band only its lower one.
        assert_eq!(
            edges(&bands.aligned_to(0.05).expect("aligned").0),
            [0.0, 0.05, 0.6]
        );
        assert_eq!(
            edges(&bands.aligned_to(0.95).expect("aligned").0),
            [0.0, 0.3, 0.95]
        );
        // A threshold on a boundary (0 included) changes nothing.
        for threshold in [0.0, 0.3, 0.6] {
            let (aligned, shift) = bands.aligned_to(threshold).expect("aligned");
            assert_eq!(aligned, bands);
            assert!(shift.is_none());
        }
        let single = RiskBands::new(vec![RiskBand {
            name: "all".into(),
            min_probability: 0.0,
        }])
        .expect("bands");
        assert!(single.aligned_to(0.4).is_err());
        assert!(single.aligned_to(0.0).is_ok());
    }

    #[test]
    fn after_alignment_no_band_straddles_the_threshold() {
        let bands = RiskBands::default();
        for step in 0..=1000 {
            let threshold = f64::from(step) / 1000.0;
            let (aligned, _) = bands.aligned_to(threshold).expect("aligned");
            for probe in 0..=1000 {
                let p = f64::from(probe) / 1000.0;
                let band = aligned.band(p);
                let first_flagged = aligned
                    .bands()
                    .iter()
                    .position(|b| b.min_probability >= threshold)
                    .expect("a band starts at the threshold");
                let index = aligned.bands().iter().position(|b| b.name == band).expect("band");
                assert_eq!(
                    index >= first_flagged,
                    p >= threshold,
                    "threshold {threshold}, p {p}, band {band}"
                );
            }
        }
    }
}
