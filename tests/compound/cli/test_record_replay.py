"""Tests of ``compound record``, ``compound record info``, ``compound replay`` and ``compound sim run --record``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from compound.recording import Recording, RecordingWriter
from tests.edge.support import ROOT, Collector
from tests.servers import MosquittoServer
from tests.support import wait_for

PREFIX = "compound/v1/rr-test/"
MESSAGES = [
    (PREFIX + "b2/status", b'{"state":"online"}', 1, True),
    (PREFIX + "b2/event/b2-u1-1502-smoke", b'{"n":1}', 1, False),
    (PREFIX + "b2/event/b2-u1-1502-smoke", b'{"n":2}', 0, False),
    (PREFIX + "b2/snapshot/abcdef12", b"\xff\xd8\xff jpeg bytes", 1, False),
]


def compound_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``compound ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "compound.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def publish(port: int, messages: list[tuple[str, bytes, int, bool]]) -> None:
    """Publish ``messages`` in order with a plain paho client and wait until each has been sent."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rr-test-pub", protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload, qos, retain in messages:
            client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.broker
def test_record_stops_cleanly_on_sigint_and_replay_publishes_the_same_messages(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that record captures the topic tree, leaves a whole file on Ctrl-C, and replay republishes it in order."""
    out = tmp_path / "capture.mcap"
    log = tmp_path / "record.log"
    with open(log, "wb") as err:
        recorder = subprocess.Popen(
            [sys.executable, "-m", "compound.cli", "record", "--broker", mosquitto.url, "--compound", "rr-test",
             "--progress", "0.2", str(out)],
            cwd=ROOT, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        wait_for(lambda: "subscribed to compound/v1/rr-test/+/#" in log.read_text(), 30, "the recorder's SUBACK")
        publish(mosquitto.port, [*MESSAGES, ("compound/v1/other-compound/b1/status", b"{}", 1, False)])
        wait_for(lambda: f"{len(MESSAGES)} messages" in log.read_text(), 30, "the recorder's progress line")
        recorder.send_signal(signal.SIGINT)
        assert recorder.wait(timeout=30) == 0, log.read_text()
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)
    assert "record: done, 4 messages" in log.read_text()
    recording = Recording(out)
    assert recording.complete
    assert [(m.topic, m.payload, m.qos, m.retain) for m in recording.messages()] == MESSAGES

    info = compound_cli("record", "info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    figures = json.loads(info.stdout)
    assert figures["messages"] == 4 and figures["compounds"] == ["rr-test"] and figures["edges"] == ["b2"]
    assert figures["devices"] == ["b2-u1-1502-smoke"] and figures["topics"][PREFIX + "b2/event/b2-u1-1502-smoke"] == 2
    text = compound_cli("record", "info", str(out))
    assert text.returncode == 0 and "4 messages" in text.stdout and PREFIX + "b2/status" in text.stdout

    sub = Collector(mosquitto.port, PREFIX + "#", "rr-test-sub", filter_prefix=(PREFIX,))
    sub.start()
    try:
        replay = compound_cli("replay", str(out), "--broker", mosquitto.url, "--as-fast-as-possible", "--json")
        assert replay.returncode == 0, replay.stderr
        assert json.loads(replay.stdout.strip().splitlines()[-1])["acknowledged"] == 4
        # The retained status is delivered on subscribe already; the replay adds its copy after it.
        wait_for(lambda: len(sub.messages) >= 5, 15, "the replayed messages")
        assert sub.messages[-4:] == [(t, p) for t, p, _, _ in MESSAGES]
    finally:
        sub.stop()


@pytest.mark.broker
def test_replay_keeps_the_recorded_pacing_scaled_and_selects_a_time_range(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that replay at --speed N spreads messages over their recorded span / N, and --from/--to select a window."""
    path = tmp_path / "paced.mcap"
    t0 = time.time_ns()
    with RecordingWriter(path, source="test") as writer:
        for i in range(7):
            writer.message(PREFIX + "b2/heartbeat", str(i).encode(), 1, False, t0 + i * 500_000_000)  # every 0.5 s
    sub = Collector(mosquitto.port, PREFIX + "#", "rr-paced-sub", filter_prefix=(PREFIX,))
    sub.start()
    try:
        started = time.monotonic()
        paced = compound_cli("replay", str(path), "--broker", mosquitto.url, "--speed", "2", "--json")
        assert paced.returncode == 0, paced.stderr
        summary = json.loads(paced.stdout.strip().splitlines()[-1])
        assert summary["messages"] == 7 and summary["recorded_s"] == pytest.approx(3.0)
        assert summary["seconds"] >= 1.5 and time.monotonic() - started >= 1.5  # 3 s recorded at x2
        window = compound_cli("replay", str(path), "--broker", mosquitto.url, "--as-fast-as-possible",
                              "--from", "1", "--to", "2", "--json")  # fmt: skip
        assert window.returncode == 0, window.stderr
        wait_for(lambda: len(sub.messages) == 10, 15, "the paced and the windowed replay")
        assert [p for _, p in sub.messages] == [str(i).encode() for i in range(7)] + [b"2", b"3", b"4"]
    finally:
        sub.stop()


@pytest.mark.slow
def test_sim_run_record_writes_the_scenarios_samples(tmp_path: Path) -> None:
    """Test that ``sim run --record`` writes every sample of the scenario's edges, which ``record info`` lists."""
    out = tmp_path / "door.mcap"
    run = compound_cli("sim", "run", "door-forced-night", "--record", str(out))
    assert run.returncode == 0, run.stderr
    recorded = int(run.stdout.split("recorded ")[1].split()[0])
    total = int(run.stdout.split("done: ")[1].split()[0])
    assert recorded == total > 0
    info = Recording(out).info()
    assert info.sample_edges == {"b2": total} and info.edges == ["b2"] and "b2-u1-entrance" in info.devices
    assert info.source.startswith("sim door-forced-night seed ")
    text = compound_cli("record", "info", str(out))
    assert text.returncode == 0 and f"samples    b2 ({total})" in text.stdout


def test_replay_and_record_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    """Test that bad invocations exit 2 (or 1 for an unreadable file) with a message and no traceback."""
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, source="test") as writer:
        writer.message(PREFIX + "b2/status", b"{}", 1, True, 1)
    cases = [
        (("replay", str(path), "--into-edge", "--as-fast-as-possible"), 2, "use --speed N"),
        (("replay", str(path), "--from", "yesterday"), 2, "--from/--to"),
        (("record", str(tmp_path / "x.mcap")), 2, "nothing to record"),
        (("record", "--frames", "nocamera", str(tmp_path / "x.mcap")), 2, "DEVICE=SOURCE"),
    ]
    for args, code, message in cases:
        proc = compound_cli(*args)
        assert proc.returncode == code and message in proc.stderr and "Traceback" not in proc.stderr, (args, proc)
