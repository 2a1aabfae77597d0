//! The call list: the customers most worth a call, for the people who make the calls. Ranked by churn
//! probability, or by value at risk (probability × the customer's value) when the table has a value
//! column, each with their risk band, segments and the reasons in words.
//!
//! Both the evaluation report and `churn-trainer score --call-list` build it here, and it is written as a
//! CSV that spreadsheets open cleanly: UTF-8 with a byte-order mark (so accents survive), RFC 4180 quoting,
//! CRLF line ends, and text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) prefixed
//! with `'`.

use crate::customer_value::{self, ValueColumns};
use crate::error::{ModelError, Result};
use crate::input::FeatureValue;
use crate::scorer::Scorer;
use chrono::NaiveDate;
use churn_features::output::{self, FileDigest};
use churn_features::{ColumnRole, ColumnValues, FeatureTable};
use std::path::{Path, PathBuf};

/// The default number of customers on a call list.
pub const DEFAULT_SIZE: usize = 20;

/// Reasons shown per customer.
pub const DEFAULT_REASONS: usize = 3;

/// Segments shown first, in this order; the table's other descriptors follow in table order.
const SEGMENTS_FIRST: [&str; 2] = ["lifecycle_stage", "rfm_segment"];

/// Which column holds a customer's value, for ranking by value at risk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ValueColumn {
    /// The table's predicted lifetime value (`clv_<N>m`, the customer-value models' column, with the
    /// largest N) when it has one with a value for some row; else its spend over its longest window
    /// (`spend_<N>d` with the largest N) when it has one; else none (rank by probability).
    #[default]
    Auto,
    /// This numeric column.
    Named(String),
    /// Rank by probability alone.
    None,
}

/// How a call list is drawn up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallListOptions {
    /// Customers on the list (0 for none).
    pub size: usize,
    /// Reasons per customer.
    pub reasons: usize,
    /// The value column, if any.
    pub value: ValueColumn,
}

impl Default for CallListOptions {
    fn default() -> Self {
        Self {
            size: DEFAULT_SIZE,
            reasons: DEFAULT_REASONS,
            value: ValueColumn::Auto,
        }
    }
}

impl CallListOptions {
    /// The value column these options use in `table`, checked: `None` when ranking by probability. Fails
    /// when a named column is absent or not numeric, so a caller can check before any work.
    pub fn value_column(&self, table: &FeatureTable) -> Result<Option<String>> {
        match &self.value {
            ValueColumn::None => Ok(None),
            ValueColumn::Auto => Ok(customer_value::clv_column(table)
                .or_else(|| customer_value::longest_window(table, "spend_", 'd', false))
                .map(str::to_string)),
            ValueColumn::Named(name) => match table.column(name) {
                Some(column) if matches!(column.values, ColumnValues::Numeric(_)) => Ok(Some(name.clone())),
                Some(_) => Err(ModelError::InvalidValueColumn {
                    column: name.clone(),
                    reason: "it holds text; the value of a customer must be a number".into(),
                }),
                None => Err(ModelError::InvalidValueColumn {
                    column: name.clone(),
                    reason: "the feature table has no such column".into(),
                }),
            },
        }
    }
}

/// One reason, as people read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadableReason {
    /// The reason's main feature (its column name).
    pub feature: String,
    /// The reason's group of features, for people (e.g. `recency`, `support ticket events`).
    pub group: String,
    /// The reason in words, e.g. "no purchase for 189 days; this customer used to buy every 31 days".
    pub text: String,
    /// How much it raises the score (on the model's explanation scale).
    pub contribution: f64,
}

impl ReadableReason {
    /// The reason as a sentence of its own: "No purchase for 189 days; ...".
    pub fn sentence(&self) -> String {
        let mut chars = self.text.chars();
        chars
            .next()
            .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
    }
}

/// One customer on the call list.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEntry {
    /// The row of the feature table.
    pub row: usize,
    /// The customer id, as text.
    pub customer_id: String,
    /// Churn probability.
    pub probability: f64,
    /// Risk band.
    pub risk_band: String,
    /// Whether the probability reaches the model's threshold.
    pub above_threshold: bool,
    /// The customer's value, when ranking by value (`None` when unknown).
    pub value: Option<f64>,
    /// Probability × value, when ranking by value (an unknown value counts as 0).
    pub value_at_risk: Option<f64>,
    /// The probability that the customer still buys (`p_alive`), when the table has it.
    pub p_alive: Option<f64>,
    /// The customer's segments, one per [`CallList::segment_columns`].
    pub segments: Vec<Option<String>>,
    /// Reasons, strongest first.
    pub reasons: Vec<ReadableReason>,
    /// The row's label when known (1 churned, 0 stayed): an evaluation can show what happened.
    pub label: Option<i8>,
}

impl CallEntry {
    /// The reasons as one line of text: their sentences, each ending with a full stop. A customer with
    /// none (nothing raises their risk above the model's average customer's, as for one listed for the
    /// value at stake rather than the risk) gets a line that says so.
    pub fn reasons_text(&self) -> String {
        if self.reasons.is_empty() {
            return NO_REASON.into();
        }
        self.reasons
            .iter()
            .map(|r| format!("{}.", r.sentence()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The reasons line of a customer without reasons.
pub const NO_REASON: &str = "No feature raises this customer's risk above the average customer's.";

/// A call list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallList {
    /// The as-of date the customers are described at (the latest of the rows considered).
    pub as_of: Option<NaiveDate>,
    /// Customers considered (at that date).
    pub considered: usize,
    /// The value column ranked by, when any.
    pub value_column: Option<String>,
    /// Its readable name.
    pub value_name: Option<String>,
    /// Whether the table has `p_alive` (the entries carry it).
    pub has_p_alive: bool,
    /// Descriptor columns shown as segments: the table's descriptors, `lifecycle_stage` and
    /// `rfm_segment` first.
    pub segment_columns: Vec<String>,
    /// Their readable names.
    pub segment_names: Vec<String>,
    /// The customers, most urgent first.
    pub entries: Vec<CallEntry>,
}

/// Draws up the call list from the `rows` of `table` and their `probabilities` (one per row, as the
/// scorer gave them): only rows of the latest as-of date among them (a customer appears once), ranked by
/// value at risk or probability (ties: higher probability, then table order), the first
/// `options.size` scored again with reasons.
pub fn call_list(
    scorer: Scorer<'_>,
    table: &FeatureTable,
    rows: &[usize],
    probabilities: &[f64],
    options: &CallListOptions,
) -> Result<CallList> {
    if rows.len() != probabilities.len() {
        return Err(ModelError::LengthMismatch {
            what: "probabilities of the call list's rows".into(),
            expected: rows.len(),
            found: probabilities.len(),
        });
    }
    let value_column = options.value_column(table)?;
    let values: Option<&[Option<f64>]> =
        value_column
            .as_deref()
            .and_then(|name| match table.column(name).map(|c| &c.values) {
                Some(ColumnValues::Numeric(values)) => Some(values.as_slice()),
                _ => None,
            });
    let customer_values = ValueColumns::of(table);
    let as_of = rows.iter().filter_map(|&row| table.as_of[row]).max();
    let mut candidates: Vec<(usize, f64, f64)> = rows
        .iter()
        .zip(probabilities)
        .filter(|&(&row, _)| table.as_of[row] == as_of)
        .map(|(&row, &p)| {
            let key = values.map_or(p, |v| p * v[row].unwrap_or(0.0));
            (row, p, key)
        })
        .collect();
    let considered = candidates.len();
    candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.1.total_cmp(&a.1)).then(a.0.cmp(&b.0)));
    candidates.truncate(options.size);
    let chosen: Vec<usize> = candidates.iter().map(|c| c.0).collect();
    let scores = if chosen.is_empty() {
        Vec::new()
    } else {
        scorer.score_table(table, &chosen, options.reasons)?
    };
    let schema = &scorer.artifact().schema;
    let mut segments: Vec<&churn_features::FeatureColumn> = table
        .columns
        .iter()
        .filter(|c| c.role == ColumnRole::Descriptor && matches!(c.values, ColumnValues::Categorical(_)))
        .collect();
    segments.sort_by_key(|c| {
        SEGMENTS_FIRST
            .iter()
            .position(|name| *name == c.name)
            .unwrap_or(SEGMENTS_FIRST.len())
    });
    let entries = chosen
        .iter()
        .zip(scores)
        .map(|(&row, score)| {
            let value = values.map(|v| v[row]);
            CallEntry {
                row,
                customer_id: table.customer_id_string(row),
                probability: score.probability,
                risk_band: score.risk_band,
                above_threshold: score.above_threshold,
                value: value.flatten(),
                value_at_risk: value.map(|v| score.probability * v.unwrap_or(0.0)),
                p_alive: customer_values.at(table, row).p_alive,
                segments: segments
                    .iter()
                    .map(|c| match &c.values {
                        ColumnValues::Categorical(v) => v[row].clone(),
                        ColumnValues::Numeric(_) => None,
                    })
                    .collect(),
                reasons: score
                    .reasons
                    .into_iter()
                    .map(|r| ReadableReason {
                        // Reasons from the scorer are in words; in case one is not, its main feature
                        // and value are.
                        text: if r.text.is_empty() {
                            format!(
                                "{}: {}",
                                schema.readable_name(&r.feature),
                                readable_value(&r.value)
                            )
                        } else {
                            r.text
                        },
                        group: r.label,
                        feature: r.feature,
                        contribution: r.contribution,
                    })
                    .collect(),
                label: table.labels[row],
            }
        })
        .collect();
    let description = |name: &str| table.column(name).and_then(|c| c.description.as_deref());
    Ok(CallList {
        as_of,
        considered,
        value_name: value_column
            .as_deref()
            .map(|name| churn_features::engine::layout::readable_name(name, description(name))),
        value_column,
        has_p_alive: customer_values.has_p_alive(),
        segment_names: segments
            .iter()
            .map(|c| churn_features::engine::layout::readable_name(&c.name, c.description.as_deref()))
            .collect(),
        segment_columns: segments.iter().map(|c| c.name.clone()).collect(),
        entries,
    })
}

/// A feature value as people read it: whole numbers without decimals, others to 2 decimals (3 below
/// 1), trailing zeros dropped; a missing value is "unknown".
pub fn readable_value(value: &FeatureValue) -> String {
    match value {
        FeatureValue::Missing => "unknown".into(),
        FeatureValue::Text(text) => text.clone(),
        FeatureValue::Number(n) => readable_number(*n),
    }
}

fn readable_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{n:.0}");
    }
    let decimals = if n.abs() >= 1.0 { 2 } else { 3 };
    let text = format!("{n:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.into() }
}

impl CallList {
    /// How the list is ranked, in words: "the highest churn probability", or "the most value at risk
    /// (churn probability × spend in the last 365 days)".
    pub fn ranking(&self) -> String {
        match &self.value_name {
            Some(value) => {
                let mut chars = value.chars();
                let first = chars
                    .next()
                    .map(|c| c.to_lowercase().to_string())
                    .unwrap_or_default();
                let second_upper = chars.clone().next().is_some_and(char::is_uppercase);
                let value = if second_upper {
                    value.clone()
                } else {
                    first + chars.as_str()
                };
                format!("the most value at risk (churn probability × {value})")
            }
            None => "the highest churn probability".into(),
        }
    }

    /// The CSV text (see the module documentation): `customer_id`, `churn_probability` (3 decimals),
    /// `risk_band`, the value column and `value_at_risk` when ranking by value, `p_alive` (3 decimals)
    /// when the table has it, one column per segment,
    /// and `reasons` in words.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = vec![
            "customer_id".into(),
            "churn_probability".into(),
            "risk_band".into(),
        ];
        if let Some(column) = &self.value_column {
            header.push(column.clone());
            header.push("value_at_risk".into());
        }
        if self.has_p_alive {
            header.push(customer_value::P_ALIVE.into());
        }
        header.extend(self.segment_columns.iter().cloned());
        header.push("reasons".into());
        let mut csv = String::from("\u{feff}");
        push_record(&mut csv, header.iter().map(|h| csv_text(h)));
        for entry in &self.entries {
            let mut fields = vec![
                csv_text(&entry.customer_id),
                format!("{:.3}", entry.probability),
                csv_text(&entry.risk_band),
            ];
            if self.value_column.is_some() {
                fields.push(entry.value.map_or_else(String::new, |v| format!("{v:.2}")));
                fields.push(
                    entry
                        .value_at_risk
                        .map_or_else(String::new, |v| format!("{v:.2}")),
                );
            }
            if self.has_p_alive {
                fields.push(entry.p_alive.map_or_else(String::new, |p| format!("{p:.3}")));
            }
            fields.extend(
                entry
                    .segments
                    .iter()
                    .map(|s| s.as_deref().map_or_else(String::new, csv_text)),
            );
            fields.push(csv_text(&entry.reasons_text()));
            push_record(&mut csv, fields.into_iter());
        }
        csv
    }

    /// Writes [`CallList::to_csv`] to `path` atomically (see `churn_features::output`).
    pub fn write_csv(&self, path: &Path) -> Result<FileDigest> {
        Ok(output::write_bytes_atomically(path, self.to_csv().as_bytes())?)
    }
}

/// The call list written beside a scores file: `scores/latest.parquet` → `scores/latest.call-list.csv`.
pub fn call_list_path(scores: &Path) -> PathBuf {
    let stem = scores
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    scores.with_file_name(format!("{stem}.call-list.csv"))
}

/// One CSV text field: quoted when it holds a comma, a quote or a line break (quotes doubled), and
/// prefixed with `'` when a spreadsheet would take it for a formula.
fn csv_text(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn push_record(csv: &mut String, fields: impl Iterator<Item = String>) {
    let fields: Vec<String> = fields.collect();
    csv.push_str(&fields.join(","));
    csv.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{labelled_table, numeric_column, trained};

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says_and_formulas_are_defused() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("@cmd"), "'@cmd");
        assert_eq!(csv_text("-42"), "-42");
        assert_eq!(csv_text("Zoë"), "Zoë");
    }

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(readable_value(&FeatureValue::Number(191.0)), "191");
        assert_eq!(readable_value(&FeatureValue::Number(12.3456)), "12.35");
        assert_eq!(readable_value(&FeatureValue::Number(0.25)), "0.25");
        assert_eq!(readable_value(&FeatureValue::Number(0.1234)), "0.123");
        assert_eq!(readable_value(&FeatureValue::Number(-0.0001)), "0");
        assert_eq!(readable_value(&FeatureValue::Missing), "unknown");
        assert_eq!(readable_value(&FeatureValue::Text("basic".into())), "basic");
    }

    #[test]
    fn the_lifetime_value_is_the_value_by_default_when_it_is_known() {
        let mut table = labelled_table(50, 3);
        let options = CallListOptions::default();
        assert_eq!(
            options.value_column(&table).expect("auto").as_deref(),
            Some("spend_365d")
        );
        let clv = |values: Vec<Option<f64>>| numeric_column("clv_12m", values);
        // Models not fitted at that date: a column of nulls, so spend it is.
        table.columns.push(clv(vec![None; 50]));
        assert_eq!(
            options.value_column(&table).expect("auto").as_deref(),
            Some("spend_365d")
        );
        let last = table.columns.len() - 1;
        table.columns[last] = clv((0..50).map(|i| (i % 2 == 0).then_some(f64::from(i))).collect());
        assert_eq!(
            options.value_column(&table).expect("auto").as_deref(),
            Some("clv_12m")
        );
    }

    #[test]
    fn ranked_by_value_at_risk_with_segments_and_readable_reasons() {
        let table = labelled_table(300, 5);
        let artifact = trained(&table);
        let rows: Vec<usize> = (0..table.len()).collect();
        let probabilities = artifact.scorer().predict_table(&table, &rows).expect("predict");
        let list = call_list(
            artifact.scorer(),
            &table,
            &rows,
            &probabilities,
            &CallListOptions::default(),
        )
        .expect("call list");
        assert_eq!(list.value_column.as_deref(), Some("spend_365d"));
        assert_eq!(list.value_name.as_deref(), Some("Spend in the last 365 days"));
        assert_eq!(
            list.ranking(),
            "the most value at risk (churn probability × spend in the last 365 days)"
        );
        assert_eq!(list.segment_columns, ["lifecycle_stage", "rfm_segment"]);
        assert_eq!(list.segment_names, ["Lifecycle stage", "RFM segment"]);
        assert_eq!(list.entries.len(), DEFAULT_SIZE);
        assert_eq!(list.considered, 300);
        let at_risk: Vec<f64> = list
            .entries
            .iter()
            .map(|e| e.value_at_risk.expect("value"))
            .collect();
        assert!(at_risk.windows(2).all(|w| w[0] >= w[1]), "{at_risk:?}");
        // The largest value at risk of all rows comes first.
        let spend = match &table.column("spend_365d").expect("spend").values {
            ColumnValues::Numeric(v) => v.clone(),
            ColumnValues::Categorical(_) => unreachable!(),
        };
        let best = rows
            .iter()
            .map(|&r| probabilities[r] * spend[r].unwrap_or(0.0))
            .fold(0.0, f64::max);
        assert!((at_risk[0] - best).abs() < 1e-9);
        for entry in &list.entries {
            assert!(entry.reasons.len() <= DEFAULT_REASONS);
            for reason in &entry.reasons {
                assert!(
                    !reason.text.is_empty() && !reason.text.contains('_'),
                    "{}",
                    reason.text
                );
                assert!(reason.contribution > 0.0);
            }
            let text = entry.reasons_text();
            if entry.reasons.is_empty() {
                assert_eq!(text, NO_REASON);
            } else {
                assert_eq!(text.matches(". ").count() + 1, entry.reasons.len(), "{text}");
            }
        }
        let first = &list.entries[0];
        assert_eq!(first.customer_id, table.customer_id_string(first.row));

        let csv = list.to_csv();
        assert!(csv.starts_with("\u{feff}customer_id,churn_probability,risk_band,spend_365d,value_at_risk,lifecycle_stage,rfm_segment,reasons\r\n"));
        assert_eq!(csv.matches("\r\n").count(), 1 + DEFAULT_SIZE);
        let line = csv.lines().nth(1).expect("first customer");
        assert!(
            line.starts_with(&format!("{},{:.3},", first.customer_id, first.probability)),
            "{line}"
        );
    }

    #[test]
    fn the_lifetime_value_ranks_and_p_alive_goes_along() {
        let mut table = labelled_table(100, 4);
        let clv: Vec<Option<f64>> = (0..100)
            .map(|i| (i != 7).then_some(f64::from(i % 13) * 10.0))
            .collect();
        let p_alive: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i) / 100.0)).collect();
        table.columns.push(numeric_column("clv_12m", clv.clone()));
        table.columns.push(numeric_column("p_alive", p_alive.clone()));
        let artifact = trained(&table);
        let rows: Vec<usize> = (0..table.len()).collect();
        let probabilities = artifact.scorer().predict_table(&table, &rows).expect("predict");
        let list = call_list(
            artifact.scorer(),
            &table,
            &rows,
            &probabilities,
            &CallListOptions::default(),
        )
        .expect("call list");
        assert_eq!(list.value_column.as_deref(), Some("clv_12m"));
        assert!(list.has_p_alive);
        let best = rows
            .iter()
            .map(|&r| probabilities[r] * clv[r].unwrap_or(0.0))
            .fold(0.0, f64::max);
        assert!((list.entries[0].value_at_risk.expect("value") - best).abs() < 1e-9);
        for entry in &list.entries {
            assert_eq!(entry.p_alive, p_alive[entry.row]);
            assert_eq!(entry.value, clv[entry.row]);
        }
        let csv = list.to_csv();
        assert!(
            csv.starts_with("\u{feff}customer_id,churn_probability,risk_band,clv_12m,value_at_risk,p_alive,"),
            "{csv}"
        );
        let first = &list.entries[0];
        let line = csv.lines().nth(1).expect("first customer");
        assert!(
            line.contains(&format!(",{:.3},", first.p_alive.expect("p_alive"))),
            "{line}"
        );
    }

    #[test]
    fn by_probability_without_a_value_column_and_only_the_latest_date() {
        let mut table = labelled_table(100, 6);
        // The first half is an older snapshot of other customers: left out.
        for date in &mut table.as_of[..50] {
            *date = NaiveDate::from_ymd_opt(2024, 3, 31);
        }
        let artifact = trained(&table);
        let rows: Vec<usize> = (0..table.len()).collect();
        let probabilities = artifact.scorer().predict_table(&table, &rows).expect("predict");
        let options = CallListOptions {
            size: 5,
            reasons: 1,
            value: ValueColumn::None,
        };
        let list = call_list(artifact.scorer(), &table, &rows, &probabilities, &options).expect("list");
        assert_eq!(list.considered, 50);
        assert_eq!(list.as_of, NaiveDate::from_ymd_opt(2024, 6, 30));
        assert!(
            list.entries
                .iter()
                .all(|e| e.row >= 50 && e.value_at_risk.is_none())
        );
        let p: Vec<f64> = list.entries.iter().map(|e| e.probability).collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]));
        let best = probabilities[50..].iter().copied().fold(0.0, f64::max);
        assert!((p[0] - best).abs() < 1e-9);
        assert!(!list.to_csv().contains("value_at_risk"));
        assert_eq!(list.ranking(), "the highest churn probability");
    }

    #[test]
    fn a_named_value_column_must_exist_and_hold_numbers() {
        let table = labelled_table(10, 7);
        let named = |name: &str| CallListOptions {
            value: ValueColumn::Named(name.into()),
            ..CallListOptions::default()
        };
        assert_eq!(
            named("days_since_last_purchase")
                .value_column(&table)
                .expect("numeric"),
            Some("days_since_last_purchase".into())
        );
        let error = named("plan").value_column(&table).expect_err("text");
        assert!(error.to_string().contains("plan"), "{error}");
        let error = named("nope").value_column(&table).expect_err("absent");
        assert!(error.to_string().contains("no such column"), "{error}");
    }

    #[test]
    fn the_csv_sits_beside_the_scores() {
        assert_eq!(
            call_list_path(Path::new("out/latest.parquet")),
            Path::new("out/latest.call-list.csv")
        );
    }
}
