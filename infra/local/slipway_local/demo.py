"""`slipway demo`: the whole loop on embedded sample data in the in-process local cloud, shown
the way an operator would watch it: upload → validated → features → candidates → evaluated →
registered, a second upload against the champion, a corrupted upload quarantined, then serving:
version 1 in production over the HTTP API, and version 2 as a 20 % challenger."""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway import layout
from slipway.objects import S3Object
from slipway.registry import ModelRegistry
from slipway.specstore import push_spec
from slipway_cli import serving
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes, to_parquet_bytes
from slipway_cli.target import Target
from slipway_local.cloud import LocalCloud
from slipway_local.packaging import REPO_ROOT
from slipway_local.progress import follow_execution
from slipway_local.target import target_in

SPEC_PATH = REPO_ROOT / "specs" / "churn.yaml"
SHOWN_METRICS = ("roc_auc", "f1", "precision", "recall", "accuracy", "log_loss")


def _upload(cloud: LocalCloud, target: Target, key: str, body: bytes, console: Console) -> dict[str, Any]:
    known = {e["executionArn"] for e in cloud.executions(target.env)}
    target.client("s3").put_object(Bucket=target.outputs["RawBucketName"], Key=key, Body=body)
    console.print(f"uploaded [bold]s3://{target.outputs['RawBucketName']}/{key}[/] ({len(body) / 1e6:.2f} MB)")
    arn = cloud.wait_for_new_execution(target.env, known)
    console.print(
        f"execution [bold]{arn.rsplit(':', 1)[1]}[/] started by S3 → EventBridge → start-training → Step Functions"
    )
    return follow_execution(target.client("stepfunctions"), arn, console)


def _show_model(console: Console, target: Target, model: dict[str, Any], out_dir: Path) -> None:
    registry = ModelRegistry.of(target.deps)
    item = registry.get_version(model["model"], model["version"])
    evaluation = target.deps.store.get_json(S3Object.parse(item["evaluation_uri"]))
    params = ", ".join(f"{k}={v}" for k, v in item["params"].items())
    table = Table(title=f"{model['model']} v{model['version']}: {item['algorithm']}({params})")
    table.add_column("metric (test split)")
    table.add_column("challenger", justify="right")
    champion = evaluation.get("champion")
    if champion:
        table.add_column(f"champion v{champion['version']}", justify="right")
    for metric in SHOWN_METRICS:
        row = [metric, f"{item['test_metrics'][metric]:.4f}"]
        if champion:
            row.append(f"{champion['metrics'][metric]:.4f}")
        table.add_row(*row)
    console.print(table)
    console.print(f"gate decision: [bold]{escape(item['gate'])}[/]")
    console.print(
        f"ONNX export: {item['onnx']['status']} (max {item['onnx'].get('measure', '')} "
        f"|Δ| vs scikit-learn {item['onnx'].get('max_diff', float('nan')):.1e})"
    )
    card = target.deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_CARD_HTML]["uri"]))
    card_path = out_dir / f"{model['model']}-v{model['version']}-model-card.html"
    card_path.write_bytes(card)
    console.print(f"model card saved to [bold]{card_path.resolve()}[/]")
    console.print(f"aliases: {registry.aliases(model['model'])}")


def _show_quarantine(console: Console, target: Target, result: dict[str, Any]) -> None:
    cause = json.loads(result.get("cause") or "{}")
    details = cause.get("errorMessage", "")
    report_uri = json.loads(details[details.index("{") :]).get("report_uri") if "{" in details else None
    if not report_uri:
        return
    report = target.deps.store.get_json(S3Object.parse(report_uri))
    table = Table(title=f"quarantine report: {report_uri}")
    for column in ("column", "check", "count", "example rows", "message"):
        table.add_column(column)
    for f in report["failures"]:
        table.add_row(
            escape(str(f["column"] or "—")),
            f["check"],
            str(f["count"]),
            ", ".join(map(str, f["examples"])),
            escape(f["message"][:90]),
        )
    console.print(table)
    console.print(f"raw object left untouched; a copy sits at {report['quarantined_copy']}")


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Customers as a client application sends them: JSON values, dates as ISO strings."""
    frame = make_churn(n_rows=n, seed=seed).drop(columns=["churned"])
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    for row in rows:
        row["signup_date"] = row["signup_date"][:10]
    return rows


def _serve(console: Console, cloud: LocalCloud, dev: Target) -> None:
    """Version 1 in production over the HTTP API; version 2 as a challenger on 20 % of customers."""
    url = cloud.api_url("dev")
    moved = serving.aliases_set(dev, "churn", "production", 1, reason="demo: first release", expect_previous="none")
    console.print(f"churn@production → version 1 (by {escape(moved['updated_by'])})")
    row = _rows(1, seed=99)[0]
    body = json.dumps({"instances": [row]})
    console.print("the request, as curl sends it (SigV4-signed with the dev profile's keys):")
    console.print(
        f"  curl --aws-sigv4 'aws:amz:us-east-1:execute-api' --user \"$KEY:$SECRET\" "
        f"-H 'content-type: application/json' \\\n    -d '{escape(body[:160])}…' {url}/v1/models/churn/predict"
    )
    started = time.perf_counter()
    answer = serving.post_json(dev, f"{url}/v1/models/churn/predict", {"instances": [row]})
    elapsed = (time.perf_counter() - started) * 1000
    console.print(f"answer in {elapsed:.1f} ms: {escape(json.dumps(answer)[:300])}")

    serving.aliases_set(dev, "churn", "challenger", 2, weight=0.2, reason="demo: A/B of version 2")
    console.print(
        "churn@challenger → version 2 at 20 % (sticky by customer id; warm functions re-read aliases within 5 s)"
    )
    customers = _rows(1_000, seed=100)
    counts: dict[str, int] = {}
    deadline = time.monotonic() + 10
    while True:  # until warm functions see the challenger (aliases are cached up to 5 s)
        answer = serving.post_json(dev, f"{url}/v1/models/churn/predict", {"instances": customers[:50]})
        if "challenger" in answer["variants"] or time.monotonic() > deadline:
            break
    started = time.perf_counter()
    for customer in customers:
        answer = serving.post_json(dev, f"{url}/v1/models/churn/predict", {"instances": [customer]})
        counts[answer["variant"]] = counts.get(answer["variant"], 0) + 1
    elapsed = time.perf_counter() - started
    table = Table(title=f"1,000 customers, one request each ({1_000 / elapsed:,.0f} requests/s over HTTP)")
    for column in ("variant", "version", "requests", "share"):
        table.add_column(column)
    for variant, version in (("production", 1), ("challenger", 2)):
        table.add_row(variant, str(version), str(counts.get(variant, 0)), f"{counts.get(variant, 0) / 10:.1f} %")
    console.print(table)


@contextmanager
def _screen_only(console: Console) -> Iterator[None]:
    """The console keeps writing to the terminal while sys.stdout is redirected."""
    previous = console.file
    console.file = sys.__stdout__ or previous
    try:
        yield
    finally:
        console.file = previous


def run_demo(console: Console, rows: int = 12_000, out_dir: Path = Path("out/demo")) -> int:
    warnings.filterwarnings("ignore")
    for noisy in ("moto", "samtranslator"):  # moto logs every failed state at ERROR; the demo shows them itself
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    console.rule("[bold]slipway demo")
    with console.status("deploying infra/template.yaml into dev, staging and prod (moto, in-process)…"):
        cloud = LocalCloud(log_level="ERROR").start()
    console.print(
        f"local cloud ready in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{e} = account {env.account_id}" for e, env in cloud.environments.items())
    )
    try:
        dev = target_in(cloud, "dev")
        pushed = push_spec(dev.deps, SPEC_PATH.read_text())
        console.print(f"spec [bold]churn[/] pushed to dev: version {pushed['version'][:12]}")

        console.rule("1. a clean upload becomes model version 1")
        sample = make_churn(n_rows=rows, seed=7)
        body = to_csv_bytes(sample)
        (out_dir / "churn-sample.csv").write_bytes(body)
        console.print(f"generated {len(sample):,} rows × {sample.shape[1]} columns → {out_dir / 'churn-sample.csv'}")
        result = _upload(cloud, dev, "churn/2026-11-25.csv", body, console)
        if result["status"] != "SUCCEEDED":
            console.print(f"[red]run {result['status']}[/]: {result.get('error')} {escape(result.get('cause', ''))}")
            return 1
        output = json.loads(result["output"])
        dataset = output["dataset"]
        console.print(f"dataset version [bold]{dataset['dataset_version']}[/] ({dataset['rows']:,} rows)")
        console.print(f"  curated parquet: {dataset['curated_uri']}")
        console.print(f"  column profile:  {dataset['profile_uri']}")
        _show_model(console, dev, output["model"], out_dir)

        console.rule("2. next month's data: version 2 against the champion")
        fresh = to_parquet_bytes(make_churn(n_rows=rows, seed=8))
        result = _upload(cloud, dev, "churn/2026-12-25.parquet", fresh, console)
        output = json.loads(result.get("output") or "{}")
        if result["status"] == "SUCCEEDED":
            _show_model(console, dev, output["model"], out_dir)
        else:
            console.print(f"[red]{result['status']}[/] {result.get('error')}: {escape(result.get('cause', ''))}")

        console.rule("3. a corrupted upload is quarantined")
        result = _upload(cloud, dev, "churn/2026-11-26-broken.csv", to_csv_bytes(corrupt(sample, seed=7)), console)
        console.print(f"[red]{result['status']}[/] with [bold]{result.get('error')}[/]")
        _show_quarantine(console, dev, result)

        console.rule("4. serving: version 1 in production, version 2 as a 20 % challenger")
        # What functions print (EMF metrics, logs) goes where CloudWatch Logs would be, not on screen.
        with (out_dir / "function-stdout.log").open("w") as logs, _screen_only(console), redirect_stdout(logs):
            _serve(console, cloud, dev)
        console.print(f"the infer function's EMF metrics and logs: {out_dir / 'function-stdout.log'}")
        console.rule(f"done in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        cloud.stop()
