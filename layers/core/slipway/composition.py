"""Composition root: settings read once per environment, adapters wired to cached clients.
Handlers call ``container()``; nothing else reads the environment or builds clients."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from slipway.adapters import clients
from slipway.adapters.artifacts import ArtifactStore
from slipway.adapters.metadata import MetadataTable
from slipway.settings import Settings


@dataclass(frozen=True)
class Container:
    settings: Settings
    session: Any = None  # a boto3 Session for operator tools (CLI); None inside Lambda

    def client(self, service: str) -> Any:
        return clients.client(service, self.settings.region, self.settings.endpoint_url, self.session)

    @cached_property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.client("s3"))

    @cached_property
    def table(self) -> MetadataTable:
        return MetadataTable(self.client("dynamodb"), self.settings.metadata_table)


@functools.lru_cache(maxsize=16)
def _container_for(settings: Settings) -> Container:
    return Container(settings)


def container() -> Container:
    """The container for the current function environment (one per distinct settings)."""
    return _container_for(Settings.from_environ())
