"""Bad input on the broker: each message is dead-lettered with its specific reason and the hub keeps going."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from compound import wire
from compound.config import Compound
from hub.alarms.service import AlarmService
from tests.hub.helpers import HubThread, Publisher, event_dict, event_topic, make_event
from tests.support import wait_for

pytestmark = pytest.mark.broker

SMOKE = "b2-u1-1502-smoke"


def test_bad_input_is_dead_lettered_and_hub_stays_up(
    running_hub: HubThread, publisher: Publisher, alarm_service: AlarmService, compound: Compound
) -> None:
    """Test that every kind of bad input is dead-lettered (or counted as a duplicate) with its own reason,
    the hub stays up, and a valid alarm published right after is processed and routed."""
    good = make_event(compound, SMOKE, seq=1, kind="gas", value=30.0)
    topic = event_topic(compound, good)
    other_edge_topic = wire.topic(compound.id, "b1", "event", SMOKE)
    unknown = "b2-u1-9999-smoke"
    unknown_topic = wire.topic(compound.id, "b2", "event", unknown)
    bad: list[tuple[str, str, bytes]] = [
        ("not_json", topic, b'{"schema": 1, "type": "event", "id": '),
        ("invalid", topic, json.dumps(event_dict(good, seq="not-a-number", id="wrongtype01")).encode()),
        ("unknown_schema", topic, json.dumps(event_dict(good, schema=2, id="schema0002")).encode()),
        ("unknown_device", unknown_topic, json.dumps(event_dict(good, device=unknown, id="unknown001")).encode()),
        ("device_edge_mismatch", other_edge_topic, json.dumps(event_dict(good, edge="b1", id="otheredge1")).encode()),
        ("oversized", topic, b'{"schema": 1, "pad": "' + b"x" * 1_000_000 + b'"}'),
        ("not_utf8", topic, b"\xff\xfe\x00\x81garbage" + os.urandom(64)),
        ("wrong_type", topic, json.dumps(event_dict(good, type="reading", id="wrongtype2")).encode()),
        (
            "topic_payload_mismatch",
            topic,
            json.dumps(event_dict(good, device="b2-u1-1501-smoke", id="mismatch01")).encode(),
        ),
        ("bad_topic", f"{compound.prefix}/v1/{compound.id}/b2/bogus", b"{}"),
    ]
    for _, where, payload in bad:
        publisher.publish(where, payload)
    replay = make_event(compound, "b2-u1-1501-smoke", seq=2)
    publisher.event(compound, replay)
    publisher.event(compound, replay)  # a replayed event id: counted, not stored twice

    letters = wait_for(
        lambda: len(alarm_service.dead_letters()) >= len(bad) and alarm_service.dead_letters(), what="dead letters"
    )
    by_topic_reason = sorted((d.topic, d.reason) for d in letters)
    assert by_topic_reason == sorted((where, reason) for reason, where, _ in bad)
    oversized = next(d for d in letters if d.reason == "oversized")
    assert oversized.size > 1_000_000
    assert len(oversized.preview) <= 200
    garbage = next(d for d in letters if d.reason == "not_utf8")
    assert garbage.preview.isprintable()
    wait_for(lambda: alarm_service.stats()["duplicates"] == 1, what="the replay counted as a duplicate")

    # The hub is still up: a valid alarm right after is stored, raised and routed.
    publisher.event(compound, good)
    alarms = wait_for(lambda: alarm_service.list_alarms(kind="gas"), what="the valid gas alarm")
    assert running_hub.alive
    assert len(alarms) == 1
    assert alarms[0].device == SMOKE and alarms[0].state == "raised"
    assert alarms[0].assignees == ["p-li-qiang", "p-song-kai"]  # 02:00: night worker of mg-b2-u1 + security
    stats = alarm_service.stats()
    assert stats["events"] == 2  # the replayed one once, the gas alarm once
    assert stats["dead_letters"] == len(bad)
    assert len(alarm_service.list_alarms()) == 2
    assert datetime.now(UTC) >= alarms[0].updated_at
