"""`slipway ui`: a local web console over the environments, read and acted on with the operator's own profiles."""

from __future__ import annotations

from slipway_cli.console.app import create_app
from slipway_cli.console.server import serve

__all__ = ["create_app", "serve"]
