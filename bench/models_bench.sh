#!/usr/bin/env bash
# Training time and held-out ROC AUC of churn-trainer next to scikit-learn, in one run on one generated
# feature table (default 1,000,000 rows x 30 features, 80% train / 20% test by as-of date), plus the time to
# score every row with and without reasons.
#
#   bash bench/models_bench.sh                      # 1M rows, 100 trees of depth 12, 100 boosting rounds
#   ROWS=200000 TREES=100 DEPTH=12 ROUNDS=100 LEAVES=31 LR=0.1 bash bench/models_bench.sh
#   MODELS=gradient-boosting bash bench/models_bench.sh   # only these kinds (comma-separated), both sides
#
# Needs python3 with numpy, pyarrow, scikit-learn and lightgbm. Same recipe on both sides: logistic
# regression with standardised inputs and C = 1; random forest with the same number of trees and depth,
# sqrt(features) per split, min_samples_leaf = 1, bootstrap; gradient boosting with the same rounds, leaves
# and learning rate as LightGBM, no early stopping and LightGBM's defaults for the rest (every row and
# column for every tree, at least 20 rows per leaf, no L2, 255 bins, depth unbounded). Peers use every core. Fit times include churn-trainer's
# preprocessing (imputation, standardisation, binning) and scikit-learn's StandardScaler.
set -euo pipefail

ROWS=${ROWS:-1000000}
TREES=${TREES:-100}
DEPTH=${DEPTH:-12}
ROUNDS=${ROUNDS:-100}
LEAVES=${LEAVES:-31}
LR=${LR:-0.1}
MODELS=${MODELS:-logistic,random-forest,gradient-boosting}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
BIN="$ROOT/target/release/churn-trainer"

cargo build --release -q -p churn-trainer --manifest-path "$ROOT/Cargo.toml"
mkdir -p "$WORK"
echo "machine: $(nproc) cores; work dir $WORK" >&2
python3 "$ROOT/bench/models_bench.py" generate --rows "$ROWS" --out "$WORK/table.parquet"

# Same preprocessing as the scikit-learn pipeline (standardisation only: churn-trainer's automatic log1p of
# heavy-tailed columns is switched off) and scikit-learn's forest defaults for leaf size.
cat > "$WORK/model.toml" <<TOML
[preprocess]
log1p_heavy_tails = false

[random_forest]
n_trees = $TREES
max_depth = $DEPTH
min_samples_leaf = 1

[gradient_boosting]
n_rounds = $ROUNDS
max_leaves = $LEAVES
learning_rate = $LR
max_depth = 64
early_stopping_rounds = 0
row_subsample = 1.0
column_subsample = 1.0
min_data_in_leaf = 20
l2 = 0.0
TOML

summary() {
    "$BIN" -q models show "$1" --registry "$WORK/registry" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({"tool": "churn-rs", "model": d["kind"], "fit_s": round(d["training"]["fit_seconds"], 2),
                  "roc_auc": round(d["metrics"]["roc_auc"], 4)}))'
}

wanted() { [[ ,$MODELS, == *,$1,* ]]; }

for model in logistic random-forest gradient-boosting; do
    wanted "$model" || continue
    "$BIN" -q train --features "$WORK/table.parquet" --model "$model" --registry "$WORK/registry" \
        --name "bench-$model" --test-as-of 2024-02-29 --model-config "$WORK/model.toml" --no-importance \
        --calibration none --promote >&2
    summary "bench-$model"
done

for model in random-forest gradient-boosting; do
    wanted "$model" || continue
    for k in 0 3; do
        started=$(date +%s.%N)
        "$BIN" -q score --model "bench-$model" --registry "$WORK/registry" --features "$WORK/table.parquet" \
            --out "$WORK/scores-$model-$k.parquet" --top-k "$k" >&2
        ended=$(date +%s.%N)
        python3 -c "import json; print(json.dumps({'tool': 'churn-rs', 'score_rows': $ROWS, 'model': '$model', 'top_k': $k, 'seconds': round($ended - $started, 2)}))"
    done
done
if wanted logistic; then
started=$(date +%s.%N)
"$BIN" -q score --model bench-logistic --registry "$WORK/registry" --features "$WORK/table.parquet" \
    --out "$WORK/scores-lr.parquet" --top-k 3 >&2
ended=$(date +%s.%N)
python3 -c "import json; print(json.dumps({'tool': 'churn-rs', 'score_rows': $ROWS, 'model': 'logistic', 'top_k': 3, 'seconds': round($ended - $started, 2)}))"
fi

python3 "$ROOT/bench/models_bench.py" sklearn --table "$WORK/table.parquet" --trees "$TREES" --depth "$DEPTH" \
    --rounds "$ROUNDS" --leaves "$LEAVES" --learning-rate "$LR" --models "$MODELS"
