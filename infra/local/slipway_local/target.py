"""An operator's target inside an in-process LocalCloud (tests, the demo, benchmarks)."""

from __future__ import annotations

from slipway_cli.target import Target
from slipway_local.cloud import LocalCloud


def target_in(cloud: LocalCloud, env: str) -> Target:
    """A target inside an in-process LocalCloud, with the environment's operator keys."""
    return Target(env, cloud.session(env), cloud.endpoint_url, dict(cloud.environments[env].outputs))
