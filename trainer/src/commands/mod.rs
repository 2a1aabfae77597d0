//! One module per subcommand, plus the little UI helpers they share.

pub mod drift_report;
pub mod evaluate;
pub mod features;
pub mod generate;
pub mod model_config;
pub mod models;
pub mod monitor;
pub mod population;
pub mod quickstart;
pub mod report;
pub mod score;
pub mod train;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// `println!` that returns an `io::Result` instead of panicking when stdout is closed early
/// (`churn-trainer models list | head`); `main` ends quietly on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}
pub(crate) use outln;

/// A mistake in what the user asked for, found after clap parsed the arguments (a flag missing for this use,
/// a request the data cannot answer as asked): `main` exits with code 2, as for clap's own usage errors,
/// instead of 1 (a failure while doing what was asked).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// How the user wants to be talked to: progress bars only on a terminal and never with `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// `--quiet` was given.
    pub quiet: bool,
}

impl Ui {
    /// A progress bar on stderr counting `len` units of `unit`, hidden when stderr is not a terminal.
    pub fn progress(&self, len: u64, message: &str, unit: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.draw_target());
        let template = format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{eta}})");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        bar
    }

    fn draw_target(&self) -> ProgressDrawTarget {
        if self.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }
}
