"""The peers' side of the `ensemble` kind: on Telco, with the recipe of peer_baselines.json (one-hot of every
text column, TotalCharges nulls as 0, logistic regression with C = 1 on standardised columns, LightGBM with
its defaults, 5-fold stratified shuffled folds), the out-of-fold ROC AUC and Brier score of each peer and of
the mean of their log-odds, for three shuffles of the folds.

    python3 bench/peer_ensemble.py [DATA_DIR]     # DATA_DIR defaults to ../shared/data

Needs pandas, pyarrow, scikit-learn and lightgbm.
"""

import pathlib
import sys

import lightgbm
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler


def main() -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    data = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data"
    table = pd.read_parquet(data / "telco" / "telco_customer_churn.parquet")
    y = (table["Churn"] == "Yes").astype(int).to_numpy()
    x = table.drop(columns=["Churn", "churn_label", "customerID"])
    x["TotalCharges"] = pd.to_numeric(x["TotalCharges"], errors="coerce").fillna(0)
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    x = pd.get_dummies(x.astype({c: object for c in text}), columns=text).astype(float)

    def logit(p: np.ndarray) -> np.ndarray:
        return np.log(p / (1 - p))

    for seed in (0, 1, 2):
        linear = np.zeros(len(y))
        trees = np.zeros(len(y))
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
            scaler = StandardScaler().fit(x.iloc[train])
            model = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x.iloc[train]), y[train])
            linear[test] = model.predict_proba(scaler.transform(x.iloc[test]))[:, 1]
            boosted = lightgbm.LGBMClassifier(verbose=-1).fit(x.iloc[train], y[train])
            trees[test] = boosted.predict_proba(x.iloc[test])[:, 1]
        mean = 1 / (1 + np.exp(-(logit(linear) + logit(trees)) / 2))
        for name, p in (("logistic", linear), ("lightgbm", trees), ("mean of log-odds", mean)):
            print(
                f"seed {seed}  {name:17} ROC AUC {roc_auc_score(y, p):.4f}  Brier {brier_score_loss(y, p):.4f}"
            )


if __name__ == "__main__":
    main()
