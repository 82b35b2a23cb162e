"""One camera's vision pipeline: frames -> motion gate -> detector -> tracker -> rule -> event drafts.

``CameraPipeline.process(frame)`` returns ``VisionDraft``s. A draft becomes a wire ``Event`` once
the edge's outbox gives it a ``seq`` (``draft.event(seq)``), exactly like the sensor rule engine's
drafts; its JPEG ``snapshot`` travels on ``draft.snapshot_topic``
(``<prefix>/v1/<compound>/<edge>/snapshot/<event id>``) and the event's evidence names that id. The clean
frame (no boxes drawn: what a training set needs) follows as the snapshot ``<event id>-frame``. A pipeline with
a ``shadow`` (``edge.vision.shadow.ShadowRunner``) runs a candidate model on the same frames and records its
verdicts for comparison; they never become events and never command the actuator.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from compound import wire
from compound.frames import Frame, FrameSource
from compound.wire import Event, EventKind, EventState, Evidence, Location, MessageType
from edge.engine import OpenCondition, draft_event
from edge.vision.detector import Detection, Detector
from edge.vision.motion import MotionGate
from edge.vision.rules import FrameRule, VisionRule, VisionVerdict
from edge.vision.shadow import ShadowRunner
from edge.vision.snapshot import render_snapshot
from edge.vision.tracker import SortTracker, Track

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraDevice:
    """The camera a pipeline serves: device id, what it watches, where it is."""

    id: str
    kind: str
    """The camera type's name (``lift``, ``fire_lane``; see ``edge/vision/camera_types.py``)."""
    location: Location


@dataclass(frozen=True, slots=True)
class VisionDraft:
    """An event waiting for its ``seq``, with the JPEG evidence that goes with it."""

    verdict: VisionVerdict
    id: str
    raised_id: str | None
    compound: str
    edge: str
    device: str
    location: Location
    at: datetime
    snapshot: bytes | None
    prefix: str = wire.DEFAULT_PREFIX
    frame: bytes | None = None
    """The raised frame as a JPEG with nothing drawn on it (marked alarms become training pictures)."""

    def event(self, seq: int) -> Event:
        """The wire Event with its sequence number."""
        v = self.verdict
        dets = tuple(
            wire.Detection(
                cls=d.cls,
                score=round(min(max(d.score, 0.0), 1.0), 4),
                box=(round(d.box[0], 4), round(d.box[1], 4), round(d.box[2], 4), round(d.box[3], 4)),
                track_id=tid,
            )
            for d, tid in zip(v.detections, v.track_ids or (None,) * len(v.detections), strict=False)
        )
        evidence = Evidence(detections=dets[:64], snapshot=self.id if self.snapshot else None)
        return draft_event(
            self, seq, device=self.device, at=self.at, evidence=evidence if (dets or self.snapshot) else None
        )

    @property
    def condition(self) -> OpenCondition | None:
        """The open condition after this event (None once cleared), as the agent's backlog expects."""
        if self.verdict.state is EventState.CLEARED:
            return None
        return OpenCondition(self.device, self.verdict.kind, self.raised_id or self.id, self.verdict.severity)

    @property
    def event_topic(self) -> str:
        """Topic of the event."""
        return wire.topic(self.compound, self.edge, MessageType.EVENT, self.device, prefix=self.prefix)

    @property
    def snapshot_topic(self) -> str:
        """Topic the JPEG snapshot is published on (its last segment is the event id)."""
        return wire.topic(self.compound, self.edge, MessageType.SNAPSHOT, self.id, prefix=self.prefix)

    @property
    def frame_topic(self) -> str:
        """Topic of the clean frame: the snapshot topic of ``<event id>-frame``."""
        return wire.topic(self.compound, self.edge, MessageType.SNAPSHOT, f"{self.id}-frame", prefix=self.prefix)


@dataclass
class PipelineStats:
    """Counters of one pipeline."""

    frames: int = 0
    detector_runs: int = 0
    drafts: int = 0
    last_detections: list[Detection] = field(default_factory=list)


class CameraPipeline:
    """Turn one camera's frames into event drafts (the rule commands any local actuator on the way)."""

    def __init__(
        self,
        device: CameraDevice,
        detector: Detector,
        rule: VisionRule,
        *,
        compound: str,
        edge: str,
        prefix: str = wire.DEFAULT_PREFIX,
        gate: MotionGate | None = None,
        tracker: SortTracker | None = None,
        shadow: ShadowRunner | None = None,
    ) -> None:
        self.device = device
        self.detector = detector
        self.rule = rule
        self.compound, self.edge, self.prefix = compound, edge, prefix
        self.gate = gate or MotionGate()
        self.tracker = tracker or SortTracker()
        self.stats = PipelineStats()
        self.shadow = shadow
        """A candidate model run on the same frames, compared and never acted on (``shadow_model:``)."""
        self._raised: dict[EventKind, str] = {}

    def process(self, frame: Frame) -> list[VisionDraft]:
        """Run one frame through the pipeline; return the drafts it produced (usually none)."""
        self.stats.frames += 1
        if isinstance(self.rule, FrameRule):  # the rule reads the frames itself (edge/vision/types/facade.py)
            drafts = [self._draft(v, frame) for v in self.rule.see(frame.image, frame.t)]
            self.stats.drafts += len(drafts)
            return drafts
        decision = self.gate.check(frame.image, frame.t)
        tracks: list[Track]
        if decision.run:
            dets = self.detector.detect(frame.image)
            self.stats.detector_runs += 1
            self.stats.last_detections = dets
            tracks = self.tracker.update(dets, frame.t, decision.foreground)  # sightings carry the pixel evidence
        else:
            tracks = list(self.tracker.tracks)
        verdicts = self.rule.update(tracks, frame.t, decision.run)
        drafts = [self._draft(v, frame) for v in verdicts]
        self.stats.drafts += len(drafts)
        if self.shadow is not None:
            self.shadow.observe(
                frame,
                decision.run,
                decision.foreground,
                self.rule,
                verdicts,
                self.stats.last_detections,
                compound=self.compound,
                edge=self.edge,
                device=self.device.id,
            )
        return drafts

    def restore(self, condition: OpenCondition) -> bool:
        """Re-arm a condition of this camera raised before a restart, so it clears with its original id."""
        if condition.device != self.device.id or not self.rule.restore(condition.kind):
            return False
        self._raised[condition.kind] = condition.raised_id
        return True

    def _draft(self, verdict: VisionVerdict, frame: Frame) -> VisionDraft:
        verdict = dataclasses.replace(verdict, device=self.device.id)
        event_id = wire.new_event_id()
        raised_id = None
        snapshot = clean = None
        if verdict.snapshot is not None and verdict.state is not EventState.CLEARED:  # the rule drew its own evidence
            if verdict.state is EventState.RAISED:
                self._raised[verdict.kind] = event_id
            else:
                raised_id = self._raised.get(verdict.kind)
            snapshot = verdict.snapshot
        elif verdict.state is EventState.RAISED:
            self._raised[verdict.kind] = event_id
            snapshot = render_snapshot(frame.image, self.stats.last_detections, highlight=verdict.detections)
            clean = render_snapshot(frame.image, ())
        else:
            raised_id = self._raised.pop(verdict.kind, None)
        log.info(
            "camera %s: %s %s at t=%.1fs (event %s)",
            self.device.id,
            verdict.kind.value,
            verdict.state.value,
            verdict.t,
            event_id,
        )
        return VisionDraft(
            verdict,
            event_id,
            raised_id,
            self.compound,
            self.edge,
            self.device.id,
            verdict.location or self.device.location,
            frame.at,
            snapshot,
            self.prefix,
            clean,
        )

    def run(self, source: FrameSource, max_frames: int | None = None) -> Iterator[tuple[Frame, list[VisionDraft]]]:
        """Read ``source`` to its end (or ``max_frames``), yielding each frame with its drafts."""
        n = 0
        while max_frames is None or n < max_frames:
            frame = source.read()
            if frame is None:
                return
            n += 1
            yield frame, self.process(frame)
