//! `churn-trainer features`: build the point-in-time feature table, or print the feature catalog.

use super::Ui;
use anyhow::{Result, bail};
use chrono::NaiveDate;
use churn_features::engine::layout::{Layout, LayoutInputs};
use churn_features::input::ReadProgress;
use churn_features::time::{DATE_FORMAT, Step, date_range, parse_date};
use churn_features::{BuildRequest, BuildSummary, Config, Inputs, LoadOptions, OnInvalid};
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
  churn-trainer features -c examples/cdnow.toml --as-of 1997-09-30 --horizon 273 -o cdnow.parquet

  # a training set of month-end as-of dates
  churn-trainer features -c demo/churn.toml --as-of-range 2024-01-31..2024-06-30 \\
      --step monthly --horizon 90 -o train.parquet

  # a snapshot table with given labels, and the feature catalog
  churn-trainer features -c examples/telco.toml -o telco.parquet
  churn-trainer features --catalog -c examples/cdnow.toml")]
pub struct FeaturesArgs {
    /// TOML configuration mapping the input files and columns (see README, "Configuration").
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
    /// Label horizon in days (at least 1): label 1 when the customer churns (no purchase, or the churn
    /// date) within this many days after the as-of date. Labels are null when the horizon runs past the
    /// end of the data that defines them.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    horizon: Option<u32>,
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
    /// Print the feature catalog (name, unit, window, meaning) instead of building.
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
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?),
        None => None,
    };
    if args.catalog {
        return print_catalog(config.as_ref(), args.format);
    }
    let (Some(config), Some(out)) = (config, args.out) else {
        bail!("--config and --out are required to build features");
    };
    let mut as_of = args.as_of;
    if let Some((start, end)) = args.as_of_range {
        as_of.extend(date_range(start, end, args.step));
    }
    let on_invalid = match args.on_invalid {
        InvalidRows::Fail => OnInvalid::Fail,
        InvalidRows::Skip => OnInvalid::Skip,
    };

    let summary_path = churn_features::output::summary_path(&out);
    let mut input_paths = config.input_paths();
    input_paths.extend(args.config.as_deref());
    churn_features::output::check_outputs(&[&out, &summary_path], &input_paths)?;

    let started = std::time::Instant::now();
    let progress = BarProgress {
        bar: ui.progress(0, "reading", "rows"),
    };
    let options = LoadOptions {
        on_invalid,
        dedupe: args.dedupe,
    };
    let inputs = Inputs::load(&config, options, &progress)?;
    progress.bar.finish_and_clear();
    tracing::info!(
        customers = inputs.ids.len(),
        seconds = started.elapsed().as_secs_f64(),
        "inputs read"
    );
    let request = BuildRequest {
        as_of,
        horizon_days: args.horizon,
    };
    let summary = churn_features::build_to_parquet(&config, inputs, &request, &out)?;
    if !ui.quiet {
        report(&summary, &out, &summary_path, started.elapsed().as_secs_f64());
    }
    Ok(())
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
        eprintln!("labels look up to {end}: a label whose horizon runs past it is null");
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
        let rate = date.label_rate.map_or("-".into(), |r| format!("{:.4}", r));
        eprintln!(
            "as of {when}: {} customers, {} labelled, label rate {rate}",
            date.rows, date.labelled
        );
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

fn print_catalog(config: Option<&Config>, format: CatalogFormat) -> Result<()> {
    let default = Config::default();
    let config = config.unwrap_or(&default);
    let event_types = ["<event_type>".to_string()];
    let attributes = ["<attribute>".to_string()];
    let has_customers = config.customers.is_some();
    let layout = Layout::new(
        &LayoutInputs {
            transactions: config.transactions.is_some() || config.customers.is_none(),
            event_types: (config.events.is_some() || config.customers.is_none()).then_some(&event_types[..]),
            event_values: config.events.as_ref().is_none_or(|e| e.value.is_some()),
            numeric_attributes: if has_customers { &attributes } else { &[] },
            categorical_attributes: &[],
            dated: !config.is_snapshot() || config.customers.is_none(),
        },
        &config.features.windows,
        config.features.trend_days,
    );
    let mut out = std::io::stdout().lock();
    let written = match format {
        CatalogFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&layout.specs)?),
        CatalogFormat::Text => {
            let width = layout.specs.iter().map(|s| s.name.len()).max().unwrap_or(4);
            writeln!(
                out,
                "{:width$}  {:10}  {:12}  {:30}  MEANING",
                "NAME", "UNIT", "ROLE", "WINDOW"
            )
            .and_then(|()| {
                layout.specs.iter().try_for_each(|spec| {
                    writeln!(
                        out,
                        "{:width$}  {:10}  {:12}  {:30}  {}",
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
