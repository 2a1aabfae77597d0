//! Preprocessing fitted on training rows only and stored with the model: median imputation of numeric
//! nulls (with a missing indicator when training had nulls), `log1p` of heavy-tailed non-negative features
//! (money, counts), one-hot encoding of categories with rare levels folded into `other`, and
//! standardisation of every encoded column. The [`FeatureSchema`] is both the recipe and the contract a
//! scoring input must meet.

use crate::error::{ModelError, Result};
use crate::input::{RawColumn, RawInput, is_model_input};
use crate::matrix::Matrix;
use churn_features::{ColumnValues, FeatureTable};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How preprocessing is fitted. The defaults suit churn feature tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreprocessParams {
    /// Feature names never used as model inputs (descriptor columns are always left out).
    pub exclude: Vec<String>,
    /// A category level is kept only when at least this fraction of training rows has it...
    pub rare_level_min_fraction: f64,
    /// ...and at least this many rows; rarer levels are folded into `other`.
    pub rare_level_min_count: usize,
    /// At most this many levels are kept per categorical feature (the most frequent).
    pub max_levels: usize,
    /// Transform heavy-tailed features with `log1p`: those non-negative in training whose skewness
    /// exceeds `log1p_min_skewness` (money amounts and counts, typically).
    pub log1p_heavy_tails: bool,
    /// The skewness above which a non-negative feature counts as heavy-tailed.
    pub log1p_min_skewness: f64,
}

impl Default for PreprocessParams {
    fn default() -> Self {
        Self {
            exclude: Vec::new(),
            rare_level_min_fraction: 0.01,
            rare_level_min_count: 10,
            max_levels: 50,
            log1p_heavy_tails: true,
            log1p_min_skewness: 2.0,
        }
    }
}

/// The fitted preprocessing: the model's input features, in order, and how each becomes encoded columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// The raw features the model reads, in order.
    pub features: Vec<FeatureSpec>,
    /// The encoded columns the model sees, in order; each belongs to one feature.
    pub columns: Vec<EncodedColumn>,
    /// Input features left out while fitting, with the reason (e.g. no value in training rows).
    pub dropped: Vec<DroppedFeature>,
}

/// One raw input feature of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Column name in the feature table.
    pub name: String,
    /// Meaning, copied from the feature table when known.
    pub description: Option<String>,
    /// How it is encoded.
    pub encoding: Encoding,
}

/// How one raw feature becomes encoded columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Encoding {
    /// A number: one column (after imputation and optional `log1p`), plus a missing indicator column
    /// when training had nulls.
    Numeric {
        /// Training median of the raw values, used for nulls.
        median: f64,
        /// Whether `log1p(max(x, 0))` is applied (heavy-tailed, non-negative in training).
        log1p: bool,
        /// Whether a `name=missing` indicator column follows.
        missing_indicator: bool,
    },
    /// A category: one indicator column per kept level, then `other` and `missing` columns when present
    /// in training.
    Categorical {
        /// Levels with their own column, most frequent first.
        levels: Vec<String>,
        /// Whether an `other` column exists (rare levels in training); unseen levels go there too.
        other: bool,
        /// Whether a `missing` column exists (nulls in training).
        missing: bool,
    },
}

impl Encoding {
    /// `"numeric"` or `"categorical"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Numeric { .. } => "numeric",
            Self::Categorical { .. } => "categorical",
        }
    }

    fn width(&self) -> usize {
        match self {
            Self::Numeric {
                missing_indicator, ..
            } => 1 + usize::from(*missing_indicator),
            Self::Categorical {
                levels,
                other,
                missing,
            } => levels.len() + usize::from(*other) + usize::from(*missing),
        }
    }
}

/// One encoded input column of the model: `(raw - center) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedColumn {
    /// Name, e.g. `total_spend`, `total_spend=missing`, `Contract=Two year`, `Contract=other`.
    pub name: String,
    /// Index of the feature it belongs to in [`FeatureSchema::features`].
    pub feature: usize,
    /// Training mean of the unscaled column.
    pub center: f64,
    /// Training standard deviation (1 for a constant column).
    pub scale: f64,
}

/// Category values that have no level of their own in a model, by feature: values unseen in training,
/// or rarer there than the level threshold (`rare_level_min_count` / `rare_level_min_fraction`). The
/// encoding scores them as the feature's `other` level, or, when training had no rare levels and so no
/// `other` column, as no level at all (every level's indicator 0). A typo in a category therefore changes
/// a score without failing, which is why callers report these values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownCategories {
    features: BTreeMap<String, UnknownValues>,
}

/// The values of one feature without a level in the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownValues {
    /// Whether they were scored as the feature's `other` level (else as no level).
    pub scored_as_other: bool,
    /// Each value, with the number of rows holding it.
    pub counts: BTreeMap<String, usize>,
}

impl UnknownCategories {
    /// Whether every category had a level.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The features with unknown values, by name, in name order.
    pub fn features(&self) -> impl Iterator<Item = (&str, &UnknownValues)> {
        self.features.iter().map(|(name, values)| (name.as_str(), values))
    }

    /// One line per feature for people, e.g. ``feature `plan`: 3 rows hold values the model has no
    /// level for, scored as `other`: `platinum-typo` (2), `gold ` (1)``, listing at most `max_values`
    /// values, the most frequent first.
    pub fn summaries(&self, max_values: usize) -> Vec<String> {
        self.features()
            .map(|(feature, values)| {
                let mut counts: Vec<(&String, &usize)> = values.counts.iter().collect();
                counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let mut listed = counts
                    .iter()
                    .take(max_values)
                    .map(|(value, count)| format!("`{value}` ({count})"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if counts.len() > max_values {
                    listed.push_str(&format!(" and {} other values", counts.len() - max_values));
                }
                let rows = values.rows();
                format!(
                    "feature `{feature}`: {rows} {} values the model has no level for (unseen in \
                     training or too rare there), scored as {}: {listed}",
                    if rows == 1 { "row holds" } else { "rows hold" },
                    if values.scored_as_other {
                        "`other`"
                    } else {
                        "no level"
                    }
                )
            })
            .collect()
    }

    /// Adds the values of `other` (of the same model) to these.
    pub fn merge(&mut self, other: UnknownCategories) {
        for (feature, values) in other.features {
            let mine = self.features.entry(feature).or_default();
            mine.scored_as_other = values.scored_as_other;
            for (value, count) in values.counts {
                *mine.counts.entry(value).or_default() += count;
            }
        }
    }

    fn record(&mut self, feature: &str, value: &str, scored_as_other: bool) {
        let values = self.features.entry(feature.to_string()).or_default();
        values.scored_as_other = scored_as_other;
        *values.counts.entry(value.to_string()).or_default() += 1;
    }
}

impl UnknownValues {
    /// Rows holding any of the values.
    pub fn rows(&self) -> usize {
        self.counts.values().sum()
    }
}

/// An input feature left out of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedFeature {
    /// The feature.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl FeatureSchema {
    /// Fits the preprocessing on the `rows` of `table` (training rows only). Descriptor columns and
    /// `params.exclude` are left out.
    pub fn fit(table: &FeatureTable, rows: &[usize], params: &PreprocessParams) -> Result<Self> {
        Ok(Self::fit_encode(table, rows, params)?.0)
    }

    /// [`FeatureSchema::fit`], also returning the encoded training rows (saves encoding them twice).
    pub fn fit_encode(
        table: &FeatureTable,
        rows: &[usize],
        params: &PreprocessParams,
    ) -> Result<(Self, Matrix)> {
        if rows.is_empty() {
            return Err(ModelError::Training("no training rows".into()));
        }
        let inputs: Vec<_> = table
            .columns
            .iter()
            .filter(|c| is_model_input(c.role) && !params.exclude.contains(&c.name))
            .collect();
        let encodings = inputs
            .par_iter()
            .map(|column| match &column.values {
                ColumnValues::Numeric(values) => fit_numeric(&column.name, values, rows, params),
                ColumnValues::Categorical(values) => Ok(fit_categorical(values, rows, params)),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut features = Vec::new();
        let mut dropped = Vec::new();
        for (column, encoding) in inputs.into_iter().zip(encodings) {
            match encoding {
                Some(encoding) => features.push(FeatureSpec {
                    name: column.name.clone(),
                    description: column.description.clone(),
                    encoding,
                }),
                None => dropped.push(DroppedFeature {
                    name: column.name.clone(),
                    reason: "no value in the training rows".into(),
                }),
            }
        }
        if features.is_empty() {
            return Err(ModelError::Training(
                "the table has no usable numeric or categorical feature column".into(),
            ));
        }
        let mut columns = Vec::new();
        for (index, feature) in features.iter().enumerate() {
            for name in column_names(feature) {
                columns.push(EncodedColumn {
                    name,
                    feature: index,
                    center: 0.0,
                    scale: 1.0,
                });
            }
        }
        let mut schema = Self {
            features,
            columns,
            dropped,
        };
        // Centre and scale from the unscaled training encoding (row-major passes, partial sums reduced
        // in a fixed order so the result does not depend on thread timing), then scale it in place.
        let (mut x, _) = schema.encode_with(table, rows, false)?;
        let width = x.cols();
        let n = x.rows() as f64;
        let column_sums = |f: &(dyn Fn(usize, f64) -> f64 + Sync)| -> Vec<f64> {
            let partials: Vec<Vec<f64>> = x
                .as_slice()
                .par_chunks(4096 * width)
                .map(|chunk| {
                    let mut sums = vec![0.0; width];
                    for row in chunk.chunks(width) {
                        for (j, (sum, value)) in sums.iter_mut().zip(row).enumerate() {
                            *sum += f(j, *value);
                        }
                    }
                    sums
                })
                .collect();
            let mut total = vec![0.0; width];
            for part in partials {
                for (t, p) in total.iter_mut().zip(part) {
                    *t += p;
                }
            }
            total
        };
        let means: Vec<f64> = column_sums(&|_, v| v).into_iter().map(|s| s / n).collect();
        let variances = column_sums(&|j, v| (v - means[j]).powi(2));
        for ((column, mean), variance) in schema.columns.iter_mut().zip(&means).zip(variances) {
            let std = (variance / n).sqrt();
            column.center = *mean;
            column.scale = if std > 1e-12 { std } else { 1.0 };
        }
        let scaling: Vec<(f64, f64)> = schema.columns.iter().map(|c| (c.center, c.scale)).collect();
        x.as_mut_slice().par_chunks_mut(4096 * width).for_each(|chunk| {
            for row in chunk.chunks_mut(width) {
                for (value, (center, scale)) in row.iter_mut().zip(&scaling) {
                    *value = (*value - center) / scale;
                }
            }
        });
        Ok((schema, x))
    }

    /// Number of encoded columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Names of the raw input features, in order.
    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// The name people read for input feature `feature` (see
    /// [`churn_features::engine::layout::readable_name`]), using the description the schema carries;
    /// a name the schema does not hold is read the same way without one.
    pub fn readable_name(&self, feature: &str) -> String {
        let description = self
            .features
            .iter()
            .find(|f| f.name == feature)
            .and_then(|f| f.description.as_deref());
        churn_features::engine::layout::readable_name(feature, description)
    }

    /// Encodes the `rows` of a feature table into standardised model inputs. Fails when a feature is
    /// missing or of another type than in training, or holds NaN or an infinity.
    pub fn encode_table(&self, table: &FeatureTable, rows: &[usize]) -> Result<Matrix> {
        Ok(self.encode_with(table, rows, true)?.0)
    }

    /// [`FeatureSchema::encode_table`], also returning the category values the model has no level for
    /// (found by the encoding itself, so at no extra pass).
    pub fn encode_table_reporting(
        &self,
        table: &FeatureTable,
        rows: &[usize],
    ) -> Result<(Matrix, UnknownCategories)> {
        self.encode_with(table, rows, true)
    }

    /// Encodes one row given by feature name → value.
    pub fn encode_row(&self, row: &crate::input::FeatureRow) -> Result<Vec<f64>> {
        Ok(self.encode_row_reporting(row)?.0)
    }

    /// [`FeatureSchema::encode_row`], also returning the category values the model has no level for.
    pub fn encode_row_reporting(
        &self,
        row: &crate::input::FeatureRow,
    ) -> Result<(Vec<f64>, UnknownCategories)> {
        let (x, unknown) = self.encode_with(row, &[0], true)?;
        Ok((x.as_slice().to_vec(), unknown))
    }

    /// The category values of the `rows` of `table` that the model has no level for, without encoding
    /// the rows (for callers that encode them elsewhere, e.g. through a [`crate::Scorer`]). It decides
    /// with the same level lookup as the encoding. Features missing from the table or of another type
    /// are skipped here; encoding reports them.
    pub fn unknown_categories(&self, table: &FeatureTable, rows: &[usize]) -> UnknownCategories {
        let mut unknown = UnknownCategories::default();
        for feature in &self.features {
            let Encoding::Categorical { levels, other, .. } = &feature.encoding else {
                continue;
            };
            let Ok(RawColumn::Categorical(values)) = RawInput::column(table, &feature.name) else {
                continue;
            };
            for &row in rows {
                if let Some(value) = values.get(row)
                    && level_of(levels, value).is_none()
                {
                    unknown.record(&feature.name, value, *other);
                }
            }
        }
        unknown
    }

    /// Checks that a table holds every feature of the schema with the training type.
    pub fn check_table(&self, table: &FeatureTable) -> Result<()> {
        for feature in &self.features {
            let column = RawInput::column(table, &feature.name)?;
            check_type(feature, &column)?;
        }
        Ok(())
    }

    /// The model's features that hold no value in any row of `table` (they would all be imputed, which
    /// usually means an upstream column went missing); empty for an empty table.
    pub fn all_null_features<'a>(&'a self, table: &FeatureTable) -> Vec<&'a str> {
        if table.is_empty() {
            return Vec::new();
        }
        self.features
            .iter()
            .filter(|feature| {
                table
                    .column(&feature.name)
                    .is_some_and(|column| match &column.values {
                        ColumnValues::Numeric(values) => values.iter().all(Option::is_none),
                        ColumnValues::Categorical(values) => values.iter().all(Option::is_none),
                    })
            })
            .map(|feature| feature.name.as_str())
            .collect()
    }

    /// The raw columns of every feature of `input`, in schema order (looked up once, then read per row
    /// with [`RawColumn::value`]).
    pub(crate) fn raw_columns<'a>(&self, input: &'a dyn RawInput) -> Result<Vec<RawColumn<'a>>> {
        self.features
            .iter()
            .map(|feature| input.column(&feature.name))
            .collect()
    }

    /// Checks that the schema is internally consistent (used when loading an artifact).
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let expected: usize = self.features.iter().map(|f| f.encoding.width()).sum();
        if expected != self.columns.len() {
            return Err(format!(
                "schema lists {} encoded columns but its features encode to {expected}",
                self.columns.len()
            ));
        }
        let mut j = 0;
        for (index, feature) in self.features.iter().enumerate() {
            for _ in 0..feature.encoding.width() {
                let column = &self.columns[j];
                if column.feature != index {
                    return Err(format!("encoded column `{}` is out of order", column.name));
                }
                if !(column.center.is_finite() && column.scale.is_finite() && column.scale > 0.0) {
                    return Err(format!("encoded column `{}` has an invalid scale", column.name));
                }
                j += 1;
            }
            if let Encoding::Numeric { median, .. } = feature.encoding
                && !median.is_finite()
            {
                return Err(format!("feature `{}` has a non-finite median", feature.name));
            }
        }
        Ok(())
    }

    /// Encodes `rows` of `input` (standardised when `scaled`), with the category values that have no
    /// level in the model.
    fn encode_with(
        &self,
        input: &dyn RawInput,
        rows: &[usize],
        scaled: bool,
    ) -> Result<(Matrix, UnknownCategories)> {
        let width = self.width();
        let sources = self
            .features
            .iter()
            .map(|feature| {
                let column = input.column(&feature.name)?;
                check_type(feature, &column)?;
                check_finite(&feature.name, &column, rows)?;
                Ok(column)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut matrix = Matrix::zeros(rows.len(), width);
        const CHUNK: usize = 4096;
        // Each chunk lists its (feature, row) pairs holding a category without a level; they are rare,
        // so the lists are nearly always empty and cost nothing.
        let unknown_at: Vec<Vec<(usize, usize)>> = matrix
            .as_mut_slice()
            .par_chunks_mut(CHUNK * width.max(1))
            .enumerate()
            .map(|(chunk, out)| {
                let first = chunk * CHUNK;
                let mut unknown_at = Vec::new();
                for (offset, values) in out.chunks_mut(width.max(1)).enumerate() {
                    let row = rows[first + offset];
                    let mut j = 0;
                    for (f, (feature, source)) in self.features.iter().zip(&sources).enumerate() {
                        let encoded = encode_value(&feature.encoding, source, row, &mut values[j..]);
                        j += encoded.width;
                        if encoded.unknown_category {
                            unknown_at.push((f, row));
                        }
                    }
                    if scaled {
                        for (value, column) in values.iter_mut().zip(&self.columns) {
                            *value = (*value - column.center) / column.scale;
                        }
                    }
                }
                unknown_at
            })
            .collect();
        let mut unknown = UnknownCategories::default();
        for (f, row) in unknown_at.into_iter().flatten() {
            let feature = &self.features[f];
            if let (RawColumn::Categorical(values), Encoding::Categorical { other, .. }) =
                (&sources[f], &feature.encoding)
                && let Some(value) = values.get(row)
            {
                unknown.record(&feature.name, value, *other);
            }
        }
        Ok((matrix, unknown))
    }
}

/// What [`encode_value`] wrote.
struct Encoded {
    /// Columns written.
    width: usize,
    /// The value is a category the model has no level for (see [`UnknownCategories`]).
    unknown_category: bool,
}

/// The level column of category `value` among `levels`, `None` when it has none (it then goes to
/// `other`). The one lookup both encoding and [`FeatureSchema::unknown_categories`] use.
fn level_of(levels: &[String], value: &str) -> Option<usize> {
    levels.iter().position(|level| level == value)
}

/// Writes the unscaled encoding of one value into `out`.
fn encode_value(encoding: &Encoding, source: &RawColumn<'_>, row: usize, out: &mut [f64]) -> Encoded {
    match encoding {
        Encoding::Numeric {
            median,
            log1p,
            missing_indicator,
        } => {
            let raw = match source {
                RawColumn::Numeric(values) => values.get(row),
                _ => None,
            };
            let value = raw.unwrap_or(*median);
            out[0] = if *log1p { value.max(0.0).ln_1p() } else { value };
            if *missing_indicator {
                out[1] = f64::from(u8::from(raw.is_none()));
            }
            Encoded {
                width: encoding.width(),
                unknown_category: false,
            }
        }
        Encoding::Categorical {
            levels,
            other,
            missing,
        } => {
            let width = encoding.width();
            out[..width].fill(0.0);
            let raw = match source {
                RawColumn::Categorical(values) => values.get(row),
                _ => None,
            };
            let mut unknown_category = false;
            match raw {
                Some(level) => {
                    if let Some(k) = level_of(levels, level) {
                        out[k] = 1.0;
                    } else {
                        unknown_category = true;
                        if *other {
                            out[levels.len()] = 1.0;
                        }
                    }
                }
                None => {
                    if *missing {
                        out[levels.len() + usize::from(*other)] = 1.0;
                    }
                }
            }
            Encoded {
                width,
                unknown_category,
            }
        }
    }
}

fn check_type(feature: &FeatureSpec, column: &RawColumn<'_>) -> Result<()> {
    let matches = matches!(
        (&feature.encoding, column),
        (_, RawColumn::Missing)
            | (Encoding::Numeric { .. }, RawColumn::Numeric(_))
            | (Encoding::Categorical { .. }, RawColumn::Categorical(_))
    );
    if matches {
        Ok(())
    } else {
        Err(ModelError::WrongFeatureType {
            feature: feature.name.clone(),
            expected: match feature.encoding {
                Encoding::Numeric { .. } => "a number",
                Encoding::Categorical { .. } => "text",
            },
            found: column.type_name(),
        })
    }
}

fn check_finite(name: &str, column: &RawColumn<'_>, rows: &[usize]) -> Result<()> {
    if let RawColumn::Numeric(values) = column {
        for &row in rows {
            if let Some(value) = values.get(row)
                && !value.is_finite()
            {
                return Err(ModelError::NonFiniteValue {
                    feature: name.to_string(),
                    row,
                    value: value.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn column_names(feature: &FeatureSpec) -> Vec<String> {
    let name = &feature.name;
    match &feature.encoding {
        Encoding::Numeric {
            missing_indicator, ..
        } => {
            let mut names = vec![name.clone()];
            if *missing_indicator {
                names.push(format!("{name}=missing"));
            }
            names
        }
        Encoding::Categorical {
            levels,
            other,
            missing,
        } => {
            let mut names: Vec<String> = levels.iter().map(|l| format!("{name}={l}")).collect();
            if *other {
                names.push(format!("{name}=other"));
            }
            if *missing {
                names.push(format!("{name}=missing"));
            }
            names
        }
    }
}

fn fit_numeric(
    name: &str,
    values: &[Option<f64>],
    rows: &[usize],
    params: &PreprocessParams,
) -> Result<Option<Encoding>> {
    let mut present = Vec::with_capacity(rows.len());
    for &row in rows {
        if let Some(value) = values[row] {
            if !value.is_finite() {
                return Err(ModelError::NonFiniteValue {
                    feature: name.to_string(),
                    row,
                    value: value.to_string(),
                });
            }
            present.push(value);
        }
    }
    if present.is_empty() {
        return Ok(None);
    }
    let missing_indicator = present.len() < rows.len();
    let log1p = params.log1p_heavy_tails
        && present.iter().all(|&v| v >= 0.0)
        && skewness(&present).is_some_and(|s| s > params.log1p_min_skewness);
    let count = present.len();
    let mid = count / 2;
    let (below, &mut upper, _) = present.select_nth_unstable_by(mid, f64::total_cmp);
    let median = if count % 2 == 0 {
        // The lower middle value is the largest of the lower half.
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    } else {
        upper
    };
    Ok(Some(Encoding::Numeric {
        median,
        log1p,
        missing_indicator,
    }))
}

fn skewness(values: &[f64]) -> Option<f64> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let (m2, m3) = values.iter().fold((0.0, 0.0), |(m2, m3), &v| {
        let d = v - mean;
        (m2 + d * d, m3 + d * d * d)
    });
    let (m2, m3) = (m2 / n, m3 / n);
    (m2 > 0.0).then(|| m3 / m2.powf(1.5))
}

fn fit_categorical(values: &[Option<String>], rows: &[usize], params: &PreprocessParams) -> Option<Encoding> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut missing = false;
    for &row in rows {
        match values[row].as_deref() {
            Some(level) => *counts.entry(level).or_default() += 1,
            None => missing = true,
        }
    }
    if counts.is_empty() {
        return None;
    }
    let min_count = params
        .rare_level_min_count
        .max((params.rare_level_min_fraction * rows.len() as f64).ceil() as usize);
    let mut by_frequency: Vec<(&str, usize)> = counts.into_iter().collect();
    by_frequency.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept = by_frequency
        .iter()
        .take_while(|(_, count)| *count >= min_count)
        .take(params.max_levels)
        .count();
    Some(Encoding::Categorical {
        levels: by_frequency[..kept]
            .iter()
            .map(|(level, _)| level.to_string())
            .collect(),
        other: kept < by_frequency.len(),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_features::{ColumnRole, CustomerIds, FeatureColumn};

    fn table() -> FeatureTable {
        let n = 40;
        FeatureTable {
            customer_ids: CustomerIds::Int((0..n as i64).collect()),
            as_of: vec![None; n],
            labels: (0..n).map(|i| Some((i % 2) as i8)).collect(),
            columns: vec![
                FeatureColumn {
                    name: "spend".into(),
                    role: ColumnRole::Numeric,
                    description: None,
                    // Heavy tailed: mostly small, a few huge; one null.
                    values: ColumnValues::Numeric(
                        (0..n)
                            .map(|i| (i != 3).then_some(if i % 10 == 0 { 1000.0 } else { i as f64 }))
                            .collect(),
                    ),
                },
                FeatureColumn {
                    name: "plan".into(),
                    role: ColumnRole::Categorical,
                    description: None,
                    values: ColumnValues::Categorical(
                        (0..n)
                            .map(|i| match i {
                                0 => Some("rare".to_string()),
                                1 => None,
                                _ if i % 2 == 0 => Some("gold".to_string()),
                                _ => Some("basic".to_string()),
                            })
                            .collect(),
                    ),
                },
                FeatureColumn {
                    name: "segment".into(),
                    role: ColumnRole::Descriptor,
                    description: None,
                    values: ColumnValues::Categorical(vec![Some("lost".into()); n]),
                },
            ],
        }
    }

    #[test]
    fn fits_imputation_log1p_rare_levels_and_leaves_descriptors_out() {
        let table = table();
        let rows: Vec<usize> = (0..table.len()).collect();
        let schema = FeatureSchema::fit(&table, &rows, &PreprocessParams::default()).expect("fit");
        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "spend",
                "spend=missing",
                "plan=basic",
                "plan=gold",
                "plan=other",
                "plan=missing"
            ]
        );
        match &schema.features[0].encoding {
            Encoding::Numeric {
                log1p,
                missing_indicator,
                ..
            } => assert!(*log1p && *missing_indicator),
            other => panic!("unexpected {other:?}"),
        }
        let x = schema.encode_table(&table, &rows).expect("encode");
        for j in 0..x.cols() {
            let mean = (0..x.rows()).map(|i| x.get(i, j)).sum::<f64>() / x.rows() as f64;
            assert!(mean.abs() < 1e-12, "column {j} mean {mean}");
        }
        // An unseen level goes to `other`; a missing category to `missing`.
        let mut row = crate::input::FeatureRow::new();
        row.insert("spend".into(), crate::input::FeatureValue::Missing);
        row.insert("plan".into(), "platinum".into());
        let encoded = schema.encode_row(&row).expect("row");
        let unscaled: Vec<f64> = encoded
            .iter()
            .zip(&schema.columns)
            .map(|(z, c)| z * c.scale + c.center)
            .collect();
        assert_eq!(&unscaled[1..], &[1.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn categories_without_a_level_are_reported_by_the_encoding_and_the_scan() {
        let mut table = table();
        let rows: Vec<usize> = (0..table.len()).collect();
        let schema = FeatureSchema::fit(&table, &rows, &PreprocessParams::default()).expect("fit");
        let (_, known) = schema.encode_table_reporting(&table, &[2, 3, 4]).expect("encode");
        assert!(known.is_empty(), "{known:?}");
        if let ColumnValues::Categorical(values) = &mut table.columns[1].values {
            values[2] = Some("platinum-typo".into());
            values[4] = Some("platinum-typo".into());
            values[6] = Some("Gold".into());
        }
        let (x, unknown) = schema.encode_table_reporting(&table, &rows).expect("encode");
        assert_eq!(x, schema.encode_table(&table, &rows).expect("encode"));
        // Row 0 holds `rare`, folded into `other` in training: it has no level of its own either.
        let (feature, values) = unknown.features().next().expect("plan");
        assert_eq!(feature, "plan");
        assert!(values.scored_as_other);
        assert_eq!(
            values.counts,
            BTreeMap::from([
                ("Gold".to_string(), 1),
                ("platinum-typo".to_string(), 2),
                ("rare".to_string(), 1)
            ])
        );
        assert_eq!(schema.unknown_categories(&table, &rows), unknown);
        assert_eq!(
            unknown.summaries(2),
            [
                "feature `plan`: 4 rows hold values the model has no level for (unseen in training or \
              too rare there), scored as `other`: `platinum-typo` (2), `Gold` (1) and 1 other values"
            ]
        );

        let mut row = crate::input::FeatureRow::new();
        row.insert("spend".into(), 3.0.into());
        row.insert("plan".into(), "platinum-typo".into());
        let (encoded, unknown) = schema.encode_row_reporting(&row).expect("row");
        assert_eq!(encoded, schema.encode_row(&row).expect("row"));
        assert_eq!(unknown.features().count(), 1);
        row.insert("plan".into(), "gold".into());
        assert!(schema.encode_row_reporting(&row).expect("row").1.is_empty());
    }

    #[test]
    fn rejects_wrong_types_missing_features_and_nan() {
        let table = table();
        let rows: Vec<usize> = (0..table.len()).collect();
        let schema = FeatureSchema::fit(&table, &rows, &PreprocessParams::default()).expect("fit");
        let mut row = crate::input::FeatureRow::new();
        row.insert("spend".into(), "lots".into());
        row.insert("plan".into(), "gold".into());
        let error = schema.encode_row(&row).expect_err("wrong type");
        assert!(error.to_string().contains("`spend` must be a number"), "{error}");
        row.remove("spend");
        let error = schema.encode_row(&row).expect_err("missing");
        assert!(matches!(error, ModelError::MissingFeature { .. }), "{error}");
        row.insert("spend".into(), f64::NAN.into());
        let error = schema.encode_row(&row).expect_err("nan");
        assert!(error.to_string().contains("non-finite"), "{error}");
    }
}
