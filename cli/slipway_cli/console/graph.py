"""A version's lineage drawn as an SVG graph on the server (no script): raw upload → curated dataset (and the spec
that validated it) → feature set → run → model version (→ the versions it was promoted as) → promotions → the
environments they went into (with the version there and what it serves as). Columns by each node's depth from the
uploads; each node names its kind and id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["KIND_NAMES", "Node", "env_node", "lineage_svg", "nodes_of"]

KIND_NAMES = {
    "raw": "raw upload",
    "dataset": "curated dataset",
    "spec": "spec",
    "features": "feature set",
    "run": "run",
    "model": "model version",
    "promotion": "promotion",
    "env": "environment",
    "view": "feature view version",
    "viewspec": "feature view spec",
}
WIDTH, HEIGHT, GAP_X, GAP_Y, PAD = 200, 46, 56, 14, 10


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    label: str


def _node(node_id: str) -> Node:
    kind, _, rest = node_id.partition(":")
    if kind == "raw":
        path, _, version = rest.partition("?versionId=")
        label = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] if path.count("/") > 3 else path
        return Node(node_id, kind, label + (f" @{version[:8]}" if version else ""))
    if kind == "model":
        model, _, number = rest.partition(":")
        number, _, env = number.partition("@")
        return Node(node_id, kind, f"{model} v{number}" + (f" in {env}" if env else ""))
    if kind in ("dataset", "features", "spec"):
        return Node(node_id, kind, rest.rpartition(":")[2][:16])
    if kind == "view":
        view, _, number = rest.rpartition(":")
        return Node(node_id, kind, f"{view} v{number}")
    if kind in ("promotion", "env"):
        return Node(node_id, kind, rest)
    return Node(node_id, kind, rest[:28])


def nodes_of(edges: Iterable[dict[str, str]]) -> list[Node]:
    seen: dict[str, Node] = {}
    for e in edges:
        for n in (e["upstream"], e["downstream"]):
            seen.setdefault(n, _node(n))
    return list(seen.values())


def _depths(nodes: list[Node], edges: list[dict[str, str]]) -> dict[str, int]:
    """Each node's column: the longest path to it from a node nothing fed."""
    parents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for e in edges:
        parents[e["downstream"]].append(e["upstream"])
    depth: dict[str, int] = {}

    def of(node: str, visiting: frozenset[str]) -> int:
        if node not in depth:
            ups = [p for p in parents.get(node, []) if p not in visiting]
            depth[node] = 1 + max((of(p, visiting | {node}) for p in ups), default=-1)
        return depth[node]

    for n in nodes:
        of(n.id, frozenset())
    return depth


def env_node(env: str, version: Any, aliases: Iterable[str]) -> str:
    """An environment as a node: the version the promotion made there, and the aliases it holds now."""
    held = ", ".join(sorted(aliases)) or "no alias"
    return f"env:{env}: v{version} ({held})" if version is not None else f"env:{env}"


def lineage_svg(
    edges: list[dict[str, str]],
    focus: str,
    promotions: list[dict[str, Any]],
    environments: dict[str, dict[int, list[str]]] | None = None,
) -> str:
    """The graph of ``edges`` (upstream lineage of ``focus``) plus ``promotions`` of the focus and the environments
    they went into (``environments``: env → version → its aliases there, for the environments the console reads), as
    inline SVG."""
    edges = list(edges)
    for p in promotions:
        to = f"promotion:{p.get('source_env')} v{p.get('source_version')} → {p.get('target_env')}: {p.get('status')}"
        edges.append({"upstream": focus, "downstream": to, "kind": "promoted"})
        env, version = str(p.get("target_env")), p.get("target_version")
        held = (environments or {}).get(env, {}).get(int(version), []) if version is not None else []
        edges.append({"upstream": to, "downstream": env_node(env, version, held), "kind": "into"})
    nodes = nodes_of(edges) or [_node(focus)]
    depth = _depths(nodes, edges)
    columns: dict[int, list[Node]] = {}
    for n in nodes:
        columns.setdefault(depth.get(n.id, 0), []).append(n)
    place: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, n in enumerate(sorted(members, key=lambda m: (m.kind, m.label))):
            place[n.id] = (PAD + col * (WIDTH + GAP_X), PAD + row * (HEIGHT + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * (WIDTH + GAP_X) - GAP_X
    height = PAD * 2 + max(len(m) for m in columns.values()) * (HEIGHT + GAP_Y) - GAP_Y
    kinds = sorted({KIND_NAMES.get(n.kind, n.kind) for n in nodes})
    summary = f"Lineage graph of {len(nodes)} nodes ({', '.join(kinds)})"
    parts = [
        f'<svg class="lineage" role="img" aria-label="{escape(summary)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    for e in edges:
        (x1, y1), (x2, y2) = place[e["upstream"]], place[e["downstream"]]
        sx, sy, tx, ty = x1 + WIDTH, y1 + HEIGHT / 2, x2, y2 + HEIGHT / 2
        mid = (sx + tx) / 2
        parts.append(f'<path d="M {sx} {sy} C {mid} {sy}, {mid} {ty}, {tx} {ty}" data-kind="{escape(e["kind"])}"/>')
    for n in nodes:
        x, y = place[n.id]
        own = " self" if n.id == focus else ""
        parts.append(
            f'<g class="node {escape(n.kind)}{own}" data-node="{escape(n.id)}"><title>{escape(n.id)}</title>'
            f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="6"/>'
            f'<text class="kind" x="{x + 8}" y="{y + 16}">{escape(KIND_NAMES.get(n.kind, n.kind))}</text>'
            f'<text x="{x + 8}" y="{y + 34}">{escape(_fit(n.label))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fit(text: str, chars: int = 30) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"
