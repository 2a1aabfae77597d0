"""Benchmark data and the scikit-learn side of bench/models_bench.sh.

    python3 bench/models_bench.py generate --rows 1000000 --out DIR/table.parquet
    python3 bench/models_bench.py sklearn --table DIR/table.parquet --trees 100 --depth 12

`generate` writes a synthetic feature table in the layout of `churn-trainer features` (customer_id, as_of,
label, 30 Float64 features with `churn.role = numeric`): 80% of the rows are dated 2024-01-31 (training),
20% 2024-02-29 (test), so `churn-trainer train --test-as-of 2024-02-29` and scikit-learn fit and test on
the same rows. The label follows a logistic model with non-linear terms and interactions, so both linear
models and forests have something to learn. `sklearn` fits LogisticRegression (standardised inputs, C=1),
RandomForestClassifier(n_jobs=cores) and LightGBM's LGBMClassifier (n_jobs=cores; the number of trees, leaves
and learning rate given, no early stopping, LightGBM's defaults otherwise) on the training rows and prints one
JSON line per model with the fit time in seconds, the test ROC AUC, and the prediction time per row of the
test rows in one call and of single rows one call each.
"""

import argparse
import datetime
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = 30
TRAIN_DATE = datetime.date(2024, 1, 31)
TEST_DATE = datetime.date(2024, 2, 29)


def generate(rows: int, out: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES))
    # Heavy-tailed, non-negative "money" and "count" columns, as in real churn tables.
    x[:, 0] = rng.lognormal(3.0, 1.0, rows)
    x[:, 1] = rng.poisson(3.0, rows).astype(float)
    x[:, 2] = rng.exponential(60.0, rows)
    weights = rng.normal(0.0, 0.4, FEATURES)
    weights[20:] = 0.0  # pure noise columns
    logit = (
        -0.5
        + x[:, 3:20] @ weights[3:20]
        - 0.6 * np.log1p(x[:, 0])
        - 0.4 * x[:, 1] ** 0.5
        + 0.012 * x[:, 2]
        + 0.8 * (x[:, 3] * x[:, 4] > 0)
        - 0.7 * np.abs(x[:, 5])
    )
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    test = rng.random(rows) < 0.2
    as_of = np.where(test, TEST_DATE, TRAIN_DATE)
    fields = [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("as_of", pa.date32()),
        pa.field("label", pa.int8()),
    ]
    arrays = [pa.array(np.arange(rows, dtype=np.int64)), pa.array(as_of, pa.date32()), pa.array(label)]
    for j in range(FEATURES):
        fields.append(pa.field(f"f{j:02d}", pa.float64(), metadata={"churn.role": "numeric"}))
        arrays.append(pa.array(x[:, j]))
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), out, compression="zstd")


def sklearn(table: str, trees: int, depth: int, rounds: int, leaves: int, learning_rate: float,
            kinds: list[str]) -> None:
    import os

    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t = pq.read_table(table)
    x = np.column_stack([t[f"f{j:02d}"].to_numpy() for j in range(FEATURES)])
    y = t["label"].to_numpy()
    test = np.array([d == TEST_DATE for d in t["as_of"].to_pylist()])
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
        "random-forest": RandomForestClassifier(
            n_estimators=trees, max_depth=depth, n_jobs=os.cpu_count(), random_state=0
        ),
        "gradient-boosting": LGBMClassifier(
            n_estimators=rounds, num_leaves=leaves, learning_rate=learning_rate, n_jobs=os.cpu_count(),
            random_state=0, verbose=-1,
        ),
    }
    tools = {"gradient-boosting": "lightgbm"}
    for name, model in models.items():
        if name not in kinds:
            continue
        started = time.perf_counter()
        model.fit(x[~test], y[~test])
        fit = time.perf_counter() - started
        started = time.perf_counter()
        p = model.predict_proba(x[test])[:, 1]
        predict = time.perf_counter() - started
        auc = roc_auc_score(y[test], p)
        single = x[test][:1000]
        started = time.perf_counter()
        for i in range(len(single)):
            model.predict_proba(single[i : i + 1])
        per_row_single = (time.perf_counter() - started) / len(single)
        print(json.dumps({"tool": tools.get(name, "scikit-learn"), "model": name, "fit_s": round(fit, 2),
                          "predict_test_s": round(predict, 2),
                          "predict_us_per_row_batch": round(predict / test.sum() * 1e6, 3),
                          "predict_us_per_row_single_call": round(per_row_single * 1e6, 1),
                          "roc_auc": round(auc, 4)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--rows", type=int, default=1_000_000)
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("sklearn")
    s.add_argument("--table", required=True)
    s.add_argument("--trees", type=int, default=100)
    s.add_argument("--depth", type=int, default=12)
    s.add_argument("--rounds", type=int, default=100)
    s.add_argument("--leaves", type=int, default=31)
    s.add_argument("--learning-rate", type=float, default=0.1)
    s.add_argument("--models", default="logistic,random-forest,gradient-boosting",
                   help="comma-separated kinds to fit")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.rows, args.out, args.seed)
    else:
        sklearn(args.table, args.trees, args.depth, args.rounds, args.leaves, args.learning_rate,
                args.models.split(","))


if __name__ == "__main__":
    main()
