"""`slipway score`: start the environment's batch_inference machine on a prefix of Parquet parts, and follow
it (parts scored so far, then the output prefix and rows, or the typed failure with its reports)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from slipway.stores.batch_runs import parts_of
from slipway.stores.registry import parse_ref
from slipway.stores.runs import get_run
from slipway_cli.target import Target

__all__ = ["STATE_MACHINE_OUTPUT", "ScoreRun", "check_input", "execution_name", "follow", "result_view", "start"]

STATE_MACHINE_OUTPUT = "BatchInferenceStateMachineArn"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def execution_name(ref: str, input_uri: str, now: datetime | None = None) -> str:
    """``score-<model>-<version or alias>-<UTC time>-<8 hex of the input>``: readable, unique per second and input,
    within Step Functions' 80 characters of letters, digits, ``-`` and ``_``."""
    model, selector = parse_ref(ref)
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(input_uri.encode()).hexdigest()[:8]
    what = _UNSAFE.sub("-", f"{model}-{selector or 'latest'}").strip("-")[:44]
    return f"score-{what}-{at}-{digest}"


class ScoreRun:
    """A started batch-scoring execution."""

    def __init__(self, target: Target, name: str, arn: str) -> None:
        self.target, self.name, self.arn = target, name, arn

    def describe(self) -> dict[str, Any]:
        return self.target.client("stepfunctions").describe_execution(executionArn=self.arn)  # type: ignore[no-any-return]

    def progress(self) -> dict[str, int]:
        """Parts recorded so far by status, and the rows scored."""
        counts: dict[str, int] = {"rows": 0}
        for part in parts_of(self.target.deps, self.name):
            counts[part["status"]] = counts.get(part["status"], 0) + 1
            counts["rows"] += int(part.get("rows") or 0)
        return counts


def check_input(input_uri: str) -> str:
    """``s3://bucket/prefix/`` or SystemExit, before any AWS call."""
    if not input_uri.startswith("s3://") or not input_uri[5:].split("/", 1)[0]:
        raise SystemExit(f"slipway score needs an s3://bucket/prefix/ to score, not {input_uri!r}")
    return input_uri


def start(target: Target, ref: str, input_uri: str, now: datetime | None = None) -> ScoreRun:
    """Start scoring the objects under ``input_uri`` (``s3://bucket/prefix/``) with ``ref``."""
    check_input(input_uri)
    arn = target.outputs.get(STATE_MACHINE_OUTPUT)
    if not arn:
        raise LookupError(f"the slipway-{target.env} stack has no {STATE_MACHINE_OUTPUT} output (deploy it first)")
    name = execution_name(ref, input_uri, now)
    started = target.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=name, input=json.dumps({"ref": ref, "input": input_uri})
    )
    return ScoreRun(target, name, started["executionArn"])


def follow(
    run: ScoreRun,
    on_progress: Callable[[dict[str, int]], None] = lambda _: None,
    *,
    timeout_s: float = 3600.0,
    every_s: float = 1.0,
) -> dict[str, Any]:
    """Wait for the execution to end, reporting progress; returns describe_execution's last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = run.describe()
        if described["status"] in TERMINAL:
            return described
        on_progress(run.progress())
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.name} still running after {timeout_s:g} s")
        time.sleep(every_s)


def result_view(run: ScoreRun, described: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(JSON-able result, table): the summary of a scored run, or the failure with each part's error."""
    record = get_run(run.target.deps, run.name) or {}
    status = described["status"]
    value: dict[str, Any] = {"run_id": run.name, "execution_arn": run.arn, "status": status}
    table = Table(title=f"{run.name}: {status}", show_header=False)
    if status == "SUCCEEDED":
        summary = json.loads(described.get("output") or "{}").get("summary", {})
        value.update(summary)
        for key in ("model", "version", "rows", "parts", "output_uri", "summary_uri", "onnx_sha256", "skipped"):
            table.add_row(key, f"{summary.get(key):,}" if key == "rows" else str(summary.get(key)))
        return value, table
    value.update(error=described.get("error"), cause=described.get("cause"))
    value["parts"] = [
        {k: p.get(k) for k in ("part", "status", "error_type", "error_message", "report_uri")}
        for p in parts_of(run.target.deps, run.name)
        if p["status"] in ("REJECTED", "FAILED")
    ]
    table.add_row("model", f"{record.get('model')}@{record.get('model_version', '?')}")
    table.add_row("error", str(described.get("error")))
    table.add_row("cause", str(described.get("cause")))
    for part in value["parts"]:
        table.add_row(part["part"], f"{part['status']} {part.get('error_type')}: {part.get('report_uri') or ''}")
    return value, table
