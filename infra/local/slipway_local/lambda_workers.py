"""Lambda's execution environments in the local cloud: each function's invocations run in worker
processes of their own (slipway_local.lambda_worker), as on Lambda — started on first use (a cold
start), kept warm and reused, one invocation at a time each, with the function's own environment
variables (no shared ``os.environ``, so different functions run at once), killed when an invocation
runs past the function's ``Timeout`` (``Sandbox.Timedout``) or its memory grows past ``MemorySize``
(``Runtime.OutOfMemory``), and replaced by a fresh one next time."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["WorkerPools", "WorkerSpec"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_WORKER = Path(__file__).with_name("lambda_worker.py")
WATCH_INTERVAL_S = 0.05  # how often busy workers' memory is read
IDLE_LIFETIME_S = 300.0  # a warm worker unused this long is stopped (Lambda reclaims idle environments)
INIT_LIMIT_S = 120.0  # Lambda allows 10 s of init; importing the science stack on a busy laptop takes longer
# What a worker inherits from the local cloud's own environment besides the function's variables.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


@dataclass(frozen=True)
class WorkerSpec:
    """What makes an execution environment: the function, its code, its configuration."""

    account_id: str
    role: str  # the execution role: the principal the function's calls act as
    function_name: str
    code_root: Path
    handler_file: Path
    handler_name: str
    environment: tuple[tuple[str, str], ...]  # the function's variables, sorted
    memory_mb: int
    timeout_s: float


@dataclass(eq=False)  # compared and hashed by identity
class _Worker:
    process: subprocess.Popen[str]
    answers: IO[str]
    started: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    invocations: int = 0
    out_of_memory: bool = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self.process.pid}/statm") as statm:
                return int(statm.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        for stream in (self.answers, self.process.stdin):
            if stream is not None:
                stream.close()


def _start(spec: WorkerSpec) -> _Worker:
    read_end, write_end = os.pipe()
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    env.update(dict(spec.environment))
    env.update(
        SLIPWAY_RESPONSE_FD=str(write_end),
        SLIPWAY_ACCOUNT=spec.account_id,
        SLIPWAY_PRINCIPAL=spec.role,
        SLIPWAY_CODE_ROOT=str(spec.code_root),
        SLIPWAY_HANDLER_FILE=str(spec.handler_file),
        SLIPWAY_HANDLER_NAME=spec.handler_name,
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, str(_WORKER)],  # by path: importing the slipway_local package would load moto
        stdin=subprocess.PIPE,
        env=env,
        text=True,
        pass_fds=(write_end,),
        start_new_session=True,  # Ctrl-C in a terminal stops the local cloud, which stops its workers
    )
    os.close(write_end)
    worker = _Worker(process, os.fdopen(read_end, "r"))
    # The init phase (imports, module-level code) does not count against the invocation's Timeout.
    ready, _, _ = select.select([worker.answers], [], [], INIT_LIMIT_S)
    if not ready or not worker.answers.readline():
        worker.kill()
        raise RuntimeError(f"{spec.function_name}: the worker did not finish its init phase in {INIT_LIMIT_S:g} s")
    return worker


def _failure(kind: str, message: str, request_id: str) -> str:
    return json.dumps({"errorType": kind, "errorMessage": f"RequestId: {request_id} Error: {message}"})


class _Pool:
    """The execution environments of one function configuration, at most ``limit`` at once (the
    local cloud's reserved concurrency: a further invocation waits for one to be free)."""

    def __init__(self, spec: WorkerSpec, limit: int) -> None:
        self.spec = spec
        self.limit = limit
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.starting = 0
        self.changed = threading.Condition()

    def acquire(self) -> _Worker:
        """A warm worker, or a new one (its cold start runs outside the lock: others start theirs meanwhile)."""
        with self.changed:
            while not self.idle and len(self.busy) + self.starting >= self.limit:
                self.changed.wait()
            while self.idle:
                worker = self.idle.pop()
                if worker.alive:
                    self.busy.add(worker)
                    return worker
                worker.kill()
            self.starting += 1
        started: _Worker | None = None
        try:
            started = _start(self.spec)
            return started
        finally:
            with self.changed:
                self.starting -= 1
                if started is not None:
                    self.busy.add(started)
                self.changed.notify()

    def release(self, worker: _Worker, *, healthy: bool) -> None:
        with self.changed:
            self.busy.discard(worker)
            if healthy and worker.alive:
                worker.last_used = time.monotonic()
                self.idle.append(worker)
            else:
                worker.kill()
            self.changed.notify()

    def reap(self, now: float) -> None:
        with self.changed:
            stale = [w for w in self.idle if now - w.last_used > IDLE_LIFETIME_S or not w.alive]
            self.idle = [w for w in self.idle if w not in stale]
        for worker in stale:
            worker.kill()

    def close(self) -> None:
        with self.changed:
            workers, self.idle = [*self.idle, *self.busy], []
            self.busy.clear()
        for worker in workers:
            worker.kill()


class WorkerPools:
    """Every function configuration's pool, and a watchdog for memory and idle workers."""

    def __init__(self, max_workers_per_function: int = 2) -> None:
        self.max_workers = max_workers_per_function
        self._pools: dict[WorkerSpec, _Pool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None  # started with the first worker
        self.cold_starts = 0

    def invoke(self, spec: WorkerSpec, event: Any, context: Mapping[str, Any]) -> tuple[str, bool]:
        with self._lock:
            pool = self._pools.get(spec)
            if pool is None:
                pool = self._pools[spec] = _Pool(spec, self.max_workers)
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="lambda-watchdog", daemon=True)
                self._watchdog.start()
        request_id = str(context.get("aws_request_id") or uuid.uuid4())
        try:
            worker = pool.acquire()
        except RuntimeError as exc:
            return _failure("Runtime.InitError", str(exc), request_id), True
        if worker.invocations == 0:
            self.cold_starts += 1
        deadline = time.monotonic() + spec.timeout_s
        healthy = False
        try:
            assert worker.process.stdin is not None
            request = {"event": event, "context": {**context, "remaining_ms": spec.timeout_s * 1000}}
            worker.process.stdin.write(json.dumps(request, default=str) + "\n")
            worker.process.stdin.flush()
            worker.invocations += 1
            ready, _, _ = select.select([worker.answers], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                message = f"Task timed out after {spec.timeout_s:.2f} seconds"
                return _failure("Sandbox.Timedout", message, request_id), True
            line = worker.answers.readline()
            if not line:  # the process ended mid-invocation
                worker.process.wait()
                if worker.out_of_memory:
                    message = f"Runtime exited with error: signal: killed (memory over {spec.memory_mb} MB)"
                    return _failure("Runtime.OutOfMemory", message, request_id), True
                code = worker.process.returncode
                status = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                return _failure("Runtime.ExitError", f"Runtime exited with error: {status}", request_id), True
            answer = json.loads(line)
            healthy = True
            return str(answer["payload"]), bool(answer["is_error"])
        except (BrokenPipeError, OSError) as exc:
            return _failure("Runtime.ExitError", f"Runtime exited with error: {exc}", request_id), True
        finally:
            pool.release(worker, healthy=healthy)

    def workers(self) -> dict[str, int]:
        """Live worker processes per function (for tests and the demo's summary)."""
        with self._lock:
            pools = list(self._pools.values())
        counts: dict[str, int] = {}
        for pool in pools:
            with pool.changed:
                alive = sum(w.alive for w in [*pool.idle, *pool.busy])
            counts[pool.spec.function_name] = counts.get(pool.spec.function_name, 0) + alive
        return counts

    def _watch(self) -> None:
        last_reap = time.monotonic()
        while not self._stop.wait(WATCH_INTERVAL_S):
            with self._lock:
                pools = list(self._pools.values())
            for pool in pools:
                with pool.changed:
                    busy = list(pool.busy)
                for worker in busy:
                    if worker.alive and worker.rss_bytes() > pool.spec.memory_mb * 1024 * 1024:
                        worker.out_of_memory = True
                        worker.process.kill()
            now = time.monotonic()
            if now - last_reap > 1.0:
                last_reap = now
                for pool in pools:
                    pool.reap(now)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
