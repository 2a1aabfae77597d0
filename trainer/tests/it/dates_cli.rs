//! Every date the command line or a configuration file takes is `YYYY-MM-DD`, and a date in another form
//! is refused with a message naming the value, the flag or key, and the expected format.

use crate::common::{path, trainer};

const FORMAT: &str = "YYYY-MM-DD, e.g. 2024-09-01";

/// Runs `churn-trainer ARGS`, which must be refused as a usage error (exit 2); returns its stderr.
fn usage_error(args: &[&str]) -> String {
    let output = trainer(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` should mention `{part}`");
    }
}

#[test]
fn every_date_flag_names_the_value_the_flag_and_the_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("churn.toml");
    let out = dir.path().join("out.parquet");
    let (config, out) = (path(&config), path(&out));
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["features", "-c", config, "-o", out, "--as-of", "01/09/2024"],
            "--as-of",
            "01/09/2024",
        ),
        (
            vec!["features", "-c", config, "-o", out, "--as-of", "2024-02-30"],
            "--as-of",
            "2024-02-30",
        ),
        (
            vec![
                "features",
                "-c",
                config,
                "-o",
                out,
                "--as-of-range",
                "01/01/2024..2024-06-30",
            ],
            "--as-of-range",
            "01/01/2024",
        ),
        (
            vec![
                "features",
                "-c",
                config,
                "-o",
                out,
                "--as-of-range",
                "2024-01-31..30/06/2024",
            ],
            "--as-of-range",
            "30/06/2024",
        ),
        (
            vec!["features", "-c", config, "-o", out, "--as-of-range", "2024-01-31"],
            "--as-of-range",
            "2024-01-31",
        ),
        (
            vec![
                "train",
                "--features",
                out,
                "--registry",
                config,
                "--name",
                "churn",
                "--test-as-of",
                "30.09.1997",
            ],
            "--test-as-of",
            "30.09.1997",
        ),
        (
            vec!["generate", "--out", config, "--start", "2023/01/01"],
            "--start",
            "2023/01/01",
        ),
        (
            vec!["generate", "--out", config, "--end", "Dec 31 2024"],
            "--end",
            "Dec 31 2024",
        ),
    ];
    for (args, flag, value) in cases {
        let message = usage_error(&args);
        assert_mentions(&message, &[flag, value, FORMAT]);
    }
}

#[test]
fn a_date_in_the_configuration_names_the_file_the_key_the_value_and_the_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("churn.toml");
    std::fs::write(
        &config,
        "[transactions]\npath = \"tx.parquet\"\ncustomer_id = \"id\"\ntimestamp = \"ts\"\n\
         amount = \"amount\"\n\n[data]\nmin_date = \"01/09/2024\"\n",
    )
    .expect("write config");
    let out = dir.path().join("out.parquet");
    let output = trainer(&[
        "features",
        "-c",
        path(&config),
        "--as-of",
        "2024-09-30",
        "-o",
        path(&out),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_mentions(
        &stderr,
        &["churn.toml", "[data] min_date", "`01/09/2024`", FORMAT],
    );
}
