"""The model spec, one YAML per model: ``data`` (the contract), ``features``, ``training``,
``gates``, ``deployment`` and ``monitoring``. ``load_spec`` validates it and names every field at fault."""

from __future__ import annotations

from slipway.spec.data import ColumnSpec, ColumnType, DataContract, Label, canonical_category, parse_timestamp
from slipway.spec.deployment import ApprovalSpec, DeploymentSpec, OnlineMetricSpec, RollbackSpec
from slipway.spec.features import FeaturesSpec, SplitSpec
from slipway.spec.missing import Constant, Missing, MissingSpec
from slipway.spec.model import ModelSpec, TrainingSection, dump_spec_yaml, label_problems, load_spec, spec_version
from slipway.spec.monitoring import DriftTests, MonitoringSpec, PerformanceSpec, RetrainingSpec
from slipway.spec.training import CandidateSpec, GatesSpec, TrainingSpec, metric_direction

__all__ = [
    "ApprovalSpec",
    "CandidateSpec",
    "ColumnSpec",
    "ColumnType",
    "Constant",
    "DataContract",
    "DeploymentSpec",
    "DriftTests",
    "FeaturesSpec",
    "GatesSpec",
    "Label",
    "Missing",
    "MissingSpec",
    "ModelSpec",
    "MonitoringSpec",
    "OnlineMetricSpec",
    "PerformanceSpec",
    "RetrainingSpec",
    "RollbackSpec",
    "SplitSpec",
    "TrainingSection",
    "TrainingSpec",
    "canonical_category",
    "dump_spec_yaml",
    "label_problems",
    "load_spec",
    "metric_direction",
    "parse_timestamp",
    "spec_version",
]
