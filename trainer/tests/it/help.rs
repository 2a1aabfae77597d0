//! Every subcommand's `--help` examples copy and paste: rendered at 80 columns (or narrower terminals,
//! which get 80), no example line is wrapped, and each is a whole command, a comment, or a line ending in
//! ` \` or following one.

use crate::common::BIN;
use std::process::{Command, Stdio};

/// `churn-trainer ARGS --help` rendered for a terminal `columns` wide.
fn help(args: &[&str], columns: usize) -> String {
    let output = Command::new(BIN)
        .args(args)
        .arg("--help")
        .env("COLUMNS", columns.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run churn-trainer");
    assert!(output.status.success(), "{args:?} --help");
    String::from_utf8(output.stdout).expect("utf8")
}

/// The subcommands listed under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A name starts its line after two spaces; wrapped descriptions are indented further.
        .filter(|line| line.starts_with("  ") && !line[2..].starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The lines after `Example:` or `Examples:`.
fn examples(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| !matches!(line.trim(), "Example:" | "Examples:"))
        .skip(1)
        .collect()
}

/// Programs an example line may start with.
const PROGRAMS: [&str; 4] = ["churn-trainer ", "churn-server ", "cargo ", "grpcurl "];

#[test]
fn every_example_line_is_a_whole_command_or_continues_one_at_80_columns() {
    let top = help(&[], 80);
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    for name in subcommands(&top) {
        let nested = subcommands(&help(&[&name], 80));
        commands.push(vec![name.clone()]);
        commands.extend(nested.into_iter().map(|sub| vec![name.clone(), sub]));
    }
    assert!(commands.len() > 7, "{commands:?}");

    for command in &commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let at_80 = help(&args, 80);
        let lines = examples(&at_80);
        // Subcommands of the CLI itself (not `models list`, ...) each show at least one example.
        if command.len() == 1 {
            assert!(
                lines.iter().any(|l| l.trim_start().starts_with("churn-trainer ")),
                "`churn-trainer {} --help` shows no example:\n{at_80}",
                command.join(" ")
            );
        }
        let unwrapped = help(&args, 1000);
        assert_eq!(
            lines,
            examples(&unwrapped),
            "`churn-trainer {} --help` wraps an example at 80 columns",
            command.join(" ")
        );
        assert_eq!(help(&args, 40), at_80, "narrower terminals get 80 columns");
        let mut continued = false;
        for line in lines {
            let text = line.trim_start();
            assert!(
                text.is_empty()
                    || text.starts_with('#')
                    || continued
                    || PROGRAMS.iter().any(|program| text.starts_with(program)),
                "`churn-trainer {} --help`: `{line}` is neither a command, a comment nor a continuation",
                command.join(" ")
            );
            assert!(line.chars().count() <= 80, "{line}");
            continued = text.ends_with(" \\");
        }
        assert!(!continued, "the last example line ends with a continuation");
    }
}
