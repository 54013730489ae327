"""The local cloud: moto running slipway's real SAM template, state machines and handlers in
three accounts (dev, staging, prod), in-process for tests or as a server on 127.0.0.1.

It needs the `local` extra (moto, aws-sam-translator). Without it this package refuses to import
(a ModuleNotFoundError naming the missing module), so the CLI can say what to install instead of
failing later, halfway through starting a server."""

from __future__ import annotations

import importlib.util

for _module in ("moto", "samtranslator"):
    if importlib.util.find_spec(_module) is None:
        raise ModuleNotFoundError(f"No module named {_module!r}: pip install 'slipway[local]'", name=_module)

from slipway_local.cloud import ACCOUNTS, REGION, LocalCloud  # noqa: E402 - after the check above

__all__ = ["ACCOUNTS", "REGION", "LocalCloud"]
