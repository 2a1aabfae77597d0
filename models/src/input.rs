//! Model inputs: the feature table of `churn-features`, or one row given as feature name → value (what a
//! request to the server carries). Both are read through [`RawInput`] so preprocessing has one code path.

use crate::error::{ModelError, Result};
use churn_features::{ColumnRole, ColumnValues, FeatureTable};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// One raw feature value, before preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    /// A number, for a numeric feature.
    Number(f64),
    /// A category, for a categorical feature.
    Text(String),
    /// A missing value (imputed as in training).
    Missing,
}

/// Numbers are shown with at most this many significant digits (see [`display_number`]).
pub const DISPLAY_SIGNIFICANT_DIGITS: usize = 6;

/// A number as people read it: rounded to [`DISPLAY_SIGNIFICANT_DIGITS`] significant digits, with no
/// trailing zeros and no exponent, so a sum stored as `67.89999999999999` reads `67.9`. Whole-number
/// digits are never rounded away: a value of a million or more is shown to the unit (`1234568`). NaN
/// and infinities read `NaN`, `inf` and `-inf`; `-0` reads `0`.
pub fn display_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 10f64.powi(DISPLAY_SIGNIFICANT_DIGITS as i32) {
        return value.round().to_string();
    }
    if value == value.trunc() {
        // A whole number below the bound has no more digits than are shown (most counts and days);
        // the cast reads -0 as 0.
        return (value as i64).to_string();
    }
    // Scientific notation rounds to the significant digits. The double nearest that decimal prints
    // as the decimal itself (it has far fewer digits than a double holds), so it is written out in
    // place, without parsing it back; but a subnormal holds fewer digits than are shown, and the double
    // nearest the decimal may print shorter.
    let scientific = format!("{value:.*e}", DISPLAY_SIGNIFICANT_DIGITS - 1);
    if value.abs() < f64::MIN_POSITIVE {
        let rounded: f64 = scientific.parse().expect("a number Rust wrote parses");
        return rounded.to_string();
    }
    positional(&scientific)
}

/// A number in Rust's scientific notation (`-1.23450e-3`) written positionally, trailing zeros of the
/// fraction dropped (`-0.0012345`).
fn positional(scientific: &str) -> String {
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("scientific notation has an exponent");
    let exponent: i64 = exponent.parse().expect("an exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut text = String::with_capacity(sign.len() + digits.len() + exponent.unsigned_abs() as usize + 2);
    text.push_str(sign);
    if exponent < 0 {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
        text.push_str(digits);
    } else {
        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            text.push_str(digits);
            text.extend(std::iter::repeat_n('0', whole - digits.len()));
        } else {
            text.push_str(&digits[..whole]);
            text.push('.');
            text.push_str(&digits[whole..]);
        }
    }
    text
}

/// Text for people: numbers through [`display_number`], categories as they are, `missing` for a
/// missing value. Reasons show values this way (in `churn-trainer score` files and `churn-server`
/// answers); the exact numbers stay in the feature table.
impl fmt::Display for FeatureValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(value) => f.write_str(&display_number(*value)),
            Self::Text(value) => f.write_str(value),
            Self::Missing => f.write_str("missing"),
        }
    }
}

impl From<f64> for FeatureValue {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}

impl From<&str> for FeatureValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<Option<f64>> for FeatureValue {
    fn from(value: Option<f64>) -> Self {
        value.map_or(Self::Missing, Self::Number)
    }
}

/// One customer's features by name, e.g. from a scoring request. Every feature of the model's schema must
/// be present (use [`FeatureValue::Missing`] for an unknown value); names the model does not use are
/// ignored.
pub type FeatureRow = HashMap<String, FeatureValue>;

/// A feature's values as the preprocessing reads them.
pub(crate) enum RawColumn<'a> {
    /// Numbers (None = missing).
    Numeric(NumericSource<'a>),
    /// Categories (None = missing).
    Categorical(CategoricalSource<'a>),
    /// A single missing value of either type.
    Missing,
}

impl RawColumn<'_> {
    /// The value at `row`, for display in reasons.
    pub(crate) fn value(&self, row: usize) -> FeatureValue {
        match self {
            Self::Numeric(source) => source.get(row).into(),
            Self::Categorical(source) => source
                .get(row)
                .map_or(FeatureValue::Missing, |s| FeatureValue::Text(s.to_string())),
            Self::Missing => FeatureValue::Missing,
        }
    }

    /// The type's name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Numeric(_) => "a number",
            Self::Categorical(_) => "text",
            Self::Missing => "a missing value",
        }
    }
}

/// Numbers of one feature: a table column or a single value.
pub(crate) enum NumericSource<'a> {
    Column(&'a [Option<f64>]),
    Single(Option<f64>),
}

/// Categories of one feature: a table column or a single value.
pub(crate) enum CategoricalSource<'a> {
    Column(&'a [Option<String>]),
    Single(Option<&'a str>),
}

impl NumericSource<'_> {
    pub(crate) fn get(&self, row: usize) -> Option<f64> {
        match self {
            Self::Column(values) => values[row],
            Self::Single(value) => *value,
        }
    }
}

impl CategoricalSource<'_> {
    pub(crate) fn get(&self, row: usize) -> Option<&str> {
        match self {
            Self::Column(values) => values[row].as_deref(),
            Self::Single(value) => *value,
        }
    }
}

/// Something with rows of raw features that can be looked up by name.
pub(crate) trait RawInput {
    /// The column called `name`, or an error saying it is missing.
    fn column(&self, name: &str) -> Result<RawColumn<'_>>;
}

impl RawInput for FeatureTable {
    fn column(&self, name: &str) -> Result<RawColumn<'_>> {
        let column = FeatureTable::column(self, name).ok_or_else(|| ModelError::MissingFeature {
            feature: name.to_string(),
        })?;
        if column.values.len() != self.len() {
            return Err(ModelError::LengthMismatch {
                what: format!("feature column `{name}`"),
                expected: self.len(),
                found: column.values.len(),
            });
        }
        Ok(match &column.values {
            ColumnValues::Numeric(values) => RawColumn::Numeric(NumericSource::Column(values)),
            ColumnValues::Categorical(values) => RawColumn::Categorical(CategoricalSource::Column(values)),
        })
    }
}

impl RawInput for FeatureRow {
    fn column(&self, name: &str) -> Result<RawColumn<'_>> {
        let value = self.get(name).ok_or_else(|| ModelError::MissingFeature {
            feature: name.to_string(),
        })?;
        Ok(match value {
            FeatureValue::Number(number) => RawColumn::Numeric(NumericSource::Single(Some(*number))),
            FeatureValue::Text(text) => RawColumn::Categorical(CategoricalSource::Single(Some(text))),
            FeatureValue::Missing => RawColumn::Missing,
        })
    }
}

/// True when a feature column with this role may be a model input.
pub(crate) fn is_model_input(role: ColumnRole) -> bool {
    matches!(role, ColumnRole::Numeric | ColumnRole::Categorical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_displayed_with_at_most_six_significant_digits() {
        let shown = |v: f64| FeatureValue::Number(v).to_string();
        assert_eq!(shown(67.89999999999999), "67.9");
        assert_eq!(shown(0.1 + 0.2), "0.3");
        assert_eq!(shown(452.0), "452");
        assert_eq!(shown(-17.0), "-17");
        assert_eq!(shown(999999.0), "999999");
        assert_eq!(shown(-3.25), "-3.25");
        assert_eq!(shown(2.0 / 3.0), "0.666667");
        assert_eq!(shown(123456.7), "123457");
        assert_eq!(shown(1234567.89), "1234568");
        assert_eq!(shown(0.000123456789), "0.000123457");
        assert_eq!(shown(-0.0), "0");
        assert_eq!(shown(f64::NAN), "NaN");
        assert_eq!(FeatureValue::Text("gold".into()).to_string(), "gold");
        assert_eq!(FeatureValue::Missing.to_string(), "missing");
    }

    /// The definition the fast path must equal: round to the significant digits in scientific notation,
    /// parse that back, and print the double's shortest form.
    fn by_definition(value: f64) -> String {
        let rounded = format!("{value:.*e}", DISPLAY_SIGNIFICANT_DIGITS - 1)
            .parse::<f64>()
            .expect("parses");
        if rounded == 0.0 {
            "0".into()
        } else {
            rounded.to_string()
        }
    }

    #[test]
    fn numbers_written_positionally_equal_the_rounded_doubles_shortest_form() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        while checked < 200_000 {
            let bits = next();
            // Magnitudes from 1e-12 to 1e6, and some values that round up to the next power of ten.
            let magnitude = 10f64.powf((bits % 18_000) as f64 / 1_000.0 - 12.0);
            let value = match bits % 7 {
                0 => 9.999_995 * 10f64.powi((bits % 11) as i32 - 5),
                1 => -magnitude,
                _ => magnitude,
            };
            if value.abs() < 1e6 && value != value.trunc() {
                assert_eq!(display_number(value), by_definition(value), "{value:e}");
                checked += 1;
            }
        }
        let subnormals = [
            5e-324,
            -5e-324,
            9.9999e-319,
            1e-310,
            -2.5e-320,
            f64::MIN_POSITIVE / 3.0,
        ];
        for value in [0.5, -0.5, 999_999.5, 0.000_001, 1.5e-9, 0.1 + 0.2, 99.999_999_9]
            .into_iter()
            .chain(subnormals)
        {
            assert_eq!(display_number(value), by_definition(value), "{value:e}");
        }
    }
}
