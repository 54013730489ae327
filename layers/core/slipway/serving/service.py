"""The inference service behind the HTTP API: resolve who serves a model (production, challenger and
its weight; refreshed every few seconds), check each row against its version's data contract, predict
with the cached ONNX session, and hand captures to the background sender."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slipway.domain.explanations import NotExplainable
from slipway.errors import NotFound, SlipwayError
from slipway.ports import Deps
from slipway.serving.captures import BackgroundCaptures
from slipway.serving.models import ModelCache, ServedModel
from slipway.serving.routing import Routing, Variant, routing_from_aliases
from slipway.serving.rows import RowFinding, RowReader, row_json_schema, served_columns
from slipway.serving.views import with_view_values
from slipway.spec.data import DataContract
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import contract_at

__all__ = ["InferenceService", "InvalidRequest", "NothingInProduction", "Prediction"]

log = logging.getLogger(__name__)

ALIAS_TTL_S = 5.0  # how long a warm function trusts the aliases it read (a canary moves within this)


class InvalidRequest(SlipwayError):
    """Rows that break the model's data contract; ``details['errors']`` names row, field and check."""


class NothingInProduction(NotFound):
    """The model exists but no version holds the production alias."""


@dataclass
class Prediction:
    body: dict[str, Any]
    latency_ms: float = 0.0  # checks and model calls, for the latency metric
    # (variant, version) → (rows, mean score) for per-variant metrics
    by_variant: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)


class InferenceService:
    def __init__(self, deps: Deps, alias_ttl_s: float = ALIAS_TTL_S) -> None:
        self.deps = deps
        self.registry = ModelRegistry.of(deps)
        self.models = ModelCache(deps.store)
        self.captures = BackgroundCaptures(deps.captures)
        self._ttl = alias_ttl_s
        self._routing: dict[str, tuple[float, Routing]] = {}
        self._served: dict[tuple[str, int], ServedModel] = {}
        self._contracts: dict[tuple[str, str], DataContract] = {}

    def forget_routing(self) -> None:
        """Drop every alias read (a restored SnapStart snapshot's: its clock cannot be trusted across a restore); the
        loaded versions, contracts and ONNX sessions stay, as a version never changes."""
        self._routing.clear()

    # ------------------------------------------------------------------ lookups
    def routing(self, model: str) -> Routing:
        now = time.monotonic()
        cached = self._routing.get(model)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        routing = routing_from_aliases(model, self.registry.alias_items(model))
        if routing.production is not None:  # a model put into production is served at once
            self._routing[model] = (now, routing)
        return routing

    def served(self, model: str, version: int) -> ServedModel:
        """A registered version ready to predict (cached: a version's model, inputs and spec never change)."""
        found = self._served.get((model, version))
        if found is not None:
            return found
        item = self.registry.get_version(model, version)
        spec_version = str(item["spec_version"])
        contract = self._contracts.get((model, spec_version))
        if contract is None:
            contract = contract_at(self.deps, model, spec_version)
            self._contracts[(model, spec_version)] = contract
        columns = served_columns(contract, [str(i["name"]) for i in item["inputs"]])
        found = self.models.get(item, contract, columns)  # raises (uncached) if the artifact is refused
        self._served[(model, version)] = found
        return found

    def _live(self, model: str) -> Routing:
        routing = self.routing(model)
        if routing.production is None:
            if not self.registry.versions(model):
                raise NotFound(f"no model named {model!r}", {"model": model})
            raise NothingInProduction(
                f"model {model!r} has no version in production (set the production alias first)", {"model": model}
            )
        return routing

    # ------------------------------------------------------------------ predict
    def predict(
        self, model: str, rows: Sequence[Mapping[str, Any]], request_id: str, explain: bool = False
    ) -> Prediction:
        """Predict each row with its variant. A challenger that fails (its artifact refused, the model call
        raising) does not fail the request: its rows are captured as errors of the challenger — what a canary's
        error rate counts — and answered by production. A production failure fails the request (captured too).
        ``explain``: each row's answer also gets its explanation; a version that cannot explain is a 422."""
        started = time.perf_counter()
        routing = self._live(model)
        production = routing.champion
        served: dict[Variant, ServedModel] = {}
        try:
            served[production] = self.served(model, production.version)
        except Exception as e:
            self._capture_errors(model, rows, range(len(rows)), production, request_id, e, started)
            raise
        entity_column = served[production].contract.entity_id
        assigned: list[Variant] = []
        for row in rows:
            entity = row.get(entity_column) if entity_column and isinstance(row, Mapping) else None
            assigned.append(routing.choose(str(entity) if entity is not None else request_id))
        groups = self._groups(assigned)
        for variant in [v for v in groups if v not in served]:
            try:
                served[variant] = self.served(model, variant.version)
            except Exception as e:  # noqa: BLE001 - a failing challenger is captured, production answers
                self._fall_back(model, rows, groups, assigned, variant, production, request_id, e, started)

        bindings = list(dict.fromkeys(b for v in groups for b in served[v].views))
        if bindings:  # the features of feature views a row does not send, fetched by entity (one read)
            rows, missing = with_view_values(rows, bindings, self.deps.online, self.deps.clock.now().timestamp())
            self._refuse(model, missing)
        # each row read by its variant's contract, as validation read that version's training data
        read: dict[Variant, dict[int, dict[str, Any]]] = {}
        spent: dict[Variant, float] = {}  # each variant's own time: its rows' contract check and model call
        findings: list[RowFinding] = []
        for variant, indexes in groups.items():
            checking = time.perf_counter()
            findings.extend(self._read(served[variant], rows, indexes, read.setdefault(variant, {})))
            spent[variant] = time.perf_counter() - checking
        self._refuse(model, findings)
        if explain:
            self._explainable(model, [served[v] for v in groups])

        predictions: list[Any] = [None] * len(rows)
        explanations: list[dict[str, Any] | None] = [None] * len(rows)
        probabilities: list[dict[str, float] | None] = [None] * len(rows)
        result = Prediction(body={})
        outputs: dict[Variant, tuple[list[Any], list[dict[str, float]] | None, np.ndarray]] = {}
        for variant in [v for v in groups if v != production] + [production]:  # production last: it may inherit rows
            if variant not in groups:
                continue
            calling = time.perf_counter()
            seen = read.setdefault(variant, {})
            inherited = [n for n in groups[variant] if n not in seen]  # rows of a challenger that failed
            if inherited:
                self._refuse(model, self._read(served[variant], rows, inherited, seen))
            try:
                if explain:
                    values, per_class, scores, explained = served[variant].predict_explained(
                        [seen[n] for n in groups[variant]]
                    )
                    outputs[variant] = (values, per_class, scores)
                    for n, explanation in zip(groups[variant], explained, strict=True):
                        explanations[n] = explanation
                else:
                    outputs[variant] = served[variant].predict([seen[n] for n in groups[variant]])
                spent[variant] = spent.get(variant, 0.0) + time.perf_counter() - calling
            except Exception as e:
                if variant == production:
                    self._capture_errors(model, rows, groups[variant], variant, request_id, e, started)
                    raise
                self._fall_back(model, rows, groups, assigned, variant, production, request_id, e, started)
        for variant, (values, per_class, scores) in outputs.items():
            for k, n in enumerate(groups[variant]):
                predictions[n] = values[k]
                probabilities[n] = per_class[k] if per_class is not None else None
            mean_score = float(scores.sum()) / len(scores)  # np.mean costs 3 µs more on one row
            result.by_variant[(variant.name, variant.version)] = (len(groups[variant]), mean_score)
        latency_ms = (time.perf_counter() - started) * 1000
        result.latency_ms = latency_ms

        task = served[production].task
        body: dict[str, Any] = {"predictions": predictions}
        if task == "classification":
            body["probabilities"] = probabilities
        if explain:
            body["explanations"] = explanations
        variants = sorted({v.name for v in assigned})
        versions = sorted({v.version for v in assigned})
        body.update(
            model=model,
            version=versions[0] if len(versions) == 1 else None,
            variant=variants[0] if len(variants) == 1 else None,
            versions=[v.version for v in assigned],
            variants=[v.name for v in assigned],
            request_id=request_id,
        )
        result.body = body
        own_ms = {v: round(t * 1000, 3) for v, t in spent.items()}
        inputs = [read[v][n] for n, v in enumerate(assigned)]
        self._capture(model, rows, inputs, assigned, predictions, probabilities, request_id, latency_ms, own_ms, served)
        return result

    @staticmethod
    def _read(
        served: ServedModel, rows: Sequence[Mapping[str, Any]], indexes: list[int], into: dict[int, dict[str, Any]]
    ) -> list[RowFinding]:
        """Read the rows at ``indexes`` with ``served``'s reader into ``into`` (by row number); the findings,
        numbered as the request's rows."""
        values, findings = served.reader.read([rows[n] for n in indexes])
        into.update(zip(indexes, values, strict=True))
        return [RowFinding(indexes[f.row], f.field, f.check, f.message) for f in findings]

    @staticmethod
    def _explainable(model: str, versions: list[ServedModel]) -> None:
        """Every version answering the request can explain its rows, else a 422 naming the one that cannot."""
        for served in versions:
            try:
                served.explainer  # noqa: B018 - read here (loaded once per warm version), before any prediction
            except NotExplainable as e:
                finding = {"row": None, "field": "explain", "check": "explainable", "message": str(e)}
                raise InvalidRequest(
                    f"{model}@{served.version} cannot explain its predictions", {"errors": [finding]}
                ) from e

    @staticmethod
    def _refuse(model: str, findings: list[RowFinding]) -> None:
        if findings:
            findings.sort(key=lambda f: f.row)
            raise InvalidRequest(
                f"{len(findings)} value(s) break the data contract of {model!r}",
                {"errors": [f.to_dict() for f in findings[:50]]},
            )

    @staticmethod
    def _groups(assigned: list[Variant]) -> dict[Variant, list[int]]:
        groups: dict[Variant, list[int]] = {}
        for n, variant in enumerate(assigned):
            groups.setdefault(variant, []).append(n)
        return groups

    def _fall_back(
        self,
        model: str,
        rows: Sequence[Mapping[str, Any]],
        groups: dict[Variant, list[int]],
        assigned: list[Variant],
        failed: Variant,
        production: Variant,
        request_id: str,
        error: Exception,
        started: float,
    ) -> None:
        """The challenger failed: capture its rows as its errors and give them to production."""
        if isinstance(error, InvalidRequest):
            raise error
        indexes = groups.pop(failed)
        log.warning("challenger %s@%s failed (%s); production answers its rows", model, failed.version, error)
        self._capture_errors(model, rows, indexes, failed, request_id, error, started)
        for n in indexes:
            assigned[n] = production
        groups[production] = sorted([*groups.get(production, []), *indexes])

    def _capture_errors(
        self,
        model: str,
        rows: Sequence[Mapping[str, Any]],
        indexes: Iterable[int],
        variant: Variant,
        request_id: str,
        error: Exception,
        started: float,
    ) -> None:
        if isinstance(error, InvalidRequest):
            return
        at = self.deps.now_iso()
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        self.captures.offer(
            [
                {
                    "kind": "captures",
                    "model": model,
                    "version": variant.version,
                    "variant": variant.name,
                    "request_id": request_id,
                    "row": n,
                    "error": type(error).__name__,
                    "latency_ms": latency_ms,
                    "at": at,
                }
                for n in indexes
            ]
        )

    def _capture(
        self,
        model: str,
        rows: Sequence[Mapping[str, Any]],
        inputs: list[dict[str, Any]],
        assigned: list[Variant],
        predictions: list[Any],
        probabilities: list[dict[str, float] | None],
        request_id: str,
        latency_ms: float,
        own_ms: dict[Variant, float],
        served: dict[Variant, ServedModel],
    ) -> None:
        """``inputs``: each row as its variant read it (what the model saw); ``latency_ms``: the request's (loads
        included); ``model_ms``: the row's variant's own time in it."""
        at = self.deps.now_iso()
        records: list[Mapping[str, Any]] = []
        for n, (row, variant) in enumerate(zip(rows, assigned, strict=True)):
            entity_column = served[variant].contract.entity_id
            records.append(
                {
                    "kind": "captures",
                    "model": model,
                    "version": variant.version,
                    "variant": variant.name,
                    "request_id": request_id,
                    "row": n,
                    "entity_id": row.get(entity_column) if entity_column else None,
                    "inputs": inputs[n],
                    "prediction": predictions[n],
                    "probabilities": probabilities[n],
                    "latency_ms": round(latency_ms, 3),
                    "model_ms": own_ms.get(variant),
                    "at": at,
                }
            )
        self.captures.offer(records)

    # ------------------------------------------------------------------ feedback
    def feedback(self, model: str, items: Sequence[Mapping[str, Any]], request_id: str) -> dict[str, Any]:
        """Ground truth for earlier predictions, by request id (and row) or entity id; checked against the
        target column's type, then captured beside the predictions."""
        routing = self._live(model)
        contract = self.served(model, routing.production).contract  # type: ignore[arg-type]  # a live routing has a production version
        target = next(c for c in contract.columns if c.name == contract.target)
        target_spec = target.model_copy(update={"nullable": False})
        reader = RowReader({target.name: target_spec}, null_values=contract.null_values)
        actual, findings = reader.read([{target.name: i.get("actual")} for i in items])
        if findings:
            errors = [{**f.to_dict(), "field": "actual"} for f in findings]
            raise InvalidRequest(
                f"{len(findings)} feedback value(s) do not fit the target {target.name!r}", {"errors": errors}
            )
        at = self.deps.now_iso()
        self.captures.offer(
            [
                {
                    "kind": "feedback",
                    "model": model,
                    "request_id": i.get("request_id"),
                    "row": i.get("row", 0),
                    "entity_id": i.get("entity_id"),
                    "actual": read[target.name],  # as the training data holds it (a category's canonical text)
                    "feedback_id": request_id,
                    "at": at,
                }
                for i, read in zip(items, actual, strict=True)
            ]
        )
        return {"model": model, "accepted": len(items), "request_id": request_id}

    # ------------------------------------------------------------------ describe
    def describe(self, model: str) -> dict[str, Any]:
        aliases = self.registry.alias_items(model)
        if not aliases and not self.registry.versions(model):
            raise NotFound(f"no model named {model!r}", {"model": model})
        routing = routing_from_aliases(model, aliases)
        served: list[dict[str, Any]] = []
        schema = None
        if routing.production is not None:
            production = self.served(model, routing.production)
            schema = row_json_schema(production.columns, production.ignored)
            served.append({"variant": "production", "version": routing.production, "weight": 1 - routing.weight})
            if routing.challenger is not None:
                served.append({"variant": "challenger", "version": routing.challenger, "weight": routing.weight})
            task, labels = production.task, production.labels
        else:
            task, labels = None, None
        return {
            "model": model,
            "served": served,
            "aliases": {a: {"version": i["version"], "weight": i.get("weight")} for a, i in aliases.items()},
            "task": task,
            "labels": labels,
            "input_schema": schema,
        }

    def list_models(self) -> list[dict[str, Any]]:
        listed = []
        for model in self.registry.models():
            routing = routing_from_aliases(model, self.registry.alias_items(model))
            listed.append(
                {
                    "model": model,
                    "production": routing.production,
                    "challenger": routing.challenger,
                    "challenger_weight": routing.weight if routing.challenger is not None else None,
                }
            )
        return listed
