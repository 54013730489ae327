"""Where everything lives: every DynamoDB key (PK/SK, GSI1) and every S3 key is built here and
nowhere else (a test scans the shipped code for key strings). Keys derive from content hashes and
ids, so a re-run step rewrites the same keys. The table of items is in docs/storage.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slipway.objects import S3Object

# An item's primary key, and a (partition, sort-key prefix) pair to query a collection with.
type Key = tuple[str, str]
type Collection = tuple[str, str]

GSI1 = "GSI1"

# Artifact names of a model version (the keys of its ``artifacts`` map and the last part of their S3 keys).
MODEL_SKOPS = "model.skops"
MODEL_ONNX = "model.onnx"
EXPLAINER = "explainer.npz"  # per-row explanations of the ONNX model (slipway.domain.explanations)
MODEL_CARD_JSON = "model_card.json"
MODEL_CARD_HTML = "model_card.html"
# What drift checks compare live traffic with: the training data's profile of the model's inputs, the profile of
# its test-split scores and its test metrics. An artifact, so a promoted version carries it into every account.
DRIFT_REFERENCE = "drift_reference.json"

# Files of a feature set, under its prefix.
PREPROCESSOR = "preprocessor.skops"
SPLIT = "split.parquet"
MANIFEST = "manifest.json"


def split_file(name: str) -> str:
    """The feature matrix and target of one split (``train``, ``valid``, ``test``)."""
    return f"{name}.parquet"


# ================================================================ DynamoDB: specs and data


def spec_version_key(model: str, version: str) -> Key:
    return f"SPEC#{model}", f"V#{version}"


def spec_versions(model: str) -> Collection:
    return f"SPEC#{model}", "V#"


def spec_pointer_key(model: str) -> Key:
    """The model's current spec in this environment."""
    return f"SPEC#{model}", "CURRENT"


def dataset_key(model: str, version: str) -> Key:
    return f"DATASET#{model}", f"V#{version}"


def datasets(model: str) -> Collection:
    return f"DATASET#{model}", "V#"


def datasets_by_time(model: str) -> Collection:
    """A model's dataset versions on GSI1 (``dataset_listing``), in the order they were made."""
    return f"DATASETS#{model}", ""


def feature_sets(model: str) -> Collection:
    return f"FEATURES#{model}", "V#"


def dataset_listing(model: str, created_at: str) -> dict[str, str]:
    """GSI1 attributes: a model's dataset versions, oldest first."""
    return {"GSI1PK": f"DATASETS#{model}", "GSI1SK": created_at}


def feature_set_key(model: str, feature_set: str) -> Key:
    return f"FEATURES#{model}", f"V#{feature_set}"


# ================================================================ DynamoDB: runs

RUNS: Collection = ("RUNS", "")  # on GSI1, newest first by start time


def run_key(run_id: str) -> Key:
    return f"RUN#{run_id}", "META"


def run_listing(started_at: str, run_id: str) -> dict[str, str]:
    """GSI1 attributes that list a run under RUNS by its start time."""
    return {"GSI1PK": RUNS[0], "GSI1SK": f"{started_at}#{run_id}"}


def candidate_key(run_id: str, index: int) -> Key:
    return f"RUN#{run_id}", f"CANDIDATE#{index:03d}"


def candidates(run_id: str) -> Collection:
    return f"RUN#{run_id}", "CANDIDATE#"


def part_key(run_id: str, part: str) -> Key:
    """One input part of a batch-scoring run (``part``: its key relative to the run's input prefix)."""
    return f"RUN#{run_id}", f"PART#{part}"


def parts(run_id: str) -> Collection:
    return f"RUN#{run_id}", "PART#"


# ================================================================ DynamoDB: the model registry

MODELS: Collection = ("MODELS", "")  # on GSI1: every model version, by model then version


def model_pk(model: str) -> str:
    return f"MODEL#{model}"


def version_key(model: str, version: int) -> Key:
    return model_pk(model), f"V#{version:06d}"


def versions(model: str) -> Collection:
    return model_pk(model), "V#"


def version_listing(model: str, version: int) -> dict[str, str]:
    return {"GSI1PK": MODELS[0], "GSI1SK": f"{model}#{version_key(model, version)[1]}"}


def version_counter_key(model: str) -> Key:
    return model_pk(model), "COUNTER"


def registered_by_key(model: str, run_id: str) -> Key:
    """Marks which version a run registered (so a retried run finds it, not a new number)."""
    return model_pk(model), f"BYRUN#{run_id}"


def trained_key(model: str, dataset_version: str, spec_version: str) -> Key:
    """Marks that a dataset version under a spec version already made a model version."""
    return model_pk(model), f"TRAINED#{dataset_version}#{spec_version}"


def alias_key(model: str, alias: str) -> Key:
    return model_pk(model), f"ALIAS#{alias}"


def aliases(model: str) -> Collection:
    return model_pk(model), "ALIAS#"


def alias_log_key(model: str, at: str, alias: str) -> Key:
    return model_pk(model), f"ALIASLOG#{at}#{alias}"


def alias_log(model: str) -> Collection:
    return model_pk(model), "ALIASLOG#"


def audit_key(model: str, at: str, kind: str) -> Key:
    """One audited act on a model (a spec push, an approval or rejection, a rollback): who, when, why. Its own
    partition, so a grant on ``AUDIT#*`` lets a team record what it does without reaching the registry."""
    return f"AUDIT#{model}", f"{at}#{kind}"


def audit_trail(model: str) -> Collection:
    return f"AUDIT#{model}", ""


def reproduction_key(model: str, version: int, at: str) -> Key:
    """One reproduction of a model version (``slipway reproduce``): who, when, where, the verdict, the metrics
    compared. Its own partition, so the operate route that records it for a person reaches neither the registry
    nor the audit trail."""
    return f"REPRO#{model}", f"V#{version:06d}#{at}"


def reproductions(model: str, version: int) -> Collection:
    """A version's reproductions, in time order."""
    return f"REPRO#{model}", f"V#{version:06d}#"


def promotion_lock_key(model: str) -> Key:
    """Held by the one promotion of a model under way in this environment (its execution name)."""
    return model_pk(model), "PROMOTING"


def approval_key(model: str, env: str, execution: str) -> Key:
    """A promotion waiting for a person: its task token, who asked, the deadline, the answer."""
    return model_pk(model), f"APPROVAL#{env}#{execution}"


def approvals(model: str, env: str) -> Collection:
    return model_pk(model), f"APPROVAL#{env}#"


def promoted_run_id(source_env: str, source_version: int) -> str:
    """What registers a promoted version (its ``BYRUN#`` marker): one target version per source version,
    however often that version is promoted."""
    return f"promotion:{source_env}:{source_version:06d}"


def retraining_key(model: str) -> Key:
    """The model's last retraining asked for by a drift check (``until``: the end of its cooldown)."""
    return model_pk(model), "RETRAINING"


# ================================================================ DynamoDB: drift checks


def drift_check_key(model: str, at: str, check_id: str) -> Key:
    """One drift check of a model in this environment, by the time it ran (then its id, so two never collide)."""
    return f"DRIFT#{model}", f"{at}#{check_id}"


def drift_checks(model: str) -> Collection:
    """A model's drift checks, in time order."""
    return f"DRIFT#{model}", ""


# ================================================================ DynamoDB: lineage


def edge_keys(upstream: str, downstream: str, kind: str) -> tuple[Key, Key]:
    """An edge is stored under both of its nodes: out of ``upstream`` and into ``downstream``."""
    return (
        (f"NODE#{upstream}", f"EDGE#out#{kind}#{downstream}"),
        (f"NODE#{downstream}", f"EDGE#in#{kind}#{upstream}"),
    )


def edges(node: str, direction: str) -> Collection:
    """Edges of a node: ``direction`` "in" (what fed it) or "out" (what it fed)."""
    if direction not in ("in", "out"):
        raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
    return f"NODE#{node}", f"EDGE#{direction}#"


def page_key(found: Mapping[str, Any], index: str | None = None) -> dict[str, str]:
    """Where the next page of a query starts: the key of the last item read (the table's, and the index's when the
    query read one), as ``MetadataTable.query(start_after=...)`` takes it."""
    names = ("PK", "SK", *((f"{index}PK", f"{index}SK") if index else ()))
    return {name: str(found[name]) for name in names}


def item(key: Key, **attributes: Any) -> dict[str, Any]:
    """A table item: its key as PK/SK plus attributes."""
    return {"PK": key[0], "SK": key[1], **attributes}


# ================================================================ DynamoDB: feature views

VIEWS: Collection = ("VIEWS", "VIEW#")  # one item per feature view pushed here: what `slipway features list` reads


def view_listing_key(view: str) -> Key:
    return "VIEWS", f"VIEW#{view}"


def view_spec_version_key(view: str, version: str) -> Key:
    return f"VIEWSPEC#{view}", f"V#{version}"


def view_spec_pointer_key(view: str) -> Key:
    """The view's current spec in this environment."""
    return f"VIEWSPEC#{view}", "CURRENT"


def view_version_key(view: str, version: int) -> Key:
    """A materialisation: the upload (and the spec) that made view version ``version``."""
    return f"VIEW#{view}", f"V#{version:06d}"


def view_versions(view: str) -> Collection:
    return f"VIEW#{view}", "V#"


def view_counter_key(view: str) -> Key:
    return f"VIEW#{view}", "COUNTER"


def view_upload_key(view: str, dataset_version: str) -> Key:
    """An upload's content already materialised into the view (a replay of the same bytes adds no version)."""
    return f"VIEW#{view}", f"UPLOAD#{dataset_version}"


def online_key(view: str, entity: str) -> str:
    """The online table's key of one entity's latest values in a view (``entity``: ``slipway.domain.feature_views
    .entity_text``)."""
    return f"{view}#{entity}"


# ================================================================ S3: raw bucket

VIEWS_PREFIX = "views/"  # raw uploads of feature views: views/<view>/<file> (so no model may be named "views")


def view_of_raw_key(key: str) -> str | None:
    """The feature view an upload feeds (``views/<view>/<file>``), None for a model's upload."""
    if not key.startswith(VIEWS_PREFIX):
        return None
    view, sep, rest = key[len(VIEWS_PREFIX) :].partition("/")
    return view if sep and view and rest else None


def model_of_raw_key(key: str) -> str | None:
    """Uploads are laid out as ``<model>/<file>``; the first segment names the model spec."""
    head, sep, rest = key.partition("/")
    return head if sep and head and rest else None


# ================================================================ S3: lake bucket


def curated_data(bucket: str, model: str, dataset_version: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"curated/{model}/{dataset_version}/data.parquet")


def curated_profile(bucket: str, model: str, dataset_version: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"curated/{model}/{dataset_version}/profile.json")


def quarantine_copy(bucket: str, model: str, run_id: str, file_name: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"quarantine/{model}/{run_id}/{file_name}")


def quarantine_report(bucket: str, model: str, run_id: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"quarantine/{model}/{run_id}/report.json")


def view_offline_prefix(view: str) -> str:
    """A feature view's offline history: Parquet partitioned by event date (``event_date=YYYY-MM-DD``), one file per
    view version in each date it has rows for."""
    return f"views/{view}/"


def view_offline_part(bucket: str, view: str, day: str, version: int, dataset_version: str, group: int) -> S3Object:
    """The rows of one event date in row group ``group`` of a view version's curated upload."""
    name = f"{version:06d}-{dataset_version[:16]}-{group:05d}.parquet"
    return S3Object(bucket=bucket, key=f"views/{view}/event_date={day}/{name}")


def view_version_of_part(key: str) -> int:
    """The view version that wrote an offline part (its file name's leading number)."""
    return int(key.rsplit("/", 1)[-1].split("-", 1)[0])


def view_quarantine_copy(bucket: str, view: str, run_id: str, file_name: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"quarantine/views/{view}/{run_id}/{file_name}")


def view_quarantine_report(bucket: str, view: str, run_id: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"quarantine/views/{view}/{run_id}/report.json")


def feature_set_uri(bucket: str, model: str, feature_set: str) -> str:
    """The prefix holding a feature set's files (``s3://…/``)."""
    return f"s3://{bucket}/features/{model}/{feature_set}/"


def feature_set_file(bucket: str, model: str, feature_set: str, name: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"features/{model}/{feature_set}/{name}")


def predictions_uri(bucket: str, model: str, version: int, run_id: str) -> str:
    """The prefix a batch-scoring run writes under (``s3://…/``): one Parquet file per input part."""
    return f"s3://{bucket}/predictions/{model}/{version}/{run_id}/"


def predictions_part(bucket: str, model: str, version: int, run_id: str, part: str) -> S3Object:
    """The predictions of one input part, at the part's own relative path (``.parquet`` kept or added)."""
    name = part if part.endswith(".parquet") else f"{part}.parquet"
    return S3Object(bucket=bucket, key=f"predictions/{model}/{version}/{run_id}/{name}")


def predictions_rejected(bucket: str, model: str, version: int, run_id: str, part: str) -> S3Object:
    """The report of a part whose rows broke the data contract. Under ``_rejected/``: readers of the prefix as a
    Parquet dataset (Spark, Athena, pyarrow) skip names starting with ``_``."""
    return S3Object(bucket=bucket, key=f"predictions/{model}/{version}/{run_id}/_rejected/{part}.json")


def predictions_summary(bucket: str, model: str, version: int, run_id: str) -> S3Object:
    """Written last, once every part is scored: its presence says the prefix is complete."""
    return S3Object(bucket=bucket, key=f"predictions/{model}/{version}/{run_id}/_summary.json")


# ================================================================ S3: artifacts bucket


def spec_object(bucket: str, model: str, version: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"specs/{model}/{version}.yaml")


def view_spec_object(bucket: str, view: str, version: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"feature-views/{view}/{version}.yaml")


def candidate_artifact(bucket: str, run_id: str, index: int, sha256: str) -> S3Object:
    """Content-addressed: a retried fit (skops bytes differ run to run) never overwrites the artifact
    an earlier result points to, so every recorded SHA-256 stays verifiable."""
    return S3Object(bucket=bucket, key=f"runs/{run_id}/candidates/{index:03d}/{sha256}.skops")


def evaluation_report(bucket: str, run_id: str) -> S3Object:
    return S3Object(bucket=bucket, key=f"runs/{run_id}/evaluation.json")


def model_artifact(bucket: str, model: str, run_id: str, name: str) -> S3Object:
    """One artifact of the version a run registers (``MODEL_SKOPS``, ``MODEL_ONNX``, the model card)."""
    return S3Object(bucket=bucket, key=f"models/{model}/runs/{run_id}/{name}")


def models_prefix(model: str) -> str:
    """Everything of one model in an artifacts bucket: what a promotion target may read across accounts."""
    return f"models/{model}/"


def version_manifest(artifact: S3Object) -> S3Object:
    """The manifest a version travels with (its registry item, artifacts and SHA-256, spec, lineage), written
    by the source environment beside the version's artifacts (``artifact``: any one of them)."""
    return artifact.at(f"{artifact.key.rpartition('/')[0]}/{MANIFEST}")


def received_manifest(artifact: S3Object, source_env: str) -> S3Object:
    """The source's manifest as the target received it, kept beside the copied artifacts."""
    return artifact.at(f"{artifact.key.rpartition('/')[0]}/promoted-from-{source_env}.json")


# ================================================================ S3: captures, feedback and reports (lake)


def captures_prefix(model: str, day: str) -> str:
    """One day (``YYYY-MM-DD``, UTC) of a model's captured predictions: the capture stream's partition."""
    return f"captures/{model}/dt={day}/"


def lake_bucket_of(account: str, env: str) -> str:
    """Another environment's lake bucket, as the template names every environment's (``slipway-<account>-<env>-lake``):
    where dev's retraining reads the labelled captures of a drift found in staging or prod."""
    return f"slipway-{account}-{env}-lake"


def captures_of(model: str) -> str:
    """Every day of a model's captured predictions."""
    return f"captures/{model}/"


def feedback_prefix(model: str, day: str) -> str:
    """One day of a model's feedback (ground truth), partitioned like the captures."""
    return f"feedback/{model}/dt={day}/"


def feedback_of(model: str) -> str:
    """Every day of a model's feedback."""
    return f"feedback/{model}/"


def drift_report(bucket: str, model: str, check_id: str) -> S3Object:
    """A drift check's page for people: the summary, then each feature's distributions side by side (HTML)."""
    return S3Object(bucket=bucket, key=f"reports/drift/{model}/{check_id}.html")


def drift_result(bucket: str, model: str, check_id: str) -> S3Object:
    """A drift check's full result as data: every feature's statistics and both distributions (JSON)."""
    return S3Object(bucket=bucket, key=f"reports/drift/{model}/{check_id}.json")


def canary_report(bucket: str, model: str, execution: str) -> S3Object:
    """What a promotion's canary check measured, challenger against champion, and its verdict."""
    return S3Object(bucket=bucket, key=f"reports/canary/{model}/{execution}.json")
