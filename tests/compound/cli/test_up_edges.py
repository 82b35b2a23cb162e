"""Tests of ``compound up``: headless runs end by themselves; SIGTERM stops the whole tree cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from compound.identity import HUB, read_secret, secret_path
from compound.wire import EventKind, EventState
from tests.edge.support import ROOT, Collector, last_seq
from tests.servers import MosquittoServer
from tests.support import free_port, wait_for, wait_port_closed

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def up(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "compound.cli", "up", *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )


def test_headless_up_against_an_external_broker(mosquitto: MosquittoServer, tmp_path: Path) -> None:
    """Test that `compound up --broker ... --duration` starts no broker, runs the scenario and exits 0 by itself."""
    collector = Collector(mosquitto.port, "compound/v1/sunrise-garden/+/event/+", "it-up")
    collector.start()
    log = tmp_path / "up.log"
    proc = up(
        "--scenario", "kitchen-fire-night", "--duration", "420", "--speed", "30", "--edges", "b2,kg",
        "--broker", mosquitto.url, "--data-dir", str(tmp_path / "data"), "--no-hub",
        log=log,
    )  # fmt: skip
    try:
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        collector.stop()
    text = log.read_text()
    assert "edge-b2" in text and "edge-kg" in text and "embedded amqtt" not in text
    last = last_seq(tmp_path / "data" / "edge-b2" / "outbox.db")
    wait_for(lambda: {e.seq for e in collector.events() if e.edge == "b2"} >= set(range(1, last + 1)), 30, "b2 events")
    smoke = [e for e in collector.events() if e.kind is EventKind.SMOKE and e.state is EventState.RAISED]
    assert [e.device for e in smoke] == ["b2-u1-1502-smoke"]


def test_sigterm_stops_broker_and_edges(tmp_path: Path) -> None:
    """Test that `compound up` with the embedded broker (authenticated by default) runs until SIGTERM, then stops
    every child and exits 0."""
    port = free_port()
    log = tmp_path / "up.log"
    proc = up(
        "--mqtt-port", str(port), "--edges", "kg", "--speed", "10", "--data-dir", str(tmp_path / "d"), "--no-hub",
        log=log,
    )  # fmt: skip
    try:
        wait_for(lambda: "edge kg:" in log.read_text(), 60, "the edge to start")
        hub = (HUB, read_secret(secret_path(tmp_path / "d", HUB)))  # anonymous clients are refused
        collector = Collector(port, "compound/v1/sunrise-garden/kg/status", "it-up-status", credentials=hub)
        collector.start()
        wait_for(lambda: any(b'"online"' in p for _, p in collector.messages), 30, "the retained online status")
        collector.stop()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_port_closed(port, timeout=10)
    assert "stopped (signal SIGTERM)" in log.read_text()
    # The edge closed its outbox itself (a killed one leaves its write-ahead log behind).
    assert (tmp_path / "d" / "edge-kg" / "outbox.db").exists()
    assert not (tmp_path / "d" / "edge-kg" / "outbox.db-wal").exists()
