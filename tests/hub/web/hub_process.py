"""``compound hub`` in a subprocess on a free port, its log in a file, for end-to-end tests."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[3]


def compound_cli(*args: str) -> list[str]:
    """The command line of ``compound ARGS`` with this interpreter."""
    return [sys.executable, "-m", "compound.cli", *args]


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return int(proc.returncode)


class HubProcess:
    """``compound hub --port 0 ARGS``: started, its console URL read from its output, stopped with SIGTERM."""

    def __init__(self, args: list[str], log_path: Path, env: Mapping[str, str]) -> None:
        self.args = args
        self.log_path = log_path
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def log(self) -> str:
        """Everything the hub printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0) -> HubProcess:
        """Start it and wait until it serves and ``/healthz`` says ok (ingest subscribed)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                compound_cli("hub", "--port", "0", *self.args),
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**self.env, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

        def console_url() -> str | None:
            assert self.proc is not None and self.proc.poll() is None, f"hub exited:\n{self.log()[-3000:]}"
            found = re.search(r"console: (http://\S+?)/ ", self.log())
            return found.group(1) if found else None

        url = wait_for(console_url, timeout=timeout, interval=0.2, what="the hub's console URL")
        assert url is not None
        self.url = url
        healthy = f"{self.url}/healthz"
        wait_for(lambda: httpx.get(healthy, timeout=5).status_code == 200, 30, "hub healthy", interval=0.2)
        return self

    def stop(self) -> int:
        """SIGTERM; the exit code (0 after a clean stop)."""
        return stop_process(self.proc) if self.proc is not None else 0
