#!/usr/bin/env bash
# Executes the notebooks against a quickstart folder, as CI does: a cell that raises fails the run.
#
#   cargo run -p churn-trainer -- quickstart          # writes ./churn-quickstart
#   bash notebooks/run.sh                             # or CHURN_QUICKSTART_DIR=DIR bash notebooks/run.sh
#
# - The packages pinned in notebooks/requirements.txt go into a virtual environment (NOTEBOOKS_VENV,
#   default target/notebooks-venv; see notebooks/venv.sh), installed again only when that file changes.
# - Notebook 03 needs a running churn-server. When CHURN_SERVER_ADDR is unset, this script builds and starts
#   one (CHURN_SERVER overrides the binary) on a free port of 127.0.0.1, serving the quickstart's registry and
#   snapshot, and stops it when the notebooks are done, failed or interrupted.
# - The notebooks in git carry no outputs (checked first). Executed copies, with their outputs and plots, go
#   to NOTEBOOKS_OUT (default target/notebooks), with the server's log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QS_INPUT=${CHURN_QUICKSTART_DIR:-$ROOT/churn-quickstart}
if [[ ! -f $QS_INPUT/quickstart.json ]]; then
    echo "error: $QS_INPUT/quickstart.json not found; run \`cargo run -p churn-trainer -- quickstart\` first," \
        "or set CHURN_QUICKSTART_DIR to the folder a quickstart wrote" >&2
    exit 1
fi
QS=$(cd "$QS_INPUT" && pwd)
VENV=${NOTEBOOKS_VENV:-$ROOT/target/notebooks-venv}
OUT=${NOTEBOOKS_OUT:-$ROOT/target/notebooks}
mkdir -p "$OUT"

# The Python environment (created or refreshed by notebooks/venv.sh).
NOTEBOOKS_VENV=$VENV bash "$ROOT/notebooks/venv.sh"

SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

if [[ -z ${CHURN_SERVER_ADDR:-} ]]; then
    if [[ -z ${CHURN_SERVER:-} ]]; then
        cargo build -q --locked -p churn-server --manifest-path "$ROOT/Cargo.toml"
        CHURN_SERVER=${CARGO_TARGET_DIR:-$ROOT/target}/debug/churn-server
    fi
    PORT=$("$VENV/bin/python" -c \
        'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export CHURN_SERVER_ADDR=127.0.0.1:$PORT
    MODEL=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["model_name"])' \
        "$QS/quickstart.json")
    echo "== starting churn-server on $CHURN_SERVER_ADDR (log: $OUT/churn-server.log)" >&2
    "$CHURN_SERVER" --registry "$QS/registry" --model "$MODEL" --features "$QS/features/snapshot.parquet" \
        --listen "$CHURN_SERVER_ADDR" --metrics-listen off --reload-interval 0s >"$OUT/churn-server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "error: churn-server exited before listening:" >&2
            cat "$OUT/churn-server.log" >&2
            exit 1
        fi
        sleep 0.2
    done
fi

echo "== executing notebooks against $QS (server $CHURN_SERVER_ADDR)" >&2
export CHURN_QUICKSTART_DIR=$QS
"$VENV/bin/python" - "$ROOT/notebooks" "$OUT" <<'PY'
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

source, out = Path(sys.argv[1]), Path(sys.argv[2])
notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
if not notebooks:
    sys.exit(f"no notebooks in {source}")
passed, failed = 0, 0
for path in notebooks:
    notebook = nbformat.read(path, as_version=4)
    with_outputs = [
        i for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    if with_outputs:
        print(f"{path.name}: FAILED: cells {with_outputs} have outputs; strip them before committing "
              "(e.g. jupyter nbconvert --clear-output --inplace)", file=sys.stderr)
        failed += 1
        continue
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="churn-notebooks",
        resources={"metadata": {"path": str(source)}},
    )
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as error:
        failed += 1
        print(f"{path.name}: FAILED after {time.monotonic() - started:.1f} s\n{error}", file=sys.stderr)
    else:
        passed += 1
        cells = sum(cell.cell_type == "code" for cell in notebook.cells)
        print(f"{path.name}: {cells} code cells ran in {time.monotonic() - started:.1f} s", file=sys.stderr)
    nbformat.write(notebook, out / path.name)
print(f"notebooks: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
