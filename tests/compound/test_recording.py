"""Tests of the recording format (``compound.recording``): MQTT messages, frames and samples in one MCAP file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compound.clock import ManualClock
from compound.config import Compound
from compound.drivers import Quantity, Sample
from compound.frames import SourceError
from compound.recording import (
    Recording,
    RecordingError,
    RecordingWriter,
    from_ns,
    open_recorded_camera,
    recording_driver,
    to_ns,
)

T0 = 1_790_000_000_000_000_000
EVENT_TOPIC = "compound/v1/sunrise-garden/b2/event/b2-u1-1502-smoke"
STATUS_TOPIC = "compound/v1/sunrise-garden/b2/status"


def test_messages_come_back_with_topic_payload_qos_retain_and_time(tmp_path: Path) -> None:
    """Test that every MQTT message is read back unchanged (bytes, QoS, retain, receive time), in receive order."""
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, source="test") as writer:
        writer.message(STATUS_TOPIC, b'{"state":"online"}', 1, True, T0)
        writer.message(EVENT_TOPIC, b"\x00\xffnot json", 1, False, T0 + 5)
        writer.message(EVENT_TOPIC, b"{}", 0, False, T0 + 5)  # same receive time: order kept by a 1 ns nudge
    recording = Recording(path)
    got = list(recording.messages())
    assert [(m.topic, m.payload, m.qos, m.retain) for m in got] == [
        (STATUS_TOPIC, b'{"state":"online"}', 1, True),
        (EVENT_TOPIC, b"\x00\xffnot json", 1, False),
        (EVENT_TOPIC, b"{}", 0, False),
    ]
    assert [m.time_ns for m in got] == [T0, T0 + 5, T0 + 6]
    assert recording.metadata["source"] == "test" and recording.complete


def test_info_names_topics_counts_span_and_devices(tmp_path: Path) -> None:
    """Test that ``info`` reads counts, span, compounds, edges and devices from the summary and the topics."""
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, source="test") as writer:
        for i in range(3):
            writer.message(EVENT_TOPIC, b"{}", 1, False, T0 + i * 1_000_000_000)
        writer.message(STATUS_TOPIC, b"{}", 1, True, T0 + 10_000_000_000)
        writer.message("compound/v1/sunrise-garden/b1/reading/b1-u1-101-gas", b"{}", 1, False, T0 + 10_000_000_001)
    info = Recording(path).info()
    assert info.messages == 5 and info.duration_s == pytest.approx(10.0)
    assert info.topics[EVENT_TOPIC] == 3 and info.topics[STATUS_TOPIC] == 1
    assert info.compounds == ["sunrise-garden"] and info.edges == ["b1", "b2"]
    assert info.devices == ["b1-u1-101-gas", "b2-u1-1502-smoke"]
    assert info.as_dict()["start"] == from_ns(T0).isoformat()


def test_time_range_selects_inclusive_bounds(tmp_path: Path) -> None:
    """Test that messages are selected by receive time, both bounds included."""
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, source="test") as writer:
        for i in range(10):
            writer.message(EVENT_TOPIC, str(i).encode(), 1, False, T0 + i * 1_000)
    got = [m.payload for m in Recording(path).messages(start_ns=T0 + 2_000, end_ns=T0 + 5_000)]
    assert got == [b"2", b"3", b"4", b"5"]


def test_a_file_cut_off_before_its_summary_is_read_front_to_back(tmp_path: Path) -> None:
    """Test that a recorder killed after a flush leaves a file whose flushed messages can still be read."""
    path = tmp_path / "cut.mcap"
    with RecordingWriter(tmp_path / "live.mcap", source="test") as writer:
        for i in range(100):
            writer.message(EVENT_TOPIC, str(i).encode(), 1, False, T0 + i)
        writer.flush()  # as `compound record` does every few seconds
        writer.message(EVENT_TOPIC, b"lost", 1, False, T0 + 100)
        path.write_bytes((tmp_path / "live.mcap").read_bytes())  # what is on disk if the process dies now
    recording = Recording(path)
    assert not recording.complete
    assert [m.payload for m in recording.messages()] == [str(i).encode() for i in range(100)]
    assert recording.info().messages == 100


def test_not_a_recording_is_refused_with_its_path(tmp_path: Path) -> None:
    """Test that a file that is not MCAP raises ``RecordingError`` naming it."""
    path = tmp_path / "junk.mcap"
    path.write_bytes(b"hello, not mcap")
    with pytest.raises(RecordingError, match=r"junk\.mcap"):
        Recording(path)
    with pytest.raises(RecordingError, match="no such file"):
        Recording(tmp_path / "missing.mcap")


def test_frames_round_trip_as_a_camera_source(tmp_path: Path) -> None:
    """Test that recorded frames come back through the ``recording:`` camera source, in order, near the original."""
    path = tmp_path / "cam.mcap"
    ys, xs = np.mgrid[0:48, 0:64]
    images = [np.dstack([xs * 4, ys * 5, (xs + ys + 20 * i) % 256]).astype(np.uint8) for i in range(4)]
    with RecordingWriter(path, source="test") as writer:
        for i, image in enumerate(images):
            writer.frame("b2-u1-lift1-cam", image, index=i, time_ns=T0 + i * 200_000_000, fps=5.0)
    source = open_recorded_camera(f"{path}#b2-u1-lift1-cam")
    assert source.fps == 5.0 and not source.live
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert [f.index for f in frames] == [0, 1, 2, 3] and [f.t for f in frames] == [0.0, 0.2, 0.4, 0.6]
    for frame, image in zip(frames, images, strict=True):
        assert frame.image.shape == image.shape
        assert np.abs(frame.image.astype(int) - image.astype(int)).mean() < 3  # JPEG, quality 95
    assert Recording(path).info().cameras == {"b2-u1-lift1-cam": 4}
    with pytest.raises(SourceError, match="no frames of camera b2-fire-lane-cam"):
        open_recorded_camera(f"{path}#b2-fire-lane-cam")
    with pytest.raises(SourceError, match="PATH#CAMERA_DEVICE"):
        open_recorded_camera(str(path))


def test_recording_driver_plays_samples_as_the_clock_reaches_them(compound: Compound, tmp_path: Path) -> None:
    """Test that the ``recording`` driver yields an edge's recorded samples once, when the clock passes them."""
    path = tmp_path / "samples.mcap"
    start = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    samples = [
        Sample("b2-u1-1502-smoke", Quantity.SMOKE, 0.01 * i, start + timedelta(seconds=10 * i), battery=90.0)
        for i in range(5)
    ]
    with RecordingWriter(path, source="test") as writer:
        for sample in samples:
            writer.sample("b2", sample)
        writer.sample("b1", Sample("b1-u1-101-smoke", Quantity.SMOKE, 0.0, start))
    clock = ManualClock(start)
    driver = recording_driver(compound, "b2", clock, path=str(path), start=start)
    assert "b2-u1-1502-smoke" in driver.devices() and "b1-u1-101-smoke" not in driver.devices()
    assert list(driver.poll(start + timedelta(seconds=15))) == samples[:2]
    assert list(driver.poll(start + timedelta(seconds=15))) == []
    assert list(driver.poll(start + timedelta(seconds=100))) == samples[2:]
    assert driver.done
    later = start + timedelta(days=3)  # played from another start: shifted, spacing kept
    shifted = recording_driver(compound, "b2", ManualClock(later), path=str(path), start=later)
    assert [s.at for s in shifted.poll(later + timedelta(seconds=100))] == [s.at + timedelta(days=3) for s in samples]
    with pytest.raises(ValueError, match="path=FILE"):
        recording_driver(compound, "b2", clock, start=start)
    with pytest.raises(ValueError, match="no --scenario"):
        recording_driver(compound, "b2", clock, path=str(path), start=start, scenario="kitchen-fire-night")
    with pytest.raises(TypeError, match="colour"):
        recording_driver(compound, "b2", clock, path=str(path), start=start, colour="red")


def test_readings_of_a_live_capture_become_samples(tmp_path: Path) -> None:
    """Test that without raw samples, the readings an edge published are turned back into samples."""
    from compound import wire

    path = tmp_path / "live.mcap"
    at = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    reading = wire.Reading(compound="sunrise-garden", edge="b2", device="b2-u1-1502-smoke", quantity="smoke",
                           value=0.2, unit="dB/m", battery=80, at=at)  # fmt: skip
    battery = wire.Reading(compound="sunrise-garden", edge="b2", device="b2-u1-1502-smoke", quantity="battery",
                           value=80, unit="%", at=at)  # fmt: skip
    topic = "compound/v1/sunrise-garden/b2/reading/b2-u1-1502-smoke"
    with RecordingWriter(path, source="test") as writer:
        writer.message(topic, wire.dump(reading), 1, False, to_ns(at))
        writer.message(topic, wire.dump(battery), 1, False, to_ns(at) + 1)
        writer.message(topic, b"garbage", 1, False, to_ns(at) + 2)
    assert Recording(path).samples("b2") == [Sample("b2-u1-1502-smoke", Quantity.SMOKE, 0.2, at, 80.0)]
    assert Recording(path).samples("b1") == []


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([EVENT_TOPIC, STATUS_TOPIC, "compound/v1/x/b3/heartbeat"]),
            st.binary(max_size=64),
            st.sampled_from([0, 1]),
            st.booleans(),
            st.integers(min_value=0, max_value=10**12),
        ),
        max_size=40,
    )
)
def test_any_sequence_of_messages_reads_back_in_the_order_written(
    tmp_path_factory: pytest.TempPathFactory, messages: list[tuple[str, bytes, int, bool, int]]
) -> None:
    """Test that whatever the topics, payloads and (even decreasing) times, the read order is the write order."""
    path = tmp_path_factory.mktemp("prop") / "p.mcap"
    with RecordingWriter(path, source="test") as writer:
        for topic, payload, qos, retain, t in messages:
            writer.message(topic, payload, qos, retain, T0 + t)
    got = [(m.topic, m.payload, m.qos, m.retain) for m in Recording(path).messages()]
    assert got == [(topic, payload, qos, retain) for topic, payload, qos, retain, _ in messages]
