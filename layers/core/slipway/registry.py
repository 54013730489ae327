"""The model registry in the metadata table: versions numbered by an atomic counter, aliases
moved by conditional updates, and every alias move logged (audit history)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.adapters.metadata import MetadataTable
from slipway.errors import ConflictError, NotFound

ALIASES = ("candidate", "staging", "production", "challenger")
MAX_REGISTER_ATTEMPTS = 20


def model_pk(model: str) -> str:
    return f"MODEL#{model}"


def version_sk(version: int) -> str:
    return f"V#{version:06d}"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``churn`` → (churn, None); ``churn@3`` / ``churn@production`` → (churn, "3" / "production")."""
    model, _, selector = ref.partition("@")
    return model, (selector or None)


class ModelRegistry:
    def __init__(self, table: MetadataTable) -> None:
        self.table = table

    # ------------------------------------------------------------------ writes
    def register(self, model: str, run_id: str, fields: dict[str, Any]) -> tuple[int, bool]:
        """Give the run's model the next version number, exactly once per run.

        The version item, a run→version marker and the counter move in one transaction, so a
        retried or concurrent call either finds the run's version or takes the next free number;
        numbers have no gaps. Returns (version, created).
        """
        pk = model_pk(model)
        marker = f"RUN#{run_id}"
        for _ in range(MAX_REGISTER_ATTEMPTS):
            existing = self.version_of_run(model, run_id)
            if existing is not None:
                return existing, False
            counter = self.table.get(pk, "COUNTER")
            current = int(counter["value"]) if counter else 0
            version = current + 1
            now = datetime.now(UTC).isoformat()
            item = {
                "PK": pk,
                "SK": version_sk(version),
                "model": model,
                "version": version,
                "run_id": run_id,
                "registered_at": now,
                "GSI1PK": "MODELS",
                "GSI1SK": f"{model}#{version_sk(version)}",
                **fields,
            }
            ok = self.table.transact(
                puts=[item, {"PK": pk, "SK": marker, "version": version, "registered_at": now}],
                counter=(pk, "COUNTER", current, version),
            )
            if ok:
                return version, True
        raise ConflictError(f"could not register {model} after {MAX_REGISTER_ATTEMPTS} attempts (contention)")

    def version_of_run(self, model: str, run_id: str) -> int | None:
        item = self.table.get(model_pk(model), f"RUN#{run_id}")
        return int(item["version"]) if item else None

    def mark_trained(self, model: str, dataset_version: str, spec_version: str, version: int) -> None:
        """Remember that this dataset version under this spec version already made a model version."""
        self.table.put({"PK": model_pk(model), "SK": f"TRAINED#{dataset_version}#{spec_version}", "version": version})

    def trained_from(self, model: str, dataset_version: str, spec_version: str) -> int | None:
        """The version a dataset version made under a spec version, if any (same upload twice: no retrain)."""
        item = self.table.get(model_pk(model), f"TRAINED#{dataset_version}#{spec_version}")
        return int(item["version"]) if item else None

    def set_alias(self, model: str, alias: str, version: int, *, actor: str, reason: str) -> dict[str, Any]:
        """Point an alias at a version (the version must exist) and log the move."""
        if alias not in ALIASES:
            raise ValueError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
        self.get_version(model, version)
        pk = model_pk(model)
        previous = self.table.get(pk, f"ALIAS#{alias}")
        now = datetime.now(UTC).isoformat()
        item = self.table.update(pk, f"ALIAS#{alias}", {"alias": alias, "version": version, "updated_at": now})
        self.table.put_new(
            {
                "PK": pk,
                "SK": f"ALIASLOG#{now}#{alias}",
                "alias": alias,
                "version": version,
                "previous_version": previous["version"] if previous else None,
                "actor": actor,
                "reason": reason,
                "at": now,
            }
        )
        return item

    # ------------------------------------------------------------------ reads
    def get_version(self, model: str, version: int) -> dict[str, Any]:
        item = self.table.get(model_pk(model), version_sk(version))
        if item is None:
            raise NotFound(f"model {model} has no version {version}", {"model": model, "version": version})
        return item

    def alias(self, model: str, alias: str) -> int | None:
        item = self.table.get(model_pk(model), f"ALIAS#{alias}")
        return int(item["version"]) if item else None

    def aliases(self, model: str) -> dict[str, int]:
        return {i["alias"]: int(i["version"]) for i in self.table.query(model_pk(model), "ALIAS#")}

    def alias_log(self, model: str) -> list[dict[str, Any]]:
        return self.table.query(model_pk(model), "ALIASLOG#")

    def versions(self, model: str) -> list[dict[str, Any]]:
        return self.table.query(model_pk(model), "V#")

    def resolve(self, ref: str) -> dict[str, Any]:
        """``churn`` (latest), ``churn@3`` or ``churn@production`` → that version's item."""
        model, selector = parse_ref(ref)
        if selector is None:
            latest = self.table.query(model_pk(model), "V#", newest_first=True, limit=1)
            if not latest:
                raise NotFound(f"model {model} has no registered version", {"model": model})
            return latest[0]
        if selector.isdigit():
            return self.get_version(model, int(selector))
        version = self.alias(model, selector)
        if version is None:
            raise NotFound(f"model {model} has no alias {selector!r}", {"model": model, "alias": selector})
        return self.get_version(model, version)

    def champion(self, model: str) -> dict[str, Any] | None:
        """The version a challenger must beat: production if set, else the current candidate."""
        for alias in ("production", "candidate"):
            version = self.alias(model, alias)
            if version is not None:
                return self.get_version(model, version)
        return None

    def models(self) -> list[str]:
        return sorted({i["model"] for i in self.table.query("MODELS", index="GSI1")})
