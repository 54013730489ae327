"""`slipway drift`: run a drift check now (the drift state machine, as the schedule does) and show its table,
list a model's checks, and fetch a check's HTML report."""

from __future__ import annotations

import json
import time
import uuid
import webbrowser
from pathlib import Path
from typing import Any

from rich.table import Table

from slipway import layout
from slipway.objects import S3Object
from slipway.spec.deployment import parse_duration
from slipway_cli.target import Target

__all__ = ["check", "check_view", "history", "report"]

STATE_MACHINE_OUTPUT = "DriftStateMachineArn"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_STYLE = {"drift": "red", "no_drift": "green", "insufficient_data": "yellow"}


def _verdict(value: Any) -> str:
    text = str(value)
    return f"[{_STYLE.get(text, 'white')}]{text.replace('_', ' ')}[/]"


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def check(target: Target, model: str, window: str | None, timeout_s: float = 900.0) -> tuple[dict[str, Any], Any]:
    """Start the drift machine for ``model`` now and wait for it; returns (the check, its table)."""
    arn = target.outputs.get(STATE_MACHINE_OUTPUT)
    if not arn:
        raise LookupError(f"the slipway-{target.env} stack has no {STATE_MACHINE_OUTPUT} output (deploy it first)")
    seconds = parse_duration(window) if window else None
    sfn = target.client("stepfunctions")
    name = f"cli-{model}-{uuid.uuid4().hex[:16]}"
    started = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"model": model, "window": seconds}))
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=started["executionArn"]))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} still running after {timeout_s:g} s")
        time.sleep(0.5)
    if described["status"] != "SUCCEEDED":
        raise RuntimeError(
            f"drift check {name} {described['status']}: {described.get('error')}: {described.get('cause')}"
        )
    output = json.loads(described["output"])
    result: dict[str, Any] = output["check"]["result"]
    if "retraining" in output:
        result["retraining"] = output["retraining"]["decision"]
    return result, check_view(target, result)


def check_view(target: Target, result: dict[str, Any]) -> Any:
    if result["status"] != "checked":
        return f"{result['model']} in {target.env}: nothing in production to check"
    detail = target.deps.store.get_json(S3Object.parse(result["result_uri"]))
    table = Table(
        title=f"{result['model']} v{result['version']} in {target.env}: {result['rows']:,} rows, "
        f"{result['labelled']:,} labelled — {'DRIFT' if result['drifted'] else 'no drift'}",
        caption=f"{result['reason']}\nreport: {result['report_uri']}",
    )
    for column in ("feature", "kind", "test", "statistic", "threshold", "rows", "verdict"):
        table.add_column(column, justify="right" if column in ("statistic", "threshold", "rows") else "left")
    for f in detail["features"]:
        threshold = f"p<{_number(f['threshold'])}" if f["test"] in ("ks", "chi2") else _number(f["threshold"])
        statistic = f"p={_number(f['p_adjusted'])}" if f["test"] in ("ks", "chi2") else _number(f["statistic"])
        table.add_row(
            f["name"], f["kind"], f["test"], statistic, threshold, f"{f['count']:,}", _verdict(f["verdict"]),
        )  # fmt: skip
    prediction = detail.get("prediction")
    if prediction:
        table.add_row(
            "(scores)", "prediction", prediction["test"], _number(prediction["statistic"]),
            _number(prediction["threshold"]), f"{prediction['count']:,}", _verdict(prediction["verdict"]),
        )  # fmt: skip
    performance = detail["performance"]
    table.add_row(
        f"({performance['metric']})", "performance", "bootstrap", _number(performance["value"]),
        _number(performance["reference"]), f"{performance['labelled']:,}", _verdict(performance["verdict"]),
    )  # fmt: skip
    return table


def history(target: Target, model: str, limit: int = 20) -> tuple[list[dict[str, Any]], Any]:
    """The model's checks in this environment, newest first."""
    pk, prefix = layout.drift_checks(model)
    items = target.deps.table.query(pk, prefix, newest_first=True, limit=limit)
    rows = [
        {k: i.get(k) for k in ("at", "check_id", "version", "rows", "labelled", "drifted", "dataset", "prediction",
                               "performance", "drifted_features", "report_uri", "reason")}
        for i in items
    ]  # fmt: skip
    table = Table(title=f"drift checks of {model} in {target.env} (newest first)")
    for column in ("at", "version", "rows", "dataset", "prediction", "performance", "drifted features", "check"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["at"])[:19], str(r["version"]), f"{r['rows'] or 0:,}", _verdict(r["dataset"]),
            _verdict(r["prediction"]), _verdict(r["performance"]), ", ".join(r["drifted_features"] or []) or "—",
            str(r["check_id"]),
        )  # fmt: skip
    return rows, table if rows else f"no drift checks of {model} in {target.env}"


def report(target: Target, model: str, check_id: str | None, out: Path, open_it: bool) -> dict[str, Any]:
    """Save a check's HTML report (the latest, or ``check_id``'s) to ``out`` and optionally open it."""
    pk, prefix = layout.drift_checks(model)
    items = target.deps.table.query(pk, prefix, newest_first=True)
    chosen = next((i for i in items if check_id is None or i.get("check_id") == check_id), None)
    if chosen is None or not chosen.get("report_uri"):
        raise LookupError(
            f"no drift report of {model} in {target.env}" + (f" for check {check_id}" if check_id else "")
        )
    body = target.deps.store.get_bytes(S3Object.parse(str(chosen["report_uri"])))
    out.mkdir(parents=True, exist_ok=True)
    path = (out / f"{model}-{target.env}-{chosen['check_id']}.html").resolve()
    path.write_bytes(body)
    if open_it:
        webbrowser.open(path.as_uri())
    return {"model": model, "check_id": chosen["check_id"], "at": chosen["at"], "report_uri": chosen["report_uri"],
            "path": str(path)}  # fmt: skip
