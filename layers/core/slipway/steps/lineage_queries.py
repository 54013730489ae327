"""Lineage answers both ways: from a model version back to the raw objects, spec, code and run
that made it; from a raw object forward to every model it fed."""

from __future__ import annotations

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.domain.keys import node_pk
from slipway.domain.lineage import raw_node, walk


def _neighbours(c: Container, node: str, direction: str) -> list[str]:
    return [e["other"] for e in c.table.query(node_pk(node), f"EDGE#{direction}#")]


def upstream(c: Container, node: str) -> list[str]:
    """Every node that fed ``node`` (raw objects, dataset, feature set, run, spec), nearest first."""
    return walk(node, lambda n: _neighbours(c, n, "in"))


def downstream(c: Container, node: str) -> list[str]:
    """Every node ``node`` fed (datasets, feature sets, runs, model versions), nearest first."""
    return walk(node, lambda n: _neighbours(c, n, "out"))


def raw_nodes(c: Container, uri: str) -> list[str]:
    """The lineage nodes of every version of a raw object (``s3://bucket/key``)."""
    ref = S3Ref.parse(uri)
    return [raw_node(uri, v) for v in c.store.versions(ref.bucket, ref.key)]


def models_fed_by(c: Container, uri: str) -> list[str]:
    """Model versions (``model:<name>:<version>``) that an uploaded object fed, in any of its versions."""
    found: list[str] = []
    for raw in raw_nodes(c, uri):
        found += [n for n in downstream(c, raw) if n.startswith("model:") and n not in found]
    return found
