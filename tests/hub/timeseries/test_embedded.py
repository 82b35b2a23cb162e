"""Tests of the embedded time-series store: storage, retention, downsampling, the query interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.timeseries import EmbeddedStore, SeriesPoint, TimeseriesSettings, open_timeseries
from hub.timeseries.schema import SeriesMapper

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def reading(at: datetime, value: float, quantity: str = "smoke", device: str = "b2-u1-1502-smoke") -> wire.Reading:
    unit = {"smoke": "dB/m", "gas": "%LEL"}.get(quantity, "")
    return wire.Reading(
        compound="sunrise-garden", edge="b2", device=device, quantity=quantity, value=value, unit=unit, at=at
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An embedded store with a manual clock at T0."""
    db = EmbeddedStore(tmp_path / "ts.sqlite3", retention=timedelta(days=7), clock=ManualClock(T0))
    yield db
    db.close()


def put(store: EmbeddedStore, *readings: wire.Reading) -> None:
    """Map and store readings, waiting until they are written."""
    mapper = SeriesMapper()
    for msg in readings:
        store.submit(mapper.reading(msg))
    assert store.flush(timeout=30)


def test_readings_come_back_in_order_and_duplicates_are_stored_once(store: EmbeddedStore) -> None:
    """Test that a window returns its readings in time order, a redelivered reading once, nothing outside."""
    msgs = [reading(T0 + timedelta(seconds=10 * i), float(i)) for i in range(10)]
    put(store, *reversed(msgs), msgs[3])
    got = store.series("b2-u1-1502-smoke", "smoke", T0 + timedelta(seconds=20), T0 + timedelta(seconds=60))
    assert got == [SeriesPoint(T0 + timedelta(seconds=s), s / 10) for s in (20, 30, 40, 50, 60)]
    assert store.series("b2-u1-1502-smoke", "gas", T0, T0 + timedelta(hours=1)) == []
    assert store.series("nobody", None, T0, T0 + timedelta(hours=1)) == []


def test_no_quantity_means_the_main_one_not_the_battery(store: EmbeddedStore) -> None:
    """Test that quantity None picks the device's measured quantity, not its battery level."""
    put(store, reading(T0, 0.05).model_copy(update={"battery": 80.0}))
    assert store.quantities("b2-u1-1502-smoke") in (["smoke", "battery"], ["battery", "smoke"])
    assert store.series("b2-u1-1502-smoke", None, T0, T0 + timedelta(seconds=1)) == [SeriesPoint(T0, 0.05)]
    assert store.series("b2-u1-1502-smoke", "battery", T0, T0 + timedelta(seconds=1)) == [SeriesPoint(T0, 80.0)]


def test_long_window_is_downsampled_and_keeps_a_spike(store: EmbeddedStore) -> None:
    """Test that a day of 10 s readings comes back within max_points with a one-sample spike still there."""
    day = [reading(T0 + timedelta(seconds=10 * i), 0.02 + (i % 7) * 0.001) for i in range(8640)]
    spike_at = T0 + timedelta(seconds=10 * 5000)
    day[5000] = reading(spike_at, 0.9)
    put(store, *day)
    got = store.series("b2-u1-1502-smoke", "smoke", T0, T0 + timedelta(days=1), max_points=200)
    assert 100 <= len(got) <= 200
    assert SeriesPoint(spike_at, 0.9) in got
    assert [p.at for p in got] == sorted(p.at for p in got)
    assert min(p.value for p in got) == pytest.approx(0.02)
    assert store.series("b2-u1-1502-smoke", "smoke", T0, T0 + timedelta(days=1), max_points=10_000)[5000].value == 0.9


def test_retention_prunes_old_samples(store: EmbeddedStore) -> None:
    """Test that samples older than the retention (by the store's clock) are deleted and newer ones kept."""
    put(store, *(reading(T0 - timedelta(days=d), float(d)) for d in range(10)))
    store.prune()  # the writer thread may have pruned already: the outcome is the same
    assert store.health()["pruned_points"] == 2  # 8 and 9 days old; exactly 7 days is kept
    left = store.series("b2-u1-1502-smoke", "smoke", T0 - timedelta(days=30), T0)
    assert [p.value for p in left] == [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert store.prune(T0 + timedelta(days=2, seconds=1)) == 3  # 7, 6 and 5 days old at T0
    assert store.health()["pruned_points"] == 5


def test_bad_query_arguments_are_refused_clearly(store: EmbeddedStore) -> None:
    """Test that an empty window or too few points is a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match="must be after start"):
        store.series("d", None, T0, T0)
    with pytest.raises(ValueError, match="max_points"):
        store.series("d", None, T0, T0 + timedelta(seconds=1), max_points=1)


def test_embedded_default_charts_from_the_sink_alone(tmp_path: Path, compound: Compound) -> None:
    """Test that with no InfluxDB configured the sink feeds the reader the console uses."""
    series = open_timeseries(TimeseriesSettings.from_env({}), tmp_path, compound=compound, clock=ManualClock(T0))
    try:
        assert series.influx is None
        for i in range(30):
            series.sink.reading(reading(T0 - timedelta(minutes=30 - i), 0.01 * i))
        beat = wire.Heartbeat(compound="sunrise-garden", edge="b2", at=T0, uptime_s=1, seq=0, outbox_depth=0)
        series.sink.heartbeat(beat)
        assert series.flush(timeout=30)
        curve = series.reader.series("b2-u1-1502-smoke", None, T0 - timedelta(minutes=30), T0)
        assert series.health()["embedded"]["stored_points"] == 30
    finally:
        series.close()
    assert [round(p.value, 2) for p in curve] == [round(0.01 * i, 2) for i in range(30)]


def test_settings_from_env_and_bad_url(tmp_path: Path) -> None:
    """Test that URL, org and bucket come from the environment and a bad URL is refused with the value."""
    env = {"COMPOUND_INFLUX_URL": "http://tsdb:8428/", "COMPOUND_INFLUX_BUCKET": "site-a"}
    got = TimeseriesSettings.from_env(env)
    assert (got.influx_url, got.influx_org, got.influx_bucket) == ("http://tsdb:8428", "compound", "site-a")
    with pytest.raises(ValueError, match="ftp://x"):
        TimeseriesSettings.from_env({"COMPOUND_INFLUX_URL": "ftp://x"})
    with pytest.raises(ValueError, match="extra"):
        TimeseriesSettings.model_validate({"influx_token": "secret"})
