"""From a wire ``Event`` to stored rows: ``event_row`` and ``Alarm.from_event`` are where its fields are copied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import inspect, select

from compound import wire
from compound.config import Compound
from hub.alarm_states import AlarmState
from hub.db import Alarm, Database, EventRecord, event_row
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import event_topic, make_event

SMOKE = "b2-u1-1502-smoke"
SHANGHAI = timezone(timedelta(hours=8))
RECEIVED = datetime(2026, 11, 20, 18, 0, 3, tzinfo=UTC)

NOT_FROM_THE_WIRE = {"id", "alarm_id", "received_at"}
"""Event columns the hub fills itself: the row id, the alarm it is linked to, when it arrived."""


def _full_event(compound: Compound) -> wire.Event:
    """An event with every optional field set, stamped in the compound's local time (not UTC)."""
    msg = make_event(compound, SMOKE, seq=7, state="updated", severity="warning", value=0.22)
    return msg.model_copy(
        update={
            "occurred_at": datetime(2026, 11, 21, 2, 0, 1, tzinfo=SHANGHAI),
            "message": "smoke 0.22 dB/m over 0.15",
            "raised_id": "raised-event-0001",
        }
    )


def _wire_value(msg: wire.Event, column: str) -> Any:
    """What the event says for a column, by the wire's own field names (``event_id`` is the wire's ``id``)."""
    return getattr(msg, "id" if column == "event_id" else column)


def test_event_row_fills_every_wire_column_from_the_event(compound: Compound) -> None:
    """Test that the row has every events column but ``id``, and each wire column holds the event's field."""
    msg = _full_event(compound)
    row = event_row(msg, RECEIVED)
    columns = {c.name for c in EventRecord.__table__.columns}
    assert set(row) == columns - {"id"}
    for column in sorted(columns - NOT_FROM_THE_WIRE - {"raw"}):
        assert row[column] is not None, f"{column} left empty"
        assert row[column] == _wire_value(msg, column), column
    assert row["occurred_at"].tzinfo is UTC and row["occurred_at"] == msg.occurred_at
    assert row["received_at"] == RECEIVED and row["alarm_id"] is None
    assert wire.Event.model_validate(row["raw"]) == msg, "raw keeps the whole message, fields without a column too"


def test_ingest_stores_exactly_the_event_row(hub_db: Database, compound: Compound) -> None:
    """Test that the stored event is ``event_row`` of the message and arrival time, plus its id and alarm."""
    msg = _full_event(compound)
    MessagePipeline(hub_db, compound).process([Inbound(event_topic(compound, msg), wire.dump(msg), RECEIVED)])
    with hub_db.session() as session:
        record = session.scalars(select(EventRecord)).one()
        stored = {attr.key: getattr(record, attr.key) for attr in inspect(EventRecord).column_attrs}
    assert record.alarm_id is not None, "an update with no open alarm opens one and the event is linked to it"
    assert {k: v for k, v in stored.items() if k not in {"id", "alarm_id"}} == {
        k: v for k, v in event_row(msg, RECEIVED).items() if k != "alarm_id"
    }


def test_alarm_from_event_takes_what_the_event_reports(compound: Compound) -> None:
    """Test that a new alarm carries the event's fields, the device's place from the config, and starts raised."""
    msg = _full_event(compound)
    device = compound.devices[SMOKE]
    now = datetime(2026, 11, 20, 18, 0, 5, tzinfo=UTC)
    alarm = Alarm.from_event(msg, device, "mg-b2-u1", now)
    assert alarm.state is AlarmState.RAISED
    assert (alarm.kind, alarm.severity, alarm.compound, alarm.edge, alarm.device) == (
        msg.kind.value,
        msg.severity.value,
        msg.compound,
        msg.edge,
        msg.device,
    )
    assert (alarm.value, alarm.value_unit, alarm.threshold, alarm.message) == (
        msg.value,
        msg.unit,
        msg.threshold,
        msg.message,
    )
    assert alarm.raised_event_id == msg.id
    assert alarm.raised_at == msg.occurred_at and alarm.raised_at.tzinfo is UTC
    assert (alarm.building, alarm.unit, alarm.floor, alarm.flat, alarm.place) == (
        device.building,
        device.unit,
        device.floor,
        device.flat,
        device.place,
    )
    assert (alarm.grid, alarm.updated_at) == ("mg-b2-u1", now)
    assert alarm.notified_at is None and alarm.cleared_at is None and not alarm.history
