"""Where a run's Step Functions execution is: the run page reads its history, the approval card its input."""

from __future__ import annotations

from typing import Any

from slipway.stores.promotions import KIND as PROMOTION
from slipway_cli.target import Target

__all__ = ["execution_arn"]


def execution_arn(target: Target, run: dict[str, Any]) -> str:
    """The run's execution: as recorded, else the training (or promotion) execution named after the run in the
    machine the record names or the stack's outputs name ("" when none is known)."""
    arn = str(run.get("execution_arn") or "")
    machine = str(run.get("state_machine") or "")
    if not arn and not machine.startswith("arn:"):
        name = "PromotionStateMachineArn" if run.get("kind") == PROMOTION else "TrainingStateMachineArn"
        machine = target.outputs.get(name, "")
    if not arn and machine:
        arn = machine.replace(":stateMachine:", ":execution:") + f":{run['run_id']}"
    return arn
