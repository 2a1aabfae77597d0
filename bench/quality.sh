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
KINDS="logistic random-forest gradient-boosting"

if [ "$PROFILE" = release ]; then
    cargo build --release -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
else
    cargo build -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
fi
echo "machine: $(nproc) cores; work dir $WORK" >&2
cd "$ROOT"
"$BIN" -q features --config examples/telco.toml --out "$WORK/telco.parquet"
"$BIN" -q features --config examples/cdnow.toml --as-of 1997-09-30 --horizon 273 --out "$WORK/cdnow.parquet"

for data in telco cdnow; do
    for model in $KINDS; do
        started=$(date +%s.%N)
        "$BIN" -q train --features "$WORK/$data.parquet" --model "$model" --registry "$WORK/registry" \
            --name "$data-$model" --cv 5 --no-importance --promote >&2
        ended=$(date +%s.%N)
        "$BIN" -q models show "$data-$model" --registry "$WORK/registry" --json |
            python3 -c '
import json, sys
d = json.load(sys.stdin)
m = d["metrics"]
print(json.dumps({"data": sys.argv[1], "model": d["kind"], "roc_auc": round(m["roc_auc"], 4),
                  "brier": round(m["brier"], 4), "log_loss": round(m["log_loss"], 4),
                  "cv_train_s": round(float(sys.argv[2]), 2)}))' "$data" "$(python3 -c "print($ended - $started)")"
    done
done | tee "$WORK/ours.jsonl"

"$BIN" -q quickstart --dir "$WORK/synthetic" --customers "$CUSTOMERS" >/dev/null
# The quickstart trains logistic regression and the forest; gradient boosting is trained here on the same
# rows with the same out-of-time split, and evaluated on the same test month.
TEST_AS_OF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test_as_of"])' "$WORK/synthetic/quickstart.json")
"$BIN" -q train --features "$WORK/synthetic/features/train.parquet" --model gradient-boosting \
    --registry "$WORK/synthetic/registry" --name churn --test-as-of "$TEST_AS_OF" \
    --model-config "$WORK/synthetic/model.toml" --no-importance >/dev/null
LATEST=$(ls "$WORK/synthetic/registry/churn" | grep -E '^v[0-9]+$' | sort -V | tail -1)
"$BIN" -q evaluate --model "churn@$LATEST" --registry "$WORK/synthetic/registry" \
    --features "$WORK/synthetic/features/test.parquet" --out "$WORK/synthetic/reports/gradient-boosting" \
    --no-importance >/dev/null
for model in $KINDS; do
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
m = m.get("metrics", m)
print(json.dumps({"data": "synthetic (out of time)", "model": sys.argv[2], "roc_auc": round(m["roc_auc"], 4),
                  "brier": round(m["brier"], 4), "log_loss": round(m["log_loss"], 4)}))' \
        "$WORK/synthetic/reports/$model/metrics.json" "$model"
done | tee -a "$WORK/ours.jsonl"

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
