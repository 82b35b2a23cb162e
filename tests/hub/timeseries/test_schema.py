"""Tests of the time-series schema: what each wire message becomes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compound import wire
from compound.config import Compound
from hub.timeseries.factory import mapper_for
from hub.timeseries.schema import SeriesMapper, clean_tag, to_line

T0 = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)


def reading(value: float = 1.5, battery: float | None = 87.0, device: str = "b2-u1-1502-smoke") -> wire.Reading:
    return wire.Reading(
        compound="sunrise-garden", edge="b2", device=device, quantity="smoke", value=value, unit="dB/m",
        battery=battery, at=T0,
    )  # fmt: skip


def event(**changes: object) -> wire.Event:
    fields: dict[str, object] = {
        "id": "evt-0000001",
        "seq": 7,
        "compound": "sunrise-garden",
        "edge": "b2",
        "device": "b2-u1-1502-smoke",
        "kind": wire.EventKind.SMOKE,
        "state": wire.EventState.RAISED,
        "severity": wire.Severity.CRITICAL,
        "value": 0.21,
        "unit": "dB/m",
        "threshold": 0.15,
        "location": wire.Location(building="b2", unit="u1", floor=15, flat="1502"),
        "occurred_at": T0,
    }
    fields.update(changes)
    return wire.Event.model_validate(fields)


def test_reading_carries_config_location_and_battery_as_its_own_quantity(compound: Compound) -> None:
    """Test that a reading is tagged with its flat from the config and its battery becomes quantity 'battery'."""
    records = mapper_for(compound).reading(reading())
    assert [r.measurement for r in records] == ["reading", "reading"]
    smoke, battery = records
    assert dict(smoke.tags) == {
        "compound": "sunrise-garden", "edge": "b2", "device": "b2-u1-1502-smoke", "building": "b2", "unit": "u1",
        "flat": "1502", "quantity": "smoke", "uom": "dB/m",
    }  # fmt: skip
    assert dict(smoke.fields) == {"value": 1.5}
    assert battery.tags["quantity"] == "battery" and battery.tags["uom"] == "%"
    assert dict(battery.fields) == {"value": 87.0}
    assert smoke.at_ms == int(T0.timestamp() * 1000)


def test_non_finite_values_are_not_written() -> None:
    """Test that NaN and infinity never reach a point (they would get a whole batch refused)."""
    assert SeriesMapper().reading(reading(value=math.nan, battery=None)) == []
    records = SeriesMapper().event(event(value=math.inf, threshold=math.nan))
    assert set(records[0].fields) == {"active", "state", "severity"}


def test_event_fields_are_numeric_and_event_id_is_no_tag() -> None:
    """Test that an event's state and severity are numeric fields and its id appears nowhere in the tags."""
    raised = SeriesMapper().event(event())[0]
    assert raised.measurement == "event"
    assert raised.tags["kind"] == "smoke" and raised.tags["flat"] == "1502"
    assert "evt-0000001" not in raised.tags.values()
    assert dict(raised.fields) == {"active": 1, "state": 1, "severity": 2, "value": 0.21, "threshold": 0.15}
    cleared = SeriesMapper().event(event(state=wire.EventState.CLEARED, severity=wire.Severity.INFO, value=None))[0]
    assert dict(cleared.fields) == {"active": 0, "state": 0, "severity": 0, "threshold": 0.15}


def test_detections_become_one_point_per_class_with_best_score_and_count() -> None:
    """Test that a camera event's detections are written per class: highest score and how many."""
    dets = (
        wire.Detection(cls="ebike", score=0.7, box=(0.1, 0.1, 0.3, 0.5)),
        wire.Detection(cls="ebike", score=0.9, box=(0.4, 0.1, 0.6, 0.5)),
        wire.Detection(cls="person", score=0.6, box=(0.5, 0.2, 0.9, 0.9)),
    )
    records = SeriesMapper().event(
        event(device="b2-u1-lift-1-cam", kind=wire.EventKind.EBIKE_IN_LIFT, evidence=wire.Evidence(detections=dets))
    )
    detections = {r.tags["class"]: dict(r.fields) for r in records if r.measurement == "detection"}
    assert detections == {"ebike": {"score": 0.9, "count": 2}, "person": {"score": 0.6, "count": 1}}


def test_heartbeat_rates_count_messages_since_previous_heartbeat() -> None:
    """Test that message rates are computed from the messages seen between two heartbeats."""
    mapper = SeriesMapper()
    hb = {"compound": "sunrise-garden", "edge": "b2", "uptime_s": 10, "seq": 3, "outbox_depth": 4}
    first = mapper.heartbeat(wire.Heartbeat.model_validate({**hb, "at": T0}))[0]
    assert "readings_per_s" not in first.fields and first.fields["outbox_depth"] == 4
    for _ in range(20):
        mapper.reading(reading())
    mapper.event(event())
    second = mapper.heartbeat(wire.Heartbeat.model_validate({**hb, "at": T0 + timedelta(seconds=10)}))[0]
    assert second.fields["readings_per_s"] == pytest.approx(2.0)
    assert second.fields["events_per_s"] == pytest.approx(0.1)
    assert second.fields["messages_per_s"] == pytest.approx(2.2)  # 20 readings, 1 event, this heartbeat
    assert dict(second.tags) == {"compound": "sunrise-garden", "edge": "b2"}


def test_status_is_online_flag() -> None:
    """Test that an edge status becomes edge.online 1 or 0."""
    mapper = SeriesMapper()
    up = mapper.status(wire.Status(compound="sunrise-garden", edge="kg", state=wire.EdgeState.ONLINE, at=T0))[0]
    down = mapper.status(wire.Status(compound="sunrise-garden", edge="kg", state=wire.EdgeState.OFFLINE, at=T0))[0]
    assert (up.measurement, up.fields["online"], down.fields["online"]) == ("edge", 1, 0)


def test_line_has_millisecond_timestamp() -> None:
    """Test that the encoded line ends with the timestamp in Unix milliseconds."""
    line = to_line(SeriesMapper().reading(reading(battery=None))[0])
    assert line.endswith(f" {int(T0.timestamp() * 1000)}")
    assert line.startswith("reading,compound=sunrise-garden,device=b2-u1-1502-smoke,edge=b2,quantity=smoke")


@given(st.text(max_size=40))
def test_clean_tag_leaves_nothing_line_protocol_cannot_carry(value: str) -> None:
    """Test that a cleaned tag value has no control character and no backslash, and None only when empty."""
    cleaned = clean_tag(value)
    if cleaned is None:
        assert not value.replace("\\", "/").strip() or all(not ch.isprintable() or ch.isspace() for ch in value)
    else:
        assert "\\" not in cleaned and all(ch.isprintable() or ch == " " or not ch.isascii() for ch in cleaned)
        assert cleaned == cleaned.strip()
