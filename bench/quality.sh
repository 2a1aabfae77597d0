#!/usr/bin/env bash
# Held-out quality of every model kind next to the peers of ../shared/reference/peer_baselines.json
# (scikit-learn and LightGBM, 5-fold stratified out-of-fold ROC AUC and Brier score), on the Telco and
# CDNOW data sets, plus every kind on `churn-trainer quickstart`'s synthetic data (out of time).
#
#   bash bench/quality.sh                     # Telco, CDNOW, and the quickstart with 20,000 customers
#   CUSTOMERS=50000 bash bench/quality.sh
#   PROFILE=debug bash bench/quality.sh       # the dev build (slower fits, the same figures)
#
# Needs python3 (standard library only). Same recipe as the peers: `train --cv 5` (stratified, shuffled,
# out-of-fold metrics) with every hyperparameter at its default. CDNOW features as of 1997-09-30 with a
# 273-day horizon, as in trainer/tests/it/real_data.rs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
CUSTOMERS=${CUSTOMERS:-20000}
PROFILE=${PROFILE:-release}
BIN="$ROOT/target/$PROFILE/churn-trainer"
PEERS="$ROOT/../shared/reference/peer_baselines.json"

if [ "$PROFILE" = release ]; then
    cargo build --release -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
else
    cargo build -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
fi
mkdir -p "$WORK"
echo "machine: $(nproc) cores; work dir $WORK" >&2
cd "$ROOT"
"$BIN" -q features --config examples/telco.toml --out "$WORK/telco.parquet"
"$BIN" -q features --config examples/cdnow.toml --as-of 1997-09-30 --horizon 273 --out "$WORK/cdnow.parquet"

# `train --model auto` fits every kind on the same folds (each calibrated as `--calibration auto` decides)
# and records each one's out-of-fold metrics; the line marked "auto" is the kind it keeps.
candidates='
import json, sys
d = json.load(sys.stdin)
for c in d["metrics"]["candidates"]:
    print(json.dumps({"data": sys.argv[1], "model": c["kind"] + (" (auto keeps it)" if c["chosen"] else ""),
                      "roc_auc": round(c["roc_auc"], 4), "brier": round(c["brier"], 4),
                      "log_loss": round(c["log_loss"], 4)}))'
for data in telco cdnow; do
    "$BIN" -q train --features "$WORK/$data.parquet" --model auto --registry "$WORK/registry" \
        --name "$data" --cv 5 --no-importance >&2
    "$BIN" -q models show "$data" --registry "$WORK/registry" --json | python3 -c "$candidates" "$data"
done | tee "$WORK/ours.jsonl"

# The quickstart trains every kind out of time on the same rows (`--model auto`); its registry keeps the
# comparison.
"$BIN" -q quickstart --dir "$WORK/synthetic" --customers "$CUSTOMERS" >/dev/null
"$BIN" -q models show churn --registry "$WORK/synthetic/registry" --json |
    python3 -c "$candidates" "synthetic (out of time)" | tee -a "$WORK/ours.jsonl"

python3 - "$PEERS" "$WORK/ours.jsonl" <<'PY'
import json, sys
peers = json.load(open(sys.argv[1]))
print("\n| data | model | ROC AUC | Brier |\n| --- | --- | --- | --- |")
for line in open(sys.argv[2]):
    r = json.loads(line)
    print(f"| {r['data']} | churn-rs {r['model']} | {r['roc_auc']:.4f} | {r['brier']:.4f} |")
for key, value in peers.items():
    if isinstance(value, dict) and "brier" in value:
        data, model = key.split("/", 1)
        print(f"| {data} | peer {model} | {value['roc_auc']:.4f} | {value['brier']:.4f} |")
PY
