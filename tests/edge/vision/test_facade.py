"""The façade camera (高空抛物): configuration, the fall detector's physics, the issue's thresholds on held-out
simulated clips, and real photographs (as a still scene, and as the background of simulated throws)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.facade_eval import CAMERA, evaluate, facade_pipeline
from compound.config import Compound
from compound.frames import Frame
from compound.wire import MAX_SNAPSHOT_BYTES, EventKind, EventState
from edge.vision import load_vision_config
from edge.vision.config import CameraConfig
from edge.vision.falling import FacadeGrid, FallDetector
from edge.vision.pipeline import VisionDraft
from edge.vision.types.facade import FACADE, FacadeRuleConfig, clip_frames
from simulators.camera.facade import FACADE_SCENARIOS, FacadeCamera, FacadeGeometry, FacadeScenario, Throw
from tests.edge.support import ROOT

START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def play(sc: FacadeScenario, compound: Compound) -> list[VisionDraft]:
    """Every draft the façade camera's pipeline (built from configs/) makes over the clip."""
    pipe = facade_pipeline(compound)
    out: list[VisionDraft] = []
    for i, t in enumerate(sc.times()):
        out += pipe.process(Frame(sc.frame(t).image, t, START + timedelta(seconds=t), i))
    return out


def real_photo(name: str) -> NDArray[np.uint8]:
    """A real photograph shipped with scikit-image, as a BGR frame."""
    data = pytest.importorskip("skimage.data")
    img = np.asarray(getattr(data, name)(), np.uint8)
    return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_RGB2BGR), np.uint8)


def test_configured_grid_is_where_the_simulated_camera_sees_the_windows() -> None:
    """Test that vision.yaml's façade grid corners are the simulated b1 camera's (as an installer measures them)."""
    vision = load_vision_config(ROOT / "configs" / "vision.yaml")
    cam = next(c for c in vision.cameras if c.device == CAMERA)
    options = cam.options_for(FACADE)
    geo = FacadeGeometry()
    seen = [(u / geo.width, v / geo.height) for u, v in FacadeCamera(geo).grid_corners()]
    assert np.allclose(np.array(options.grid), np.array(seen), atol=0.002)
    assert (options.floors, options.columns) == (geo.floors, geo.columns)
    assert options.flat(12, 0) == ("u1", "1201") and options.flat(12, 7) == ("u2", "1204")


def test_bad_facade_options_are_refused_with_the_reason() -> None:
    """Test that a grid given in the wrong order, a corner outside the frame or an unknown key is a clear error."""
    with pytest.raises(ValueError, match="bottom-left, bottom-right, top-right, top-left"):
        FacadeRuleConfig(grid=[(0.2, 0.04), (0.8, 0.04), (0.96, 0.94), (0.04, 0.94)])
    with pytest.raises(ValueError, match="outside the frame"):
        FacadeRuleConfig(grid=[(0.0, 1.2), (1.0, 0.94), (0.78, 0.04), (0.22, 0.04)])
    with pytest.raises(ValueError, match=r"facade\.windows: Extra inputs"):
        CameraConfig.model_validate({"device": CAMERA, "facade": {"windows": 3}})


def _grid(geo: FacadeGeometry) -> FacadeGrid:
    return FacadeGrid(
        geo.floors, geo.columns, tuple((u / geo.width, v / geo.height) for u, v in FacadeCamera(geo).grid_corners())
    )


def _clip(geo: FacadeGeometry, ts: list[float], positions: NDArray[np.float64]) -> list[NDArray[np.uint8]]:
    """Frames of a plain façade with a dark blob at each projected world position (None-free)."""
    cam = FacadeCamera(geo)
    rng = np.random.default_rng(5)
    base = np.full((geo.height, geo.width, 3), 180, np.uint8)
    frames = []
    for p in positions:
        img = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
        u, v = cam.project(p)[0]
        if p[1] > 0:
            cv2.circle(img, (round(u), round(v)), 3, (30, 30, 30), -1)
        frames.append(img)
    return frames


@pytest.mark.slow
def test_a_body_falling_under_gravity_is_confirmed_and_traced_to_its_window() -> None:
    """Test that a dropped object is confirmed with about g of acceleration and traced back to its window."""
    geo = FacadeGeometry()
    throw = Throw(2.0, 14, 5, (20.0, 40.5, 0.3), (0.3, 0.5, 0.8), 0.3, 0.0, (30, 30, 30), "medium")
    ts = [i / 15 for i in range(90)]
    frames = _clip(geo, ts, throw.positions(np.maximum(np.array(ts), 2.0)))
    det = FallDetector(_grid(geo))
    found = [p for t, im in zip(ts, frames, strict=True) for p in det.feed(im, t)]
    assert len(found) == 1
    path = found[0]
    assert 0.8 * 9.81 <= path.acceleration <= 1.2 * 9.81
    assert (path.origin.floor, path.origin.column) == (14, 5)
    assert abs(path.origin.t - 2.0) < 0.3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("what", "velocity"),
    [("a constant-speed fall (rain, a leaf at terminal speed)", -6.0), ("a slow descent (a cradle)", -0.3)],
)
def test_paths_that_do_not_accelerate_are_not_falls(what: str, velocity: float) -> None:
    """Test that paths going down at a constant speed (no gravity in them) are never confirmed."""
    geo = FacadeGeometry()
    ts = [i / 15 for i in range(90)]
    positions = np.array([[12.0, max(-1.0, 45.0 + velocity * max(t - 2.0, 0.0)), 1.0] for t in ts])
    det = FallDetector(_grid(geo))
    found = [p for t, im in zip(ts, _clip(geo, ts, positions), strict=True) for p in det.feed(im, t)]
    assert found == [], what


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_thresholds_on_held_out_clips() -> None:
    """Test the issue's thresholds on held-out clips (seeds never used while tuning): detection >= 95 %, origin floor
    exact >= 90 % and within one floor in all, no false alarm in them nor in 30 s of dense distractors (together
    about 0.1 camera-day: a rate of 1 a day allows none). About 1 000 frames, 40 s of CPU."""
    fig = evaluate(3, 1, throw_seed0=700_000, distractor_seed0=800_000, distractor_s=30.0)
    s = fig.summary()
    assert s["throw_clips"] == 3 and s["distractor_clips"] == 1
    assert s["detection_pct"] >= 95, s["misses"]
    assert s["floor_exact_pct"] >= 90 and s["floor_within_one_pct"] == 100, s["misses"]
    assert s["extra_alarms_in_throw_clips"] == 0 and s["false_alarms"] == 0, s["misses"]
    assert fig.camera_days > 0.05


@pytest.mark.slow
def test_alarm_carries_flat_trajectory_still_and_clip(compound: Compound) -> None:
    """Test that a throw raises thrown_object once, located at the window's flat, with a JPEG still and a clip."""
    sc = FACADE_SCENARIOS["facade-throw"](700_001, "heldout")
    truth = sc.throws[0]
    drafts = play(sc, compound)
    raised = [d for d in drafts if d.verdict.state is EventState.RAISED]
    assert len(raised) == 1 and raised[0].verdict.kind is EventKind.THROWN_OBJECT
    unit, flat = FacadeRuleConfig().flat(truth.floor, truth.column)
    loc = raised[0].event(1).location
    assert (loc.building, loc.unit, loc.floor, loc.flat) == ("b1", unit, truth.floor, flat)
    evidence = raised[0].snapshot
    assert evidence is not None and len(evidence) <= MAX_SNAPSHOT_BYTES
    frames = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in clip_frames(evidence)]
    assert len(frames) >= 6
    assert frames[0] is not None and frames[1] is not None and all(f is not None for f in frames)
    assert frames[0].shape[:2] == (sc.h, sc.w) and frames[1].shape[1] == FacadeRuleConfig().clip_width
    # What a plain JPEG reader sees is the still, with the drawn path (red) on it.
    still = cv2.imdecode(np.frombuffer(evidence, np.uint8), cv2.IMREAD_COLOR)
    assert still is not None
    red = still[:, :, 2].astype(int) - np.maximum(still[:, :, 1], still[:, :, 0]) > 70  # no wall or window is so red
    assert np.count_nonzero(red) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rocket", "astronaut", "coffee", "brick"])
def test_a_still_real_photograph_never_raises(compound: Compound, name: str) -> None:
    """Test that a real photograph (scikit-image's samples, not made by us) with sensor noise, 8 s, raises nothing."""
    photo = cv2.resize(real_photo(name), (540, 720))
    rng = np.random.default_rng(3)
    pipe = facade_pipeline(compound)
    drafts = []
    for i in range(120):
        img = np.clip(photo + rng.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
        drafts += pipe.process(Frame(img, i / 15, START + timedelta(seconds=i / 15), i))
    assert drafts == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", [700_010, 700_011, 700_012])
def test_a_throw_in_front_of_a_real_photograph_is_detected(compound: Compound, seed: int) -> None:
    """Test that simulated throws drawn over a real photograph (the rocket's launch tower) are detected and
    traced to the window grid's floor they left."""
    base = FACADE_SCENARIOS["facade-throw"](seed, "heldout")
    sc = FacadeScenario("facade-on-photo", seed, 12.0, base.geo, False, base.throws, backdrop=real_photo("rocket"))
    truth = sc.throws[0]
    raised = [d for d in play(sc, compound) if d.verdict.state is EventState.RAISED]
    assert len(raised) == 1
    assert raised[0].event(1).location.floor == truth.floor
