"""Nothing untyped leaves a step: every Lambda task of every state machine wears ``typed_errors``, so a
library's ValueError reaches Step Functions as InternalError naming the original type, and a
retryable AWS failure as TransientError."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from slipway import handler
from slipway.composition import typed_errors
from slipway.errors import DataContractViolation, InternalError, TransientError
from slipway.steps.training import train_candidate as train_step
from slipway_local.packaging import load_sam_template
from tests.conftest import load_event
from tests.fakes import fake_deps

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_sam_template(ROOT / "infra" / "template.yaml")


def _task_functions() -> set[str]:
    """Logical ids of the functions any state machine invokes (``${XFunctionArn}`` placeholders)."""
    found: set[str] = set()
    for path in (ROOT / "statemachines").glob("*.asl.json"):
        found |= {m + "Function" for m in re.findall(r"\$\{(\w+)FunctionArn\}", path.read_text())}
    return found | {"StartTrainingFunction"}  # the upload rule's target: its errors go to the DLQ


def _handler_file(logical_id: str) -> tuple[Path, str]:
    props = TEMPLATE["Resources"][logical_id]["Properties"]
    if props.get("PackageType") == "Image":
        module, _, function = props["ImageConfig"]["Command"][0].rpartition(".")
        return ROOT / (module.replace(".", "/") + ".py"), function
    module, _, function = props["Handler"].rpartition(".")
    return (ROOT / "infra" / props["CodeUri"] / module).with_suffix(".py"), function


def _wears_typed_errors(path: Path, function: str) -> bool:
    """``function`` of the module at ``path`` is decorated with ``typed_errors``."""
    return any(
        isinstance(n, ast.FunctionDef) and n.name == function and "typed_errors" in map(ast.unparse, n.decorator_list)
        for n in ast.walk(ast.parse(path.read_text()))
    )


def _declared_by_step_handler(path: Path, function: str) -> bool:
    """``function = step_handler(...)`` at the module's top level."""
    return any(
        isinstance(n, ast.Assign)
        and [ast.unparse(target) for target in n.targets] == [function]
        and isinstance(n.value, ast.Call)
        and ast.unparse(n.value.func) == "step_handler"
        for n in ast.parse(path.read_text()).body
    )


def test_the_step_handler_wears_typed_errors() -> None:
    assert _wears_typed_errors(ROOT / "layers" / "core" / "slipway" / "handler.py", "lambda_handler")


@pytest.mark.parametrize("logical_id", sorted(_task_functions()))
def test_every_step_handler_wears_typed_errors(logical_id: str) -> None:
    path, function = _handler_file(logical_id)
    assert _wears_typed_errors(path, function) or _declared_by_step_handler(path, function), f"{logical_id}: {path}"


def test_the_scan_finds_the_training_steps() -> None:
    assert {"ValidateFunction", "TrainFunction", "RegisterFunction", "RecordFailureFunction"} <= _task_functions()


def test_an_unexpected_exception_becomes_internal_error_naming_its_type() -> None:
    @typed_errors
    def handler(event: Any, context: Any) -> Any:
        raise ValueError("This solver needs samples of at least 2 classes in the data")

    with pytest.raises(InternalError) as raised:
        handler({}, None)
    assert raised.value.details["type"] == "ValueError"
    assert "at least 2 classes" in str(raised.value)
    assert isinstance(raised.value.__cause__, ValueError)


def test_our_errors_pass_unchanged_and_aws_throttling_is_transient() -> None:
    violation = DataContractViolation("bad upload", {"report_uri": "s3://lake/q/report.json"})

    @typed_errors
    def ours(event: Any, context: Any) -> Any:
        raise violation

    @typed_errors
    def throttled(event: Any, context: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")

    @typed_errors
    def denied(event: Any, context: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StartExecution")

    with pytest.raises(DataContractViolation) as same:
        ours({}, None)
    assert same.value is violation
    with pytest.raises(TransientError):
        throttled({}, None)
    with pytest.raises(InternalError) as raised:
        denied({}, None)
    assert raised.value.details == {"type": "botocore.exceptions.ClientError", "code": "AccessDeniedException"}


def test_a_long_message_is_cut_to_a_readable_cause() -> None:
    @typed_errors
    def handler(event: Any, context: Any) -> Any:
        raise RuntimeError("x" * 50_000)

    with pytest.raises(InternalError) as raised:
        handler({}, None)
    assert len(str(raised.value)) < 2_500
    assert "more characters" in str(raised.value)


def test_a_real_handler_whose_step_breaks_raises_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the train handler, with its step failing the way scikit-learn does on one class
    path = ROOT / "functions" / "train_candidate" / "app.py"
    spec = importlib.util.spec_from_file_location("train_app_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def one_class(deps: Any, request: Any) -> Any:
        raise ValueError("This solver needs samples of at least 2 classes in the data, but the data contains only one")

    monkeypatch.setattr(train_step, "_recorded", one_class)  # the step's first call, inside the step
    monkeypatch.setattr(handler, "deps", fake_deps)
    context = SimpleNamespace(
        function_name="train", memory_limit_in_mb=3008, invoked_function_arn="arn", aws_request_id="r1"
    )

    # WHEN it is invoked with its sample event
    with pytest.raises(InternalError) as raised:
        module.lambda_handler(load_event("train_candidate/step-input.json"), context)

    # THEN Step Functions would see InternalError, its cause naming ValueError
    assert type(raised.value).__name__ == "InternalError"
    assert json.loads(json.dumps(raised.value.details)) == {"type": "ValueError"}
