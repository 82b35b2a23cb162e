"""A real VictoriaMetrics (Debian package) on a free loopback port, speaking the InfluxDB v2 write API."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from typing import Any

from tests.servers import ServerProcess

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


class VictoriaMetricsServer(ServerProcess):
    """One VictoriaMetrics process; stop/start keep the port and the data (outage tests)."""

    kind = "victoria-metrics"
    start_timeout = 30.0
    stop_timeout = 30.0  # SIGTERM flushes its data

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            VICTORIA_METRICS,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
        ]

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
