"""The edge agent and the learning loop: it runs the model promoted into its data directory (from its start), and
the shadow model's reports leave through the outbox on ``.../shadow/<camera>`` like any other message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import onnx
import pytest

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from compound.modelstore import ModelStore
from edge.agent import AgentOptions, EdgeAgent
from edge.outbox import Lane
from edge.vision import DEFAULT_MODEL, OnnxDetector
from edge.vision.shadow import ShadowRunner
from edge.vision.types.lift import EbikeInLiftRule

ROOT = Path(__file__).resolve().parents[3]
LIFT_CAM = "b2-u1-lift1-cam"
LANE_CAM = "b2-fire-lane-cam"
START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def agent_with_cameras(compound: Compound, data_dir: Path) -> EdgeAgent:
    options = AgentOptions(
        reading_interval_s=0, cameras=True, camera_sources=((LIFT_CAM, "sim:lift-ebike"), (LANE_CAM, "off"))
    )
    return EdgeAgent(compound, "b2", [], ManualClock(START), host="127.0.0.1", port=1, data_dir=data_dir,
                     options=options)  # fmt: skip


def lift_detector(agent: EdgeAgent) -> OnnxDetector:
    assert agent.cameras is not None
    (worker,) = agent.cameras.workers
    detector = worker.pipeline.detector
    assert isinstance(detector, OnnxDetector)
    return detector


def test_the_agent_runs_the_model_promoted_into_its_data_dir(compound: Compound, tmp_path: Path) -> None:
    """Test that an agent started with nothing promoted runs vision.yaml's model, and one started after
    ``promote`` runs the promoted version's file from ``<data-dir>/models``; after a rollback, vision.yaml's again."""
    first = agent_with_cameras(compound, tmp_path / "a")
    try:
        assert lift_detector(first).path.resolve() == DEFAULT_MODEL.resolve()
    finally:
        first.outbox.close()
    model = onnx.load(str(DEFAULT_MODEL))
    entry = model.metadata_props.add()
    entry.key, entry.value = "note", "fine-tuned"
    onnx.save(model, str(tmp_path / "candidate.onnx"))
    store = ModelStore.of_data_dir(tmp_path / "b")
    store.promote(tmp_path / "candidate.onnx", by="test")
    second = agent_with_cameras(compound, tmp_path / "b")
    try:
        assert lift_detector(second).path == tmp_path / "b" / "models" / "compound_det-v1.onnx"
    finally:
        second.outbox.close()
    store.rollback(by="test")
    third = agent_with_cameras(compound, tmp_path / "b")
    try:
        assert lift_detector(third).path.resolve() == DEFAULT_MODEL.resolve()
    finally:
        third.outbox.close()


def test_shadow_reports_leave_through_the_outbox(compound: Compound, tmp_path: Path) -> None:
    """Test that a shadow report waiting in a camera's runner is stored in the outbox on its shadow topic at the
    agent's next step, as a valid ``ShadowReport`` (no event, no seq consumed)."""
    agent = agent_with_cameras(compound, tmp_path)
    try:
        assert agent.cameras is not None
        (worker,) = agent.cameras.workers
        runner = ShadowRunner(worker.pipeline.detector, EbikeInLiftRule(None), "live.onnx", "candidate.onnx")
        worker.pipeline.shadow = runner
        report = wire.ShadowReport(
            id=wire.new_event_id(), compound=compound.id, edge="b2", device=LIFT_CAM,
            kind=wire.EventKind.EBIKE_IN_LIFT, at=START, until=START + timedelta(seconds=30), live_raised=False,
            shadow_raised=True, live_model="live.onnx", shadow_model="candidate.onnx",
        )  # fmt: skip
        runner.reports.append(report)
        agent.step(START)
        rows = agent.outbox.pending(Lane.EVENT)
        shadow_topic = wire.topic(compound.id, "b2", wire.MessageType.SHADOW, LIFT_CAM, prefix=compound.prefix)
        assert [r.topic for r in rows] == [shadow_topic]
        assert wire.parse(wire.MessageType.SHADOW, rows[0].payload) == report
        assert not runner.reports and not agent.backlog
    finally:
        agent.outbox.close()


@pytest.mark.slow  # a whole `compound edge` process: ~15 s on a loaded machine
def test_a_missing_shadow_model_stops_the_edge_with_its_path(tmp_path: Path) -> None:
    """Test that ``compound edge --cameras`` with a shadow_model file that is not there exits 2 naming it."""
    config = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", config)
    with (config / "vision.yaml").open("a", encoding="utf-8") as f:
        f.write(f"\nshadow_model: {{path: {tmp_path / 'candidate.onnx'}}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "compound.cli", "edge", "--edge", "b2", "--cameras", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--broker", "127.0.0.1:1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "candidate.onnx: model file does not exist" in proc.stderr and "Traceback" not in proc.stderr
