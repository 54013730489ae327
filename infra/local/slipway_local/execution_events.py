"""What moto's Step Functions and EventBridge lack, which the template relies on to close runs on every
ending: Step Functions publishes "Step Functions Execution Status Change" events (here: when an
execution ends); an InputTransformer fills a JSON template as AWS does (string values quoted and
escaped, a path that matches nothing as null; moto pastes raw text, which breaks the JSON); and, as on
AWS, ``States.ALL`` does not catch the terminal ``States.DataLimitExceeded`` and ``States.Runtime``
(moto caught them, and then failed on a Fail state naming a ``States.`` error)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from jsonpath_ng.ext.parser import parse as jsonpath

__all__ = ["install", "transform_input"]

LOG = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_installed: dict[str, bool] = {}


def _inside_string(template: str, position: int) -> bool:
    """Whether ``position`` of a JSON template falls inside a string literal (odd count of unescaped quotes)."""
    quotes = 0
    escaped = False
    for char in template[:position]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quotes += 1
    return quotes % 2 == 1


def transform_input(template: str, paths: dict[str, str], event: dict[str, Any]) -> Any:
    """AWS's InputTransformer: each ``<name>`` is the value at its JSON path — as JSON (a string quoted) outside
    a string literal, as text inside one; a path that matches nothing is null (empty text inside a string)."""
    values: dict[str, Any] = {}
    for name, path in paths.items():
        found = jsonpath(path).find(event)
        values[name] = found[0].value if found else None
    values.setdefault("aws.events.event.json", event)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        if _inside_string(template, match.start()):
            text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
            return json.dumps(text)[1:-1]
        return json.dumps(value)

    filled = _PLACEHOLDER.sub(fill, template)
    try:
        return json.loads(filled)
    except json.JSONDecodeError:
        return filled  # a plain-text template is delivered as a string


def _status_change(execution: Any) -> dict[str, Any]:
    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if value is not None else None

    status = execution.exec_status
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": getattr(status, "value", str(status)),
        "startDate": millis(execution.start_date),
        "stopDate": millis(execution.stop_date),
        "input": execution.input_data if isinstance(execution.input_data, str) else json.dumps(execution.input_data),
        "output": json.dumps(execution.output) if execution.output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }


def _terminal_errors_escape_states_all() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    terminal = (StatesErrorNameType.StatesStatesDataLimitExceeded, StatesErrorNameType.StatesRuntime)
    everything = StatesErrorName(typ=StatesErrorNameType.StatesALL)
    original = ErrorEqualsDecl._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1] if env.stack else None
        named = isinstance(error, StatesErrorName) and error.typ in terminal
        if named and everything in self.error_names and error not in self.error_names:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]


def install() -> None:
    """Publish a status-change event on the default bus of the execution's account when it ends; keep
    terminal errors out of States.ALL."""
    if _installed.get("done"):
        return
    _terminal_errors_escape_states_all()
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        try:
            backend = events_backends[execution.account_id][execution.region_name]
            backend.put_events(
                [
                    {
                        "Source": "aws.states",
                        "DetailType": "Step Functions Execution Status Change",
                        "Detail": json.dumps(_status_change(execution), default=str),
                        "Resources": [execution.exec_arn],
                    }
                ]
            )
        except Exception:
            LOG.exception("could not publish the status change of %s", execution.exec_arn)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _installed["done"] = True
