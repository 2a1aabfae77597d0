#!/usr/bin/env bash
# Checks churn-server's Open Inference Protocol (inference.GRPCInferenceService) with unmodified Python
# clients: tritonclient[grpc] and KServe's InferenceGRPCClient (server/tests/tritonclient_check.py says
# what is checked). Exits 1 on the first mismatch.
#
#   bash server/tests/tritonclient.sh --prepare             # only create the clients' environment
#   CHURN_QUICKSTART_DIR=churn-quickstart CHURN_BIN_DIR=target/debug bash server/tests/tritonclient.sh
#
# The server serves a quickstart's promoted model and snapshot: CHURN_QUICKSTART_DIR, or else one made
# in target/ with `churn-trainer quickstart`. CHURN_BIN_DIR names built binaries (else they are built in
# release mode). The clients are installed, pinned (server/tests/oip-clients-requirements.txt), into
# OIP_VENV (default target/oip-clients-venv), again only when that file changes; PYTHON names the
# interpreter that creates it (3.11 or newer; default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${OIP_VENV:-$ROOT/target/oip-clients-venv}
PORT=${PORT:-50153}
BIN=${CHURN_BIN_DIR:-}
log() { echo "tritonclient.sh: $*" >&2; }

REQUIREMENTS=$ROOT/server/tests/oip-clients-requirements.txt
STAMP=$VENV/.requirements.sha256
if command -v sha256sum >/dev/null; then
    WANT=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
else
    WANT=$(shasum -a 256 "$REQUIREMENTS" | cut -d' ' -f1)
fi
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$WANT" ]]; then
    log "installing $(grep -v '^#' "$REQUIREMENTS" | tr '\n' ' ')into $VENV"
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$WANT" >"$STAMP"
fi
if [[ ${1:-} == --prepare ]]; then
    exit 0
fi

if [[ -z $BIN ]]; then
    cargo build --release -q -p churn-server -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
    BIN=$ROOT/target/release
fi
QUICKSTART=${CHURN_QUICKSTART_DIR:-$ROOT/target/bench-data/oip-quickstart}
if [[ ! -f $QUICKSTART/quickstart.json ]]; then
    "$BIN/churn-trainer" -q quickstart --dir "$QUICKSTART"
fi

"$BIN/churn-server" -q --registry "$QUICKSTART/registry" --model churn \
    --features "$QUICKSTART/features/snapshot.parquet" --listen "127.0.0.1:$PORT" --metrics-listen off &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT

# Ready when the protocol's own ServerReady says so (tritonclient, as a platform's probe would ask).
ready=0
for _ in $(seq 1 150); do
    if "$VENV/bin/python" -c "import sys, tritonclient.grpc as t; sys.exit(not t.InferenceServerClient('127.0.0.1:$PORT').is_server_ready())" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 $SERVER_PID 2>/dev/null || { log "FAILED: churn-server exited"; exit 1; }
    sleep 0.2
done
[[ $ready == 1 ]] || { log "FAILED: churn-server was not ready within 30 s"; exit 1; }

for client in tritonclient kserve; do
    "$VENV/bin/python" "$ROOT/server/tests/tritonclient_check.py" --addr "127.0.0.1:$PORT" \
        --proto-dir "$ROOT/proto" --client "$client"
done
log "all Open Inference Protocol client checks passed"
