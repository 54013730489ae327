"""Judge the canary on what it served in the bake window: the captured rows (and feedback) of the challenger
against the champion's over the same window, by the spec's rollback criteria. The report of every check
goes to the lake; the verdict goes back to the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from slipway import layout
from slipway.contracts.promotion import CanaryVerdict, CheckCanaryRequest
from slipway.domain.canary import judge, served_rows, variant_stats
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.promotions import record
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import spec_at


def _days(start: str, end: str) -> list[str]:
    first, last = datetime.fromisoformat(start).date(), datetime.fromisoformat(end).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _records(deps: Deps, prefixes: list[str]) -> Iterator[dict[str, Any]]:
    """JSON records of every object under the prefixes (JSON lines; a line that is not JSON is skipped)."""
    bucket = deps.settings.lake_bucket
    for prefix in prefixes:
        for key in deps.store.list_keys(bucket, prefix):
            for line in deps.store.get_bytes(S3Object(bucket=bucket, key=key)).splitlines():
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    yield value


def check_canary(deps: Deps, request: CheckCanaryRequest) -> CanaryVerdict:
    promotion, promoted, canary = request.promotion, request.promoted, request.canary
    model = promotion.model
    item = ModelRegistry.of(deps).get_version(model, promoted.version)
    deployment = spec_at(deps, model, str(item["spec_version"])).deployment_or_default
    start, end = canary.started_at, deps.now_iso()
    days = _days(start, end)
    rows = served_rows(_records(deps, [layout.captures_prefix(model, d) for d in days]), start, end)
    online = deployment.rollback.online_metric
    feedback = list(_records(deps, [layout.feedback_prefix(model, d) for d in days])) if online else []
    metric = online.metric if online else None
    champion = variant_stats(
        "production", [r for r in rows if (r.variant, r.version) == ("production", promoted.champion)], feedback, metric
    )
    challenger = variant_stats(
        "challenger", [r for r in rows if (r.variant, r.version) == ("challenger", promoted.version)], feedback, metric
    )
    verdict = judge(deployment, champion, challenger)
    report = layout.canary_report(deps.settings.lake_bucket, model, promotion.id)
    deps.store.put_json(
        report,
        {
            "model": model,
            "env": deps.settings.env,
            "promotion": promotion.id,
            "champion": {"version": promoted.champion, **champion.summary()},
            "challenger": {"version": promoted.version, **challenger.summary()},
            "window": {"start": start, "end": end},
            "criteria": deployment.model_dump(mode="json"),
            "checks": [c.to_dict() for c in verdict.checks],
            "healthy": verdict.healthy,
        },
    )
    reasons = verdict.reasons
    summary = "healthy: " + "; ".join(c.message for c in verdict.checks) if verdict.healthy else "; ".join(reasons)
    record(
        deps,
        promotion.id,
        step="CheckCanary",
        canary_healthy=verdict.healthy,
        canary_reasons=reasons,
        canary_report=report.uri,
        canary_rows={"production": champion.rows, "challenger": challenger.rows},
    )
    return CanaryVerdict(
        healthy=verdict.healthy,
        reasons=reasons,
        cause=summary,
        report_uri=report.uri,
        rows={"production": champion.rows, "challenger": challenger.rows},
    )
