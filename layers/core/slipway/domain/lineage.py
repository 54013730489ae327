"""Lineage as a graph in the metadata table: each edge is stored under both of its nodes, so
the graph answers both ways (model version -> raw objects, raw object -> models)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from slipway import layout

# What an edge means, read upstream → downstream: a raw object is curated into a dataset version, which a
# spec version validated; a dataset is featurised into a feature set, trained in a run, registered as a model
# version, which a spec version specified; a model version in one environment is promoted as a version of
# another environment; a dataset version is extended into a retraining set (plus labelled captures).
type EdgeKind = Literal[
    "curated_into",
    "validated",
    "extended_into",
    "featurised_into",
    "trained_in",
    "registered_as",
    "specified",
    "promoted_as",
    "materialised_into",
    "joined_into",
]


@dataclass(frozen=True)
class Edge:
    upstream: str  # node id, e.g. "raw:s3://bucket/key?versionId=..."
    downstream: str  # node id, e.g. "dataset:churn:<sha256>"
    kind: EdgeKind

    def items(self, when: str) -> list[dict[str, Any]]:
        """The two table items of this edge: out of ``upstream`` and into ``downstream``."""
        out_key, in_key = layout.edge_keys(self.upstream, self.downstream, self.kind)
        return [
            layout.item(out_key, kind=self.kind, other=self.downstream, direction="out", at=when),
            layout.item(in_key, kind=self.kind, other=self.upstream, direction="in", at=when),
        ]


def walk(start: str, neighbours: Callable[[str], Iterable[str]]) -> list[str]:
    """Breadth-first closure from ``start`` (excluded) following ``neighbours``; cycle-safe."""
    seen = {start}
    order: list[str] = []
    queue = deque([start])
    while queue:
        for other in neighbours(queue.popleft()):
            if other not in seen:
                seen.add(other)
                order.append(other)
                queue.append(other)
    return order


def dataset_node(model: str, version: str) -> str:
    return f"dataset:{model}:{version}"


def spec_node(model: str, version: str) -> str:
    return f"spec:{model}:{version}"


def raw_node(uri: str, version_id: str | None) -> str:
    """An uploaded object, pinned to one S3 version when the bucket is versioned."""
    return f"raw:{uri}" + (f"?versionId={version_id}" if version_id else "")


def view_node(view: str, version: int) -> str:
    """A feature view version (one materialised upload), numbered per environment as model versions are."""
    return f"view:{view}:{version}"


def view_spec_node(view: str, version: str) -> str:
    return f"viewspec:{view}:{version}"


def feature_set_node(model: str, feature_set: str) -> str:
    return f"features:{model}:{feature_set}"


def run_node(run_id: str) -> str:
    return f"run:{run_id}"


def model_node(model: str, version: int) -> str:
    return f"model:{model}:{version}"


def in_environment(node: str, env: str) -> str:
    """A node id as another environment records it. Only model versions are numbered per environment
    (``model:churn:3`` in dev is ``model:churn:3@dev`` in staging); raw objects name their bucket and the
    other nodes are content hashes or run ids, the same everywhere."""
    if node.startswith("model:") and "@" not in node:
        return f"{node}@{env}"
    return node
