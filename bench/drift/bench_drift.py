"""Side-by-side: slipway's drift check against a stored reference profile vs Evidently's DataDriftPreset, on
25 columns (20 numeric, 5 categorical) with 5 drifted (3 numeric, 2 categorical), at 100k and 1M rows; plus an
undrifted window of each size (false alarms).

The reference is 100k rows. slipway profiles it once (as validate does at training time; not timed) and judges
the current window against the profile: ``domain.drift.feature_drift`` on float64 columns and Arrow categories.
Evidently gets both DataFrames (its reference is data, not a profile) and its default tests (Wasserstein /
Jensen–Shannon at these sizes). Each tool runs in its own fresh process (Evidently in its own venv: it pins
pandas < 3) that loads the same Parquet files, loading not timed. Time: best of 3 after one cold run (slipway),
one run (Evidently at 1M takes minutes); memory: peak resident growth over the runs above the resident size
after loading (Linux VmHWM, reset through /proc/self/clear_refs). Usage:

    make bench-drift          # or: .venv/bin/python bench/drift/bench_drift.py --evidently-venv /tmp/evidently-venv
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

NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORIES = [f"c{i}" for i in range(5)]
LEVELS = np.array(["a", "b", "c", "d", "e", "f"])
WEIGHTS = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
DRIFTED = ["x03", "x07", "x15", "c1", "c4"]
REFERENCE_ROWS = 100_000


def make_frame(rows: int, seed: int, drifted: tuple[str, ...] = ()) -> pd.DataFrame:
    """Normal columns of varied scale (a drifted one shifts by 0.5 sd), categories with skewed shares (a drifted
    one reverses them)."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        loc, scale = 10.0 * i, 1.0 + i
        data[name] = rng.normal(loc + (0.5 * scale if name in drifted else 0.0), scale, rows)
    for name in CATEGORIES:
        data[name] = rng.choice(LEVELS, size=rows, p=WEIGHTS[::-1] if name in drifted else WEIGHTS)
    return pd.DataFrame(data)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _measure(run: Callable[[], list[str]], repeats: int) -> dict[str, Any]:
    before = _status_kib("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    found = run()
    first = time.perf_counter() - start
    best = first
    for _ in range(repeats):
        start = time.perf_counter()
        found = run()
        best = min(best, time.perf_counter() - start)
    return {
        "first_seconds": first,
        "seconds": best,
        "drifted": sorted(found),
        "peak_bytes": (_status_kib("VmHWM") - before) * 1024,
    }


def run_slipway(reference: str, current: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slipway.domain.drift import feature_drift
    from slipway.domain.profile import profile_table
    from slipway.spec.data import DataContract
    from slipway.spec.monitoring import MonitoringSpec

    columns = [{"name": n, "type": "float"} for n in NUMERIC] + [{"name": c, "type": "category"} for c in CATEGORIES]
    contract = DataContract.model_validate({"columns": [*columns, {"name": "y", "type": "int"}], "target": "y"})
    ref = pq.read_table(reference)
    profile = profile_table(ref.append_column("y", pa.array(np.zeros(ref.num_rows, np.int64))), contract)
    table = pq.read_table(current)
    numeric = {n: table.column(n).to_numpy() for n in NUMERIC}
    categorical = {c: table.column(c).combine_chunks() for c in CATEGORIES}
    spec = MonitoringSpec()
    return _measure(
        lambda: [f.name for f in feature_drift(profile, numeric, categorical, spec) if f.verdict == "drift"], repeats=3
    )


def run_evidently(reference: str, current: str) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)

    def check() -> list[str]:
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        drifted = []
        for metric in snapshot.dict()["metrics"]:
            config = metric.get("config", {})
            if config.get("type", "").endswith("ValueDrift"):
                threshold = config.get("threshold")
                method = str(config.get("method", ""))
                value = float(metric["value"])
                is_p_value = "p_value" in method or ("test" in method.lower() and "distance" not in method.lower())
                if (value < threshold) if is_p_value else (value >= threshold):
                    drifted.append(config["column"])
        return drifted

    return _measure(check, repeats=0)


def worker(argv: list[str]) -> None:
    tool, reference, current = argv
    result = {"slipway": run_slipway, "evidently": run_evidently}[tool](reference, current)
    print(json.dumps(result))


def _run(python: str, tool: str, reference: Path, current: Path) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    env_path = f"{root / 'layers' / 'core'}"
    out = subprocess.run(
        [python, __file__, "--worker", tool, str(reference), str(current)],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--evidently-venv", help="a venv with evidently==0.7.23 and pandas<3 (skipped without)")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reference = folder / "reference.parquet"
        make_frame(REFERENCE_ROWS, seed=1).to_parquet(reference)
        print(f"reference {REFERENCE_ROWS:,} rows × 25 columns; drifted columns injected: {', '.join(DRIFTED)}")
        print(f"{'rows':>10} {'window':<9} {'tool':<10} {'seconds':>9} {'cold s':>8} {'peak MB':>8}  drifted columns")
        for rows in args.rows:
            for label, drifted in (("drifted", tuple(DRIFTED)), ("undrifted", ())):
                current = folder / f"{label}-{rows}.parquet"
                make_frame(rows, seed=2 + rows, drifted=drifted).to_parquet(current)
                tools = [("slipway", sys.executable)]
                if args.evidently_venv:
                    tools.append(("evidently", str(Path(args.evidently_venv) / "bin" / "python")))
                results = {}
                for tool, python in tools:
                    r = results[tool] = _run(python, tool, reference, current)
                    print(
                        f"{rows:>10,} {label:<9} {tool:<10} {r['seconds']:>9.3f} {r['first_seconds']:>8.3f} "
                        f"{r['peak_bytes'] / 2**20:>8.0f}  {', '.join(r['drifted']) or '—'}",
                        flush=True,
                    )
                if "evidently" in results:
                    ratio = results["evidently"]["seconds"] / results["slipway"]["seconds"]
                    same = results["evidently"]["drifted"] == results["slipway"]["drifted"]
                    print(f"{'':>10} {'':<9} ratio      {ratio:>8.0f}×  same drifted columns: {same}", flush=True)


if __name__ == "__main__":
    main()
