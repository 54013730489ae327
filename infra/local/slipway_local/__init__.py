"""The local cloud: moto running slipway's real SAM template, state machines and handlers in
three accounts (dev, staging, prod), in-process for tests or as a server on 127.0.0.1."""

from __future__ import annotations

from slipway_local.cloud import ACCOUNTS, REGION, LocalCloud

__all__ = ["ACCOUNTS", "REGION", "LocalCloud"]
