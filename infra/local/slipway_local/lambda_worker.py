"""One Lambda execution environment of the local cloud: a process of its own, started with its
function's environment variables, that loads the handler once (cold start) and then serves
invocations one at a time, as long as the runtime keeps it warm.

    python infra/local/slipway_local/lambda_worker.py    (started by slipway_local.lambda_workers)

Once the handler is loaded (Lambda's init phase) it writes ``{"ready": true}``; then requests arrive
as JSON lines on stdin (``{"event", "context"}``) and each answer is one JSON line
(``{"payload", "is_error"}``) on the file descriptor ``SLIPWAY_RESPONSE_FD``, so that whatever the
handler prints (its logs) stays on stdout and stderr. AWS calls go to ``AWS_ENDPOINT_URL`` (the local
cloud's server) as ``SLIPWAY_ACCOUNT``."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
from typing import Any

# Run by its path, this file's folder (slipway_local) comes first on sys.path, where its modules shadow top-level
# packages a handler imports: slipway_local/packaging.py hid `packaging` from onnxmltools, so every ONNX export in a
# worker failed. A Lambda environment's path holds the function's code and layers, not the local cloud's folder.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]


class _Context:
    """The Lambda context object a handler receives."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._deadline = time.monotonic() + float(fields.pop("remaining_ms")) / 1000
        for name, value in fields.items():
            setattr(self, name, value)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _route_to_account(account: str, principal: str) -> None:
    """Every AWS call of this process goes to its function's account (moto's account header), as its
    execution role (the local cloud's principal header, which the resource policies are checked on)."""
    import botocore.handlers

    def add_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account
        if principal:
            request.headers["x-slipway-principal"] = principal

    botocore.handlers.BUILTIN_HANDLERS.append(("before-sign", add_account))


def _load_handler(path: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location("lambda_function_module", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handler module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def _error(exc: BaseException) -> dict[str, Any]:
    frames: list[str] = []
    if exc.__cause__ is not None:
        frames += traceback.format_tb(exc.__cause__.__traceback__)
        frames.append(f"{type(exc.__cause__).__name__} (its message stays out: it may quote data)\n-- raised as --\n")
    frames += traceback.format_tb(exc.__traceback__)
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "", "stackTrace": frames}


def main() -> None:
    answers = os.fdopen(int(os.environ["SLIPWAY_RESPONSE_FD"]), "w", buffering=1)
    _route_to_account(os.environ["SLIPWAY_ACCOUNT"], os.environ.get("SLIPWAY_PRINCIPAL", ""))
    sys.path.insert(0, os.environ["SLIPWAY_CODE_ROOT"])
    try:
        handler = _load_handler(os.environ["SLIPWAY_HANDLER_FILE"], os.environ["SLIPWAY_HANDLER_NAME"])
        init_error = None
    except Exception as exc:  # noqa: BLE001 - an init error is every invocation's answer, as on Lambda
        handler, init_error = None, _error(exc)
    answers.write(json.dumps({"ready": True}) + "\n")  # the init phase is over: invocations may start
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            answer = {"payload": json.dumps(init_error), "is_error": True}
        else:
            try:
                result = handler(request["event"], _Context(request["context"]))
                answer = {"payload": json.dumps(result, default=str), "is_error": False}
            except Exception as exc:  # noqa: BLE001 - every handler error is a Lambda error payload
                answer = {"payload": json.dumps(_error(exc)), "is_error": True}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
