"""The ``sim:<scene>[:<seed>]`` camera source: a rendered camera scenario behind the shared frame interface."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from compound.frames import Frame, SourceError
from simulators.camera.facade import FACADE_SCENARIOS, FacadeScenario
from simulators.camera.scenarios import CameraScenario, build

__all__ = ["EPOCH", "SimulatedCamera", "open_sim_camera"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SimulatedCamera:
    """Frames of a simulator scenario at its fps (as fast as read, or paced in real time).

    A ``compound.frames.RenderedSource`` too: ``frame_at(t)`` renders any moment on demand, so a reader
    paced by a clock renders only the frames that are due.
    """

    def __init__(
        self,
        scenario: CameraScenario | FacadeScenario,
        *,
        start: datetime = EPOCH,
        realtime: bool = False,
        with_truth: bool = False,
    ) -> None:
        if not isinstance(scenario, CameraScenario | FacadeScenario):
            raise TypeError(f"expected a CameraScenario or FacadeScenario, got {type(scenario).__name__}")
        self.scenario = scenario
        self.name = f"sim:{scenario.name}"
        self.fps = scenario.fps
        self.start = start
        self.realtime = realtime
        self.with_truth = with_truth
        self._index = 0
        self._t0 = time.monotonic()

    def frame_at(self, t: float) -> Frame | None:
        """Render the frame ``t`` seconds into the scenario; None past its duration."""
        if t >= self.scenario.duration_s:
            return None
        rendered = self.scenario.frame(t)
        truth: list[object] = list(rendered.boxes) if self.with_truth else []
        return Frame(rendered.image, t, self.start + timedelta(seconds=t), round(t * self.fps), truth)

    def read(self) -> Frame | None:
        """Render the next frame; None after the scenario's duration."""
        t = self._index / self.fps
        if t >= self.scenario.duration_s:
            return None
        if self.realtime:
            delay = self._t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = self.frame_at(t)
        if frame is not None:
            frame.index = self._index
            self._index += 1
        return frame

    def close(self) -> None:
        """Nothing to release."""


def open_sim_camera(spec: str) -> SimulatedCamera:
    """``SourceFactory`` of ``sim:``: ``<scenario>[:<seed>]``, e.g. ``lift-ebike:3``."""
    name, _, rest = spec.partition(":")
    seed = 0
    if rest:
        if not rest.isdigit():
            raise SourceError(f"sim:{spec}", f"seed {rest!r} must be a non-negative integer")
        seed = int(rest)
    if name in FACADE_SCENARIOS:
        return SimulatedCamera(FACADE_SCENARIOS[name](seed, "heldout"))
    try:
        return SimulatedCamera(build(name, seed))
    except KeyError as exc:
        raise SourceError(f"sim:{spec}", str(exc.args[0])) from None
