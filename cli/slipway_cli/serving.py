"""Operator commands for serving: aliases (with weights, guarded, logged with the caller's principal)
and predictions through the environment's HTTP API (requests signed with SigV4, as its IAM auth wants)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway.errors import ConflictError, Forbidden, NotFound, SlipwayError, SpecError
from slipway.stores.registry import ModelRegistry
from slipway_cli.target import Target

__all__ = [
    "HttpApiError",
    "aliases_clear",
    "aliases_set",
    "aliases_show",
    "operate",
    "post_json",
    "predict",
    "push_spec",
    "read_rows",
]


class HttpApiError(Exception):
    """The API answered with an error status; ``body`` is its JSON answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body.get('message') if isinstance(body, dict) else body}")
        self.status = status
        self.body = body


def aliases_show(target: Target, model: str) -> tuple[Any, Any]:
    registry = ModelRegistry.of(target.deps)
    items = registry.alias_items(model)
    log = registry.alias_log(model)
    current = Table(title=f"{model}: aliases")
    for column in ("alias", "version", "weight", "updated", "by"):
        current.add_column(column)
    for alias, item in sorted(items.items()):
        weight = item.get("weight")
        current.add_row(
            alias,
            str(item["version"]),
            f"{weight:.0%}" if weight is not None else "—",
            str(item.get("updated_at", "—")),
            escape(str(item.get("updated_by", "—"))),
        )
    history = Table(title="history (newest last)")
    for column in ("at", "alias", "move", "by", "execution", "reason"):
        history.add_column(column)
    for entry in log:
        move = f"{entry.get('previous_version') or '—'} → {entry.get('version') or 'cleared'}"
        weight = f" at {entry['weight']:.0%}" if entry.get("weight") is not None else ""
        execution = str(entry.get("execution") or "—").rpartition(":")[2]
        history.add_row(
            entry["at"],
            entry["alias"],
            move + weight,
            escape(entry["actor"]),
            escape(execution),
            escape(entry["reason"]),
        )
    value = {
        "aliases": {
            a: {k: i.get(k) for k in ("version", "weight", "updated_at", "updated_by")} for a, i in items.items()
        },
        "history": log,
    }
    return value, Group(current, history)


def aliases_set(
    target: Target,
    model: str,
    alias: str,
    version: int,
    *,
    reason: str,
    weight: float | None = None,
    expect_previous: str | None = None,
) -> dict[str, Any]:
    """Move an alias through the environment's operate route (logged with the caller's verified name);
    ``expect_previous`` ("none" or a version) makes it conditional on where it points now."""
    body: dict[str, Any] = {"version": version, "reason": reason}
    if weight is not None:
        body["weight"] = weight
    if expect_previous is not None:
        body["expect_previous"] = "none" if expect_previous.lower() == "none" else int(expect_previous)
    return operate(target, "PUT", f"/v1/models/{quote(model, safe='')}/aliases/{quote(alias, safe='')}", body)


def aliases_clear(target: Target, model: str, alias: str, *, reason: str) -> dict[str, Any]:
    """Remove an alias (a challenger after its test) through the operate route, logged with the caller's name."""
    path = f"/v1/models/{quote(model, safe='')}/aliases/{quote(alias, safe='')}"
    return operate(target, "DELETE", path, {"reason": reason})


def push_spec(target: Target, text: str, *, reason: str = "") -> dict[str, Any]:
    """Push a spec through the operate route: stored, made current, its drift schedule set, audited in the
    caller's verified name (the same answer as ``slipway.stores.specs.push_spec``)."""
    return operate(target, "POST", "/v1/specs", {"spec": text, "reason": reason})


def operate(target: Target, method: str, path: str, body: Any) -> dict[str, Any]:
    """An act through the environment's operate routes (HTTP API, IAM-authorized), done in the caller's name.
    Refusals become the domain's errors: 403 Forbidden, 404 NotFound, 409 ConflictError, a spec's 422 SpecError
    (one finding per field), any other status a SlipwayError naming it."""
    try:
        answer: dict[str, Any] = post_json(target, f"{api_url(target)}{path}", body, method=method)
    except HttpApiError as e:
        message = e.body.get("message") if isinstance(e.body, dict) else str(e.body)
        details = {
            "status": e.status,
            **({"errors": e.body["errors"]} if isinstance(e.body, dict) and e.body.get("errors") else {}),
        }
        if e.status == 403:
            raise Forbidden(str(message), details) from None
        if e.status == 404:
            raise NotFound(str(message), details) from None
        if e.status == 409:
            raise ConflictError(str(message), details) from None
        if e.status == 422 and path in ("/v1/specs", "/v1/feature-views"):
            raise SpecError(str(message), details) from None
        raise SlipwayError(f"HTTP {e.status}: {message}", details) from None  # one line, never a traceback
    return answer


def api_url(target: Target, override: str | None = None) -> str:
    url = override or target.outputs.get("HttpApiUrl")
    if not url:
        raise LookupError(f"the slipway-{target.env} stack has no HttpApiUrl output (is the serving stack deployed?)")
    return url.rstrip("/")


def post_json(target: Target, url: str, body: Any, timeout_s: float = 30.0, method: str = "POST") -> Any:
    """POST (or ``method``) JSON, signed with the target's credentials (SigV4 for execute-api); the JSON answer."""
    data = json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = target.session.get_credentials()
    if credentials is not None:
        SigV4Auth(
            credentials.get_frozen_credentials(), "execute-api", target.session.region_name or "us-east-1"
        ).add_auth(request)
    prepared = urllib.request.Request(url, data=data, headers=dict(request.headers.items()), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            answer: Any = json.loads(raw)
        except json.JSONDecodeError:
            answer = raw.decode(errors="replace")
        raise HttpApiError(e.code, answer) from None


def read_rows(inline: str | None, file: str | None) -> list[dict[str, Any]]:
    """Rows from ``--json`` (one object or a list of objects) or ``--file`` (JSON Lines)."""
    if (inline is None) == (file is None):
        raise SystemExit("give exactly one of --json '{...}' or --file rows.jsonl")
    if inline is not None:
        parsed = json.loads(inline)
        return parsed if isinstance(parsed, list) else [parsed]
    lines = Path(file).read_text().splitlines()  # type: ignore[arg-type]
    return [json.loads(line) for line in lines if line.strip()]


def predict(
    target: Target, model: str, rows: list[dict[str, Any]], url: str | None = None, explain: bool = False
) -> tuple[Any, Any]:
    body: dict[str, Any] = {"instances": rows, **({"explain": True} if explain else {})}
    answer = post_json(target, f"{api_url(target, url)}/v1/models/{model}/predict", body)
    table = Table(title=f"{model}: {len(rows)} prediction(s), request {answer.get('request_id')}")
    columns = ["row", "prediction", "probabilities", "variant", "version"] + (["why (largest contributions)"] * explain)
    for column in columns:
        table.add_column(column)
    probabilities = answer.get("probabilities") or [None] * len(rows)
    explanations = answer.get("explanations") or [None] * len(rows)
    for n, prediction in enumerate(answer["predictions"]):
        shown = ", ".join(f"{k}: {v:.3f}" for k, v in probabilities[n].items()) if probabilities[n] else "—"
        cells = [str(n), escape(str(prediction)), shown, answer["variants"][n], str(answer["versions"][n])]
        table.add_row(*cells, *([_why(explanations[n])] if explain else []))
    return answer, table


def _why(explanation: dict[str, Any] | None, top: int = 3) -> str:
    """One row's explanation in a line: the base value, then the largest contributions (in the output's units)."""
    if not explanation:
        return "—"
    of = f" of {explanation['label']}" if explanation.get("label") is not None else ""
    parts = [f"{name} {value:+.3f}" for name, value in list(explanation["contributions"].items())[:top]]
    return escape(f"{explanation['output']}{of}: base {explanation['base']:.3f}; " + ", ".join(parts))
