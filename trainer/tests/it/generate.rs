//! `churn-trainer generate`, run as a user would: the files it writes, their schemas, their contents and the
//! signal planted in them.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DATA_FILES: [&str; 7] = [
    "transactions.parquet",
    "events.parquet",
    "customers.parquet",
    "subscriptions.parquet",
    "churn.toml",
    "churn-subscriptions.toml",
    "generate.json",
];
const MICROS_PER_DAY: i64 = 86_400_000_000;

fn churn_trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .args(args)
        .output()
        .expect("churn-trainer runs")
}

/// Generates into a fresh temporary folder and returns it (kept alive by the returned guard).
fn generate(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let out = folder.path().join("data");
    let out_text = out.to_str().expect("utf-8 path");
    let mut args = vec!["-q", "generate", "--out", out_text];
    args.extend_from_slice(extra);
    let output = churn_trainer(&args);
    assert!(
        output.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (folder, out)
}

fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let schema = batches.first().map(|b| b.schema()).expect("at least one batch");
    arrow_select_concat(schema, &batches)
}

/// Concatenates batches (tests only need a few columns' values, so this goes through the typed iterators).
fn arrow_select_concat(schema: arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    let columns = (0..schema.fields().len())
        .map(|c| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            concat(&parts)
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("same schema")
}

fn concat(parts: &[&dyn Array]) -> arrow_array::ArrayRef {
    use std::sync::Arc;
    match parts[0].data_type() {
        DataType::Utf8 => Arc::new(
            parts
                .iter()
                .flat_map(|p| p.as_string::<i32>().iter())
                .collect::<arrow_array::StringArray>(),
        ),
        DataType::Int64 => Arc::new(
            parts
                .iter()
                .flat_map(|p| p.as_primitive::<Int64Type>().iter())
                .collect::<arrow_array::Int64Array>(),
        ),
        DataType::Float64 => Arc::new(
            parts
                .iter()
                .flat_map(|p| p.as_primitive::<Float64Type>().iter())
                .collect::<arrow_array::Float64Array>(),
        ),
        DataType::Date32 => Arc::new(
            parts
                .iter()
                .flat_map(|p| p.as_primitive::<Date32Type>().iter())
                .collect::<arrow_array::Date32Array>(),
        ),
        DataType::Timestamp(_, zone) => Arc::new(
            parts
                .iter()
                .flat_map(|p| p.as_primitive::<TimestampMicrosecondType>().iter())
                .collect::<arrow_array::TimestampMicrosecondArray>()
                .with_timezone_opt(zone.clone()),
        ),
        other => panic!("unexpected column type {other}"),
    }
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let column = batch.column_by_name(name).expect("column");
    column
        .as_string::<i32>()
        .iter()
        .map(|v| v.expect("no nulls").to_string())
        .collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<f64> {
    batch
        .column_by_name(name)
        .expect("column")
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn timestamps(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("ts")
        .expect("column")
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec()
}

fn manifest(folder: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("generate.json")).expect("generate.json"))
        .expect("json")
}

fn column_types(batch: &RecordBatch) -> Vec<(String, DataType, bool)> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect()
}

#[test]
fn same_seed_same_files_and_another_seed_other_files() {
    let args = [
        "--customers",
        "1500",
        "--transactions-per-customer",
        "8",
        "--seed",
        "7",
    ];
    let (_a, first) = generate(&args);
    let (_b, second) = generate(&args);
    for name in DATA_FILES {
        let (x, y) = (
            std::fs::read(first.join(name)).expect("read"),
            std::fs::read(second.join(name)).expect("read"),
        );
        assert!(x == y, "{name} differs between two runs with the same seed");
    }
    let (_c, other) = generate(&[
        "--customers",
        "1500",
        "--transactions-per-customer",
        "8",
        "--seed",
        "8",
    ]);
    for name in ["transactions.parquet", "events.parquet", "customers.parquet"] {
        let (x, y) = (
            std::fs::read(first.join(name)).expect("read"),
            std::fs::read(other.join(name)).expect("read"),
        );
        assert!(x != y, "{name} is the same for seeds 7 and 8");
    }
}

#[test]
fn files_have_the_documented_schemas_and_no_leftovers() {
    let (_guard, out) = generate(&["--customers", "800", "--transactions-per-customer", "6"]);
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let transactions = read(&out.join("transactions.parquet"));
    assert_eq!(
        column_types(&transactions),
        vec![
            ("customer_id".into(), DataType::Utf8, false),
            ("ts".into(), utc.clone(), false),
            ("amount".into(), DataType::Float64, false),
            ("order_id".into(), DataType::Utf8, false),
            ("product_id".into(), DataType::Utf8, false),
            ("category".into(), DataType::Utf8, false),
            ("quantity".into(), DataType::Int64, false),
        ]
    );
    let events = read(&out.join("events.parquet"));
    assert_eq!(
        column_types(&events),
        vec![
            ("customer_id".into(), DataType::Utf8, false),
            ("ts".into(), utc, false),
            ("event_type".into(), DataType::Utf8, false),
            ("value".into(), DataType::Float64, true),
        ]
    );
    let customers = read(&out.join("customers.parquet"));
    assert_eq!(
        column_types(&customers),
        vec![
            ("customer_id".into(), DataType::Utf8, false),
            ("signup_date".into(), DataType::Date32, false),
            ("plan".into(), DataType::Utf8, false),
            ("region".into(), DataType::Utf8, false),
            ("acquisition_channel".into(), DataType::Utf8, false),
            ("age".into(), DataType::Int64, true),
        ]
    );
    let subscriptions = read(&out.join("subscriptions.parquet"));
    assert_eq!(
        column_types(&subscriptions),
        vec![
            ("customer_id".into(), DataType::Utf8, false),
            ("start_date".into(), DataType::Date32, false),
            ("end_date".into(), DataType::Date32, true),
            ("plan".into(), DataType::Utf8, false),
            ("amount".into(), DataType::Float64, false),
            ("billing_months".into(), DataType::Int64, false),
            ("seats".into(), DataType::Int64, false),
            ("discount".into(), DataType::Float64, false),
        ]
    );
    assert_eq!(
        manifest(&out)["rows"]["subscriptions"].as_u64(),
        Some(subscriptions.num_rows() as u64)
    );
    let config = std::fs::read_to_string(out.join("churn.toml")).expect("churn.toml");
    assert!(
        !config.contains("[subscriptions]"),
        "the demo's labels stay inactivity labels"
    );
    for line in [
        "[transactions]",
        "path = \"transactions.parquet\"",
        "order_id = \"order_id\"",
        "product_id = \"product_id\"",
        "category = \"category\"",
        "quantity = \"quantity\"",
        "[events]",
        "event_type = \"event_type\"",
        "[customers]",
        "signup_date = \"signup_date\"",
    ] {
        assert!(config.contains(line), "churn.toml lacks {line}");
    }
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), DATA_FILES.len(), "unexpected files: {names:?}");
}

#[test]
fn subscription_periods_give_contractual_labels_with_their_configuration() {
    let (_guard, out) = generate(&["--customers", "600", "--transactions-per-customer", "4"]);
    let table = out.join("subscriptions-features.parquet");
    let output = churn_trainer(&[
        "-q",
        "features",
        "-c",
        out.join("churn-subscriptions.toml").to_str().expect("utf-8 path"),
        "--as-of-range",
        "2023-06-30..2024-06-30",
        "--step",
        "monthly",
        "--horizon",
        "90",
        "-o",
        table.to_str().expect("utf-8 path"),
    ]);
    assert!(
        output.status.success(),
        "features failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("subscriptions-features.summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(summary["label_kind"], "subscriptions");
    let rate = summary["label_rate"].as_f64().expect("a label rate");
    assert!(rate > 0.0 && rate < 0.5, "label rate {rate}");
    let file = std::fs::File::open(&table).expect("open the table");
    let schema = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .schema()
        .clone();
    for column in [
        "subscription_mrr",
        "subscription_plan",
        "subscription_upgrades",
        "subscription_returns",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "{column} missing");
    }

    // The catalog of that configuration lists every subscription feature with its unit and window.
    let output = churn_trainer(&[
        "features",
        "--catalog",
        "-c",
        out.join("churn-subscriptions.toml").to_str().expect("utf-8 path"),
    ]);
    assert!(output.status.success());
    let catalog = String::from_utf8(output.stdout).expect("utf-8");
    for (column, unit, window) in [
        ("subscription_mrr ", "currency per month", "at the as-of date"),
        (
            "subscription_mrr_change_90d ",
            "currency per month",
            "last 90 days",
        ),
        ("subscription_upgrades ", "count", "up to the as-of date"),
        ("subscription_months_on_plan ", "months", "up to the as-of date"),
        ("subscription_days_to_renewal ", "days", "from the as-of date"),
        ("subscription_seats ", "seats", "at the as-of date"),
        ("subscription_discount ", "share", "at the as-of date"),
        ("subscription_plan ", "category", "at the as-of date"),
    ] {
        let line = catalog
            .lines()
            .find(|l| l.starts_with(column))
            .unwrap_or_else(|| panic!("{column} not in the catalog:\n{catalog}"));
        assert!(line.contains(unit) && line.contains(window), "{line}");
    }
}

#[test]
fn the_configuration_builds_the_order_line_features() {
    // churn.toml maps product_id, category and quantity, so the feature table has the basket family.
    let (_guard, out) = generate(&["--customers", "500", "--transactions-per-customer", "8"]);
    let table = out.join("features.parquet");
    let output = churn_trainer(&[
        "-q",
        "features",
        "-c",
        out.join("churn.toml").to_str().expect("utf-8 path"),
        "--as-of",
        "2024-06-30",
        "--horizon",
        "90",
        "-o",
        table.to_str().expect("utf-8 path"),
    ]);
    assert!(
        output.status.success(),
        "features failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The whole table is one batch at this size; only its Float64 basket columns are read.
    let file = std::fs::File::open(&table).expect("open the table");
    let features = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .with_batch_size(usize::MAX)
        .build()
        .expect("reader")
        .next()
        .expect("a batch")
        .expect("batch");
    for column in [
        "lines_per_order",
        "lines_per_order_90d",
        "units_per_order",
        "units_per_order_90d",
        "distinct_products",
        "distinct_products_30d",
        "distinct_categories",
        "distinct_categories_90d",
        "top_category_spend_share",
        "days_since_first_top_category_purchase",
        "returned_unit_share",
    ] {
        let values = features
            .column_by_name(column)
            .unwrap_or_else(|| panic!("{column} missing"));
        assert!(values.null_count() < values.len(), "{column} is all null");
    }
    let shares = features
        .column_by_name("top_category_spend_share")
        .expect("column")
        .as_primitive::<Float64Type>();
    assert!(shares.iter().flatten().all(|s| (0.0..=1.0).contains(&s)));
    assert!(shares.iter().flatten().any(|s| s < 0.6) && shares.iter().flatten().any(|s| s == 1.0));
}

#[test]
fn integer_ids_when_asked() {
    let (_guard, out) = generate(&["--customers", "300", "--id-type", "int"]);
    let transactions = read(&out.join("transactions.parquet"));
    let customers = transactions
        .column_by_name("customer_id")
        .expect("column")
        .as_primitive::<Int64Type>();
    let orders = transactions
        .column_by_name("order_id")
        .expect("column")
        .as_primitive::<Int64Type>();
    let products = transactions
        .column_by_name("product_id")
        .expect("column")
        .as_primitive::<Int64Type>();
    assert!(products.values().iter().all(|p| (1..=400).contains(p)));
    for (customer, order) in customers.values().iter().zip(orders.values()) {
        assert!((1..=300).contains(customer));
        assert_eq!(
            order / 1_000_000,
            *customer,
            "order {order} does not belong to customer {customer}"
        );
    }
    let events = read(&out.join("events.parquet"));
    assert_eq!(
        events.column_by_name("customer_id").expect("column").data_type(),
        &DataType::Int64
    );
    let all = read(&out.join("customers.parquet"));
    let ids = all
        .column_by_name("customer_id")
        .expect("column")
        .as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), (1..=300).collect::<Vec<i64>>());
    assert_eq!(manifest(&out)["parameters"]["id_type"], "int");
}

#[test]
fn contents_look_like_a_shop() {
    let (_guard, out) = generate(&[
        "--customers",
        "5000",
        "--transactions-per-customer",
        "10",
        "--start",
        "2023-01-01",
        "--end",
        "2023-12-31",
    ]);
    let manifest = manifest(&out);
    let transactions = read(&out.join("transactions.parquet"));
    let events = read(&out.join("events.parquet"));
    let customers = read(&out.join("customers.parquet"));
    assert_eq!(manifest["rows"]["transactions"], transactions.num_rows());
    assert_eq!(manifest["rows"]["events"], events.num_rows());
    assert_eq!(manifest["rows"]["customers"], 5000);
    assert_eq!(customers.num_rows(), 5000);

    // Row counts near the requested mean.
    let mean = transactions.num_rows() as f64 / 5000.0;
    assert!(
        (9.0..11.0).contains(&mean),
        "mean transactions per customer {mean}"
    );

    // Everything within the period: 2023-01-01T00:00Z ..= 2023-12-31T23:59:59Z.
    let (first, last) = (1_672_531_200_000_000, 1_704_067_200_000_000);
    assert!(
        timestamps(&transactions)
            .iter()
            .chain(&timestamps(&events))
            .all(|&t| (first..last).contains(&t))
    );

    // About 3% returns, as negative amounts; purchases are positive.
    let amounts = floats(&transactions, "amount");
    let returns = amounts.iter().filter(|&&a| a < 0.0).count() as f64 / amounts.len() as f64;
    assert!((0.01..0.05).contains(&returns), "share of returns {returns}");
    assert!(amounts.iter().all(|a| *a != 0.0 && a.is_finite()));

    // Several lines per order sometimes.
    let mut lines: HashMap<String, usize> = HashMap::new();
    for (order, amount) in strings(&transactions, "order_id").into_iter().zip(&amounts) {
        if *amount > 0.0 {
            *lines.entry(order).or_default() += 1;
        }
    }
    let multi = lines.values().filter(|&&n| n > 1).count() as f64 / lines.len() as f64;
    assert!((0.1..0.45).contains(&multi), "share of multi-line orders {multi}");

    // Every line holds a product of one of eight categories (each product in one category) and its units;
    // returns give back at least one unit, purchases buy at least one, and popular products sell most.
    let products = strings(&transactions, "product_id");
    let categories = strings(&transactions, "category");
    let quantities = transactions
        .column_by_name("quantity")
        .expect("column")
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    let mut category_of: HashMap<&str, &str> = HashMap::new();
    let mut sales: HashMap<&str, usize> = HashMap::new();
    for ((product, category), (&quantity, &amount)) in products
        .iter()
        .zip(&categories)
        .zip(quantities.iter().zip(&amounts))
    {
        assert!(product.len() == 5 && product.starts_with('P'), "{product}");
        assert_eq!(*category_of.entry(product).or_insert(category), category);
        assert!(if amount > 0.0 {
            quantity >= 1
        } else {
            quantity <= -1
        });
        *sales.entry(product).or_default() += 1;
    }
    let mut distinct_categories: Vec<&str> = category_of.values().copied().collect();
    distinct_categories.sort_unstable();
    distinct_categories.dedup();
    assert_eq!(distinct_categories.len(), 8, "{distinct_categories:?}");
    let mut by_sales: Vec<usize> = sales.into_values().collect();
    by_sales.sort_unstable_by(|a, b| b.cmp(a));
    let top_tenth: usize = by_sales.iter().take(by_sales.len() / 10).sum();
    assert!(
        top_tenth as f64 > 0.3 * amounts.len() as f64,
        "the best-selling tenth of products has {top_tenth} of {} lines",
        amounts.len()
    );
    let units_per_line = quantities.iter().sum::<i64>() as f64 / quantities.len() as f64;
    assert!(
        (1.2..2.0).contains(&units_per_line),
        "units per line {units_per_line}"
    );

    // All four event types, with support tickets and complaints present but rarer than logins.
    let mut by_type: HashMap<String, usize> = HashMap::new();
    for kind in strings(&events, "event_type") {
        *by_type.entry(kind).or_default() += 1;
    }
    let mut kinds: Vec<&String> = by_type.keys().collect();
    kinds.sort();
    assert_eq!(kinds, ["complaint", "login", "page_view", "support_ticket"]);
    assert!(by_type["support_ticket"] > 100 && by_type["support_ticket"] < by_type["login"]);
    assert!(by_type["complaint"] > 10 && by_type["complaint"] < by_type["support_ticket"]);
    assert_eq!(manifest["events"]["support_ticket"], by_type["support_ticket"]);

    // Complaints have no value; logins always do.
    let values = events
        .column_by_name("value")
        .expect("column")
        .as_primitive::<Float64Type>();
    for (kind, value) in strings(&events, "event_type").iter().zip(values.iter()) {
        match kind.as_str() {
            "complaint" => assert!(value.is_none()),
            "login" | "support_ticket" => assert!(value.is_some_and(|v| v > 0.0)),
            _ => {}
        }
    }

    // A few unknown ages, signups spread over the period with more of them early.
    let ages = customers.column_by_name("age").expect("column");
    assert!(
        (25..300).contains(&ages.null_count()),
        "{} unknown ages",
        ages.null_count()
    );
    let signups = customers
        .column_by_name("signup_date")
        .expect("column")
        .as_primitive::<Date32Type>();
    let first_half = signups.values().iter().filter(|&&d| d < 19_358 + 182).count();
    assert!(
        first_half > 3_400,
        "{first_half} of 5000 signed up in the first half"
    );
    assert!(
        signups
            .values()
            .iter()
            .all(|&d| (19_358..19_358 + 365).contains(&d))
    );
}

/// Area under the ROC curve of `scores` for binary `labels` (ties count half).
fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&k| labels[order[k]]).count() as f64 * mid_rank;
        i = j + 1;
    }
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[test]
fn churn_is_learnable_but_not_certain() {
    // As of 2024-06-30 with a 90-day inactivity label, days since the last purchase alone should rank the
    // churners well, but far from perfectly: the planted mechanism is noisy, as real churn is.
    let (_guard, out) = generate(&["--customers", "6000", "--seed", "3"]);
    let transactions = read(&out.join("transactions.parquet"));
    let as_of_end = 1_719_792_000_000_000; // 2024-07-01T00:00Z, the end of the as-of day
    let horizon_end = as_of_end + 90 * MICROS_PER_DAY;
    let mut last_purchase: HashMap<String, i64> = HashMap::new();
    let mut buys_in_horizon: HashMap<String, bool> = HashMap::new();
    let amounts = floats(&transactions, "amount");
    for ((customer, ts), amount) in strings(&transactions, "customer_id")
        .into_iter()
        .zip(timestamps(&transactions))
        .zip(amounts)
    {
        if amount < 0.0 {
            continue;
        }
        if ts < as_of_end {
            let last = last_purchase.entry(customer).or_insert(ts);
            *last = (*last).max(ts);
        } else if ts < horizon_end {
            buys_in_horizon.insert(customer, true);
        }
    }
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for (customer, last) in &last_purchase {
        scores.push(((as_of_end - last) / MICROS_PER_DAY) as f64);
        labels.push(!buys_in_horizon.contains_key(customer));
    }
    let churn_rate = labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64;
    assert!((0.3..0.75).contains(&churn_rate), "churn rate {churn_rate}");
    let auc = roc_auc(&scores, &labels);
    assert!((0.75..0.95).contains(&auc), "recency AUC {auc}");
}

#[test]
fn bad_requests_fail_with_a_clear_message() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let out = folder.path().join("data");
    let out_text = out.to_str().expect("utf-8 path");
    let output = churn_trainer(&[
        "generate",
        "--out",
        out_text,
        "--start",
        "2024-01-01",
        "--end",
        "2023-01-01",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("before --start"));
    assert!(!out.exists(), "nothing should be written for a bad request");

    // An output path that is a file: the error names it.
    let file = folder.path().join("occupied");
    std::fs::write(&file, "x").expect("write");
    let output = churn_trainer(&[
        "generate",
        "--out",
        file.to_str().expect("utf-8"),
        "--customers",
        "10",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("occupied"));

    let output = churn_trainer(&["generate", "--out", out_text, "--id-type", "uuid"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_documents_every_option_with_an_example() {
    let output = churn_trainer(&["generate", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--out",
        "--customers",
        "--transactions-per-customer",
        "--start",
        "--end",
        "--seed",
        "--id-type",
        "Example:",
    ] {
        assert!(help.contains(option), "help lacks {option}");
    }
}
