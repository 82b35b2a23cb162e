"""Camera simulators: procedurally rendered lift-car and fire-lane views with exact box labels."""

from simulators.camera.classes import CLASS_ID, CLASS_NAMES, LIFT_HARD_NEGATIVES
from simulators.camera.scenarios import SCENARIOS, Actor, CameraScenario, build
from simulators.camera.scene import (
    FRAME_H,
    FRAME_W,
    Box,
    Placed,
    RenderedFrame,
    Scene,
    SceneKind,
    SceneParams,
    Split,
    sample_params,
)
from simulators.camera.source import SimulatedCamera, open_sim_camera
from simulators.camera.video import write_video

__all__ = [
    "CLASS_ID",
    "CLASS_NAMES",
    "FRAME_H",
    "FRAME_W",
    "LIFT_HARD_NEGATIVES",
    "SCENARIOS",
    "Actor",
    "Box",
    "CameraScenario",
    "Placed",
    "RenderedFrame",
    "Scene",
    "SceneKind",
    "SceneParams",
    "SimulatedCamera",
    "Split",
    "build",
    "open_sim_camera",
    "sample_params",
    "write_video",
]
