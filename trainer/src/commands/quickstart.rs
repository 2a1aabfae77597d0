//! `churn-trainer quickstart`: the whole pipeline on synthetic demo data in one command.
//!
//! Every step runs one of the other subcommands with the very arguments a user would type (parsed by the
//! same clap definitions and handed to the same `run` functions), and logs that command line first, so the
//! quickstart is also a transcript to copy from: nothing here re-implements generating, building features,
//! training, evaluating, promoting or scoring.

use super::Ui;
use super::outln;
use super::{evaluate, features, generate, models, score, train};
use anyhow::{Context, Result, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use chrono::{Datelike, Days, NaiveDate};
use churn_features::time::{Step, date_range};
use churn_models::Registry;
use clap::{Args, FromArgMatches};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Name of the model in the quickstart's registry; both kinds are versions of it.
const MODEL_NAME: &str = "churn";
/// Label horizon: a customer churned when they make no purchase in the 90 days after the as-of date.
const HORIZON_DAYS: u32 = 90;
/// Months of history before the first training as-of date, so that windows and rhythms have data.
const HISTORY_MONTHS: u32 = 6;
/// Which customers the demo's model is for, as the `[population]` section of DIR/model.toml says it:
/// customers who have purchased and are not lapsed (lapsed: no activity in the last 180 days; they churn
/// at about 97% and would only inflate ROC AUC).
const POPULATION: &str =
    "lifecycle_stages = [\"new\", \"active\", \"at_risk\"]\nexclude_never_purchased = true\n";
/// Name of the quickstart's survival model (time to churn from the subscriptions), beside `churn`.
const SURVIVAL_MODEL_NAME: &str = "churn-survival";
/// Marker file that makes a folder recognisable as a quickstart folder (and lists what is in it).
const MANIFEST: &str = "quickstart.json";

/// Run the whole pipeline on synthetic demo data: generate, features, train, evaluate, promote, score,
/// time to churn.
///
/// Generates a seeded synthetic data set (transactions, events, customers) into DIR/data; builds a
/// training table of monthly as-of dates with a 90-day inactivity label, the out-of-time test rows of the
/// last labelled month and a snapshot of every customer as of the last day of the data (DIR/features);
/// trains every model kind on the same rows with `train --model auto`, validated out of time, and keeps
/// the one with the best out-of-time ROC AUC (DIR/registry, model `churn`, with the label's meaning from
/// DIR/model.toml), printing the comparison; writes its evaluation, metrics.json and report.html
/// (DIR/reports/<kind>), and its scores of the test rows (DIR/scores/test-<kind>.parquet); promotes it;
/// scores the snapshot with it (DIR/scores/latest.parquet); trains a Cox model for time to churn on the
/// generated subscriptions (DIR/registry, model `churn-survival`; DIR/reports/cox, DIR/scores/test-cox.parquet);
/// and prints how to serve and query the promoted model.
///
/// The model is for customers who have purchased and are not lapsed: the [population] section of
/// DIR/model.toml keeps the lifecycle stages new, active and at_risk (activity in the last 180 days) and
/// leaves out customers who never purchased, since lapsed customers churn at about 97% and would only
/// inflate ROC AUC. Training, evaluation and the test-row scores use that population;
/// scores/latest.parquet holds every customer with an in_population column, and the customer most at
/// risk named at the end is one of the population.
/// Each step logs the equivalent `churn-trainer` command. DIR/quickstart.json lists every file made.
/// Running again in the same DIR replaces the data, features, reports and scores, and adds new model
/// versions.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  churn-trainer quickstart\n  \
                        churn-trainer quickstart --dir /tmp/churn-demo --customers 20000 --seed 7\n\n  \
                        # from a clone of the repository\n  \
                        cargo run -p churn-trainer -- quickstart")]
pub struct QuickstartArgs {
    /// Folder to build everything in (created if missing). An existing folder must be empty or hold an
    /// earlier quickstart.
    #[arg(long, value_name = "DIR", default_value = "churn-quickstart")]
    pub dir: PathBuf,

    /// Number of synthetic customers.
    #[arg(long, value_name = "N", default_value_t = 3_000)]
    pub customers: u64,

    /// Seed of the synthetic data and of the random forest: the same seed gives the same results.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
}

/// The calendar of the demo: the simulated period and the as-of dates derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Calendar {
    /// First day of the simulated data.
    start: NaiveDate,
    /// Last day of the simulated data (included).
    end: NaiveDate,
    /// First training as-of date (a month end).
    first_as_of: NaiveDate,
    /// The out-of-time test date: the last month end whose horizon still fits in the data.
    test_as_of: NaiveDate,
    /// The snapshot date scored at the end: the last day of the data.
    snapshot_as_of: NaiveDate,
}

impl Calendar {
    /// The calendar for data from `start` to `end`, or an error when the period is too short to leave
    /// at least two labelled month ends after the history months.
    fn new(start: NaiveDate, end: NaiveDate) -> Result<Self> {
        let first_as_of = last_day_of_month(
            start
                .checked_add_months(chrono::Months::new(HISTORY_MONTHS - 1))
                .context("date out of range")?,
        );
        let test_as_of = last_month_end_with(end, HORIZON_DAYS)?;
        if test_as_of <= first_as_of {
            bail!(
                "the demo period {start}..{end} is too short for {HISTORY_MONTHS} months of history and a {HORIZON_DAYS}-day horizon"
            );
        }
        Ok(Self {
            start,
            end,
            first_as_of,
            test_as_of,
            snapshot_as_of: end,
        })
    }

    /// The monthly training as-of dates, the test date included (it is held out by `--test-as-of`).
    fn training_dates(&self) -> Vec<NaiveDate> {
        date_range(self.first_as_of, self.test_as_of, Step::Months(1))
    }
}

/// The last month end `d` with `d + days <= end`: the last as-of date whose label looking `days` ahead
/// the data up to `end` decides.
fn last_month_end_with(end: NaiveDate, days: u32) -> Result<NaiveDate> {
    let cutoff = end
        .checked_sub_days(Days::new(u64::from(days)))
        .context("date out of range")?;
    if last_day_of_month(cutoff) == cutoff {
        Ok(cutoff)
    } else {
        cutoff
            .with_day(1)
            .and_then(|d| d.pred_opt())
            .context("date out of range")
    }
}

fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    let first = date.with_day(1).unwrap_or(date);
    first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(date)
}

/// What the quickstart made, written to DIR/quickstart.json (paths relative to DIR) for people,
/// notebooks and scripts.
#[derive(Debug, Serialize)]
struct Manifest {
    customers: u64,
    seed: u64,
    data_start: NaiveDate,
    data_end: NaiveDate,
    horizon_days: u32,
    label: String,
    data_dir: String,
    config: String,
    model_config: String,
    /// The as-of dates of features/train.parquet; the models are fitted on all but the last.
    train_table_as_of: Vec<NaiveDate>,
    /// The out-of-time test date (the last date of the training table, held out).
    test_as_of: NaiveDate,
    snapshot_as_of: NaiveDate,
    features: FeatureFiles,
    registry: String,
    model_name: &'static str,
    models: Vec<TrainedModel>,
    /// Every kind `train --model auto` compared on the same rows.
    candidates: Vec<churn_models::metrics::Candidate>,
    promoted: PromotedModel,
    scores: String,
    /// Customers of the population flagged in the scores.
    flagged: usize,
    scored: usize,
    /// The model's population (the `[population]` rules of model.toml) and how many scored rows are in it.
    population: String,
    in_population: usize,
    /// The customer of the population most at risk.
    example_customer_id: String,
    /// The time-to-churn model.
    survival: SurvivalRun,
    seconds: f64,
}

/// The Cox model of the quickstart and its files: trained on the subscriptions' contractual churn, whose
/// label is known a grace period after the subscriptions' last day, so its test date is earlier.
#[derive(Debug, Serialize)]
struct SurvivalRun {
    config: String,
    model_name: &'static str,
    version: String,
    test_as_of: NaiveDate,
    train_features: String,
    test_features: String,
    /// Out-of-time Harrell's concordance and ROC AUC of the churn probability within the horizon,
    /// recorded at training.
    concordance: f64,
    roc_auc: f64,
    metrics: String,
    report: String,
    test_scores: String,
}

#[derive(Debug, Serialize)]
struct FeatureFiles {
    train: String,
    test: String,
    snapshot: String,
}

/// One trained model and its files.
#[derive(Debug, Clone, Serialize)]
struct TrainedModel {
    kind: &'static str,
    version: String,
    /// Out-of-time ROC AUC recorded at training.
    roc_auc: f64,
    metrics: String,
    report: String,
    test_scores: String,
}

#[derive(Debug, Serialize)]
struct PromotedModel {
    kind: &'static str,
    version: String,
    roc_auc: f64,
}

/// Paths of the quickstart folder.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// A path inside DIR as an argument of a logged command.
    fn arg(&self, relative: &str) -> OsString {
        self.path(relative).into_os_string()
    }
}

/// Runs `churn-trainer quickstart`.
pub fn run(args: QuickstartArgs, ui: &Ui) -> Result<()> {
    let started = Instant::now();
    check_folder(&args.dir)?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let layout = Layout {
        dir: args.dir.clone(),
    };
    let calendar = Calendar::new(demo_date(2023, 1, 1)?, demo_date(2024, 12, 31)?)?;
    let training_dates = calendar.training_dates();
    let steps = Steps::new(ui, 8);

    steps.begin("generate synthetic customers, transactions and events");
    steps.run(
        "generate",
        vec![
            "--out".into(),
            layout.arg("data"),
            "--customers".into(),
            args.customers.to_string().into(),
            "--seed".into(),
            args.seed.to_string().into(),
            "--start".into(),
            calendar.start.to_string().into(),
            "--end".into(),
            calendar.end.to_string().into(),
        ],
        generate::run,
    )?;

    steps.begin("build point-in-time features: monthly training rows, test rows, latest snapshot");
    std::fs::create_dir_all(layout.path("features"))?;
    let horizon = HORIZON_DAYS.to_string();
    let feature_runs: [(&str, Vec<OsString>); 3] = [
        (
            "features/train.parquet",
            vec![
                "--as-of-range".into(),
                format!("{}..{}", calendar.first_as_of, calendar.test_as_of).into(),
                "--step".into(),
                "monthly".into(),
                "--horizon".into(),
                horizon.clone().into(),
            ],
        ),
        (
            "features/test.parquet",
            vec![
                "--as-of".into(),
                calendar.test_as_of.to_string().into(),
                "--horizon".into(),
                horizon.clone().into(),
            ],
        ),
        // As of the last day of the data every label is unknown: these are the customers to act on.
        (
            "features/snapshot.parquet",
            vec!["--as-of".into(), calendar.snapshot_as_of.to_string().into()],
        ),
    ];
    for (out, dates) in feature_runs {
        let mut argv: Vec<OsString> = vec!["--config".into(), layout.arg("data/churn.toml")];
        argv.extend(dates);
        argv.extend(["--out".into(), layout.arg(out)]);
        steps.run("features", argv, features::run)?;
    }

    steps.begin(&format!(
        "train every model kind on {} monthly as-of dates, validated out of time on {}; keep the best",
        training_dates.len() - 1,
        calendar.test_as_of
    ));
    let registry_dir = layout.path("registry");
    // The model configuration records what the label means, so that `models show` and the server's
    // GetModelInfo can say it, and which customers the model is for; every hyperparameter keeps its
    // default.
    let label = format!("no purchase in the {HORIZON_DAYS} days after the as-of date");
    let model_config = format!(
        "# Model configuration for `churn-trainer train --model-config` (see that command's --help).\n\
         [label]\n\
         definition = \"{label}\"\n\
         horizon_days = {HORIZON_DAYS}\n\
         \n\
         # Which customers the model is trained, evaluated and scored on: not lapsed, and with a purchase.\n\
         [population]\n\
         {POPULATION}"
    );
    churn_features::output::write_bytes_atomically(&layout.path("model.toml"), model_config.as_bytes())?;
    let argv: Vec<OsString> = vec![
        "--features".into(),
        layout.arg("features/train.parquet"),
        "--model".into(),
        "auto".into(),
        "--registry".into(),
        registry_dir.clone().into_os_string(),
        "--name".into(),
        MODEL_NAME.into(),
        "--test-as-of".into(),
        calendar.test_as_of.to_string().into(),
        "--model-config".into(),
        layout.arg("model.toml"),
        "--seed".into(),
        args.seed.to_string().into(),
        // Importance is computed once, by `evaluate`, on the same test rows.
        "--no-importance".into(),
    ];
    steps.run("train", argv, train::run)?;
    let registry = Registry::open(&registry_dir)?;
    let version = registry
        .versions(MODEL_NAME)?
        .pop()
        .context("training saved no model version")?;
    let model = registry.load(MODEL_NAME, &version)?;
    let metrics = model
        .artifact
        .metrics
        .as_ref()
        .context("the model was saved without out-of-time metrics")?;
    let kind = model.artifact.kind.name();
    let trained = vec![TrainedModel {
        kind,
        version,
        roc_auc: metrics.roc_auc,
        metrics: format!("reports/{kind}/metrics.json"),
        report: format!("reports/{kind}/report.html"),
        test_scores: format!("scores/test-{kind}.parquet"),
    }];
    let candidates = metrics.candidates.clone();

    steps.begin("evaluate the chosen model on the out-of-time test rows: metrics.json, report.html, scores");
    // `score` writes its file but does not create the folder.
    std::fs::create_dir_all(layout.path("scores"))?;
    for model in &trained {
        let spec = format!("{MODEL_NAME}@{}", model.version);
        steps.run(
            "evaluate",
            vec![
                "--model".into(),
                spec.clone().into(),
                "--registry".into(),
                registry_dir.clone().into_os_string(),
                "--features".into(),
                layout.arg("features/test.parquet"),
                "--out".into(),
                layout.arg(&format!("reports/{}", model.kind)),
            ],
            evaluate::run,
        )?;
        steps.run(
            "score",
            vec![
                "--model".into(),
                spec.into(),
                "--registry".into(),
                registry_dir.clone().into_os_string(),
                "--features".into(),
                layout.arg("features/test.parquet"),
                "--out".into(),
                layout.arg(&model.test_scores),
            ],
            score::run,
        )?;
    }

    let best = trained[0].clone();
    steps.begin(&format!(
        "promote {MODEL_NAME}@{} ({}), the best out-of-time ROC AUC ({:.4})",
        best.version, best.kind, best.roc_auc
    ));
    steps.run(
        "models",
        vec![
            "--registry".into(),
            registry_dir.clone().into_os_string(),
            "promote".into(),
            format!("{MODEL_NAME}@{}", best.version).into(),
        ],
        models::run,
    )?;

    steps.begin(&format!(
        "score every customer as of {} with the promoted model",
        calendar.snapshot_as_of
    ));
    steps.run(
        "score",
        vec![
            "--model".into(),
            MODEL_NAME.into(),
            "--registry".into(),
            registry_dir.clone().into_os_string(),
            "--features".into(),
            layout.arg("features/snapshot.parquet"),
            "--out".into(),
            layout.arg("scores/latest.parquet"),
            // Every customer, with in_population saying whom the model is for.
            "--all-rows".into(),
        ],
        score::run,
    )?;

    let survival = time_to_churn(&steps, &layout, &calendar, &registry_dir)?;

    steps.begin("write quickstart.json");
    let summary = summarise_scores(&layout.path("scores/latest.parquet"))?;
    let manifest = Manifest {
        customers: args.customers,
        seed: args.seed,
        data_start: calendar.start,
        data_end: calendar.end,
        horizon_days: HORIZON_DAYS,
        label,
        data_dir: "data".into(),
        config: "data/churn.toml".into(),
        model_config: "model.toml".into(),
        train_table_as_of: training_dates.clone(),
        test_as_of: calendar.test_as_of,
        snapshot_as_of: calendar.snapshot_as_of,
        features: FeatureFiles {
            train: "features/train.parquet".into(),
            test: "features/test.parquet".into(),
            snapshot: "features/snapshot.parquet".into(),
        },
        registry: "registry".into(),
        model_name: MODEL_NAME,
        models: trained.clone(),
        candidates,
        promoted: PromotedModel {
            kind: best.kind,
            version: best.version.clone(),
            roc_auc: best.roc_auc,
        },
        scores: "scores/latest.parquet".into(),
        flagged: summary.flagged,
        scored: summary.rows,
        population: model.artifact.population.to_string(),
        in_population: summary.in_population,
        example_customer_id: summary.riskiest_customer.clone(),
        survival,
        seconds: started.elapsed().as_secs_f64(),
    };
    churn_features::output::write_bytes_atomically(
        &layout.path(MANIFEST),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    tracing::info!(
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "quickstart finished"
    );
    print_next_steps(&layout.dir, &manifest, &summary)?;
    Ok(())
}

/// Time to churn: features with durations from the generated subscriptions, a Cox model trained on the
/// monthly as-of dates and validated out of time on the last one whose contractual label the data
/// decides (the horizon plus the grace period before the end), then evaluated and its test rows scored.
fn time_to_churn(
    steps: &Steps<'_>,
    layout: &Layout,
    calendar: &Calendar,
    registry_dir: &Path,
) -> Result<SurvivalRun> {
    let config = "data/churn-subscriptions.toml";
    let grace = churn_features::Config::load(&layout.path(config))?
        .subscriptions
        .map_or(0, |s| s.grace_days);
    let test_as_of = last_month_end_with(calendar.end, HORIZON_DAYS + grace)?;
    steps.begin(&format!(
        "time to churn: a Cox model on the subscriptions' churn, out of time on {test_as_of}"
    ));
    let (train_features, test_features) = (
        "features/survival-train.parquet",
        "features/survival-test.parquet",
    );
    for (out, dates) in [
        (
            train_features,
            vec![
                "--as-of-range".into(),
                format!("{}..{test_as_of}", calendar.first_as_of).into(),
                "--step".into(),
                "monthly".into(),
            ],
        ),
        (
            test_features,
            vec!["--as-of".into(), test_as_of.to_string().into()],
        ),
    ] {
        let mut argv: Vec<OsString> = vec!["--config".into(), layout.arg(config)];
        argv.extend(dates);
        argv.extend([
            "--horizon".into(),
            HORIZON_DAYS.to_string().into(),
            "--durations".into(),
            "--out".into(),
            layout.arg(out),
        ]);
        steps.run("features", argv, features::run)?;
    }
    let registry: OsString = registry_dir.as_os_str().to_owned();
    steps.run(
        "train",
        vec![
            "--features".into(),
            layout.arg(train_features),
            "--model".into(),
            "cox".into(),
            "--registry".into(),
            registry.clone(),
            "--name".into(),
            SURVIVAL_MODEL_NAME.into(),
            "--test-as-of".into(),
            test_as_of.to_string().into(),
            "--no-importance".into(),
        ],
        train::run,
    )?;
    let saved = Registry::open(registry_dir)?;
    let version = saved
        .versions(SURVIVAL_MODEL_NAME)?
        .pop()
        .context("training saved no survival model version")?;
    let model = saved.load(SURVIVAL_MODEL_NAME, &version)?;
    let metrics = model
        .artifact
        .metrics
        .as_ref()
        .context("the survival model was saved without out-of-time metrics")?;
    let concordance = metrics
        .survival
        .as_ref()
        .context("the survival model was saved without survival metrics")?
        .harrell_concordance;
    let spec: OsString = format!("{SURVIVAL_MODEL_NAME}@{version}").into();
    let (report, test_scores) = ("reports/cox", "scores/test-cox.parquet");
    let on_test_rows = |out: &str| -> Vec<OsString> {
        vec![
            "--model".into(),
            spec.clone(),
            "--registry".into(),
            registry.clone(),
            "--features".into(),
            layout.arg(test_features),
            "--out".into(),
            layout.arg(out),
        ]
    };
    steps.run("evaluate", on_test_rows(report), evaluate::run)?;
    steps.run("score", on_test_rows(test_scores), score::run)?;
    Ok(SurvivalRun {
        config: config.into(),
        model_name: SURVIVAL_MODEL_NAME,
        version,
        test_as_of,
        train_features: train_features.into(),
        test_features: test_features.into(),
        concordance,
        roc_auc: metrics.roc_auc,
        metrics: format!("{report}/metrics.json"),
        report: format!("{report}/report.html"),
        test_scores: test_scores.into(),
    })
}

/// Refuses to write into a folder that holds something other than an earlier quickstart.
fn check_folder(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!(
            "{} exists and is not a folder; choose another --dir",
            dir.display()
        );
    }
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .next()
        .is_none();
    if !empty && !dir.join(MANIFEST).is_file() {
        bail!(
            "{} is not empty and holds no earlier quickstart ({MANIFEST}); choose another --dir",
            dir.display()
        );
    }
    Ok(())
}

fn demo_date(year: i32, month: u32, day: u32) -> Result<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).context("invalid demo date")
}

/// Numbered steps, each logged with the command it runs.
struct Steps<'a> {
    ui: &'a Ui,
    total: usize,
    current: std::cell::Cell<usize>,
}

impl<'a> Steps<'a> {
    fn new(ui: &'a Ui, total: usize) -> Self {
        Self {
            ui,
            total,
            current: std::cell::Cell::new(0),
        }
    }

    fn begin(&self, what: &str) {
        let step = self.current.get() + 1;
        self.current.set(step);
        tracing::info!("step {step}/{}: {what}", self.total);
    }

    /// Runs `churn-trainer <subcommand> <argv>`: parses `argv` with the subcommand's own argument
    /// definitions, logs the command line, and calls its `run`.
    fn run<A: Args + FromArgMatches>(
        &self,
        subcommand: &'static str,
        argv: Vec<OsString>,
        run: impl FnOnce(A, &Ui) -> Result<()>,
    ) -> Result<()> {
        let line = command_line(subcommand, &argv);
        tracing::info!("$ {line}");
        let args =
            parse_args::<A>(subcommand, argv).with_context(|| format!("invalid arguments for `{line}`"))?;
        run(args, self.ui).with_context(|| format!("quickstart step `{line}` failed"))
    }
}

/// Parses a subcommand's arguments with its clap definition, exactly as the command line would.
pub(crate) fn parse_args<A: Args + FromArgMatches>(
    subcommand: &'static str,
    argv: Vec<OsString>,
) -> Result<A> {
    let command = A::augment_args(clap::Command::new(subcommand).no_binary_name(true));
    let matches = command.try_get_matches_from(argv)?;
    Ok(A::from_arg_matches(&matches)?)
}

/// `churn-trainer <subcommand> <argv>` as one line a POSIX shell reads back the same.
fn command_line(subcommand: &str, argv: &[OsString]) -> String {
    let mut line = format!("churn-trainer {subcommand}");
    for arg in argv {
        line.push(' ');
        line.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    line
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What the final scores say, for the closing message.
#[derive(Debug)]
struct ScoreSummary {
    rows: usize,
    /// Rows in the model's population (all of them without an `in_population` column).
    in_population: usize,
    /// Rows of the population flagged.
    flagged: usize,
    riskiest_customer: String,
    riskiest_probability: f64,
}

/// Reads back the batch scores: rows, rows in the population, those flagged, and the customer of the
/// population with the highest probability.
fn summarise_scores(path: &Path) -> Result<ScoreSummary> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut summary = ScoreSummary {
        rows: 0,
        in_population: 0,
        flagged: 0,
        riskiest_customer: String::new(),
        riskiest_probability: f64::NEG_INFINITY,
    };
    for batch in reader {
        let batch: RecordBatch = batch?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("{} has no column {name}", path.display()))
        };
        let ids = column("customer_id")?;
        let probabilities = column("churn_probability")?.as_primitive::<Float64Type>();
        let flagged = column("flagged")?.as_boolean();
        let in_population = batch.column_by_name("in_population").map(|c| c.as_boolean());
        summary.rows += batch.num_rows();
        for row in 0..batch.num_rows() {
            if in_population.is_some_and(|c| !c.value(row)) {
                continue;
            }
            summary.in_population += 1;
            summary.flagged += usize::from(flagged.value(row));
            let probability = probabilities.value(row);
            if probability > summary.riskiest_probability {
                summary.riskiest_probability = probability;
                summary.riskiest_customer = match ids.data_type() {
                    DataType::Int64 => ids.as_primitive::<Int64Type>().value(row).to_string(),
                    _ => ids.as_string::<i32>().value(row).to_string(),
                };
            }
        }
    }
    if summary.in_population == 0 {
        bail!("{} holds no scores of the model's population", path.display());
    }
    Ok(summary)
}

/// The closing message on stdout: what was built, and how to serve and query it.
fn print_next_steps(dir: &Path, manifest: &Manifest, scores: &ScoreSummary) -> std::io::Result<()> {
    let at = |relative: &str| shell_quote(&dir.join(relative).to_string_lossy());
    let models: Vec<String> = manifest
        .models
        .iter()
        .map(|m| {
            let promoted = if m.version == manifest.promoted.version {
                ", promoted"
            } else {
                ""
            };
            format!("{} {} (ROC AUC {:.4}{promoted})", m.version, m.kind, m.roc_auc)
        })
        .collect();
    outln!()?;
    outln!(
        "Quickstart finished in {:.1} s. Everything is in {}:",
        manifest.seconds,
        dir.display()
    )?;
    outln!("  data/             synthetic transactions, events, customers and churn.toml")?;
    outln!(
        "  features/         train.parquet ({} monthly as-of dates {}..{}), test.parquet, snapshot.parquet ({})",
        manifest.train_table_as_of.len(),
        manifest
            .train_table_as_of
            .first()
            .map_or(String::new(), |d| d.to_string()),
        manifest.test_as_of,
        manifest.snapshot_as_of
    )?;
    outln!(
        "  registry/{MODEL_NAME}/   {}; out of time on {}",
        models.join(", "),
        manifest.test_as_of
    )?;
    for c in &manifest.candidates {
        outln!(
            "                    {} {:<18} ROC AUC {:.4}  Brier {:.4}",
            if c.chosen { "*" } else { " " },
            c.kind.name(),
            c.roc_auc,
            c.brier
        )?;
    }
    let survival = &manifest.survival;
    outln!(
        "  registry/{}/ {} cox: time to churn from the subscriptions; out of time on {}: concordance \
         {:.3}, ROC AUC {:.4} (churn within {} days)",
        survival.model_name,
        survival.version,
        survival.test_as_of,
        survival.concordance,
        survival.roc_auc,
        manifest.horizon_days
    )?;
    outln!("  reports/<kind>/   metrics.json and report.html (open it in a browser)")?;
    outln!(
        "  scores/           latest.parquet: {} customers, {} in the population, {} of them flagged; \
         test-<kind>.parquet: test-row scores",
        scores.rows,
        scores.in_population,
        scores.flagged
    )?;
    outln!("  population        {}", manifest.population)?;
    outln!()?;
    outln!("Next steps:")?;
    outln!("  1. Serve the promoted model and the latest snapshot over gRPC (port 50051):")?;
    outln!(
        "       cargo run -p churn-server -- --registry {} --model {MODEL_NAME} --features {}",
        at("registry"),
        at("features/snapshot.parquet")
    )?;
    outln!(
        "  2. In another terminal, ask why the customer most at risk ({:.2}) is at risk:",
        scores.riskiest_probability
    )?;
    outln!(
        "       grpcurl -plaintext -d '{{\"customer_id\": \"{}\", \"max_reasons\": 3}}' 127.0.0.1:50051 churn.v1.ScoringService/Score",
        scores.riskiest_customer
    )?;
    outln!("  3. Explore the features and compare the models in the notebooks:")?;
    outln!(
        "       CHURN_QUICKSTART_DIR={} bash notebooks/run.sh",
        shell_quote(&dir.to_string_lossy())
    )?;
    outln!("  4. See how far the snapshot's customers have moved from the training customers (drift):")?;
    outln!(
        "       cargo run -p churn-trainer -- monitor --model {MODEL_NAME} --registry {} --features {} --out {}",
        at("registry"),
        at("features/snapshot.parquet"),
        at("drift")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn calendar_keeps_the_test_horizon_inside_the_data() {
        let calendar = Calendar::new(date("2023-01-01"), date("2024-12-31")).expect("calendar");
        assert_eq!(calendar.first_as_of, date("2023-06-30"));
        // 2024-12-31 minus 90 days is 2024-10-02: the last month end on or before it is 2024-09-30.
        assert_eq!(calendar.test_as_of, date("2024-09-30"));
        assert_eq!(calendar.snapshot_as_of, date("2024-12-31"));
        let dates = calendar.training_dates();
        assert_eq!(dates.len(), 16);
        assert_eq!(dates.last(), Some(&date("2024-09-30")));
        assert!(dates.iter().all(|d| last_day_of_month(*d) == *d));
    }

    #[test]
    fn calendar_on_a_month_end_cutoff_and_a_short_period() {
        // 2024-03-31 minus 90 days is 2024-01-01; 2024-04-30 minus 90 is 2024-01-31, itself a month end.
        let calendar = Calendar::new(date("2023-01-01"), date("2024-04-30")).expect("calendar");
        assert_eq!(calendar.test_as_of, date("2024-01-31"));
        assert!(Calendar::new(date("2024-01-01"), date("2024-08-31")).is_err());
    }

    #[test]
    fn quotes_only_what_a_shell_would_split() {
        assert_eq!(shell_quote("data/churn.toml"), "data/churn.toml");
        assert_eq!(shell_quote("2023-06-30..2024-09-30"), "2023-06-30..2024-09-30");
        assert_eq!(shell_quote("my data"), "'my data'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn parses_subcommand_arguments_like_the_command_line() {
        let args: generate::GenerateArgs = parse_args(
            "generate",
            vec!["--out".into(), "x".into(), "--customers".into(), "7".into()],
        )
        .expect("parse");
        assert_eq!(args.customers, 7);
        assert_eq!(
            args.seed, 42,
            "defaults come from the subcommand's own definition"
        );
        assert!(parse_args::<generate::GenerateArgs>("generate", vec!["--no-such-flag".into()]).is_err());
    }
}
