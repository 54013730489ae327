"""Zip functions ship with the core layer alone (pydantic, PyYAML, Powertools; boto3 from the runtime): in a
fresh process, importing their handler loads none of the science stack, which the local cloud (one process
with everything installed) would never notice missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway_local.packaging import load_sam_template

ROOT = Path(__file__).resolve().parents[2]
SCIENCE = ("numpy", "pandas", "pyarrow", "sklearn", "scipy", "onnx", "onnxruntime", "skops")


def _core_layer_only() -> dict[str, dict[str, Any]]:
    resources = load_sam_template(ROOT / "infra" / "template.yaml")["Resources"]
    return {
        logical_id: r["Properties"]
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        and r["Properties"].get("PackageType") != "Image"
        and r["Properties"].get("Layers") == [{"Ref": "CoreLayer"}]
    }


FUNCTIONS = _core_layer_only()


def test_the_core_layer_functions_are_found() -> None:
    assert {"RecordFailureFunction", "ResolveBatchFunction", "ConcludeBatchFunction"} <= set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_core_layer_function_imports_no_science_package(logical_id: str) -> None:
    props = FUNCTIONS[logical_id]
    code = (ROOT / "infra" / props["CodeUri"]).resolve()
    module = props["Handler"].rpartition(".")[0]
    probe = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(code)!r})\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(SCIENCE)!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], f"{logical_id} imports the science stack, which its layer lacks"
