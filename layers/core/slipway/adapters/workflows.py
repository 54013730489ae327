"""Step Functions (the Workflows port): named executions, where a name already taken means the run
exists — the answer to a duplicate event, not a failure to retry."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from slipway.adapters.clients import aws_errors, error_code
from slipway.ports import Started

# What Step Functions answers for a token whose task no longer waits (timed out, ended, answered).
_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:…:stateMachine:<machine>`` and a name → ``arn:…:execution:<machine>:<name>``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class StepFunctionsWorkflows:
    """``stepfunctions_client`` is a client or a function that makes one (only the function that
    starts runs needs it, so the others do not pay for creating it)."""

    def __init__(self, stepfunctions_client: Any | Callable[[], Any]) -> None:
        self._sfn = stepfunctions_client

    def _client(self) -> Any:
        if callable(self._sfn) and not hasattr(self._sfn, "start_execution"):
            self._sfn = self._sfn()
        return self._sfn

    def start(self, state_machine_arn: str, name: str, payload: Mapping[str, Any]) -> Started:
        try:
            with aws_errors(f"start execution {name}"):
                response = self._client().start_execution(
                    stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
                )
        except ClientError as e:
            if error_code(e) == "ExecutionAlreadyExists":
                return Started(execution_arn(state_machine_arn, name), already_exists=True)
            raise
        return Started(str(response["executionArn"]), already_exists=False)

    def succeed_task(self, token: str, output: Mapping[str, Any]) -> None:
        self._answer(lambda: self._client().send_task_success(taskToken=token, output=json.dumps(output)))

    def fail_task(self, token: str, error: str, cause: str) -> None:
        self._answer(lambda: self._client().send_task_failure(taskToken=token, error=error, cause=cause[:32768]))

    @staticmethod
    def _answer(send: Callable[[], Any]) -> None:
        with aws_errors("the promotion's task no longer waits for an answer (it timed out or ended)", conflict=_GONE):
            send()
