"""Serving the console with uvicorn on 127.0.0.1: in the foreground (`slipway ui`), or in a thread beside other work
(the tests, `slipway demo`), stopped when its block ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import uvicorn

from slipway_cli.console.app import create_app
from slipway_cli.target import Target

__all__ = ["HOST", "running", "serve"]

HOST = "127.0.0.1"


def _server(targets: Mapping[str, Target], port: int, token: str | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(targets, token=token), host=HOST, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


def serve(targets: Mapping[str, Target], port: int) -> None:
    """Serve until interrupted (Ctrl-C)."""
    _server(targets, port).run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def running(targets: Mapping[str, Target], port: int = 0, token: str | None = None) -> Iterator[str]:
    """The console served in a thread for the block's duration: its base URL."""
    port = port or free_port()
    server = _server(targets, port, token)
    thread = threading.Thread(target=server.run, name="slipway-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the console did not start on {HOST}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
