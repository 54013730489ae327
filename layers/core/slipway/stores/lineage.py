"""Lineage answers both ways: from a model version back to the raw objects, spec, code and run
that made it; from a raw object forward to every model it fed."""

from __future__ import annotations

from slipway import layout
from slipway.domain.lineage import raw_node, walk
from slipway.objects import S3Object
from slipway.ports import Deps


def _neighbours(deps: Deps, node: str, direction: str) -> list[str]:
    return [e["other"] for e in deps.table.query(*layout.edges(node, direction))]


def upstream(deps: Deps, node: str) -> list[str]:
    """Every node that fed ``node`` (raw objects, dataset, feature set, run, spec), nearest first."""
    return walk(node, lambda n: _neighbours(deps, n, "in"))


def upstream_edges(deps: Deps, node: str) -> list[dict[str, str]]:
    """Every edge upstream of ``node`` (``{"upstream", "downstream", "kind"}``), nearest first: the subgraph
    a promoted version carries to the next environment."""
    found: list[dict[str, str]] = []
    for current in [node, *upstream(deps, node)]:
        for e in deps.table.query(*layout.edges(current, "in")):
            found.append({"upstream": str(e["other"]), "downstream": current, "kind": str(e["kind"])})
    return found


def downstream(deps: Deps, node: str) -> list[str]:
    """Every node ``node`` fed (datasets, feature sets, runs, model versions), nearest first."""
    return walk(node, lambda n: _neighbours(deps, n, "out"))


def raw_nodes(deps: Deps, uri: str) -> list[str]:
    """The lineage nodes of every version of a raw object (``s3://bucket/key``)."""
    return [raw_node(uri, v) for v in deps.store.versions(S3Object.parse(uri))]


def models_fed_by(deps: Deps, uri: str) -> list[str]:
    """Model versions (``model:<name>:<version>``) that an uploaded object fed, in any of its versions."""
    found: list[str] = []
    for raw in raw_nodes(deps, uri):
        found += [n for n in downstream(deps, raw) if n.startswith("model:") and n not in found]
    return found
