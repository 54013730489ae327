"""Which version answers a row: the production alias (champion), or the challenger for its weight's
share of keys. Deterministic and sticky: a key (the row's entity id, else the request id) hashed
with the experiment's salt always lands on the same side while the experiment lasts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NamedTuple

__all__ = ["Routing", "Variant", "routing_from_aliases"]

type VariantName = Literal["production", "challenger"]


class Variant(NamedTuple):
    """A tuple: hashed and compared in C, as it is a dict key several times per request."""

    name: VariantName
    version: int


@dataclass(frozen=True)
class Routing:
    model: str
    production: int | None
    challenger: int | None = None
    weight: float = 0.0  # the challenger's share

    @cached_property
    def salt(self) -> str:
        """Per experiment: a new challenger (or weight) reshuffles which keys it gets."""
        return f"{self.model}:{self.challenger}:{self.weight}"

    @cached_property
    def champion(self) -> Variant:
        assert self.production is not None, "nothing to route to"
        return Variant("production", self.production)

    @cached_property
    def _contender(self) -> Variant | None:
        if self.challenger is None or self.weight <= 0:
            return None
        return Variant("challenger", self.challenger)

    def choose(self, key: str) -> Variant:
        contender = self._contender
        if contender is None:
            return self.champion
        digest = hashlib.blake2b(f"{self.salt}:{key}".encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64  # uniform in [0, 1)
        return contender if point < self.weight else self.champion


def routing_from_aliases(model: str, aliases: dict[str, dict[str, Any]]) -> Routing:
    """Routing from the registry's alias items (``alias_items``)."""
    production = aliases.get("production")
    challenger = aliases.get("challenger")
    if production is None or challenger is None or not challenger.get("weight"):
        return Routing(model, int(production["version"]) if production else None)
    return Routing(model, int(production["version"]), int(challenger["version"]), float(challenger["weight"]))
