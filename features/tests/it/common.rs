//! Helpers shared by the integration tests: small Parquet inputs written from literal rows.

#![allow(dead_code, missing_docs)]

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{Field, Schema};
use chrono::{NaiveDate, NaiveDateTime};
use churn_features::{BuildRequest, BuildSummary, Config, FeatureTable, Inputs, OnInvalid};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
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
    write_batch_with(path, columns, None);
}

/// [`write_batch`] with the writer's `properties` (row group size, encodings).
pub fn write_batch_with(path: &Path, columns: Vec<(&str, ArrayRef)>, properties: Option<WriterProperties>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("batch");
    let file = std::fs::File::create(path).expect("create parquet");
    let mut writer = ArrowWriter::try_new(file, schema, properties).expect("writer");
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

/// The customer ids `inputs` read, in the order of their indices.
pub fn ids_in_order(inputs: &Inputs) -> churn_features::table::CustomerIds {
    inputs
        .ids
        .ids_of(&(0..inputs.ids.len() as u32).collect::<Vec<_>>())
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
        durations: false,
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

/// The directory of the real data sets (CDNOW under `data/`, what peer libraries compute on them under
/// `reference/`) when the files a test `needs` (paths under it) are there: `CHURN_DATA_DIR`, by default
/// `../shared` beside the repository. Otherwise it says on stderr that the test is skipped and returns
/// `None` for the test to return early; with `CHURN_REQUIRE_DATA=1` (as CI sets) it fails the test.
pub fn real_data(needs: &[&str]) -> Option<std::path::PathBuf> {
    use std::io::Write as _;
    let root = match std::env::var_os("CHURN_DATA_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        // `<repo>/../shared`, spelled without `..`.
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .map_or_else(
                || Path::new("../../shared").to_path_buf(),
                |parent| parent.join("shared"),
            ),
    };
    let Some(missing) = needs.iter().find(|need| !root.join(need).is_file()) else {
        return Some(root);
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this real-data test")
        .to_string();
    let message = format!(
        "no real data in {} ({missing} is missing). To run it, set CHURN_DATA_DIR to a directory with \
         data/cdnow/ and reference/ (the CDNOW data set and peer libraries' results; default: ../shared \
         beside the repository)",
        root.display()
    );
    if std::env::var("CHURN_REQUIRE_DATA").is_ok_and(|v| v.trim() == "1") {
        panic!("{test}: {message}. CHURN_REQUIRE_DATA=1 is set, so a missing data set fails the test");
    }
    // Straight to the process's stderr, past the test harness's capture, so the skip is seen.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: {message}. CHURN_REQUIRE_DATA=1 makes a skip a failure."
    );
    None
}

/// The columns of a CSV file of numbers with a header line (no quoting), by header name.
pub fn read_numeric_csv(path: &Path) -> std::collections::BTreeMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header line")
        .split(',')
        .map(|h| h.trim().to_string())
        .collect();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    for (row, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        for (column, cell) in columns.iter_mut().zip(line.split(',')) {
            let value = cell
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{}: row {row}: `{cell}`: {e}", path.display()));
            column.push(value);
        }
    }
    header.into_iter().zip(columns).collect()
}

/// One order line: (customer id, timestamp, amount, quantity, order id, product id, category).
pub type Line<'a> = (&'a str, &'a str, f64, f64, &'a str, &'a str, &'a str);

/// Order lines at `dir/tx.parquet`: the columns of [`write_transactions`] and `quantity`, `order_id`,
/// `product_id` and `category` (mapped or not, as a configuration chooses: [`LINES_CONFIG`] maps all).
pub fn write_lines(dir: &Path, rows: &[Line<'_>]) {
    let column = |f: for<'r> fn(&'r Line<'_>) -> &'r str| rows.iter().map(f).collect::<Vec<&str>>();
    let numbers = |f: fn(&Line<'_>) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    write_batch(
        &dir.join("tx.parquet"),
        vec![
            ("customer_id", strings(&column(|r| r.0))),
            ("ts", timestamps(&column(|r| r.1))),
            ("amount", floats(&numbers(|r| r.2))),
            ("quantity", floats(&numbers(|r| r.3))),
            ("order_id", strings(&column(|r| r.4))),
            ("product_id", strings(&column(|r| r.5))),
            ("category", strings(&column(|r| r.6))),
        ],
    );
}

/// [`TX_CONFIG`] with every order-line column of [`write_lines`] mapped.
pub const LINES_CONFIG: &str = r#"
[transactions]
path = "tx.parquet"
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
quantity = "quantity"
order_id = "order_id"
product_id = "product_id"
category = "category"
"#;

/// One subscription period: (customer id, start, end (`None`: running), plan, amount per billing period,
/// billing months, seats, discount).
pub type Period<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
);

/// Subscription periods at `dir/subscriptions.parquet`, start and end as ISO-8601 strings.
pub fn write_periods(dir: &Path, rows: &[Period<'_>]) {
    use arrow_array::Array as _;
    let optional = |values: Vec<Option<f64>>| -> ArrayRef { Arc::new(Float64Array::from(values)) };
    let ends: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()));
    assert_eq!(ends.len(), rows.len());
    write_batch(
        &dir.join("subscriptions.parquet"),
        vec![
            (
                "customer_id",
                strings(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            ),
            ("start", strings(&rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            ("end", ends),
            ("plan", strings(&rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            ("amount", floats(&rows.iter().map(|r| r.4).collect::<Vec<_>>())),
            (
                "billing_months",
                floats(&rows.iter().map(|r| r.5).collect::<Vec<_>>()),
            ),
            ("seats", optional(rows.iter().map(|r| r.6).collect())),
            ("discount", optional(rows.iter().map(|r| r.7).collect())),
        ],
    );
}

/// `[subscriptions]` mapping every column of [`write_periods`], with a grace period of 30 days.
pub const SUBSCRIPTIONS_CONFIG: &str = r#"
[subscriptions]
path = "subscriptions.parquet"
customer_id = "customer_id"
start = "start"
end = "end"
plan = "plan"
amount = "amount"
billing_months = "billing_months"
quantity = "seats"
discount = "discount"
grace_days = 30
"#;
