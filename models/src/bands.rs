//! Named risk bands that turn a probability into words account managers act on.

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
}
