"""The model spec: one pydantic-validated YAML per model (data contract, features, training,
gates, deployment, monitoring), versioned by the hash of its canonical JSON."""

from __future__ import annotations

import hashlib
import json
import re

import yaml
from pydantic import Field, ValidationError, model_validator

from slipway.errors import SpecError
from slipway.schema import Frozen, field_errors
from slipway.spec.data import DataContract, Label
from slipway.spec.deployment import DeploymentSpec
from slipway.spec.features import FeaturesSpec, SplitSpec, check_features, check_split
from slipway.spec.monitoring import PERFORMANCE_METRICS, MonitoringSpec
from slipway.spec.training import BINARY_ONLY_METRICS, GatesSpec, TrainingSpec

__all__ = ["ModelSpec", "TrainingSection", "dump_spec_yaml", "label_problems", "load_spec", "spec_version"]


class TrainingSection(TrainingSpec):
    """``training``: task, metric, seed and candidates, plus how rows are split."""

    split: SplitSpec = Field(default_factory=SplitSpec)


class ModelSpec(Frozen):
    """One model's spec. ``deployment`` and ``monitoring`` are optional (absent: their defaults), so a spec
    written before they existed keeps its version."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    description: str = ""
    data: DataContract
    features: FeaturesSpec | None = None
    training: TrainingSection | None = None
    gates: GatesSpec = Field(default_factory=GatesSpec)
    deployment: DeploymentSpec | None = None
    monitoring: MonitoringSpec | None = None

    @property
    def deployment_or_default(self) -> DeploymentSpec:
        return self.deployment or DeploymentSpec()

    @property
    def monitoring_or_default(self) -> MonitoringSpec:
        return self.monitoring or MonitoringSpec()

    @model_validator(mode="after")
    def _sections_fit_the_contract(self) -> ModelSpec:
        if self.name == "views":
            raise ValueError("name: 'views' is reserved (uploads under views/ in the raw bucket feed feature views)")
        if self.features is not None:
            check_features(self.features, self.data)
        if self.training is not None:
            check_split(self.training.split, self.data)
            outside = self.gates.metrics_outside(self.training.task)
            if outside:
                raise ValueError(f"gates name metrics a {self.training.task} model does not have: {', '.join(outside)}")
            target = self.data.column(self.data.target)
            if self.training.task == "classification" and target.type not in ("int", "bool", "category", "string"):
                raise ValueError(f"classification needs a discrete target; {target.name} is {target.type}")
            if self.training.task == "regression" and target.type not in ("int", "float"):
                raise ValueError(f"regression needs a numeric target; {target.name} is {target.type}")
            if self.training.task == "classification":
                self._check_positive_label()
                known = self.data.known_labels()
                if known is not None:
                    problems = label_problems(self, known)
                    if problems:
                        raise ValueError("; ".join(problems))
        online = self.deployment.rollback.online_metric if self.deployment else None
        if online is not None and self.training is not None and online.task != self.training.task:
            raise ValueError(f"deployment.rollback.online_metric {online.metric} needs a {online.task} model")
        experiment = self.deployment.experiment if self.deployment else None
        outside = experiment.metrics_outside(self.training.task) if experiment and self.training else []
        if outside:
            raise ValueError(f"deployment.experiment: {', '.join(outside)} need a model of another task")
        performance = self.monitoring.performance.metric if self.monitoring else None
        if performance is not None:
            if performance not in PERFORMANCE_METRICS:
                listed = ", ".join(PERFORMANCE_METRICS)
                raise ValueError(f"monitoring.performance.metric: must be one of {listed}, not {performance!r}")
            needed = PERFORMANCE_METRICS[performance][0]
            if self.training is not None and needed != self.training.task:
                raise ValueError(f"monitoring.performance.metric: {performance} needs a {needed} model")
        if self.gates.max_fairness_gap and not self.data.sensitive:
            raise ValueError("gates.max_fairness_gap needs data.sensitive attributes to measure")
        return self

    def _check_positive_label(self) -> None:
        assert self.training is not None
        label = self.training.positive_label
        if label is None:
            return
        target = self.data.column(self.data.target)
        fits = {
            "bool": isinstance(label, bool),
            "int": isinstance(label, int) and not isinstance(label, bool),
        }.get(target.type, isinstance(label, str))
        if not fits:
            raise ValueError(f"training.positive_label {label!r} does not fit the {target.type} target {target.name!r}")


def label_problems(spec: ModelSpec, labels: list[Label]) -> list[str]:
    """What a classification spec asks that these target labels cannot give: binary-only metrics or a
    positive label with more than two classes, a positive label that is not a label."""
    assert spec.training is not None
    problems = []
    target = spec.data.target
    if len(labels) > 2:
        named = [spec.training.metric, *spec.gates.metrics_named()]
        binary = sorted({m for m in named if m in BINARY_ONLY_METRICS})
        if binary:
            problems.append(
                f"{', '.join(binary)} measure(s) one positive class, but target {target!r} has {len(labels)} labels "
                f"{labels!r}: use f1_macro, f1_weighted, precision_macro, recall_macro, accuracy, roc_auc or log_loss"
            )
        if spec.training.positive_label is not None:
            problems.append(f"training.positive_label applies to two labels; target {target!r} has {len(labels)}")
    positive = spec.training.positive_label
    if positive is not None and len(labels) <= 2 and positive not in labels:
        problems.append(f"training.positive_label {positive!r} is not one of the target's labels {labels!r}")
    return problems


# A whole-spec check names its field at the start of its message: "features.missing.columns.x: ...".
_FIELD_FIRST = re.compile(
    r"^((?:data|features|training|gates|deployment|monitoring)\b[\w.\[\]]*)(?: \([\w ]+\))?: (.+)$", re.DOTALL
)


def _named(error: dict[str, str]) -> dict[str, str]:
    """A whole-spec finding under the field its message starts with, instead of "(spec)"."""
    found = _FIELD_FIRST.match(error["message"]) if error["field"] == "(spec)" else None
    return {**error, "field": found.group(1), "message": found.group(2)} if found else error


def load_spec(source: str | bytes) -> ModelSpec:
    """Parse a YAML model spec; every problem becomes one ``SpecError`` naming each field at fault."""
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        errors = [{"field": "(yaml)", "message": f"YAML syntax error at {where}: {getattr(exc, 'problem', exc)}"}]
        raise SpecError(f"model spec is not valid YAML ({where})", details={"errors": errors}) from exc
    if not isinstance(raw, dict):
        errors = [{"field": "(spec)", "message": f"expected a mapping at the top level, got {type(raw).__name__}"}]
        raise SpecError("model spec must be a YAML mapping", details={"errors": errors})
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        errors = [_named(e) for e in field_errors(exc, root="(spec)")]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise SpecError(f"model spec is invalid: {summary}", details={"errors": errors}) from exc


def spec_version(spec: ModelSpec) -> str:
    """SHA-256 hex of the spec's canonical JSON: same content, same version, whatever the YAML layout.

    Values equal to their defaults are left out, as in the stored YAML: a field a later slipway adds (with a default
    that keeps today's behaviour, as ``training.refit``) leaves every existing spec's version as it was. Without
    that, an upgrade rehashed every stored spec differently and promotions refused their manifests."""
    canonical = json.dumps(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dump_spec_yaml(spec: ModelSpec) -> str:
    """YAML text of the spec (defaults omitted) that ``load_spec`` reads back to an equal spec."""
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True)
