"""The spec says what a target and a missing value mean: a nullable target, metrics that a target's labels
cannot give and fills that do not fit a column are refused with the field named; category values read the
same from any file format."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from slipway.errors import SpecError
from slipway.spec import Constant, ModelSpec, canonical_category, load_spec
from slipway.spec.features import resolve_missing

SPEC: dict[str, Any] = {
    "name": "penguins",
    "data": {
        "target": "species",
        "columns": [
            {"name": "bill_mm", "type": "float", "nullable": True},
            {"name": "island", "type": "category", "nullable": True},
            {"name": "seen", "type": "timestamp"},
            {"name": "species", "type": "category", "allowed": ["Gentoo", "Adelie", "Chinstrap"]},
        ],
    },
    "features": {"transforms": [{"kind": "standardize", "columns": ["bill_mm"]}]},
    "training": {
        "task": "classification",
        "metric": "f1_macro",
        "candidates": [{"algorithm": "logistic_regression"}],
    },
}


def _spec(**changes: Any) -> ModelSpec:
    """SPEC with dotted paths replaced, e.g. ``{"training.metric": "f1"}`` (``None`` deletes the key)."""
    raw = yaml.safe_load(yaml.safe_dump(SPEC))
    for path, value in changes.items():
        *parents, leaf = path.split("/")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is None:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return load_spec(yaml.safe_dump(raw))


def _refused(**changes: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as raised:
        _spec(**changes)
    return {e["field"]: e["message"] for e in raised.value.details["errors"]}


def test_a_nullable_target_is_refused_naming_the_target() -> None:
    # GIVEN the species column declared nullable WHEN the spec is loaded
    errors = _refused(**{"data/columns/3/nullable": True})
    # THEN the target field is named, and the message says how to fix it
    assert list(errors) == ["data.target"]
    assert "nullable" in errors["data.target"] and "nullable: false" in errors["data.target"]


def test_three_labels_refuse_binary_only_metrics_and_a_positive_label() -> None:
    # GIVEN three allowed species WHEN the spec selects on f1, gates on recall, or names a positive label
    on_f1 = _refused(**{"training/metric": "f1"})
    gated = _refused(**{"gates": {"min_metrics": {"recall": 0.8}}})
    positive = _refused(**{"training/positive_label": "Adelie"})
    # THEN each is refused, pointing at the metrics that work for several classes
    assert "f1_macro" in " ".join(on_f1.values()) and "3 labels" in " ".join(on_f1.values())
    assert "recall" in " ".join(gated.values())
    assert "applies to two labels" in " ".join(positive.values())
    # AND the macro metrics, accuracy, log loss and one-vs-rest roc_auc are accepted for several classes
    for metric in ("f1_macro", "f1_weighted", "precision_macro", "recall_macro", "accuracy", "roc_auc", "log_loss"):
        assert _spec(**{"training/metric": metric}).training is not None


def test_a_two_label_target_takes_a_positive_label_that_is_one_of_them() -> None:
    # GIVEN a binary sex target
    binary = {"data/columns/3": {"name": "species", "type": "category", "allowed": ["female", "male"]}}
    # WHEN the positive label is one of the labels THEN the spec loads with it
    spec = _spec(**binary, **{"training/positive_label": "female", "training/metric": "recall"})
    assert spec.training is not None and spec.training.positive_label == "female"
    # WHEN it is not a label, or does not fit the target's type THEN it is refused
    assert "not one of the target's labels" in " ".join(_refused(**binary, **{"training/positive_label": "f"}).values())
    assert "does not fit" in " ".join(_refused(**binary, **{"training/positive_label": 1}).values())


def test_missing_value_fills_default_per_kind_and_are_overridden_per_transform_and_column() -> None:
    # GIVEN defaults, a transform's fill for bill_mm, and a column override for island
    spec = _spec(
        **{
            "features/transforms/0/missing": "mean",
            "features/missing": {"columns": {"island": {"constant": "unknown"}}, "timestamp": "refuse"},
        }
    )
    assert spec.features is not None
    # WHEN the fills are resolved THEN each column has its own, the column override winning
    assert resolve_missing(spec.features, spec.data) == {
        "bill_mm": "mean",
        "island": Constant(constant="unknown"),
        "seen": "refuse",
    }
    # AND with nothing said: numbers take the median, categories a "(missing)" category, timestamps the median
    plain = _spec()
    assert plain.features is not None
    assert resolve_missing(plain.features, plain.data) == {
        "bill_mm": "median",
        "island": Constant(constant="(missing)"),
        "seen": "median",
    }


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"features/missing": {"categorical": "median"}}, "features.missing.categorical", "does not apply"),
        ({"features/missing": {"columns": {"island": "mean"}}}, "features.missing.columns.island", "categorical"),
        ({"features/missing": {"columns": {"bill_mm": "refuse"}}}, "features.missing.columns.bill_mm", "nullable"),
        (
            {"features/missing": {"columns": {"bill_mm": {"constant": "x"}}}},
            "features.missing.columns.bill_mm",
            "number",
        ),
        (
            {"features/missing": {"columns": {"seen": {"constant": "soon"}}}},
            "features.missing.columns.seen",
            "ISO date",
        ),
        ({"features/missing": {"columns": {"species": "median"}}}, "features.missing.columns", "not a model input"),
    ],
)
def test_a_fill_that_cannot_apply_is_refused_naming_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    # GIVEN a fill that does not fit its column WHEN the spec is loaded THEN the field is named with the reason
    errors = _refused(**changes)
    assert field in errors and words in errors[field], errors


def test_category_values_are_canonical_text_whatever_the_format() -> None:
    # GIVEN the ways a float column's value reaches a category: a float, its CSV text, an int
    # THEN each reads as the number's shortest text; other text is kept as written
    assert {canonical_category(v) for v in (1.0, "1.0", 1, "1", "1.00", "1e0")} == {"1"}
    assert (canonical_category(2.5), canonical_category("2.50"), canonical_category("007")) == ("2.5", "2.5", "007")
    assert (canonical_category(True), canonical_category("Adelie")) == ("true", "Adelie")
    # AND a category's allowed list may be written as numbers or text: both mean the canonical text
    spec = _spec(**{"data/columns/1": {"name": "island", "type": "category", "allowed": [1, "2.0", 3.5]}})
    assert spec.data.column("island").allowed == ["1", "2", "3.5"]


def test_csv_cells_named_in_null_values_read_as_missing() -> None:
    # GIVEN a CSV written by R, where a missing measurement is "NA"
    from slipway.domain.tables import read_upload
    from slipway.domain.validation import validate_table

    body = b"bill_mm,island,seen,species\nNA,NA,2020-01-01,Adelie\n39.1,Dream,2020-01-02,Gentoo\n"
    # WHEN the contract names "NA" among its null values
    spec = _spec(**{"data/null_values": ["", "NA"]})
    typed, report = validate_table(read_upload(body, "p.csv", contract=spec.data), spec.data)
    # THEN the cells are missing values, which the nullable columns accept
    assert report.ok, report.to_dict()
    assert typed.column("bill_mm").to_pylist() == [None, 39.1] and typed.column("island").to_pylist() == [None, "Dream"]
    # AND by default "NA" is text: a number column reports it as unreadable
    _, strict = validate_table(read_upload(body, "p.csv", contract=_spec().data), _spec().data)
    assert ("bill_mm", "type") in strict.checks
