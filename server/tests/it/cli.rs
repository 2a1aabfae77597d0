//! The `churn-server` and `churn-loadgen` binaries as an operator runs them: options, environment and
//! TOML settings, signals (SIGHUP reloads, SIGTERM drains and exits 0), logs without customer ids in
//! clear, and a load run against the live server.

use crate::common::{self, Fixture, Ids};
use churn_server::proto::ScoreRequest;
use churn_server::redact::IdHasher;
use clap::Args as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tonic::Code;

const SERVER: &str = env!("CARGO_BIN_EXE_churn-server");
const LOADGEN: &str = env!("CARGO_BIN_EXE_churn-loadgen");

/// A running `churn-server` process whose stderr lines are collected.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `text` and returns it.
    fn wait_for_line(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with `{text}`; got:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code and every log line.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}

#[test]
fn help_explains_every_option() {
    let output = Command::new(SERVER).arg("--help").output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("utf-8");
    for option in [
        "--registry",
        "--model",
        "--features",
        "--listen",
        "--config",
        "--metrics-listen",
        "--reload-interval",
        "--max-batch-size",
        "--max-concurrent-requests",
        "--request-timeout",
        "--tls-cert",
        "--tls-client-ca",
        "--auth-token-file",
        "--shutdown-grace",
        "--drain-timeout",
        "CHURN_REGISTRY",
        "CHURN_MAX_BATCH_SIZE",
    ] {
        assert!(help.contains(option), "--help does not mention {option}:\n{help}");
    }
    // Every setting the server reads, with its environment variable.
    let settings = churn_server::config::Settings::augment_args(clap::Command::new("churn-server"));
    for arg in settings.get_arguments() {
        let long = format!("--{}", arg.get_long().expect("option"));
        let env = arg.get_env().expect("variable").to_string_lossy().into_owned();
        assert!(help.contains(&long), "--help does not mention {long}:\n{help}");
        assert!(help.contains(&env), "--help does not mention {env}:\n{help}");
    }
    let text = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains(
            "Each setting comes from its option, else its CHURN_* environment variable, else the TOML \
             file (--config), else its default."
        ),
        "--help states the precedence:\n{help}"
    );
    let output = Command::new(LOADGEN).arg("--help").output().expect("run");
    let help = String::from_utf8(output.stdout).expect("utf-8");
    for option in ["--rate", "--concurrency", "--rpc", "--ids-from", "--json"] {
        assert!(help.contains(option), "{option}:\n{help}");
    }
}

#[test]
fn a_missing_setting_exits_with_code_2_and_names_the_option() {
    let output = Command::new(SERVER)
        .env_remove("CHURN_REGISTRY")
        .env_remove("CHURN_CONFIG")
        .arg("--model")
        .arg("churn")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(stderr.contains("--registry"), "{stderr}");
}

#[test]
fn a_setting_given_by_option_environment_and_file_resolves_in_that_order() {
    // `max_reasons` at each level: option 11, environment 12, file 13, default 20. The server states the
    // value it resolved when it refuses a `default_reasons` above it, before binding anything.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "[limits]\nmax_reasons = 13\n").expect("config");
    let resolved = |option: bool, environment: bool, file: bool| {
        let mut command = Command::new(SERVER);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CHURN_")) {
            command.env_remove(name);
        }
        command.args([
            "--registry",
            "r",
            "--model",
            "m",
            "--features",
            "f",
            "--default-reasons",
            "1000",
        ]);
        if option {
            command.args(["--max-reasons", "11"]);
        }
        if environment {
            command.env("CHURN_MAX_REASONS", "12");
        }
        if file {
            command.arg("--config").arg(&config);
        }
        let output = command.output().expect("run");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8(output.stderr).expect("utf-8");
        stderr
            .split("larger than max_reasons (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("no max_reasons in {stderr}"))
            .to_string()
    };
    assert_eq!(
        resolved(true, true, true),
        "11",
        "the option beats the environment and the file"
    );
    assert_eq!(
        resolved(false, true, true),
        "12",
        "the environment beats the file"
    );
    assert_eq!(resolved(false, false, true), "13", "the file beats the default");
    assert_eq!(resolved(false, false, false), "20", "the default");
    assert_eq!(resolved(true, false, true), "11", "the option beats the file");
}

#[test]
fn a_model_that_can_never_be_served_exits_with_code_2_and_the_reason() {
    let fixture = Fixture::new(30, Ids::Int);
    let output = Command::new(SERVER)
        .env_remove("CHURN_CONFIG")
        .args([
            "--model",
            "../churn",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ])
        .arg("--registry")
        .arg(&fixture.registry_dir)
        .arg("--features")
        .arg(&fixture.snapshot)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains("error: cannot serve: model: invalid model name `../churn`"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_reloads_on_sighup_and_drains_on_sigterm_without_logging_ids() {
    let fixture = Fixture::new(60, Ids::Str);
    let key = fixture.dir.path().join("id-key");
    std::fs::write(&key, "log key\n").expect("key");
    let config = fixture.dir.path().join("server.toml");
    // The file sets the model name and the listen address; the environment overrides the file's
    // batch limit; the command line gives the registry and the snapshot.
    std::fs::write(
        &config,
        format!(
            "model = \"{}\"\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\nreload_interval = \"0s\"\n\n[limits]\nmax_batch_size = 5\n\n[logging]\nid_hash_key_file = \"id-key\"\n",
            common::MODEL
        ),
    )
    .expect("config");
    let mut process = Process::spawn(
        Command::new(SERVER)
            .arg("--config")
            .arg(&config)
            .arg("--registry")
            .arg(&fixture.registry_dir)
            .arg("--features")
            .arg(&fixture.snapshot)
            .env("CHURN_MAX_BATCH_SIZE", "7")
            .env("CHURN_LOG", "info,churn_server=trace"),
    );
    let listening = process.wait_for_line("listening");
    let address: std::net::SocketAddr = listening
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address in the log line")
        .parse()
        .expect("address");
    process.wait_for_line("serving a new model and snapshot");
    common::wait_for_status(address, common::ServingStatus::Serving).await;

    let mut client = common::client(address).await;
    let known = common::customer_id(Ids::Str, 5);
    client
        .score(ScoreRequest {
            customer_id: known.clone(),
            max_reasons: 0,
        })
        .await
        .expect("score");
    let status = client
        .score(ScoreRequest {
            customer_id: "cust-999999".into(),
            max_reasons: 0,
        })
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let info = client
        .get_model_info(churn_server::proto::GetModelInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.max_batch_size, 7, "the environment overrides the file");

    // The load generator, closed loop on the no-op and fixed rate on Score.
    let run = |args: &[&str]| {
        let output = Command::new(LOADGEN)
            .args([
                "--target",
                &format!("http://{address}"),
                "--warmup",
                "0s",
                "--duration",
                "1s",
                "--json",
            ])
            .args(args)
            .output()
            .expect("loadgen");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let ping = run(&["--rpc", "ping", "--concurrency", "4"]);
    assert!(
        ping.contains(r#""rpc":"Ping","mode":"closed-loop""#) && ping.contains(r#""errors":{}"#),
        "{ping}"
    );
    let score = run(&[
        "--rpc",
        "score",
        "--rate",
        "200",
        "--ids-from",
        fixture.snapshot.to_str().expect("utf-8"),
    ]);
    assert!(
        score.contains(r#""mode":"fixed-rate""#) && score.contains(r#""errors":{}"#),
        "{score}"
    );
    let ok: u64 = score
        .split(r#""ok":"#)
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("ok count");
    assert!(ok >= 150, "about 200 calls in one second: {score}");

    // SIGHUP reloads (forced), SIGTERM drains and exits 0.
    process.signal("HUP");
    process.wait_for_line("SIGHUP");
    process.signal("TERM");
    let (code, log) = process.finish();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("server stopped"), "{log}");
    assert_eq!(
        log.matches("serving a new model and snapshot").count(),
        2,
        "{log}"
    );

    let hasher = IdHasher::with_key(b"log key");
    assert!(
        log.contains(&hasher.hash("cust-999999")),
        "the unknown id is logged hashed:\n{log}"
    );
    assert!(
        log.contains(&hasher.hash(&known)),
        "the scored id is logged hashed:\n{log}"
    );
    assert!(!log.contains("cust-"), "a customer id appears in clear:\n{log}");
}
