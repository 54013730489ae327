"""Runs Lambda functions in-process: the real handler named in the template, with the
function's environment, in its own account; exceptions become Lambda error payloads so that
Step Functions Retry/Catch match on the class name, as on AWS."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from slipway_local.routing import acting_as


@dataclass(frozen=True)
class FunctionSource:
    """Where a deployed function's code lives in the repository, and its handler."""

    logical_id: str
    code_root: Path
    handler: str  # "module.path.function", as in Handler or ImageConfig.Command[0]

    @property
    def module_file(self) -> Path:
        module_path, _, _ = self.handler.rpartition(".")
        return self.code_root.joinpath(*module_path.split(".")).with_suffix(".py")

    @property
    def function_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class LambdaContext:
    """The attributes of the AWS Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaRuntime:
    """Maps (account, function name) to a handler and invokes it in-process."""

    def __init__(self, endpoint_url: str | None = None, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._sources: dict[tuple[str, str], FunctionSource] = {}
        self._modules: dict[Path, ModuleType] = {}
        self._environment = EnvironmentGate()
        self._loading = threading.Lock()

    def register(self, account_id: str, function_name: str, source: FunctionSource) -> None:
        self._sources[(account_id, function_name)] = source

    def source_for(self, account_id: str, function_name: str) -> FunctionSource:
        try:
            return self._sources[(account_id, function_name)]
        except KeyError:
            raise LookupError(f"no local handler registered for {function_name} in account {account_id}") from None

    def _load(self, source: FunctionSource) -> Callable[[Any, Any], Any]:
        with self._loading:
            return self._load_unlocked(source)

    def _load_unlocked(self, source: FunctionSource) -> Callable[[Any, Any], Any]:
        path = source.module_file
        module = self._modules.get(path)
        if module is None:
            name = "slipway_fn_" + "_".join(path.relative_to(source.code_root).with_suffix("").parts)
            name += "_" + uuid.uuid5(uuid.NAMESPACE_URL, str(path)).hex[:8]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load handler module {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._modules[path] = module
        return getattr(module, source.function_name)  # type: ignore[no-any-return]

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """moto's hook: invoke a moto ``LambdaFunction``; returns (payload JSON, is_error, logs)."""
        payload, is_error = self._run(fn, event)
        return payload, is_error, ""

    def invoke_function(self, account_id: str, function_name: str, event: Any) -> tuple[str, bool]:
        """Invoke a deployed function by name in its account, as a synchronous Lambda Invoke would:
        returns (payload JSON, is_error). It reads the function's configuration straight from moto's
        backend (no AWS API call), so the HTTP gateway's hot path costs only the handler itself."""
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[account_id][self.region].get_function(function_name)
        return self._run(fn, event)

    def _run(self, fn: Any, event: Any) -> tuple[str, bool]:
        account_id = fn.account_id
        try:
            source = self.source_for(account_id, fn.function_name)
            if isinstance(event, (str, bytes)):
                event = json.loads(event or "{}")
            context = LambdaContext(
                function_name=fn.function_name,
                function_version=str(fn.version),
                invoked_function_arn=fn.function_arn,
                memory_limit_in_mb=int(fn.memory_size or 128),
                timeout_s=int(fn.timeout or 3),
                aws_request_id=str(uuid.uuid4()),
                log_group_name=f"/aws/lambda/{fn.function_name}",
                log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            )
            with self._environment.use(self._function_environment(fn)), acting_as(account_id):
                result = self._load(source)(event, context)
            return json.dumps(result, default=str), False
        except Exception as exc:  # noqa: BLE001 - every handler error becomes a Lambda error payload
            payload = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": "",
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(payload), True

    def _function_environment(self, fn: Any) -> dict[str, str]:
        env = {
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_ACCESS_KEY_ID": "lambda-role-key",
            "AWS_SECRET_ACCESS_KEY": "lambda-role-secret",
            "AWS_SESSION_TOKEN": "lambda-role-session",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        return env


class EnvironmentGate:
    """os.environ is process-global, so invocations share it by turns: those that need exactly the
    same environment (a Map's iterations of one function) run together, any other waits until the
    environment is free, then sets its own. Restores the previous values when the last one leaves."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active: tuple[tuple[str, str], ...] | None = None
        self._users = 0
        self._saved: dict[str, str | None] = {}

    @contextlib.contextmanager
    def use(self, values: dict[str, str]) -> Iterator[None]:
        key = tuple(sorted(values.items()))
        with self._changed:
            while self._users and self._active != key:
                self._changed.wait()
            if not self._users:
                # Costs count here (every HTTP request sets and restores ~25 variables): look up
                # only names that exist, since os.environ.get raises and catches for a missing one.
                present = set(os.environ)
                self._saved = {k: os.environ[k] if k in present else None for k in values}
                for name, value in values.items():
                    os.environ[name] = value
                self._active = key
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                if not self._users:
                    for name, old in self._saved.items():
                        if old is not None:
                            os.environ[name] = old
                            continue
                        try:
                            del os.environ[name]
                        except KeyError:  # the handler removed it itself
                            pass
                    self._active = None
                    self._changed.notify_all()
