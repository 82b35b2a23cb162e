"""A real VictoriaMetrics (Debian package) on a free loopback port, speaking the InfluxDB v2 write API."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.servers import free_port, wait_port, wait_port_closed

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


class VictoriaMetricsServer:
    """One VictoriaMetrics process; stop/start keep the port and the data (outage tests)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "victoria-metrics.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        command = [
            VICTORIA_METRICS,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"victoria-metrics did not start; log:\n{self.log_path.read_text()[-2000:]}") from None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM flushes its data) and wait until the port is closed."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        wait_port_closed(self.port)

    def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
            return bytes(response.read())

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, Any]]:
        """Every series matching ``match`` with its samples, after forcing a flush."""
        self._get("/internal/force_flush")
        body = self._get("/api/v1/export", {"match[]": match, "start": "0"})
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def samples(self, match: str = '{__name__=~".+"}') -> list[tuple[str, tuple[tuple[str, str], ...], int, float]]:
        """Flattened export: (metric name, sorted labels, timestamp ms, value) per sample."""
        out = []
        for series in self.export(match):
            metric = dict(series["metric"])
            name = metric.pop("__name__")
            labels = tuple(sorted(metric.items()))
            for ts, value in zip(series["timestamps"], series["values"], strict=True):
                out.append((name, labels, int(ts), float(value)))
        return out
