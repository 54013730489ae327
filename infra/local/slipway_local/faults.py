"""Fault injection for the local cloud: make the next N calls of one AWS operation fail the way
AWS fails under load (S3 ``SlowDown`` 503, DynamoDB throttling), to prove retries end to end; and
make a Lambda step fail before or after it runs, or hold invocations at a barrier (``StepFault``).

A fault normally means AWS refused the call (nothing happened). With ``applied=True`` the call
takes effect and only its response is lost (a timeout after a commit): what a retry must survive.
Operations are named as botocore names them: service ``s3``, ``dynamodb``, ``sfn`` …, operation
``PutObject``, ``TransactWriteItems``, ``StartExecution`` …"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse

from slipway_local.routing import current_account


@dataclass
class Fault:
    service: str  # botocore service name, e.g. "s3"
    operation: str  # e.g. "GetObject"
    code: str = "SlowDown"
    status: int = 503
    remaining: int = 1
    account_id: str | None = None  # only calls made as this account (None: any)
    fired: int = 0
    applied: bool = False  # True: the call takes effect, then the error replaces its response


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, service: str, operation: str, account_id: str | None) -> Fault | None:
        """The pending fault for this call, if any (counted as fired)."""
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and fault.service == service
                    and fault.operation == operation
                    and fault.account_id in (None, account_id)
                ):
                    fault.remaining -= 1
                    fault.fired += 1
                    return fault
        return None

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        """botocore's ``before-send`` hook, for calls made in this process."""
        parts = [*event_name.split("."), "", ""]
        fault = self.take(parts[1], parts[2], current_account())
        if fault is None:
            return None
        if not fault.applied:
            request.headers[REFUSED_HEADER] = "1"
        from moto.core.botocore_stubber import MockRawResponse

        status, headers, body = error_response(fault)
        return AWSResponse(request.url, status, headers, MockRawResponse(body))


def error_response(fault: Fault) -> tuple[int, dict[str, str], str]:
    """The HTTP answer AWS gives for the fault's error code: (status, headers, body)."""
    if fault.service == "s3":
        body = f"<Error><Code>{fault.code}</Code><Message>injected by the local cloud</Message></Error>"
        return fault.status, {"Content-Type": "application/xml"}, body
    body = json.dumps({"__type": fault.code, "message": "injected by the local cloud"})
    return fault.status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": fault.code}, body


INJECTOR = FaultInjector()
REFUSED_HEADER = "x-slipway-refused"


def install_fault_injection(*, client_side: bool = True) -> None:
    """Register the injector ahead of moto's stubber so a pending fault answers first (``client_side``:
    for in-process moto; behind a server, slipway_local.moto_server applies faults to every request it
    serves, and a client-side injector would fire a second time for the same call).

    botocore emits ``before-send`` to every handler and keeps the first response, so in-process moto
    would still perform a call whose answer is an injected error: its stubber skips calls the
    injector marked refused."""
    entry = ("before-send", INJECTOR)
    if not client_side:
        if entry in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        return
    if entry not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber, "_slipway_skips_refused", False):
        return
    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if request.headers.get(REFUSED_HEADER):
            return None
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
    BotocoreStubber._slipway_skips_refused = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- Lambda step faults


@dataclass
class StepFault:
    """Make the next ``remaining`` invocations of one function (in one account) fail the way a step fails:

    - ``before``: answer ``error_type`` without running the handler (TransientError: the ASL retries it;
      any other: caught and recorded);
    - ``after``: run the handler (its side effects happen), then answer ``error_type`` instead of its
      result — a crash after a side effect, or a response lost on the way back;
    - ``barrier``: hold each invocation until ``parties`` of them are waiting, then run them all at once
      (to make two runs race through a step deterministically);
    - ``oversize``: run the handler, then pad its result with ``OVERSIZE_BYTES`` of text (a step output
      beyond Step Functions' 256 KiB state limit).
    """

    account_id: str
    function_name: str
    when: str  # "before" | "after" | "barrier"
    error_type: str = "TransientError"
    remaining: int = 1
    parties: int = 2
    marker: str | None = None  # only invocations whose event (as JSON) contains this text, e.g. a model name
    fired: int = 0
    _barrier: threading.Barrier | None = None

    def __post_init__(self) -> None:
        if self.when not in ("before", "after", "barrier", "oversize"):
            raise ValueError(f"when must be before, after, barrier or oversize, not {self.when!r}")
        if self.when == "barrier":
            self._barrier = threading.Barrier(self.parties, timeout=120)

    def error_payload(self) -> str:
        return json.dumps(
            {
                "errorType": self.error_type,
                "errorMessage": f"injected by the local cloud ({self.when} {self.function_name})",
                "stackTrace": [],
            }
        )

    def release(self) -> None:
        """Let every invocation held at the barrier go on now (and the later ones pass)."""
        if self._barrier is not None:
            self._barrier.abort()
        self.remaining = 0

    def wait(self) -> None:
        """Wait for the other parties; a barrier that never fills (a run failed earlier) lets each go on."""
        assert self._barrier is not None
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            pass


class StepFaults:
    def __init__(self) -> None:
        self._faults: list[StepFault] = []
        self._lock = threading.Lock()

    def add(self, fault: StepFault) -> StepFault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, account_id: str, function_name: str, event: Any) -> StepFault | None:
        """The pending fault for this invocation, if any (counted as fired)."""
        with self._lock:
            if not self._faults:
                return None
            text = event if isinstance(event, str) else json.dumps(event, default=str)
            for fault in self._faults:
                if fault.marker is not None and fault.marker not in text:
                    continue
                if fault.remaining > 0 and (fault.account_id, fault.function_name) == (account_id, function_name):
                    fault.remaining -= 1
                    fault.fired += 1
                    return fault
        return None


STEP_FAULTS = StepFaults()
OVERSIZE_BYTES = 300 * 1024
