"""Safe with an imperfect model (issue 13, item 1): still photographs through the real camera pipelines.

The detector trained on renders only (``models/compound_det_renders_only.onnx``, shipped before the one trained with
real photographs as hard negatives) sees e-bikes, bicycles and vehicles in real photographs that hold none (a
motorcycle, printed text, coins, grass). The lift holds its doors only for an e-bike seen
*entering* (door zone -> car, standing out from the scene), and the fire lane alarms only for an object
that *arrived* and stayed, so a static camera never holds or alarms, whatever the model says; rendered
e-bike entries still hold within a second of the e-bike's first visible frame.

Images, and who made them:

- **Real photographs, not made by us**: the sample photographs scikit-image ships in ``skimage/data``
  (``REAL_PHOTOS``: an astronaut, a cameraman, a cat, coffee, coins, a motorcycle from two viewpoints,
  a rocket, the moon, a retina, a micrograph, a Hubble deep field, brick, grass and gravel textures,
  a scanned page, a photographed sign's text, a clock); plus, where those packages are installed,
  matplotlib's ``grace_hopper.jpg`` and scikit-learn's ``china.jpg`` and ``flower.jpg``. Drawings,
  charts and synthetic test patterns that scikit-image also ships (chessboards, a phantom, a logo, a
  horse silhouette, a colour wheel) are left out: they are not photographs.
- **Our renders** (``simulators.camera``): the empty lift car and fire-lane views the photographs are
  placed into, the people using the lift around a placed photograph, and the e-bike entry clips.

The pipelines are the edge's own: ``build_pipelines`` on ``configs/`` (as ``edge/cameras.py`` builds
them), fed frame after frame at 5 fps with ``CameraPipeline.process``.
"""

from __future__ import annotations

import importlib.util
import statistics
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from compound.config import Compound
from compound.frames import Frame
from edge.vision import CameraPipeline, OnnxDetector, SimulatedLift
from edge.vision.config import VisionFile, build_pipelines
from edge.vision.pipeline import VisionDraft
from edge.vision.types.fire_lane import FIRE_LANE, NEVER_BLOCKING, FireLaneRuleConfig
from edge.vision.types.lift import LIFT, LiftRuleConfig
from simulators.camera import CameraScenario, SimulatedCamera, build

LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"
FPS = 5.0
START = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
STILL_S = 12.0
"""Seconds of a still lift camera: the old rule held on a photographed e-bike within 0.4 s."""
ENTRY_SEEDS = range(200_000, 200_010)
"""Held-out e-bike entry clips (the seeds ``bench/vision.py`` measures)."""

REAL_PHOTOS: dict[str, tuple[str, ...]] = {
    "skimage": (
        "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
        "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
        "motorcycle_left.png", "motorcycle_right.png", "page.png", "retina.jpg", "rocket.jpg", "text.png",
    ),
    "matplotlib": ("grace_hopper.jpg",),
    "sklearn": ("china.jpg", "flower.jpg"),
}  # fmt: skip
"""Real photographs, by the package that ships them (file names under its sample-data folder)."""

BUSIEST = ("skimage/motorcycle_left.png", "skimage/motorcycle_right.png", "skimage/ihc.png", "skimage/text.png",
           "skimage/coins.png", "skimage/grass.png")  # fmt: skip
"""The photos the model scores highest as e-bikes, bicycles and vehicles; placed in the fire-lane render, where the
render's noise keeps the detector running on most frames, only these are played (the slowest case)."""

DATA_DIRS = {"skimage": ("data",), "matplotlib": ("mpl-data", "sample_data"), "sklearn": ("datasets", "images")}


def real_photos() -> dict[str, Path]:
    """The real photographs installed here, by ``package/file`` name (packages are located, not imported)."""
    found: dict[str, Path] = {}
    for package, names in REAL_PHOTOS.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        folder = Path(spec.origin).parent.joinpath(*DATA_DIRS[package])
        found.update({f"{package}/{n}": folder / n for n in names if (folder / n).is_file()})
    return found


PHOTOS = real_photos()
needs_photos = pytest.mark.skipif(
    len(PHOTOS) < 10, reason="needs scikit-image installed: its sample photographs are the real photos here"
)


def load(name: str) -> NDArray[np.uint8]:
    """A photograph as a BGR frame, as a camera would deliver it."""
    image = cv2.imread(str(PHOTOS[name]), cv2.IMREAD_COLOR)
    assert image is not None, name
    return np.ascontiguousarray(image, dtype=np.uint8)


def pipelines(
    compound: Compound, vision: VisionFile, detector: OnnxDetector
) -> tuple[dict[str, CameraPipeline], SimulatedLift]:
    """The edge b2's camera pipelines as configured, the lift camera commanding a ``SimulatedLift``."""
    lift = SimulatedLift()
    pipes = build_pipelines(compound, vision, "b2", actuators={LIFT_CAM: lift}, detector=detector)
    return {p.device.id: p for p in pipes}, lift


def options(vision: VisionFile) -> tuple[LiftRuleConfig, FireLaneRuleConfig]:
    """The configured lift and fire-lane options (min scores, dwell)."""
    cams = {c.device: c for c in vision.cameras}
    return cams[LIFT_CAM].options_for(LIFT), cams[LANE_CAM].options_for(FIRE_LANE)


def frames(images: Iterable[NDArray[np.uint8]]) -> Iterator[Frame]:
    """Camera frames at 5 fps from a sequence of pictures."""
    for i, image in enumerate(images):
        yield Frame(image, i / FPS, START + timedelta(seconds=i / FPS), i)


def still(image: NDArray[np.uint8], seconds: float) -> Iterator[NDArray[np.uint8]]:
    """A static camera: the same picture, frame after frame."""
    for _ in range(int(seconds * FPS)):
        yield image


def feed(pipe: CameraPipeline, images: Iterable[NDArray[np.uint8]]) -> list[VisionDraft]:
    """Every draft the pipeline produces over the pictures."""
    return [d for frame in frames(images) for d in pipe.process(frame)]


def placed(views: Iterable[NDArray[np.uint8]], photo: NDArray[np.uint8]) -> Iterator[NDArray[np.uint8]]:
    """``photo`` standing in the middle of each rendered view: 40 % of its width, its foot at 85 % of its height."""
    fitted: NDArray[np.uint8] | None = None
    for view in views:
        h, w = view.shape[:2]
        if fitted is None:
            scale = min(0.4 * w / photo.shape[1], 0.55 * h / photo.shape[0])
            size = max(1, int(photo.shape[1] * scale)), max(1, int(photo.shape[0] * scale))
            fitted = np.asarray(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), np.uint8)
        ph, pw = fitted.shape[:2]
        x0, y1 = (w - pw) // 2, int(0.85 * h)
        out = view.copy()
        out[y1 - ph : y1, x0 : x0 + pw] = fitted
        yield out


def empty_view(kind: str, seconds: float, seed: int = 100_000) -> Iterator[NDArray[np.uint8]]:
    """``seconds`` of our render of an empty lift car or fire lane (held-out style) at 5 fps, sensor noise and all
    (the noise of its first 5 s, repeated: rendering is the slow part)."""
    scene = CameraScenario(f"{kind}-empty", "lift" if kind == "lift" else "fire_lane", 5.0, [], seed, "heldout")
    loop = [scene.frame(t).image for t in scene.times()]
    for i in range(int(seconds * FPS)):
        yield loop[i % len(loop)]


RENDERS_ONLY_MODEL = Path(__file__).resolve().parents[3] / "models" / "compound_det_renders_only.onnx"
"""The previous shipped detector, trained on renders only (models/MODEL_CARD.md)."""


@pytest.fixture(scope="module")
def imperfect(vision: VisionFile) -> OnnxDetector:
    """The renders-only detector at the configured settings: it misfires on real photographs, which is what the
    tests of the rules need (safe with an imperfect model). The shipped detector, trained with real photographs
    as hard negatives, reports nothing on them at the alarm scores (tests/models/test_photos.py); the rendered
    entries below run with it."""
    return OnnxDetector(RENDERS_ONLY_MODEL, conf=vision.model.conf, iou=vision.model.iou, threads=1)


@needs_photos
def test_the_model_sees_ebikes_and_blockers_in_real_photos(imperfect: OnnxDetector, vision: VisionFile) -> None:
    """Test that the renders-only detector is imperfect here (so the tests below are not empty): on the real
    photographs it reports e-bikes at the lift's alarm score and lane blockers at the fire lane's, in pictures with
    none."""
    lift, lane = options(vision)
    ebike, blocker = set(), set()
    for name in PHOTOS:
        for d in imperfect.detect(load(name)):
            if d.cls == "ebike" and d.score >= lift.min_score:
                ebike.add(name)
            if d.cls not in NEVER_BLOCKING and d.score >= lane.min_score:
                blocker.add(name)
    assert ebike, "no photo scores an e-bike: the still-photo tests below would prove nothing"
    assert len(blocker) >= 3, blocker


@needs_photos
@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_still_photograph_never_holds_the_lift(
    compound: Compound, vision: VisionFile, imperfect: OnnxDetector, name: str
) -> None:
    """Test that a lift camera showing a real photograph, unchanged frame after frame, never holds the doors."""
    pipes, lift = pipelines(compound, vision, imperfect)
    drafts = feed(pipes[LIFT_CAM], still(load(name), STILL_S))
    assert (drafts, lift.commands) == ([], []), name
    assert pipes[LIFT_CAM].stats.detector_runs >= 3, "the still scene was re-checked"


@needs_photos
@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_still_photograph_never_blocks_the_fire_lane(
    compound: Compound, vision: VisionFile, imperfect: OnnxDetector, name: str
) -> None:
    """Test that a fire-lane camera showing a real photograph for longer than the configured dwell never alarms."""
    pipes, _ = pipelines(compound, vision, imperfect)
    assert feed(pipes[LANE_CAM], still(load(name), options(vision)[1].dwell_s + 10.0)) == [], name


PLACED = [("lift", n) for n in sorted(PHOTOS)] + [("fire_lane", n) for n in BUSIEST if n in PHOTOS]


@needs_photos
@pytest.mark.parametrize(("view", "name"), PLACED)
def test_a_photograph_placed_in_the_camera_view_never_raises(
    compound: Compound, vision: VisionFile, imperfect: OnnxDetector, view: str, name: str
) -> None:
    """Test that a real photograph standing in our rendered lift car (every photo) or fire lane (``BUSIEST``), with
    the render's sensor noise around it, neither holds the lift nor blocks the lane: 12 s in the lift, the
    configured dwell + 10 s in the lane."""
    pipes, lift = pipelines(compound, vision, imperfect)
    pipe = pipes[LIFT_CAM if view == "lift" else LANE_CAM]
    seconds = STILL_S if view == "lift" else options(vision)[1].dwell_s + 10.0
    drafts = feed(pipe, placed(empty_view(view, seconds), load(name)))
    assert (drafts, lift.commands) == ([], []), name


@needs_photos
@pytest.mark.parametrize("name", ["skimage/motorcycle_left.png", "skimage/motorcycle_right.png"])
def test_people_using_the_lift_around_a_photographed_motorcycle_never_hold_it(
    compound: Compound, vision: VisionFile, imperfect: OnnxDetector, name: str
) -> None:
    """Test that the photos the model scores highest as e-bikes, standing in the car while people, a trolley and
    a dog come and go (our lift-people render: motion all round the photo), do not hold the lift."""
    pipes, lift = pipelines(compound, vision, imperfect)
    scene = build("lift-people", 100_000, "heldout")
    drafts = feed(pipes[LIFT_CAM], placed((scene.frame(t).image for t in scene.times()), load(name)))
    assert (drafts, lift.commands) == ([], []), name


def test_rendered_entries_hold_within_a_second_of_the_first_visible_frame(
    compound: Compound, vision: VisionFile, detector: OnnxDetector
) -> None:
    """Test that every held-out rendered e-bike entry (our renders) still holds the lift through the same
    pipeline, and the median time from the e-bike's first visible frame to the hold is at most 1 s."""
    latencies = []
    for seed in ENTRY_SEEDS:
        scene = build("lift-ebike", seed, "heldout")
        first = scene.first_visible("ebike")
        assert first is not None
        pipes, lift = pipelines(compound, vision, detector)
        for frame in iter(SimulatedCamera(scene).read, None):
            pipes[LIFT_CAM].process(frame)
            if lift.held:
                break
        hold = lift.first("hold")
        assert hold is not None, f"lift-ebike:{seed} never held"
        latencies.append(hold.t - first)
    assert statistics.median(latencies) <= 1.0, latencies
    assert max(latencies) <= 2.0, latencies
