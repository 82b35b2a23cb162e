"""Tests of the InfluxDB writer against a real VictoriaMetrics speaking the InfluxDB v2 write API."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound import wire
from compound.config import Compound
from hub.timeseries import InfluxWriter, TimeseriesSettings, open_timeseries
from hub.timeseries.schema import SeriesRecord
from tests.hub.timeseries.vm import VictoriaMetricsServer
from tests.support import free_port, wait_for

pytestmark = pytest.mark.influx

T0 = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)


def fast_settings(url: str, **changes: object) -> TimeseriesSettings:
    """Small batches and short back-offs so tests see retries quickly."""
    values: dict[str, object] = {
        "influx_url": url, "batch_size": 50, "flush_interval_s": 0.1, "retry_min_s": 0.2, "retry_max_s": 1.0,
        "request_timeout_s": 5.0,
    }  # fmt: skip
    values.update(changes)
    return TimeseriesSettings.model_validate(values)


def smoke_reading(i: int, device: str = "b2-u1-1502-smoke") -> wire.Reading:
    """The i-th reading of a smoke detector, one every 100 ms from T0."""
    return wire.Reading(
        compound="sunrise-garden", edge="b2", device=device, quantity="smoke", value=0.01 * i, unit="dB/m",
        at=T0 + timedelta(milliseconds=100 * i),
    )  # fmt: skip


def test_points_land_with_tags_fields_and_millisecond_timestamps(
    victoria: VictoriaMetricsServer, tmp_path: Path, compound: Compound
) -> None:
    """Test that readings, events, detections and edge health land in VictoriaMetrics exactly as the schema says."""
    series = open_timeseries(fast_settings(victoria.url), tmp_path / "data", compound=compound)
    try:
        series.sink.reading(smoke_reading(3).model_copy(update={"battery": 91.0}))
        series.sink.event(
            wire.Event(
                id="evt-00000001", seq=1, compound="sunrise-garden", edge="b2", device="b2-u1-1502-smoke",
                kind=wire.EventKind.SMOKE, state=wire.EventState.RAISED, severity=wire.Severity.CRITICAL, value=0.21,
                unit="dB/m", threshold=0.15, location=wire.Location(building="b2", unit="u1", floor=15, flat="1502"),
                occurred_at=T0,
                evidence=wire.Evidence(detections=(wire.Detection(cls="smoke", score=0.8, box=(0, 0, 1, 1)),)),
            )
        )  # fmt: skip
        series.sink.heartbeat(
            wire.Heartbeat(compound="sunrise-garden", edge="b2", at=T0, uptime_s=12.5, seq=1, outbox_depth=3, dropped=2)
        )
        series.sink.status(wire.Status(compound="sunrise-garden", edge="b2", state=wire.EdgeState.OFFLINE, at=T0))
        assert series.flush(timeout=30)
        health = series.health()["influx"]
        assert health["written_points"] == 6 and health["dropped_points"] == 0
    finally:
        series.close()
    got = {(name, labels, ts): value for name, labels, ts, value in victoria.samples()}
    flat = (("building", "b2"), ("compound", "sunrise-garden"), ("device", "b2-u1-1502-smoke"), ("edge", "b2"))
    flat += (("flat", "1502"), ("unit", "u1"))
    t3 = int(T0.timestamp() * 1000) + 300
    t0 = int(T0.timestamp() * 1000)
    smoke = tuple(sorted((*flat, ("quantity", "smoke"), ("uom", "dB/m"))))
    battery = tuple(sorted((*flat, ("quantity", "battery"), ("uom", "%"))))
    ev = tuple(sorted((*flat, ("kind", "smoke"))))
    det = tuple(sorted((*flat, ("kind", "smoke"), ("class", "smoke"))))
    edge = (("compound", "sunrise-garden"), ("edge", "b2"))
    assert got == {
        ("reading_value", smoke, t3): pytest.approx(0.03),
        ("reading_value", battery, t3): 91.0,
        ("event_active", ev, t0): 1.0,
        ("event_state", ev, t0): 1.0,
        ("event_severity", ev, t0): 2.0,
        ("event_value", ev, t0): 0.21,
        ("event_threshold", ev, t0): 0.15,
        ("detection_score", det, t0): 0.8,
        ("detection_count", det, t0): 1.0,
        ("edge_uptime_s", edge, t0): 12.5,
        ("edge_seq", edge, t0): 1.0,
        ("edge_outbox_depth", edge, t0): 3.0,
        ("edge_outbox_full", edge, t0): 0.0,
        ("edge_dropped", edge, t0): 2.0,
        ("edge_devices_online", edge, t0): 0.0,
        ("edge_devices_total", edge, t0): 0.0,
        ("edge_online", edge, t0): 0.0,
    }


def test_wrong_precision_is_silently_dropped_which_is_why_the_writer_sends_ms(victoria: VictoriaMetricsServer) -> None:
    """Test the pitfall the writer avoids: millisecond stamps declared as nanoseconds are answered 204 yet misfiled.

    Under the default one-month retention such a point (dated January 1970) is dropped silently; this fixture
    keeps 100 years, so it lands in 1970 instead of at its time.
    """
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    stamp = int(T0.timestamp() * 1000)
    with InfluxDBClient(url=victoria.url, token="", org="compound") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        api.write(bucket="compound", record=f"pitfall,case=ns value=1 {stamp}", write_precision="ns")
        api.write(bucket="compound", record=f"pitfall,case=ms value=1 {stamp}", write_precision="ms")
    stored = {dict(labels)["case"]: ts for _, labels, ts, _ in victoria.samples('{__name__="pitfall_value"}')}
    assert stored == {"ms": stamp, "ns": stamp // 1_000_000}


class _StrictWriteHandler(BaseHTTPRequestHandler):
    """InfluxDB 2's answer to a field type conflict (VictoriaMetrics has no field types and takes anything)."""

    accepted: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if b"broken" in body:
            answer = b'{"code":"unprocessable entity","message":"failure writing points: field type conflict"}'
            self.send_response(422)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.accepted.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.mark.timeout(60)
def test_a_batch_the_server_refuses_is_counted_and_does_not_block_the_rest(tmp_path: Path) -> None:
    """Test that a batch the server refuses for good (InfluxDB 2's 422) is dropped, counted, and not retried."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StrictWriteHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    writer = InfluxWriter(fast_settings(f"http://127.0.0.1:{server.server_port}", batch_size=1), tmp_path / "s.db")
    try:
        writer.submit([SeriesRecord("broken", {"device": "x"}, {"value": 1.0}, T0)])
        writer.submit([SeriesRecord("fine", {"device": "x"}, {"value": 1.0}, T0)])
        assert writer.flush(timeout=30)
        health = writer.health()
    finally:
        writer.close()
        server.shutdown()
        server.server_close()
    assert (health["refused_points"], health["dropped_points"], health["written_points"]) == (1, 1, 1)
    assert health["spooled_points"] == 0
    assert [body.split(b",")[0] for body in _StrictWriteHandler.accepted] == [b"fine"]


@pytest.fixture
def black_hole() -> Iterator[socket.socket]:
    """A listening socket that never accepts: connections hang as on a wedged server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1000)
    yield sock
    sock.close()


def test_sink_returns_at_once_while_the_server_hangs(tmp_path: Path, black_hole: socket.socket) -> None:
    """Test that sink calls complete while every write hangs on the server, the points waiting in the spool."""
    settings = fast_settings(f"http://127.0.0.1:{black_hole.getsockname()[1]}", request_timeout_s=300.0)
    series = open_timeseries(settings, tmp_path / "data")
    done = threading.Event()

    def feed() -> None:
        for i in range(5000):
            series.sink.reading(smoke_reading(i))
        done.set()

    try:
        threading.Thread(target=feed, daemon=True).start()
        # A sink that waited for the server would still be inside its first call after 300 s.
        assert done.wait(timeout=60), "sink calls blocked while the server hung"
        wait_for(lambda: series.influx is not None and series.influx.health()["spooled_points"] == 5000, 60, "spool")
        assert series.health()["influx"]["written_points"] == 0
    finally:
        black_hole.close()  # resets the hung request, so the sender can stop
        series.close(timeout=0.5)


def test_spool_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    """Test that past the spool bound the oldest batches are dropped and every dropped point is counted."""
    down = f"http://127.0.0.1:{free_port()}"
    writer = InfluxWriter(fast_settings(down, batch_size=100, spool_max_points=1000), tmp_path / "spool.sqlite3")
    try:
        for start in range(0, 2500, 100):
            writer.submit([SeriesRecord("m", {"d": "x"}, {"value": float(i)}, T0) for i in range(start, start + 100)])
        wait_for(lambda: writer.health()["dropped_points"] >= 1500, 30, "drops")
        health = writer.health()
        assert health["failed_writes"] >= 1 and not health["reachable"]
    finally:
        writer.close(timeout=0.5)
    # the batch in flight is spared from eviction; what stays is at most the bound plus that batch
    assert health["dropped_points"] + health["spooled_points"] == 2500
    assert health["spooled_points"] <= 1100


def test_spooled_points_survive_a_writer_restart(victoria: VictoriaMetricsServer, tmp_path: Path) -> None:
    """Test that points spooled while the server was down are sent by the next writer on the same spool."""
    spool = tmp_path / "spool.sqlite3"
    victoria.stop()
    first = InfluxWriter(fast_settings(victoria.url), spool)
    first.submit([SeriesRecord("kept", {"d": "x"}, {"value": float(i)}, T0 + timedelta(seconds=i)) for i in range(120)])
    wait_for(lambda: first.health()["spooled_points"] == 120, 30, "spool")
    first.close(timeout=0.5)
    victoria.start()
    second = InfluxWriter(fast_settings(victoria.url), spool)
    try:
        assert second.flush(timeout=30)
    finally:
        second.close()
    assert sorted(value for *_, value in victoria.samples('{__name__="kept_value"}')) == [float(i) for i in range(120)]


@pytest.mark.slow
def test_thirty_second_outage_loses_nothing_and_doubles_nothing(
    victoria: VictoriaMetricsServer, tmp_path: Path
) -> None:
    """Test that a stream of readings across a 30 s server outage lands exactly once, every point."""
    series = open_timeseries(fast_settings(victoria.url), tmp_path / "data")
    total = 0
    devices = [f"b{b}-u1-{f}01-smoke" for b in (1, 2) for f in range(1, 6)]

    def stream(count: int) -> None:
        nonlocal total
        for _ in range(count):
            for device in devices:
                series.sink.reading(smoke_reading(total, device))
            total += 1
            time.sleep(0.01)

    try:
        stream(100)
        wait_for(lambda: series.health()["influx"]["written_points"] > 0, 30, "first writes")
        victoria.stop()
        outage_end = time.monotonic() + 30
        while time.monotonic() < outage_end:
            stream(10)
        assert series.health()["influx"]["spooled_points"] > 0
        victoria.start()
        stream(100)
        assert series.flush(timeout=60)
        health = series.health()["influx"]
    finally:
        series.close()
    expected = total * len(devices)
    assert (health["written_points"], health["dropped_points"]) == (expected, 0)
    samples = victoria.samples('{__name__="reading_value"}')
    stamps = Counter((dict(labels)["device"], ts) for _, labels, ts, _ in samples)
    assert [key for key, n in stamps.items() if n > 1] == [], "doubled points"
    want = {(d, int((T0 + timedelta(milliseconds=100 * i)).timestamp() * 1000)) for d in devices for i in range(total)}
    assert set(stamps) == want, f"{len(want - set(stamps))} points lost"


_tag_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=32).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(building=_tag_text, flat=_tag_text)
def test_any_location_text_lands_as_written_or_cleaned(
    shared_victoria: VictoriaMetricsServer, tmp_path_factory: pytest.TempPathFactory, building: str, flat: str
) -> None:
    """Test that location tags with spaces, commas, equals signs or any unicode never get a batch refused."""
    from hub.timeseries.schema import clean_tag

    device = f"dev-{time.monotonic_ns()}"
    series = open_timeseries(fast_settings(shared_victoria.url), tmp_path_factory.mktemp("esc"))
    try:
        series.sink.event(
            wire.Event(
                id="evt-00000001", seq=1, compound="sunrise-garden", edge="b2", device=device,
                kind=wire.EventKind.GAS, state=wire.EventState.RAISED, severity=wire.Severity.WARNING, value=12.0,
                location=wire.Location(building=building, flat=flat), occurred_at=T0,
            )
        )  # fmt: skip
        assert series.flush(timeout=30)
        assert series.health()["influx"]["dropped_points"] == 0
    finally:
        series.close()
    labels = [dict(lb) for _, lb, _, _ in shared_victoria.samples(f'{{__name__="event_value",device="{device}"}}')]
    assert len(labels) == 1
    assert (labels[0].get("building"), labels[0].get("flat")) == (clean_tag(building), clean_tag(flat))
