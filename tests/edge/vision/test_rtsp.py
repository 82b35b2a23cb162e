"""A real camera protocol: a rendered clip served over RTSP by GStreamer's RTSP server, read by the edge through
OpenCV exactly as an IP camera would be; stream loss raises ``device_offline`` for that camera, frames clear it.

The server (``rtsp_server.py``) runs under the system Python, which has Debian's ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0`` (``make test`` installs them); the edge side is the project's own code.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from compound import wire
from compound.clock import WallClock
from compound.config import Compound, load_config
from compound.frames import CAMERA_SOURCES, Frame, register_camera_source
from compound.wire import Event, EventKind, EventState, MessageType, Severity
from edge.agent import AgentOptions, EdgeAgent
from edge.cameras import EdgeCameras
from edge.engine import OpenCondition
from edge.vision.config import CameraConfig, VisionFile
from edge.vision.pipeline import VisionDraft
from edge.vision.sources import LiveCaptureSource, LiveSource, open_source
from simulators.camera import build
from tests.edge.support import ROOT, Collector
from tests.servers import MosquittoServer, ServerProcess
from tests.support import free_port, wait_for

LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
FPS = 5


class RtspServer(ServerProcess):
    """GStreamer's RTSP server playing a folder of JPEG frames in a loop, as H.264 at ``FPS``."""

    kind = "rtsp"

    def __init__(self, workdir: Path, frames: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.frames = frames

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/cam"

    def command(self) -> list[str]:
        return [
            SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--frames", str(self.frames),
            "--fps", str(FPS), "--path", "/cam",
        ]  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> list[NDArray[np.uint8]]:
    """Eight seconds of the rendered lift scene (an e-bike wheeled in), 320x240 at 5 fps."""
    scenario = build("lift-ebike", seed=1)
    return [scenario.frame(t).image for t in scenario.times() if 10.0 <= t < 18.0]


@pytest.fixture
def rtsp(clip: list[NDArray[np.uint8]], tmp_path: Path) -> Iterator[RtspServer]:
    """The clip written as JPEG frames and served at rtsp://127.0.0.1:<free port>/cam."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate(clip):
        assert cv2.imwrite(str(frames / f"{i:05d}.jpg"), image)
    server = RtspServer(tmp_path / "rtsp", frames)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _closest(image: NDArray[np.uint8], clip: list[NDArray[np.uint8]]) -> float:
    """Mean absolute grey-level difference between ``image`` and the nearest frame of the clip."""
    got = image.astype(np.float32)
    return min(float(np.abs(got - frame.astype(np.float32)).mean()) for frame in clip)


@pytest.mark.slow
def test_rtsp_camera_is_read_live_at_its_rate(rtsp: RtspServer, clip: list[NDArray[np.uint8]]) -> None:
    """Test that an rtsp:// source reads the served clip at the camera's rate and hands over only fresh frames."""
    source = open_source(rtsp.url)
    assert isinstance(source, LiveCaptureSource)
    try:
        first = None
        deadline = time.monotonic() + 15
        while first is None and time.monotonic() < deadline:
            first = source.next_frame(0.5)
        assert first is not None, f"no frame from {rtsp.url}: {source.last_error}"
        assert first.image.shape == (240, 320, 3) and first.image.dtype == np.uint8
        assert source.fps == pytest.approx(FPS)
        assert _closest(first.image, clip) < 12.0  # H.264 is lossy: close to a rendered frame, not equal

        t0, frames = time.monotonic(), []
        while time.monotonic() - t0 < 3.0:
            frame = source.next_frame(0.5)
            if frame is not None:
                frames.append(frame)
        rate = len(frames) / (time.monotonic() - t0)
        assert 0.7 * FPS <= rate <= 1.3 * FPS, rate
        print(f"RTSP camera read at {rate:.2f} frames/s (served at {FPS})")
        assert [f.index for f in frames] == sorted({f.index for f in frames})

        # A consumer that falls 2 s behind gets the newest frame, not a 2 s old one: the rest were dropped.
        dropped = source.dropped
        time.sleep(2.0)
        frame = source.next_frame(0.5)
        assert frame is not None
        assert (datetime.now(UTC) - frame.at).total_seconds() < 1.0
        assert source.dropped - dropped >= 0.7 * 2.0 * FPS - 1
        assert source.connects == 1 and source.losses == 0
    finally:
        source.close()


def test_live_camera_that_never_answers_is_offline(compound: Compound) -> None:
    """Test that a camera whose RTSP URL nobody serves starts anyway and raises device_offline after offline_after_s."""
    vision = VisionFile(cameras=[CameraConfig(device=LIFT_CAM, offline_after_s=1.0)])
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    cameras = EdgeCameras.for_edge(compound, "b2", WallClock(), vision=vision, sources={LIFT_CAM: url, LANE_CAM: "off"})
    assert cameras is not None
    [worker] = cameras.workers
    assert isinstance(worker.source, LiveCaptureSource) and worker.offline_after_s == 1.0
    drafts: list[VisionDraft] = []

    def taken() -> list[VisionDraft]:
        drafts.extend(cameras.take())
        return drafts

    cameras.start()
    try:
        wait_for(taken, 10, "device_offline for the silent camera")
    finally:
        cameras.stop()
    [draft] = drafts
    v = draft.verdict
    assert (draft.device, v.kind, v.state, v.severity) == (LIFT_CAM, EventKind.DEVICE_OFFLINE, EventState.RAISED,
                                                           Severity.WARNING)  # fmt: skip
    assert v.value is not None and 1.0 <= v.value < 3.0 and v.threshold == 1.0
    assert "b2/u1 lift-1" in v.message and draft.snapshot is None
    assert worker.offline and cameras.offline() == 1 and worker.frames == 0
    event = draft.event(1)
    assert event.kind is EventKind.DEVICE_OFFLINE and event.device == LIFT_CAM and event.evidence is None


def _compound_with_offline_after(tmp_path: Path, seconds: float) -> Compound:
    """The sample compound with the lift camera's ``offline_after_s`` set in its vision.yaml."""
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    vision = configs / "vision.yaml"
    entry = f"  - device: {LIFT_CAM}\n    fps: 5\n"
    text = vision.read_text()
    assert entry in text
    vision.write_text(text.replace(entry, entry + f"    offline_after_s: {seconds}\n"))
    return load_config(configs)


@pytest.mark.slow
@pytest.mark.broker
def test_rtsp_camera_loss_raises_device_offline_and_reconnects(
    rtsp: RtspServer, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that the edge reads an RTSP camera, raises device_offline when its server dies and clears it on return."""
    compound = _compound_with_offline_after(tmp_path, 3.0)
    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(mosquitto.port, prefix + "#", "rtsp-test-sub", filter_prefix=(prefix,))
    sub.start()
    options = AgentOptions(
        tick_s=0.2,
        reading_interval_s=0,
        heartbeat_interval_s=1.0,
        cameras=True,
        camera_sources=((LIFT_CAM, rtsp.url), (LANE_CAM, "off")),
    )
    agent = EdgeAgent(
        compound, "b2", [], WallClock(), host=mosquitto.host, port=mosquitto.port, data_dir=tmp_path / "data",
        options=options,
    )  # fmt: skip
    assert agent.cameras is not None
    [worker] = agent.cameras.workers
    source = worker.source
    assert isinstance(source, LiveCaptureSource) and worker.offline_after_s == 3.0
    loop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop.append((asyncio.get_running_loop(), stop))
        await agent.run(stop)

    runner = threading.Thread(target=asyncio.run, args=(main(),), name="agent")
    runner.start()

    def cameras_offline_in_heartbeat() -> int:
        """Devices the latest heartbeat counts as offline (the edge has no sensor drivers: only the camera)."""
        with sub.lock:
            beats = [p for t, p in sub.messages if wire.parse_topic(t).type is MessageType.HEARTBEAT]
        if not beats:
            return -1
        beat = wire.parse(MessageType.HEARTBEAT, beats[-1])
        assert isinstance(beat, wire.Heartbeat)
        return beat.devices_total - beat.devices_online

    def offline_events(state: EventState) -> list[Event]:
        return [
            e for e in sub.events() if e.device == LIFT_CAM and e.kind is EventKind.DEVICE_OFFLINE and e.state is state
        ]

    try:
        wait_for(lambda: worker.frames >= 10, 20, "10 frames from the RTSP camera")
        assert not offline_events(EventState.RAISED) and not worker.offline
        assert rtsp.proc is not None

        # The camera freezes: its connection stays open but nothing comes (SIGSTOP), then it resumes.
        rtsp.proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            [raised] = wait_for(lambda: offline_events(EventState.RAISED), 15, "device_offline for a frozen camera")
            froze_took = time.monotonic() - frozen
        finally:
            rtsp.proc.send_signal(signal.SIGCONT)
        # offline_after_s from the last frame (up to a frame period before the freeze), plus the broker round trip
        assert 2.5 <= froze_took < 3.0 + 4.0, froze_took
        [cleared] = wait_for(lambda: offline_events(EventState.CLEARED), 20, "device_offline cleared after the freeze")
        assert cleared.raised_id == raised.id and cleared.seq > raised.seq

        rtsp.stop()  # the camera goes away
        lost = time.monotonic()
        raised = wait_for(lambda: offline_events(EventState.RAISED)[1:], 15, "device_offline raised")[0]
        took = time.monotonic() - lost
        assert 2.5 <= took < 3.0 + 4.0, took
        assert raised.value is not None and raised.value >= 3.0 and raised.severity is Severity.WARNING
        assert source.losses >= 1 and not source.connected
        wait_for(lambda: cameras_offline_in_heartbeat() == 1, 5, "a heartbeat counting the camera offline")
        frames = worker.frames

        rtsp.start()  # the camera comes back on the same address
        back = time.monotonic()
        cleared = wait_for(lambda: offline_events(EventState.CLEARED)[1:], 20, "device_offline cleared")[0]
        reconnect = time.monotonic() - back
        assert cleared.raised_id == raised.id and cleared.seq > raised.seq
        wait_for(lambda: worker.frames >= frames + 10, 10, "frames again after the reconnection")
        assert len(offline_events(EventState.RAISED)) == 2 and len(offline_events(EventState.CLEARED)) == 2
        assert source.connects >= 2 and not worker.offline and worker.error is None
        wait_for(lambda: cameras_offline_in_heartbeat() == 0, 5, "a heartbeat counting the camera online")
        print(
            f"device_offline {froze_took:.1f} s after a freeze, {took:.1f} s after the server died; "
            f"frames and the clear {reconnect:.1f} s after it came back ({source.connects} connects)"
        )
    finally:
        if loop:
            event_loop, stop = loop[0]
            event_loop.call_soon_threadsafe(stop.set)
        runner.join(30)
        sub.stop()
    assert not runner.is_alive()
    assert agent.dropped == 0


def test_camera_offline_before_a_restart_clears_with_its_id(compound: Compound) -> None:
    """Test that a device_offline open for a camera when the agent stopped is re-armed and cleared by the camera's
    first frame with the original event id."""
    cameras = EdgeCameras.for_edge(compound, "b2", WallClock(), sources={LIFT_CAM: "sim:lift-pram:3", LANE_CAM: "off"})
    assert cameras is not None
    condition = OpenCondition(LIFT_CAM, EventKind.DEVICE_OFFLINE, "raised-before-restart", Severity.WARNING)
    assert cameras.restore([condition]) == 1 and cameras.offline() == 1
    drafts: list[VisionDraft] = []

    def taken() -> list[VisionDraft]:
        drafts.extend(cameras.take())
        return drafts

    cameras.start()
    try:
        wait_for(taken, 10, "the clear of the restored device_offline")
    finally:
        cameras.stop()
    cleared = drafts[0]
    assert (cleared.verdict.kind, cleared.verdict.state) == (EventKind.DEVICE_OFFLINE, EventState.CLEARED)
    assert cleared.raised_id == "raised-before-restart" and cleared.condition is None and cameras.offline() == 0


class _FastCamera:
    """A live source (``LiveSource``) that sends a rendered frame every 1/25 s, as a 25 fps IP camera does."""

    live = True

    def __init__(self, image: NDArray[np.uint8]) -> None:
        self.name, self.fps = "test-live:25fps", 25.0
        self.image = image
        self.sent = 0
        self._t0 = time.monotonic()

    def next_frame(self, timeout: float) -> Frame | None:
        t = self.sent / self.fps
        time.sleep(max(0.0, t - (time.monotonic() - self._t0)))
        self.sent += 1
        return Frame(self.image, t, datetime.now(UTC), self.sent - 1)

    def read(self) -> Frame | None:
        return self.next_frame(1.0)

    def silent_s(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


def test_fast_live_camera_is_analysed_at_the_configured_fps(compound: Compound, clip: list[NDArray[np.uint8]]) -> None:
    """Test that a 25 fps live camera is analysed at its vision.yaml fps (5): the frames in between are skipped."""
    camera = _FastCamera(clip[0])
    register_camera_source("test-live", lambda rest: camera)
    try:
        cameras = EdgeCameras.for_edge(
            compound, "b2", WallClock(), sources={LIFT_CAM: "test-live:25fps", LANE_CAM: "off"}
        )
        assert cameras is not None
        [worker] = cameras.workers
        assert isinstance(worker.source, LiveSource) and worker.fps == 5.0
        cameras.start()
        time.sleep(3.0)
        cameras.stop()
    finally:
        CAMERA_SOURCES.pop("test-live", None)
    rate = worker.frames / (camera.sent / camera.fps)
    print(f"25 fps camera analysed at {rate:.2f} fps ({worker.frames} of {camera.sent} frames)")
    assert 4.0 <= rate <= 6.0, (worker.frames, camera.sent)
    assert worker.skipped >= camera.sent - worker.frames - 1 and not worker.offline
