"""The edge's cameras: one worker thread per camera device runs its vision pipeline beside the agent's loop.

``EdgeCameras.for_edge(compound, edge, clock)`` builds a ``CameraPipeline`` for each camera device of the
edge, whatever its registered camera type (``edge/vision/camera_types.py``; settings from ``vision.yaml``
next to the compound config), and opens its ``source:``. Each camera runs in its own thread, so decoding
and inference never block the asyncio loop. A camera type that acts locally commands its actuator (a lift
camera its ``LiftController``, a ``SimulatedLift`` unless one is given) inside ``process()``, i.e. in the
camera thread, before anything is stored or sent. The drafts (events
with their JPEG snapshot) go to a bounded queue that the agent drains on each tick
(``EdgeAgent._take_camera_drafts``).

Pacing: ``sim:`` sources and recorded files are paced by the agent's clock (a ``ScaledClock`` at speed
60 plays a 60 s scene in one second); a camera that falls behind skips to the frame that is due instead
of queueing (simulated frames that are not due are never rendered). Live sources (RTSP, device index)
are read as they come, at most the camera's ``fps`` a second (frames in between are skipped), and stamped
with the clock's time.

Models: the live detector is ``vision.yaml``'s ``model:``, unless a version was promoted into the data
directory's model store (``compound model promote``; ``compound.modelstore``): that one is loaded when the
cameras are built, i.e. when the edge (re)starts. A ``shadow_model:`` in vision.yaml runs beside it on the same
frames (``edge/vision/shadow.py``); its reports wait in ``take_shadow()`` for the agent, never acted on.

Health: a live camera that sends no frame for its ``offline_after_s`` (``vision.yaml``, default 10 s of real
time; the source reconnects meanwhile) raises ``device_offline`` for that camera device, as a camera event
through the same queue, outbox and journal as its alarms; its next frame clears it (with the raised id,
also across an agent restart). Sensors get the same event from ``edge/rules/faults.py`` (silence of
samples); cameras are left out there because only the camera thread knows when frames stop.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from compound import wire
from compound.clock import Clock
from compound.config import Compound
from compound.frames import RenderedSource
from compound.modelstore import ModelStore
from compound.wire import EventKind, EventState, Severity
from edge.engine import OpenCondition
from edge.rules.base import location_text
from edge.vision.camera_types import camera_kind
from edge.vision.config import CameraConfig, VisionFile, build_pipelines, camera_devices, load_vision_config
from edge.vision.pipeline import CameraPipeline, VisionDraft
from edge.vision.rules import VisionVerdict
from edge.vision.sources import CameraSource, Frame, LiveSource, SourceError, open_source

__all__ = ["SNAPSHOT_MAX_BYTES", "CameraWorker", "EdgeCameras"]

log = logging.getLogger(__name__)

SNAPSHOT_MAX_BYTES = wire.MAX_SNAPSHOT_BYTES
"""Largest JPEG snapshot the edge sends (the hub refuses bigger ones as ``oversized_snapshot``)."""

QUEUE_MAX = 256
"""Drafts waiting for the agent's next tick; beyond that a camera's drafts are dropped (counted)."""

DEFAULT_FPS = float(CameraConfig.model_fields["fps"].default)
DEFAULT_OFFLINE_AFTER_S = float(CameraConfig.model_fields["offline_after_s"].default)
POLL_S = 0.25
"""How long a live camera's thread waits for a frame before it looks at the camera's silence again."""

OFF = "off"
"""A camera source that turns the camera off."""


@dataclass
class CameraWorker:
    """One camera: its pipeline, its source and the thread that feeds one to the other."""

    pipeline: CameraPipeline
    source: CameraSource
    fps: float
    frames: int = 0
    skipped: int = 0
    ended: bool = False
    error: str | None = None
    offline_after_s: float = DEFAULT_OFFLINE_AFTER_S
    """A live camera silent this long (real seconds) raises ``device_offline``."""
    place: str = ""
    """Where the camera is, for event messages (``b2/u1 lift-1``)."""
    offline_id: str | None = None
    """Id of the ``device_offline`` event raised for this camera, while it is offline."""
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def device(self) -> str:
        """The camera's device id."""
        return self.pipeline.device.id

    @property
    def offline(self) -> bool:
        """Whether ``device_offline`` is raised for this camera."""
        return self.offline_id is not None


class EdgeCameras:
    """The camera workers of one edge and the queue of drafts they hand to the agent."""

    def __init__(self, workers: list[CameraWorker], clock: Clock, actuators: dict[str, Any]) -> None:
        self.workers = workers
        self.clock = clock
        self.actuators = actuators
        """Local actuators by camera device id (a lift camera's ``LiftController``)."""
        self.drafts: queue.Queue[VisionDraft] = queue.Queue(maxsize=QUEUE_MAX)
        self.dropped = 0
        self._stop = threading.Event()

    @classmethod
    def for_edge(
        cls,
        compound: Compound,
        edge: str,
        clock: Clock,
        *,
        vision: VisionFile | Path | None = None,
        sources: dict[str, str] | None = None,
        actuators: dict[str, Any] | None = None,
        models: ModelStore | None = None,
    ) -> EdgeCameras | None:
        """Cameras of ``edge`` (None when it has none); ``sources`` overrides devices' ``source:`` by id.

        A source ``off`` leaves that camera out (a camera under maintenance, or a test that needs one).
        ``actuators`` (by device id) replace the default actuator of a camera type that acts locally.
        ``models``: the data directory's model store; its live version, if any, replaces vision.yaml's model path.

        Raises ``VisionConfigError``, ``UnknownCameraType`` or ``SourceError`` (naming the camera) when one
        cannot be set up.
        """
        devices = camera_devices(compound, edge)
        if not devices:
            return None
        sources = dict(sources or {})
        unknown = set(sources) - {d.id for d in devices}
        if unknown:
            raise SourceError(", ".join(sorted(unknown)), f"not a camera device of edge {edge}")
        if not isinstance(vision, VisionFile):
            path = vision if vision is not None else Path(compound.source) / "vision.yaml"
            vision = load_vision_config(path) if path.exists() else VisionFile()
        live = models.live_path() if models is not None else None
        if live is not None:
            vision = vision.model_copy(update={"model": vision.model.model_copy(update={"path": str(live)})})
            log.info("cameras of %s: promoted model %s is live", edge, live)
        actuators = dict(actuators or {})
        for dev in devices:
            make_actuator = camera_kind(dev).actuator
            if make_actuator is not None and dev.id not in actuators:
                actuators[dev.id] = make_actuator(dev.id)
        fps = {c.device: c.fps for c in vision.cameras}
        offline_after = {c.device: c.offline_after_s for c in vision.cameras}
        workers = []
        for pipe in build_pipelines(compound, vision, edge, actuators=actuators):
            spec = sources.get(pipe.device.id) or compound.devices[pipe.device.id].source
            if spec == OFF:
                log.info("camera %s: off", pipe.device.id)
                continue
            if not spec:
                raise SourceError(pipe.device.id, "camera device has no source: in devices.yaml")
            source = open_source(spec)
            workers.append(
                CameraWorker(
                    pipe,
                    source,
                    fps.get(pipe.device.id, DEFAULT_FPS),
                    offline_after_s=offline_after.get(pipe.device.id, DEFAULT_OFFLINE_AFTER_S),
                    place=location_text(compound.devices[pipe.device.id]),
                )
            )
            log.info("camera %s: source %s at %.1f fps", pipe.device.id, source.name, workers[-1].fps)
        return cls(workers, clock, actuators)

    def restore(self, conditions: Iterable[OpenCondition]) -> int:
        """Re-arm camera conditions raised before a restart, so they clear with their original id.

        Each camera's rule re-arms itself (``VisionRule.restore``): a re-armed e-bike condition holds the lift
        again (the e-bike may still be in the car) until the camera has seen the car without one for
        ``clear_after_s``; a fire-lane one clears once the lane has been seen free. Returns how many were
        re-armed.
        """
        by_device = {w.device: w for w in self.workers}
        restored = 0
        for cond in conditions:
            worker = by_device.get(cond.device)
            if worker is not None and cond.kind is EventKind.DEVICE_OFFLINE:
                worker.offline_id = cond.raised_id  # the camera's first frame clears it
            elif worker is None or not worker.pipeline.restore(cond):
                continue
            restored += 1
            log.info(
                "camera %s: %s re-armed (raised %s before the restart)", cond.device, cond.kind.value, cond.raised_id
            )
        return restored

    # ---- threads
    def start(self) -> None:
        """Start one thread per camera."""
        self._stop.clear()
        start = self.clock.now()
        for worker in self.workers:
            worker.thread = threading.Thread(
                target=self._loop, args=(worker, start), name=f"camera-{worker.device}", daemon=True
            )
            worker.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads (each finishes the frame in hand) and release the sources."""
        self._stop.set()
        for worker in self.workers:
            if worker.thread is not None:
                worker.thread.join(timeout)
                if worker.thread.is_alive():
                    log.warning("camera %s did not stop within %.0f s", worker.device, timeout)
            worker.source.close()

    def offline(self) -> int:
        """Cameras currently reported offline."""
        return sum(1 for w in self.workers if w.offline)

    def take_shadow(self) -> list[wire.ShadowReport]:
        """Shadow reports of closed episodes since the last call (called from the agent's loop)."""
        out: list[wire.ShadowReport] = []
        for worker in self.workers:
            shadow = worker.pipeline.shadow
            while shadow is not None and shadow.reports:
                out.append(shadow.reports.popleft())
        return out

    def flush_shadow(self) -> None:
        """Close the shadow episodes still open (the cameras stopped), so that they are reported too."""
        for worker in self.workers:
            pipe = worker.pipeline
            if pipe.shadow is not None:
                pipe.shadow.flush(self.clock.now(), compound=pipe.compound, edge=pipe.edge, device=pipe.device.id)

    def take(self) -> list[VisionDraft]:
        """Drafts produced since the last call, oldest first (called from the agent's loop)."""
        out: list[VisionDraft] = []
        while True:
            try:
                out.append(self.drafts.get_nowait())
            except queue.Empty:
                return out

    def _wait_until(self, due: datetime) -> bool:
        """Sleep until the clock reads ``due``; False when stopped first."""
        speed = float(getattr(self.clock, "speed", 1.0)) or 1.0
        while not self._stop.is_set():
            left = (due - self.clock.now()).total_seconds()
            if left <= 0:
                return True
            self._stop.wait(min(left / speed, 0.25))
        return False

    def _next_frame(self, worker: CameraWorker, start: datetime, index: int) -> tuple[Frame | None, int]:
        """The next due frame at or after ``index`` (skipping what is already late), and its index."""
        source = worker.source
        live = bool(getattr(source, "live", False))
        if live:
            frame = source.read()
            if frame is not None:
                frame.at = self.clock.now()
            return frame, index
        if not self._wait_until(start + timedelta(seconds=index / worker.fps)):
            return None, index
        late = int((self.clock.now() - start).total_seconds() * worker.fps)
        if late > index:
            worker.skipped += late - index
            index = late
        if isinstance(source, RenderedSource):  # a simulator renders the due frame, never the skipped ones
            t = index / worker.fps
            rendered = source.frame_at(t)
            if rendered is None:
                return None, index
            return Frame(rendered.image, t, start + timedelta(seconds=t), index), index
        frame = source.read()
        while frame is not None and frame.index < index:  # a recorded file: drop frames that are late
            frame = source.read()
        if frame is not None:
            frame.t = index / worker.fps
            frame.at = start + timedelta(seconds=frame.t)
        return frame, index

    def _loop(self, worker: CameraWorker, start: datetime) -> None:
        index = 0
        try:
            if isinstance(worker.source, LiveSource):
                self._live_loop(worker, worker.source)
                return
            while not self._stop.is_set():
                frame, index = self._next_frame(worker, start, index)
                if frame is None:
                    break
                if worker.offline:  # raised by a live source before a restart; this one sends frames
                    self._offline(worker, EventState.CLEARED, 0.0)
                index += 1
                worker.frames += 1
                for draft in worker.pipeline.process(frame):  # the lift is commanded in here
                    self._hand_over(worker, draft)
            if self._stop.is_set():
                return
            worker.ended = True
            log.info("camera %s: stream ended after %d frame(s)", worker.device, worker.frames)
        except Exception as exc:  # a broken camera must not take the agent down
            worker.error = f"{exc.__class__.__name__}: {exc}"
            log.exception("camera %s stopped", worker.device)

    def _live_loop(self, worker: CameraWorker, source: LiveSource) -> None:
        """Process a live camera's frames as they come, at most ``fps`` a second (a 25 fps camera analysed at
        5 fps: the frames in between are skipped, counted in ``skipped``); raise ``device_offline`` while it
        is silent."""
        period = 1.0 / worker.fps
        due = float("-inf")  # arrival time (``frame.t``) of the next frame to analyse, on a grid of ``period``
        while not self._stop.is_set():
            frame = source.next_frame(POLL_S)
            if frame is None:
                silent = source.silent_s()
                if not worker.offline and silent >= worker.offline_after_s:
                    self._offline(worker, EventState.RAISED, silent)
                continue
            if worker.offline:
                self._offline(worker, EventState.CLEARED, 0.0)
            if frame.t < due - period / 2:  # half a period of slack for network jitter
                worker.skipped += 1
                continue
            due = frame.t + period if frame.t > due + period else due + period
            frame.at = self.clock.now()
            worker.frames += 1
            for draft in worker.pipeline.process(frame):
                self._hand_over(worker, draft)

    def _offline(self, worker: CameraWorker, state: EventState, silent: float) -> None:
        """Hand over ``device_offline`` raised (after ``silent`` s without a frame) or cleared for a camera."""
        pipe = worker.pipeline
        event_id = wire.new_event_id()
        if state is EventState.RAISED:
            raised_id, worker.offline_id = None, event_id
            severity, value = Severity.WARNING, silent
            message = f"{worker.device} at {worker.place} sends no frames: silent for {silent:.0f} s"
            log.warning(
                "camera %s: no frame for %.1f s, device_offline raised (event %s)", worker.device, silent, event_id
            )
        else:
            raised_id, worker.offline_id = worker.offline_id, None
            severity, value = Severity.INFO, None
            message = f"{worker.device} at {worker.place} sending frames again"
            log.info("camera %s: frames again, device_offline cleared (event %s)", worker.device, event_id)
        verdict = VisionVerdict(
            EventKind.DEVICE_OFFLINE,
            state,
            severity,
            0.0,
            message,
            value=value,
            unit="s",
            threshold=worker.offline_after_s,
            device=worker.device,
        )
        draft = VisionDraft(
            verdict,
            event_id,
            raised_id,
            pipe.compound,
            pipe.edge,
            worker.device,
            pipe.device.location,
            self.clock.now(),
            None,
            pipe.prefix,
        )
        self._hand_over(worker, draft)

    def _hand_over(self, worker: CameraWorker, draft: VisionDraft) -> None:
        if draft.snapshot is not None and len(draft.snapshot) > SNAPSHOT_MAX_BYTES:
            log.warning(
                "camera %s: snapshot of event %s is %d bytes (> %d): sent without it",
                worker.device,
                draft.id,
                len(draft.snapshot),
                SNAPSHOT_MAX_BYTES,
            )
            draft = dataclasses.replace(draft, snapshot=None)
        try:
            self.drafts.put(draft, timeout=5.0)
        except queue.Full:
            self.dropped += 1
            log.error("camera %s: draft queue full, event %s dropped", worker.device, draft.id)
