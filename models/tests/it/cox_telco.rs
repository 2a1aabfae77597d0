//! Conformance of the Cox model with lifelines 0.30.3 on IBM Telco.
//!
//! Expected values: `reference/telco_coxph_lifelines.json` under the real data directory, written by
//! lifelines 0.30.3's `CoxPHFitter(penalizer=…).fit(df, "duration", "event")` on the design it names:
//! duration = `tenure` in months with 0 replaced by 0.5, event = `churn_label`, `MonthlyCharges`,
//! `SeniorCitizen` and the one-hot levels of `Contract`, `InternetService`, `PaymentMethod` and
//! `PaperlessBilling`, first level dropped. It records the coefficients, the log likelihood, Harrell's
//! concordance (lifelines' and scikit-survival's) and the survival of the first five customers at
//! 6/12/24/36/60 months, without a penalty and with `penalizer = 0.01`.

use crate::common::{TELCO, real_data};
use churn_features::input::NoProgress;
use churn_features::{BuildRequest, ColumnValues, Config, FeatureTable, Inputs, OnInvalid};
use churn_models::{CoxModel, CoxParams, Matrix, Survival, harrell_concordance};
use serde_json::Value;
use std::path::Path;

const REFERENCE: &str = "reference/telco_coxph_lifelines.json";

/// The Telco snapshot as the feature engine builds it: customer attributes as features, the given label.
fn telco_table(root: &Path) -> FeatureTable {
    let data = root.join(TELCO);
    let path = data
        .to_str()
        .expect("utf8 path")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let text = format!(
        "[customers]\npath = \"{path}\"\ncustomer_id = \"customerID\"\nexclude = [\"Churn\"]\n\n\
         [labels]\npath = \"{path}\"\ncustomer_id = \"customerID\"\nlabel = \"churn_label\"\n"
    );
    let config = Config::parse(&text, root).expect("config");
    let inputs = Inputs::load(&config, OnInvalid::Fail, &NoProgress).expect("inputs");
    churn_features::build(&config, inputs, &BuildRequest::default())
        .expect("build")
        .0
}

fn numbers(table: &FeatureTable, name: &str) -> Vec<f64> {
    match &table
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .values
    {
        ColumnValues::Numeric(values) => values
            .iter()
            .map(|v| v.unwrap_or_else(|| panic!("{name} is null")))
            .collect(),
        ColumnValues::Categorical(_) => panic!("{name} is not numeric"),
    }
}

/// The design's columns: numbers as they are, `COLUMN_LEVEL` as the 0/1 indicator of that level.
fn design(table: &FeatureTable, names: &[String]) -> Matrix {
    let columns: Vec<Vec<f64>> = names
        .iter()
        .map(|name| {
            if table.column(name).is_some() {
                return numbers(table, name);
            }
            let (column, level) = name.split_once('_').expect("COLUMN_LEVEL");
            match &table
                .column(column)
                .unwrap_or_else(|| panic!("no column {column}"))
                .values
            {
                ColumnValues::Categorical(values) => values
                    .iter()
                    .map(|v| f64::from(u8::from(v.as_deref() == Some(level))))
                    .collect(),
                ColumnValues::Numeric(_) => panic!("{column} is not categorical"),
            }
        })
        .collect();
    let rows = table.len();
    let data = (0..rows)
        .flat_map(|i| columns.iter().map(move |c| c[i]))
        .collect();
    Matrix::from_vec(rows, names.len(), data).expect("shape")
}

/// The first `n` customer ids of the Parquet file, in file order.
fn first_ids(path: &Path, n: usize) -> Vec<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).expect("open");
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .with_batch_size(n)
        .build()
        .expect("reader");
    let batch = reader.next().expect("a batch").expect("read");
    let column = batch.column_by_name("customerID").expect("customerID");
    (0..n)
        .map(|i| match column.data_type() {
            arrow_schema::DataType::Utf8 => column.as_string::<i32>().value(i).to_string(),
            arrow_schema::DataType::LargeUtf8 => column.as_string::<i64>().value(i).to_string(),
            arrow_schema::DataType::Utf8View => column.as_string_view().value(i).to_string(),
            other => panic!("customerID is {other}"),
        })
        .collect()
}

struct Telco {
    root: std::path::PathBuf,
    reference: Value,
    table: FeatureTable,
    /// The design columns after duration and event.
    names: Vec<String>,
    x: Matrix,
    durations: Vec<f64>,
    events: Vec<u8>,
}

fn telco() -> Option<Telco> {
    let root = real_data(&[TELCO, REFERENCE])?;
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(REFERENCE)).expect("read")).expect("json");
    let table = telco_table(&root);
    let design_names: Vec<String> = reference["design"]
        .as_array()
        .expect("design")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    assert_eq!(design_names[..2], ["duration", "event"]);
    let names = design_names[2..].to_vec();
    let x = design(&table, &names);
    let durations = numbers(&table, "tenure")
        .into_iter()
        .map(|months| if months == 0.0 { 0.5 } else { months })
        .collect();
    let events = table
        .labels
        .iter()
        .map(|l| u8::try_from(l.expect("labelled")).expect("0/1"))
        .collect::<Vec<u8>>();
    assert_eq!(table.len() as u64, reference["rows"].as_u64().expect("rows"));
    assert_eq!(
        events.iter().map(|&e| u64::from(e)).sum::<u64>(),
        reference["events"].as_u64().expect("events")
    );
    Some(Telco {
        root,
        reference,
        table,
        names,
        x,
        durations,
        events,
    })
}

impl Telco {
    fn outcome(&self) -> Survival<'_> {
        Survival {
            durations: &self.durations,
            events: &self.events,
        }
    }

    /// The rows of the file's first five customers.
    fn first_five(&self) -> Vec<usize> {
        first_ids(&self.root.join(TELCO), 5)
            .iter()
            .map(|id| {
                (0..self.table.len())
                    .find(|&i| self.table.customer_id_string(i) == *id)
                    .unwrap_or_else(|| panic!("no row for {id}"))
            })
            .collect()
    }

    /// Checks survival of the first five customers against the fit's reference, within 1e-4. `scale`
    /// maps a row of the design to the columns the model was fitted on.
    fn check_survival(&self, fit: &Value, model: &CoxModel, scale: &dyn Fn(&[f64]) -> Vec<f64>) -> f64 {
        let mut largest: f64 = 0.0;
        let rows = self.first_five();
        for (months, expected) in fit["survival_first5_rows"].as_object().expect("survival") {
            let t: f64 = months.parse().expect("months");
            for (&row, expected) in rows.iter().zip(expected.as_array().expect("five")) {
                let expected = expected.as_f64().expect("number");
                let ours = model.survival(&scale(self.x.row(row)), t);
                largest = largest.max((ours - expected).abs());
                assert!(
                    (ours - expected).abs() < 1e-4,
                    "S({t}) of row {row}: {ours} vs {expected}"
                );
            }
        }
        largest
    }
}

#[test]
fn unpenalised_cox_matches_lifelines_on_telco() {
    let Some(telco) = telco() else { return };
    let fit = &telco.reference["fits"]["penalizer_0.0"];
    let model = CoxParams {
        l2: 0.0,
        ..CoxParams::default()
    }
    .fit_survival(&telco.x, &telco.outcome())
    .expect("fit");
    assert!(model.converged);
    let mut largest_coefficient: f64 = 0.0;
    for (name, ours) in telco.names.iter().zip(&model.coefficients) {
        let expected = fit["coef"][name].as_f64().expect("coefficient");
        largest_coefficient = largest_coefficient.max((ours - expected).abs());
        assert!((ours - expected).abs() < 1e-4, "{name}: {ours} vs {expected}");
    }
    let expected = fit["log_likelihood"].as_f64().expect("log likelihood");
    let relative = ((model.log_partial_likelihood - expected) / expected).abs();
    assert!(relative < 1e-6, "{} vs {expected}", model.log_partial_likelihood);

    let risk: Vec<f64> = (0..telco.x.rows())
        .map(|i| model.linear_predictor(telco.x.row(i)))
        .collect();
    let concordance = harrell_concordance(&telco.outcome(), &risk).expect("concordance");
    let expected_concordance = fit["concordance_harrell"].as_f64().expect("concordance");
    assert!(
        (concordance.index - expected_concordance).abs() < 1e-9,
        "{} vs {expected_concordance}",
        concordance.index
    );
    let largest_survival = telco.check_survival(fit, &model, &|row| row.to_vec());
    eprintln!(
        "lifelines conformance, no penalty: largest coefficient difference {largest_coefficient:.2e}, \
         log partial likelihood {:.6} vs {expected:.6} ({relative:.2e} relative), Harrell's C {:.16} vs \
         {expected_concordance:.16}, largest survival difference {largest_survival:.2e}",
        model.log_partial_likelihood, concordance.index
    );
}

#[test]
fn penalised_cox_matches_lifelines_on_columns_standardised_as_lifelines_does() {
    let Some(telco) = telco() else { return };
    let fit = &telco.reference["fits"]["penalizer_0.01"];
    // lifelines standardises each column by its mean and sample standard deviation (n − 1) and
    // penalises the coefficients of the standardised columns; our `l2` is its `penalizer` on them.
    let (n, p) = (telco.x.rows(), telco.x.cols());
    let mean: Vec<f64> = (0..p)
        .map(|j| (0..n).map(|i| telco.x.get(i, j)).sum::<f64>() / n as f64)
        .collect();
    let sd: Vec<f64> = (0..p)
        .map(|j| {
            let ss: f64 = (0..n).map(|i| (telco.x.get(i, j) - mean[j]).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        })
        .collect();
    let standardise = |row: &[f64]| -> Vec<f64> {
        row.iter()
            .zip(mean.iter().zip(&sd))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    };
    let data = (0..n).flat_map(|i| standardise(telco.x.row(i))).collect();
    let standardised = Matrix::from_vec(n, p, data).expect("shape");
    let l2 = 0.01;
    let model = CoxParams {
        l2,
        ..CoxParams::default()
    }
    .fit_survival(&standardised, &telco.outcome())
    .expect("fit");
    let mut largest_coefficient: f64 = 0.0;
    for ((name, ours), s) in telco.names.iter().zip(&model.coefficients).zip(&sd) {
        let expected = fit["coef"][name].as_f64().expect("coefficient");
        let ours = ours / s;
        largest_coefficient = largest_coefficient.max((ours - expected).abs());
        assert!((ours - expected).abs() < 1e-4, "{name}: {ours} vs {expected}");
    }
    // lifelines reports the penalised log likelihood: ℓ(β) − n·penalizer·½‖β‖².
    let penalty = n as f64 * l2 * 0.5 * model.coefficients.iter().map(|b| b * b).sum::<f64>();
    let ours = model.log_partial_likelihood - penalty;
    let expected = fit["log_likelihood"].as_f64().expect("log likelihood");
    let relative = ((ours - expected) / expected).abs();
    assert!(relative < 1e-6, "{ours} vs {expected}");
    let largest_survival = telco.check_survival(fit, &model, &standardise);
    let risk: Vec<f64> = (0..n)
        .map(|i| model.linear_predictor(standardised.row(i)))
        .collect();
    let concordance = harrell_concordance(&telco.outcome(), &risk)
        .expect("concordance")
        .index;
    // lifelines and scikit-survival disagree by 6e-8 here (they tell near-ties of the risks apart
    // differently); ours counts pairs as scikit-survival does.
    let sksurv = fit["concordance_sksurv"].as_f64().expect("concordance");
    assert!((concordance - sksurv).abs() < 1e-9, "{concordance} vs {sksurv}");
    eprintln!(
        "lifelines conformance, penalizer 0.01: largest coefficient difference {largest_coefficient:.2e}, \
         penalised log likelihood {ours:.6} vs {expected:.6} ({relative:.2e} relative), largest survival \
         difference {largest_survival:.2e}, Harrell's C {concordance:.16} vs lifelines {} and \
         scikit-survival {}",
        fit["concordance_harrell"], fit["concordance_sksurv"]
    );
}
