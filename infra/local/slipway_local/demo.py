"""`slipway demo`: the whole loop on embedded sample data in the in-process local cloud, shown
the way an operator would watch it: upload → validated → features → candidates → evaluated →
registered, a second upload against the champion, and a corrupted upload quarantined."""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway import layout
from slipway.objects import S3Object
from slipway.registry import ModelRegistry
from slipway.specstore import push_spec
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
    console.print(f"execution [bold]{arn.rsplit(':', 1)[1]}[/] started by S3 → EventBridge → Step Functions")
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
        console.rule(f"done in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        cloud.stop()
