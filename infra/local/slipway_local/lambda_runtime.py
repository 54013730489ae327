"""Runs Lambda functions: the real handler named in the template, with the function's environment,
in its own account — in worker processes of its own (slipway_local.lambda_workers: Timeout,
MemorySize, own environment variables) or, for functions marked in-process (the latency-sensitive
ones, e.g. the HTTP API's), in this process. Exceptions become Lambda error payloads so that Step
Functions Retry/Catch match on the class name, as on AWS.

``LambdaRuntime.invoke_function(account_id, function_name, event) -> (payload JSON, is_error)`` is
the one entry point to invoke a deployed function by name (moto's Lambda hook goes through the same
path): step faults and the invocation record apply to both."""

from __future__ import annotations

import collections
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

from slipway_local.faults import OVERSIZE_BYTES, STEP_FAULTS
from slipway_local.lambda_workers import WorkerPools, WorkerSpec
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


@dataclass(frozen=True)
class Invocation:
    """One finished invocation, as CloudWatch would show it: the function, its event and its answer."""

    account_id: str
    function_name: str
    event: Any
    payload: str  # the JSON the function returned, or its error payload
    is_error: bool
    version: str = "$LATEST"  # the version that ran (an alias's, when invoked through one)

    @property
    def result(self) -> Any:
        return json.loads(self.payload)


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

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        *,
        processes: bool = False,
        in_process: frozenset[str] = frozenset(),
        max_workers_per_function: int = 2,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        # Worker processes (Lambda's execution environments: own environment, Timeout, MemorySize) for
        # every function but those named (logical ids) in ``in_process``, which run in this process.
        self.processes = processes
        self.in_process = in_process
        self.in_workers: set[tuple[str, str]] = set()  # (account, function) run in workers whatever the default
        self.worker_endpoint = endpoint_url  # where workers reach AWS; set by the cloud in in-process mode
        self.workers = WorkerPools(max_workers_per_function)
        self._sources: dict[tuple[str, str], FunctionSource] = {}
        self._modules: dict[Path, ModuleType] = {}
        # SnapStart runtime hooks each in-process module registered while it was imported (snapshot_restore_py)
        self._hooks: dict[Path, dict[str, list[tuple[Any, Any, Any]]]] = {}
        self._environment = EnvironmentGate()
        self._loading = threading.Lock()
        # One invocation at a time through each in-process function's module (Lambda runs one per execution
        # environment): its handler's module state (Powertools' resolver keeps the current event and context in
        # class attributes) is shared by every account's copy of the function here.
        self._serial: dict[Path, threading.Lock] = {}
        self._in_flight = 0  # asynchronous invocations not finished yet
        self.invocations: collections.deque[Invocation] = collections.deque(maxlen=10_000)  # newest last
        self._idle = threading.Condition()

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
            registries = _hook_registries()
            before = {phase: len(registry) for phase, registry in registries.items()}
            spec.loader.exec_module(module)
            self._hooks[path] = {phase: list(registry[before[phase] :]) for phase, registry in registries.items()}
            self._modules[path] = module
        return getattr(module, source.function_name)  # type: ignore[no-any-return]

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """moto's hook: invoke a moto ``LambdaFunction``; returns (payload JSON, is_error, logs)."""
        payload, is_error = self._invoke(fn, event)
        return payload, is_error, ""

    def invoke_function(self, account_id: str, function_name: str, event: Any) -> tuple[str, bool]:
        """Invoke a deployed function by name in its account, as a synchronous Lambda Invoke would:
        returns (payload JSON, is_error). It reads the function's configuration straight from moto's
        backend (no AWS API call), so the HTTP gateway's hot path costs only the handler itself."""
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[account_id][self.region].get_function(function_name)
        return self._invoke(fn, event)

    def run_snapstart_hooks(self, account_id: str, function_name: str, phase: str) -> int:
        """Run the SnapStart runtime hooks an in-process function registered while its handler module was imported
        (``phase``: ``before_snapshot``, in reverse order of registration, or ``after_restore``, in order: as
        Lambda's runtime runs them), in the function's environment and account, between invocations; returns how
        many ran. The local cloud takes no snapshot: this runs what Lambda runs around one, for tests."""
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[account_id][self.region].get_function(function_name)
        source = self.source_for(account_id, fn.function_name)
        if not self.runs_in_process(account_id, fn.function_name):
            raise NotImplementedError(f"{function_name} runs in worker processes: its hooks are not reachable here")
        self._load(source)
        hooks = self._hooks[source.module_file][phase]
        with (
            self._serial.setdefault(source.module_file, threading.Lock()),
            self._environment.use(self._function_environment(fn)),
            acting_as(account_id, fn.role),
        ):
            for hook, args, kwargs in reversed(hooks) if phase == "before_snapshot" else hooks:
                hook(*args, **kwargs)
        return len(hooks)

    def invocations_of(self, function_name: str) -> list[Invocation]:
        return [i for i in list(self.invocations) if i.function_name == function_name]

    def _invoke(self, fn: Any, event: Any) -> tuple[str, bool]:
        """Every invocation path: a pending step fault, the handler, and the record of the invocation."""
        fault = STEP_FAULTS.take(fn.account_id, fn.function_name, event)
        if fault is not None and fault.when == "barrier":
            fault.wait()
        if fault is not None and fault.when == "before":
            payload, is_error = fault.error_payload(), True
        else:
            payload, is_error = self._run(fn, event)
            if fault is not None and fault.when == "after":
                payload, is_error = fault.error_payload(), True
            elif fault is not None and fault.when == "oversize" and not is_error:
                payload = json.dumps({**json.loads(payload), "padding": "x" * OVERSIZE_BYTES})
        if isinstance(event, (str, bytes)):
            with contextlib.suppress(ValueError):
                event = json.loads(event or "{}")
        self.invocations.append(Invocation(fn.account_id, fn.function_name, event, payload, is_error, str(fn.version)))
        return payload, is_error

    def runs_in_process(self, account_id: str, function_name: str) -> bool:
        if (account_id, function_name) in self.in_workers:
            return False
        return not self.processes or self.source_for(account_id, function_name).logical_id in self.in_process

    def close(self) -> None:
        """Stop every worker process."""
        self.workers.close()

    def _run(self, fn: Any, event: Any) -> tuple[str, bool]:
        if not self.runs_in_process(fn.account_id, fn.function_name):
            return self._run_in_worker(fn, event)
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
            serial = None
            if source.logical_id in self.in_process:
                serial = self._serial.setdefault(source.module_file, threading.Lock())
            with (
                serial or contextlib.nullcontext(),
                self._environment.use(self._function_environment(fn)),
                acting_as(account_id, fn.role),
            ):
                result = self._load(source)(event, context)
            return json.dumps(result, default=str), False
        except Exception as exc:  # noqa: BLE001 - every handler error becomes a Lambda error payload
            payload = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": "",
                "stackTrace": _stack(exc),
            }
            return json.dumps(payload), True

    def _run_in_worker(self, fn: Any, event: Any) -> tuple[str, bool]:
        source = self.source_for(fn.account_id, fn.function_name)
        environment = self._function_environment(fn)
        if self.worker_endpoint:
            environment["AWS_ENDPOINT_URL"] = self.worker_endpoint
        spec = WorkerSpec(
            account_id=fn.account_id,
            role=fn.role or "",
            function_name=fn.function_name,
            code_root=source.code_root,
            handler_file=source.module_file,
            handler_name=source.function_name,
            environment=tuple(sorted(environment.items())),
            memory_mb=int(fn.memory_size or 128),
            timeout_s=float(fn.timeout or 3),
        )
        if isinstance(event, (str, bytes)):
            try:
                event = json.loads(event or "{}")
            except ValueError as exc:
                return json.dumps({"errorType": "Runtime.UnmarshalError", "errorMessage": str(exc)}), True
        context = {
            "function_name": fn.function_name,
            "function_version": str(fn.version),
            "invoked_function_arn": fn.function_arn,
            "memory_limit_in_mb": int(fn.memory_size or 128),
            "aws_request_id": str(uuid.uuid4()),
            "log_group_name": f"/aws/lambda/{fn.function_name}",
            "log_stream_name": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        }
        return self.workers.invoke(spec, event, context)

    # ------------------------------------------------------------------ asynchronous invocation
    def invoke_async(self, fn: Any, event: Any) -> None:
        """Lambda's asynchronous invocation (EventBridge, S3 targets): run in the background; on a
        function error retry up to the function's ``MaximumRetryAttempts`` (2 by default; AWS waits
        1 then 2 minutes, the local cloud does not wait), then send the failure record to the
        ``OnFailure`` destination (an SQS queue) of its event invoke config."""
        with self._idle:
            self._in_flight += 1
        threading.Thread(target=self._run_async, args=(fn, event), daemon=True).start()

    def wait_async_idle(self, timeout_s: float = 300.0) -> None:
        """Wait until every asynchronous invocation has finished (bounded)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout_s):
                raise TimeoutError(f"{self._in_flight} asynchronous invocations still running after {timeout_s:g} s")

    def _run_async(self, fn: Any, event: Any) -> None:
        try:
            config = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
            attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
            payload = ""
            for _ in range(attempts):
                payload, is_error = self._invoke(fn, event)
                if not is_error:
                    return
            destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination:
                _send_failure_record(fn, destination, event, payload, attempts)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

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


def _hook_registries() -> dict[str, list[tuple[Any, Any, Any]]]:
    """snapshot_restore_py's registries (the lists Lambda's runtime reads), or none when it is not installed."""
    try:
        import snapshot_restore_py
    except ImportError:
        return {"before_snapshot": [], "after_restore": []}
    return {
        "before_snapshot": snapshot_restore_py.get_before_snapshot(),
        "after_restore": snapshot_restore_py.get_after_restore(),
    }


def _send_failure_record(fn: Any, destination: str, event: Any, response: str, attempts: int) -> None:
    """The record Lambda sends to an on-failure destination after the last retry (SQS only here)."""
    from moto.sqs.models import sqs_backends

    _, _, service, region, account, name = destination.split(":", 5)
    if service != "sqs":
        raise NotImplementedError(f"the local cloud sends on-failure records to SQS only, not {service}")
    request = json.loads(event) if isinstance(event, (str, bytes)) else event
    record = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{fn.function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": json.loads(response),
    }
    sqs_backends[account][region].send_message(name, json.dumps(record))


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


def _stack(exc: BaseException) -> list[str]:
    """The error payload's stack trace; for a typed error raised ``from`` another exception (typed_errors), the
    original's frames come first, as Python prints them, so the cause is not lost behind the wrapper."""
    frames: list[str] = []
    cause = exc.__cause__
    if cause is not None:
        frames += traceback.format_tb(cause.__traceback__)
        frames.append(f"{type(cause).__name__} (its message stays out: it may quote data)\n-- raised as --\n")
    return frames + traceback.format_tb(exc.__traceback__)
