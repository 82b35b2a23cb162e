"""Shadow mode: a candidate detector runs beside the live one on the same frames; its verdicts are recorded,
never acted on.

``ShadowRunner`` owns the candidate's detector, its own tracker and its own copy of the camera's rule built
**without an actuator** (a shadow lift rule has no lift to hold) and its verdicts never become events: the
runner only compares. The live pipeline calls ``observe`` after each frame with its motion-gate decision (the
candidate runs on exactly the frames the live detector runs on) and the live drafts. An *episode* opens
at the first raise of either rule and closes when both are quiet again; each closed episode becomes one
``compound.wire.ShadowReport``: did the live rule raise (acted on), would the candidate's have (not acted
on), and the detections behind each. Reports wait in ``reports`` for the agent to publish them on
``<prefix>/v1/<compound>/<edge>/shadow/<camera>``. Cameras whose rule reads the frames itself (a façade
camera's ``FrameRule``, no detector) get no shadow.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from compound import wire
from compound.frames import Frame
from compound.wire import EventState, ShadowReport
from edge.vision.detector import Detection, Detector
from edge.vision.motion import ForegroundMap
from edge.vision.rules import VisionRule, VisionVerdict
from edge.vision.tracker import SortTracker

__all__ = ["REPORTS_MAX", "ShadowRunner", "model_label"]

log = logging.getLogger(__name__)

REPORTS_MAX = 256
"""Reports waiting for the agent; beyond that the oldest are dropped (counted in ``dropped``)."""

TOP_DETECTIONS = 8
"""Detections kept per model in a report (highest score first)."""


def model_label(path: Path | str, sha256: str | None = None) -> str:
    """How a model is named in reports: its file name and, when known, the first 12 hex of its SHA-256."""
    name = Path(path).name
    return f"{name} {sha256[:12]}" if sha256 else name


@dataclass
class _Episode:
    at: datetime
    kind: wire.EventKind
    live_raised: bool = False
    shadow_raised: bool = False
    live: tuple[Detection, ...] = ()
    shadow: tuple[Detection, ...] = ()


@dataclass
class ShadowRunner:
    """The candidate model of one camera, run on the live pipeline's frames; compares, never acts."""

    detector: Detector
    rule: VisionRule
    """The camera's rule, built with no actuator."""
    live_model: str
    shadow_model: str
    tracker: SortTracker = field(default_factory=SortTracker)
    reports: deque[ShadowReport] = field(default_factory=lambda: deque(maxlen=REPORTS_MAX))
    dropped: int = 0
    detector_runs: int = 0
    raised: int = 0
    """Times the candidate's rule raised (none of them acted on)."""
    _episode: _Episode | None = None
    _last: list[Detection] = field(default_factory=list)

    def observe(
        self,
        frame: Frame,
        run: bool,
        foreground: ForegroundMap | None,
        live_rule: VisionRule,
        live_verdicts: list[VisionVerdict],
        live_detections: list[Detection],
        *,
        compound: str,
        edge: str,
        device: str,
    ) -> ShadowReport | None:
        """Run the candidate on ``frame`` (when the live detector ran on it) and update the episode; the report
        of an episode that just closed, if any."""
        if run:
            self._last = self.detector.detect(frame.image)
            self.detector_runs += 1
            tracks = self.tracker.update(self._last, frame.t, foreground)
        else:
            tracks = list(self.tracker.tracks)
        shadow_verdicts = self.rule.update(tracks, frame.t, run)  # never turned into events: compared only
        for verdict in live_verdicts:
            if verdict.state is EventState.RAISED:
                ep = self._open(frame, verdict.kind)
                ep.live_raised = True
                ep.live = _top(verdict.detections or tuple(live_detections))
                if not ep.shadow:
                    ep.shadow = _top(tuple(self._last))
        for verdict in shadow_verdicts:
            if verdict.state is EventState.RAISED:
                self.raised += 1
                ep = self._open(frame, verdict.kind)
                ep.shadow_raised = True
                ep.shadow = _top(verdict.detections or tuple(self._last))
                if not ep.live:
                    ep.live = _top(tuple(live_detections))
                log.info(
                    "camera %s: shadow model %s would raise %s (not acted on)",
                    device,
                    self.shadow_model,
                    verdict.kind.value,
                )
        if self._episode is not None and not live_rule.active and not self.rule.active:
            return self._close(frame.at, compound=compound, edge=edge, device=device)
        return None

    def flush(self, at: datetime, *, compound: str, edge: str, device: str) -> ShadowReport | None:
        """Close an open episode (the camera stops): its report, if one was open."""
        if self._episode is None:
            return None
        return self._close(at, compound=compound, edge=edge, device=device)

    def _open(self, frame: Frame, kind: wire.EventKind) -> _Episode:
        if self._episode is None:
            self._episode = _Episode(frame.at, kind)
        return self._episode

    def _close(self, at: datetime, *, compound: str, edge: str, device: str) -> ShadowReport:
        ep, self._episode = self._episode, None
        assert ep is not None
        report = ShadowReport(
            id=wire.new_event_id(),
            compound=compound,
            edge=edge,
            device=device,
            kind=ep.kind,
            at=ep.at,
            until=max(at, ep.at),
            live_raised=ep.live_raised,
            shadow_raised=ep.shadow_raised,
            live_model=self.live_model[:128],
            shadow_model=self.shadow_model[:128],
            live_detections=tuple(_wire(d) for d in ep.live),
            shadow_detections=tuple(_wire(d) for d in ep.shadow),
        )
        if len(self.reports) == self.reports.maxlen:
            self.dropped += 1
        self.reports.append(report)
        log.info(
            "camera %s: shadow episode closed: live %s, shadow %s",
            device,
            "raised" if ep.live_raised else "quiet",
            "raised" if ep.shadow_raised else "quiet",
        )
        return report


def _top(dets: tuple[Detection, ...]) -> tuple[Detection, ...]:
    return tuple(sorted(dets, key=lambda d: -d.score)[:TOP_DETECTIONS])


def _wire(d: Detection) -> wire.Detection:
    return wire.Detection(
        cls=d.cls,
        score=round(min(max(d.score, 0.0), 1.0), 4),
        box=(round(d.box[0], 4), round(d.box[1], 4), round(d.box[2], 4), round(d.box[3], 4)),
    )
