"""A small process tree for ``compound up``: start children in order, watch them, stop them cleanly.

Each child is a ``ChildSpec`` (name, role, command line, an optional port that says it is ready).
Children start in the order added, each in its own session so that a terminal's Ctrl-C reaches only
this parent, which then stops them in reverse order (edges before the broker, so their last outbox
drain and offline status still reach it): SIGTERM, then SIGKILL after ``stop_timeout``. On Linux each child
also gets SIGTERM from the kernel if this parent dies without stopping them (``PR_SET_PDEATHSIG``).

Readiness is a TCP port, an MQTT CONNACK or any ``ready`` predicate (the hub's ``/healthz``). A child with
``restarts`` left is started again with the same command line when it dies (the hub after a crash: its
persistent MQTT session and idempotent store make that safe).

The tree ends when every child marked ``finishes`` has exited (headless runs with ``--duration``), when
an ``essential`` child dies for good (the broker, the hub), or on SIGINT/SIGTERM. ``wait(before_stop=...)``
runs a callback after a finished run and before anything is stopped (a ``--json`` report reads the hub
then). ``summary()`` describes the run as a dict.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["ChildSpec", "ProcessTree", "free_port", "http_ok", "python_module"]

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def python_module(module: str, *args: str) -> list[str]:
    """Command line running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


_MQTT_PROBE = bytes([0x10, 17, 0, 4, *b"MQTT", 4, 0x02, 0, 5, 0, 5, *b"probe"])
"""CONNECT, MQTT 3.1.1, clean session, keepalive 5 s, client id 'probe'."""


def _mqtt_connect(username: str, password: str) -> bytes:
    """CONNECT like ``_MQTT_PROBE``, with a username and password."""

    def field(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    body = bytes([0, 4, *b"MQTT", 4, 0xC2, 0, 5]) + field("probe") + field(username) + field(password)
    size, length = len(body), b""
    while True:  # the remaining length, MQTT's variable-length integer
        size, digit = divmod(size, 128)
        length += bytes([digit | (0x80 if size else 0)])
        if not size:
            return b"\x10" + length + body


def mqtt_ready(host: str, port: int, credentials: tuple[str, str] | None = None) -> bool:
    """Whether an MQTT broker on ``host:port`` answers CONNECT with a CONNACK: accepted, or refused for want of
    credentials (4, 5: a broker with authentication on is up and refuses this anonymous probe).

    A bare TCP probe makes some brokers (amqtt) log an error for the empty connection; this one
    speaks the protocol and says goodbye with DISCONNECT.
    """
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(_MQTT_PROBE if credentials is None else _mqtt_connect(*credentials))
            connack = sock.recv(4)
            answered = len(connack) == 4 and connack[0] == 0x20 and connack[3] in (0, 4, 5)
            if answered and connack[3] == 0:
                sock.sendall(bytes([0xE0, 0]))
            elif answered:  # refused: let the broker close first (amqtt logs an error when the peer beats it)
                sock.recv(1)
            return answered
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether ``GET url`` answers 200 (a health endpoint)."""
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (URLError, OSError, ValueError):
        return False


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: get SIGTERM when the parent dies (even by SIGKILL), so nothing is orphaned.

    Children run in their own sessions (a terminal's Ctrl-C reaches only the parent), so without this a
    parent killed outright would leave the broker, hub and edges running.
    """
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One process of the tree."""

    name: str
    role: str
    argv: Sequence[str]
    where: str = ""
    ready_port: tuple[str, int] | None = None
    ready_mqtt: bool = False
    essential: bool = False
    finishes: bool = False
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    """Extra readiness predicate, polled after ``ready_port`` answers (e.g. the hub's ``/healthz``)."""
    restarts: int = 0
    """How many times the tree starts this child again after it dies on its own."""


@dataclass(slots=True)
class Child:
    """A started child and what became of it."""

    spec: ChildSpec
    proc: subprocess.Popen[bytes]
    started: float
    ended: float | None = None
    returncode: int | None = None
    restarted: int = 0
    exits: list[int] = field(default_factory=list)
    """Exit codes of earlier lives (before a restart)."""


class ProcessTree:
    """Start, supervise and stop a set of child processes."""

    def __init__(
        self, *, stop_timeout: float = 15.0, ready_timeout: float = 30.0, child_stdout: int | None = None
    ) -> None:
        self.specs: list[ChildSpec] = []
        self.children: list[Child] = []
        self.stop_timeout = stop_timeout
        self.ready_timeout = ready_timeout
        self.child_stdout = child_stdout
        """File descriptor for the children's stdout (``None``: inherit; ``--json`` sends it to stderr)."""
        self.stop_reason: str | None = None
        self._signalled: int | None = None
        self._essential_died = False

    def add(self, spec: ChildSpec) -> None:
        """Add a child; children start in the order added."""
        if any(s.name == spec.name for s in self.specs):
            raise ValueError(f"duplicate child name {spec.name!r}")
        self.specs.append(spec)

    def describe(self) -> str:
        """A table of what runs where."""
        width = max((len(s.name) for s in self.specs), default=4)
        return "\n".join(f"  {s.name:<{width}}  {s.role:<7} {s.where}" for s in self.specs)

    @property
    def stop_requested(self) -> bool:
        """Whether SIGINT/SIGTERM has arrived (long ``before_stop`` work should give up then)."""
        return self._signalled is not None

    def child(self, name: str) -> Child | None:
        """The started child called ``name``."""
        return next((c for c in self.children if c.spec.name == name), None)

    # ---- lifecycle
    def start(self) -> None:
        """Start every child not started yet, in order, each ready before the next; stop all and raise if one fails.

        SIGINT/SIGTERM during start stop what has started and raise ``KeyboardInterrupt``.
        """
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            started = {c.spec.name for c in self.children}
            for spec in self.specs:
                if spec.name in started:
                    continue
                child = Child(spec, self._spawn(spec), time.time())
                self.children.append(child)
                self._wait_ready(child)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _spawn(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(spec.argv),
            env={**os.environ, **spec.env},
            start_new_session=True,
            stdout=self.child_stdout,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()) if sys.platform == "linux" else None,
        )
        log.info("started %s (pid %d): %s", spec.name, proc.pid, " ".join(spec.argv))
        return proc

    def _wait_ready(self, child: Child) -> None:
        spec, proc = child.spec, child.proc
        if spec.ready_port is None and spec.ready is None:
            return
        deadline = time.monotonic() + self.ready_timeout
        what = f"{spec.ready_port[0]}:{spec.ready_port[1]}" if spec.ready_port else "its readiness check"
        probe = mqtt_ready if spec.ready_mqtt else port_open
        while not ((spec.ready_port is None or probe(*spec.ready_port)) and (spec.ready is None or spec.ready())):
            if self._signalled is not None:
                self.stop_reason = f"signal {signal.Signals(self._signalled).name} during start"
                self.stop()
                raise KeyboardInterrupt(self.stop_reason)
            if proc.poll() is not None or time.monotonic() > deadline:
                code = proc.poll()
                self.stop()
                state = f"exit {code}" if code is not None else f"not ready after {self.ready_timeout:g} s"
                raise RuntimeError(f"{spec.name} did not come up on {what} ({state})")
            time.sleep(0.1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = signum

    def wait(self, poll_s: float = 0.2, *, before_stop: Callable[[], None] | None = None) -> int:
        """Supervise until done (see module doc); run ``before_stop`` after a finished run; stop everything.

        Returns 0 when all went well: every ``finishes`` child exited 0, no essential child died for good.
        """
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._supervise(poll_s)
            if before_stop is not None and self.stop_reason == "finished":
                before_stop()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._essential_died:
            return 1
        return 1 if any(c.returncode != 0 for c in self.children if c.spec.finishes) else 0

    def _supervise(self, poll_s: float) -> None:
        finishing = [c for c in self.children if c.spec.finishes]
        while True:
            if self._signalled is not None:
                self.stop_reason = f"signal {signal.Signals(self._signalled).name}"
                return
            for child in self.children:
                self._reap(child)
                if child.returncode is not None and child.restarted < child.spec.restarts and not child.spec.finishes:
                    self._restart(child)
            dead = [c for c in self.children if c.spec.essential and c.returncode is not None]
            if dead:
                self._essential_died = True
                self.stop_reason = f"{dead[0].spec.name} exited with {dead[0].returncode}"
                log.error("%s died; stopping the tree", dead[0].spec.name)
                return
            if finishing and all(c.returncode is not None for c in finishing):
                self.stop_reason = "finished"
                return
            time.sleep(poll_s)

    def _restart(self, child: Child) -> None:
        """Start a child that died on its own again, same command line; wait until it is ready."""
        assert child.returncode is not None
        child.restarted += 1
        child.exits.append(child.returncode)
        log.warning(
            "%s exited with %d; restarting it (%d of %d)",
            child.spec.name,
            child.returncode,
            child.restarted,
            child.spec.restarts,
        )
        print(
            f"compound up: {child.spec.name} exited with {child.returncode}; restarting it "
            f"({child.restarted}/{child.spec.restarts})",
            file=sys.stderr,
            flush=True,
        )
        child.proc, child.returncode, child.ended = self._spawn(child.spec), None, None
        deadline = time.monotonic() + self.ready_timeout
        spec = child.spec
        probe = mqtt_ready if spec.ready_mqtt else port_open
        while not ((spec.ready_port is None or probe(*spec.ready_port)) and (spec.ready is None or spec.ready())):
            if self._signalled is not None or child.proc.poll() is not None or time.monotonic() > deadline:
                return  # the supervisor loop sees the signal or the exit (and restarts again while it may)
            time.sleep(0.1)

    def _reap(self, child: Child) -> None:
        if child.returncode is None:
            code = child.proc.poll()
            if code is not None:
                child.returncode, child.ended = code, time.time()

    def stop(self) -> None:
        """SIGTERM the running children in reverse start order; SIGKILL any still alive after ``stop_timeout``."""
        for child in reversed(self.children):
            self._reap(child)
            if child.returncode is not None:
                continue
            child.proc.terminate()
            try:
                child.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %g s; killing it", child.spec.name, self.stop_timeout)
                child.proc.kill()
                child.proc.wait(timeout=10)
            self._reap(child)

    def summary(self) -> dict[str, Any]:
        """What ran, where, for how long and how it ended (JSON-ready)."""
        return {
            "stop_reason": self.stop_reason,
            "children": [
                {
                    "name": c.spec.name,
                    "role": c.spec.role,
                    "where": c.spec.where,
                    "pid": c.proc.pid,
                    "returncode": c.returncode,
                    "restarts": c.restarted,
                    "earlier_exits": c.exits,
                    "seconds": round((c.ended or time.time()) - c.started, 3),
                }
                for c in self.children
            ],
        }
