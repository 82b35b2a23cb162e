"""Tests of camera sources: simulator frames and OpenCV VideoCapture through one interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.vision import SourceError, VideoCaptureSource, open_source
from simulators.camera import SimulatedCamera, build, write_video


def test_rendered_clip_round_trips_through_a_video_file(tmp_path: Path) -> None:
    """Test that a rendered clip written with cv2.VideoWriter reads back through the VideoCapture source."""
    scenario = build("lift-ebike", seed=1)
    path = tmp_path / "clip.avi"
    written = write_video(scenario, path, start=12.0, end=16.0)
    assert written == 20
    source = open_source(str(path))
    assert isinstance(source, VideoCaptureSource)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert len(frames) == written
    assert frames[0].image.shape == (240, 320, 3)
    assert [f.index for f in frames] == list(range(written))
    assert frames[1].t == pytest.approx(1 / 5.0)
    original = scenario.frame(12.0).image.astype(np.float32)
    # MJPEG is lossy: the frame read back is close to the rendered one, not identical
    assert float(np.abs(frames[0].image.astype(np.float32) - original).mean()) < 12.0


def test_sim_source_plays_a_scenario_to_its_end() -> None:
    """Test that 'sim:<scenario>:<seed>' opens a simulated camera that ends with the scenario."""
    source = open_source("sim:lift-pram:3")
    assert isinstance(source, SimulatedCamera)
    n = 0
    while source.read() is not None:
        n += 1
    assert n == int(source.scenario.duration_s * source.fps)


def test_bad_sources_raise_source_error(tmp_path: Path) -> None:
    """Test that unknown scenarios, bad seeds and unopenable files raise SourceError with the source named."""
    with pytest.raises(SourceError, match="unknown camera scenario"):
        open_source("sim:lift-unicorn")
    with pytest.raises(SourceError, match="seed"):
        open_source("sim:lift-ebike:abc")
    with pytest.raises(SourceError, match=r"missing\.avi"):
        open_source(str(tmp_path / "missing.avi"))
