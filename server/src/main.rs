//! `churn-server`: the gRPC scoring service.
//!
//! Parses the command line, sets up logging and the runtime, then serves until SIGTERM or SIGINT (SIGHUP
//! reloads). Exit codes: 0 after a clean shutdown, 1 when the server fails, 2 for an unusable
//! configuration (also one found only when loading: a model or snapshot that can never be served).

use churn_server::config::{ServerConfig, Settings};
use churn_server::reload::error_chain;
use clap::Parser;
use std::process::ExitCode;

/// A request allocates a dozen small strings for its answer and frees them when it is sent, from many
/// threads at once: mimalloc's per-thread free lists serve that pattern faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Score customers' churn risk over gRPC, with reasons, from a model registry and a feature snapshot.
///
/// Serves `churn.v1.ScoringService` (Score, ScoreBatch, ScoreFeatures, SurvivalCurve, GetModelInfo,
/// Ping) and the Open Inference Protocol v2 (`inference.GRPCInferenceService`, as KServe and Triton
/// clients call it) on one port, with the standard `grpc.health.v1.Health` service and server
/// reflection (v1 and v1alpha), and Prometheus metrics on a separate port. A newly promoted model
/// version or a new snapshot is picked up while serving (polling, or at once on SIGHUP). Each setting
/// comes from its option, else its CHURN_* environment variable, else the TOML file (--config), else
/// its default. Logs go to stderr; CHURN_LOG sets their filter (e.g. `info`, `churn_server=debug`).
#[derive(Debug, Parser)]
#[command(name = "churn-server", version)]
struct Cli {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors in the log.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let config = match ServerConfig::resolve(cli.settings, std::env::var("CHURN_AUTH_TOKEN").ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("churn-server");
    if let Some(threads) = config.worker_threads {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let handle = churn_server::start(config).await?;
        handle.run_until_signalled().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ churn_server::server::ServerError::Startup(_)) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHURN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
