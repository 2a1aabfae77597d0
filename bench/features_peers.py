"""Feature-engine benchmark: `churn-trainer features` next to DuckDB and Polars, driven by bench/features.sh.

    python3 bench/features_peers.py run --data DIR --bin target/release/churn-trainer --as-of 2024-06-30
    python3 bench/features_peers.py run --data DIR --bin ... --tools ours          # our build only (scale check)
    python3 bench/features_peers.py query duckdb --transactions DIR/transactions.parquet --as-of 2024-06-30 \
        --out result.parquet                                                       # one peer, in this process

`run` times each tool in its own process (wall clock, and peak resident memory from /usr/bin/time, or from
polling the process tree with psutil where that is missing), prints a table with the ratio of each tool's time
to DuckDB's, and checks that the three tools agree, customer by customer, on the reference columns. It exits
with status 1 when they do not.

The reference query, on transactions.parquet alone, for the customers with a purchase (amount >= 0) at or
before the as-of date (the end of that day, UTC):
  purchase_count            purchase rows
  total_spend, mean_spend   sum and mean of purchase amounts
  days_since_last_purchase  as-of date minus the date of the last purchase, in days
  tenure_days               as-of date minus the date of the first transaction (purchase or return), in days
  return_count              rows with amount < 0
  purchases_Nd, spend_Nd    count and sum of purchases in the last N = 30, 90, 365 days, where a row is in the
                            N-day window when as_of_date - date(ts) < N
Our build runs on a configuration that maps only the transactions (no order id, so a purchase is a row, as in
the reference query); it computes every transaction feature and the 90-day label, not only these columns.
With --ours-config full it runs on the generated churn.toml (events, customers and order ids as well), and
the check covers the columns whose meaning order ids and customer records do not change.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WINDOWS = (30, 90, 365)
COUNT_COLUMNS = ["purchase_count", "return_count", "days_since_last_purchase", "tenure_days"] + [
    f"purchases_{w}d" for w in WINDOWS
]
AMOUNT_COLUMNS = ["total_spend", "mean_spend"] + [f"spend_{w}d" for w in WINDOWS]
REFERENCE_COLUMNS = COUNT_COLUMNS + AMOUNT_COLUMNS
# With churn.toml (OURS_CONFIG=full) order ids are configured, so our purchase counts (and mean spend) count
# orders rather than rows, tenure starts at the first sign of the customer (signup, event or transaction),
# and customers known only from customers.parquet or events.parquet get rows too. These columns keep the
# reference meaning, compared on the reference's customers.
FULL_CONFIG_COLUMNS = ["return_count", "days_since_last_purchase", "total_spend"] + [f"spend_{w}d" for w in WINDOWS]

TRANSACTIONS_ONLY_CONFIG = """# Transactions only, without order ids: what the reference query sees.
[transactions]
path = "transactions.parquet"
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
"""


def cutoff(as_of: datetime.date) -> datetime.datetime:
    """The first instant after the as-of date, UTC: rows strictly before it are visible."""
    return datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc)


# --------------------------------------------------------------------------------------------------------------
# The peers' reference query.


def query_duckdb(transactions: str, dates: list[datetime.date], out: str) -> None:
    """The reference query at each of `dates`, stacked with an `as_of` column, in one COPY."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    windows = ",\n".join(
        f"count(*) FILTER (WHERE amount >= 0 AND age < {w}) AS purchases_{w}d,\n"
        f"coalesce(sum(amount) FILTER (WHERE amount >= 0 AND age < {w}), 0) AS spend_{w}d"
        for w in WINDOWS
    )
    queries = [f"""
        SELECT
            customer_id,
            DATE '{as_of}' AS as_of,
            count(*) FILTER (WHERE amount >= 0) AS purchase_count,
            sum(amount) FILTER (WHERE amount >= 0) AS total_spend,
            sum(amount) FILTER (WHERE amount >= 0) / count(*) FILTER (WHERE amount >= 0) AS mean_spend,
            DATE '{as_of}' - max(day) FILTER (WHERE amount >= 0) AS days_since_last_purchase,
            DATE '{as_of}' - min(day) AS tenure_days,
            count(*) FILTER (WHERE amount < 0) AS return_count,
            {windows}
        FROM (
            SELECT customer_id, amount, CAST(ts AS DATE) AS day, DATE '{as_of}' - CAST(ts AS DATE) AS age
            FROM read_parquet('{transactions}')
            WHERE ts < TIMESTAMPTZ '{cutoff(as_of).isoformat()}'
        )
        GROUP BY customer_id
        HAVING count(*) FILTER (WHERE amount >= 0) > 0
    """ for as_of in dates]
    con.execute(f"COPY ({' UNION ALL '.join(queries)}) TO '{out}' (FORMAT parquet)")


def query_polars(transactions: str, dates: list[datetime.date], out: str) -> None:
    """The reference query at each of `dates`, stacked with an `as_of` column, collected at once."""
    import polars as pl

    pl.concat([polars_query(pl, transactions, as_of) for as_of in dates]).collect(engine="streaming").write_parquet(out)


def polars_query(pl, transactions: str, as_of: datetime.date):
    day = pl.col("ts").dt.date()
    age = (pl.lit(as_of) - day).dt.total_days()
    purchase = pl.col("amount") >= 0
    amount = pl.col("amount")
    windows = []
    for w in WINDOWS:
        in_window = purchase & (age < w)
        windows += [in_window.sum().alias(f"purchases_{w}d"), amount.filter(in_window).sum().alias(f"spend_{w}d")]
    result = (
        pl.scan_parquet(transactions)
        .filter(pl.col("ts") < cutoff(as_of))
        .group_by("customer_id")
        .agg(
            purchase.sum().alias("purchase_count"),
            amount.filter(purchase).sum().alias("total_spend"),
            day.filter(purchase).max().alias("last_purchase"),
            day.min().alias("first_day"),
            (~purchase).sum().alias("return_count"),
            *windows,
        )
        .filter(pl.col("purchase_count") > 0)
        .with_columns(
            (pl.col("total_spend") / pl.col("purchase_count")).alias("mean_spend"),
            (pl.lit(as_of) - pl.col("last_purchase")).dt.total_days().alias("days_since_last_purchase"),
            (pl.lit(as_of) - pl.col("first_day")).dt.total_days().alias("tenure_days"),
        )
        .drop("last_purchase", "first_day")
        .with_columns(pl.lit(as_of).alias("as_of"))
    )
    return result


# --------------------------------------------------------------------------------------------------------------
# Measuring a process.


def measure(command: list[str]) -> tuple[float, int, str]:
    """Runs `command`; returns (wall seconds, peak RSS in bytes, stdout). Fails loudly on a non-zero exit."""
    time_bin = shutil.which("time", path="/usr/bin")
    if time_bin:
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
            started = time.perf_counter()
            done = subprocess.run([time_bin, "-f", "%M", "-o", report.name, *command], capture_output=True, text=True)
            wall = time.perf_counter() - started
            check(done, command)
            lines = [line for line in Path(report.name).read_text().splitlines() if line.strip()]
            return wall, int(lines[-1]) * 1024, done.stdout
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    check(subprocess.CompletedProcess(command, process.returncode, stdout, stderr), command)
    return wall, peak, stdout


def check(done: subprocess.CompletedProcess, command: list[str]) -> None:
    if done.returncode != 0:
        sys.stderr.write(done.stderr or "")
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")


# --------------------------------------------------------------------------------------------------------------
# Agreement.


def load(path: Path):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    table = pq.read_table(path, columns=["customer_id", "as_of", *(c for c in REFERENCE_COLUMNS if c in names)])
    # Tools differ in their string types (string, large_string, string_view): compare the values.
    ids = table["customer_id"]
    target = pa.string() if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or \
        pa.types.is_string_view(ids.type) else pa.int64()
    table = table.set_column(0, "customer_id", pc.cast(ids, target))
    table = table.set_column(1, "as_of", pc.cast(table["as_of"], pa.date32()))
    return table.take(pc.sort_indices(table, [("as_of", "ascending"), ("customer_id", "ascending")]))


def compare(reference, other, columns=REFERENCE_COLUMNS, reference_customers_only=False) -> dict[str, int]:
    """Per column, how many customers disagree (counts exactly, amounts to 1e-9 relative or 1e-6 absolute).

    A different set of customers is reported as `customer_id`: the difference in row counts, or -1 when the
    counts match but the ids do not. With `reference_customers_only`, `other` may have more customers."""
    import numpy as np
    import pyarrow.compute as pc

    if reference_customers_only:
        import pyarrow as pa

        def keys(table):
            return pc.binary_join_element_wise(pc.cast(table["customer_id"], pa.string()),
                                               pc.cast(table["as_of"], pa.string()), "@")
        other = other.filter(pc.is_in(keys(other), value_set=keys(reference)))
    if reference.num_rows != other.num_rows or not reference["customer_id"].equals(other["customer_id"]) \
            or not reference["as_of"].equals(other["as_of"]):
        return {"customer_id": abs(reference.num_rows - other.num_rows) or -1}
    mismatches = {}
    for name in columns:
        a = reference[name].to_numpy(zero_copy_only=False).astype(np.float64)
        b = other[name].to_numpy(zero_copy_only=False).astype(np.float64)
        if name in COUNT_COLUMNS:
            bad = a != b
        else:
            bad = ~np.isclose(a, b, rtol=1e-9, atol=1e-6)
        mismatches[name] = int(bad.sum())
    return mismatches


# --------------------------------------------------------------------------------------------------------------
# The benchmark.


def run(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    work = Path(args.work).resolve() if args.work else data / "runs"
    work.mkdir(parents=True, exist_ok=True)
    transactions = data / "transactions.parquet"
    config = data / "churn.toml"
    if args.ours_config == "transactions":
        config = work / "transactions_only.toml"
        # The feature configuration resolves paths relative to its own folder.
        config.write_text(TRANSACTIONS_ONLY_CONFIG.replace('"transactions.parquet"', json.dumps(str(transactions))))
    dates = [datetime.date.fromisoformat(d) for d in args.as_of.split(",")]
    as_of = f"{dates[0]}" if len(dates) == 1 else f"{len(dates)} dates, {dates[0]} .. {dates[-1]}"
    tools = args.tools.split(",")
    ours_dates = [a for d in dates for a in ("--as-of", str(d))]
    commands = {
        "churn-trainer": [args.bin, "-q", "features", "--config", str(config), *ours_dates,
                          "--horizon", str(args.horizon), "--out", str(work / "churn-trainer.parquet")],
        "duckdb": [sys.executable, __file__, "query", "duckdb", "--transactions", str(transactions),
                   "--as-of", args.as_of, "--out", str(work / "duckdb.parquet")],
        "polars": [sys.executable, __file__, "query", "polars", "--transactions", str(transactions),
                   "--as-of", args.as_of, "--out", str(work / "polars.parquet")],
    }
    names = {"ours": "churn-trainer", "duckdb": "duckdb", "polars": "polars"}
    selected = [names[t] for t in tools]
    manifest = json.loads((data / "generate.json").read_text())
    print(f"data: {data} ({manifest['rows']['transactions']:,} transactions, "
          f"{manifest['rows']['customers']:,} customers); as of {as_of}; {os.cpu_count()} cores; "
          f"best of {args.repeat} run(s)", flush=True)

    results = {}
    for tool in selected:
        runs = []
        for _ in range(args.repeat):
            wall, rss, stdout = measure(commands[tool])
            inner = json.loads(stdout.strip().splitlines()[-1])["seconds"] if tool != "churn-trainer" else None
            runs.append((wall, rss, inner))
            print(f"  {tool}: {wall:.2f} s, peak RSS {rss / 2**20:,.0f} MiB", file=sys.stderr, flush=True)
        best = min(runs, key=lambda r: r[0])
        results[tool] = {
            "seconds": round(best[0], 3),
            "median_seconds": round(statistics.median(r[0] for r in runs), 3),
            "in_process_seconds": None if best[2] is None else round(best[2], 3),
            "peak_rss_mib": round(max(r[1] for r in runs) / 2**20, 1),
        }

    # How long DuckDB takes to write a table as wide as ours: it reads our output and writes it again.
    width = None
    if "churn-trainer" in selected and "duckdb" in selected:
        command = [sys.executable, __file__, "copy", "--src", str(work / "churn-trainer.parquet"),
                   "--out", str(work / "duckdb-copy.parquet")]
        runs = [json.loads(measure(command)[2].strip().splitlines()[-1]) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        width = {"seconds": round(best["seconds"], 3), "write_seconds": round(best["write_seconds"], 3)}
        print(f"  duckdb copying our output: {best['seconds']:.2f} s, writing {best['write_seconds']:.2f} s",
              file=sys.stderr, flush=True)

    import pyarrow.parquet as pq

    for tool in selected:
        results[tool]["rows"] = pq.ParquetFile(work / f"{tool}.parquet").metadata.num_rows
    baseline = results.get("duckdb", {}).get("seconds")
    print()
    print(f"{'tool':<15} {'seconds':>9} {'median':>9} {'in-process':>11} {'vs DuckDB':>10} {'peak RSS MiB':>13} "
          f"{'rows':>11}")
    for tool in selected:
        r = results[tool]
        ratio = f"{r['seconds'] / baseline:.2f}x" if baseline else "-"
        inner = f"{r['in_process_seconds']:.2f}" if r["in_process_seconds"] is not None else "-"
        print(f"{tool:<15} {r['seconds']:>9.2f} {r['median_seconds']:>9.2f} {inner:>11} {ratio:>10} "
              f"{r['peak_rss_mib']:>13,.0f} {r['rows']:>11,}")

    if width:
        columns = len(pq.read_schema(work / "churn-trainer.parquet").names)
        print(f"\nDuckDB writing our output again ({columns} columns, Snappy), after reading it into memory: "
              f"{width['write_seconds']:.2f} s ({width['write_seconds'] / baseline:.2f}x its reference query)")
        width["columns"] = columns

    agreement = {}
    if len(selected) > 1:
        reference_tool = "duckdb" if "duckdb" in selected else selected[0]
        reference = load(work / f"{reference_tool}.parquet")
        full = args.ours_config == "full"
        print(f"\nagreement with {reference_tool} on its {reference.num_rows:,} customers:")
        for tool in selected:
            if tool == reference_tool:
                continue
            columns = FULL_CONFIG_COLUMNS if full and tool == "churn-trainer" else REFERENCE_COLUMNS
            mismatches = compare(reference, load(work / f"{tool}.parquet"), columns, reference_customers_only=full)
            print(f"  {tool:<15} compared: {', '.join(columns)}")
            agreement[tool] = mismatches
            bad = {k: v for k, v in mismatches.items() if v}
            print(f"  {'':<15} " + ("all agree for every customer" if not bad else f"DISAGREE: {bad}"))

    summary = {"data": str(data), "as_of": args.as_of, "horizon_days": args.horizon, "cores": os.cpu_count(),
               "transactions": manifest["rows"]["transactions"], "customers": manifest["rows"]["customers"],
               "ours_config": args.ours_config, "repeat": args.repeat, "results": results,
               "duckdb_writing_our_output": width, "agreement": agreement}
    (work / "features_bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nresults: {work / 'features_bench.json'}")
    return 1 if any(any(v for v in m.values()) for m in agreement.values()) else 0


def copy(args: argparse.Namespace) -> int:
    """DuckDB reading a Parquet file into memory, then writing it with Snappy (as ours is written)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{args.src}')")
    read = time.perf_counter()
    con.execute(f"COPY t TO '{args.out}' (FORMAT parquet, COMPRESSION snappy)")
    done = time.perf_counter()
    print(json.dumps({"tool": "duckdb", "seconds": done - started, "write_seconds": done - read}))
    return 0


def query(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    dates = [datetime.date.fromisoformat(d) for d in args.as_of.split(",")]
    {"duckdb": query_duckdb, "polars": query_polars}[args.tool](args.transactions, dates, args.out)
    print(json.dumps({"tool": args.tool, "seconds": time.perf_counter() - started}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="time the tools and check that they agree")
    p.add_argument("--data", required=True, help="folder written by `churn-trainer generate`")
    p.add_argument("--bin", required=True, help="the churn-trainer binary")
    p.add_argument("--as-of", default="2024-06-30", help="an as-of date, or several separated by commas")
    p.add_argument("--horizon", type=int, default=90, help="label horizon of our build, in days")
    p.add_argument("--tools", default="ours,duckdb,polars", help="comma-separated: ours, duckdb, polars")
    p.add_argument("--ours-config", choices=["transactions", "full"], default="transactions",
                   help="our build on the transactions only (like the peers) or on churn.toml (all inputs)")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is reported")
    p.add_argument("--work", help="folder for outputs (default DATA/runs)")
    p.set_defaults(handler=run)
    q = sub.add_parser("query", help="run one peer's reference query in this process")
    q.add_argument("tool", choices=["duckdb", "polars"])
    q.add_argument("--transactions", required=True)
    q.add_argument("--as-of", required=True, help="an as-of date, or several separated by commas")
    q.add_argument("--out", required=True)
    q.set_defaults(handler=query)
    c = sub.add_parser("copy", help="time DuckDB reading a Parquet file and writing it again")
    c.add_argument("--src", required=True)
    c.add_argument("--out", required=True)
    c.set_defaults(handler=copy)
    args = parser.parse_args()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
