//! `churn-trainer evaluate`'s report and `score --call-list` end to end through the binary, on generated
//! data: a model trained with `--model auto` and a calibration, evaluated on its out-of-time month. The
//! report names the label and the dates, reads features as words, shows both calibration curves, compares
//! the kinds and lists the customers to call; the call-list CSV opens cleanly in a spreadsheet and is
//! never written over an input. [`fixture`] builds the data and the model once for this module and the
//! browser check (`report_browser`).

use crate::common::{fails, generate, ok, path};
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the label means in the fixture's model configuration.
const LABEL: &str = "no purchase in the 90 days after the as-of date";
/// The out-of-time month evaluated.
const TEST_AS_OF: &str = "2024-09-30";

/// Generated data, a model trained on it and its evaluation.
pub struct Fixture {
    /// The folder holding everything.
    pub dir: PathBuf,
    /// The registry (model `churn`, one version, promoted).
    pub registry: PathBuf,
    /// The labelled feature table of the test month.
    pub test_table: PathBuf,
    /// The evaluation's report.html.
    pub report: PathBuf,
    /// The evaluation's metrics.json.
    pub metrics: PathBuf,
}

/// The fixture, built on first use: 900 generated customers, features of the month ends from March to
/// September 2024 with a 90-day label, `--model auto --calibration isotonic` validated out of time on
/// September, and its evaluation on September.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixture folder");
        let data = dir.join("data");
        generate(&data, 900, 11);
        let config = data.join("churn.toml");
        let train = dir.join("train.parquet");
        let test_table = dir.join("test.parquet");
        ok(&[
            "features",
            "--config",
            path(&config),
            "--as-of-range",
            "2024-03-31..2024-09-30",
            "--step",
            "monthly",
            "--horizon",
            "90",
            "--out",
            path(&train),
        ]);
        ok(&[
            "features",
            "--config",
            path(&config),
            "--as-of",
            TEST_AS_OF,
            "--horizon",
            "90",
            "--out",
            path(&test_table),
        ]);
        let model_config = dir.join("model.toml");
        std::fs::write(
            &model_config,
            format!("[label]\ndefinition = \"{LABEL}\"\nhorizon_days = 90\n"),
        )
        .expect("model config");
        let registry = dir.join("registry");
        ok(&[
            "train",
            "--features",
            path(&train),
            "--model",
            "auto",
            "--calibration",
            "isotonic",
            "--registry",
            path(&registry),
            "--name",
            "churn",
            "--test-as-of",
            TEST_AS_OF,
            "--model-config",
            path(&model_config),
            "--no-importance",
            "--trees",
            "60",
            "--promote",
        ]);
        let eval = dir.join("eval");
        ok(&[
            "evaluate",
            "--model",
            "churn",
            "--registry",
            path(&registry),
            "--features",
            path(&test_table),
            "--out",
            path(&eval),
        ]);
        Fixture {
            report: eval.join("report.html"),
            metrics: eval.join("metrics.json"),
            dir,
            registry,
            test_table,
        }
    })
}

fn report_html() -> String {
    std::fs::read_to_string(&fixture().report).expect("read report")
}

fn metrics() -> Value {
    serde_json::from_slice(&std::fs::read(&fixture().metrics).expect("read metrics")).expect("metrics json")
}

/// The text a reader sees: no style, no tags (so no attributes, tooltips included), entities decoded.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    if let (Some(start), Some(end)) = (rest.find("<style>"), rest.find("</style>")) {
        text.push_str(&rest[..start]);
        rest = &rest[end..];
    }
    let html = text + rest;
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The markup of one section, from its heading to the next `<h2`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<h2 id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start + 4..]
        .find("<h2")
        .map_or(html.len(), |end| start + 4 + end);
    &html[start..end]
}

#[test]
fn report_names_the_label_and_the_dates_at_the_top() {
    let html = report_html();
    let top = &html[..html.find("<h2").expect("a section")];
    let text = visible_text(top);
    assert!(text.contains(LABEL), "{text}");
    assert!(text.contains("90 days after each as-of date"), "{text}");
    assert!(text.contains(&format!("Customers as of {TEST_AS_OF}")), "{text}");
    assert!(
        text.contains("Trained on as-of dates 2024-03-31"),
        "training dates: {text}"
    );
    assert!(text.contains("validated out of time on 2024-09-30"), "{text}");
    assert!(text.contains("calibrated (isotonic)"), "{text}");
}

#[test]
fn report_reads_features_as_words_and_importance_as_sentences() {
    let html = report_html();
    let text = visible_text(&html);
    let metrics = metrics();
    let features: Vec<&str> = metrics["importance"]
        .as_array()
        .expect("importance")
        .iter()
        .filter_map(|i| i["feature"].as_str())
        .collect();
    assert!(features.len() > 20, "{features:?}");
    for feature in features.iter().filter(|f| f.contains('_')) {
        assert!(
            !text.contains(feature),
            "raw column name {feature} shown to readers"
        );
    }
    // Names and tooltips: the most important feature is shown by its readable name, with the column
    // name in its tooltip.
    let drivers = section(&html, "drivers");
    assert!(
        drivers.contains(&format!("title=\"{}\"", features[0])),
        "{drivers}"
    );
    assert!(text.contains("ROC AUC drops by"), "importance in words");
    assert!(!text.contains("AUC drop "), "no raw 'AUC drop' figures");
    assert!(
        text.contains("shuffled between customers"),
        "importance explained"
    );
}

#[test]
fn report_shows_calibration_before_and_after_and_the_kinds_compared() {
    let html = report_html();
    let metrics = metrics();
    let before = &metrics["before_calibration"];
    assert!(
        before["brier"].is_f64(),
        "metrics.json has the quality before calibration"
    );
    assert_eq!(metrics["calibration_method"], "isotonic");
    let probabilities = section(&html, "probabilities");
    assert!(probabilities.contains("before calibration"), "{probabilities}");
    assert!(
        probabilities.contains("after calibration (isotonic)"),
        "{probabilities}"
    );
    // Two curves besides the diagonal.
    let chart = &probabilities[probabilities.find("<svg").expect("chart")..];
    assert_eq!(chart.matches("<polyline").count(), 3, "{chart}");
    for measure in ["Brier score", "Log loss", "Expected calibration error"] {
        assert!(probabilities.contains(measure), "{measure}");
    }
    assert!(probabilities.contains(&format!(
        "{:.4}",
        before["expected_calibration_error"].as_f64().expect("ece")
    )));

    let comparison = section(&html, "comparison");
    for kind in ["logistic regression", "random forest", "gradient"] {
        assert!(comparison.to_lowercase().contains(kind), "{kind}: {comparison}");
    }
    assert_eq!(comparison.matches("✓ kept").count(), 1, "{comparison}");
}

#[test]
fn report_charts_keep_legends_out_of_the_plot_and_tick_lift_by_decile() {
    let html = report_html();
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 5);
    assert_eq!(html.matches("class=\"plot-area\"").count(), 5);
    assert_eq!(html.matches("<g class=\"legend\">").count(), 5);
    let lift = &html[html.find("aria-label=\"Lift by decile\"").expect("lift chart")..];
    let lift = &lift[..lift.find("</svg>").expect("end")];
    let x_ticks: Vec<&str> = lift
        .split("<text class=\"tick\"")
        .skip(1)
        .filter(|t| {
            t.split('>')
                .next()
                .is_some_and(|tag| tag.contains("text-anchor=\"middle\""))
        })
        .filter_map(|t| t.split('>').nth(1)?.split('<').next())
        .collect();
    let deciles: Vec<String> = (1..=10).map(|d| d.to_string()).collect();
    assert_eq!(x_ticks, deciles);
    // No scripts and no network: the only URL is the SVG namespace.
    assert!(!html.contains("<script"));
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
}

#[test]
fn report_lists_the_customers_to_call_with_segments_and_reasons_in_words() {
    let html = report_html();
    let calls = section(&html, "call-list");
    assert_eq!(calls.matches("<tr>").count(), 1 + 20, "header and 20 customers");
    let text = visible_text(calls);
    for heading in [
        "Churn risk",
        "Value at risk",
        "probability × lifetime value over the next 12 months",
        "Still buying",
        "P(alive)",
        "Segment",
        "lifecycle stage · RFM segment · value tier · value tier by predicted lifetime value",
        "Why",
        "Outcome",
    ] {
        assert!(text.contains(heading), "{heading}: {text}");
    }
    assert!(text.contains(&format!("as of {TEST_AS_OF}")), "{text}");
    assert!(text.contains(" days"), "reasons in words: {text}");
    assert!(!text.contains("days_since"), "{text}");
    assert!(calls.contains("class=\"band band-"), "risk bands marked");
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("open parquet");
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet reader")
        .build()
        .expect("build reader")
        .map(|batch| batch.expect("batch"))
        .collect()
}

/// RFC 4180 records of a CSV text (quoted fields may hold commas, quotes and line breaks).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the file ends with a line end"
    );
    records
}

#[test]
fn score_writes_a_call_list_csv_beside_the_scores() {
    let fixture = fixture();
    let out_dir = tempfile::tempdir().expect("dir");
    let out = out_dir.path().join("latest.parquet");
    let stdout = ok(&[
        "score",
        "--model",
        "churn",
        "--registry",
        path(&fixture.registry),
        "--features",
        path(&fixture.test_table),
        "--out",
        path(&out),
        "--call-list",
        "15",
    ]);
    let csv_path = out_dir.path().join("latest.call-list.csv");
    assert!(stdout.contains("call list: the 15 customers"), "{stdout}");
    assert!(stdout.contains(path(&csv_path)), "{stdout}");
    let mut files: Vec<String> = std::fs::read_dir(out_dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["latest.call-list.csv", "latest.parquet", "latest.summary.json"],
        "no temporary file left"
    );

    let bytes = std::fs::read(&csv_path).expect("csv");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for spreadsheets");
    let records = csv_records(text);
    assert_eq!(
        records[0],
        [
            "customer_id",
            "churn_probability",
            "risk_band",
            "clv_12m",
            "value_at_risk",
            "p_alive",
            "lifecycle_stage",
            "rfm_segment",
            "value_tier",
            "value_tier_clv",
            "reasons"
        ]
    );
    assert_eq!(records.len(), 16);

    // The scores file: probability and band of every customer.
    let mut scores = std::collections::HashMap::new();
    for batch in read_batches(&out) {
        let ids = batch
            .column_by_name("customer_id")
            .expect("id")
            .as_string::<i32>()
            .clone();
        let p = batch
            .column_by_name("churn_probability")
            .expect("p")
            .as_primitive::<Float64Type>()
            .clone();
        let bands = batch
            .column_by_name("risk_band")
            .expect("band")
            .as_string::<i32>()
            .clone();
        for row in 0..batch.num_rows() {
            scores.insert(
                ids.value(row).to_string(),
                (p.value(row), bands.value(row).to_string()),
            );
        }
    }
    let table = churn_features::FeatureTable::read_parquet(&fixture.test_table).expect("feature table");
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| c.name.clone())
        .filter(|name| name.contains('_'))
        .collect();
    let mut previous_at_risk = f64::INFINITY;
    for record in &records[1..] {
        assert_eq!(record.len(), 11, "{record:?}");
        let (p, band) = &scores[&record[0]];
        assert_eq!(record[1], format!("{p:.3}"), "probability to 3 decimals");
        assert_eq!(record[1].split('.').nth(1).map(str::len), Some(3));
        assert_eq!(&record[2], band);
        let at_risk: f64 = record[4].parse().expect("value at risk");
        assert!(at_risk <= previous_at_risk + 0.01, "ranked by value at risk");
        previous_at_risk = at_risk;
        let p_alive: f64 = record[5].parse().expect("P(alive)");
        assert!((0.0..=1.0).contains(&p_alive), "{p_alive}");
        let reasons = &record[10];
        assert!(!reasons.is_empty() && reasons.ends_with('.'), "{reasons}");
        // In words: no column name (category values, such as `north_america`, are data and stay).
        for column in &columns {
            assert!(!reasons.contains(column.as_str()), "{column} in {reasons}");
        }
    }
}

#[test]
fn score_call_list_ranks_by_probability_on_request_and_refuses_bad_columns() {
    let fixture = fixture();
    let out_dir = tempfile::tempdir().expect("dir");
    let out = out_dir.path().join("s.parquet");
    let args = |value: &'static str| {
        vec![
            "score".to_string(),
            "--model".into(),
            "churn".into(),
            "--registry".into(),
            path(&fixture.registry).into(),
            "--features".into(),
            path(&fixture.test_table).into(),
            "--out".into(),
            path(&out).into(),
            "--call-list".into(),
            "5".into(),
            "--value-column".into(),
            value.into(),
        ]
    };
    let run = |value| {
        let args = args(value);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args)
    };
    run("none");
    let text = std::fs::read_to_string(out_dir.path().join("s.call-list.csv")).expect("csv");
    let records = csv_records(text.trim_start_matches('\u{feff}'));
    assert_eq!(records[0][..3], ["customer_id", "churn_probability", "risk_band"]);
    assert!(!records[0].contains(&"value_at_risk".to_string()));
    let p: Vec<f64> = records[1..].iter().map(|r| r[1].parse().expect("p")).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");

    let args = args("plan");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = fails(&args);
    assert!(error.contains("value column `plan`"), "{error}");
}

#[test]
fn score_never_writes_the_call_list_over_an_input() {
    let fixture = fixture();
    let dir = tempfile::tempdir().expect("dir");
    // A feature table that happens to have the call list's name.
    let features = dir.path().join("s.call-list.csv");
    std::fs::copy(&fixture.test_table, &features).expect("copy");
    let before = std::fs::read(&features).expect("read");
    let error = fails(&[
        "score",
        "--model",
        "churn",
        "--registry",
        path(&fixture.registry),
        "--features",
        path(&features),
        "--out",
        path(&dir.path().join("s.parquet")),
        "--call-list",
        "5",
    ]);
    assert!(error.contains("also an input"), "{error}");
    assert_eq!(std::fs::read(&features).expect("read"), before, "input untouched");
    assert!(!dir.path().join("s.parquet").exists(), "nothing written");
}
