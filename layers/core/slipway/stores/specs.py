"""Model specs in an environment: pushed to the artifacts bucket, versioned by content hash,
with a current pointer per model in the metadata table. The whole spec's models (``slipway.spec.model``)
load on first use: ``contract_at``, all that the inference function reads, needs only the data contract's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from slipway import layout
from slipway.errors import NotFound, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec.data import DataContract
from slipway.stores import audit

if TYPE_CHECKING:
    from slipway.spec.model import ModelSpec


def push_spec(deps: Deps, source: str | bytes, *, reason: str = "") -> dict[str, Any]:
    """Validate and store a spec; make it the model's current one. Same text twice: one version. Returns the
    version (now current), whether it is new, and the version that was current before (``previous``). The push
    is audited with the caller (``deps.settings.principal``) and ``reason``."""
    from slipway.spec.model import dump_spec_yaml, load_spec, spec_version

    spec = load_spec(source)
    _check_views(deps, spec)
    version = spec_version(spec)
    pushed = record_push(
        deps,
        layout.spec_object(deps.settings.artifacts_bucket, spec.name, version),
        lambda: dump_spec_yaml(spec),
        version_key=layout.spec_version_key(spec.name, version),
        pointer_key=layout.spec_pointer_key(spec.name),
        fields={"model": spec.name, "version": version},
        audited_as=spec.name,
        reason=reason,
    )
    return {**pushed, "drift_schedule": schedule_drift(deps, spec)}


def record_push(
    deps: Deps,
    stored: S3Object,
    text: Callable[[], str],
    *,
    version_key: layout.Key,
    pointer_key: layout.Key,
    fields: dict[str, Any],
    audited_as: str,
    reason: str,
) -> dict[str, Any]:
    """A spec version pushed (a model's or a feature view's): its YAML written once where its hash names it, its
    version item (only if new), the current pointer moved to it, and an audit entry with the caller and ``reason``.
    Returns ``fields`` with the URI, whether the version is new and the version current before (``previous``)."""
    if not deps.store.exists(stored):  # content-addressed: the same spec is written once
        deps.store.put_bytes(stored, text().encode(), "application/yaml")
    now = deps.now_iso()
    before = deps.table.get(*pointer_key)
    fields = {**fields, "uri": stored.uri}
    created = deps.table.put_new(layout.item(version_key, **fields, pushed_at=now))
    deps.table.put(layout.item(pointer_key, **fields, updated_at=now))
    previous = str(before["version"]) if before else None
    details = {"version": fields["version"], "previous": previous, "new": created}
    audit.record(deps, audited_as, "spec-push", principal=deps.settings.principal, reason=reason, details=details)
    return {**fields, "new": created, "previous": previous}


def _check_views(deps: Deps, spec: ModelSpec) -> None:
    """A spec whose columns come from feature views pushed here must fit them (keys and types); one naming a view
    not pushed yet is accepted (its first training run says what is missing)."""
    from slipway.spec.feature_view import fit_problems
    from slipway.stores.feature_views import current_view

    errors = []
    for name, features in spec.data.columns_by_view().items():
        try:
            view, _ = current_view(deps, name)
        except SpecError:
            continue
        errors += [{"field": "data.columns", "message": p} for p in fit_problems(spec.data, view, features)]
    if errors:
        summary = "; ".join(e["message"] for e in errors)
        raise SpecError(f"model spec does not fit its feature views: {summary}", {"errors": errors})


def schedule_drift(deps: Deps, spec: ModelSpec) -> str | None:
    """The model's drift checks follow its current spec: scheduled by ``monitoring.schedule``, or none without a
    monitoring section. Returns the schedule expression now in force."""
    if spec.monitoring is None:
        deps.schedules.remove(spec.name)
        return None
    deps.schedules.put(spec.name, spec.monitoring.schedule)
    return spec.monitoring.schedule


def current_spec(deps: Deps, model: str) -> tuple[ModelSpec, str]:
    """The model's current spec and its version; SpecError when none was pushed."""
    pointer = deps.table.get(*layout.spec_pointer_key(model))
    if pointer is None:
        raise SpecError(f"no model spec pushed for model {model!r} in this environment", {"model": model})
    return spec_at(deps, model, str(pointer["version"])), str(pointer["version"])


def spec_at(deps: Deps, model: str, version: str) -> ModelSpec:
    from slipway.spec.model import load_spec

    return load_spec(_stored(deps, model, version))


def contract_at(deps: Deps, model: str, version: str) -> DataContract:
    """The data contract of a stored spec version, without validating the other sections again: the file
    was validated as a whole when it was pushed, and its version is its content's hash. Read with libyaml
    where PyYAML has it (the pure-Python reader takes milliseconds on a cold start)."""
    raw = yaml.load(_stored(deps, model, version), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise SpecError(f"spec {model}@{version[:12]} has no data contract", {"model": model})
    return DataContract.model_validate(raw["data"])


def _stored(deps: Deps, model: str, version: str) -> bytes:
    try:
        return deps.store.get_bytes(layout.spec_object(deps.settings.artifacts_bucket, model, version))
    except NotFound as e:
        raise SpecError(f"spec {model}@{version[:12]} is recorded but its file is missing", {"model": model}) from e


def training_spec(deps: Deps, model: str, version: str) -> ModelSpec:
    """A spec that can train: SpecError unless it has features and training sections."""
    spec = spec_at(deps, model, version)
    if spec.features is None or spec.training is None:
        raise SpecError(f"spec {model}@{version[:12]} has no features/training sections", {"model": model})
    return spec
