//! Bad input: every failure names the file and the column, row or key, and nothing panics.

use crate::common::*;
use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use churn_features::{Config, OnInvalid};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

fn tx_with(dir: &Path, ids: Vec<Option<&str>>, ts: Vec<Option<i64>>, amounts: Vec<Option<f64>>) {
    let ids: ArrayRef = Arc::new(StringArray::from(ids));
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC"));
    let amounts: ArrayRef = Arc::new(Float64Array::from(amounts));
    write_batch(
        &dir.join("tx.parquet"),
        vec![("customer_id", ids), ("ts", ts), ("amount", amounts)],
    );
}

fn error_of(dir: &Path, on_invalid: OnInvalid) -> String {
    let config = config(dir, TX_CONFIG);
    match build(&config, &["2024-01-02"], Some(1), on_invalid) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
}

#[test]
fn missing_column_is_named_with_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0)]);
    let config = config(
        dir.path(),
        &TX_CONFIG.replace("amount = \"amount\"", "amount = \"amt\""),
    );
    let message = build(&config, &["2024-01-01"], None, OnInvalid::Fail)
        .expect_err("missing")
        .to_string();
    assert_mentions(
        &message,
        &[
            "tx.parquet",
            "`amt`",
            "transactions.amount",
            "customer_id, ts, amount",
        ],
    );
}

#[test]
fn wrong_column_type_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("tx.parquet"),
        vec![
            ("customer_id", strings(&["a"])),
            ("ts", timestamps(&["2024-01-01"])),
            ("amount", strings(&["12.5"])),
        ],
    );
    let message = error_of(dir.path(), OnInvalid::Fail);
    assert_mentions(&message, &["tx.parquet", "`amount`", "Utf8", "a number"]);
}

#[test]
fn null_ids_fail_with_the_row_or_are_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let day = micros("2024-01-01");
    tx_with(
        dir.path(),
        vec![Some("a"), None, Some("b"), None],
        vec![Some(day), Some(day), Some(day + 86_400_000_000), Some(day)],
        vec![Some(1.0); 4],
    );
    let message = error_of(dir.path(), OnInvalid::Fail);
    assert_mentions(
        &message,
        &["tx.parquet", "`customer_id`", "row 1", "null customer id"],
    );
    let config = config(dir.path(), TX_CONFIG);
    let (table, summary) = build(&config, &["2024-01-02"], None, OnInvalid::Skip).expect("skip");
    assert_eq!(table.len(), 2);
    assert_eq!(
        summary
            .rows_rejected
            .get("transactions.customer_id: null customer id"),
        Some(&2)
    );
}

#[test]
fn null_timestamps_fail_with_the_row_or_are_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let day = micros("2024-01-01");
    tx_with(
        dir.path(),
        vec![Some("a"), Some("b"), Some("c")],
        vec![Some(day), Some(day + 86_400_000_000), None],
        vec![Some(1.0); 3],
    );
    let message = error_of(dir.path(), OnInvalid::Fail);
    assert_mentions(&message, &["tx.parquet", "`ts`", "row 2", "null timestamp"]);
    let config = config(dir.path(), TX_CONFIG);
    let (_, summary) = build(&config, &["2024-01-02"], None, OnInvalid::Skip).expect("skip");
    assert_eq!(
        summary.rows_rejected.get("transactions.ts: null timestamp"),
        Some(&1)
    );
}

#[test]
fn unparseable_string_timestamps_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("tx.parquet"),
        vec![
            ("customer_id", strings(&["a", "b"])),
            ("ts", strings(&["2024-01-01T10:00:00Z", "01/02/2024"])),
            ("amount", floats(&[1.0, 2.0])),
        ],
    );
    let message = error_of(dir.path(), OnInvalid::Fail);
    assert_mentions(&message, &["`ts`", "row 1", "ISO-8601", "`01/02/2024`"]);
}

#[test]
fn nan_and_infinite_amounts_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let day = micros("2024-01-01");
    for (bad, reason) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "infinite"),
        (f64::NEG_INFINITY, "infinite"),
    ] {
        tx_with(
            dir.path(),
            vec![Some("a"), Some("b")],
            vec![Some(day), Some(day + 86_400_000_000)],
            vec![Some(1.0), Some(bad)],
        );
        let message = error_of(dir.path(), OnInvalid::Fail);
        assert_mentions(&message, &["tx.parquet", "`amount`", "row 1", reason]);
    }
}

#[test]
fn empty_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    tx_with(dir.path(), vec![], vec![], vec![]);
    let message = error_of(dir.path(), OnInvalid::Fail);
    assert_mentions(&message, &["tx.parquet", "no rows"]);
}

#[test]
fn truncated_and_non_parquet_files_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("b", "2024-01-02", 2.0)]);
    let path = dir.path().join("tx.parquet");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    assert_mentions(
        &error_of(dir.path(), OnInvalid::Fail),
        &["tx.parquet", "not a readable Parquet file"],
    );
    std::fs::write(&path, "customer_id,ts,amount\na,2024-01-01,1.0\n").expect("csv");
    assert_mentions(
        &error_of(dir.path(), OnInvalid::Fail),
        &["tx.parquet", "not a readable Parquet file"],
    );
}

/// `tests/fixtures/tx_crc.parquet` (written by `make_tx_crc.py` with pyarrow) has page checksums: a flipped
/// byte inside a page is an error naming the file, not a wrong amount.
#[test]
fn flipped_page_bytes_are_caught_by_the_page_checksum() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tx_crc.parquet");
    let bytes = std::fs::read(&fixture).expect("read fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tx.parquet");
    std::fs::write(&path, &bytes).expect("copy fixture");
    let config = config(dir.path(), TX_CONFIG);
    let (table, _) = build(&config, &["2024-01-03"], None, OnInvalid::Fail).expect("intact file");
    assert_eq!(value(&table, "a", "2024-01-03", "total_spend"), Some(1234.5678));

    let amount = 1234.5678f64.to_le_bytes();
    let at = bytes
        .windows(amount.len())
        .position(|window| window == amount)
        .expect("the amount is stored once, in a data page");
    let mut flipped = bytes;
    flipped[at + 2] ^= 0xff;
    std::fs::write(&path, &flipped).expect("write flipped");
    let message = build(&config, &["2024-01-03"], None, OnInvalid::Fail)
        .expect_err("checksum mismatch")
        .to_string();
    assert_mentions(&message, &["tx.parquet", "CRC checksum mismatch"]);
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_mentions(&error_of(dir.path(), OnInvalid::Fail), &["tx.parquet"]);
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("churn.toml");
    std::fs::write(&path, format!("{TX_CONFIG}order = \"order_id\"\n")).expect("write");
    let message = Config::load(&path).expect_err("unknown key").to_string();
    assert_mentions(&message, &["churn.toml", "order"]);
}

#[test]
fn as_of_outside_the_data_range_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("b", "2024-01-10", 2.0)]);
    let config = config(dir.path(), TX_CONFIG);
    for as_of in ["2023-12-31", "2024-01-11"] {
        let message = build(&config, &[as_of], None, OnInvalid::Fail)
            .expect_err("outside")
            .to_string();
        assert_mentions(
            &message,
            &[as_of, "outside the data range 2024-01-01 .. 2024-01-10"],
        );
    }
}

#[test]
fn mixed_id_types_across_inputs_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0)]);
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    write_batch(
        &dir.path().join("events.parquet"),
        vec![
            ("customer_id", ids),
            ("ts", timestamps(&["2024-01-01"])),
            ("event_type", strings(&["login"])),
        ],
    );
    let config = config(dir.path(), &format!("{TX_CONFIG}{EVENTS_CONFIG}"));
    let message = build(&config, &["2024-01-01"], None, OnInvalid::Fail)
        .expect_err("mixed")
        .to_string();
    assert_mentions(&message, &["events.parquet", "integer customer ids"]);
}

#[test]
fn duplicate_customers_are_located_by_row_with_the_id_hashed() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("id", strings(&["a", "b", "a"])),
            ("plan", strings(&["x", "y", "z"])),
            ("churned", floats(&[0.0, 1.0, 0.0])),
        ],
    );
    let text = "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\n\
                [labels]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nlabel = \"churned\"\n";
    let config = config(dir.path(), text);
    let message = build(&config, &[], None, OnInvalid::Fail).expect_err("duplicate");
    let message = message.to_string();
    let hashed = churn_features::redact::redacted("a");
    assert_mentions(&message, &["customers.parquet", "rows 0 and 2", &hashed]);
    assert!(!message.contains("`a`"), "the raw id leaked: {message}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes (and random bytes behind a valid Parquet magic number) never panic.
    #[test]
    fn random_bytes_are_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), magic in any::<bool>()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut content = bytes;
        if magic {
            content.splice(0..0, *b"PAR1");
            content.extend_from_slice(b"PAR1");
        }
        std::fs::write(dir.path().join("tx.parquet"), &content).expect("write");
        let config = config(dir.path(), TX_CONFIG);
        let outcome = build(&config, &["2024-01-01"], None, OnInvalid::Fail);
        prop_assert!(outcome.is_err());
    }
}

/// Customers `a`, `b` and `c` with periods: `a` and `b` have two each (rows 0 and 2, 1 and 4).
fn write_periods(dir: &Path) {
    let days = |dates: &[&str]| -> ArrayRef {
        Arc::new(arrow_array::Date32Array::from(
            dates
                .iter()
                .map(|d| (date(d) - date("1970-01-01")).num_days() as i32)
                .collect::<Vec<_>>(),
        ))
    };
    write_batch(
        &dir.join("periods.parquet"),
        vec![
            ("id", strings(&["a", "b", "a", "c", "b"])),
            (
                "start_date",
                days(&[
                    "2024-01-01",
                    "2024-01-01",
                    "2024-02-01",
                    "2024-01-01",
                    "2024-03-01",
                ]),
            ),
            (
                "end_date",
                days(&[
                    "2024-01-31",
                    "2024-02-29",
                    "2024-02-29",
                    "2024-01-31",
                    "2024-03-31",
                ]),
            ),
            ("plan", strings(&["basic", "pro", "pro", "basic", "pro"])),
            ("churned", floats(&[0.0, 0.0, 1.0, 1.0, 1.0])),
        ],
    );
}

#[test]
fn several_rows_per_customer_in_customers_are_refused_even_when_skipping() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_periods(dir.path());
    let text = "[customers]\npath = \"periods.parquet\"\ncustomer_id = \"id\"\nsignup_date = \"start_date\"\n\
                exclude = [\"churned\"]\n";
    let config = config(dir.path(), text);
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let message = build(&config, &["2024-03-31"], None, on_invalid)
            .expect_err("periods are not customers")
            .to_string();
        assert_mentions(
            &message,
            &[
                "periods.parquet",
                "[customers] needs one row per customer",
                "`id`",
                "2 customers with more than one row",
                "rows 0 and 2",
                &churn_features::redact::redacted("a"),
                "`start_date`, `end_date`",
                "map it as [subscriptions]",
            ],
        );
        assert!(!message.contains("`a`"), "the raw id leaked: {message}");
    }
}

#[test]
fn several_labels_per_customer_are_refused_even_when_skipping_and_the_fitting_section_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ts = timestamps(&["2024-01-01", "2024-01-02", "2024-01-03"]);
    write_batch(
        &dir.path().join("labels.parquet"),
        vec![
            ("id", strings(&["a", "b", "a"])),
            ("ts", ts),
            ("label", Arc::new(Int64Array::from(vec![0, 1, 1])) as ArrayRef),
        ],
    );
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("b", "2024-01-02", 2.0)]);
    let text =
        format!("{TX_CONFIG}[labels]\npath = \"labels.parquet\"\ncustomer_id = \"id\"\nlabel = \"label\"\n");
    let config = config(dir.path(), &text);
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let message = build(&config, &["2024-01-02"], None, on_invalid)
            .expect_err("a label history is not one label per customer")
            .to_string();
        assert_mentions(
            &message,
            &[
                "labels.parquet",
                "[labels] needs one row per customer",
                "1 customer with more than one row",
                "rows 0 and 2",
                "with dates (`ts`), this looks like events: map it as [events]",
            ],
        );
    }
}

#[test]
fn exact_copies_of_a_customer_row_keep_failing_or_being_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("id", strings(&["a", "b", "a"])),
            ("plan", strings(&["x", "y", "x"])),
            ("churned", Arc::new(Int64Array::from(vec![0, 1, 0])) as ArrayRef),
        ],
    );
    let text = "[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\n\
                [labels]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\nlabel = \"churned\"\n";
    let config = config(dir.path(), text);
    let message = build(&config, &[], None, OnInvalid::Fail)
        .expect_err("a copy is an invalid row")
        .to_string();
    assert_mentions(
        &message,
        &["customers.parquet", "appears more than once", "rows 0 and 2"],
    );
    let (table, summary) = build(&config, &[], None, OnInvalid::Skip).expect("the copy is skipped");
    assert_eq!(table.len(), 2);
    for input in ["customers", "labels"] {
        assert_eq!(
            summary
                .rows_rejected
                .get(&format!("{input}.id: duplicate customer id")),
            Some(&1),
            "{:?}",
            summary.rows_rejected
        );
    }
}

#[test]
fn a_mapped_column_null_in_every_row_is_warned_about_before_the_build() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-01", 1.0), ("b", "2024-01-02", 2.0)]);
    let nulls: ArrayRef = Arc::new(Float64Array::from(vec![None::<f64>, None]));
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![
            ("id", strings(&["a", "b"])),
            ("credit_limit", nulls),
            ("plan", strings(&["x", "y"])),
        ],
    );
    let text = format!("{TX_CONFIG}[customers]\npath = \"customers.parquet\"\ncustomer_id = \"id\"\n");
    let config = config(dir.path(), &text);
    let inputs = churn_features::Inputs::load(&config, OnInvalid::Fail, &churn_features::input::NoProgress)
        .expect("load");
    assert_eq!(inputs.warnings.len(), 1, "{:?}", inputs.warnings);
    assert_mentions(
        &inputs.warnings[0],
        &[
            "customers.parquet",
            "column `credit_limit`",
            "[customers]",
            "null in every row",
        ],
    );
    let request = churn_features::BuildRequest {
        as_of: vec![date("2024-01-02")],
        horizon_days: None,
        durations: false,
    };
    let (_, summary) = churn_features::build(&config, inputs, &request).expect("build");
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
}

#[test]
fn a_horizon_that_does_not_fit_the_label_source_is_caught_before_any_input_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No file is written: each answer comes from the configuration and the request alone.
    let request = |as_of: &[&str], horizon: Option<u32>| churn_features::BuildRequest {
        as_of: as_of.iter().map(|d| date(d)).collect(),
        horizon_days: horizon,
        durations: false,
    };
    // Events and customer attributes, without a churn date: nothing says who churned.
    let events_only = config(
        dir.path(),
        &format!("{EVENTS_CONFIG}[customers]\npath = \"c.parquet\"\ncustomer_id = \"customer_id\"\n"),
    );
    let message = request(&["2024-01-31"], Some(90))
        .check_labels(&events_only)
        .expect_err("nothing to label with")
        .to_string();
    assert_mentions(
        &message,
        &[
            "--horizon 90",
            "[transactions]",
            "churn_date",
            "[labels]",
            "leave out --horizon",
        ],
    );
    // The build checks it too, for callers that did not.
    write_events(dir.path(), &[("a", "2024-01-01", "login")]);
    write_batch(
        &dir.path().join("c.parquet"),
        vec![("customer_id", strings(&["a"])), ("plan", strings(&["x"]))],
    );
    assert!(matches!(
        build(&events_only, &["2024-01-01"], Some(90), OnInvalid::Fail),
        Err(churn_features::FeatureError::NoLabelSource { horizon_days: 90 })
    ));
    assert_eq!(
        request(&["2024-01-31"], None)
            .check_labels(&events_only)
            .expect("no labels asked for"),
        Vec::<String>::new()
    );

    let given = config(
        dir.path(),
        &format!("{TX_CONFIG}[labels]\npath = \"labels.parquet\"\ncustomer_id = \"id\"\nlabel = \"y\"\n"),
    );
    let warnings = request(&["2024-01-31"], Some(30))
        .check_labels(&given)
        .expect("a warning");
    assert_eq!(warnings.len(), 1);
    assert_mentions(
        &warnings[0],
        &["--horizon 30 is not used", "[labels] gives the labels"],
    );

    let contractual = config(
        dir.path(),
        &format!(
            "{TX_CONFIG}[customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\nchurn_date = \"cancelled\"\n"
        ),
    );
    let warnings = request(&["2024-01-31", "2024-02-29"], None)
        .check_labels(&contractual)
        .expect("a warning");
    assert_eq!(warnings.len(), 1);
    assert_mentions(
        &warnings[0],
        &[
            "2 as-of dates but no --horizon",
            "no labels",
            "churn_date gives contractual labels",
        ],
    );
    let inactivity = config(dir.path(), TX_CONFIG);
    let warnings = request(&["2024-01-31", "2024-02-29"], None)
        .check_labels(&inactivity)
        .expect("a warning");
    assert_mentions(&warnings[0], &["[transactions] give inactivity labels"]);
    // One as-of date without a horizon is a table to score: nothing to say.
    assert!(
        request(&["2024-01-31"], None)
            .check_labels(&inactivity)
            .expect("ok")
            .is_empty()
    );
    assert!(
        request(&["2024-01-31"], Some(30))
            .check_labels(&contractual)
            .expect("ok")
            .is_empty()
    );
}

/// A `[customers]` attribute named like a column the table already has (an engine feature, or another
/// attribute's date feature) is refused naming the file and the column, instead of writing two columns
/// of one name.
#[test]
fn an_attribute_sharing_a_feature_name_is_refused_naming_file_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_transactions(dir.path(), &[("a", "2024-01-05", 10.0)]);
    write_batch(
        &dir.path().join("customers.parquet"),
        vec![("customer_id", strings(&["a"])), ("total_spend", floats(&[3.0]))],
    );
    let config = config(
        dir.path(),
        &format!("{TX_CONFIG}\n[customers]\npath = \"customers.parquet\"\ncustomer_id = \"customer_id\"\n"),
    );
    let message = build(&config, &["2024-01-05"], None, OnInvalid::Fail)
        .expect_err("two columns of one name")
        .to_string();
    for part in ["customers.parquet", "`total_spend`", "exclude"] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

/// Customers are numbered in the order of their first accepted row, whether the ids are stored with a
/// dictionary or plain, across batches and row groups read in parallel; a customer whose only rows are
/// rejected gets no number, and the first error in row order is the one reported.
#[test]
fn customers_are_numbered_by_first_accepted_row_across_batches_and_encodings() {
    use parquet::file::properties::WriterProperties;
    let rows = 150_000;
    // A customer per row drawn from 5,000 (a well-spread sequence), a null amount every 7th row, and
    // customers `x…` whose every row has one.
    let id = |i: usize| {
        let c = (i.wrapping_mul(2_654_435_761) >> 7) % 5_000;
        if i.is_multiple_of(7) && c.is_multiple_of(10) {
            format!("x{c}")
        } else {
            format!("c{c}")
        }
    };
    let ids: Vec<String> = (0..rows).map(id).collect();
    let amounts: Vec<Option<f64>> = (0..rows).map(|i| (!i.is_multiple_of(7)).then_some(1.0)).collect();
    let mut expected: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if amounts[i].is_some() && seen.insert(id.clone()) {
            expected.push(id.clone());
        }
    }
    assert!(expected.iter().all(|id| id.starts_with('c')));
    let day = micros("2024-01-01");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("customer_id", Arc::new(StringArray::from(ids.clone()))),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![day; rows]).with_timezone("UTC")),
        ),
        ("amount", Arc::new(Float64Array::from(amounts))),
    ];
    // Row groups of 100,000 rows, read in batches of 65,536: some batches start inside a row group.
    let with_dictionary = |enabled| {
        WriterProperties::builder()
            .set_dictionary_enabled(enabled)
            .set_max_row_group_row_count(Some(100_000))
    };
    let encodings = [
        ("dictionary", with_dictionary(true).build()),
        ("plain", with_dictionary(false).build()),
        (
            "dictionary falling back to plain pages",
            with_dictionary(true)
                .set_dictionary_page_size_limit(4_096)
                .set_data_page_row_count_limit(1_000)
                .set_write_batch_size(1_000)
                .build(),
        ),
    ];
    for (encoding, properties) in encodings {
        let dir = tempfile::tempdir().expect("temp dir");
        write_batch_with(&dir.path().join("tx.parquet"), columns.clone(), Some(properties));
        let config = config(dir.path(), TX_CONFIG);
        let inputs =
            churn_features::Inputs::load(&config, OnInvalid::Skip, &churn_features::input::NoProgress)
                .expect("skip");
        assert_eq!(
            ids_in_order(&inputs),
            churn_features::table::CustomerIds::Str(expected.clone()),
            "{encoding}"
        );
        assert_eq!(
            inputs.transactions.expect("transactions").len(),
            rows - rows.div_ceil(7)
        );
        let message = error_of(dir.path(), OnInvalid::Fail);
        assert_mentions(&message, &["tx.parquet", "`amount`", "row 0", "null amount"]);
    }
}

/// Events read in parallel batches number customers and event types as reading row by row would: a type
/// seen only on rejected rows is not one, spellings that differ in case are one type named by the
/// smallest, whichever batch they come in.
#[test]
fn event_types_and_customers_are_numbered_by_first_accepted_row_across_batches() {
    use parquet::file::properties::WriterProperties;
    let rows = 150_000;
    let id = |i: usize| format!("c{}", (i.wrapping_mul(2_654_435_761) >> 9) % 7_000);
    // `ghost` rows all have an infinite value (rejected); every 11th row has no type (rejected); `Login`
    // first appears in the second batch.
    let kind = |i: usize| -> Option<&str> {
        if i.is_multiple_of(11) {
            None
        } else if i.is_multiple_of(7) {
            Some("ghost")
        } else if i > 70_000 && i.is_multiple_of(3) {
            Some("Login")
        } else {
            Some(["login", "ticket", "page"][i % 3])
        }
    };
    let value = |i: usize| {
        if kind(i) == Some("ghost") {
            f64::INFINITY
        } else {
            1.0
        }
    };
    let (mut customers, mut types): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for i in 0..rows {
        let Some(kind) = kind(i).filter(|_| value(i).is_finite()) else {
            continue;
        };
        if seen.insert(id(i)) {
            customers.push(id(i));
        }
        if !types.iter().any(|t| t.eq_ignore_ascii_case(kind)) {
            types.push(kind.to_string());
        } else if let Some(t) = types
            .iter_mut()
            .find(|t| t.eq_ignore_ascii_case(kind) && kind < t.as_str())
        {
            *t = kind.to_string();
        }
    }
    assert_eq!(types, ["ticket", "page", "Login"]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "customer_id",
            Arc::new(StringArray::from_iter_values((0..rows).map(id))),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![micros("2024-01-01"); rows]).with_timezone("UTC")),
        ),
        (
            "event_type",
            Arc::new(StringArray::from_iter((0..rows).map(kind))),
        ),
        (
            "value",
            Arc::new(Float64Array::from_iter_values((0..rows).map(value))),
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100_000))
        .build();
    write_batch_with(&dir.path().join("events.parquet"), columns, Some(properties));
    // Transactions are read first: their one customer comes first.
    write_transactions(dir.path(), &[("t0", "2024-01-01", 1.0)]);
    customers.insert(0, "t0".to_string());
    let config = config(
        dir.path(),
        &format!("{TX_CONFIG}{EVENTS_CONFIG}value = \"value\"\n"),
    );
    let inputs = churn_features::Inputs::load(&config, OnInvalid::Skip, &churn_features::input::NoProgress)
        .expect("skip");
    assert_eq!(
        ids_in_order(&inputs),
        churn_features::table::CustomerIds::Str(customers)
    );
    assert_eq!(inputs.events.expect("events").type_names, types);
}
