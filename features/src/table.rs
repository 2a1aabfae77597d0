//! The feature table: one row per (customer, as-of date) with its label and features, the single format
//! that training, batch scoring and the server read. Stored as Parquet.
//!
//! Columns: `customer_id` (Int64 or Utf8), `as_of` (Date32, null for snapshot tables without time),
//! `label` (Int8, null when unknown), then one column per feature: Float64 for numeric features, Utf8 for
//! categorical ones. Each feature field carries the metadata key [`ROLE_KEY`] (see [`ColumnRole`]) and,
//! when known, [`DESCRIPTION_KEY`]. Tables built with durations end with the two Float64
//! [`ColumnRole::Outcome`] columns [`DURATION_COLUMN`] and [`EVENT_COLUMN`].

use crate::error::{FeatureError, Result};
use crate::output::{FileDigest, Staged, StagedWriter, parquet_properties, stage};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int8Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Field metadata key holding a feature column's [`ColumnRole`].
pub const ROLE_KEY: &str = "churn.role";
/// Field metadata key holding a feature column's one-line description.
pub const DESCRIPTION_KEY: &str = "churn.description";

/// The [`ColumnRole::Outcome`] column of each row's days from its as-of date to churn, or to the end of
/// what is known (censored); null when unknown.
pub const DURATION_COLUMN: &str = "churn_duration_days";
/// The [`ColumnRole::Outcome`] column saying whether [`DURATION_COLUMN`] ends in churn (1) or is censored
/// (0).
pub const EVENT_COLUMN: &str = "churn_event";

/// Rows per written row group.
const ROWS_PER_GROUP: usize = 1 << 20;

/// Customer ids of the rows, as they were typed in the input.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerIds {
    /// Integer ids.
    Int(Vec<i64>),
    /// String ids.
    Str(Vec<String>),
}

impl CustomerIds {
    /// The Arrow type of the `customer_id` column: Int64 or Utf8.
    pub fn data_type(&self) -> DataType {
        match self {
            Self::Int(_) => DataType::Int64,
            Self::Str(_) => DataType::Utf8,
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Self::Int(ids) => ids.len(),
            Self::Str(ids) => ids.len(),
        }
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of `row` as text.
    pub fn to_string_at(&self, row: usize) -> String {
        match self {
            Self::Int(ids) => ids[row].to_string(),
            Self::Str(ids) => ids[row].clone(),
        }
    }
}

/// How a feature column is meant to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// A number a model may use.
    Numeric,
    /// A category a model may use (one-hot encoded downstream).
    Categorical,
    /// A human-readable label derived from other features (e.g. `rfm_segment`): shown to people, not a
    /// model input.
    Descriptor,
    /// What happened after the as-of date, for survival models (a number: days to churn or censoring,
    /// whether the customer churned): an outcome like the label, never a model input.
    Outcome,
}

impl ColumnRole {
    /// The name stored in field metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Categorical => "categorical",
            Self::Descriptor => "descriptor",
            Self::Outcome => "outcome",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "numeric" => Some(Self::Numeric),
            "categorical" => Some(Self::Categorical),
            "descriptor" => Some(Self::Descriptor),
            "outcome" => Some(Self::Outcome),
            _ => None,
        }
    }
}

/// The values of one feature column; `None` is a missing value.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Numbers.
    Numeric(Vec<Option<f64>>),
    /// Category names.
    Categorical(Vec<Option<String>>),
}

impl ColumnValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Numeric(values) => values.len(),
            Self::Categorical(values) => values.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One feature column.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureColumn {
    /// Column name, e.g. `days_since_last_purchase`.
    pub name: String,
    /// How the column is meant to be used.
    pub role: ColumnRole,
    /// One-line meaning, when known.
    pub description: Option<String>,
    /// The values, one per row.
    pub values: ColumnValues,
}

/// One row per (customer, as-of date): id, as-of date, label and features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// Customer id of each row.
    pub customer_ids: CustomerIds,
    /// As-of date of each row; `None` for snapshot tables without time.
    pub as_of: Vec<Option<NaiveDate>>,
    /// Churn label of each row (1 churned, 0 stayed); `None` when unknown.
    pub labels: Vec<Option<i8>>,
    /// Feature columns, in output order.
    pub columns: Vec<FeatureColumn>,
}

impl FeatureTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The feature column called `name`.
    pub fn column(&self, name: &str) -> Option<&FeatureColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A table of the given rows, in that order (ids, dates, labels and every column).
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        fn pick<T: Clone>(values: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&i| values[i].clone()).collect()
        }
        Self {
            customer_ids: match &self.customer_ids {
                CustomerIds::Int(ids) => CustomerIds::Int(pick(ids, rows)),
                CustomerIds::Str(ids) => CustomerIds::Str(pick(ids, rows)),
            },
            as_of: pick(&self.as_of, rows),
            labels: pick(&self.labels, rows),
            columns: self
                .columns
                .iter()
                .map(|c| FeatureColumn {
                    name: c.name.clone(),
                    role: c.role,
                    description: c.description.clone(),
                    values: match &c.values {
                        ColumnValues::Numeric(values) => ColumnValues::Numeric(pick(values, rows)),
                        ColumnValues::Categorical(values) => ColumnValues::Categorical(pick(values, rows)),
                    },
                })
                .collect(),
        }
    }

    /// The customer id of `row` as text.
    pub fn customer_id_string(&self, row: usize) -> String {
        self.customer_ids.to_string_at(row)
    }

    /// Writes the table as Parquet, atomically (see [`crate::output`]); returns the file's digest.
    pub fn write_parquet(&self, path: &Path) -> Result<FileDigest> {
        let headers = self.columns.iter().map(|c| ColumnHeader {
            name: &c.name,
            role: c.role,
            description: c.description.as_deref(),
        });
        write_table(
            path,
            &self.customer_ids,
            &self.as_of,
            &self.labels,
            headers,
            |start, end| {
                self.columns
                    .iter()
                    .map(|column| -> ArrayRef {
                        match &column.values {
                            ColumnValues::Numeric(values) => {
                                Arc::new(values[start..end].iter().copied().collect::<Float64Array>())
                            }
                            ColumnValues::Categorical(values) => Arc::new(
                                values[start..end]
                                    .iter()
                                    .map(Option::as_deref)
                                    .collect::<StringArray>(),
                            ),
                        }
                    })
                    .collect()
            },
        )?
        .commit()
    }

    /// Reads a feature table written by [`FeatureTable::write_parquet`] (or by any tool that follows the
    /// same layout; columns without a role are numeric when Float64 and categorical when Utf8).
    /// A table with a run summary beside it (see [`crate::output::summary_path`]) must be the file the summary
    /// describes.
    pub fn read_parquet(path: &Path) -> Result<Self> {
        crate::output::check_against_summary(path)?;
        let file = std::fs::File::open(path).map_err(|e| FeatureError::io(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| FeatureError::parquet(path, e))?;
        let schema = builder.schema().clone();
        let layout = TableLayout::check(&schema, path)?;
        let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let reader = builder
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| FeatureError::parquet(path, e))?;

        let mut table = layout.empty_table(rows);
        let mut row = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| FeatureError::parquet(path, e))?;
            layout.append(&mut table, &batch, row, path)?;
            row += batch.num_rows() as u64;
        }
        Ok(table)
    }
}

/// Where each part of the table sits in a file's schema.
struct TableLayout {
    id: usize,
    as_of: usize,
    label: usize,
    features: Vec<(usize, String, ColumnRole, Option<String>)>,
    string_ids: bool,
}

impl TableLayout {
    fn check(schema: &Schema, path: &Path) -> Result<Self> {
        let find = |name: &str| {
            schema.index_of(name).map_err(|_| FeatureError::MissingColumn {
                path: path.into(),
                column: name.into(),
                role: "feature table".into(),
                available: column_names(schema),
            })
        };
        let expect = |index: usize, accepted: &[DataType], expected: &str| {
            let field = schema.field(index);
            if accepted.contains(field.data_type()) {
                Ok(())
            } else {
                Err(FeatureError::WrongType {
                    path: path.into(),
                    column: field.name().clone(),
                    found: field.data_type().to_string(),
                    expected: expected.into(),
                })
            }
        };
        let id = find("customer_id")?;
        expect(id, &[DataType::Int64, DataType::Utf8], "Int64 or Utf8")?;
        let as_of = find("as_of")?;
        expect(as_of, &[DataType::Date32], "Date32")?;
        let label = find("label")?;
        expect(label, &[DataType::Int8], "Int8")?;
        let mut features = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            if [id, as_of, label].contains(&index) {
                continue;
            }
            let default_role = match field.data_type() {
                DataType::Float64 => ColumnRole::Numeric,
                DataType::Utf8 => ColumnRole::Categorical,
                _ => {
                    return Err(FeatureError::WrongType {
                        path: path.into(),
                        column: field.name().clone(),
                        found: field.data_type().to_string(),
                        expected: "Float64 (numeric feature) or Utf8 (categorical feature)".into(),
                    });
                }
            };
            let role = match field.metadata().get(ROLE_KEY) {
                None => default_role,
                Some(text) => match ColumnRole::parse(text) {
                    Some(ColumnRole::Numeric | ColumnRole::Outcome)
                        if default_role != ColumnRole::Numeric =>
                    {
                        return Err(role_mismatch(path, field, text));
                    }
                    Some(ColumnRole::Categorical | ColumnRole::Descriptor)
                        if default_role == ColumnRole::Numeric =>
                    {
                        return Err(role_mismatch(path, field, text));
                    }
                    Some(role) => role,
                    None => return Err(role_mismatch(path, field, text)),
                },
            };
            let description = field.metadata().get(DESCRIPTION_KEY).cloned();
            features.push((index, field.name().clone(), role, description));
        }
        Ok(Self {
            id,
            as_of,
            label,
            features,
            string_ids: schema.field(id).data_type() == &DataType::Utf8,
        })
    }

    fn empty_table(&self, capacity: usize) -> FeatureTable {
        FeatureTable {
            customer_ids: if self.string_ids {
                CustomerIds::Str(Vec::with_capacity(capacity))
            } else {
                CustomerIds::Int(Vec::with_capacity(capacity))
            },
            as_of: Vec::with_capacity(capacity),
            labels: Vec::with_capacity(capacity),
            columns: self
                .features
                .iter()
                .map(|(_, name, role, description)| FeatureColumn {
                    name: name.clone(),
                    role: *role,
                    description: description.clone(),
                    values: match role {
                        ColumnRole::Numeric | ColumnRole::Outcome => ColumnValues::Numeric(Vec::new()),
                        _ => ColumnValues::Categorical(Vec::new()),
                    },
                })
                .collect(),
        }
    }

    fn append(
        &self,
        table: &mut FeatureTable,
        batch: &RecordBatch,
        first_row: u64,
        path: &Path,
    ) -> Result<()> {
        let ids = batch.column(self.id);
        if let Some(offset) = (0..ids.len()).find(|&i| ids.is_null(i)) {
            return Err(FeatureError::InvalidValue {
                path: path.into(),
                column: "customer_id".into(),
                row: first_row + offset as u64,
                reason: "null customer id".into(),
            });
        }
        match &mut table.customer_ids {
            CustomerIds::Int(out) => out.extend(ids.as_primitive::<Int64Type>().values().iter()),
            CustomerIds::Str(out) => out.extend(
                ids.as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or_default().to_string()),
            ),
        }
        table.as_of.extend(
            batch
                .column(self.as_of)
                .as_primitive::<Date32Type>()
                .iter()
                .map(|d| d.map(crate::time::date_from_days)),
        );
        table
            .labels
            .extend(batch.column(self.label).as_primitive::<Int8Type>().iter());
        for ((index, ..), column) in self.features.iter().zip(&mut table.columns) {
            let array = batch.column(*index);
            match &mut column.values {
                ColumnValues::Numeric(out) => out.extend(array.as_primitive::<Float64Type>().iter()),
                ColumnValues::Categorical(out) => {
                    out.extend(array.as_string::<i32>().iter().map(|s| s.map(str::to_string)))
                }
            }
        }
        Ok(())
    }
}

/// Name, role and meaning of a feature column, for the written schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColumnHeader<'a> {
    pub(crate) name: &'a str,
    pub(crate) role: ColumnRole,
    pub(crate) description: Option<&'a str>,
}

/// Writes a feature table in the layout of this module under a temporary name (see [`crate::output`]).
/// `features(start, end)` gives the feature arrays of rows `start..end` in the order of `headers` (Float64
/// for numeric columns, Utf8 otherwise); rows are written in row groups of [`ROWS_PER_GROUP`].
pub(crate) fn write_table<'a>(
    path: &Path,
    ids: &CustomerIds,
    as_of: &[Option<NaiveDate>],
    labels: &[Option<i8>],
    headers: impl Iterator<Item = ColumnHeader<'a>>,
    features: impl Fn(usize, usize) -> Vec<ArrayRef>,
) -> Result<Staged> {
    let headers: Vec<ColumnHeader<'_>> = headers.collect();
    let rows = labels.len();
    let (staged, ()) = stage(path, |file| {
        let mut writer = TableWriter::new(path, file, ids.data_type(), &headers)?;
        let mut start = 0;
        while start < rows {
            let end = (start + ROWS_PER_GROUP).min(rows);
            let id_array: ArrayRef = match ids {
                CustomerIds::Int(ids) => Arc::new(Int64Array::from(ids[start..end].to_vec())),
                CustomerIds::Str(ids) => Arc::new(StringArray::from_iter_values(&ids[start..end])),
            };
            let dates: Date32Array = as_of[start..end]
                .iter()
                .map(|d| d.map(crate::time::days_from_epoch))
                .collect();
            let label_array: Int8Array = labels[start..end].iter().copied().collect();
            writer.write(
                id_array,
                Arc::new(dates),
                Arc::new(label_array),
                features(start, end),
            )?;
            start = end;
        }
        writer.finish()
    })?;
    Ok(staged)
}

/// Writes a feature table in the layout of this module a row group at a time, each row group's columns
/// encoded in parallel, so a table can be written block by block as it is made. A row group's encoded
/// columns are appended to the file while the next row group is encoded.
pub(crate) struct TableWriter<'a> {
    path: &'a Path,
    schema: SchemaRef,
    file: SerializedFileWriter<&'a mut StagedWriter>,
    factory: ArrowRowGroupWriterFactory,
    row_groups: usize,
    /// The last row group encoded, not yet appended to the file.
    encoded: Option<Vec<ArrowColumnChunk>>,
}

impl<'a> TableWriter<'a> {
    /// Starts writing the table to `file` (staged for `path`, named in errors): customer ids of
    /// `id_type` (Int64 or Utf8) and the feature columns `headers`.
    pub(crate) fn new(
        path: &'a Path,
        file: &'a mut StagedWriter,
        id_type: DataType,
        headers: &[ColumnHeader<'_>],
    ) -> Result<Self> {
        let mut fields = vec![
            Field::new("customer_id", id_type, false),
            Field::new("as_of", DataType::Date32, true),
            Field::new("label", DataType::Int8, true),
        ];
        // Dictionary encoding pays off for the few distinct strings of categories, not for measurements.
        let mut properties = parquet_properties()
            .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
            .set_dictionary_enabled(false);
        for header in headers {
            let data_type = match header.role {
                ColumnRole::Numeric | ColumnRole::Outcome => DataType::Float64,
                ColumnRole::Categorical | ColumnRole::Descriptor => {
                    properties =
                        properties.set_column_dictionary_enabled(ColumnPath::from(header.name), true);
                    DataType::Utf8
                }
            };
            let mut metadata = HashMap::from([(ROLE_KEY.to_string(), header.role.as_str().into())]);
            if let Some(description) = header.description {
                metadata.insert(DESCRIPTION_KEY.to_string(), description.into());
            }
            fields.push(Field::new(header.name, data_type, true).with_metadata(metadata));
        }
        let schema = Arc::new(Schema::new(fields));
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties.build()))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(|e| FeatureError::parquet(path, e))?;
        Ok(Self {
            path,
            schema,
            file,
            factory,
            row_groups: 0,
            encoded: None,
        })
    }

    /// Writes rows as one row group: their customer ids, as-of dates, labels and feature columns (in
    /// the order of the headers). More than [`ROWS_PER_GROUP`] rows are split into several.
    pub(crate) fn write(
        &mut self,
        ids: ArrayRef,
        as_of: ArrayRef,
        labels: ArrayRef,
        features: Vec<ArrayRef>,
    ) -> Result<()> {
        let mut columns = vec![ids, as_of, labels];
        columns.extend(features);
        let rows = columns[0].len();
        let mut start = 0;
        while start < rows {
            let length = ROWS_PER_GROUP.min(rows - start);
            let slices: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, length)).collect();
            self.write_row_group(&slices)?;
            start += length;
        }
        Ok(())
    }

    fn write_row_group(&mut self, columns: &[ArrayRef]) -> Result<()> {
        let Self {
            path,
            schema,
            file,
            factory,
            row_groups,
            encoded,
        } = self;
        let path: &Path = path;
        let previous = encoded.take();
        let (appended, chunks) = rayon::join(
            || append(path, file, previous),
            || -> Result<Vec<ArrowColumnChunk>> {
                let writers = factory
                    .create_column_writers(*row_groups)
                    .map_err(|e| FeatureError::parquet(path, e))?;
                writers
                    .into_par_iter()
                    .zip(columns.par_iter().zip(schema.fields().par_iter()))
                    .map(|(mut writer, (array, field))| {
                        for leaf in compute_leaves(field, array)? {
                            writer.write(&leaf)?;
                        }
                        writer.close()
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| FeatureError::parquet(path, e))
            },
        );
        appended?;
        *encoded = Some(chunks?);
        *row_groups += 1;
        Ok(())
    }

    /// Appends the last row group and writes the footer.
    pub(crate) fn finish(mut self) -> Result<()> {
        append(self.path, &mut self.file, self.encoded.take())?;
        self.file
            .close()
            .map_err(|e| FeatureError::parquet(self.path, e))?;
        Ok(())
    }
}

/// Appends a row group's encoded columns (if any) to `file`.
fn append(
    path: &Path,
    file: &mut SerializedFileWriter<&mut StagedWriter>,
    chunks: Option<Vec<ArrowColumnChunk>>,
) -> Result<()> {
    let Some(chunks) = chunks else {
        return Ok(());
    };
    let mut row_group = file
        .next_row_group()
        .map_err(|e| FeatureError::parquet(path, e))?;
    for chunk in chunks {
        chunk
            .append_to_row_group(&mut row_group)
            .map_err(|e| FeatureError::parquet(path, e))?;
    }
    row_group.close().map_err(|e| FeatureError::parquet(path, e))?;
    Ok(())
}

fn role_mismatch(path: &Path, field: &Field, role: &str) -> FeatureError {
    FeatureError::WrongType {
        path: path.into(),
        column: field.name().clone(),
        found: format!("{} with role `{role}`", field.data_type()),
        expected: "Float64 with role `numeric`, or Utf8 with role `categorical` or `descriptor`".into(),
    }
}

/// The names of a schema's columns, comma separated (for error messages).
pub(crate) fn column_names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ids: CustomerIds) -> FeatureTable {
        FeatureTable {
            customer_ids: ids,
            as_of: vec![NaiveDate::from_ymd_opt(1997, 9, 30), None],
            labels: vec![Some(1), None],
            columns: vec![
                FeatureColumn {
                    name: "total_spend".into(),
                    role: ColumnRole::Numeric,
                    description: Some("sum of purchase amounts".into()),
                    values: ColumnValues::Numeric(vec![Some(12.5), None]),
                },
                FeatureColumn {
                    name: "plan".into(),
                    role: ColumnRole::Categorical,
                    description: None,
                    values: ColumnValues::Categorical(vec![None, Some("gold".into())]),
                },
                FeatureColumn {
                    name: "rfm_segment".into(),
                    role: ColumnRole::Descriptor,
                    description: None,
                    values: ColumnValues::Categorical(vec![Some("lost".into()), None]),
                },
            ],
        }
    }

    #[test]
    fn parquet_round_trip_keeps_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        for ids in [
            CustomerIds::Int(vec![7, -3]),
            CustomerIds::Str(vec!["Zoë-17".into(), "客户-∞".into()]),
        ] {
            let table = sample(ids);
            let path = dir.path().join("table.parquet");
            table.write_parquet(&path).expect("write");
            assert_eq!(FeatureTable::read_parquet(&path).expect("read"), table);
        }
    }

    #[test]
    fn selected_rows_keep_every_column_in_the_order_asked() {
        let table = sample(CustomerIds::Str(vec!["a".into(), "b".into()]));
        let swapped = table.select_rows(&[1, 0]);
        assert_eq!(swapped.select_rows(&[1, 0]), table);
        assert_eq!(swapped.customer_id_string(0), "b");
        assert_eq!(swapped.labels, vec![None, Some(1)]);
        assert_eq!(
            swapped.column("total_spend").map(|c| &c.values),
            Some(&ColumnValues::Numeric(vec![None, Some(12.5)]))
        );
        assert!(table.select_rows(&[]).is_empty());
    }

    #[test]
    fn reading_a_table_without_label_names_the_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("as_of", DataType::Date32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Date32Array::from(vec![Some(0)])),
            ],
        )
        .expect("batch");
        let file = std::fs::File::create(&path).expect("create");
        let mut writer = ArrowWriter::try_new(file, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let message = FeatureTable::read_parquet(&path)
            .expect_err("must fail")
            .to_string();
        assert!(
            message.contains("`label`") && message.contains("bad.parquet"),
            "{message}"
        );
    }
}
