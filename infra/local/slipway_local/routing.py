"""Routes boto3 calls to a moto account: a thread-local account, set around each in-process
Lambda invocation and deployment step, is sent as moto's ``x-moto-account-id`` header; the principal
acting (a function's execution role, a state machine's role) goes with it as ``x-slipway-principal``,
which the local cloud's resource policies (slipway_local.perimeter) evaluate."""

from __future__ import annotations

import contextlib
import functools
import importlib
import pkgutil
import threading
from collections.abc import Iterator
from typing import Any

import botocore.handlers

ACCOUNT_HEADER = "x-moto-account-id"
PRINCIPAL_HEADER = "x-slipway-principal"
_local = threading.local()


def current_account() -> str | None:
    return getattr(_local, "account", None)


def current_principal() -> str | None:
    return getattr(_local, "principal", None)


@contextlib.contextmanager
def acting_as(account_id: str | None, principal: str | None = None) -> Iterator[None]:
    """Every boto3 request made by this thread inside the block goes to ``account_id``, as ``principal``
    (an IAM role ARN) when given."""
    previous = current_account(), current_principal()
    _local.account, _local.principal = account_id, principal
    try:
        yield
    finally:
        _local.account, _local.principal = previous


def _add_thread_account(request: Any, **_: Any) -> None:
    account = current_account()
    if account:
        request.headers[ACCOUNT_HEADER] = account
        principal = current_principal()
        if principal:
            request.headers[PRINCIPAL_HEADER] = principal


def _add_fixed_account(request: Any, account_id: str, principal: str | None = None, **_: Any) -> None:
    if not current_account():
        request.headers[ACCOUNT_HEADER] = account_id
        if principal:
            request.headers[PRINCIPAL_HEADER] = principal


def pin_to_account(client: Any, account_id: str, principal: str | None = None) -> Any:
    """Make every call of this client go to ``account_id`` (unless a thread acts as another), as ``principal``."""
    client.meta.events.register(
        "before-sign", functools.partial(_add_fixed_account, account_id=account_id, principal=principal)
    )
    return client


def install_account_routing() -> None:
    """Adds the header hook to every botocore session created from now on (idempotent)."""
    entry = ("before-sign", _add_thread_account)
    if entry not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(entry)


def install_thread_inheritance() -> None:
    """A thread started inside an invocation acts as the invocation's account for its whole life, as a
    thread of a Lambda function's process belongs to the function's account (idempotent)."""
    if getattr(threading.Thread.start, "_slipway_inherits", False):
        return
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        account, principal = current_account(), current_principal()
        if account is not None:
            run = self.run

            def run_as_account() -> None:
                with acting_as(account, principal):
                    run()

            self.run = run_as_account  # type: ignore[method-assign]
        original(self)

    start._slipway_inherits = True  # type: ignore[attr-defined]
    threading.Thread.start = start  # type: ignore[method-assign]


def account_of_arn(arn: str) -> str:
    return arn.split(":")[4]


def install_state_machine_credentials() -> None:
    """Makes the Step Functions interpreter call AWS as the state machine's own account.

    moto's interpreter builds clients with fixed fake keys (default account); the state's
    credentials carry the execution role ARN, whose account is the one that owns the machine.
    ``boto_client_for`` is imported by name into several parser modules: replace each reference.
    """
    import moto.stepfunctions.parser as parser_pkg
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = getattr(boto_client, "_slipway_original", boto_client.boto_client_for)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original(region, service, state_credentials)
        role_arn = getattr(state_credentials, "role_arn", None)
        return pin_to_account(client, account_of_arn(role_arn), role_arn) if role_arn else client

    boto_client._slipway_original = original  # type: ignore[attr-defined]
    for info in pkgutil.walk_packages(parser_pkg.__path__, parser_pkg.__name__ + ".", onerror=lambda _: None):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a few parser modules are LocalStack leftovers that do not import
            continue
        if getattr(module, "boto_client_for", None) in (original, boto_client.boto_client_for):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
