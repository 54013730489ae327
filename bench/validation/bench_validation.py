"""Side-by-side: slipway validate_table vs pandera on 1M rows x 25 columns with injected faults.

Each tool runs in its own fresh worker process that loads the same Parquet file (slipway as
an Arrow table, pandera as a pandas DataFrame), so imports and memory are not shared. Time is
the best of 3 runs after one cold run (also shown); memory is the peak resident growth over
all four runs above the resident size after loading (Linux VmHWM, reset before the first run).
Both tools must count the same bad values as were injected. Usage:

    .venv/bin/python bench/validation/bench_validation.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_INT, N_FLOAT, N_CAT = 10, 10, 5
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]
BAD_PER_KIND = 20  # per (column, fault) pair below; 20 pairs -> 400 bad values


def make_frame(rows: int, seed: int = 11) -> tuple[pd.DataFrame, int]:
    """The benchmark table with a known number of injected bad values."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"i0": rng.permutation(rows).astype(np.int64)}  # unique id-like column
    for k in range(1, N_INT):
        data[f"i{k}"] = rng.integers(0, 1_000, rows, dtype=np.int64)
    for k in range(N_FLOAT):
        data[f"f{k}"] = rng.normal(100.0, 10.0, rows).clip(0.0, 200.0)
    for k in range(N_CAT):
        data[f"c{k}"] = pd.Categorical(rng.choice(CATEGORIES, rows), categories=[*CATEGORIES, "BAD", "bad!"])
    df = pd.DataFrame(data)
    bad = 0
    # every fault goes to its own rows, none among the first 20 (whose ids get duplicated)
    free = iter(np.split(rng.permutation(np.arange(BAD_PER_KIND, rows))[: 20 * BAD_PER_KIND], 20))

    def rows_for(_: str) -> np.ndarray:
        return next(free)

    df.loc[rows_for("dup"), "i0"] = df["i0"].iloc[:BAD_PER_KIND].to_numpy()
    bad += BAD_PER_KIND
    for k in (1, 2, 3, 4):
        df.loc[rows_for("lo"), f"i{k}"] = -5
        df.loc[rows_for("hi"), f"i{k}"] = 5_000
        bad += 2 * BAD_PER_KIND
    df.loc[rows_for("hi"), "i5"] = 1_001
    bad += BAD_PER_KIND
    for k in (0, 1, 2):
        df.loc[rows_for("lo"), f"f{k}"] = -1.0
        df.loc[rows_for("null"), f"f{k}"] = np.nan
        bad += 2 * BAD_PER_KIND
    df.loc[rows_for("allowed"), "c0"] = "BAD"
    df.loc[rows_for("allowed"), "c1"] = "BAD"
    df.loc[rows_for("regex"), "c2"] = "bad!"
    df.loc[rows_for("null"), "c3"] = None
    bad += 4 * BAD_PER_KIND
    return df, bad


def slipway_contract() -> Any:
    from slipway.spec import DataContract

    cols: list[dict[str, Any]] = [{"name": "i0", "type": "int", "unique": True, "min": 0}]
    cols += [{"name": f"i{k}", "type": "int", "min": 0, "max": 1_000} for k in range(1, N_INT)]
    cols += [{"name": f"f{k}", "type": "float", "min": 0.0, "max": 200.0, "nullable": k >= 3} for k in range(N_FLOAT)]
    cols += [{"name": f"c{k}", "type": "category", "allowed": CATEGORIES} for k in (0, 1, 3, 4)]
    cols.insert(-2, {"name": "c2", "type": "category", "regex": "[a-z]+"})
    return DataContract.model_validate({"columns": cols, "target": "i1"})


def pandera_schema() -> Any:
    import pandera.pandas as pa

    cols: dict[str, Any] = {"i0": pa.Column("int64", pa.Check.ge(0), unique=True, report_duplicates="exclude_first")}
    for k in range(1, N_INT):
        cols[f"i{k}"] = pa.Column("int64", pa.Check.in_range(0, 1_000))
    for k in range(N_FLOAT):
        cols[f"f{k}"] = pa.Column("float64", pa.Check.in_range(0.0, 200.0), nullable=k >= 3)
    for k in range(N_CAT):
        check = pa.Check.str_matches(r"^(?:[a-z]+)$") if k == 2 else pa.Check.isin(CATEGORIES)
        cols[f"c{k}"] = pa.Column("category", check)
    return pa.DataFrameSchema(cols, strict=True)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _measure(run: Callable[[], int]) -> dict[str, float]:
    """First (cold) run, then the best of 3 warm runs; peak resident growth over all four."""
    _reset_peak()
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    found = run()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        found = run()
        best = min(best, time.perf_counter() - start)
    peak = (_status_kib("VmHWM") - before) * 1024
    return {"first_seconds": first, "seconds": best, "found": found, "peak_bytes": peak}


def run_slipway(path: str, max_workers: int | None = None) -> dict[str, float]:
    import pyarrow.parquet as pq

    from slipway.domain.validation import validate_table

    table, contract = pq.read_table(path), slipway_contract()
    validate_table(table.slice(0, 1000), contract, max_workers=max_workers)  # imports and kernels

    def run() -> int:
        _, report = validate_table(table, contract, max_workers=max_workers)
        return sum(f.count for f in report.failures)

    return _measure(run)


def run_pandera(path: str) -> dict[str, float]:
    import pandera.errors

    df, schema = pd.read_parquet(path), pandera_schema()

    def run(frame: pd.DataFrame = df) -> int:
        try:
            schema.validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            return len(exc.failure_cases)
        return 0

    run(df.head(1000))  # imports and first-call setup
    return _measure(run)


TOOLS = {
    "slipway": run_slipway,  # default: columns checked in a thread pool of min(4, cpus)
    "slipway-1-thread": lambda path: run_slipway(path, max_workers=1),
    "pandera": run_pandera,
}


def _worker(tool: str, path: str) -> None:
    print(json.dumps(TOOLS[tool](path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    df, injected = make_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.parquet")
        df.to_parquet(path)
        results = {}
        for tool in TOOLS:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", tool, path], check=True, capture_output=True, text=True
            )
            results[tool] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.rows:,} rows x {df.shape[1]} columns, {injected} injected bad values")
    print(f"{'tool':18s} {'best of 3':>10s} {'first run':>10s} {'peak extra':>11s} {'bad values':>11s}")
    for tool, r in results.items():
        print(
            f"{tool:18s} {r['seconds'] * 1e3:7.1f} ms {r['first_seconds'] * 1e3:7.1f} ms "
            f"{r['peak_bytes'] / 2**20:7.1f} MiB {r['found']:11d}"
        )
    p = results["pandera"]
    for tool in ("slipway", "slipway-1-thread"):
        s = results[tool]
        print(
            f"pandera / {tool}: time {p['seconds'] / s['seconds']:.1f}x, "
            f"peak memory {p['peak_bytes'] / max(s['peak_bytes'], 1):.1f}x"
        )
    counts = {tool: r["found"] for tool, r in results.items()}
    if set(counts.values()) != {injected}:
        print(f"MISMATCH: injected {injected}, found {counts}")
        sys.exit(1)


if __name__ == "__main__":
    main()
