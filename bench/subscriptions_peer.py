"""An independent check of the subscription rows, labels and MRR of a feature table, in pandas.

From a generated data folder (`churn-trainer generate`: subscriptions.parquet and the other inputs) and a
feature table built from it with churn-subscriptions.toml, this computes on its own, for every as-of date
of the table:

- the rows: the customers with a subscription period running at the as-of date (started on or before
  it, and ending after it or not at all);
- the contractual label: a customer's periods, in order of start, form lives (a period starting more
  than the grace period after the latest end before it starts a new one); the life running at the
  as-of date churns on the end of its last period, unless a period of it has no end; the label is 1
  when that day is in (as-of, as-of + horizon], and unknown when as-of + horizon + grace runs past the
  last day of the data (the last date of any input);
- the MRR: the sum of amount / billing months over the periods running at the as-of date;

and compares them with the table. It shares no code with the Rust engine. Exit status 0 when everything
agrees, 1 otherwise.

    python bench/subscriptions_peer.py DATA_DIR FEATURES.parquet --horizon 90 [--grace 30]
"""

import argparse
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def day(values):
    """Dates or timestamps as days since 1970-01-01 (NaN for nulls)."""
    series = pd.to_datetime(pd.Series(values), utc=True)
    return (series - pd.Timestamp("1970-01-01", tz="UTC")).dt.days.astype("float64")


def data_end(folder):
    """The last day of any dated input (the engine's default accepted range keeps every generated row)."""
    ends = []
    for name, columns in [
        ("transactions.parquet", ["ts"]),
        ("events.parquet", ["ts"]),
        ("customers.parquet", ["signup_date"]),
        ("subscriptions.parquet", ["start_date", "end_date"]),
    ]:
        table = pq.read_table(f"{folder}/{name}", columns=columns).to_pandas()
        for column in columns:
            ends.append(day(table[column]).max())
    return max(e for e in ends if not np.isnan(e))


def lives(periods, grace):
    """Each period's life number, and each life's churn day (NaN: the life has a running period)."""
    periods = periods.sort_values(["customer_id", "start", "end"], na_position="last").copy()
    cover = periods["end"].fillna(np.inf)
    previous = cover.groupby(periods["customer_id"]).cummax().groupby(periods["customer_id"]).shift(1)
    periods["new_life"] = previous.isna() | (periods["start"] > previous + grace)
    periods["life"] = periods.groupby("customer_id")["new_life"].cumsum()
    churn = (
        periods.assign(cover=cover)
        .groupby(["customer_id", "life"])["cover"]
        .max()
        .replace(np.inf, np.nan)
        .rename("churn")
    )
    return periods.join(churn, on=["customer_id", "life"])


def expected(folder, as_of_days, horizon, grace):
    raw = pq.read_table(f"{folder}/subscriptions.parquet").to_pandas()
    periods = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "start": day(raw["start_date"]).values,
            "end": day(raw["end_date"]).values,
            "mrr": (raw["amount"] / raw["billing_months"]).values,
        }
    )
    periods = lives(periods, grace)
    last = data_end(folder)
    frames = []
    for d in as_of_days:
        running = periods[(periods["start"] <= d) & (periods["end"].isna() | (periods["end"] > d))]
        rows = running.groupby("customer_id").agg(mrr=("mrr", "sum"), churn=("churn", "first"))
        churned = (rows["churn"] > d) & (rows["churn"] <= d + horizon)
        rows["label"] = churned.astype("float64")
        if d + horizon + grace > last:
            rows["label"] = np.nan
        rows["as_of"] = d
        frames.append(rows.reset_index())
    return pd.concat(frames, ignore_index=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the generated data folder")
    parser.add_argument("features", help="the feature table built with churn-subscriptions.toml")
    parser.add_argument("--horizon", type=int, required=True, help="the label horizon of the table, in days")
    parser.add_argument("--grace", type=int, default=30, help="[subscriptions] grace_days (default 30)")
    args = parser.parse_args()

    ours = pq.read_table(args.features, columns=["customer_id", "as_of", "label", "subscription_mrr"]).to_pandas()
    ours = pd.DataFrame(
        {
            "customer_id": ours["customer_id"].astype(str),
            "as_of": day(ours["as_of"]).values,
            "label": ours["label"].astype("float64").values,
            "mrr": ours["subscription_mrr"].values,
        }
    )
    peer = expected(args.data, sorted(ours["as_of"].unique()), args.horizon, args.grace)
    merged = ours.merge(peer, on=["customer_id", "as_of"], how="outer", suffixes=("_ours", "_peer"), indicator=True)
    only_ours = int((merged["_merge"] == "left_only").sum())
    only_peer = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    label_differs = ~(
        (both["label_ours"] == both["label_peer"]) | (both["label_ours"].isna() & both["label_peer"].isna())
    )
    mrr_differs = ~np.isclose(both["mrr_ours"], both["mrr_peer"], rtol=1e-9, atol=1e-9)
    labelled = both["label_peer"].notna()
    print(
        f"as-of dates: {ours['as_of'].nunique()}; rows: ours {len(ours)}, peer {len(peer)}; "
        f"only ours {only_ours}, only peer {only_peer}"
    )
    print(
        f"labels: {int(labelled.sum())} known, {int(both.loc[labelled, 'label_peer'].sum())} positive; "
        f"differ {int(label_differs.sum())}; MRR differs {int(mrr_differs.sum())}"
    )
    if only_ours or only_peer or label_differs.any() or mrr_differs.any():
        shown = merged[(merged["_merge"] != "both")].head(5)
        print("first differences:\n", pd.concat([shown, both[label_differs | mrr_differs].head(5)]), file=sys.stderr)
        return 1
    print("agree: every row, label and MRR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
