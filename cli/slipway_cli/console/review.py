"""What a reviewer weighs before answering a promotion, gathered across the environments the console reads: the
drift that caused the version (its training run was a drift's retraining: which check, where, its verdicts and the
features that moved, a link to its report) and the canaries the version has had on its way (each promotion that
brought it into an environment, and its release in the environment that trained it): challenger beside champion, as
each canary judged them. Every read is a GetItem, one short query or one S3 object; what a profile may not read is
said, not hidden."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slipway import layout
from slipway.errors import SlipwayError
from slipway.objects import S3Object
from slipway.stores import runs
from slipway.stores.registry import ModelRegistry
from slipway_cli.commands import public
from slipway_cli.console.executions import execution_arn
from slipway_cli.console.history import release_run
from slipway_cli.target import Target

__all__ = ["canaries", "lineage_chain", "review", "trigger"]

CHECKS_BEFORE = 10  # drift checks read before the retraining run started, to find the one that caused it

type Step = tuple[str, dict[str, Any]]  # an environment and the model version's item there


def lineage_chain(targets: Mapping[str, Target], env: str, item: dict[str, Any]) -> tuple[list[Step], str | None]:
    """The version as registered in ``env``, then where it was promoted from, back to where it was trained (as far
    as the console reads); and the environment it could not read further, if any."""
    chain: list[Step] = [(env, item)]
    while (source := chain[-1][1].get("promoted_from")) is not None:
        target = targets.get(str(source.get("env")))
        if target is None:
            return chain, str(source.get("env"))
        try:
            found = ModelRegistry.of(target.deps).get_version(str(item["model"]), int(source["version"]))
        except (ClientError, BotoCoreError, SlipwayError):
            return chain, target.env
        chain.append((target.env, public(found)))
    return chain, None


def _read(what: str, read: Any) -> tuple[Any, str | None]:
    try:
        return read(), None
    except (ClientError, BotoCoreError, SlipwayError) as e:
        code = e.response.get("Error", {}).get("Code", "") if isinstance(e, ClientError) else type(e).__name__
        return None, f"could not read {what} ({code})"


def _retraining_order(target: Target, run: dict[str, Any]) -> dict[str, Any]:
    """The retraining order the run's execution started with (``{"retrain": …}``: where the drift was found)."""
    arn = execution_arn(target, run)
    if not arn:
        return {}
    described = target.client("stepfunctions").describe_execution(executionArn=arn)
    return dict(json.loads(described.get("input") or "{}").get("retrain") or {})


def trigger(targets: Mapping[str, Target], chain: list[Step], unread: str | None) -> dict[str, Any]:
    """Why the version exists: the drift check whose retraining trained it, or the upload it was trained on."""
    trained_in, item = chain[-1]
    run_id = str(item.get("training_run_id") or item.get("run_id"))
    if unread is not None:
        return {"kind": "unknown", "why": f"the version was promoted from {unread}, which this console does not read"}
    target = targets[trained_in]
    run, problem = _read(f"run {run_id} in {trained_in}", lambda: runs.get_run(target.deps, run_id))
    if run is None:
        return {"kind": "unknown", "why": problem or f"no run {run_id} in {trained_in}", "run_id": run_id}
    base = {"run_id": run_id, "run_env": trained_in}
    check_id = run.get("retraining_check_id")
    if not check_id:
        return {**base, "kind": "upload", "raw_uri": run.get("raw_uri")}
    order, problem = _read(f"the execution of {run_id}", lambda: _retraining_order(target, run))
    found_in = str((order or {}).get("env") or trained_in)
    drift_target = targets.get(found_in)
    found = {**base, "kind": "drift", "check_id": check_id, "env": found_in, "order": order or {}}
    if drift_target is None:
        return {**found, "why": f"the check ran in {found_in}, which this console does not read"}
    check, problem = _read(
        f"the drift checks of {item['model']} in {found_in}",
        lambda: _check(drift_target, str(item["model"]), str(check_id), str(run.get("started_at") or "")),
    )
    if check is None:
        return {**found, "why": problem or f"check {check_id} is not among the {CHECKS_BEFORE} before the run"}
    moved = [f for f in check.get("features") or [] if f.get("verdict") == "drift"]
    return {**found, "check": check, "moved": moved}


def _check(target: Target, model: str, check_id: str, before: str) -> dict[str, Any] | None:
    """The check ``check_id`` among the model's newest checks before ``before`` (the retraining run's start)."""
    pk, prefix = layout.drift_checks(model)
    start = {"PK": pk, "SK": before} if before else None
    items = target.deps.table.query(pk, prefix, newest_first=True, limit=CHECKS_BEFORE, start_after=start)
    return next((public(i) for i in items if i.get("check_id") == check_id), None)


def canaries(targets: Mapping[str, Target], chain: list[Step]) -> list[dict[str, Any]]:
    """The canaries the version has had, newest environment first: each promotion that registered it in an
    environment of the chain, and its release where it was trained (``release-MODEL-vN``), that reached a canary."""
    found = []
    for env, item in chain:
        promoted = (item.get("promoted_from") or {}).get("promotion")
        run_id = str(promoted) if promoted else release_run(str(item["model"]), int(item["version"]))
        deps = targets[env].deps
        record, problem = _read(f"promotion {run_id} in {env}", partial(runs.get_run, deps, run_id))
        if record is None or not record.get("canary_report"):
            if problem:
                found.append({"env": env, "promotion": run_id, "problem": problem})
            continue
        where = S3Object.parse(str(record["canary_report"]))
        report, problem = _read(f"the canary report of {run_id} in {env}", partial(deps.store.get_json, where))
        entry = {"env": env, "promotion": run_id, "status": record.get("status"), "problem": problem}
        if report is not None:
            entry |= {
                "healthy": report.get("healthy"),
                "champion": report.get("champion") or {},
                "challenger": report.get("challenger") or {},
                "checks": report.get("checks") or [],
                "window": report.get("window") or {},
            }
        found.append(entry)
    return found


def review(targets: Mapping[str, Target], env: str, candidate: dict[str, Any] | None) -> dict[str, Any]:
    """The trigger and canaries of the candidate of a promotion waiting in ``env`` (nothing without a candidate)."""
    if candidate is None:
        return {"trigger": {"kind": "unknown", "why": "the candidate is not registered here yet"}, "canaries": []}
    chain, unread = lineage_chain(targets, env, candidate)
    return {"trigger": trigger(targets, chain, unread), "canaries": canaries(targets, chain)}
