"""The spec reference stays whole: the committed JSON Schema is the one the pydantic models generate, and
docs/spec.md names every field of it and every task, metric, transform, algorithm, gate and fill, with
examples that load, and the training steps' limits as the template sets them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from slipway.spec import load_spec
from slipway.spec.features import DatePart, Transform
from slipway.spec.missing import STRATEGIES
from slipway.spec.reference import json_schema, schema_text
from slipway.spec.training import (
    ALGORITHM_TASKS,
    CLASSIFICATION_METRICS,
    FAIRNESS_METRICS,
    REGRESSION_METRICS,
    Task,
)
from slipway_local.packaging import load_sam_template

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "spec.md"
SCHEMA = ROOT / "docs" / "spec.schema.json"


def field_paths(schema: dict[str, Any]) -> set[str]:
    """Every property of the schema as a dotted path (``data.columns[].nullable``, ``features.missing.columns.<name>``);
    a ``{constant: VALUE}`` fill is one field of its own wherever it appears."""
    defs = schema.get("$defs", {})
    paths: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                walk(option, path)
        if "items" in node:
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict) and "$ref" in json.dumps(node["additionalProperties"]):
            paths.add(f"{path}.<name>")  # a map of spec objects (not of plain numbers or lists)
            walk(node["additionalProperties"], f"{path}.<name>")
        for name, child in node.get("properties", {}).items():
            child_path = f"{path}.{name}" if path else name
            paths.add(child_path)
            walk(child, child_path)

    walk(schema, "")
    return paths


def documented() -> set[str]:
    """Everything docs/spec.md writes as code (between backticks)."""
    return set(re.findall(r"`([^`\n]+)`", DOC.read_text()))


def test_the_committed_json_schema_is_the_generated_one() -> None:
    # GIVEN docs/spec.schema.json WHEN compared with what the pydantic models generate
    # THEN they are equal (regenerate with `slipway spec schema > docs/spec.schema.json`)
    assert SCHEMA.read_text() == schema_text()
    assert json.loads(SCHEMA.read_text())["properties"].keys() >= {"name", "data", "features", "training", "gates"}


def test_every_field_of_the_spec_is_documented() -> None:
    # GIVEN every field path of the schema WHEN looked up in docs/spec.md
    paths = field_paths(json_schema())
    assert {"data.columns[].nullable", "features.missing.columns.<name>", "training.positive_label"} <= paths
    # THEN each is there, as code
    missing = sorted(paths - documented())
    assert not missing, f"document these spec fields in docs/spec.md: {missing}"


@pytest.mark.parametrize(
    ("what", "names"),
    [
        ("tasks", get_args(Task)),
        ("metrics", CLASSIFICATION_METRICS + REGRESSION_METRICS),
        ("fairness metrics", FAIRNESS_METRICS),
        ("algorithms", tuple(ALGORITHM_TASKS)),
        ("transforms", tuple(get_args(a.model_fields["kind"].annotation)[0] for a in get_args(get_args(Transform)[0]))),
        ("date parts", get_args(DatePart)),
        ("fills", (*sorted({s for kind in STRATEGIES.values() for s in kind} - {"constant"}), "{constant: VALUE}")),
        ("gates", ("gates.min_metrics", "gates.max_metrics", "gates.max_regression", "gates.max_fairness_gap")),
    ],
)
def test_every_choice_is_documented(what: str, names: tuple[str, ...]) -> None:
    # GIVEN every task, metric, transform, algorithm, gate and fill the spec accepts
    # WHEN looked up in docs/spec.md THEN each is named, as code
    missing = sorted(set(names) - documented())
    assert names and not missing, f"document these {what} in docs/spec.md: {missing}"


def test_the_examples_in_the_reference_and_in_specs_load() -> None:
    # GIVEN the YAML examples of docs/spec.md and the example specs
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    specs = [p.read_text() for p in sorted((ROOT / "specs").glob("*.yaml"))]
    # WHEN loaded THEN each is a valid spec
    assert blocks and len(specs) >= 5
    names = [load_spec(text).name for text in [*blocks, *specs]]
    assert {"penguins", "iris", "breast-cancer-diagnosis"} <= set(names)


def _lambda_steps(states: dict[str, Any]) -> dict[str, str]:
    """Each Lambda Task of a machine, nested ones (a Map's) included, with the logical id of its function."""
    found: dict[str, str] = {}
    for name, state in states.items():
        function = state.get("Parameters", {}).get("FunctionName", "")
        if state.get("Resource") == "arn:aws:states:::lambda:invoke" and function.startswith("${"):
            found[name] = function.removeprefix("${").removesuffix("Arn}")
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if nested:
                found.update(_lambda_steps(nested["States"]))
    return found


def test_the_limits_of_the_training_steps_are_the_templates() -> None:
    # GIVEN the training machine's Lambda steps and the memory and timeout the template gives their functions
    template = load_sam_template(ROOT / "infra" / "template.yaml")
    defaults = template["Globals"]["Function"]
    steps = _lambda_steps(json.loads((ROOT / "statemachines" / "training.asl.json").read_text())["States"])
    expected = {}
    for step, function in steps.items():
        properties = template["Resources"][function]["Properties"]
        memory = properties.get("MemorySize", defaults["MemorySize"])
        expected[step] = (f"{memory} MB", f"{properties.get('Timeout', defaults['Timeout'])} s")
    assert expected["Train"] == ("3008 MB", "900 s")

    # WHEN docs/spec.md's table of limits is read
    rows = re.findall(r"^\| `(\w+)` \| `slipway-ENV-[\w-]+` \| (\d+ MB) \| (\d+ s) \|$", DOC.read_text(), re.MULTILINE)

    # THEN it names every step with its function's limits
    assert {step: (memory, timeout) for step, memory, timeout in rows} == expected
    # AND the evaluate step, which names a failed candidate's limit, is told the train function's
    told = template["Resources"][steps["Evaluate"]]["Properties"]["Environment"]["Variables"]
    assert (f"{told['TRAIN_MEMORY_MB']} MB", f"{told['TRAIN_TIMEOUT_S']} s") == expected["Train"]
