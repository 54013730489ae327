"""Before/after of the infer function on one trained model, interleaved, for changes smaller than the
noise between two separate runs of bench_serving.py on a shared machine.

  warm: both app.py files loaded in ONE process (this checkout's slipway layer, one service each, captures
        in memory), timed in alternating blocks of 200 handler calls on the same v2 event; the "before"
        app also gets pydantic's own PredictBody repr back. session.run, ServedModel.predict (the row →
        arrays conversion and the model call: the yardstick of the handler's goal, within 2× of it) and
        InferenceService.predict are timed in the same blocks.
  cold: fresh processes alternating between the two checkouts (PYTHONPATH = their layers/core, their
        functions/infer/app.py), each through the function's own composition against one moto server
        that serves the trained registry: spawn → first answer; and, interleaved with them, the after
        checkout's SnapStart path (cold_start.py restore): the before-snapshot hooks, then timed apart
        the after-restore hooks and the first prediction.

    git worktree add /tmp/slipway-before main        # or: mkdir D && git archive main | tar -x -C D
    .venv/bin/python bench/serving/ab_serving.py --before /tmp/slipway-before
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import bench_serving as bench  # noqa: E402 - the bench's helpers, after its folder is on the path


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm_child(before: Path, event: dict[str, Any], blocks: int) -> dict[str, Any]:
    """In a child process whose environment points the function at the moto server."""
    from pydantic import BaseModel

    from slipway.domain.model_input import model_input_from_records
    from slipway.serving.captures import BackgroundCaptures
    from slipway.serving.http import PredictBody

    apps = {
        "before": _load(before / "functions" / "infer" / "app.py", "infer_before"),
        "after": _load(ROOT / "functions" / "infer" / "app.py", "infer_after"),
    }
    reprs = {"before": BaseModel.__repr__, "after": PredictBody.__repr__}
    context = bench.Context()
    row = json.loads(event["body"])["instances"][0]
    calls: dict[str, Any] = {}
    answers = {}
    with contextlib.redirect_stdout(open(os.devnull, "w")):  # EMF lines
        for name, app in apps.items():
            PredictBody.__repr__ = reprs[name]  # type: ignore[method-assign]
            answers[name] = json.loads(app.lambda_handler(event, context)["body"])["probabilities"]
            service = app._service(app.deps())  # the instance each app's service() returns
            service.captures = BackgroundCaptures(bench.MemorySink())
            calls[name] = lambda app=app: app.lambda_handler(event, context)
        served = service.served(bench.MODEL, service.routing(bench.MODEL).production)
        feed = model_input_from_records([row], served.inputs)
        read = served.reader.read([row])[0]  # the row as the service hands it to the model
        calls["InferenceService.predict"] = lambda: service.predict(bench.MODEL, [row], "r")
        calls["ServedModel.predict"] = lambda: served.predict(read)
        calls["session.run"] = lambda: served.session.run(["probabilities"], feed)
        samples: dict[str, list[int]] = {name: [] for name in calls}
        clock = time.perf_counter_ns
        for block in range(blocks + 1):  # block 0 warms up
            for name, call in calls.items():
                PredictBody.__repr__ = reprs.get(name, reprs["after"])  # type: ignore[method-assign]
                for _ in range(200):
                    t = clock()
                    call()
                    if block:
                        samples[name].append(clock() - t)
    if answers["before"] != answers["after"]:
        raise SystemExit(f"the two handlers answer differently: {answers}")
    out: dict[str, Any] = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "p50_us": bench.percentile(values, 0.5) / 1000,
            "p99_us": bench.percentile(values, 0.99) / 1000,
            "calls": len(values),
        }
    return out


def cold(before: Path, env: dict[str, str], event: dict[str, Any], runs: int) -> dict[str, Any]:
    cases = {"before": ("slipway", before), "after": ("slipway", ROOT), "after, SnapStart path": ("restore", ROOT)}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (kind, root) in cases.items():
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump({"path": [str(root / "functions" / "infer")], "event": event}, f)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-B", str(HERE / "cold_start.py"), kind, f.name],
                env={**env, "PYTHONPATH": str(root / "layers" / "core")},
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - started
            os.unlink(f.name)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{name}: {done.stderr[-3000:]}")
            result = json.loads(line[7:])
            if result["status"] != 200:
                raise SystemExit(f"{name} answered {result['status']}: {result['body']}")
            results[name].append({**result, "wall_s": wall})
    summary: dict[str, Any] = {}
    for name, samples in results.items():
        for sample in samples:  # a fresh process's imports to its first answer (the hooks in between, if any)
            hooks = sample.get("before_snapshot_s", 0.0) + sample.get("after_restore_s", 0.0)
            sample["imports_to_answer_s"] = sample["import_s"] + hooks + sample["first_call_s"]
        keys = [k for k in samples[0] if k.endswith("_s") and k != "before_import_s"]
        summary[name] = {k: statistics.median(s[k] for s in samples) * 1000 for k in keys}
        summary[name].update(
            best_ms=min(s["total_s"] for s in samples) * 1000, modules=samples[0]["modules"], runs=len(samples)
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare against")
    parser.add_argument("--blocks", type=int, default=25, help="warm: blocks of 200 calls per case")
    parser.add_argument("--cold-runs", type=int, default=15, help="cold: fresh processes per checkout")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--warm-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_child:
        event = json.loads(args.warm_child.read_text())
        print("RESULT " + json.dumps(warm_child(args.before, event, args.blocks)))
        return

    from moto.server import ThreadedMotoServer

    print(f"load average at start: {bench.load_average()}", flush=True)
    cloud, dev, _ = bench.train(args.rows)
    port = bench.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = bench.infer_environment(cloud, dev, port)
        event = bench.http_event(json.dumps({"instances": [bench.client_row()]}), request_id="ab")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(event, f)
        print(f"warm: load {bench.load_average()}", flush=True)
        child = [sys.executable, "-B", __file__, "--before", str(args.before), "--blocks", str(args.blocks)]
        done = subprocess.run(
            [*child, "--warm-child", f.name],
            env={**env, "PYTHONPATH": str(ROOT / "layers" / "core")},
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(done.stderr[-3000:])
        warm = json.loads(line[7:])
        print(f"cold: load {bench.load_average()}", flush=True)
        cold_starts = cold(args.before, env, event, args.cold_runs)
    finally:
        server.stop()
    print(f"\nwarm, one row, p50/p99 µs ({args.blocks} alternating blocks of 200 calls per case)\n")
    print("| case | p50 µs | p99 µs |\n|---|---:|---:|")
    for name, figures in warm.items():
        print(f"| {name} | {figures['p50_us']:.1f} | {figures['p99_us']:.1f} |")
    print(f"\nafter ÷ before, handler p50: {warm['after']['p50_us'] / warm['before']['p50_us']:.2f}")
    yardstick = warm["ServedModel.predict"]["p50_us"]
    for name in ("before", "after"):
        print(f"{name}: handler p50 ÷ ServedModel.predict p50 = {warm[name]['p50_us'] / yardstick:.2f} (goal ≤ 2)")
    print(f"\ncold start, fresh process → first answer, medians of {args.cold_runs} alternating runs (ms)\n")
    print(
        "| case | imports | before-snapshot hooks | after-restore hooks | first call | imports → answer"
        " | spawn → answer | best | modules |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name, c in cold_starts.items():
        hooks = [f"{c[k]:.0f}" if k in c else "" for k in ("before_snapshot_s", "after_restore_s")]
        print(
            f"| {name} | {c['import_s']:.0f} | {hooks[0]} | {hooks[1]} | {c['first_call_s']:.0f} |"
            f" {c['imports_to_answer_s']:.0f} | {c['total_s']:.0f} | {c['best_ms']:.0f} | {c['modules']} |"
        )
    restored = cold_starts["after, SnapStart path"]
    print(
        f"\nSnapStart path: after-restore hooks + first prediction {restored['restored_total_s']:.0f} ms"
        f" (hooks {restored['after_restore_s']:.0f}, first call {restored['first_call_s']:.0f})"
    )
    if args.json:
        args.json.write_text(json.dumps({"warm": warm, "cold": cold_starts}, indent=1))
    print(f"\nload average at the end: {bench.load_average()}")


if __name__ == "__main__":
    main()
