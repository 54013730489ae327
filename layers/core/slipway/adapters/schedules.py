"""EventBridge schedule rules (the Schedules port): one rule per model, ``slipway-<env>-drift-<model>``, whose
target starts the drift state machine as the drift schedule role."""

from __future__ import annotations

import json
from typing import Any

from slipway.adapters.clients import aws_errors
from slipway.errors import NotFound

_MISSING = frozenset({"ResourceNotFoundException"})


class EventBridgeSchedules:
    TARGET_ID = "drift"

    def __init__(self, events_client: Any, env: str, state_machine_arn: str, role_arn: str) -> None:
        self._events = events_client
        self._env = env
        self._machine = state_machine_arn
        self._role = role_arn

    def rule_name(self, model: str) -> str:
        return f"slipway-{self._env}-drift-{model}"

    def put(self, model: str, expression: str) -> str:
        if not (self._machine and self._role):
            raise NotFound(
                "this environment's settings name no drift state machine and schedule role "
                "(DRIFT_STATE_MACHINE_ARN, DRIFT_SCHEDULE_ROLE_ARN): deploy the current template",
                {"model": model},
            )
        name = self.rule_name(model)
        with aws_errors(f"schedule drift checks of {model}"):
            self._events.put_rule(
                Name=name,
                ScheduleExpression=expression,
                State="ENABLED",
                Description=f"slipway: drift checks of {model} ({expression})",
            )
            self._events.put_targets(
                Rule=name,
                Targets=[
                    {
                        "Id": self.TARGET_ID,
                        "Arn": self._machine,
                        "RoleArn": self._role,
                        "Input": json.dumps({"model": model, "window": None}),
                    }
                ],
            )
        return name

    def remove(self, model: str) -> None:
        name = self.rule_name(model)
        try:
            with aws_errors(f"remove the drift schedule of {model}", missing=_MISSING):
                self._events.remove_targets(Rule=name, Ids=[self.TARGET_ID])
                self._events.delete_rule(Name=name)
        except NotFound:
            return

    def get(self, model: str) -> str | None:
        try:
            with aws_errors(f"read the drift schedule of {model}", missing=_MISSING):
                rule = self._events.describe_rule(Name=self.rule_name(model))
        except NotFound:
            return None
        expression = rule.get("ScheduleExpression")
        return str(expression) if expression else None
