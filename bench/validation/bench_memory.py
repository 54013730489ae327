"""Peak memory of validating a CSV upload in parts (``validate_upload_file``), for files of growing size.

A CSV of the validation bench's 25 columns (its contract: a unique id, bounds, allowed values, a regex; every
row valid, so the curated Parquet is written in full) is generated in a temporary directory for each size,
validated in a fresh process, and deleted. Memory is the process's peak resident size (Linux VmHWM, and
``ru_maxrss``) above its size once the libraries are imported; the whole-table path (``read_upload`` +
``validate_table`` + ``canonical_parquet``) is measured beside it on the smaller files. Usage:

    .venv/bin/python bench/validation/bench_memory.py [--gigabytes 0.25 0.5 2] [--whole-up-to 0.5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validation import CATEGORIES, N_CAT, N_FLOAT, N_INT, slipway_contract

ROWS_PER_WRITE = 200_000


def _rows(first: int, n: int, rng: np.random.Generator) -> pa.Table:
    columns: dict[str, Any] = {"i0": np.arange(first, first + n, dtype=np.int64)}  # unique ids
    for k in range(1, N_INT):
        columns[f"i{k}"] = rng.integers(0, 1_000, n)
    for k in range(N_FLOAT):
        columns[f"f{k}"] = np.round(rng.normal(100.0, 10.0, n).clip(0.0, 200.0), 4)
    for k in range(N_CAT):
        columns[f"c{k}"] = pa.array(np.asarray(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)])
    return pa.table(columns)


def write_csv(path: Path, gigabytes: float, seed: int = 5) -> int:
    """A valid CSV of about ``gigabytes``; returns its rows."""
    rng = np.random.default_rng(seed)
    rows = 0
    with pacsv.CSVWriter(str(path), _rows(0, 1, rng).schema) as writer:
        while path.stat().st_size < gigabytes * 1e9:
            writer.write_table(_rows(rows, ROWS_PER_WRITE, rng))
            rows += ROWS_PER_WRITE
    return rows


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _worker(mode: str, path: str) -> None:
    from slipway.domain.tables import canonical_parquet, read_upload
    from slipway.domain.upload_stream import validate_upload_file
    from slipway.domain.validation import apply_pii, validate_table

    contract = slipway_contract()
    Path("/proc/self/clear_refs").write_text("5")  # peak from here (Linux)
    base = _status_kib("VmRSS")
    start = time.perf_counter()
    if mode == "parts":
        curated = Path(path).with_suffix(".parquet")
        result = validate_upload_file(
            Path(path), "m/upload.csv", contract, lambda t: apply_pii(t, contract, "salt"), curated
        )
        ok, rows, curated_bytes = result.report.ok, result.rows, curated.stat().st_size if result.curated else 0
        curated.unlink(missing_ok=True)
    else:
        typed, report = validate_table(
            read_upload(Path(path).read_bytes(), "m/upload.csv", contract=contract), contract
        )
        ok, rows = report.ok, typed.num_rows
        curated_bytes = len(canonical_parquet(apply_pii(typed, contract, "salt"))) if ok else 0
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"ok": ok, "rows": rows, "seconds": seconds, "base_kib": base, "peak_kib": peak, "maxrss_kib": maxrss}
    print(json.dumps({**out, "curated_bytes": curated_bytes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, nargs="+", default=[0.25, 0.5, 2.0])
    parser.add_argument("--whole-up-to", type=float, default=0.5, help="measure the whole-table path up to this size")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    print(f"{'file':>8s} {'rows':>11s} {'path':>6s} {'seconds':>8s} {'peak RSS':>9s} {'above imports':>14s}")
    for size in args.gigabytes:
        with tempfile.TemporaryDirectory(prefix="slipway-bench-memory-") as tmp:
            path = Path(tmp) / "upload.csv"
            write_csv(path, size)
            gb = path.stat().st_size / 1e9
            for mode in ("parts", "whole") if size <= args.whole_up_to else ("parts",):
                command = [sys.executable, __file__, "--worker", mode, str(path)]
                run = subprocess.run(command, check=True, capture_output=True, text=True)
                r = json.loads(run.stdout.strip().splitlines()[-1])
                assert r["ok"], r
                print(
                    f"{gb:6.2f} GB {r['rows']:11,d} {mode:>6s} {r['seconds']:8.1f} {r['peak_kib'] / 1024:6.0f} MiB "
                    f"{(r['peak_kib'] - r['base_kib']) / 1024:10.0f} MiB"
                )


if __name__ == "__main__":
    main()
