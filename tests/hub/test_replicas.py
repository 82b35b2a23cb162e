"""Hub replicas on one PostgreSQL and one Mosquitto: separate ``compound hub`` processes share the stream through an
MQTT shared subscription, one is SIGKILLed mid-stream, and still every event is stored once, every incident has
one alarm, and no escalation step is taken twice.

What Mosquitto 2.0 does with a dead member of a shared subscription (measured, see README "Hub replicas"): it
goes on handing that member's session its share of new messages, and what the member had not acknowledged waits
in its session; nothing goes to the other members. A replica restarted with the same ``--replica`` (its MQTT
client id) gets all of it back; the edges' journals (resend requests) cover anything a broker drops.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from compound import wire
from compound.config import Compound
from hub.db import Alarm, AlarmHistory, Database, EscalationStep, EventRecord, NotificationJob, SeqGap
from tests.conftest import ROOT
from tests.edge.scripted import ScriptedEdge
from tests.hub.helpers import make_event
from tests.hub.test_hub_kill import count
from tests.hub.test_postgres import fresh_postgres_url, postgres_cluster  # noqa: F401  (fixtures)
from tests.servers import MosquittoServer
from tests.support import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DEVICES = 30
"""Each device sends a raise and then a second raise (the condition still there): one alarm, two events."""


def spawn_replica(
    mosquitto: MosquittoServer, url: str, tmp_path: Path, name: str, *extra: str
) -> tuple[subprocess.Popen[bytes], Path, int]:
    """``compound hub --db URL --replica NAME --share-group hubs EXTRA`` as a child process, not waited for; its
    process, log and the log's size before it (``ready`` reads on from there)."""
    log_path = tmp_path / f"hub-{name}.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "compound.cli", "-v", "hub", "--broker", mosquitto.url, "--broker-kind",
                "mosquitto", "--config", str(ROOT / "configs"), "--data-dir", str(tmp_path / f"hub-{name}"),
                "--port", "0", "--db", url, "--replica", name, "--share-group", "hubs", *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # fmt: skip
    return proc, log_path, start


def ready(replica: tuple[subprocess.Popen[bytes], Path, int], line: str = "hub ingest subscribed") -> str:
    """Wait for ``line`` in the replica's log (since it started); returns its log from there."""
    proc, log_path, start = replica
    wait_for(lambda: line in log_path.read_text(errors="replace")[start:] or proc.poll() is not None, timeout=60,
             what=f"{log_path.name}: {line!r}")  # fmt: skip
    text = log_path.read_text(errors="replace")[start:]
    assert proc.poll() is None, text[-3000:]
    return text


def _replica(mosquitto: MosquittoServer, url: str, tmp_path: Path, name: str, *options: str) -> subprocess.Popen[bytes]:
    replica = spawn_replica(mosquitto, url, tmp_path, name, *options)
    ready(replica)
    return replica[0]


@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_share_the_stream_and_survive_a_sigkill(
    replicas: int,
    fresh_postgres_url: str,  # noqa: F811
    mosquitto: MosquittoServer,
    compound: Compound,
    tmp_path: Path,
) -> None:
    """Test that N hub processes on one PostgreSQL, fed through ``$share/hubs/...``, with one SIGKILLed while an
    edge streams QoS 1 events and restarted later under the same replica name, store every event exactly once,
    raise one alarm per device (with one raise step), write each notification job once and take each escalation
    step once, and that each replica took part of the stream."""
    smoke = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")]
    devices, marker_device = smoke[:DEVICES], smoke[DEVICES]
    script: list[wire.Event] = []
    for device in devices:
        script.append(make_event(compound, device, seq=len(script) + 1, state="raised"))
    for device in devices:
        script.append(make_event(compound, device, seq=len(script) + 1, state="raised", value=0.4))
    streamed = len(script)
    script.append(make_event(compound, marker_device, seq=len(script) + 1, state="raised"))

    def build(seq: int) -> wire.Event:
        return script[seq - 1]

    names = [f"r{i}" for i in range(1, replicas + 1)]
    # One simulated timeline, 30x: escalation steps (30 s and more apart) come due within the test, on every replica.
    now = datetime.now(UTC)
    timeline = ("--sim-start", now.isoformat(), "--real-start", str(now.timestamp()), "--speed", "30")
    options = ("--no-edge-supervision", *timeline)
    spawned = {name: spawn_replica(mosquitto, fresh_postgres_url, tmp_path, name, *options) for name in names}
    hubs = {name: replica[0] for name, replica in spawned.items()}
    for replica in spawned.values():
        ready(replica)
    db = Database(fresh_postgres_url)
    edge = ScriptedEdge(compound, "b2", mosquitto.host, mosquitto.port, tmp_path / "edge").start()
    published = 0

    def stream() -> None:
        nonlocal published
        for _ in range(streamed):
            edge.put(build)
            published += 1
            time.sleep(0.02)  # a stream of 1.2 s at least: the kill lands while events are still coming

    sender = threading.Thread(target=stream)
    logs = {name: tmp_path / f"hub-{name}.log" for name in names}

    def leaders(job: str) -> list[str]:
        return [name for name, path in logs.items() if f"now leads {job}" in path.read_text(errors="replace")]

    # The victim is the replica leading the resend sweep: the job must pass to another one.
    victim = wait_for(lambda: (leaders("resend-sweep") or [None])[0], timeout=30, what="a sweep leader")
    began = time.monotonic()
    try:
        sender.start()
        wait_for(lambda: count(db, EventRecord) >= 10, timeout=60, what="the replicas storing the first events")
        hubs[victim].send_signal(signal.SIGKILL)
        hubs[victim].wait(timeout=10)
        killed_at = count(db, EventRecord)
        sender.join(timeout=60)
        assert published == streamed
        wait_for(lambda: edge.outbox.depth() == 0, timeout=30, what="the broker acknowledging every event")
        assert killed_at < streamed, "every event was stored before the kill; the test proves nothing"
        wait_for(lambda: set(leaders("resend-sweep")) - {victim}, timeout=30, what="another replica leading the sweep")
        took_over = time.monotonic() - began

        hubs[victim] = _replica(mosquitto, fresh_postgres_url, tmp_path, victim, *options)  # same name: same session
        edge.put(build)  # the marker: anything still missing before it shows as a gap, asked for again
        wait_for(lambda: count(db, EventRecord) == len(script), timeout=90, what="every event, after the restart")
        wait_for(lambda: count(db, SeqGap) == 0, timeout=30, what="every seq gap closed")

        with db.session() as session:
            stored = list(session.scalars(select(EventRecord.event_id)))
            raises = session.execute(
                select(AlarmHistory.alarm_id, func.count())
                .where(AlarmHistory.action == "raise")
                .group_by(AlarmHistory.alarm_id)
            ).all()
            alarms_per_device = Counter(session.scalars(select(Alarm.device)))
            taken = Counter(
                session.execute(
                    select(
                        EscalationStep.alarm_id, EscalationStep.action, EscalationStep.level, EscalationStep.repeat
                    ).where(EscalationStep.state == "done")
                ).all()
            )
            job_keys = Counter(session.scalars(select(NotificationJob.job_key)))
            takers = set(session.scalars(select(EscalationStep.taken_by).where(EscalationStep.taken_by.is_not(None))))
        assert sorted(stored) == sorted(e.id for e in script), "every event stored exactly once"
        assert set(alarms_per_device) == {*devices, marker_device} and max(alarms_per_device.values()) == 1
        assert len(raises) == DEVICES + 1 and {n for _, n in raises} == {1}, "an alarm was raised twice"
        assert taken and max(taken.values()) == 1, f"an escalation step was taken twice: {taken.most_common(3)}"
        assert job_keys and max(job_keys.values()) == 1, "a notification job was written twice"
        assert all("$share/hubs/" in path.read_text() for path in logs.values()), "a replica did not subscribe shared"
        leading = Counter()  # each replica's /healthz (the last console it printed: the victim's after its restart)
        for path in logs.values():
            url = re.findall(r"console: (http://\S+)/ ", path.read_text(errors="replace"))[-1]
            leading.update(httpx.get(f"{url}/healthz", timeout=10).json()["parts"]["ingest"]["leads"])
        assert leading == {"resend-sweep": 1, "edge-supervision": 1}, f"jobs not led exactly once: {leading}"
        print(
            f"{replicas} replicas: {killed_at}/{streamed} events stored at the kill of {victim} (the sweep leader), "
            f"sweep led by another after {took_over:.1f} s, all stored {time.monotonic() - began:.1f} s after the "
            f"stream began; {edge.resend.stats.requeued} resent on request; steps taken by {sorted(takers)}"
        )
    finally:
        edge.stop()
        for proc in hubs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in hubs.values():
            proc.wait(timeout=30)
        db.dispose()
    assert all(proc.returncode == 0 for proc in hubs.values())


_MEMBER = """
import sys, paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, ack = int(sys.argv[1]), sys.argv[2] == "ack"
client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="member-b", clean_session=False,
                     manual_ack=True)
def on_message(c, _u, m):
    print(m.payload.decode(), flush=True)
    if ack:
        c.ack(m.mid, m.qos)
client.on_message = on_message
client.on_connect = lambda c, *_: c.subscribe("$share/hubs/probe/#", qos=1)
client.on_subscribe = lambda *_: print("subscribed", flush=True)
client.connect("127.0.0.1", port)
client.loop_forever()
"""


@pytest.mark.slow
def test_mosquitto_keeps_a_dead_shared_members_messages_for_it(mosquitto: MosquittoServer) -> None:
    """Test what the replicas' design rests on (Mosquitto 2.0): a member of a shared subscription with a
    persistent session, SIGKILLed with messages unacknowledged, keeps them, and keeps getting its round-robin
    share of new ones while dead; none go to the live member; restarted under its client id it gets them all."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got_a: list[str] = []
    a = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="member-a", clean_session=False)
    a.on_message = lambda _c, _u, m: got_a.append(m.payload.decode())
    subscribed = threading.Event()
    a.on_subscribe = lambda *_: subscribed.set()
    a.connect(mosquitto.host, mosquitto.port)
    a.loop_start()
    a.subscribe("$share/hubs/probe/#", qos=1)
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="probe-publisher")
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()

    def member_b(ack: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _MEMBER, str(mosquitto.port), ack], stdout=subprocess.PIPE, text=True
        )

    def lines(proc: subprocess.Popen[str], n: int) -> list[str]:
        """The member's next ``n`` lines but "subscribed" (a resumed session delivers before the SUBACK)."""
        assert proc.stdout is not None
        found: list[str] = []
        while len(found) < n:
            line = proc.stdout.readline().strip()
            assert line, "member B ended"
            if line != "subscribed":
                found.append(line)
        return found

    def publish(numbers: range) -> None:
        for n in numbers:
            publisher.publish("probe/x", str(n), qos=1).wait_for_publish(10)

    b = member_b("no-ack")
    try:
        assert b.stdout is not None and b.stdout.readline().strip() == "subscribed"
        assert subscribed.wait(10)
        publish(range(10))
        wait_for(lambda: len(got_a) == 5, timeout=10, what="member A's share")
        b.send_signal(signal.SIGKILL)  # with its 5 messages unacknowledged
        b.wait(10)
        b.stdout.close()
        publish(range(10, 20))
        time.sleep(1.0)  # anything redistributed would have reached A by now
        assert len(got_a) == 10, f"Mosquitto redistributed a dead member's messages: {got_a}"
        b = member_b("ack")
        redelivered = [int(n) for n in lines(b, 10)]
        assert sorted(redelivered + [int(n) for n in got_a]) == list(range(20))
    finally:
        if b.poll() is None:
            b.kill()
        b.wait(10)
        if b.stdout is not None:
            b.stdout.close()
        a.disconnect()
        a.loop_stop()
        publisher.disconnect()
        publisher.loop_stop()
