"""The console on a big registry: a model with 1,000 versions and 10,000 runs seeded into dev's table of the local
cloud (in-process moto), then each page served by the console (`slipway_cli.console`) timed and its DynamoDB and S3
requests counted (the page's footer); with Debian's chromium, the model page's first contentful paint and the moment
its chart is drawn.

    .venv/bin/python bench/ui/bench_ui.py [--versions 1000] [--runs 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from slipway import layout  # noqa: E402
from slipway.adapters.metadata import _to_dynamo  # noqa: E402 - the adapter's own item encoding
from slipway.stores import audit  # noqa: E402
from slipway.stores.registry import ModelRegistry  # noqa: E402
from slipway_cli.console.server import running  # noqa: E402
from slipway_cli.target import Target, target_in  # noqa: E402
from slipway_local import LocalCloud  # noqa: E402

MODEL = "churn-big"
PROMOTION_EVERY = 100  # one run of the listing in a hundred is a promotion of the model
FOOTER = re.compile(r"(\d+) requests to DynamoDB and S3 · rendered in (\d+) ms")


def seed(cloud: LocalCloud, dev: Target, versions: int, runs: int) -> float:
    """Version items and run items as register_version and the training machine write them (metrics, params,
    artifacts, listings), in batches of 25; aliases moved through the registry (logged)."""
    started = time.perf_counter()
    rng = random.Random(7)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    items: list[dict[str, Any]] = []
    run_ids = [f"{MODEL}-part-{n:05d}-{rng.getrandbits(96):024x}" for n in range(runs)]
    for n, run_id in enumerate(run_ids):
        started_at = (at + timedelta(minutes=n)).isoformat()
        if n % PROMOTION_EVERY == PROMOTION_EVERY - 1:  # a promotion of the model into dev, among the runs
            items.append(
                layout.item(
                    layout.run_key(run_id), run_id=run_id, model=MODEL, kind="promotion", status="SUCCEEDED",
                    source_env="dev", target_env="dev", source_version=1 + n // (runs // versions),
                    started_at=started_at, ended_at=started_at, **layout.run_listing(started_at, run_id),
                )
            )  # fmt: skip
            continue
        items.append(
            layout.item(
                layout.run_key(run_id), run_id=run_id, model=MODEL, status="SUCCEEDED", outcome="registered",
                started_at=started_at, ended_at=started_at, dataset_version=f"{rng.getrandbits(256):064x}",
                spec_version=f"{rng.getrandbits(256):064x}", gate_passed=True, gate_summary="passed all 3 gates",
                test_metrics={"roc_auc": 0.7 + rng.random() / 10, "accuracy": 0.8 + rng.random() / 20},
                best_candidate=0, **layout.run_listing(started_at, run_id),
            )
        )  # fmt: skip
        algorithm = "lightgbm" if n % 3 == 0 else "random_forest"  # the winner, as the train step records it
        items.append(layout.item(layout.candidate_key(run_id, 0), run_id=run_id, index=0, algorithm=algorithm))
    for v in range(1, versions + 1):
        run_id = run_ids[(v - 1) * (runs // versions)]
        items.append(
            layout.item(
                layout.version_key(MODEL, v), model=MODEL, version=v, run_id=run_id,
                registered_at=(at + timedelta(minutes=(v - 1) * (runs // versions))).isoformat(),
                algorithm="random_forest", params_json=json.dumps({"n_estimators": 60, "max_depth": 8}),
                task="classification", metric="roc_auc", dataset_version=f"{rng.getrandbits(256):064x}",
                spec_version=f"{rng.getrandbits(256):064x}",
                test_metrics={"roc_auc": 0.7 + rng.random() / 10, "accuracy": 0.8 + rng.random() / 20,
                              "log_loss": 0.4 + rng.random() / 10, "f1": 0.3 + rng.random() / 10},
                validation_metrics={"roc_auc": 0.7 + rng.random() / 10},
                artifacts={name: {"uri": f"s3://{dev.settings.artifacts_bucket}/models/{MODEL}/runs/{run_id}/{name}",
                                  "sha256": f"{rng.getrandbits(256):064x}"}
                           for name in (layout.MODEL_ONNX, layout.MODEL_SKOPS, layout.MODEL_CARD_HTML)},
                **layout.version_listing(MODEL, v),
            )
        )  # fmt: skip
    items.append(layout.item(layout.version_counter_key(MODEL), value=versions))
    for v in range(1, versions + 1):  # production moved to each version in turn (the registry's log items)
        moved = (at + timedelta(minutes=(v - 1) * (runs // versions), seconds=30)).isoformat()
        items.append(
            layout.item(
                layout.alias_log_key(MODEL, moved, "production"), alias="production", version=v,
                previous_version=v - 1 if v > 1 else None, actor="arn:aws:iam::1:user/bench", reason=f"release {v}",
                at=moved,
            )
        )  # fmt: skip
        if v % 5 == 0:  # an approval answered every fifth release
            items.append(audit.entry(MODEL, "approved", at=moved, principal="arn:aws:iam::1:user/bench", reason="ok"))
    db = dev.client("dynamodb")
    table = dev.settings.metadata_table
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": _to_dynamo(i)}} for i in items[start : start + 25]]
        db.batch_write_item(RequestItems={table: batch})
    registry = ModelRegistry.of(dev.deps)
    registry.set_alias(MODEL, "production", versions - 1, actor="bench", reason="seeded")
    registry.set_alias(MODEL, "challenger", versions, actor="bench", reason="seeded", weight=0.1)
    registry.set_alias(MODEL, "candidate", versions, actor="bench", reason="seeded")
    return time.perf_counter() - started


def fetch(url: str) -> tuple[float, int, int]:
    """(seconds to the whole page, requests it made, server's own ms)."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read().decode()
    elapsed = time.perf_counter() - started
    found = FOOTER.search(body)
    assert found, f"{url}: no footer (status {response.status})"
    return elapsed, int(found.group(1)), int(found.group(2))


def first_paint(url: str) -> dict[str, float] | None:
    """Chromium's first contentful paint of the page and when its chart was drawn (ms from navigation start)."""
    try:
        from playwright.sync_api import sync_playwright

        from tests.browser.chromium import CHROMIUM, FLAGS, available
    except ModuleNotFoundError:
        return None
    if not available():
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        logged: list[str] = []
        page.on("console", lambda m: logged.append(m.text))
        page.on("pageerror", lambda e: logged.append(str(e)))
        page.goto(url, wait_until="load")  # once for the browser's cache of plotly.min.js, as a second visit has
        page.goto(url, wait_until="load")
        try:
            page.wait_for_selector("#metric-plot .scatterlayer .point", state="attached", timeout=15_000)
        except Exception as e:
            state = page.evaluate(
                "({plotly: typeof Plotly, plot: !!document.querySelector('#metric-plot'),"
                " html: (document.querySelector('#metric-plot') || {}).innerHTML?.length, url: location.href})"
            )
            raise RuntimeError(f"the chart was not drawn: {logged} {state}") from e
        paint = page.evaluate(
            "({response: performance.getEntriesByType('navigation')[0].responseEnd,"
            " fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,"
            " load: performance.getEntriesByType('navigation')[0].loadEventEnd, drawn: performance.now()})"
        )
        browser.close()
    return {k: float(v) for k, v in paint.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    with LocalCloud(log_level="ERROR", rehearse=False) as cloud:
        print(f"local cloud (3 accounts) in {time.perf_counter() - started:.1f} s")
        dev = target_in(cloud, "dev")
        took = seed(cloud, dev, args.versions, args.runs)
        print(f"seeded {args.versions:,} versions and {args.runs:,} runs of {MODEL} in {took:.1f} s")
        middle = args.versions // 2
        some_run = ModelRegistry.of(dev.deps).get_version(MODEL, middle)["run_id"]
        moved = ModelRegistry.of(dev.deps).alias_log(MODEL)[middle - 1]
        pages = {
            "models": "/models",
            "model (newest 25 versions)": f"/env/dev/models/{MODEL}",
            f"model (versions before {middle})": f"/env/dev/models/{MODEL}?before={middle}",
            f"model (alias moves before the {middle}th)": f"/env/dev/models/{MODEL}?"
            + urlencode({"history_before": f"{moved['at']}#production"}),
            f"model (promotions after run {middle})": f"/env/dev/models/{MODEL}?promotions_after={some_run}",
            f"version {middle}": f"/env/dev/models/{MODEL}/versions/{middle}",
            "compare 3 versions": f"/env/dev/models/{MODEL}/compare?v=1&v={middle}&v={args.versions}",
            "runs (newest 25)": "/env/dev/runs",
            f"runs of {MODEL} after run {middle}": f"/env/dev/runs?model={MODEL}&after={some_run}",
            "runs with the algorithm column": "/env/dev/runs?col=status&col=algorithm&col=started",
            "runs whose winner is lightgbm": "/env/dev/runs?algorithm=lightgbm&col=algorithm",
            "runs that FAILED (none: a page reads 400)": "/env/dev/runs?status=FAILED",
            "approvals": "/approvals",
        }
        with running({"dev": dev}) as base:
            print(f"\n| page | median of {args.repeat} | best | requests to DynamoDB and S3 |")
            print("|---|---:|---:|---:|")
            for name, path in pages.items():
                fetch(base + path)  # warm: clients, templates
                timed = [fetch(base + path) for _ in range(args.repeat)]
                seconds = [t[0] for t in timed]
                print(
                    f"| {name} | {statistics.median(seconds) * 1000:.0f} ms | {min(seconds) * 1000:.0f} ms "
                    f"| {timed[0][1]} |"
                )
            paint = first_paint(f"{base}/env/dev/models/{MODEL}")
        if paint is None:
            print("\n(no chromium: first paint not measured)")
        else:
            print(
                f"\nmodel page in Chromium (ms from navigation start): page received {paint['response']:.0f}, first"
                f" contentful paint {paint['fcp']:.0f}, load {paint['load']:.0f}, chart drawn by {paint['drawn']:.0f}"
                " (plotly.min.js from the browser's cache)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
