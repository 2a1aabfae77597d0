//! Helpers shared by the integration tests: small Parquet inputs written from literal rows.

#![allow(dead_code, missing_docs)]

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{Field, Schema};
use chrono::{NaiveDate, NaiveDateTime};
use churn_features::{BuildRequest, BuildSummary, Config, FeatureTable, Inputs, OnInvalid};
use parquet::arrow::ArrowWriter;
use std::path::Path;
use std::sync::Arc;

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date literal")
}

/// Microseconds since the epoch of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`.
pub fn micros(text: &str) -> i64 {
    let moment = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .unwrap_or_else(|_| date(text).and_hms_opt(0, 0, 0).expect("midnight"));
    moment.and_utc().timestamp_micros()
}

pub fn write_batch(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("batch");
    let file = std::fs::File::create(path).expect("create parquet");
    let mut writer = ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

pub fn timestamps(values: &[&str]) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(values.iter().map(|t| micros(t)).collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

pub fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

pub fn floats(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

/// Transactions (id, timestamp, amount) at `dir/tx.parquet`.
pub fn write_transactions(dir: &Path, rows: &[(&str, &str, f64)]) {
    let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let ts: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let amounts: Vec<f64> = rows.iter().map(|r| r.2).collect();
    write_batch(
        &dir.join("tx.parquet"),
        vec![
            ("customer_id", strings(&ids)),
            ("ts", timestamps(&ts)),
            ("amount", floats(&amounts)),
        ],
    );
}

/// Events (id, timestamp, type) at `dir/events.parquet`.
pub fn write_events(dir: &Path, rows: &[(&str, &str, &str)]) {
    let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let ts: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.2).collect();
    write_batch(
        &dir.join("events.parquet"),
        vec![
            ("customer_id", strings(&ids)),
            ("ts", timestamps(&ts)),
            ("event_type", strings(&kinds)),
        ],
    );
}

pub const TX_CONFIG: &str = r#"
[transactions]
path = "tx.parquet"
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
"#;

pub const EVENTS_CONFIG: &str = r#"
[events]
path = "events.parquet"
customer_id = "customer_id"
timestamp = "ts"
event_type = "event_type"
"#;

/// Writes `config` to `dir/churn.toml` and loads it.
pub fn config(dir: &Path, text: &str) -> Config {
    let path = dir.join("churn.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path).expect("valid config")
}

pub fn build(
    config: &Config,
    as_of: &[&str],
    horizon: Option<u32>,
    on_invalid: OnInvalid,
) -> churn_features::Result<(FeatureTable, BuildSummary)> {
    let inputs = Inputs::load(config, on_invalid, &churn_features::input::NoProgress)?;
    let request = BuildRequest {
        as_of: as_of.iter().map(|d| date(d)).collect(),
        horizon_days: horizon,
    };
    churn_features::build(config, inputs, &request)
}

/// The numeric value of `column` in the row of customer `id` at `as_of` (`None`: null).
pub fn value(table: &FeatureTable, id: &str, as_of: &str, column: &str) -> Option<f64> {
    let row = row_of(table, id, as_of);
    match &table
        .column(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .values
    {
        churn_features::ColumnValues::Numeric(values) => values[row],
        churn_features::ColumnValues::Categorical(_) => panic!("{column} is not numeric"),
    }
}

/// The text value of `column` in the row of customer `id` at `as_of`.
pub fn text(table: &FeatureTable, id: &str, as_of: &str, column: &str) -> Option<String> {
    let row = row_of(table, id, as_of);
    match &table
        .column(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .values
    {
        churn_features::ColumnValues::Categorical(values) => values[row].clone(),
        churn_features::ColumnValues::Numeric(_) => panic!("{column} is not text"),
    }
}

pub fn row_of(table: &FeatureTable, id: &str, as_of: &str) -> usize {
    let as_of = Some(date(as_of));
    (0..table.len())
        .find(|&r| table.customer_id_string(r) == id && table.as_of[r] == as_of)
        .unwrap_or_else(|| panic!("no row for {id} at {as_of:?}"))
}

pub fn has_row(table: &FeatureTable, id: &str, as_of: &str) -> bool {
    let as_of = Some(date(as_of));
    (0..table.len()).any(|r| table.customer_id_string(r) == id && table.as_of[r] == as_of)
}
