"""`slipway features …`: feature views in an environment — push a view's spec (through the operate route, in the
caller's name), list and show views with their versions, read an entity's online values, and materialise a file (an
upload under views/<view>/, followed to its view version). Each returns (JSON-able value, rich renderable)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway import layout
from slipway.domain.entities import entity_text
from slipway.domain.run_names import run_name_for_object
from slipway.errors import NotFound, SlipwayError
from slipway.stores.feature_views import current_view, list_views, view_versions
from slipway.stores.runs import get_run
from slipway_cli.commands import public
from slipway_cli.serving import operate
from slipway_cli.target import Target

MATERIALISE_TIMEOUT_S = 600.0


def push(target: Target, text: str, reason: str) -> tuple[Any, Any]:
    from slipway.spec.feature_view import load_view

    view = load_view(text)  # refused here, naming its fields, before any AWS call
    result = operate(target, "POST", "/v1/feature-views", {"spec": text, "reason": reason})
    change = "it already was" if result["previous"] == result["version"] else ("new" if result["new"] else "again")
    head = f"feature view [bold]{escape(view.name)}[/]: version {result['version'][:12]} is now current ({change})"
    keys = ", ".join(view.entity)
    lines = [f"entity: {keys}; event time: {view.timestamp}; ttl: {view.ttl}; missing: {view.missing}"]
    lines += [f"  {f.name} ({f.type}){' — ' + f.description if f.description else ''}" for f in view.features]
    lines.append(f"upload its data under s3://{target.outputs['RawBucketName']}/views/{view.name}/")
    return result, "\n".join([head, *lines])


def views_list(target: Target) -> tuple[Any, Any]:
    deps = target.deps
    rows = []
    for item in list_views(deps):
        latest = view_versions(deps, str(item["view"]), limit=1)
        rows.append(
            {
                **public(item),
                "latest_version": int(latest[0]["version"]) if latest else None,
                "last_event": latest[0].get("last_event") if latest else None,
            }
        )
    table = Table(title=f"feature views in {target.env}")
    for column in ("view", "entity", "features", "ttl", "version", "last event"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            escape(r["view"]),
            ", ".join(r["entity"]),
            ", ".join(r["features"]),
            f"{r['ttl_s']} s",
            str(r["latest_version"] or "—"),
            str(r["last_event"] or "—"),
        )
    return rows, table


def view_show(target: Target, name: str) -> tuple[Any, Any]:
    deps = target.deps
    view, version = current_view(deps, name)
    versions = [public(v) for v in view_versions(deps, name, limit=20)]
    value = {
        "view": name,
        "spec_version": version,
        "spec": view.model_dump(mode="json", exclude_defaults=True),
        "versions": versions,
    }
    features = Table(
        title=f"{name}: features (entity {', '.join(view.entity)}, ttl {view.ttl}, missing: {view.missing})"
    )
    for column in ("feature", "type", "nullable", "default", "description"):
        features.add_column(column)
    for f in view.features:
        features.add_row(f.name, f.type, str(f.nullable), "—" if f.default is None else repr(f.default), f.description)
    history = Table(title="versions (newest first)")
    for column in ("version", "rows", "newest rows", "written online", "events", "upload", "run"):
        history.add_column(column)
    for v in versions:
        history.add_row(
            str(v["version"]),
            str(v["rows"]),
            str(v["online_records"]),
            str(v["written_online"]),
            f"{v.get('first_event')} … {v.get('last_event')}",
            escape(str(v["raw_uri"])),
            escape(str(v["run_id"])),
        )
    return value, Group(features, history)


def get(target: Target, name: str, entities: list[str]) -> tuple[Any, Any]:
    """Each entity's online values, as infer would fetch them (valid or older than the TTL, as of now)."""
    deps = target.deps
    view, _ = current_view(deps, name)
    contract = view.contract()
    types = [contract.column(k).type for k in view.entity]
    keys = {e: layout.online_key(name, entity_text(json.loads(e) if len(types) > 1 else [e], types)) for e in entities}
    found = deps.online.read(list(keys.values()))
    now = datetime.now(UTC).timestamp()
    rows: list[dict[str, Any]] = []
    for entity, key in keys.items():
        record = found.get(key)
        if record is None:
            rows.append({"entity": entity, "found": False})
            continue
        event = datetime.fromtimestamp(record.event_us / 1e6, UTC).isoformat()
        valid = record.event_us / 1e6 + view.ttl_seconds >= now
        rows.append(
            {
                "entity": entity,
                "found": True,
                "event_time": event,
                "valid": valid,
                "version": record.version,
                "values": json.loads(record.values),
            }
        )
    table = Table(title=f"{name}: online values")
    for column in ("entity", "event time", "valid", "version", *[f.name for f in view.features]):
        table.add_column(column)
    for r in rows:
        if not r["found"]:
            table.add_row(escape(r["entity"]), "unknown", "—", "—", *["—"] * len(view.features))
            continue
        values = [json.dumps(r["values"].get(f.name)) for f in view.features]
        table.add_row(
            escape(r["entity"]), r["event_time"], "yes" if r["valid"] else "expired", str(r["version"]), *values
        )
    return rows, table


def materialise(target: Target, name: str, path: Path, status: Any = None) -> tuple[Any, Any]:
    """Upload ``path`` under views/<name>/ and follow its materialisation to the view version it made (or why
    not)."""
    bucket = target.outputs["RawBucketName"]
    key = f"{layout.VIEWS_PREFIX}{name}/{path.name}"
    put = target.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    run_id = run_name_for_object(bucket, key, put.get("VersionId"), str(put.get("ETag", "")).strip('"'))
    machine = target.outputs.get("MaterialiseStateMachineArn", "")
    if not machine:
        raise SlipwayError(f"the {target.env} stack has no feature views (no MaterialiseStateMachineArn output)")
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:{run_id}"
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + MATERIALISE_TIMEOUT_S
    while True:
        try:
            state = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            state = {"status": "NOT_STARTED"}
        if state["status"] not in ("RUNNING", "NOT_STARTED"):
            break
        if time.monotonic() > deadline:
            raise SlipwayError(
                f"materialisation {run_id} is still {state['status']} after {MATERIALISE_TIMEOUT_S:.0f} s"
            )
        if status is not None:
            status.update(f"materialising s3://{bucket}/{key} ({state['status'].lower().replace('_', ' ')})…")
        time.sleep(0.5)
    run = get_run(target.deps, run_id)
    if run is None:
        raise NotFound(f"materialisation {run_id} ended {state['status']} without a run record", {"run": run_id})
    value = {"uri": f"s3://{bucket}/{key}", **public(run)}
    if run.get("status") != "SUCCEEDED":
        text = (
            f"[red]not materialised[/]: {escape(str(run.get('error_type')))}: {escape(str(run.get('error_message')))}"
        )
        return value, text
    text = (
        f"s3://{bucket}/{key} → view [bold]{escape(name)}[/] version {run.get('view_version')} "
        f"({run.get('outcome', '').replace('_', ' ')}); run {escape(run_id)}"
    )
    return value, text
