"""The district load generator (``bench/load.py``) speaks the wire contract: the hub rejects nothing it sends, and
what it says it sent is what a plain subscriber and a hub receive and store."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.load import (
    Composition,
    DistrictEdges,
    LoadSpec,
    PlainSubscriber,
    clone,
    collect,
    compound_ids,
    main,
    publish_load,
)
from compound import wire
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database, EdgeRecord, default_url
from hub.ingest import Ingestor, IngestSettings, Parsed, validate
from tests.hub.helpers import HubThread
from tests.servers import MosquittoServer
from tests.support import wait_for


def test_every_message_passes_the_hubs_validation(compound: Compound) -> None:
    """Test that readings, heartbeats and events for three compounds' edges each pass the checks of their compound's
    hub, with unique event ids, per-edge seqs counting from 0 without a gap, and each clear naming its raise."""
    ids = compound_ids(compound, 3)
    hubs = {cid: clone(compound, cid) for cid in ids}
    district = DistrictEdges.of(compound, ids)
    assert len(district.edges) == 3 * len(compound.edges())
    mix = Composition.natural(compound, alarm_share=0.2)
    kinds: Counter[str] = Counter()
    seqs: dict[tuple[str, str], list[int]] = {}
    raised: set[str] = set()
    now = datetime.now(UTC)
    settings = IngestSettings()
    for topic, payload in district.messages(3000, mix):
        parsed_topic = wire.parse_topic(topic)
        checked = validate(topic, payload, now, hubs[parsed_topic.compound], settings)
        assert isinstance(checked, Parsed), f"{topic}: {checked}"
        msg = checked.message
        kinds[msg.type] += 1
        if isinstance(msg, wire.Event):
            seqs.setdefault((msg.compound, msg.edge), []).append(msg.seq)
            assert msg.id not in raised
            if msg.state is wire.EventState.CLEARED:
                assert msg.raised_id in raised
            raised.add(msg.id)
    sent = district.sent
    assert (kinds["reading"], kinds["heartbeat"], kinds["event"]) == (sent.readings, sent.heartbeats, sent.events)
    assert sum(kinds.values()) == sent.total == sum(sent.by_compound.values()) == 3000
    assert 0.18 < sent.events / sent.total < 0.22 and sent.raised >= sent.cleared > 0
    assert all(s == list(range(len(s))) for s in seqs.values())
    # A heartbeat carries the edge's last assigned seq, so a hub finds no tail missing.
    topic, payload = district.heartbeat(now.isoformat())
    beat = wire.parse(wire.MessageType.HEARTBEAT, payload)
    assert beat.seq == max(seqs[(beat.compound, beat.edge)], default=0)


def test_bad_shares_are_refused(compound: Compound) -> None:
    """Test that a district of no compound and an alarm share of 1 or more are refused with what is wrong."""
    with pytest.raises(ValueError, match="at least one compound"):
        compound_ids(compound, 0)
    with pytest.raises(ValueError, match=r"--alarm-share must be in \[0, 1\)"):
        Composition.natural(compound, alarm_share=1.0)
    with pytest.raises(ValueError, match="not all 0"):
        Composition(0, 0, 0)


@pytest.fixture
def hub_db_on_mosquitto(mosquitto: MosquittoServer, compound: Compound) -> Iterator[Database]:
    """A hub for the sample compound on a fresh SQLite file, ingesting from ``mosquitto``."""
    db = Database(default_url(Path(tempfile.mkdtemp(prefix="load-test-"))))
    db.create()
    ingestor = Ingestor(db, compound, host=mosquitto.host, port=mosquitto.port, broker_kind="mosquitto")
    hub = HubThread(ingestor).start()
    yield db
    hub.stop()
    db.dispose()


@pytest.mark.broker
def test_counts_add_up_through_mosquitto(
    mosquitto: MosquittoServer, compound: Compound, hub_db_on_mosquitto: Database
) -> None:
    """Test that two connections carrying two compounds' edges at 300 msg/s for 2 s: the broker acknowledges all,
    a plain subscriber receives all, and the first compound's hub stores its share: no dead letter, no duplicate,
    no seq gap, every reading, heartbeat and event counted on its edge."""
    db = hub_db_on_mosquitto
    plain = PlainSubscriber(mosquitto.host, mosquitto.port, compound.prefix)
    try:
        ids = tuple(compound_ids(compound, 2))
        spec = LoadSpec(
            mosquitto.host,
            mosquitto.port,
            ids,
            Composition.natural(compound, alarm_share=0.1),
            rate=300,
            seconds=2,
            ramp=0.5,
            connections=2,
            window=50,
        )
        procs, results = publish_load(spec)
        sent = collect(procs, results, timeout=60)
        assert sent.acked == sent.total == sum(sent.by_compound.values()) > 300
        assert set(sent.by_compound) == set(ids) and sent.events > 0
        ours = sent.by_compound[compound.id]

        def stored() -> int:
            with db.session() as session:
                counts = session.execute(
                    select(func.sum(EdgeRecord.readings), func.sum(EdgeRecord.heartbeats), func.sum(EdgeRecord.events))
                ).one()
            return sum(n or 0 for n in counts)

        # The hub's own resend requests (it asks these edges, which never answer) travel too: not counted.
        wait_for(lambda: plain.count == sent.total and stored() == ours, timeout=30, what="everything received")
    finally:
        plain.close()
    stats = AlarmService(db, compound).stats()
    assert stats["dead_letters_by_reason"] == {}
    assert (stats["duplicates"], stats["gaps"], stats["missing_seq"]) == (0, 0, 0)
    assert stats["readings"] + stats["heartbeats"] + stats["events"] == ours
    assert stats["events"] > 0 and sum(stats["alarms"].values()) > 0


@pytest.mark.broker
def test_the_bench_measures_a_district_against_its_own_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``bench/load.py`` run as the README says (small: 50 compounds, 250 edges, 1 s at 400 msg/s, the plain
    subscriber only) starts its own Mosquitto and prints JSON in which the subscriber took all that was offered."""
    small = ["--compounds", "50", "--rate", "400", "--seconds", "1", "--ramp", "0.5", "--drain", "20"]
    main([*small, "--mix", "district", "--sink", "plain", "--json"])
    report = json.loads(capsys.readouterr().out)
    [row] = report["results"]
    assert (row["mix"], row["sink"], row["edges"], row["share"]) == ("district", "plain", 250, 1.0)
    assert row["caught_up"] and row["backlog"] == 0 and row["received_msg_s"] > 0
    assert row["sent"]["readings"] > row["sent"]["heartbeats"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--rate", "0"], "must be positive"), (["--compounds", "0"], "--compounds must be at least 1")],
)
def test_the_bench_refuses_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a zero rate or an empty district stops the bench before it starts anything, saying why."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
