//! Order lines (`quantity`, `product_id`, `category` in `[transactions]`): features computed by hand on
//! small inputs, lifetime against windowed, the columns appearing only with their inputs, bad input, the
//! catalog, and the columns on CDNOW with `number_of_cds` as the quantity.

use crate::common::*;
use arrow_array::{ArrayRef, Float64Array, StringArray};
use churn_features::engine::columns;
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, ColumnValues, FeatureTable, Inputs, OnInvalid};
use std::path::Path;
use std::sync::Arc;

const WINDOWS: &str = "\n[features]\nwindows = [30, 90]\n\n[value]\nenabled = false\n";

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: null, expected {expected}"));
    assert!(
        (actual - expected).abs() < 1e-12,
        "{what}: {actual}, expected {expected}"
    );
}

fn names(table: &FeatureTable) -> Vec<&str> {
    table.columns.iter().map(|c| c.name.as_str()).collect()
}

/// Customer `a`: one order of three lines in two categories (music 20 + 15, books 10; 4 units), one of
/// its music lines returned ten days later, then a second order of one books line (3 units, 40). Customer
/// `b`: books first, then more spent on music. Customer `z` buys on 2024-06-30, the end of the data.
fn lines_of_two_customers(dir: &Path) {
    write_lines(
        dir,
        &[
            ("a", "2024-01-10T10:00:00", 20.0, 2.0, "o1", "p1", "music"),
            ("a", "2024-01-10T10:00:00", 15.0, 1.0, "o1", "p2", "music"),
            ("a", "2024-01-10T10:00:00", 10.0, 1.0, "o1", "p3", "books"),
            ("a", "2024-01-20T09:00:00", -15.0, -1.0, "r1", "p2", "music"),
            ("a", "2024-06-15T12:00:00", 40.0, 3.0, "o2", "p4", "books"),
            ("b", "2024-02-01T12:00:00", 5.0, 1.0, "o3", "p9", "books"),
            ("b", "2024-03-01T12:00:00", 50.0, 1.0, "o4", "p8", "music"),
            // The last day of the data.
            ("z", "2024-06-30T12:00:00", 1.0, 1.0, "o5", "p1", "music"),
        ],
    );
}

#[test]
fn one_order_of_three_lines_with_a_return_in_two_categories_by_hand() {
    let dir = tempfile::tempdir().expect("temp dir");
    lines_of_two_customers(dir.path());
    let config = config(dir.path(), &format!("{LINES_CONFIG}{WINDOWS}"));
    let (table, _) = build(&config, &["2024-03-31", "2024-06-30"], None, OnInvalid::Fail).expect("build");
    let at = |as_of: &str, column: &str| value(&table, "a", as_of, column);

    // As of 2024-03-31: only the first order (81 days ago) and the return.
    let march = "2024-03-31";
    assert_eq!(at(march, "purchase_count"), Some(1.0), "the order counts once");
    assert_eq!(at(march, "return_count"), Some(1.0));
    close(at(march, "lines_per_order"), 3.0, "lines per order");
    close(at(march, "lines_per_order_90d"), 3.0, "lines per order, 90 days");
    close(at(march, "units_per_order"), 4.0, "units per order");
    close(at(march, "units_per_order_90d"), 4.0, "units per order, 90 days");
    assert_eq!(at(march, "distinct_products"), Some(3.0));
    assert_eq!(at(march, "distinct_products_30d"), Some(0.0));
    assert_eq!(at(march, "distinct_products_90d"), Some(3.0));
    assert_eq!(at(march, "distinct_categories"), Some(2.0));
    assert_eq!(at(march, "distinct_categories_30d"), Some(0.0));
    assert_eq!(at(march, "distinct_categories_90d"), Some(2.0));
    // Music 35 of 45 spent; first bought 81 days before.
    close(at(march, "top_category_spend_share"), 35.0 / 45.0, "top share");
    assert_eq!(at(march, "days_since_first_top_category_purchase"), Some(81.0));
    close(at(march, "returned_unit_share"), 1.0 / 4.0, "returned share");

    // As of 2024-06-30: the second order, 15 days before, is the only recent one; books (10 + 40) now
    // lead music (35).
    let june = "2024-06-30";
    assert_eq!(at(june, "purchase_count"), Some(2.0));
    close(at(june, "lines_per_order"), 4.0 / 2.0, "lines per order");
    close(at(june, "lines_per_order_90d"), 1.0, "lines per order, 90 days");
    close(at(june, "units_per_order"), 7.0 / 2.0, "units per order");
    close(at(june, "units_per_order_90d"), 3.0, "units per order, 90 days");
    assert_eq!(at(june, "distinct_products"), Some(4.0));
    assert_eq!(at(june, "distinct_products_30d"), Some(1.0));
    assert_eq!(at(june, "distinct_products_90d"), Some(1.0));
    assert_eq!(at(june, "distinct_categories"), Some(2.0));
    assert_eq!(at(june, "distinct_categories_30d"), Some(1.0));
    assert_eq!(at(june, "distinct_categories_90d"), Some(1.0));
    close(at(june, "top_category_spend_share"), 50.0 / 85.0, "top share");
    assert_eq!(at(june, "days_since_first_top_category_purchase"), Some(172.0));
    close(at(june, "returned_unit_share"), 1.0 / 7.0, "returned share");

    // `b` bought books first, but spent more on music, first bought on 2024-03-01.
    let b = |column: &str| value(&table, "b", june, column);
    close(b("top_category_spend_share"), 50.0 / 55.0, "b's top share");
    assert_eq!(b("days_since_first_top_category_purchase"), Some(121.0));
    close(b("lines_per_order"), 1.0, "b's lines per order");
    close(b("returned_unit_share"), 0.0, "b's returned share");
    assert_eq!(b("lines_per_order_90d"), None, "no order in the last 90 days");
    assert_eq!(b("distinct_products_90d"), Some(0.0));
}

#[test]
fn a_product_column_without_order_ids_makes_each_line_its_own_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    lines_of_two_customers(dir.path());
    let text = LINES_CONFIG
        .replace("order_id = \"order_id\"\n", "")
        .replace("quantity = \"quantity\"\n", "")
        .replace("category = \"category\"\n", "");
    let products = config(dir.path(), &format!("{text}{WINDOWS}"));
    let (table, _) = build(&products, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    let names = names(&table);
    for absent in [
        "lines_per_order",
        "units_per_order",
        "distinct_categories",
        "top_category_spend_share",
        "returned_unit_share",
    ] {
        assert!(!names.contains(&absent), "{absent} in {names:?}");
    }
    // The three lines of the first order are three purchases.
    assert_eq!(value(&table, "a", "2024-03-31", "purchase_count"), Some(3.0));
    assert_eq!(value(&table, "a", "2024-03-31", "distinct_products"), Some(3.0));
    assert_eq!(
        value(&table, "a", "2024-03-31", "distinct_products_30d"),
        Some(0.0)
    );

    // With quantities, units per order are units per line.
    let with_units = text.replace(
        "amount = \"amount\"\n",
        "amount = \"amount\"\nquantity = \"quantity\"\n",
    );
    let config = config(dir.path(), &format!("{with_units}{WINDOWS}"));
    let (table, _) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    close(
        value(&table, "a", "2024-03-31", "units_per_order"),
        4.0 / 3.0,
        "units per line",
    );
}

#[test]
fn columns_appear_only_with_the_columns_they_need_and_leave_the_others_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    lines_of_two_customers(dir.path());
    let plain = config(dir.path(), &format!("{TX_CONFIG}{WINDOWS}"));
    let (without, _) = build(&plain, &["2024-03-31"], Some(1), OnInvalid::Fail).expect("build");
    let with_orders = config(
        dir.path(),
        &format!("{TX_CONFIG}order_id = \"order_id\"\n{WINDOWS}"),
    );
    let (orders_only, _) = build(&with_orders, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    assert_eq!(
        names(&without),
        names(&orders_only),
        "an order id alone adds no column"
    );
    let units = config(
        dir.path(),
        &format!("{TX_CONFIG}quantity = \"quantity\"\n{WINDOWS}"),
    );
    let (with_units, _) = build(&units, &["2024-03-31"], Some(1), OnInvalid::Fail).expect("build");
    let added: Vec<&str> = names(&with_units)
        .into_iter()
        .filter(|name| !names(&without).contains(name))
        .collect();
    assert_eq!(
        added,
        ["units_per_order", "units_per_order_90d", "returned_unit_share"]
    );
    // The columns of both hold the same values: mapping the quantity changes nothing else.
    for column in &without.columns {
        let other = with_units.column(&column.name).expect("column");
        assert_eq!(
            format!("{:?}", column.values),
            format!("{:?}", other.values),
            "{}",
            column.name
        );
    }
    assert_eq!(without.labels, with_units.labels);
}

/// With `quantity × unit_price` the quantity is mapped too: the units columns come with it, and the
/// order's lines with `order_id`.
#[test]
fn quantity_times_unit_price_gives_the_units_columns_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The `amount` column holds unit prices here; the return is a negative quantity.
    write_lines(
        dir.path(),
        &[
            ("a", "2024-01-10", 20.0, 2.0, "o1", "p1", "music"),
            ("a", "2024-01-10", 15.0, 1.0, "o1", "p2", "music"),
            ("a", "2024-01-10", 10.0, 1.0, "o1", "p3", "books"),
            ("a", "2024-01-20", 15.0, -1.0, "r1", "p2", "music"),
            ("z", "2024-03-31", 1.0, 1.0, "o9", "p1", "music"),
        ],
    );
    let text = LINES_CONFIG
        .replace("amount = \"amount\"\n", "unit_price = \"amount\"\n")
        .replace("product_id = \"product_id\"\n", "")
        .replace("category = \"category\"\n", "");
    let config = config(dir.path(), &format!("{text}{WINDOWS}"));
    let (table, _) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
    let at = |column: &str| value(&table, "a", "2024-03-31", column);
    // 2 × 20 + 1 × 15 + 1 × 10 spent in one order of three lines, 1 × 15 returned.
    assert_eq!(at("total_spend"), Some(65.0));
    assert_eq!(at("return_amount"), Some(15.0));
    close(at("lines_per_order"), 3.0, "lines per order");
    close(at("units_per_order"), 4.0, "units per order");
    close(at("returned_unit_share"), 0.25, "returned share");
    assert!(table.column("distinct_products").is_none());
}

#[test]
fn bad_order_lines_name_file_column_and_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let string_column = |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let write = |quantity: Vec<Option<f64>>, products: Vec<Option<&str>>, categories: Vec<Option<&str>>| {
        write_batch(
            &dir.path().join("tx.parquet"),
            vec![
                ("customer_id", strings(&["a", "b", "c"])),
                ("ts", timestamps(&["2024-01-01", "2024-01-02", "2024-01-03"])),
                ("amount", floats(&[1.0, 2.0, 3.0])),
                ("quantity", Arc::new(Float64Array::from(quantity))),
                ("order_id", strings(&["o1", "o2", "o3"])),
                ("product_id", string_column(products)),
                ("category", string_column(categories)),
            ],
        );
    };
    let config = config(dir.path(), LINES_CONFIG);
    let fails = |needles: &[&str]| {
        let message = build(&config, &["2024-01-03"], None, OnInvalid::Fail)
            .expect_err("invalid")
            .to_string();
        for needle in needles {
            assert!(message.contains(needle), "`{message}` should mention `{needle}`");
        }
    };
    let some = |values: [&'static str; 3]| values.map(Some).to_vec();
    write(
        vec![Some(1.0), None, Some(1.0)],
        some(["p", "q", "r"]),
        some(["x", "y", "z"]),
    );
    fails(&["tx.parquet", "`quantity`", "row 1", "null quantity"]);
    write(
        vec![Some(1.0), Some(1.0), Some(f64::NAN)],
        some(["p", "q", "r"]),
        some(["x", "y", "z"]),
    );
    fails(&["tx.parquet", "`quantity`", "row 2", "NaN"]);

    // A product id of another type is refused by column.
    write_batch(
        &dir.path().join("tx.parquet"),
        vec![
            ("customer_id", strings(&["a"])),
            ("ts", timestamps(&["2024-01-01"])),
            ("amount", floats(&[1.0])),
            ("quantity", floats(&[1.0])),
            ("order_id", strings(&["o1"])),
            ("product_id", floats(&[1.5])),
            ("category", strings(&["x"])),
        ],
    );
    fails(&["tx.parquet", "`product_id`", "Float64", "an integer or string"]);
}

#[test]
fn amount_with_unit_price_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("churn.toml");
    std::fs::write(&path, format!("{LINES_CONFIG}unit_price = \"price\"\n")).expect("write");
    let message = churn_features::Config::load(&path)
        .expect_err("contradictory")
        .to_string();
    for needle in [
        "churn.toml",
        "[transactions]",
        "not `amount` and `unit_price` together",
    ] {
        assert!(message.contains(needle), "`{message}` should mention `{needle}`");
    }
}

#[test]
fn the_catalog_lists_every_order_line_feature_with_unit_and_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    lines_of_two_customers(dir.path());
    let config = config(dir.path(), &format!("{LINES_CONFIG}{WINDOWS}"));
    let inputs = Inputs::load(&config, OnInvalid::Fail, &NoProgress).expect("inputs");
    let request = BuildRequest {
        as_of: vec![date("2024-06-30")],
        horizon_days: None,
        durations: false,
    };
    let layout = columns(&config, &inputs, &request).expect("catalog");
    let (table, _) = churn_features::build(&config, inputs, &request).expect("build");
    assert_eq!(
        layout.specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        names(&table)
    );
    let expected = [
        ("lines_per_order", "lines per order", "up to the as-of date"),
        ("lines_per_order_90d", "lines per order", "last 90 days"),
        ("units_per_order", "units per order", "up to the as-of date"),
        ("units_per_order_90d", "units per order", "last 90 days"),
        ("distinct_products", "count", "up to the as-of date"),
        ("distinct_products_30d", "count", "last 30 days"),
        ("distinct_products_90d", "count", "last 90 days"),
        ("distinct_categories", "count", "up to the as-of date"),
        ("distinct_categories_30d", "count", "last 30 days"),
        ("distinct_categories_90d", "count", "last 90 days"),
        ("top_category_spend_share", "share", "up to the as-of date"),
        (
            "days_since_first_top_category_purchase",
            "days",
            "up to the as-of date",
        ),
        ("returned_unit_share", "share", "up to the as-of date"),
    ];
    let start = layout
        .specs
        .iter()
        .position(|s| s.name == "lines_per_order")
        .expect("order-line columns");
    for (spec, (name, unit, window)) in layout.specs[start..].iter().zip(expected) {
        assert_eq!(
            (spec.name.as_str(), spec.unit, spec.window.as_str()),
            (name, unit, window)
        );
        assert!(!spec.meaning.is_empty(), "{name}");
        let column = table.column(name).expect(name);
        assert_eq!(column.description.as_deref(), Some(spec.meaning.as_str()));
    }
}

/// CDNOW has no order, product or category columns, but `number_of_cds` is each line's quantity: with it
/// mapped, the units columns exist and every other column keeps its values.
#[test]
fn cdnow_with_number_of_cds_as_quantity_has_the_units_columns() {
    let Some(root) = real_data(&["data/cdnow/cdnow_master_transactions.parquet"]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = root.join("data/cdnow/cdnow_master_transactions.parquet");
    let base = format!(
        "[transactions]\npath = \"{}\"\ncustomer_id = \"customer_id\"\ntimestamp = \"date\"\n\
         amount = \"dollar_value\"\n",
        path.display()
    );
    let no_value = "\n[value]\nenabled = false\n";
    let plain = config(dir.path(), &format!("{base}{no_value}"));
    let (without, _) = build(&plain, &["1997-09-30"], Some(273), OnInvalid::Fail).expect("build");
    let with_cds = config(
        dir.path(),
        &format!("{base}quantity = \"number_of_cds\"\n{no_value}"),
    );
    let (table, _) = build(&with_cds, &["1997-09-30"], Some(273), OnInvalid::Fail).expect("build");
    let names = names(&table);
    for column in ["units_per_order", "units_per_order_90d", "returned_unit_share"] {
        assert!(names.contains(&column), "{column} in {names:?}");
    }
    assert_eq!(table.len(), 23_570);
    let ColumnValues::Numeric(units) = &table.column("units_per_order").expect("units").values else {
        panic!("numeric");
    };
    let known: Vec<f64> = units.iter().flatten().copied().collect();
    assert_eq!(known.len(), 23_570, "every customer bought by 1997-09-30");
    assert!(known.iter().all(|&u| u >= 1.0), "at least one CD a line");
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    assert!((1.5..4.0).contains(&mean), "mean CDs per order {mean}");
    for column in &without.columns {
        let other = table.column(&column.name).expect("column");
        assert_eq!(
            format!("{:?}", column.values),
            format!("{:?}", other.values),
            "{}",
            column.name
        );
    }
    assert_eq!(without.labels, table.labels);
}

/// A free item returned (quantity −1 at price 0: amount −0.0, or an `amount` of 0 with a negative
/// quantity) is a return, not a purchase; a free item bought is a purchase.
#[test]
fn a_returned_free_item_is_a_return_whatever_the_sign_of_its_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = [
        ("a", "2024-01-10", 20.0, 1.0, "o1", "p1", "music"),
        ("a", "2024-01-10", 0.0, 1.0, "o1", "p2", "music"),
        ("a", "2024-01-20", 0.0, -1.0, "r1", "p2", "music"),
        ("z", "2024-03-31", 1.0, 1.0, "o9", "p1", "music"),
    ];
    write_lines(dir.path(), &rows);
    let times = LINES_CONFIG.replace("amount = \"amount\"\n", "unit_price = \"amount\"\n");
    for text in [times.as_str(), LINES_CONFIG] {
        let config = config(dir.path(), &format!("{text}{WINDOWS}"));
        let (table, _) = build(&config, &["2024-03-31"], None, OnInvalid::Fail).expect("build");
        let at = |column: &str| value(&table, "a", "2024-03-31", column);
        assert_eq!(at("purchase_count"), Some(1.0), "{text}");
        assert_eq!(at("return_count"), Some(1.0), "{text}");
        close(at("lines_per_order"), 2.0, "lines per order");
        close(at("returned_unit_share"), 0.5, "returned share");
    }
}

/// A null product id or category is an unknown one: the line keeps its spend, purchase and units in
/// every other feature, under either policy, and only the product or category features leave it out.
#[test]
fn a_line_without_product_or_category_counts_everywhere_but_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    write_batch(
        &dir.path().join("tx.parquet"),
        vec![
            ("customer_id", strings(&["a", "a", "a", "z"])),
            (
                "ts",
                timestamps(&["2024-01-10", "2024-01-10", "2024-02-10", "2024-03-31"]),
            ),
            ("amount", floats(&[20.0, 10.0, 30.0, 1.0])),
            ("quantity", floats(&[1.0, 1.0, 2.0, 1.0])),
            ("order_id", strings(&["o1", "o1", "o2", "o9"])),
            ("product_id", keys(vec![Some("p1"), None, Some("p1"), Some("p1")])),
            (
                "category",
                keys(vec![Some("music"), Some("books"), None, Some("music")]),
            ),
        ],
    );
    let config = config(dir.path(), &format!("{LINES_CONFIG}{WINDOWS}"));
    for on_invalid in [OnInvalid::Fail, OnInvalid::Skip] {
        let (table, summary) = build(&config, &["2024-03-31"], None, on_invalid).expect("build");
        assert!(summary.rows_rejected.is_empty(), "{:?}", summary.rows_rejected);
        let at = |column: &str| value(&table, "a", "2024-03-31", column);
        assert_eq!(at("total_spend"), Some(60.0));
        assert_eq!(at("purchase_count"), Some(2.0));
        close(at("lines_per_order"), 1.5, "lines per order");
        close(at("units_per_order"), 2.0, "units per order");
        // Only `p1` is a known product; `music` and `books` the known categories.
        assert_eq!(at("distinct_products"), Some(1.0));
        assert_eq!(at("distinct_categories"), Some(2.0));
        // Music's 20 of the 60 spent (the line without a category counts in the whole).
        close(at("top_category_spend_share"), 20.0 / 60.0, "top category share");
    }
}
