"""Points/s written to VictoriaMetrics: the project's writer beside influxdb-client's batching writer.

Starts Debian's ``victoria-metrics`` on a free loopback port, then alternates runs of
(a) ``MappedSink`` -> ``InfluxWriter`` (batches spooled on disk, deleted after the 2xx) and
(b) ``influxdb-client``'s own batching ``WriteApi`` (``WriteOptions(batch_size=...)``), both fed the
same readings mapped by the same schema, with the same batch size. A run's clock stops when every
point is acknowledged (project: ``flush``; client: ``close``); the points are then counted in
VictoriaMetrics. Prints medians and the ratio; ``--json`` for machines.

    .venv/bin/python bench/timeseries_write.py [--points 100000] [--batch-size 1000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from influxdb_client.client.influxdb_client import InfluxDBClient  # noqa: E402
from influxdb_client.client.write_api import WriteOptions  # noqa: E402

from compound import wire  # noqa: E402
from hub.timeseries import InfluxWriter, MappedSink, SeriesMapper, TimeseriesSettings  # noqa: E402
from hub.timeseries.schema import PRECISION, to_point  # noqa: E402

DEVICES = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Victoria:
    """VictoriaMetrics in a temporary folder."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        args = [exe, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={workdir / 'data'}"]
        args += ["-search.latencyOffset=0s", "-retentionPeriod=100y"]
        self.log = open(workdir / "vm.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("victoria-metrics did not start") from None
                time.sleep(0.1)

    def count(self, prefix: str) -> int:
        """Samples of reading_value from devices starting with ``prefix``."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=30).read()
        query = urllib.parse.urlencode({"match[]": f'reading_value{{device=~"{prefix}.*"}}', "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=120) as response:
            return sum(len(json.loads(line)["values"]) for line in response.read().splitlines() if line.strip())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def readings(prefix: str, count: int, start: datetime) -> list[wire.Reading]:
    """``count`` smoke readings spread over DEVICES devices, distinct timestamps per device."""
    return [
        wire.Reading(
            compound="sunrise-garden", edge="b1", device=f"{prefix}{i % DEVICES:04d}", quantity="smoke",
            value=0.001 * (i % 997), unit="dB/m", at=start + timedelta(milliseconds=i // DEVICES),
        )
        for i in range(count)
    ]  # fmt: skip


def run_project(url: str, msgs: list[wire.Reading], batch_size: int, workdir: Path) -> float:
    """Seconds for the project's sink + writer to have every point acknowledged."""
    settings = TimeseriesSettings(influx_url=url, batch_size=batch_size, max_pending_points=len(msgs) + 1)
    writer = InfluxWriter(settings, workdir / f"spool-{time.monotonic_ns()}.sqlite3")
    sink = MappedSink(SeriesMapper(), [writer])
    began = time.perf_counter()
    for msg in msgs:
        sink.reading(msg)
    if not writer.flush(timeout=600):
        raise RuntimeError(f"project writer did not finish: {writer.health()}")
    elapsed = time.perf_counter() - began
    health = writer.health()
    writer.close()
    if health["dropped_points"] or health["written_points"] != len(msgs):
        raise RuntimeError(f"project writer lost points: {health}")
    return elapsed


def run_client(url: str, msgs: list[wire.Reading], batch_size: int) -> float:
    """Seconds for influxdb-client's batching WriteApi to have every point written (``close`` returns)."""
    mapper = SeriesMapper()
    with InfluxDBClient(url=url, token="", org="compound") as client:
        api = client.write_api(write_options=WriteOptions(batch_size=batch_size, flush_interval=1000))
        began = time.perf_counter()
        for msg in msgs:
            api.write(bucket="compound", record=[to_point(r) for r in mapper.reading(msg)], write_precision=PRECISION)
        api.close()
        return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per run (default 100000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="points per request, both writers")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each writer (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, list[float]] = {"project": [], "client": []}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="bench-ts-") as tmp:
        workdir = Path(tmp)
        vm = Victoria(workdir)
        try:
            for rnd in range(args.rounds):
                for name in ("project", "client") if rnd % 2 == 0 else ("client", "project"):
                    prefix = f"{name[0]}{rnd}-"
                    msgs = readings(prefix, args.points, start + timedelta(days=rnd))
                    if name == "project":
                        seconds = run_project(vm.url, msgs, args.batch_size, workdir)
                    else:
                        seconds = run_client(vm.url, msgs, args.batch_size)
                    landed = vm.count(prefix)
                    if landed != args.points:
                        raise RuntimeError(f"{name} run {rnd}: {landed} of {args.points} points in VictoriaMetrics")
                    results[name].append(args.points / seconds)
        finally:
            vm.stop()
    project, client = statistics.median(results["project"]), statistics.median(results["client"])
    report: dict[str, Any] = {
        "points_per_run": args.points,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "project_points_per_s": round(project),
        "client_points_per_s": round(client),
        "ratio": round(project / client, 3),
        "project_runs": [round(x) for x in results["project"]],
        "client_runs": [round(x) for x in results["client"]],
        "goal_ratio": 0.9,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"VictoriaMetrics write, {args.points} points/run, batch {args.batch_size}, median of {args.rounds}")
        print(f"  project writer (spooled, acked): {project:>10,.0f} points/s  runs {report['project_runs']}")
        print(f"  influxdb-client batching:        {client:>10,.0f} points/s  runs {report['client_runs']}")
        print(f"  ratio: {report['ratio']:.2f} (goal >= 0.90)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
