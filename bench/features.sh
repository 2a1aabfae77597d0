#!/usr/bin/env bash
# Feature-engine benchmark: `churn-trainer features` for one as-of date next to DuckDB and Polars computing the
# same reference query on transactions.parquet, on generated data, in one run; then a check that the three
# agree for every customer. See bench/README.md, "Feature engine".
#
#   bash bench/features.sh            # 1M customers, ~10M transactions: ours vs DuckDB vs Polars
#   bash bench/features.sh --monthly  # the same at 12 month ends (a training set), each tool in one run
#   bash bench/features.sh --scale    # 10M customers, ~100M transactions: our build only, peak memory
#
# Environment: CUSTOMERS, TX_PER_CUSTOMER (mean transactions per customer), SEED, AS_OF (one date, or dates
# separated by commas), HORIZON, REPEAT (runs
# per tool, best reported), OURS_CONFIG (transactions: the same input as the peers; full: churn.toml with
# events and customers too), PYTHON (interpreter for the virtual environment, default python3), CHURN_TRAINER
# (a churn-trainer binary to use instead of building target/release/churn-trainer).
# Data sets are cached in target/bench-data/ and reused; the Python packages pinned in bench/requirements.txt
# are installed into target/bench-venv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=compare
case "${1:-}" in
    --scale) MODE=scale ;;
    --monthly) MODE=monthly ;;
    "") ;;
    *) echo "usage: bash bench/features.sh [--monthly | --scale]" >&2; exit 2 ;;
esac

if [[ $MODE == scale ]]; then
    CUSTOMERS=${CUSTOMERS:-10000000}
    TOOLS=ours
    REPEAT=${REPEAT:-1}
elif [[ $MODE == monthly ]]; then
    CUSTOMERS=${CUSTOMERS:-1000000}
    TOOLS=ours,duckdb,polars
    REPEAT=${REPEAT:-1}
    AS_OF=${AS_OF:-2023-07-31,2023-08-31,2023-09-30,2023-10-31,2023-11-30,2023-12-31,2024-01-31,2024-02-29,2024-03-31,2024-04-30,2024-05-31,2024-06-30}
else
    CUSTOMERS=${CUSTOMERS:-1000000}
    TOOLS=ours,duckdb,polars
    REPEAT=${REPEAT:-3}
fi
TX_PER_CUSTOMER=${TX_PER_CUSTOMER:-10}
SEED=${SEED:-42}
AS_OF=${AS_OF:-2024-06-30}
HORIZON=${HORIZON:-90}
OURS_CONFIG=${OURS_CONFIG:-transactions}
BIN=${CHURN_TRAINER:-$ROOT/target/release/churn-trainer}
DATA="$ROOT/target/bench-data/features-c${CUSTOMERS}-t${TX_PER_CUSTOMER}-s${SEED}"
VENV="$ROOT/target/bench-venv"

if [[ -z ${CHURN_TRAINER:-} ]]; then
    echo "== building churn-trainer (release)" >&2
    cargo build --release -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
fi

# Python packages: reinstalled only when bench/requirements.txt changes.
STAMP="$VENV/.requirements.sha256"
WANT=$(sha256sum "$ROOT/bench/requirements.txt" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$WANT" ]]; then
    echo "== installing bench/requirements.txt into $VENV" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/bench/requirements.txt"
    echo "$WANT" > "$STAMP"
fi

# The data set: generate.json is written last, so its presence means a complete data set.
if [[ -f $DATA/generate.json ]]; then
    echo "== reusing $DATA" >&2
else
    echo "== generating $CUSTOMERS customers x $TX_PER_CUSTOMER transactions into $DATA" >&2
    GENERATE=("$BIN" generate --out "$DATA" --customers "$CUSTOMERS" --transactions-per-customer "$TX_PER_CUSTOMER"
        --seed "$SEED")
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f "   generate: %e s wall, peak RSS %M KiB" "${GENERATE[@]}"
    else
        "${GENERATE[@]}"
    fi
fi

echo "== timing ($MODE)" >&2
"$VENV/bin/python" "$ROOT/bench/features_peers.py" run --data "$DATA" --bin "$BIN" --as-of "$AS_OF" \
    --horizon "$HORIZON" --tools "$TOOLS" --ours-config "$OURS_CONFIG" --repeat "$REPEAT" \
    --work "$DATA/runs-$MODE-$OURS_CONFIG"
