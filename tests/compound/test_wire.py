"""The wire contract: topics round-trip, payloads validate strictly with specific reasons."""

from __future__ import annotations

import enum
import functools
import json
import re
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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


# ---- fuzzing the parser with message-shaped JSON

PARSERS: dict[type[BaseModel], Callable[[bytes], Any]] = {
    wire.Event: functools.partial(wire.parse, MessageType.EVENT),
    wire.Reading: functools.partial(wire.parse, MessageType.READING),
    wire.Status: functools.partial(wire.parse, MessageType.STATUS),
    wire.Heartbeat: functools.partial(wire.parse, MessageType.HEARTBEAT),
    wire.ResendRequest: functools.partial(wire.parse_command, wire.RESEND_COMMAND),
}
"""Each message model and the parser its topic selects."""

REASONS = {"oversized", "not_utf8", "not_json", "not_object", "unknown_schema", "wrong_type", "invalid"}
"""Every reason ``parse`` documents."""

_CHAR_CLASS_RUN = re.compile(r"\^(\[[^\]]+\])\+\$")


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """A field's constraints (ge, le, min_length, max_length, pattern) from its pydantic metadata."""
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "le", "min_length", "max_length", "pattern"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _json_values(annotation: Any, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    """JSON values that validate as ``annotation`` within ``bounds``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return st.sampled_from(args)
    if type(None) in args:
        return st.none() | _json_values(next(a for a in args if a is not type(None)), bounds)
    if typing.get_origin(annotation) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_json_values(args[0], {}), max_size=min(3, bounds.get("max_length", 3)))
        return st.tuples(*(_json_values(a, {}) for a in args)).map(list)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return valid_dicts(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from([member.value for member in annotation])
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = bounds.get("ge", -(2**40))
        return st.integers(min_value=low, max_value=bounds.get("le", low + 2**40))
    if annotation is float:
        return st.floats(bounds.get("ge"), bounds.get("le"), allow_nan=False, allow_infinity=False)
    if annotation is datetime:
        moments = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
        return moments.map(datetime.isoformat)
    if annotation is str:
        low, high = bounds.get("min_length", 0), bounds.get("max_length", 80)
        pattern = bounds.get("pattern")
        if pattern is None:
            return st.text(min_size=low, max_size=high)
        run = _CHAR_CLASS_RUN.fullmatch(pattern)
        if run:  # ^[class]+$: draw the length, not just the characters
            return st.text(st.from_regex(run.group(1), fullmatch=True), min_size=max(low, 1), max_size=high)
        return st.from_regex(pattern, fullmatch=True).filter(lambda text: low <= len(text) <= high)
    raise TypeError(f"no strategy for {annotation!r}: extend _json_values with the new field type")


def _validates(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False  # a model validator (ResendRequest's bounded range) refused a combination
    return True


def valid_dicts(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects that validate as ``model``, built from its fields: required ones always, the others
    sometimes; ``schema`` and ``type`` always, as every edge sends them."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        values = _json_values(info.annotation, _bounds(info))
        always = info.is_required() or typing.get_origin(info.annotation) is typing.Literal
        (required if always else optional)[info.alias or name] = values
    return st.fixed_dictionaries(required, optional=optional).filter(functools.partial(_validates, model))


@dataclass(frozen=True)
class Case:
    """A payload for one model's parser, how it was made, and the reasons it may be refused with."""

    model: type[BaseModel]
    how: str
    payload: bytes
    reasons: frozenset[str]
    """Empty: it must parse."""


def _encode(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _out_of_range(bounds: dict[str, Any], draw: st.DrawFn) -> Any:
    """A value just outside one of a field's bounds (top-level bounded fields are numbers or strings)."""
    choices = []
    if "ge" in bounds:
        choices.append(bounds["ge"] - (1 if isinstance(bounds["ge"], int) else 0.5))
    if "le" in bounds:
        choices.append(bounds["le"] + 1)
    if "max_length" in bounds:
        choices.append("x" * (bounds["max_length"] + 1))
    if bounds.get("min_length", 0) > 0:
        choices.append("x" * (bounds["min_length"] - 1))
    if "pattern" in bounds:
        choices.append(draw(st.sampled_from(["has space", "a+b", "#"])))  # no id or Identifier allows these
    return draw(st.sampled_from(choices))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A valid message, or one mutated into a specific fault, or not JSON at all."""
    model = draw(st.sampled_from(list(PARSERS)))
    data = draw(valid_dicts(model))
    how = draw(
        st.sampled_from(
            ["valid", "drop", "extra", "wrong_type", "out_of_range", "schema", "other_topic", "truncated",
             "not_object", "bytes", "oversized"]
        )
    )  # fmt: skip
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    settable = [k for k, info in fields.items() if typing.get_origin(info.annotation) is not typing.Literal]
    if how == "valid":
        return Case(model, how, _encode(data), frozenset())
    if how == "drop":
        required = [k for k in settable if fields[k].is_required()]
        del data[draw(st.sampled_from(required))]
        return Case(model, how, _encode(data), frozenset({"invalid"}))
    if how == "extra":
        known = fields.keys() | model.model_fields.keys()
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in known))
        data[key] = draw(st.none() | st.integers() | st.text(max_size=5))
        return Case(model, how, _encode(data), frozenset({"invalid"}))
    if how == "wrong_type":
        data[draw(st.sampled_from(settable))] = draw(st.sampled_from([{"nested": [1]}, [[None]], [{}]]))
        return Case(model, how, _encode(data), frozenset({"invalid"}))
    if how == "out_of_range":
        bounded = [k for k in settable if _bounds(fields[k])]
        key = draw(st.sampled_from(bounded))
        data[key] = _out_of_range(_bounds(fields[key]), draw)
        return Case(model, how, _encode(data), frozenset({"invalid"}))
    if how == "schema":
        data["schema"] = draw(
            st.integers().filter(lambda v: v != wire.SCHEMA_VERSION) | st.text(max_size=3) | st.none()
        )
        return Case(model, how, _encode(data), frozenset({"unknown_schema"}))
    if how == "other_topic":  # a valid message of one type on another type's topic
        target = draw(st.sampled_from([m for m in PARSERS if m is not model]))
        return Case(target, how, _encode(data), frozenset({"wrong_type"}))
    if how == "truncated":
        raw = _encode(data)
        return Case(model, how, raw[: draw(st.integers(0, len(raw) - 1))], frozenset({"not_json", "not_utf8"}))
    if how == "not_object":
        value = draw(st.lists(st.integers(), max_size=3) | st.integers() | st.text(max_size=5) | st.none())
        return Case(model, how, _encode(value), frozenset({"not_object"}))
    if how == "oversized":
        return Case(model, how, _encode(data) + b" " * wire.MAX_PAYLOAD_BYTES, frozenset({"oversized"}))
    return Case(model, how, draw(st.binary(min_size=1, max_size=256)), frozenset(REASONS))


def test_parse_fuzz_reaches_every_branch_and_raises_only_wire_error() -> None:
    """Test that message-shaped JSON (valid messages from the models' fields, then with a required field dropped,
    an extra key, a wrong type, a value out of range, another schema, another topic's type), truncated JSON,
    non-objects and arbitrary bytes either parse to the topic's model or raise WireError with the one reason the
    fault calls for, never another exception; and that the valid, validation, schema, type and not-JSON branches
    are all reached."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=300, deadline=timedelta(milliseconds=500), database=None)
    @given(cases())
    def parse_case(case: Case) -> None:
        parse = PARSERS[case.model]
        try:
            message = parse(case.payload)
        except WireError as exc:
            assert case.reasons, f"{case.how}: a valid {case.model.__name__} was refused: {exc}"
            assert exc.reason in case.reasons, (case.how, exc.reason, exc.message)
            outcome = exc.reason
        else:
            assert not case.reasons or case.how == "bytes", (case.how, "parsed", case.payload[:200])
            assert isinstance(message, case.model)
            assert parse(wire.dump(message)) == message
            outcome = "valid"
        event(f"{case.how} -> {outcome}")
        outcomes[outcome] += 1

    parse_case()
    reached = {"valid", "invalid", "unknown_schema", "wrong_type", "not_json", "not_object", "oversized"}
    assert reached <= outcomes.keys(), outcomes
