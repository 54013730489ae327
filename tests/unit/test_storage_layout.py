"""One storage layout: every DynamoDB and S3 key is built in ``slipway.layout`` (a scan of the
shipped code finds no key string anywhere else), keys do not collide, and the documented table
in docs/storage.md lists every item the layout builds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from slipway import layout

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "layers" / "core" / "slipway" / "layout.py"
SHIPPED = sorted(
    p
    for folder in ("layers/core/slipway", "functions", "cli/slipway_cli", "infra/local/slipway_local")
    for p in (ROOT / folder).rglob("*.py")
    if p != LAYOUT
)
# A table key prefix ("MODEL#", "RUN#" …), a bare partition of the index, or an S3 key prefix/file name
# the layout owns.
KEY_LIKE = re.compile(
    r"^[A-Z][A-Z0-9_]*#"
    r"|^(RUNS|MODELS|META|CURRENT|COUNTER)$"
    r"|^(curated|features|quarantine|models|runs|specs|captures|reports|feedback|predictions)/"
    r"|^(data|profile|report|evaluation|manifest|split|preprocessor|model|model_card)\.(parquet|json|skops|onnx|html)$"
)

TABLE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*#|^(RUNS|MODELS|META|CURRENT|COUNTER)$")


def _strings(path: Path) -> list[tuple[int, str]]:
    """String constants, including the literal parts of f-strings, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_storage_key_is_built_outside_the_layout_module(path: Path) -> None:
    offending = [f"line {n}: {s!r}" for n, s in _strings(path) if KEY_LIKE.search(s)]
    assert offending == [], f"{path.relative_to(ROOT)} builds storage keys; use slipway.layout"


def test_the_scan_finds_what_it_is_looking_for() -> None:
    """The scan is not vacuous: the layout module itself is full of what it forbids elsewhere."""
    hits = {s for _, s in _strings(LAYOUT) if KEY_LIKE.search(s)}
    assert {"MODEL#", "COUNTER", "ALIAS#", "model.onnx", "manifest.json"} <= hits
    assert any(h.startswith("curated/") for h in hits)


def test_prefix_queries_do_not_reach_other_collections() -> None:
    # A model's versions, aliases and alias log share a partition: each query prefix must select only its own.
    model = "churn"
    pk = layout.model_pk(model)
    keys = {
        "version": layout.version_key(model, 7),
        "counter": layout.version_counter_key(model),
        "registered_by": layout.registered_by_key(model, "run-1"),
        "trained": layout.trained_key(model, "d" * 64, "s" * 64),
        "alias": layout.alias_key(model, "production"),
        "alias_log": layout.alias_log_key(model, "2026-11-26T10:00:00+00:00", "production"),
    }
    assert {k[0] for k in keys.values()} == {pk}
    for collection, own in (
        (layout.versions(model), "version"),
        (layout.aliases(model), "alias"),
        (layout.alias_log(model), "alias_log"),
    ):
        selected = [name for name, (_, sk) in keys.items() if sk.startswith(collection[1])]
        assert selected == [own], f"{collection} also selects {selected}"


def test_a_run_partition_and_a_models_run_marker_are_distinct() -> None:
    # RUN# names a run's own partition only; inside a model's partition the run marker has its own prefix.
    assert layout.run_key("run-1")[0].startswith("RUN#")
    assert not layout.registered_by_key("churn", "run-1")[1].startswith("RUN#")


def test_versions_sort_numerically_as_strings() -> None:
    sks = [layout.version_key("m", v)[1] for v in (2, 10, 1, 100_000)]
    assert sorted(sks) == [layout.version_key("m", v)[1] for v in (1, 2, 10, 100_000)]


def test_edges_are_stored_under_both_nodes() -> None:
    out_key, in_key = layout.edge_keys("dataset:m:abc", "features:m:def", "featurised_into")
    assert out_key[1].startswith(layout.edges("dataset:m:abc", "out")[1])
    assert in_key[1].startswith(layout.edges("features:m:def", "in")[1])
    assert out_key[0] == layout.edges("dataset:m:abc", "out")[0]
    with pytest.raises(ValueError, match="direction"):
        layout.edges("x", "sideways")


def test_s3_keys_live_in_the_bucket_they_are_given() -> None:
    assert layout.curated_data("lake", "churn", "abc").uri == "s3://lake/curated/churn/abc/data.parquet"
    assert layout.model_artifact("art", "churn", "run-1", layout.MODEL_ONNX).uri.startswith("s3://art/models/churn/")
    assert layout.feature_set_file("lake", "m", "f", layout.MANIFEST).uri == layout.feature_set_uri(
        "lake", "m", "f"
    ) + (layout.MANIFEST)


def test_docs_list_every_item_prefix_the_layout_builds() -> None:
    doc = (ROOT / "docs" / "storage.md").read_text()
    prefixes = {m.group(0) for _, s in _strings(LAYOUT) if (m := TABLE_KEY.match(s))}
    assert {"MODEL#", "RUN#", "RUNS", "COUNTER"} <= prefixes  # the extraction sees the layout's keys
    missing = sorted(p for p in prefixes if f"`{p}" not in doc)
    assert missing == [], f"docs/storage.md does not document {missing}"
