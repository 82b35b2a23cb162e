"""The wire contract: topics round-trip, payloads validate strictly with specific reasons."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compound import wire
from compound.wire import Event, EventKind, EventState, Location, MessageType, Severity, WireError


def make_event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "id": wire.new_event_id(),
        "seq": 7,
        "compound": "sunrise-garden",
        "edge": "b2",
        "device": "b2-u1-1502-smoke",
        "kind": EventKind.SMOKE,
        "state": EventState.RAISED,
        "severity": Severity.CRITICAL,
        "value": 0.21,
        "unit": "dB/m",
        "location": Location(building="b2", unit="u1", floor=15, flat="1502"),
        "occurred_at": datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return Event.model_validate(fields)


def test_event_round_trips_through_its_wire_form() -> None:
    """Test that an event dumped to bytes parses back to an equal event, with 'schema' on the wire."""
    event = make_event()
    raw = wire.dump(event)
    assert json.loads(raw)["schema"] == 1
    assert wire.parse(MessageType.EVENT, raw) == event


def test_topic_round_trips() -> None:
    """Test that a built topic parses back to the same parts."""
    t = wire.topic("sunrise-garden", "b2", MessageType.EVENT, "b2-u1-1502-smoke")
    assert t == "compound/v1/sunrise-garden/b2/event/b2-u1-1502-smoke"
    parsed = wire.parse_topic(t)
    assert (parsed.compound, parsed.edge, parsed.type, parsed.device) == (
        "sunrise-garden", "b2", MessageType.EVENT, "b2-u1-1502-smoke")
    assert str(parsed) == t


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b'{"schema": 99}', "unknown_schema"),
        (b"x" * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
        (b'{"schema": 1, "type": "reading"}', "wrong_type"),
    ],
)
def test_bad_payloads_get_specific_reasons(payload: bytes, reason: str) -> None:
    """Test that each kind of bad payload is refused with its own reason code."""
    with pytest.raises(WireError) as info:
        wire.parse(MessageType.EVENT, payload)
    assert info.value.reason == reason


def test_wrong_field_types_are_invalid_with_the_field_named() -> None:
    """Test that a wrong type names the offending field."""
    data = json.loads(wire.dump(make_event()))
    data["seq"] = "seven"
    with pytest.raises(WireError) as info:
        wire.parse(MessageType.EVENT, json.dumps(data).encode())
    assert info.value.reason == "invalid"
    assert "seq" in info.value.message


@pytest.mark.parametrize(
    "raw",
    ["other/v1/c/e/event/d", "compound/v2/c/e/event/d", "compound/v1/c/e/bogus/d",
     "compound/v1/c/e/event", "compound/v1/c/e/status/extra", "compound/v1/c/e/event/a+b"],
)
def test_foreign_topics_are_refused(raw: str) -> None:
    """Test that topics outside the tree raise TopicError."""
    with pytest.raises(wire.TopicError):
        wire.parse_topic(raw)


@given(st.binary(max_size=2048))
def test_parse_never_raises_anything_but_wire_error(payload: bytes) -> None:
    """Test that arbitrary bytes either parse or raise WireError, never another exception."""
    with contextlib.suppress(WireError):
        wire.parse(MessageType.EVENT, payload)
