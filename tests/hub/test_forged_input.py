"""What a client that can publish on the broker may forge, and what the hub does with it: status and heartbeats
naming another edge or compound than their topic are dead-lettered, commands are never acted on, and a
heartbeat with an absurd ``seq`` costs at most the bounded, rate-limited resend."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, select

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.db import Database, DeadLetter, EdgeRecord, SeqGap
from hub.ingest import Inbound, Ingestor, IngestSettings, MessagePipeline
from hub.ingest.sequence import MAX_HEARTBEAT_LEAD
from hub.ingest.validate import DEAD_LETTER_REASONS, Parsed, Rejected, validate
from hub.resend import MAX_REQUESTS_PER_EDGE, ResendRequester
from tests.hub.helpers import NIGHT, HubThread, Publisher, event_topic, make_event, received
from tests.servers import BrokerServer
from tests.support import wait_for

SMOKE = "b2-u1-1502-smoke"
T0 = NIGHT + timedelta(minutes=1)


class Outgoing:
    """Collects the resend requests a requester publishes."""

    def __init__(self) -> None:
        self.sent: list[wire.ResendRequest] = []

    def __call__(self, _topic: str, payload: bytes) -> bool:
        self.sent.append(wire.parse_command(wire.RESEND_COMMAND, payload))
        return True


def _status(config: Compound, **fields: object) -> bytes:
    body = {"compound": config.id, "edge": "b2", "state": "online", "at": T0} | fields
    return wire.dump(wire.Status.model_validate(body))


def _beat(config: Compound, **fields: object) -> bytes:
    body = {"compound": config.id, "edge": "b2", "at": T0, "uptime_s": 5, "seq": 3, "outbox_depth": 0} | fields
    return wire.dump(wire.Heartbeat.model_validate(body))


@pytest.mark.parametrize("kind", ["status", "heartbeat"])
@pytest.mark.parametrize(
    ("fields", "detail"),
    [({"edge": "b1"}, "edge 'b1' != topic 'b2'"), ({"compound": "elsewhere"}, "compound 'elsewhere' != topic")],
)
def test_status_and_heartbeat_naming_another_edge_or_compound_are_refused(
    compound: Compound, kind: str, fields: dict[str, str], detail: str
) -> None:
    """Test that a status or heartbeat whose payload names another edge or compound than its topic is
    dead-lettered as topic_payload_mismatch, naming the field."""
    payload = (_status if kind == "status" else _beat)(compound, **fields)
    verdict = validate(wire.topic(compound.id, "b2", kind), payload, T0, compound, IngestSettings())
    assert isinstance(verdict, Rejected)
    assert verdict.reason == "topic_payload_mismatch"
    assert detail in verdict.detail


@pytest.mark.parametrize("kind", ["status", "heartbeat"])
def test_status_and_heartbeat_of_an_unknown_edge_or_compound_are_refused(compound: Compound, kind: str) -> None:
    """Test that a status or heartbeat on the topic of an edge or compound the hub does not serve is refused,
    even when the payload agrees with the topic."""
    build = _status if kind == "status" else _beat
    unknown_edge = validate(
        wire.topic(compound.id, "b99", kind), build(compound, edge="b99"), T0, compound, IngestSettings()
    )
    assert isinstance(unknown_edge, Rejected) and unknown_edge.reason == "unknown_edge"
    other = validate(wire.topic("elsewhere", "b2", kind), build(compound, compound="elsewhere"), T0, compound,
                     IngestSettings())  # fmt: skip
    assert isinstance(other, Rejected) and other.reason == "unknown_compound"


def test_forged_status_changes_no_edge(hub_db: Database, compound: Compound) -> None:
    """Test that an ``offline`` status for b1 published under b2's topic is dead-lettered and leaves both edges'
    rows alone."""
    pipeline = MessagePipeline(hub_db, compound)
    topic = wire.topic(compound.id, "b2", "status")
    pipeline.process([Inbound(topic, _status(compound, edge="b1", state="offline"), T0)])
    with hub_db.session() as session:
        assert session.scalars(select(EdgeRecord)).all() == []
        assert [d.reason for d in session.scalars(select(DeadLetter))] == ["topic_payload_mismatch"]


def test_the_hub_does_not_act_on_commands(hub_db: Database, compound: Compound) -> None:
    """Test that whatever arrives on a ``cmd/`` topic (the hub's own requests echoed back, or anyone's) is neither
    stored, nor dead-lettered, nor answered: the hub only publishes commands."""
    pipeline = MessagePipeline(hub_db, compound)
    asked: list[tuple[str, int, int | None]] = []
    pipeline.on_resend = lambda edge, lo, hi: asked.append((edge, lo, hi))
    request = wire.ResendRequest(
        id="forged0001", compound=compound.id, edge="b1", from_seq=1, to_seq=None, requested_by="mallory"
    )
    topics = [wire.topic(compound.id, edge, "cmd", name) for edge in ("b1", "b2") for name in ("resend", "reboot")]
    payloads = [wire.dump(request), b"\xff garbage", json.dumps({"type": "event", "seq": 10**9}).encode()]
    pipeline.process([Inbound(t, p, T0) for t in topics for p in payloads])
    assert pipeline.processed == len(topics) * len(payloads)
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
        assert session.scalars(select(EdgeRecord)).all() == []
    assert asked == []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def ingestor(hub_db: Database, compound: Compound, clock: ManualClock) -> Ingestor:
    settings = IngestSettings(resend_sweep_s=5.0, resend_settle_s=3.0, resend_min_interval_s=10.0)
    return Ingestor(hub_db, compound, settings=settings, clock=clock)


def _edge(hub_db: Database, edge: str) -> tuple[int | None, int]:
    with hub_db.session() as session:
        record = session.get(EdgeRecord, edge)
        assert record is not None
        return record.max_seq, record.seq_anomalies


def test_forged_heartbeat_causes_at_most_the_bounded_resend(
    ingestor: Ingestor, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that a heartbeat claiming seq 10**9 over a minute of sweeps costs at most one request of at most
    MAX_HEARTBEAT_LEAD seqs per rate-limit interval, records no gap, leaves the edge's last seq alone, is
    counted as an anomaly, and stops costing anything once the edge's real heartbeat arrives."""
    out = Outgoing()
    ingestor.resends.publish = out
    events = [make_event(compound, SMOKE, seq=seq) for seq in range(1, 6)]
    ingestor.pipeline.process([received(ingestor, event_topic(compound, e), wire.dump(e)) for e in events])
    ingestor._on_subscribe(None, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)  # type: ignore[arg-type]
    clock.advance(3.1)
    ingestor._maybe_sweep()  # the open-ended sweep after subscribing: every edge, from its last seq on
    out.sent.clear()

    forged = _beat(compound, at=clock.now(), seq=10**9)
    ingestor.pipeline.process([received(ingestor, wire.topic(compound.id, "b2", "heartbeat"), forged)])
    minute = 60.0
    for _ in range(int(minute / 0.5)):
        clock.advance(0.5)
        ingestor._maybe_sweep()

    interval = ingestor.settings.resend_min_interval_s
    assert 1 <= len(out.sent) <= minute / interval + 1
    assert {(r.edge, r.from_seq, r.to_seq) for r in out.sent} == {("b2", 6, 5 + MAX_HEARTBEAT_LEAD)}
    assert MAX_HEARTBEAT_LEAD <= wire.MAX_RESEND_SEQS
    with hub_db.session() as session:
        assert session.scalars(select(SeqGap)).all() == []
    assert _edge(hub_db, "b2") == (5, 1)

    real = _beat(compound, at=clock.now(), seq=5)
    ingestor.pipeline.process([received(ingestor, wire.topic(compound.id, "b2", "heartbeat"), real)])
    out.sent.clear()
    for _ in range(40):
        clock.advance(0.5)
        ingestor._maybe_sweep()
    assert out.sent == []


def test_edge_goes_on_normally_after_a_forged_heartbeat(hub_db: Database, compound: Compound) -> None:
    """Test that the edge's next real events after a forged heartbeat are ordinary: no gap, no new anomaly."""
    pipeline = MessagePipeline(hub_db, compound)
    first = make_event(compound, SMOKE, seq=1)
    pipeline.process([Inbound(event_topic(compound, first), wire.dump(first), T0)])
    pipeline.process([Inbound(wire.topic(compound.id, "b2", "heartbeat"), _beat(compound, seq=2**62), T0)])
    nxt = make_event(compound, SMOKE, seq=2, state="cleared")
    pipeline.process([Inbound(event_topic(compound, nxt), wire.dump(nxt), T0)])
    assert _edge(hub_db, "b2") == (2, 1)
    with hub_db.session() as session:
        assert session.scalars(select(SeqGap)).all() == []


def test_heartbeat_within_the_lead_still_records_the_lost_tail(hub_db: Database, compound: Compound) -> None:
    """Test that a heartbeat exactly MAX_HEARTBEAT_LEAD ahead is believed: the tail is a gap and asked for."""
    pipeline = MessagePipeline(hub_db, compound)
    asked: list[tuple[str, int, int | None]] = []
    pipeline.on_resend = lambda edge, lo, hi: asked.append((edge, lo, hi))
    first = make_event(compound, SMOKE, seq=1)
    pipeline.process([Inbound(event_topic(compound, first), wire.dump(first), T0)])
    beat = _beat(compound, seq=1 + MAX_HEARTBEAT_LEAD)
    pipeline.process([Inbound(wire.topic(compound.id, "b2", "heartbeat"), beat, T0)])
    assert asked == [("b2", 2, 1 + MAX_HEARTBEAT_LEAD)]
    assert _edge(hub_db, "b2") == (1 + MAX_HEARTBEAT_LEAD, 0)


def test_requests_per_edge_are_bounded_however_many_ranges_are_missing(compound: Compound) -> None:
    """Test that forged seq jumps (hundreds of gaps) get an edge at most MAX_REQUESTS_PER_EDGE requests per
    rate-limit interval, another edge keeps its own budget, and the rest is asked for once the interval passed."""
    now = [0.0]
    out = Outgoing()
    requester = ResendRequester(compound, out, min_interval_s=10, clock=lambda: now[0])
    for gap in range(500):
        requester.request("b2", gap * 10, gap * 10 + 5)
    assert len(out.sent) == MAX_REQUESTS_PER_EDGE
    assert requester.request("b1", 1, 5) == 1
    assert requester.throttled > 0
    now[0] = 10.0
    assert requester.request("b2", 4_000, 4_005) == 1


_SEGMENTS = st.sampled_from(["b1", "b2", "b99", SMOKE, "b1-u1-101-smoke", "resend", "x" * 70, "", "+", "#", "é"])
_TYPES = st.sampled_from(["event", "reading", "status", "heartbeat", "snapshot", "cmd", "bogus"])


@st.composite
def _messages(draw: st.DrawFn, compound: Compound) -> tuple[str, bytes]:
    """A topic under the compound's tree (or not) and a payload: a valid message of any type for any edge or
    device, possibly for another topic, or junk."""
    prefix = draw(st.sampled_from([compound.prefix, "other"]))
    version = draw(st.sampled_from(["v1", "v2"]))
    where = draw(st.sampled_from([compound.id, "elsewhere"]))
    parts = [prefix, version, where, draw(_SEGMENTS), draw(_TYPES), *draw(st.lists(_SEGMENTS, max_size=2))]
    edge, device = draw(st.sampled_from([("b2", SMOKE), ("b1", SMOKE), ("b1", "b1-u1-101-smoke")]))
    at = T0 + timedelta(seconds=draw(st.integers(-(10**9), 10**9)))
    kind = draw(st.sampled_from(["event", "heartbeat", "status", "junk"]))
    if kind == "event":
        payload = wire.dump(make_event(compound, SMOKE, seq=draw(st.integers(0, 2**62)), at=at, edge=edge))
    elif kind == "heartbeat":
        payload = _beat(compound, edge=edge, at=at, seq=draw(st.integers(0, 2**62)))
    elif kind == "status":
        payload = _status(compound, edge=edge, at=at)
    else:
        payload = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        body = json.loads(payload) if kind != "junk" else {}
        body[draw(st.sampled_from(["edge", "compound", "device", "seq", "schema"]))] = draw(
            st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just(device))
        )
        payload = json.dumps(body).encode()
    return "/".join(parts), payload


def test_validate_never_raises_and_refuses_only_with_known_reasons(compound: Compound) -> None:
    """Test the hub's checks past the wire contract under hypothesis: any topic (other prefixes, versions,
    compounds, edges, types, extra segments) with any payload (valid messages of any edge, with a field swapped,
    or junk) is parsed, ignored (commands) or refused with one of DEAD_LETTER_REASONS; nothing raises, and a
    parsed message always agrees with its topic and the config."""

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(message=_messages(compound))
    def check(message: tuple[str, bytes]) -> None:
        topic, payload = message
        verdict = validate(topic, payload, T0, compound, IngestSettings())
        if isinstance(verdict, Rejected):
            assert verdict.reason in DEAD_LETTER_REASONS, verdict
        elif isinstance(verdict, Parsed):
            msg, parsed = verdict.message, verdict.topic
            assert (msg.compound, msg.edge) == (compound.id, parsed.edge)
            assert parsed.edge in compound.edges()
            if isinstance(msg, wire.Event | wire.Reading):
                assert compound.devices[msg.device].edge == parsed.edge

    check()


@pytest.mark.broker
def test_forged_heartbeat_over_a_real_broker_costs_the_bounded_resend(
    broker: BrokerServer, hub_db: Database, compound: Compound
) -> None:
    """Test end to end on Mosquitto and amqtt: a heartbeat with seq 10**9 published under b2's topic makes the
    running hub publish, over several sweeps, only requests for the next MAX_HEARTBEAT_LEAD seqs, at most one
    per rate-limit interval; the edge's row keeps its last seq and counts the anomaly."""
    settings_ = IngestSettings(resend_sweep_s=0.5, resend_settle_s=0.2, resend_min_interval_s=2.0)
    ingestor = Ingestor(hub_db, compound, host=broker.host, port=broker.port, broker_kind=broker.kind,
                        settings=settings_)  # fmt: skip
    seen: list[wire.ResendRequest] = []
    watcher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="resend-watcher")
    cmd = wire.topic(compound.id, "b2", "cmd", wire.RESEND_COMMAND, prefix=compound.prefix)
    watcher.on_message = lambda _c, _u, m: seen.append(wire.parse_command(wire.RESEND_COMMAND, m.payload)) if (
        m.topic == cmd) else None  # fmt: skip
    watcher.connect(broker.host, broker.port)
    watcher.subscribe(cmd, qos=1)
    watcher.loop_start()
    hub = HubThread(ingestor).start()
    publisher = Publisher(broker.host, broker.port)
    try:
        for seq in (1, 2, 3):
            publisher.event(compound, make_event(compound, SMOKE, seq=seq, at=datetime.now(UTC)))
        wait_for(lambda: _stored(hub_db) == 3, what="three events stored")
        time.sleep(0.5)  # past the open-ended sweep after subscribing (asks b2 for 4.. open-ended)
        seen.clear()
        forged = _beat(compound, at=datetime.now(UTC), seq=10**9)
        publisher.publish(wire.topic(compound.id, "b2", "heartbeat", prefix=compound.prefix), forged)
        watched = 6.0
        time.sleep(watched)
    finally:
        publisher.close()
        hub.stop()
        watcher.loop_stop()
        watcher.disconnect()
    asked = {(r.from_seq, r.to_seq) for r in seen}
    assert asked == {(4, 3 + MAX_HEARTBEAT_LEAD)}, seen
    assert 1 <= len(seen) <= watched / settings_.resend_min_interval_s + 1
    assert _edge(hub_db, "b2") == (3, 1)


def _stored(hub_db: Database) -> int:
    with hub_db.session() as session:
        record = session.get(EdgeRecord, "b2")
        return 0 if record is None else record.events
