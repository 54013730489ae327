"""`slipway reproduce` records what it found in the environment, through the operate route (in the caller's verified
name; the team roles write nothing in the table): the verdict, the metrics compared, and where it ran — this
machine, its Python, the libraries that fit and scored, and the BLAS they called (its core type decides the last bits
of a refit linear model)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

from threadpoolctl import threadpool_info

from slipway_cli.serving import operate
from slipway_cli.target import Target

__all__ = ["record", "runner"]

LIBRARIES = ("slipway", "numpy", "scipy", "scikit-learn", "lightgbm", "pyarrow", "pandas", "onnxruntime")
BLAS_FIELDS = ("internal_api", "version", "architecture", "threading_layer", "num_threads")


def runner() -> dict[str, Any]:
    """Where this process runs: the machine, Python, the libraries' versions, and the BLAS loaded (after a fit)."""
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            continue
    blas = [{k: lib.get(k) for k in BLAS_FIELDS} for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {
        "runner": "slipway reproduce (CLI)",
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": libraries,
        "blas": blas[:8],
    }


def record(target: Target, result: dict[str, Any]) -> dict[str, Any]:
    """Record ``result`` (what ``reproduce`` returned) in the target environment, in the caller's name."""
    numeric = [
        m
        for m in result["metrics"]
        if all(isinstance(m[k], (int, float, type(None))) for k in ("recorded", "reproduced"))
    ]
    body = {
        "status": result["status"],
        "tolerance": result["tolerance"],
        "max_diff": result["max_diff"],
        "feature_set_matches": result["feature_set_matches"],
        "metrics": numeric,
        "where": runner(),
    }
    path = f"/v1/models/{quote(result['model'], safe='')}/versions/{int(result['version'])}/reproductions"
    return operate(target, "POST", path, body)
