"""Model specs in an environment: pushed to the artifacts bucket, versioned by content hash,
with a CURRENT pointer per model in the metadata table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.domain.keys import spec_current_key, spec_key, spec_object_key
from slipway.errors import NotFound, SpecError
from slipway.spec import ModelSpec, dump_spec_yaml, load_spec, spec_version


def push_spec(c: Container, source: str | bytes) -> dict[str, Any]:
    """Validate and store a spec; make it the model's current one. Same text twice: one version."""
    spec = load_spec(source)
    version = spec_version(spec)
    ref = S3Ref(c.settings.artifacts_bucket, spec_object_key(spec.name, version))
    c.store.put_bytes(ref, dump_spec_yaml(spec).encode(), "application/yaml")
    pk, sk = spec_key(spec.name, version)
    now = datetime.now(UTC).isoformat()
    created = c.table.put_new(
        {"PK": pk, "SK": sk, "model": spec.name, "version": version, "uri": ref.uri, "pushed_at": now}
    )
    cpk, csk = spec_current_key(spec.name)
    c.table.put({"PK": cpk, "SK": csk, "model": spec.name, "version": version, "uri": ref.uri, "updated_at": now})
    return {"model": spec.name, "version": version, "uri": ref.uri, "new": created}


def current_spec(c: Container, model: str) -> tuple[ModelSpec, str]:
    """The model's current spec and its version; SpecError when none was pushed."""
    pk, sk = spec_current_key(model)
    pointer = c.table.get(pk, sk)
    if pointer is None:
        raise SpecError(f"no model spec pushed for model {model!r} in this environment", {"model": model})
    return spec_at(c, model, str(pointer["version"])), str(pointer["version"])


def spec_at(c: Container, model: str, version: str) -> ModelSpec:
    try:
        text = c.store.get_bytes(S3Ref(c.settings.artifacts_bucket, spec_object_key(model, version)))
    except NotFound as e:
        raise SpecError(f"spec {model}@{version[:12]} is recorded but its file is missing", {"model": model}) from e
    return load_spec(text)
