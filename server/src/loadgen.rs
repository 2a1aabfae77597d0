//! The load generator behind `churn-loadgen`: drives a churn server with `Score`, `ScoreBatch` or the
//! no-op `Ping` and reports throughput and latency percentiles.
//!
//! Two modes:
//! - **closed loop**: `concurrency` workers each send a call, wait for the answer, and send the next, for
//!   the whole run. The throughput this reaches is the server's (and the client's) saturated
//!   throughput.
//! - **fixed rate**: calls start on a fixed schedule (`rate` per second) whatever the answers do. Each
//!   call's latency is measured from the moment it was sent, and also from the moment it was *due*
//!   (the "scheduled" latency), which counts the time a late schedule made it wait, so a stalled server
//!   cannot hide its stall (no coordinated omission).
//!
//! Calls that start during the warm-up are sent but not counted. Latencies go into HDR histograms with
//! three significant digits.

use crate::proto::scoring_service_client::ScoringServiceClient;
use crate::proto::{PingRequest, ScoreBatchRequest, ScoreRequest};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The call the generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rpc {
    /// `Score` of one customer id.
    Score,
    /// `ScoreBatch` of `batch_size` ids.
    ScoreBatch,
    /// `Ping`: the no-op, for the cost of gRPC alone.
    Ping,
}

impl Rpc {
    /// The method name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Score => "Score",
            Self::ScoreBatch => "ScoreBatch",
            Self::Ping => "Ping",
        }
    }
}

/// How calls are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// `concurrency` workers, each sending its next call when the previous one is answered.
    ClosedLoop {
        /// Workers.
        concurrency: usize,
    },
    /// Calls start at `rate` per second on a fixed schedule.
    FixedRate {
        /// Calls per second.
        rate: f64,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Server URI, e.g. `http://127.0.0.1:50051`.
    pub target: String,
    /// The call.
    pub rpc: Rpc,
    /// The pacing.
    pub mode: Mode,
    /// How long calls are counted.
    pub duration: Duration,
    /// How long calls are sent before counting starts.
    pub warmup: Duration,
    /// HTTP/2 connections, shared round-robin by the callers.
    pub connections: usize,
    /// Customer ids to score, drawn at random.
    pub ids: Arc<Vec<String>>,
    /// Ids per `ScoreBatch`.
    pub batch_size: usize,
    /// Reasons asked for per customer.
    pub max_reasons: u32,
    /// Bearer token to send, if the server wants one.
    pub token: Option<String>,
    /// Seed of the id draws.
    pub seed: u64,
    /// Fixed rate only: most calls in flight at once; calls due beyond it are not sent and are counted
    /// as missed.
    pub max_outstanding: usize,
    /// The deadline sent with every call (`grpc-timeout`); the server ends a call still running at its
    /// deadline with DEADLINE_EXCEEDED.
    pub deadline: Option<Duration>,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles {
    /// Calls measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Self {
        let micros = |nanos: u64| nanos as f64 / 1_000.0;
        Self {
            count: histogram.len(),
            mean: histogram.mean() / 1_000.0,
            p50: micros(histogram.value_at_quantile(0.50)),
            p90: micros(histogram.value_at_quantile(0.90)),
            p99: micros(histogram.value_at_quantile(0.99)),
            p999: micros(histogram.value_at_quantile(0.999)),
            max: micros(histogram.max()),
        }
    }

    fn json(&self) -> String {
        format!(
            r#"{{"count":{},"mean_us":{:.1},"p50_us":{:.1},"p90_us":{:.1},"p99_us":{:.1},"p999_us":{:.1},"max_us":{:.1}}}"#,
            self.count, self.mean, self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The call.
    pub rpc: Rpc,
    /// The pacing.
    pub mode: Mode,
    /// Seconds counted.
    pub seconds: f64,
    /// Calls answered OK (counted ones).
    pub ok: u64,
    /// Calls that failed, by status code name.
    pub errors: BTreeMap<&'static str, u64>,
    /// The message of the first failed call of each status code.
    pub first_errors: BTreeMap<&'static str, String>,
    /// Fixed rate: calls due that were not sent because too many were in flight.
    pub missed: u64,
    /// Latency from sending a call to its answer, OK calls only.
    pub latency: Percentiles,
    /// Fixed rate: latency from the moment a call was due to its answer.
    pub scheduled_latency: Option<Percentiles>,
}

impl Report {
    /// Calls answered OK per second.
    pub fn throughput(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let (mode, parameter) = match self.mode {
            Mode::ClosedLoop { concurrency } => ("closed-loop", format!(r#""concurrency":{concurrency}"#)),
            Mode::FixedRate { rate } => ("fixed-rate", format!(r#""rate":{rate}"#)),
        };
        let errors = self
            .errors
            .iter()
            .map(|(code, count)| format!(r#""{code}":{count}"#))
            .collect::<Vec<_>>()
            .join(",");
        let first_errors = self
            .first_errors
            .iter()
            .map(|(code, message)| format!(r#""{code}":{}"#, json_string(message)))
            .collect::<Vec<_>>()
            .join(",");
        format!(
            r#"{{"rpc":"{}","mode":"{mode}",{parameter},"seconds":{:.3},"ok":{},"errors":{{{errors}}},"first_errors":{{{first_errors}}},"missed":{},"throughput_per_s":{:.1},"latency":{},"scheduled_latency":{}}}"#,
            self.rpc.name(),
            self.seconds,
            self.ok,
            self.missed,
            self.throughput(),
            self.latency.json(),
            self.scheduled_latency
                .as_ref()
                .map_or("null".to_string(), Percentiles::json),
        )
    }

    /// The report as a few lines for people.
    pub fn render(&self) -> String {
        let mode = match self.mode {
            Mode::ClosedLoop { concurrency } => format!("closed loop, {concurrency} workers"),
            Mode::FixedRate { rate } => format!("fixed rate, {rate} calls/s"),
        };
        let line = |name: &str, p: &Percentiles| {
            format!(
                "{name:<10} p50 {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs   p99.9 {:>8.1} µs   max {:>9.1} µs\n",
                p.p50, p.p90, p.p99, p.p999, p.max
            )
        };
        let mut text = format!(
            "{} ({mode}): {} OK in {:.2} s = {:.0} calls/s",
            self.rpc.name(),
            self.ok,
            self.seconds,
            self.throughput()
        );
        if !self.errors.is_empty() {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(c, n)| match self.first_errors.get(c) {
                    Some(message) => format!("{n} {c} (first: {message})"),
                    None => format!("{n} {c}"),
                })
                .collect();
            text.push_str(&format!("; errors: {}", errors.join(", ")));
        }
        if self.missed > 0 {
            text.push_str(&format!("; {} calls not sent (too many in flight)", self.missed));
        }
        text.push('\n');
        text.push_str(&line("latency", &self.latency));
        if let Some(scheduled) = &self.scheduled_latency {
            text.push_str(&line("scheduled", scheduled));
        }
        text
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The settings cannot work.
    #[error("{0}")]
    Invalid(String),
    /// The server could not be reached.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The server URI.
        target: String,
        /// The transport's error.
        source: tonic::transport::Error,
    },
}

/// Adds the bearer token and the deadline to every call.
#[derive(Debug, Clone)]
struct CallHeaders {
    token: Option<MetadataValue<Ascii>>,
    deadline: Option<Duration>,
}

impl Interceptor for CallHeaders {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.token {
            request.metadata_mut().insert("authorization", value.clone());
        }
        if let Some(deadline) = self.deadline {
            request.set_timeout(deadline);
        }
        Ok(request)
    }
}

type Client = ScoringServiceClient<InterceptedService<Channel, CallHeaders>>;

/// Counted outcomes of one worker (or of the fixed-rate callers together).
struct Tally {
    latency: Histogram<u64>,
    scheduled: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
    first_errors: BTreeMap<&'static str, String>,
}

impl Tally {
    fn new() -> Self {
        // 1 µs to 100 s, three significant digits, in nanoseconds.
        let histogram = || Histogram::new_with_bounds(1_000, 100_000_000_000, 3).expect("valid bounds");
        Self {
            latency: histogram(),
            scheduled: histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            first_errors: BTreeMap::new(),
        }
    }

    fn record(&mut self, outcome: Result<(), tonic::Status>, latency: Duration, scheduled: Option<Duration>) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1_000);
                self.latency.saturating_record(nanos(latency));
                if let Some(scheduled) = scheduled {
                    self.scheduled.saturating_record(nanos(scheduled));
                }
            }
            Err(status) => {
                let code = crate::metrics::code_name(status.code());
                *self.errors.entry(code).or_default() += 1;
                self.first_errors
                    .entry(code)
                    .or_insert_with(|| status.message().to_string());
            }
        }
    }

    fn merge(&mut self, other: &Tally) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.scheduled.add(&other.scheduled);
        self.ok += other.ok;
        for (code, count) in &other.errors {
            *self.errors.entry(code).or_default() += count;
        }
        for (code, message) in &other.first_errors {
            self.first_errors.entry(code).or_insert_with(|| message.clone());
        }
    }
}

/// A small, fast generator for drawing ids (xorshift64*).
struct Draw(u64);

impl Draw {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// Sends one call; returns its status.
async fn call(client: &mut Client, spec: &LoadSpec, draw: &mut Draw) -> Result<(), tonic::Status> {
    match spec.rpc {
        Rpc::Ping => client.ping(PingRequest {}).await.map(drop),
        Rpc::Score => client
            .score(ScoreRequest {
                customer_id: spec.ids[draw.below(spec.ids.len())].clone(),
                max_reasons: spec.max_reasons,
            })
            .await
            .map(drop),
        Rpc::ScoreBatch => client
            .score_batch(ScoreBatchRequest {
                customer_ids: (0..spec.batch_size)
                    .map(|_| spec.ids[draw.below(spec.ids.len())].clone())
                    .collect(),
                max_reasons: spec.max_reasons,
            })
            .await
            .map(drop),
    }
}

/// Runs `spec` against its server and reports.
pub async fn run(spec: LoadSpec) -> Result<Report, LoadError> {
    if spec.rpc != Rpc::Ping && spec.ids.is_empty() {
        return Err(LoadError::Invalid(
            "no customer ids to score: pass --ids-from or --ids".into(),
        ));
    }
    if spec.connections == 0 || spec.batch_size == 0 || spec.duration.is_zero() {
        return Err(LoadError::Invalid(
            "connections, batch size and duration must be larger than 0".into(),
        ));
    }
    let token = match &spec.token {
        Some(token) => Some(
            format!("Bearer {token}")
                .parse()
                .map_err(|_| LoadError::Invalid("the token is not printable ASCII".into()))?,
        ),
        None => None,
    };
    let mut clients = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        let endpoint = Endpoint::from_shared(spec.target.clone())
            .map_err(|e| LoadError::Invalid(format!("target `{}`: {e}", spec.target)))?
            .tcp_nodelay(true)
            // Receive windows sized from the measured bandwidth-delay product, as gRPC clients do, so
            // large batch answers are not held up by the 64 KiB default window.
            .http2_adaptive_window(true);
        let channel = endpoint.connect().await.map_err(|source| LoadError::Connect {
            target: spec.target.clone(),
            source,
        })?;
        clients.push(
            ScoringServiceClient::with_interceptor(
                channel,
                CallHeaders {
                    token: token.clone(),
                    deadline: spec.deadline,
                },
            )
            .max_decoding_message_size(256 * 1024 * 1024),
        );
    }
    let spec = Arc::new(spec);
    let (tally, missed, started, ended) = match spec.mode {
        Mode::ClosedLoop { concurrency } => closed_loop(&spec, clients, concurrency).await?,
        Mode::FixedRate { rate } => fixed_rate(&spec, clients, rate).await?,
    };
    Ok(Report {
        rpc: spec.rpc,
        mode: spec.mode,
        seconds: (ended - started).as_secs_f64(),
        ok: tally.ok,
        errors: tally.errors,
        first_errors: tally.first_errors,
        missed,
        latency: Percentiles::of(&tally.latency),
        scheduled_latency: matches!(spec.mode, Mode::FixedRate { .. })
            .then(|| Percentiles::of(&tally.scheduled)),
    })
}

type Timed = (Tally, u64, Instant, Instant);

async fn closed_loop(
    spec: &Arc<LoadSpec>,
    clients: Vec<Client>,
    concurrency: usize,
) -> Result<Timed, LoadError> {
    if concurrency == 0 {
        return Err(LoadError::Invalid("concurrency must be at least 1".into()));
    }
    let start = Instant::now();
    let counting = start + spec.warmup;
    let end = counting + spec.duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let mut client = clients[worker % clients.len()].clone();
        let spec = spec.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut draw = Draw::new(spec.seed.wrapping_add(worker as u64));
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = call(&mut client, &spec, &mut draw).await;
                if sent >= counting {
                    tally.record(outcome, sent.elapsed(), None);
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for worker in workers {
        let tally = worker
            .await
            .map_err(|e| LoadError::Invalid(format!("a worker failed: {e}")))?;
        total.merge(&tally);
    }
    Ok((total, 0, counting, end))
}

async fn fixed_rate(spec: &Arc<LoadSpec>, clients: Vec<Client>, rate: f64) -> Result<Timed, LoadError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(LoadError::Invalid(format!(
            "rate must be a positive number, got {rate}"
        )));
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let tally = Arc::new(Mutex::new(Tally::new()));
    let outstanding = Arc::new(AtomicU64::new(0));
    let missed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now();
    let counting = start + spec.warmup;
    let end = counting + spec.duration;

    // A plain thread keeps the schedule: it sleeps until the next call is due and starts every call that
    // is due, so a late wake-up sends the late calls at once (and their scheduled latency shows it).
    let pacer = {
        let (spec, tally, outstanding, missed, done) = (
            spec.clone(),
            tally.clone(),
            outstanding.clone(),
            missed.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let mut index: u64 = 0;
            loop {
                let due = start + period.mul_f64(index as f64);
                if due >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                    continue;
                }
                index += 1;
                if outstanding.load(Ordering::Relaxed) >= spec.max_outstanding as u64 {
                    if due >= counting {
                        missed.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                outstanding.fetch_add(1, Ordering::Relaxed);
                let mut client = clients[(index as usize) % clients.len()].clone();
                let (spec, tally, outstanding) = (spec.clone(), tally.clone(), outstanding.clone());
                runtime.spawn(async move {
                    let mut draw = Draw::new(spec.seed.wrapping_add(index));
                    let sent = Instant::now();
                    let outcome = call(&mut client, &spec, &mut draw).await;
                    let answered = Instant::now();
                    if due >= counting {
                        tally
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .record(outcome, answered - sent, Some(answered - due));
                    }
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                });
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    // Wait for the schedule to end and the calls in flight to be answered.
    while !done.load(Ordering::Relaxed) || outstanding.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pacer
        .join()
        .map_err(|_| LoadError::Invalid("the pacing thread failed".into()))?;
    let tally = std::mem::replace(
        &mut *tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        Tally::new(),
    );
    Ok((tally, missed.load(Ordering::Relaxed), counting, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_spread() {
        let mut draw = Draw::new(42);
        let mut seen = [0usize; 10];
        for _ in 0..10_000 {
            seen[draw.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }

    #[test]
    fn tallies_merge_and_report_percentiles() {
        let mut a = Tally::new();
        for micros in 1..=1000 {
            a.record(Ok(()), Duration::from_micros(micros), None);
        }
        let mut b = Tally::new();
        b.record(
            Err(tonic::Status::resource_exhausted("full \"now\"")),
            Duration::from_micros(5),
            None,
        );
        a.merge(&b);
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert_eq!(a.errors.get("RESOURCE_EXHAUSTED"), Some(&1));
        let report = Report {
            rpc: Rpc::Score,
            mode: Mode::FixedRate { rate: 100.0 },
            seconds: 2.0,
            ok: a.ok,
            errors: a.errors.clone(),
            first_errors: a.first_errors.clone(),
            missed: 0,
            latency: p.clone(),
            scheduled_latency: Some(p),
        };
        assert_eq!(report.throughput(), 500.0);
        let json = report.to_json();
        assert!(json.contains(r#""errors":{"RESOURCE_EXHAUSTED":1}"#), "{json}");
        assert!(
            json.contains(r#""first_errors":{"RESOURCE_EXHAUSTED":"full \"now\""}"#),
            "{json}"
        );
        assert!(json.contains(r#""mode":"fixed-rate","rate":100"#), "{json}");
        assert!(report.render().contains("1 RESOURCE_EXHAUSTED"));
    }
}
