#!/usr/bin/env bash
# Latency and throughput of churn-server, measured with churn-loadgen on this machine, in one run:
#
#   1. Score by id at fixed rates (1,000 and 5,000 calls/s): p50 / p99 / p99.9 latency.
#   2. Saturated throughput (closed loop) of Score next to the no-op Ping: the cost of scoring over the cost
#      of gRPC alone.
#   3. ScoreBatch of 1,000 ids, one call at a time, for each model kind (logistic regression, random forest,
#      gradient boosting),
#      on one server core and again with the server free to use every core (a batch is scored in parallel,
#      and with one call at a time the load generator is idle while the server works).
#   4. Overload, the server on one core with its default limit of calls in progress (256): ScoreBatch of
#      1,000 ids at 2,000 calls/s (far beyond what it
#      can answer) and 60 ScoreBatch calls of 10,000 ids with a 20 ms deadline: every call's outcome and
#      latency, the server's peak resident memory, and its CPU in the second after the load ends (work
#      left running after its calls ended shows there). ONLY=overload runs this part alone.
#
#   bash bench/server_bench.sh                    # 100,000 customers, 10 s per measurement
#   CUSTOMERS=20000 DURATION=5s bash bench/server_bench.sh
#
# Data: `churn-trainer generate` (seed 42) -> `features` as of 2024-06-30 with a 90-day label -> `train`
# (logistic regression, a random forest of TREES trees of depth DEPTH, gradient boosting with its defaults)
# -> promoted in a registry. The
# server and the load generator share the machine; with PIN=1 (the default when `taskset` exists and there
# are at least two cores) the server runs on core 0 with one worker thread and the load generator on the
# other cores, so neither steals the other's CPU; both run at nice -10 when the script runs as root. Each
# result is one JSON line on stdout (also written to WORK/server_bench.jsonl) with the server's CPU seconds
# and the load average; progress goes to stderr.
set -euo pipefail

CUSTOMERS=${CUSTOMERS:-100000}
TREES=${TREES:-100}
DEPTH=${DEPTH:-10}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-64}
CONNECTIONS=${CONNECTIONS:-2}
PORT=${PORT:-50151}
METRICS_PORT=${METRICS_PORT:-9565}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/target/bench-data/server-c$CUSTOMERS}
BIN="$ROOT/target/release"
# Other work on the machine (builds, say) steals CPU from the server and the load generator and shows up
# as latency tails: both run at a higher priority (nice -10) when the script may raise it (as root).
NICE=${NICE:-$([[ $(id -u) == 0 ]] && echo -10 || echo 0)}
if [[ -z ${PIN:-} ]]; then
    if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then PIN=1; else PIN=0; fi
fi

log() { echo "server_bench: $*" >&2; }

log "building release binaries"
cargo build --release -q -p churn-server -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
mkdir -p "$WORK"

if [[ ! -f $WORK/snapshot.parquet ]]; then
    log "generating $CUSTOMERS customers into $WORK"
    "$BIN/churn-trainer" -q generate --out "$WORK/data" --customers "$CUSTOMERS" --seed 42
    "$BIN/churn-trainer" -q features --config "$WORK/data/churn.toml" --as-of 2024-06-30 --horizon 90 \
        --out "$WORK/snapshot.parquet"
fi
if [[ ! -f $WORK/registry/churn-gb/PROMOTED ]]; then
    log "training the logistic regression, the random forest ($TREES trees, depth $DEPTH) and gradient boosting"
    rm -rf "$WORK/registry"
    "$BIN/churn-trainer" -q train --features "$WORK/snapshot.parquet" --registry "$WORK/registry" \
        --name churn-lr --model logistic --cv 3 --no-importance --promote >&2
    "$BIN/churn-trainer" -q train --features "$WORK/snapshot.parquet" --registry "$WORK/registry" \
        --name churn-rf --model random-forest --trees "$TREES" --max-depth "$DEPTH" --cv 3 \
        --no-importance --promote >&2
    "$BIN/churn-trainer" -q train --features "$WORK/snapshot.parquet" --registry "$WORK/registry" \
        --name churn-gb --model gradient-boosting --cv 3 --no-importance --promote >&2
fi

SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

start_server() { # MODEL [all-cores]
    local pin=() threads=()
    if [[ $PIN == 1 && ${2:-} != all-cores ]]; then pin=(taskset -c 0); threads=(--worker-threads 1); fi
    nice -n "$NICE" "${pin[@]}" "$BIN/churn-server" -q --registry "$WORK/registry" --model "$1" \
        --features "$WORK/snapshot.parquet" --listen "127.0.0.1:$PORT" \
        --metrics-listen "127.0.0.1:$METRICS_PORT" --reload-interval 0s \
        --max-concurrent-requests "${MAX_CONCURRENT:-4096}" --max-batch-size 10000 "${threads[@]}" &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        if curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep -q '^churn_model_loaded 1'; then
            return 0
        fi
        sleep 0.1
    done
    log "the server did not load $1 within 60 s"
    exit 1
}

OUT="$WORK/server_bench.jsonl"
: >"$OUT"
loadgen() { # LABEL MODEL ARGS...  (a LABEL ending in -all-cores runs the load generator unpinned)
    local label=$1 model=$2
    shift 2
    local pin=()
    if [[ $PIN == 1 && $label != *-all-cores ]]; then pin=(taskset -c "1-$(($(nproc) - 1))"); fi
    log "$label ($model)"
    local result before after load
    before=$(server_cpu_ticks)
    result=$(nice -n "$NICE" "${pin[@]}" "$BIN/churn-loadgen" --target "http://127.0.0.1:$PORT" --ids-from "$WORK/snapshot.parquet" \
        --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" --json "$@")
    after=$(server_cpu_ticks)
    load=$(cut -d' ' -f1 /proc/loadavg)
    # Server CPU seconds over the whole run (warm-up included), and the 1-minute load average after it:
    # other work on the machine shows there.
    local cpu
    cpu=$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
    local pinned=$PIN
    if [[ $label == *-all-cores ]]; then pinned=0; fi
    echo "{\"bench\":\"$label\",\"model\":\"$model\",\"pinned\":$pinned,\"nice\":$NICE,\"server_cpu_s\":$cpu,\"loadavg_1m\":$load,\"result\":$result}" |
        tee -a "$OUT"
}
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

# The server's CPU seconds in the second that starts 100 ms after the load generator has returned.
cpu_after_load() {
    sleep 0.1
    local before after
    before=$(server_cpu_ticks)
    sleep 1
    after=$(server_cpu_ticks)
    awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
overload() { # LABEL MODEL ARGS...  (the server started afresh, so its peak memory is this run's, with the
    # default limit of calls in progress)
    local label=$1 model=$2
    shift 2
    MAX_CONCURRENT=256 start_server "$model"
    log "$label ($model)"
    local pin=() result
    if [[ $PIN == 1 ]]; then pin=(taskset -c "1-$(($(nproc) - 1))"); fi
    result=$(nice -n "$NICE" "${pin[@]}" "$BIN/churn-loadgen" --target "http://127.0.0.1:$PORT" \
        --ids-from "$WORK/snapshot.parquet" --warmup 0s --connections "$CONNECTIONS" --json "$@")
    local idle_cpu peak
    idle_cpu=$(cpu_after_load)
    peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    echo "{\"bench\":\"$label\",\"model\":\"$model\",\"server_peak_rss_kib\":$peak,\"server_cpu_s_after_load\":$idle_cpu,\"loadavg_1m\":$(cut -d' ' -f1 /proc/loadavg),\"result\":$result}" |
        tee -a "$OUT"
    stop_server
}

if [[ ${ONLY:-} != overload ]]; then
start_server churn-lr
loadgen score-1000-per-s churn-lr --rpc score --rate 1000
loadgen score-5000-per-s churn-lr --rpc score --rate 5000
loadgen ping-saturated churn-lr --rpc ping --concurrency "$CONCURRENCY"
loadgen score-saturated churn-lr --rpc score --concurrency "$CONCURRENCY"
loadgen batch-1000 churn-lr --rpc score-batch --batch-size 1000 --concurrency 1
stop_server

start_server churn-rf
loadgen score-5000-per-s churn-rf --rpc score --rate 5000
loadgen score-saturated churn-rf --rpc score --concurrency "$CONCURRENCY"
loadgen batch-1000 churn-rf --rpc score-batch --batch-size 1000 --concurrency 1
stop_server

start_server churn-gb
loadgen score-5000-per-s churn-gb --rpc score --rate 5000
loadgen score-saturated churn-gb --rpc score --concurrency "$CONCURRENCY"
loadgen batch-1000 churn-gb --rpc score-batch --batch-size 1000 --concurrency 1
stop_server

for model in churn-lr churn-rf churn-gb; do
    start_server "$model" all-cores
    loadgen batch-1000-all-cores "$model" --rpc score-batch --batch-size 1000 --concurrency 1
    stop_server
done
fi

overload overload-batch-1000-at-2000-per-s churn-gb --rpc score-batch --batch-size 1000 --rate 2000 \
    --duration 10s
overload overload-batch-10000-deadline-20ms churn-gb --rpc score-batch --batch-size 10000 --rate 3 \
    --duration 20s --deadline 20ms

log "results in $OUT"
