"""Composition root: settings read once per environment, the ports wired to AWS adapters on
cached clients. Handlers call ``deps()`` and wear ``typed_errors`` (nothing untyped leaves a step);
operator tools call ``aws_deps(settings, session)``; ``slipway.handler`` declares a step's handler on them."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable
from typing import Any

from slipway.adapters import clients
from slipway.adapters.artifacts import S3ArtifactStore
from slipway.adapters.clock import SystemClock
from slipway.adapters.events import EventBridgeBus
from slipway.adapters.firehose import FirehoseSink
from slipway.adapters.lambda_errors import typed_errors
from slipway.adapters.metadata import DynamoMetadataTable
from slipway.adapters.online import DynamoOnlineStore
from slipway.adapters.schedules import EventBridgeSchedules
from slipway.adapters.workflows import StepFunctionsWorkflows
from slipway.ports import Deps
from slipway.settings import Settings

__all__ = ["aws_deps", "deps", "reset_clients", "typed_errors"]


def aws_deps(settings: Settings, session: Any = None) -> Deps:
    """The ports on AWS (or any endpoint ``settings.endpoint_url`` names); ``session`` is a boto3
    Session for operator tools (a profile), None inside Lambda (default credentials)."""

    def client(service: str) -> Any:
        return _LazyClient(lambda: clients.client(service, settings.region, settings.endpoint_url, session))

    dynamodb = client("dynamodb")  # the metadata table's and the online store's: one client
    return Deps(
        settings=settings,
        store=S3ArtifactStore(client("s3")),
        table=DynamoMetadataTable(dynamodb, settings.metadata_table),
        events=EventBridgeBus(client("events"), settings.event_bus),
        clock=SystemClock(),
        captures=FirehoseSink(client("firehose"), settings.capture_stream),
        workflows=StepFunctionsWorkflows(lambda: client("stepfunctions")),
        schedules=EventBridgeSchedules(
            client("events"), settings.env, settings.drift_state_machine_arn, settings.drift_schedule_role_arn
        ),
        online=DynamoOnlineStore(dynamodb, settings.online_table),
    )


class _LazyClient:
    """A boto3 client created on first use: a function pays only for the services it calls (cold start)."""

    def __init__(self, create: Callable[[], Any]) -> None:
        self._create = create
        self._client: Any = None
        _lazy_clients.add(self)

    def reset(self) -> None:
        """Create the client again at its next use."""
        self._client = None

    def __getattr__(self, name: str) -> Any:
        client = self._client  # read once: a reset from another thread must not leave None here
        if client is None:
            client = self._client = self._create()
        return getattr(client, name)


_lazy_clients: weakref.WeakSet[_LazyClient] = weakref.WeakSet()


def reset_clients() -> None:
    """Every port's AWS client is made again at its next use, from a new botocore session (new credentials and
    connections; the session's parsed service models are kept): after a SnapStart restore, nothing of a client
    made before the snapshot is used."""
    clients.reset()
    for lazy in list(_lazy_clients):
        lazy.reset()


@functools.lru_cache(maxsize=16)
def _deps_for(settings: Settings) -> Deps:
    if settings.pii_salt_parameter and not settings.pii_salt:
        settings = dataclasses.replace(settings, pii_salt=_secure_parameter(settings, settings.pii_salt_parameter))
    return aws_deps(settings)


def _secure_parameter(settings: Settings, name: str) -> str:
    """An SSM SecureString's value (decrypted), once per cold start."""
    ssm = clients.client("ssm", settings.region, settings.endpoint_url)
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def deps() -> Deps:
    """The dependencies of the current function environment (one per distinct settings)."""
    return _deps_for(Settings.from_environ())
