//! `churn-trainer`: the command line for data teams.
//!
//! Each subcommand lives in its own module under `commands/`; this file only parses arguments, sets up
//! logging and maps errors to exit codes (0 success, 1 failure, 2 usage error: clap's, or a
//! [`commands::UsageError`] anywhere in an error's chain).

mod commands;
mod synthetic;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Help text is wrapped at the terminal's width, but never narrower than this: the example commands of
/// every `after_help` keep their lines to at most 78 characters (` \` continuations), so clap never breaks
/// one in the middle and every example copies and pastes as printed.
const MIN_HELP_WIDTH: usize = 80;

/// Build point-in-time churn features, generate demo data, and train, evaluate and score churn models.
#[derive(Debug, Parser)]
#[command(
    name = "churn-trainer",
    version,
    propagate_version = true,
    after_help = "New here? `churn-trainer quickstart` runs every step on demo data and prints what to try next.\n\n\
                  Example:\n  churn-trainer quickstart --dir churn-quickstart"
)]
struct Cli {
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr, and no progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// File holding the key customer ids are hashed with in logs and error messages (as churn-server's
    /// option of the same name), so hashes can be matched across runs. Without it a random key is used.
    #[arg(long, global = true, value_name = "FILE", env = "CHURN_ID_HASH_KEY_FILE")]
    id_hash_key_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Features(commands::features::FeaturesArgs),
    Generate(commands::generate::GenerateArgs),
    Train(commands::train::TrainArgs),
    Evaluate(commands::evaluate::EvaluateArgs),
    Score(commands::score::ScoreArgs),
    Monitor(commands::monitor::MonitorArgs),
    Models(commands::models::ModelsArgs),
    Quickstart(commands::quickstart::QuickstartArgs),
}

/// The command line as clap sees it: the derived one, with every date argument read by
/// [`churn_features::time::parse_date`] and help never wrapped narrower than [`MIN_HELP_WIDTH`].
fn command() -> clap::Command {
    read_dates_with_one_parser(Cli::command()).term_width(help_width())
}

/// The terminal's width (else `COLUMNS`, else clap's default of 100), at least [`MIN_HELP_WIDTH`].
fn help_width() -> usize {
    let terminal = terminal_size::terminal_size().map(|(width, _)| usize::from(width.0));
    let columns = || std::env::var("COLUMNS").ok()?.trim().parse::<usize>().ok();
    terminal.or_else(columns).unwrap_or(100).max(MIN_HELP_WIDTH)
}

/// Every argument of `command` and its subcommands whose value is a `NaiveDate` (`--as-of`,
/// `--test-as-of`, `--start`, ...) gets the one date parser, so they all accept `YYYY-MM-DD` and say so
/// when given anything else (clap's own parser for dates only says "input contains invalid characters").
fn read_dates_with_one_parser(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            if arg.get_value_parser().type_id() == std::any::TypeId::of::<chrono::NaiveDate>() {
                arg.value_parser(churn_features::time::parse_date)
            } else {
                arg
            }
        })
        .mut_subcommands(read_dates_with_one_parser)
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.format(&mut command()).exit(),
    };
    init_logging(cli.verbose, cli.quiet);
    let ui = commands::Ui { quiet: cli.quiet };
    if let Some(path) = &cli.id_hash_key_file {
        match churn_features::redact::read_key(path) {
            Ok(key) => {
                churn_features::redact::install(churn_features::redact::IdHasher::with_key(&key));
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let result = match cli.command {
        Command::Features(args) => commands::features::run(args, &ui),
        Command::Generate(args) => commands::generate::run(args, &ui),
        Command::Train(args) => commands::train::run(args, &ui),
        Command::Evaluate(args) => commands::evaluate::run(args, &ui),
        Command::Score(args) => commands::score::run(args, &ui),
        Command::Monitor(args) => commands::monitor::run(args, &ui),
        Command::Models(args) => commands::models::run(args, &ui),
        Command::Quickstart(args) => commands::quickstart::run(args, &ui),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head`): not a failure of ours.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if is_usage_error(&error) => {
            eprintln!("error: {}", error_message(&error));
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {}", error_message(&error));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text its parent already ends with
/// (errors like "FILE: No such file or directory" also carry the OS error as their source).
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

fn is_usage_error(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<commands::UsageError>().is_some())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
