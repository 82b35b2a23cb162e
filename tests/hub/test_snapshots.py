"""Camera snapshots at the hub: stored with the alarm in either order of arrival, idempotent, bad ones dead-lettered,
served within the caller's grids; and end to end from a real edge agent with a lift camera through Mosquitto."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from compound import wire
from compound.clock import ScaledClock
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database, DeadLetter, Snapshot
from hub.ingest import Inbound, Ingestor, MessagePipeline
from hub.snapshots import evidence, latest_snapshot
from tests.hub.helpers import NIGHT, HubThread, event_topic, make_event
from tests.hub.web.conftest import WebHub, web  # noqa: F401  (the web app fixture)
from tests.servers import MosquittoServer
from tests.support import wait_for

LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"
MANAGER = "p-han-mei"
SOUTH_LEADER = "p-lin-tao"  # grid leader of g-south (b3, b4): never sees b2


def jpeg(width: int = 64, height: int = 48) -> bytes:
    """A small real JPEG."""
    img = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(img, (8, 8), (40, 40), (0, 0, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def ebike_event(compound: Compound, seq: int = 1) -> wire.Event:
    """A raised e-bike event naming its snapshot, as the edge's lift camera sends it."""
    base = make_event(compound, LIFT_CAM, seq=seq, kind=wire.EventKind.EBIKE_IN_LIFT, severity="warning", value=0.9)
    ev = wire.Evidence(
        detections=(wire.Detection(cls="ebike", score=0.91, box=(0.3, 0.4, 0.6, 0.9), track_id=3),),
        snapshot=base.id,
    )
    return base.model_copy(update={"evidence": ev, "unit": None, "threshold": 0.5})


def snapshot_topic(compound: Compound, event_id: str, edge: str = "b2") -> str:
    return wire.topic(compound.id, edge, wire.MessageType.SNAPSHOT, event_id, prefix=compound.prefix)


def inbound(topic: str, payload: bytes) -> Inbound:
    return Inbound(topic, payload, datetime.now(UTC))


def alarm_of(service: AlarmService, event: wire.Event) -> int:
    alarms = [a for a in service.list_alarms(state="open") if a.device == event.device]
    assert len(alarms) == 1, alarms
    return alarms[0].id


def event_ids(service: AlarmService, alarm_id: int) -> list[str]:
    detail = service.get_alarm(alarm_id)
    assert detail is not None
    return [e.id for e in detail.events]


def dead_reasons(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)))


@pytest.mark.parametrize("order", ["event_first", "snapshot_first", "same_batch"])
def test_snapshot_is_stored_with_the_alarm_in_any_order(
    hub_db: Database, compound: Compound, alarm_service: AlarmService, order: str
) -> None:
    """Test that the JPEG is found through the alarm whether it arrives before, after or with its event."""
    pipeline = MessagePipeline(hub_db, compound)
    event = ebike_event(compound)
    image = jpeg()
    ev_msg = inbound(event_topic(compound, event), wire.dump(event))
    snap_msg = inbound(snapshot_topic(compound, event.id), image)
    if order == "event_first":
        pipeline.process([ev_msg])
        alarm_id = alarm_of(alarm_service, event)
        assert latest_snapshot(hub_db, event_ids(alarm_service, alarm_id)) is None  # not there yet
        pipeline.process([snap_msg])
    elif order == "snapshot_first":
        pipeline.process([snap_msg])
        pipeline.process([ev_msg])
    else:
        pipeline.process([snap_msg, ev_msg])
    alarm_id = alarm_of(alarm_service, event)
    found = latest_snapshot(hub_db, event_ids(alarm_service, alarm_id))
    assert found is not None and found.event_id == event.id and found.jpeg == image and found.edge == "b2"
    shown = evidence(hub_db, alarm_id, event_ids(alarm_service, alarm_id))
    assert shown.snapshot is not None and shown.snapshot.url == f"/api/v1/alarms/{alarm_id}/snapshot"
    assert [(d.cls, d.score, d.track_id) for d in shown.detections] == [("ebike", 0.91, 3)]
    assert dead_reasons(hub_db) == []


def test_redelivered_snapshot_is_stored_once(hub_db: Database, compound: Compound) -> None:
    """Test that a QoS 1 redelivery of a snapshot (also inside one batch) keeps one row and the first bytes."""
    pipeline = MessagePipeline(hub_db, compound)
    event_id = wire.new_event_id()
    first = jpeg()
    pipeline.process([inbound(snapshot_topic(compound, event_id), first)] * 2)
    pipeline.process([inbound(snapshot_topic(compound, event_id), jpeg(80, 60))])
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 1
        stored = session.get(Snapshot, event_id)
        assert stored is not None and stored.jpeg == first and stored.size == len(first)
    assert dead_reasons(hub_db) == []


@pytest.mark.parametrize(
    ("payload", "topic_id", "edge", "reason"),
    [
        (b"GIF89a not a jpeg at all", None, "b2", "bad_snapshot"),
        (b'{"schema":1,"type":"event"}', None, "b2", "bad_snapshot"),
        (jpeg()[:-200], None, "b2", "bad_snapshot"),  # truncated: no end-of-image marker
        (b"", None, "b2", "bad_snapshot"),
        (b"\xff\xd8\xff" + b"\0" * wire.MAX_SNAPSHOT_BYTES + b"\xff\xd9", None, "b2", "oversized_snapshot"),
        (jpeg(), "abc", "b2", "bad_topic"),  # not an event id (8-64 chars)
        (jpeg(), None, "b9", "unknown_edge"),
    ],
    ids=["gif", "json", "truncated", "empty", "oversized", "bad-id", "unknown-edge"],
)
def test_bad_snapshot_is_dead_lettered_with_its_reason(
    hub_db: Database, compound: Compound, payload: bytes, topic_id: str | None, edge: str, reason: str
) -> None:
    """Test that a snapshot that is not a complete JPEG, too big, or misaddressed becomes a dead letter, not a row."""
    pipeline = MessagePipeline(hub_db, compound)
    event_id = topic_id or wire.new_event_id()
    pipeline.process([inbound(snapshot_topic(compound, event_id, edge), payload)])
    assert dead_reasons(hub_db) == [reason]
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 0
        dead = session.scalars(select(DeadLetter)).one()
        assert dead.size == len(payload) and len(dead.excerpt) <= 1024


def test_snapshot_api_needs_an_account_and_the_alarms_grid(web: WebHub) -> None:  # noqa: F811
    """Test that the JPEG and evidence are served to those who see the alarm, 404 to other grids, 401 anonymous."""
    event = ebike_event(web.compound, seq=1)
    image = jpeg()
    web.pipeline.process([inbound(snapshot_topic(web.compound, event.id), image)])
    web.feed(event)
    alarm_id = alarm_of(web.service, event)
    url = f"/api/v1/alarms/{alarm_id}/snapshot"
    assert web.client.get(url).status_code == 401
    assert web.client.get(f"/api/v1/alarms/{alarm_id}/evidence").status_code == 401
    assert web.client.get(url, headers=web.auth(SOUTH_LEADER)).status_code == 404
    assert web.client.get(f"/api/v1/alarms/{alarm_id}/evidence", headers=web.auth(SOUTH_LEADER)).status_code == 404
    got = web.client.get(url, headers=web.auth(MANAGER))
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content == image
    again = web.client.get(url, headers={**web.auth(MANAGER), "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    ev = web.client.get(f"/api/v1/alarms/{alarm_id}/evidence", headers=web.auth(MANAGER)).json()
    assert ev["snapshot"]["event_id"] == event.id and ev["snapshot"]["size"] == len(image)
    assert [(d["cls"], d["score"]) for d in ev["detections"]] == [("ebike", 0.91)]
    # A sensor alarm has no snapshot: 404 for the JPEG, empty evidence.
    smoke = web.raise_alarm("b2-u1-1502-smoke", at=NIGHT + timedelta(minutes=1))
    assert web.client.get(f"/api/v1/alarms/{smoke}/snapshot", headers=web.auth(MANAGER)).status_code == 404
    empty = web.client.get(f"/api/v1/alarms/{smoke}/evidence", headers=web.auth(MANAGER)).json()
    assert empty == {"snapshot": None, "detections": []}
    assert web.client.get("/api/v1/alarms/99999/snapshot", headers=web.auth(MANAGER)).status_code == 404


@pytest.mark.broker
def test_edge_lift_camera_to_hub_alarm_with_snapshot(
    compound: Compound, mosquitto: MosquittoServer, hub_db: Database, alarm_service: AlarmService, tmp_path: Path
) -> None:
    """Test that a real edge agent's e-bike event and JPEG reach the hub through Mosquitto and meet at the alarm."""
    from edge.agent import AgentOptions, EdgeAgent

    hub = HubThread(Ingestor(hub_db, compound, host=mosquitto.host, port=mosquitto.port, broker_kind="mosquitto"))
    hub.start()
    try:
        start = datetime.now(UTC)
        clock = ScaledClock(start, speed=5.0)
        options = AgentOptions(
            reading_interval_s=0,
            until=start + timedelta(seconds=30),  # the e-bike enters at 12 s: raised, not yet cleared
            cameras=True,
            camera_sources=((LIFT_CAM, "sim:lift-ebike:1"), (LANE_CAM, "off")),
        )
        agent = EdgeAgent(
            compound, "b2", [], clock, host=mosquitto.host, port=mosquitto.port, data_dir=tmp_path, options=options
        )
        asyncio.run(asyncio.wait_for(agent.run(), timeout=120))

        def stored() -> int | None:
            alarms = [a for a in alarm_service.list_alarms(state="open") if a.device == LIFT_CAM]
            if len(alarms) != 1 or latest_snapshot(hub_db, event_ids(alarm_service, alarms[0].id)) is None:
                return None
            return alarms[0].id

        alarm_id = wait_for(stored, 20, what="the e-bike alarm with its snapshot at the hub")
        assert alarm_id is not None
        snap = latest_snapshot(hub_db, event_ids(alarm_service, alarm_id))
        assert snap is not None and snap.jpeg.startswith(b"\xff\xd8\xff")
        assert cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
        detail = alarm_service.get_alarm(alarm_id)
        assert detail is not None and detail.kind == "ebike_in_lift"
        assert any(d.cls == "ebike" for d in evidence(hub_db, alarm_id, event_ids(alarm_service, alarm_id)).detections)
        assert dead_reasons(hub_db) == []
    finally:
        hub.stop()
