"""Three environments on the in-memory fakes for the promotion steps: one object store (bucket names are
global, as in S3) and a table, event bus and settings per environment; one clock. The steps are driven as
the promotion machine drives them: each request built from the JSON of the earlier steps' outputs."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from slipway import layout
from slipway.contracts.promotion import (
    AbortRequest,
    ApprovalRequest,
    CanaryStarted,
    CanaryVerdict,
    CheckCanaryRequest,
    ConcludePromotionRequest,
    CopiedVersion,
    CopyRequest,
    ExportedVersion,
    ExportRequest,
    PromotedVersion,
    Promotion,
    PromotionResult,
    RegisterPromotedRequest,
    StageRequest,
    StartCanaryRequest,
    StartRequest,
)
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.settings import Settings
from slipway.steps.promotion.abort_promotion import abort_promotion
from slipway.steps.promotion.begin_promotion import begin_promotion
from slipway.steps.promotion.check_canary import check_canary
from slipway.steps.promotion.conclude_promotion import conclude_promotion
from slipway.steps.promotion.copy_artifacts import copy_artifacts
from slipway.steps.promotion.export_version import export_version
from slipway.steps.promotion.register_promoted import register_promoted
from slipway.steps.promotion.request_approval import request_approval
from slipway.steps.promotion.stage_release import stage_release
from slipway.steps.promotion.start_canary import start_canary
from tests.fakes import (
    FakeArtifactStore,
    FakeCaptureSink,
    FakeEventBus,
    FakeMetadataTable,
    FakeOnlineStore,
    FakeSchedules,
    FakeWorkflows,
    ManualClock,
)

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
SOURCE = {"staging": "dev", "prod": "staging"}
FROM = {**SOURCE, "dev": "dev"}  # what a promotion names as its source: dev releases its own versions in place
USER = "arn:aws:iam::222222222222:user/platform-engineer"


def settings(env: str) -> Settings:
    source = SOURCE.get(env)
    return Settings(
        env=env,
        region="us-east-1",
        raw_bucket=f"{env}-raw",
        lake_bucket=f"{env}-lake",
        artifacts_bucket=f"{env}-artifacts",
        metadata_table=f"{env}-metadata",
        pii_salt="unit-salt",
        code_version="unit-test",
        promotion_source_env=source,
        promotion_source_bucket=f"{source}-artifacts" if source else None,
        principal=f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-promotion",
        approval_required=env == "prod",  # as the template sets it (ApprovalRequired; prod: always)
    )


@dataclass
class Environments:
    """dev, staging and prod sharing one object store and one clock."""

    store: FakeArtifactStore
    clock: ManualClock
    deps: dict[str, Deps] = field(default_factory=dict)

    def __getitem__(self, env: str) -> Deps:
        return self.deps[env]

    def events(self, env: str) -> list[dict[str, Any]]:
        bus = self.deps[env].events
        assert isinstance(bus, FakeEventBus)
        return bus.published

    def fork(self) -> Environments:
        """An independent copy (objects, items, events, clock)."""
        store = FakeArtifactStore()
        store._buckets = copy.deepcopy(self.store._buckets)
        clock = ManualClock(self.clock.current, self.clock.step)
        forked = Environments(store, clock)
        for env, deps in self.deps.items():
            table = FakeMetadataTable()
            assert isinstance(deps.table, FakeMetadataTable)
            table.items = copy.deepcopy(deps.table.items)
            forked.deps[env] = Deps(
                settings=deps.settings,
                store=store,
                table=table,
                events=FakeEventBus(copy.deepcopy(self.events(env))),
                clock=clock,
                captures=FakeCaptureSink(),
                workflows=FakeWorkflows(),
                schedules=FakeSchedules(),
                online=FakeOnlineStore(),
            )
        return forked


def environments(dev: Deps) -> Environments:
    """staging and prod beside a dev whose fakes hold registered versions (its buckets renamed dev-…)."""
    assert isinstance(dev.store, FakeArtifactStore) and isinstance(dev.clock, ManualClock)
    store = FakeArtifactStore()
    renames = {dev.settings.raw_bucket: "dev-raw", dev.settings.lake_bucket: "dev-lake"}
    renames[dev.settings.artifacts_bucket] = "dev-artifacts"
    for old, new in renames.items():
        store._buckets[new] = copy.deepcopy(dev.store._buckets[old])
    for env in ("staging", "prod"):
        for kind in ("raw", "lake", "artifacts"):
            store.create_bucket(f"{env}-{kind}")
    table = FakeMetadataTable()
    assert isinstance(dev.table, FakeMetadataTable)
    text = json.dumps(dev.table.items and {"|".join(k): v for k, v in dev.table.items.items()})
    for old, new in renames.items():
        text = text.replace(f"s3://{old}/", f"s3://{new}/")
    table.items = {tuple(k.split("|", 1)): v for k, v in json.loads(text).items()}  # type: ignore[misc]
    clock = ManualClock(dev.clock.current, dev.clock.step)
    envs = Environments(store, clock)
    for env in ("dev", "staging", "prod"):
        envs.deps[env] = Deps(
            settings=settings(env),
            store=store,
            table=table if env == "dev" else FakeMetadataTable(),
            events=FakeEventBus(),
            clock=clock,
            captures=FakeCaptureSink(),
            workflows=FakeWorkflows(),
            schedules=FakeSchedules(),
            online=FakeOnlineStore(),
        )
    return envs


def roundtrip(model: Any) -> Any:
    """As the state machine passes a step's output on: through JSON."""
    return json.loads(json.dumps(model.model_dump(mode="json") if hasattr(model, "model_dump") else model))


@dataclass
class Run:
    """One promotion driven step by step (None for steps not reached)."""

    execution: str
    input: dict[str, Any]
    promotion: Promotion | None = None
    exported: ExportedVersion | None = None
    copied: CopiedVersion | None = None
    promoted: PromotedVersion | None = None
    canary: CanaryStarted | None = None
    verdict: CanaryVerdict | None = None
    result: PromotionResult | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:states:us-east-1:000000000000:execution:promotion:{self.execution}"

    def state(self, *fields: str) -> dict[str, Any]:
        """The named outputs (as the machine's Parameters pick them), through JSON; all when none is named."""
        chosen = fields or ("promotion", "exported", "copied", "promoted", "canary", "verdict", "result")
        return {k: roundtrip(getattr(self, k)) for k in chosen if getattr(self, k) is not None}


def start(
    envs: Environments,
    target: str,
    ref: str,
    execution: str,
    reason: str = "release",
    retraining: dict[str, Any] | None = None,
) -> Run:
    run = Run(execution, {"ref": ref, "source_env": FROM[target], "requested_by": USER, "reason": reason})
    if retraining is not None:
        run.input["retraining"] = retraining
    start = StartRequest.from_event({"request": run.input, "execution": execution, "execution_arn": run.arn})
    run.promotion = begin_promotion(envs[target], start)
    return run


def through_register(envs: Environments, target: str, run: Run) -> Run:
    """Export in the source, copy, register in the target."""
    source = SOURCE[target]
    run.exported = export_version(envs[source], ExportRequest.from_event(run.state("promotion")), ACCOUNTS[source])
    run.copied = copy_artifacts(envs[target], CopyRequest.from_event(run.state("promotion", "exported")))
    event = run.state("promotion", "exported", "copied")
    run.promoted = register_promoted(envs[target], RegisterPromotedRequest.from_event(event))
    return run


def stage(envs: Environments, run: Run) -> Run:
    """dev's release in place: the version resolved in its own registry (no export, no copy)."""
    run.promoted = stage_release(envs["dev"], StageRequest.from_event(run.state("promotion")))
    return run


def ask_approval(envs: Environments, target: str, run: Run, token: str = "token-1") -> dict[str, Any]:
    event = {**run.state("promotion", "promoted"), "token": token}
    return request_approval(envs[target], ApprovalRequest.from_event(event))


def begin_canary(envs: Environments, target: str, run: Run, approval: dict[str, Any] | None = None) -> Run:
    event = {**run.state("promotion", "promoted"), **({"approval": approval} if approval else {})}
    run.canary = start_canary(envs[target], StartCanaryRequest.from_event(event))
    return run


def judge_canary(envs: Environments, target: str, run: Run) -> Run:
    run.verdict = check_canary(
        envs[target], CheckCanaryRequest.from_event(run.state("promotion", "promoted", "canary"))
    )
    return run


def conclude(envs: Environments, target: str, run: Run, action: str) -> Run:
    event = {**run.state("promotion", "promoted", "verdict"), "action": action}
    run.result = conclude_promotion(envs[target], ConcludePromotionRequest.from_event(event))
    return run


def abort(envs: Environments, target: str, run: Run, error: str, cause: str = "") -> dict[str, str]:
    event = {"request": run.input, "execution": run.execution, "execution_arn": run.arn}
    return abort_promotion(envs[target], AbortRequest.from_event({**event, "error": {"Error": error, "Cause": cause}}))


def promote_directly(envs: Environments, target: str, ref: str, execution: str) -> Run:
    """A whole first deployment (no champion, no approval asked)."""
    run = through_register(envs, target, start(envs, target, ref, execution))
    return conclude(envs, target, run, "direct")


def land_captures(envs: Environments, env: str) -> int:
    """Deliver what the environment's capture sink received into its lake, as the capture stream does
    (JSON lines under captures|feedback/<model>/dt=<day>/); returns how many records."""
    deps = envs[env]
    sink = deps.captures
    assert isinstance(sink, FakeCaptureSink)
    records, sink.records = list(sink.records), []
    for n, record in enumerate(records):
        day = record["at"][:10]
        prefix = (layout.captures_prefix if record["kind"] == "captures" else layout.feedback_prefix)(
            record["model"], day
        )
        key = f"{prefix}{deps.clock.now().isoformat()}-{n:06d}.json"
        deps.store.put_bytes(S3Object(bucket=deps.settings.lake_bucket, key=key), json.dumps(record).encode())
    return len(records)
