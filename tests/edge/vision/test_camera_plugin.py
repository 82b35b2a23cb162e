"""Tests of camera-type plugins: a new camera type defined here, loaded by ``compound --plugin``, runs on an edge.

This module is itself the plugin: importing it registers ``gate_camera`` (a fire-access gate: any vehicle
standing in the gateway blocks it), with its own options block in vision.yaml and its own rule. Nothing
outside this file knows the type.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from compound.config import Compound
from compound.wire import EventKind, EventState, Severity
from edge.vision import CameraKind, CameraSetup, VisionVerdict, register_camera_kind
from edge.vision.tracker import Track
from tests.edge.support import ROOT, Collector, wait_for
from tests.servers import MosquittoServer

PLUGIN = __name__
GATE_CAM = "b2-gate-cam"


class GateOptions(BaseModel):
    """The ``gate:`` block of a gate camera in vision.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vehicle: str = Field(default="car", description="Detector class that blocks the gateway.")
    min_score: float = Field(default=0.5, gt=0, lt=1, description="Score a sighting needs.")
    clear_after_s: float = Field(default=3.0, gt=0, le=600, description="Clear after no vehicle for this long.")


@dataclass
class VehicleInGatewayRule:
    """Raise as soon as a vehicle is seen in the gateway; clear once none has been seen for ``clear_after_s``."""

    options: GateOptions
    active: bool = False
    _last_seen: float = -1e18

    def _vehicles(self, tracks: list[Track]) -> list[Track]:
        o = self.options
        return [
            tr
            for tr in tracks
            if tr.misses == 0 and tr.last_detection is not None
            and tr.last_detection.cls == o.vehicle and tr.last_detection.score >= o.min_score
        ]  # fmt: skip

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Raise on a sighting, clear after the gap."""
        seen = self._vehicles(tracks) if detected else []
        if seen:
            self._last_seen = t
        if seen and not self.active:
            self.active = True
            dets = tuple(tr.last_detection for tr in seen if tr.last_detection is not None)
            kind, state = EventKind.FIRE_LANE_BLOCKED, EventState.RAISED
            return [VisionVerdict(kind, state, Severity.WARNING, t, "Vehicle in the fire-access gateway", dets)]
        if self.active and t - self._last_seen >= self.options.clear_after_s:
            self.active = False
            kind, state = EventKind.FIRE_LANE_BLOCKED, EventState.CLEARED
            return [VisionVerdict(kind, state, Severity.WARNING, t, "Gateway free again")]
        return []

    def restore(self, kind: EventKind) -> bool:
        """Re-arm an open blocked-gateway condition after a restart."""
        if kind is not EventKind.FIRE_LANE_BLOCKED:
            return False
        self.active, self._last_seen = True, 0.0
        return True


def _gate_rule(setup: CameraSetup[GateOptions]) -> VehicleInGatewayRule:
    return VehicleInGatewayRule(setup.options)


register_camera_kind(CameraKind("gate_camera", "gate", GateOptions, _gate_rule))


def _config_with_gate_camera(tmp_path: Path) -> Path:
    """A copy of configs/ with a gate camera on edge b2, playing a car that stops in view and drives off."""
    config = tmp_path / "configs"
    config.mkdir()
    for src in (ROOT / "configs").glob("*.yaml"):
        (config / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    devices = yaml.safe_load((config / "devices.yaml").read_text(encoding="utf-8"))
    devices["devices"].append(
        {
            "id": GATE_CAM,
            "type": "gate_camera",
            "location": {"building": "b2", "place": "gate-east"},
            "source": "sim:fire-lane-brief-stop",  # a car from 3 s to ~37 s
        }
    )
    (config / "devices.yaml").write_text(yaml.safe_dump(devices, sort_keys=False), encoding="utf-8")
    vision = yaml.safe_load((config / "vision.yaml").read_text(encoding="utf-8"))
    vision["cameras"].append(
        {"device": GATE_CAM, "fps": 5, "gate": {"vehicle": "car", "min_score": 0.5, "clear_after_s": 8}}
    )
    (config / "vision.yaml").write_text(yaml.safe_dump(vision, sort_keys=False), encoding="utf-8")
    return config


def _compound(*args: str, plugins: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COMPOUND_PLUGINS"}
    if plugins is not None:
        env["COMPOUND_PLUGINS"] = plugins
    return subprocess.run(
        [sys.executable, "-m", "compound.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_check_config_knows_plugin_camera_types(tmp_path: Path) -> None:
    """Test that check-config refuses a camera type no plugin registers, and accepts it with the plugin loaded."""
    config = _config_with_gate_camera(tmp_path)
    without = _compound("check-config", str(config))
    assert without.returncode == 1, without.stdout + without.stderr
    assert "gate_camera" in without.stderr and GATE_CAM in without.stderr and "Traceback" not in without.stderr
    with_env = _compound("check-config", str(config), plugins=PLUGIN)
    assert with_env.returncode == 0, with_env.stderr
    assert "1 gate_camera" in with_env.stdout
    missing = _compound("--plugin", "no_such_plugin_module", "check-config", str(config))
    assert missing.returncode == 2 and "no_such_plugin_module" in missing.stderr, missing.stderr


@pytest.mark.broker
def test_plugin_camera_type_runs_on_compound_edge(
    compound: Compound, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Test that `compound --plugin MODULE edge --cameras` runs a camera type defined only in MODULE, end to end."""
    config = _config_with_gate_camera(tmp_path)
    prefix = f"{compound.prefix}/v1/{compound.id}/b2/"
    sub = Collector(mosquitto.port, prefix + "event/#", "gate-plugin-sub", filter_prefix=(prefix,))
    sub.start()
    try:
        proc = _compound(
            "--plugin", PLUGIN, "edge", "--edge", "b2", "--cameras", "--config", str(config),
            "--camera", "b2-u1-lift1-cam=off", "--camera", "b2-fire-lane-cam=off",
            "--speed", "10", "--duration", "55", "--reading-interval", "0",
            "--data-dir", str(tmp_path / "data"), "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]

        def gate_events() -> list[tuple[EventKind, EventState]]:
            return [(e.kind, e.state) for e in sub.events() if e.device == GATE_CAM]

        wait_for(lambda: len(gate_events()) >= 2, 15, "the gate camera's raise and clear")
        assert gate_events() == [
            (EventKind.FIRE_LANE_BLOCKED, EventState.RAISED),
            (EventKind.FIRE_LANE_BLOCKED, EventState.CLEARED),
        ]
        raised = next(e for e in sub.events() if e.device == GATE_CAM and e.state is EventState.RAISED)
        assert raised.evidence is not None and any(d.cls == "car" for d in raised.evidence.detections)
        assert raised.evidence.snapshot == raised.id
    finally:
        sub.stop()
