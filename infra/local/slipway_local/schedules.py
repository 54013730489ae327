"""EventBridge schedule rules, fired locally: moto stores rules with a ``ScheduleExpression`` but never fires
them. ``fire`` delivers a rule's targets now, as EventBridge would at its time (a state machine: a new
execution with the target's input; a function: an asynchronous invoke), through the ordinary AWS API, so it
works in-process, against the server from another process (`slipway local tick`), and in the server's own
runner (`slipway local up` fires ``rate(...)`` rules at their rate; ``cron(...)`` ones only on a tick)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}

__all__ = ["ScheduleRunner", "fire", "rate_seconds", "schedule_rules"]


def rate_seconds(expression: str) -> int | None:
    """The period of a ``rate(...)`` expression in seconds; None for ``cron(...)`` (fired only by a tick)."""
    match = _RATE.match(expression.strip())
    return int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")] if match else None


def schedule_rules(events: Any) -> list[dict[str, Any]]:
    """The enabled rules with a schedule expression on the default bus."""
    rules: list[dict[str, Any]] = []
    for page in events.get_paginator("list_rules").paginate():
        rules += [r for r in page["Rules"] if r.get("ScheduleExpression") and r.get("State") == "ENABLED"]
    return rules


def _scheduled_event(rule: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends a target without an ``Input``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule["Arn"]],
        "detail": {},
    }


def fire(client: Callable[[str], Any], rule_name: str) -> list[str]:
    """Deliver each target of the schedule rule ``rule_name`` now; returns what was started (execution ARNs,
    function names). ``client(service)`` gives a client of the account the rule is in."""
    events = client("events")
    rule = events.describe_rule(Name=rule_name)
    if not rule.get("ScheduleExpression"):
        raise ValueError(f"rule {rule_name} has no schedule expression")
    account = rule["Arn"].split(":")[4]
    region = rule["Arn"].split(":")[3]
    started = []
    for target in events.list_targets_by_rule(Rule=rule_name)["Targets"]:
        payload = target.get("Input") or json.dumps(_scheduled_event(rule, account, region))
        service = target["Arn"].split(":")[2]
        if service == "states":
            execution = client("stepfunctions").start_execution(
                stateMachineArn=target["Arn"], name=f"sched-{uuid.uuid4().hex}", input=payload
            )
            started.append(str(execution["executionArn"]))
        elif service == "lambda":
            client("lambda").invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=payload.encode())
            started.append(target["Arn"].split(":")[6])
        else:
            raise ValueError(f"rule {rule_name}: target {target['Arn']} is not a state machine or a function")
    return started


class ScheduleRunner(threading.Thread):
    """Fires every enabled ``rate(...)`` rule of each account at its rate (first one period after it is seen)."""

    def __init__(self, clients: dict[str, Callable[[str], Any]], poll_s: float = 1.0) -> None:
        super().__init__(name="schedules", daemon=True)
        self._clients = clients
        self._poll = poll_s
        self._stop = threading.Event()
        self._due: dict[tuple[str, str], float] = {}
        self.fired: list[tuple[str, str, str]] = []  # (env, rule, what was started)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self._poll):
            for env, client in self._clients.items():
                try:
                    self._tick(env, client)
                except ClientError:  # the server shutting down, a rule deleted meanwhile: next round
                    log.debug("schedule round in %s failed", env, exc_info=True)

    def _tick(self, env: str, client: Callable[[str], Any]) -> None:
        now = time.monotonic()
        for rule in schedule_rules(client("events")):
            period = rate_seconds(rule["ScheduleExpression"])
            if period is None:
                continue
            key = (env, rule["Name"])
            due = self._due.setdefault(key, now + period)
            if now >= due:
                self._due[key] = now + period
                for started in fire(client, rule["Name"]):
                    self.fired.append((env, rule["Name"], started))
