"""The model registry in the metadata table: versions numbered by an atomic counter, aliases
moved by conditional updates, and every alias move logged (audit history)."""

from __future__ import annotations

from typing import Any, NamedTuple

from slipway import layout
from slipway.errors import ConflictError, NotFound
from slipway.ports import Clock, ConditionalDelete, ConditionalUpdate, Counter, Deps, MetadataTable
from slipway.stores import audit

ALIASES = ("candidate", "staging", "production", "challenger")
CHAMPION = "champion"  # a read-only name: production, or the candidate while nothing is in production
ANY_PREVIOUS = object()  # set_alias/clear_alias without a guard on the alias's current version
MAX_REGISTER_ATTEMPTS = 20
MAX_ALIAS_ATTEMPTS = 20
LAST_VERSION = 999_999  # the largest number a version key holds (six digits)


class Registration(NamedTuple):
    """What ``register`` did: the run's version (``created`` when this call made it), or, when another
    run had already registered the same dataset version under the same spec version, that run's version
    with ``already_registered`` (this run made none)."""

    version: int
    created: bool
    already_registered: bool = False


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``churn`` → (churn, None); ``churn@3`` / ``churn@production`` → (churn, "3" / "production")."""
    model, _, selector = ref.partition("@")
    return model, (selector or None)


class ModelRegistry:
    def __init__(self, table: MetadataTable, clock: Clock) -> None:
        self.table = table
        self.clock = clock

    @classmethod
    def of(cls, deps: Deps) -> ModelRegistry:
        return cls(deps.table, deps.clock)

    # ------------------------------------------------------------------ writes
    def register(
        self,
        model: str,
        run_id: str,
        fields: dict[str, Any],
        *,
        dataset_version: str | None = None,
        spec_version: str | None = None,
    ) -> Registration:
        """Give the run's model the next version number, exactly once per run and, when the dataset and
        spec versions are given, exactly once per (dataset version, spec version).

        The version item, a run→version marker, the (dataset, spec)→version marker and the counter move
        in one transaction, so a retried or concurrent call either finds the run's version, finds the
        version another run made from the same data and spec (``already_registered``), or takes the
        next free number; numbers have no gaps.
        """
        counter_key = layout.version_counter_key(model)
        trained = (dataset_version, spec_version) if dataset_version and spec_version else None
        for _ in range(MAX_REGISTER_ATTEMPTS):
            existing = self.version_of_run(model, run_id)
            if existing is not None:
                return Registration(existing, created=False)
            if trained is not None:
                winner = self.trained_from(model, *trained)
                if winner is not None:
                    return Registration(winner, created=False, already_registered=True)
            counter = self.table.get(*counter_key)
            current = int(counter["value"]) if counter else 0
            version = current + 1
            now = self.clock.now().isoformat()
            item = layout.item(
                layout.version_key(model, version),
                model=model,
                version=version,
                run_id=run_id,
                registered_at=now,
                **layout.version_listing(model, version),
                **fields,
            )
            puts = [item, layout.item(layout.registered_by_key(model, run_id), version=version, registered_at=now)]
            if trained is not None:
                puts.append(layout.item(layout.trained_key(model, *trained), version=version, run_id=run_id))
            if self.table.transact(puts=puts, counter=Counter(*counter_key, current, version)):
                return Registration(version, created=True)
        raise ConflictError(f"could not register {model} after {MAX_REGISTER_ATTEMPTS} attempts (contention)")

    def record_artifacts(self, model: str, version: int, artifacts: dict[str, dict[str, str]]) -> None:
        """Replace a version's artifact map (``{name: {"uri", "sha256"}}``), e.g. once its model card exists."""
        self.table.update(*layout.version_key(model, version), {"artifacts": artifacts})

    def version_of_run(self, model: str, run_id: str) -> int | None:
        item = self.table.get(*layout.registered_by_key(model, run_id))
        return int(item["version"]) if item else None

    def trained_from(self, model: str, dataset_version: str, spec_version: str) -> int | None:
        """The version a dataset version made under a spec version, if any (same upload twice: no retrain)."""
        item = self.table.get(*layout.trained_key(model, dataset_version, spec_version))
        return int(item["version"]) if item else None

    def set_alias(
        self,
        model: str,
        alias: str,
        version: int,
        *,
        actor: str,
        reason: str,
        weight: float | None = None,
        expect_previous: int | object | None = ANY_PREVIOUS,
        execution: str | None = None,
    ) -> dict[str, Any]:
        """Point an alias at a version (which must exist) and log the move. ``weight`` is the challenger's
        share of traffic. ``expect_previous``: the version the alias must point at now (None: unset), or
        ConflictError and nothing moves — the guard the promotion machine relies on. The move and its
        audit-log entry are one transaction, conditional on the version read: no move is lost or unlogged
        (unguarded, a concurrent move makes this one read again and retry). ``execution``: the state machine
        execution (ARN) that moved it, logged with the move."""
        moved = self._move_alias(
            model,
            alias,
            version,
            actor=actor,
            reason=reason,
            weight=weight,
            expect_previous=expect_previous,
            execution=execution,
        )
        assert moved is not None  # only advance_alias declines to move
        return moved

    def advance_alias(self, model: str, alias: str, version: int, *, actor: str, reason: str) -> bool:
        """Move an alias to ``version`` unless it already points at that version or a later one (a later
        registration wins; the alias never moves back). True when this call moved it."""
        moved = self._move_alias(model, alias, version, actor=actor, reason=reason, only_forward=True)
        return moved is not None

    def _move_alias(
        self,
        model: str,
        alias: str,
        version: int,
        *,
        actor: str,
        reason: str,
        weight: float | None = None,
        expect_previous: int | object | None = ANY_PREVIOUS,
        only_forward: bool = False,
        execution: str | None = None,
    ) -> dict[str, Any] | None:
        if alias == CHAMPION:
            raise ValueError(f"{CHAMPION!r} is read-only: it names production (else the candidate)")
        if alias not in ALIASES:
            raise ValueError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
        if weight is not None and (alias != "challenger" or not 0 < weight < 1):
            raise ValueError("a weight (0 < weight < 1) applies to the challenger alias only")
        self.get_version(model, version)
        key = layout.alias_key(model, alias)
        for _ in range(MAX_ALIAS_ATTEMPTS):
            was = self._guard(model, alias, expect_previous)
            if only_forward and was is not None and was >= version:
                return None
            now = self.clock.now().isoformat()
            values = {"alias": alias, "version": version, "weight": weight, "updated_at": now, "updated_by": actor}
            entry = self._log_item(
                model, alias, version, was, actor=actor, reason=reason, at=now, weight=weight, execution=execution
            )
            # A concurrent move (or a log entry at the same instant) fails the condition: read again, retry.
            if self.table.transact([entry], updates=[ConditionalUpdate(*key, values, expect={"version": was})]):
                return layout.item(key, **{k: v for k, v in values.items() if v is not None})
        raise ConflictError(f"could not move {model}@{alias} after {MAX_ALIAS_ATTEMPTS} attempts (contention)")

    def clear_alias(
        self,
        model: str,
        alias: str,
        *,
        actor: str,
        reason: str,
        expect_previous: int | object | None = ANY_PREVIOUS,
        execution: str | None = None,
    ) -> None:
        """Remove an alias (e.g. the challenger after a canary) and log it; guarded like ``set_alias``. The removal
        and its audit-log entry are one transaction, conditional on the version read, as a move is."""
        key = layout.alias_key(model, alias)
        for _ in range(MAX_ALIAS_ATTEMPTS):
            previous = self._guard(model, alias, expect_previous)
            if previous is None:
                return
            now = self.clock.now().isoformat()
            entry = self._log_item(
                model, alias, None, previous, actor=actor, reason=reason, at=now, weight=None, execution=execution
            )
            if self.table.transact([entry], deletes=[ConditionalDelete(*key, expect={"version": previous})]):
                return
        raise ConflictError(f"could not clear {model}@{alias} after {MAX_ALIAS_ATTEMPTS} attempts (contention)")

    def rollback_production(self, model: str, *, actor: str, reason: str) -> tuple[int, int]:
        """Production back to the version it pointed at before its last move, in one conditional move (logged).
        Returns (from, to); NotFound when production is unset or had no version before."""
        current = self.alias(model, "production")
        if current is None:
            raise NotFound(f"{model} has no version in production to roll back", {"model": model})
        moves = [e for e in self.alias_log(model) if e["alias"] == "production" and e.get("version") == current]
        previous = moves[-1].get("previous_version") if moves else None
        if previous is None:
            raise NotFound(
                f"{model}@production ({current}) has no earlier production version to roll back to",
                {"model": model, "current": current},
            )
        self.set_alias(model, "production", int(previous), actor=actor, reason=reason, expect_previous=current)
        at = self.clock.now().isoformat()
        details = {"from": current, "to": int(previous)}
        audit_entry = audit.entry(model, "rollback", at=at, principal=actor, reason=reason, details=details)
        audit.add(self.table, audit_entry)
        return current, int(previous)

    def _guard(self, model: str, alias: str, expect_previous: int | object | None) -> int | None:
        current = self.alias(model, alias)
        if expect_previous is not ANY_PREVIOUS and current != expect_previous:
            raise ConflictError(
                f"{model}@{alias} points at {current}, not the expected {expect_previous}",
                {"model": model, "alias": alias, "current": current, "expected": expect_previous},
            )
        return current

    def _log_item(
        self,
        model: str,
        alias: str,
        version: int | None,
        previous: int | None,
        *,
        actor: str,
        reason: str,
        at: str,
        weight: float | None,
        execution: str | None = None,
    ) -> dict[str, Any]:
        return layout.item(
            layout.alias_log_key(model, at, alias),
            alias=alias,
            version=version,
            previous_version=previous,
            weight=weight,
            actor=actor,
            reason=reason,
            at=at,
            execution=execution,
        )

    # ------------------------------------------------------------------ reads
    def get_version(self, model: str, version: int) -> dict[str, Any]:
        item = self.table.get(*layout.version_key(model, version))
        if item is None:
            raise NotFound(f"model {model} has no version {version}", {"model": model, "version": version})
        return item

    def alias(self, model: str, alias: str) -> int | None:
        item = self.table.get(*layout.alias_key(model, alias))
        return int(item["version"]) if item else None

    def alias_items(self, model: str) -> dict[str, dict[str, Any]]:
        """Each alias's item: ``version``, ``weight`` (challenger), ``updated_at``, ``updated_by``."""
        return {i["alias"]: i for i in self.table.query(*layout.aliases(model))}

    def aliases(self, model: str) -> dict[str, int]:
        return {i["alias"]: int(i["version"]) for i in self.table.query(*layout.aliases(model))}

    def alias_log(self, model: str) -> list[dict[str, Any]]:
        return self.table.query(*layout.alias_log(model))

    def versions(self, model: str) -> list[dict[str, Any]]:
        return self.table.query(*layout.versions(model))

    def versions_page(self, model: str, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` versions, newest first, older than ``before`` (one query, however many versions)."""
        after = layout.page_key(layout.item(layout.version_key(model, before))) if before is not None else None
        return self.table.query(*layout.versions(model), newest_first=True, limit=limit, start_after=after)

    def resolve(self, ref: str) -> dict[str, Any]:
        """``churn`` (latest), ``churn@3`` or ``churn@production`` → that version's item."""
        model, selector = parse_ref(ref)
        if selector is None:
            latest = self.table.query(*layout.versions(model), newest_first=True, limit=1)
            if not latest:
                raise NotFound(f"model {model} has no registered version", {"model": model})
            return latest[0]
        if selector.isdigit():
            return self.get_version(model, int(selector))
        if selector == CHAMPION:
            champion = self.champion(model)
            if champion is None:
                raise NotFound(f"model {model} has no champion (no production or candidate version)", {"model": model})
            return champion
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
        return sorted({i["model"] for i in self.table.query(layout.MODELS[0], index=layout.GSI1)})

    def model_names(self) -> list[str]:
        """Every model with a version, in name order: one query of one item per model (each starts past the
        previous model's last possible version), however many versions each has."""
        names: list[str] = []
        after: dict[str, str] | None = None
        while True:
            found = self.table.query(layout.MODELS[0], index=layout.GSI1, limit=1, start_after=after)
            if not found:
                return names
            model = str(found[0]["model"])
            names.append(model)
            last = layout.item(layout.version_key(model, LAST_VERSION), **layout.version_listing(model, LAST_VERSION))
            after = layout.page_key(last, layout.GSI1)
