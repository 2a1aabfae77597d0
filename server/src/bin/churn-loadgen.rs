//! `churn-loadgen`: load generator for `churn-server`.
//!
//! Prints a summary (or one JSON object with --json) on stdout; exit code 0 when the run completed
//! (whatever the calls' statuses), 1 when it could not run, 2 for unusable options.

use churn_server::config::parse_duration;
use churn_server::loadgen::{self, LoadSpec, Mode, Rpc};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The same allocator as the server's, so decoding large answers costs the generator as little as it can.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drive a churn server with Score, ScoreBatch or the no-op Ping and report throughput and latency
/// percentiles (p50, p90, p99, p99.9).
///
/// Without --rate it runs a closed loop: --concurrency workers each send their next call when the
/// previous one is answered (saturated throughput). With --rate it sends calls on a fixed schedule and
/// also reports latency from the moment each call was due.
#[derive(Debug, Parser)]
#[command(name = "churn-loadgen", version)]
struct Cli {
    /// Server URI.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,

    /// The call to send.
    #[arg(long, value_enum, default_value = "score")]
    rpc: Rpc,

    /// Calls per second on a fixed schedule; without it, a closed loop.
    #[arg(long)]
    rate: Option<f64>,

    /// Closed loop: workers sending calls back to back.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,

    /// How long calls are counted.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,

    /// How long calls are sent before counting starts.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,

    /// HTTP/2 connections to open.
    #[arg(long, default_value_t = 2)]
    connections: usize,

    /// Feature snapshot (Parquet) whose customer ids are scored, drawn at random.
    #[arg(long, value_name = "SNAPSHOT.parquet")]
    ids_from: Option<PathBuf>,

    /// Customer ids to score, comma separated (instead of --ids-from).
    #[arg(long, value_delimiter = ',')]
    ids: Vec<String>,

    /// Ids per ScoreBatch call.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,

    /// Reasons asked for per customer (0 = the server's default).
    #[arg(long, default_value_t = 3)]
    max_reasons: u32,

    /// File holding the bearer token to send.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// Fixed rate: most calls in flight; calls due beyond it are counted as missed.
    #[arg(long, default_value_t = 10_000)]
    max_outstanding: usize,

    /// Deadline sent with every call, e.g. 20ms (the server answers DEADLINE_EXCEEDED past it).
    #[arg(long, value_parser = parse_duration)]
    deadline: Option<Duration>,

    /// Seed of the id draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Runtime worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,

    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ids = match load_ids(&cli) {
        Ok(ids) => ids,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let token = match &cli.token_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text.trim().to_string()),
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let spec = LoadSpec {
        target: cli.target.clone(),
        rpc: cli.rpc,
        mode: match cli.rate {
            Some(rate) => Mode::FixedRate { rate },
            None => Mode::ClosedLoop {
                concurrency: cli.concurrency,
            },
        },
        duration: cli.duration,
        warmup: cli.warmup,
        connections: cli.connections,
        ids: Arc::new(ids),
        batch_size: cli.batch_size,
        max_reasons: cli.max_reasons,
        token,
        seed: cli.seed,
        max_outstanding: cli.max_outstanding,
        deadline: cli.deadline,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(loadgen::run(spec)) {
        Ok(report) => {
            if cli.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// The ids to score: from --ids, or every customer id of --ids-from.
fn load_ids(cli: &Cli) -> Result<Vec<String>, String> {
    if let Some(path) = &cli.ids_from {
        let table = churn_features::FeatureTable::read_parquet(path).map_err(|e| e.to_string())?;
        let mut ids: Vec<String> = (0..table.len())
            .map(|row| table.customer_id_string(row))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        return Ok(ids);
    }
    Ok(cli.ids.iter().filter(|id| !id.is_empty()).cloned().collect())
}
