"""Helpers every test shares: a free loopback port and bounded waits (every wait in a test has a timeout).

A test that must show something does *not* happen waits for a later signal that would come after it (a
marker message published behind it, a counter that moves past it) rather than sleeping.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, what: str = "", *, interval: float = 0.05) -> T:
    """Poll until ``predicate()`` is truthy and return its value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``port``; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not _accepts(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.05)


def wait_port_closed(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Wait until nothing accepts connections on ``port``; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while _accepts(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} still accepts connections after {timeout}s")
        time.sleep(0.05)


def needs_root_mount(reason: str) -> NoReturn:
    """A test that needs a small filesystem it mounts itself (root) and was refused one: skipped on a developer's
    machine without root, failed in CI (``CI`` set), which runs as root and must never skip it silently."""
    import pytest  # here: benches import this module, and pytest is a test dependency only

    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI runs as root and must run this test")
    pytest.skip(reason)
