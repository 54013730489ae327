"""Composition root: settings read once per environment, adapters wired to cached clients.
Handlers call ``container()``; nothing else reads the environment or builds clients."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

from slipway.adapters import clients
from slipway.adapters.artifacts import ArtifactStore
from slipway.adapters.metadata import MetadataTable
from slipway.settings import Settings


@dataclass(frozen=True)
class Container:
    settings: Settings

    @cached_property
    def store(self) -> ArtifactStore:
        return ArtifactStore(clients.client("s3", self.settings.region, self.settings.endpoint_url))

    @cached_property
    def table(self) -> MetadataTable:
        db = clients.client("dynamodb", self.settings.region, self.settings.endpoint_url)
        return MetadataTable(db, self.settings.metadata_table)


@functools.lru_cache(maxsize=16)
def _container_for(settings: Settings) -> Container:
    return Container(settings)


def container() -> Container:
    """The container for the current function environment (one per distinct settings)."""
    return _container_for(Settings.from_environ())
