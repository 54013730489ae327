"""Where everything lives: DynamoDB keys of the single-table design and S3 key layout, derived
from content hashes and ids so that re-running a step rewrites the same keys."""

from __future__ import annotations

# ---------------------------------------------------------------- DynamoDB (PK, SK)


def spec_key(model: str, version: str) -> tuple[str, str]:
    return f"SPEC#{model}", f"V#{version}"


def spec_current_key(model: str) -> tuple[str, str]:
    return f"SPEC#{model}", "CURRENT"


def dataset_key(model: str, version: str) -> tuple[str, str]:
    return f"DATASET#{model}", f"V#{version}"


def run_key(run_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", "META"


def node_pk(node_id: str) -> str:
    return f"NODE#{node_id}"


# ---------------------------------------------------------------- S3 (bucket-relative keys)


def spec_object_key(model: str, version: str) -> str:
    return f"specs/{model}/{version}.yaml"


def curated_data_key(model: str, dataset_version: str) -> str:
    return f"curated/{model}/{dataset_version}/data.parquet"


def curated_profile_key(model: str, dataset_version: str) -> str:
    return f"curated/{model}/{dataset_version}/profile.json"


def quarantine_prefix(model: str, run_id: str) -> str:
    return f"quarantine/{model}/{run_id}/"


def model_of_raw_key(key: str) -> str | None:
    """Uploads are laid out as ``<model>/<file>``; the first segment names the model spec."""
    head, sep, rest = key.partition("/")
    return head if sep and head and rest else None
