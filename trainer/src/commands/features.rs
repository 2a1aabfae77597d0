//! `churn-trainer features`: build the point-in-time feature table, or print the feature catalog.

use super::{Ui, UsageError};
use anyhow::{Result, bail};
use chrono::NaiveDate;
use churn_features::engine::LabelKind;
use churn_features::engine::layout::FeatureSpec;
use churn_features::engine::{columns, last_data_day};
use churn_features::input::ReadProgress;
use churn_features::time::{DATE_FORMAT, Step, date_range, parse_date};
use churn_features::{BuildRequest, BuildSummary, Config, FeatureError, Inputs, LoadOptions, OnInvalid};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Build one row per customer per as-of date: RFM, BTYD summary, windowed behaviour, trends, lifecycle
/// stage, value tier, static attributes and the churn label. Only rows dated on or before each as-of date
/// (the end of that day) feed its features; labels look only after it.
#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  # CDNOW as of 1997-09-30, labelled by inactivity over the next 273 days
  churn-trainer features -c examples/cdnow.toml --as-of 1997-09-30 \\
      --horizon 273 -o cdnow.parquet

  # a training set of month-end as-of dates
  churn-trainer features -c demo/churn.toml \\
      --as-of-range 2024-01-31..2024-06-30 --step monthly --horizon 90 \\
      -o train.parquet

  # every customer as of the last day of the data, to score (no --horizon:
  # labels unknown, so not for training)
  churn-trainer features -c demo/churn.toml --as-of 2024-12-31 -o score.parquet

  # a snapshot table with given labels
  churn-trainer features -c examples/telco.toml -o telco.parquet

  # contractual churn from subscriptions, with each row's days to churn
  # or censoring, for --model cox (inactivity labels have no churn time)
  churn-trainer features -c demo/churn-subscriptions.toml \\
      --as-of 2024-06-30 --horizon 90 --durations -o survival.parquet

  # what each column of the training set above means
  churn-trainer features --catalog -c demo/churn.toml --as-of 2024-06-30")]
pub struct FeaturesArgs {
    /// TOML configuration mapping the input files and columns (see README, "Configuration"); also
    /// needed by --catalog.
    #[arg(long, short, value_name = "FILE", required_unless_present = "catalog")]
    config: Option<PathBuf>,
    /// As-of date (YYYY-MM-DD); repeat for several. Not needed for snapshot inputs without time.
    #[arg(long = "as-of", value_name = "DATE")]
    as_of: Vec<NaiveDate>,
    /// A range of as-of dates, START..END (inclusive), stepped by --step.
    #[arg(long, value_name = "START..END", value_parser = parse_range)]
    as_of_range: Option<(NaiveDate, NaiveDate)>,
    /// Step of --as-of-range: e.g. 7d, 2w, 1m, daily, weekly, monthly. From a month's last day, monthly
    /// steps stay on month ends.
    #[arg(long, value_name = "STEP", default_value = "monthly")]
    step: Step,
    /// Label horizon in days (at least 1): label 1 when the customer churns (no purchase, the end of the
    /// last [subscriptions] period, or the churn date) within this many days after the as-of date. Labels
    /// are null when the horizon runs past the end of the data that defines them: such as-of dates are
    /// built with a warning naming the last as-of date that can be labelled, and when no as-of date can
    /// be, the build fails (exit 2). Leave it out to build a table to score, such as every customer as of
    /// the last day of the data: its labels are unknown, so it cannot be trained on. A horizon with nothing to label with (no [labels], no
    /// [subscriptions], no churn_date in [customers], no [transactions]) is refused before any input is
    /// read (exit 2); with [labels] it is not used, with a warning.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    horizon: Option<u32>,
    /// Also write each row's time to churn, for survival models (`--model cox`): churn_duration_days,
    /// the days from the as-of date to the churn date ([customers] churn_date or [subscriptions]), or to
    /// the end of the data when the customer has not churned by then, and churn_event, 1 for a churn and
    /// 0 for such a censored duration. [labels] with a duration column writes them without this flag.
    /// Inactivity labels have no observed churn time: refused (exit 2).
    #[arg(long)]
    durations: bool,
    /// What to do with rows with a null or unparseable id or timestamp, a date outside the accepted range
    /// ([data] min_date / max_date in the configuration; by default 365 days beyond the 0.1% and 99.9%
    /// quantiles of each input's dates), or a NaN/infinite amount.
    #[arg(long, value_enum, default_value_t = InvalidRows::Fail)]
    on_invalid: InvalidRows,
    /// Drop exact duplicate rows of transactions and events: rows equal to an earlier row in every
    /// configured column, the full timestamp included (the first one is kept). Without it they are used,
    /// and counted in the report either way.
    #[arg(long)]
    dedupe: bool,
    /// Output Parquet file; a run summary is written beside it as <name>.summary.json.
    #[arg(long, short, value_name = "FILE", required_unless_present = "catalog")]
    out: Option<PathBuf>,
    /// Print the feature catalog instead of building: the feature columns a build with --config (after
    /// customer_id, as_of and label), as named in the table, with unit, role, window and meaning. It reads
    /// the inputs, since event types and customer attributes name columns; the as-of dates decide which
    /// event types have columns (without --as-of: those of a build as of the last day of the data).
    #[arg(long)]
    catalog: bool,
    /// Catalog format.
    #[arg(long, value_enum, default_value_t = CatalogFormat::Text, requires = "catalog")]
    format: CatalogFormat,
}

/// The `--on-invalid` policy.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum InvalidRows {
    /// Stop at the first invalid row, naming file, column and row.
    Fail,
    /// Skip invalid rows and report their counts by reason.
    Skip,
}

/// The catalog output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CatalogFormat {
    /// An aligned table.
    Text,
    /// JSON, one object per feature.
    Json,
}

/// Parses `--as-of-range START..END`, each date read by the one date parser ([`parse_date`]).
fn parse_range(text: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let (start, end) = text.split_once("..").ok_or_else(|| {
        format!("`{text}` is not a range START..END: two dates ({DATE_FORMAT}) joined by `..`")
    })?;
    let (start, end) = (
        parse_date(start).map_err(|e| format!("START: {e}"))?,
        parse_date(end).map_err(|e| format!("END: {e}"))?,
    );
    if start > end {
        return Err(format!("the range starts after it ends: {start} > {end}"));
    }
    Ok((start, end))
}

/// Runs the command.
pub fn run(args: FeaturesArgs, ui: &Ui) -> Result<()> {
    let Some(config_path) = args.config.as_deref() else {
        return Err(UsageError(
            "--catalog needs --config FILE: the column names depend on the configured inputs (their event \
             types and customer attributes) and on the [features] windows"
                .into(),
        )
        .into());
    };
    let config = Config::load(config_path)?;
    let mut as_of = args.as_of;
    if let Some((start, end)) = args.as_of_range {
        as_of.extend(date_range(start, end, args.step));
    }
    let options = LoadOptions {
        on_invalid: match args.on_invalid {
            InvalidRows::Fail => OnInvalid::Fail,
            InvalidRows::Skip => OnInvalid::Skip,
        },
        dedupe: args.dedupe,
    };
    if args.catalog {
        let inputs = load_inputs(&config, options, ui)?;
        return print_catalog(&config, &inputs, as_of, args.format);
    }
    let request = BuildRequest {
        as_of,
        horizon_days: args.horizon,
        durations: args.durations,
    };
    // The horizon against the labels' source, before any input is read.
    for warning in request.check_labels(&config).map_err(usage_or_failure)? {
        tracing::warn!("{warning}");
    }
    let Some(out) = args.out else {
        bail!("--out is required to build features");
    };

    let summary_path = churn_features::output::summary_path(&out);
    let mut input_paths = config.input_paths();
    input_paths.push(config_path);
    churn_features::output::check_parquet_name(&out).map_err(|e| UsageError(e.to_string()))?;
    churn_features::output::check_outputs(&[&out, &summary_path], &input_paths)?;
    churn_features::output::check_summary_is_its_own(&out)?;

    let started = std::time::Instant::now();
    let inputs = load_inputs(&config, options, ui)?;
    let summary =
        churn_features::build_to_parquet(&config, inputs, &request, &out).map_err(usage_or_failure)?;
    if !ui.quiet {
        report(&summary, &out, &summary_path, started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// A build error as the command reports it: labels asked for that cannot be given are a request to
/// change (a usage error), everything else a failure.
fn usage_or_failure(error: FeatureError) -> anyhow::Error {
    match error {
        FeatureError::Unlabellable { .. }
        | FeatureError::NoLabelSource { .. }
        | FeatureError::NoDurations(_) => anyhow::Error::new(UsageError(error.to_string())),
        error => error.into(),
    }
}

/// Reads the configured inputs, with a progress bar.
fn load_inputs(config: &Config, options: LoadOptions, ui: &Ui) -> Result<Inputs> {
    let started = std::time::Instant::now();
    let progress = BarProgress {
        bar: ui.progress(0, "reading", "rows"),
    };
    let inputs = Inputs::load(config, options, &progress)?;
    progress.bar.finish_and_clear();
    tracing::info!(
        customers = inputs.ids.len(),
        seconds = started.elapsed().as_secs_f64(),
        "inputs read"
    );
    Ok(inputs)
}

fn report(summary: &BuildSummary, out: &Path, summary_path: &Path, seconds: f64) {
    let read: Vec<String> = summary
        .rows_read
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    eprintln!("rows read: {}", read.join(", "));
    if summary.rows_rejected.is_empty() {
        eprintln!("rows rejected: none");
    } else {
        for (reason, count) in &summary.rows_rejected {
            eprintln!("rows rejected: {count} ({reason})");
        }
    }
    for (input, range) in &summary.input_ranges {
        let accepted = match (range.accepted_from, range.accepted_to) {
            (Some(from), Some(to)) => format!(" (dates accepted: {from} .. {to})"),
            _ => String::new(),
        };
        eprintln!(
            "data range of {input}: {} .. {}{accepted}",
            range.first, range.last
        );
    }
    if let Some(end) = summary.label_data_end {
        let last = summary
            .last_labelled_as_of
            .and_then(|last| last.succ_opt())
            .map_or(String::new(), |first| format!(" (as of {first} or later)"));
        eprintln!("labels look up to {end}: a label whose horizon runs past it{last} is null");
    }
    for (input, rows) in &summary.duplicate_rows {
        let fate = if *rows == 0 {
            ""
        } else if summary.duplicates_dropped {
            " (dropped)"
        } else {
            " (used; --dedupe drops them)"
        };
        eprintln!("exact duplicate rows in {input}: {rows}{fate}");
    }
    for date in &summary.as_of {
        let when = date.as_of.map_or("snapshot".to_string(), |d| d.to_string());
        let past_horizon = date
            .as_of
            .zip(summary.last_labelled_as_of)
            .is_some_and(|(as_of, last)| as_of > last);
        let labels = if summary.label_kind == LabelKind::None {
            "unlabelled (no --horizon): rows to score, not to train on".to_string()
        } else if past_horizon {
            format!(
                "unlabelled: the {}-day horizon runs past {}, the end of the data: rows to score, not to \
                 train on",
                summary.horizon_days.unwrap_or_default(),
                summary.label_data_end.map_or("-".into(), |d| d.to_string()),
            )
        } else {
            let rate = date.label_rate.map_or("-".into(), |r| format!("{:.4}", r));
            format!("{} labelled, label rate {rate}", date.labelled)
        };
        eprintln!("as of {when}: {} customers, {labels}", date.rows);
    }
    eprintln!(
        "wrote {} rows ({} customers, labels: {:?}) to {} and the summary to {} in {seconds:.2} s",
        summary.rows,
        summary.customers,
        summary.label_kind,
        out.display(),
        summary_path.display()
    );
}

/// Shows reading progress on a bar.
struct BarProgress {
    bar: ProgressBar,
}

impl ReadProgress for BarProgress {
    fn start(&self, input: &str, rows: u64) {
        self.bar.set_position(0);
        self.bar.set_length(rows);
        self.bar.set_message(format!("reading {input}"));
    }

    fn advance(&self, rows: u64) {
        self.bar.inc(rows);
    }
}

/// Prints the feature columns a build with this configuration, these inputs and these as-of dates writes
/// (after `customer_id`, `as_of` and `label`), named by the engine's own layout ([`columns`]). Without
/// as-of dates on dated inputs, the columns of a build as of the last day of the data.
fn print_catalog(
    config: &Config,
    inputs: &Inputs,
    mut as_of: Vec<NaiveDate>,
    format: CatalogFormat,
) -> Result<()> {
    if as_of.is_empty()
        && let Some(last) = last_data_day(inputs)
    {
        tracing::info!(
            "no --as-of given: the columns of a build as of the last day of the data, {last}. A build as of \
             earlier dates has no columns for an event type without any event by its last as-of date: \
             give its --as-of (or --as-of-range) for its exact columns"
        );
        as_of.push(last);
    }
    let request = BuildRequest {
        as_of,
        horizon_days: None,
        durations: false,
    };
    let layout = columns(config, inputs, &request)?;
    let mut out = std::io::stdout().lock();
    let written = match format {
        CatalogFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&layout.specs)?),
        CatalogFormat::Text => {
            let specs = &layout.specs;
            let width = |of: fn(&FeatureSpec) -> usize, title: &str| {
                specs.iter().map(of).chain([title.len()]).max().unwrap_or(0)
            };
            let name = width(|s| s.name.len(), "NAME");
            let unit = width(|s| s.unit.len(), "UNIT");
            let role = width(|s| s.role.as_str().len(), "ROLE");
            let window = width(|s| s.window.len(), "WINDOW");
            writeln!(
                out,
                "{:name$}  {:unit$}  {:role$}  {:window$}  MEANING",
                "NAME", "UNIT", "ROLE", "WINDOW"
            )
            .and_then(|()| {
                specs.iter().try_for_each(|spec| {
                    writeln!(
                        out,
                        "{:name$}  {:unit$}  {:role$}  {:window$}  {}",
                        spec.name,
                        spec.unit,
                        spec.role.as_str(),
                        spec.window,
                        spec.meaning
                    )
                })
            })
        }
    };
    // A reader that stops early (`| head`) ends the program quietly (see `main`).
    Ok(written?)
}
