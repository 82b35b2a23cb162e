"""Learning from the compound's cameras, hub side: marks on camera alarms (who may, audited, checked input), the
YOLO dataset export (``compound dataset export``), shadow reports stored once and summed per camera, and the
model store's promote / rollback from the API and the CLI (audited, atomic pointer, refused bad models)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import onnx
import pytest
from sqlalchemy import select

from compound import wire
from compound.cli import main
from compound.config import Compound
from compound.modelstore import LIVE_FILE, ModelStore, check_onnx
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import AuditEntry, Database, DeadLetter
from hub.ingest import MessagePipeline
from hub.web import TokenSigner, WebContext, create_app
from hub.web.routes.learning import CANDIDATES_DIR
from tests.hub.helpers import NIGHT, event_topic, make_event
from tests.hub.test_snapshots import LANE_CAM, LIFT_CAM, MANAGER, inbound, jpeg, snapshot_topic
from tests.hub.web.conftest import SECRET, ServedApp, WebHub, web  # noqa: F401  (the web app fixture)

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "compound_det.onnx"
WORKER_B2_U1 = "p-wang-li"  # micro-grid worker of mg-b2-u1: the lift camera's grid
WORKER_B2_U2 = "p-zhou-min"  # micro-grid worker of mg-b2-u2: does not see the lift camera's alarms
SECURITY = "p-guo-peng"  # property security: sees every alarm, answers for no grid


class Hub:
    """The web app with a model store, fed through the real ingest pipeline."""

    def __init__(self, db: Database, compound: Compound, data_dir: Path) -> None:
        self.db, self.compound = db, compound
        changes = AlarmChanges()
        self.pipeline = MessagePipeline(db, compound, changes=changes)
        self.service = AlarmService(db, compound, changes=changes)
        self.signer = TokenSigner(SECRET)
        app = create_app(WebContext(compound=compound, service=self.service, signer=self.signer))
        self.store = ModelStore.of_data_dir(data_dir)
        app.state.models = self.store
        self.served = ServedApp(app).start()
        self.client = httpx.Client(base_url=self.served.url, timeout=20.0)
        self.seq = 0

    def auth(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.issue_for(self.compound, person)}"}

    def camera_alarm(
        self, device: str, kind: wire.EventKind, dets: tuple[wire.Detection, ...], *, frame: bool = True
    ) -> tuple[int, str, bytes]:
        """Raise a camera alarm with its annotated snapshot and (``frame``) its clean frame; (alarm id, event id,
        the clean frame's bytes)."""
        self.seq += 1
        base = make_event(self.compound, device, seq=self.seq, kind=kind, severity="warning", value=0.9)
        event = base.model_copy(
            update={"evidence": wire.Evidence(detections=dets, snapshot=base.id), "unit": None, "threshold": 0.5}
        )
        clean = jpeg(96, 64)
        items = [
            inbound(event_topic(self.compound, event), wire.dump(event)),
            inbound(snapshot_topic(self.compound, event.id), jpeg(64, 48)),
        ]
        if frame:
            items.append(inbound(snapshot_topic(self.compound, f"{event.id}-frame"), clean))
        self.pipeline.process(items)
        open_ = [a for a in self.service.list_alarms(state="open") if a.device == device and a.kind == kind.value]
        assert len(open_) == 1, open_
        return open_[0].id, event.id, clean

    def resolve(self, alarm_id: int) -> None:
        self.service.resolve(alarm_id, MANAGER, "checked")

    def close(self) -> None:
        self.client.close()
        self.served.stop()


@pytest.fixture
def hub(hub_db: Database, compound: Compound, tmp_path: Path) -> Iterator[Hub]:
    h = Hub(hub_db, compound, tmp_path / "data")
    try:
        yield h
    finally:
        h.close()


def compound_cli(*argv: str) -> int:
    """``compound ARGV`` in this process; its exit status."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return int(exited.value.code or 0)


EBIKE = wire.Detection(cls="ebike", score=0.91, box=(0.3, 0.4, 0.6, 0.9), track_id=3)
CAR = wire.Detection(cls="car", score=0.8, box=(0.1, 0.2, 0.5, 0.6), track_id=1)


def audit(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as session:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        session.expunge_all()
        return rows


def test_marks_are_stored_audited_and_only_by_those_responsible(hub: Hub) -> None:
    """Test that a manager and the lift's grid worker may mark a camera alarm (stored against its snapshot event,
    audited), that security (sees it, answers for no grid) is refused 403, a worker of another grid 404, and that
    bad input is refused with what is wrong: a missed mark without boxes, boxes on a false mark, a box outside
    the picture, a sensor alarm (409)."""
    alarm, event_id, _ = hub.camera_alarm(LIFT_CAM, wire.EventKind.EBIKE_IN_LIFT, (EBIKE,))
    url = f"/api/v1/alarms/{alarm}/marks"
    r = hub.client.post(url, json={"verdict": "false"}, headers=hub.auth(MANAGER))
    assert r.status_code == 201, r.text
    assert r.json()["event_id"] == event_id and r.json()["by"] == MANAGER and r.json()["boxes"] == []
    missed = {"verdict": "missed", "boxes": [{"cls": "ebike", "box": [0.1, 0.2, 0.3, 0.5]}]}
    r = hub.client.post(url, json=missed, headers=hub.auth(WORKER_B2_U1))
    assert r.status_code == 201, r.text

    r = hub.client.post(url, json={"verdict": "correct"}, headers=hub.auth(SECURITY))
    assert r.status_code == 403 and "grid" in r.json()["detail"]
    assert hub.client.post(url, json={"verdict": "correct"}, headers=hub.auth(WORKER_B2_U2)).status_code == 404

    bad = [
        ({"verdict": "missed"}, "at least one box"),
        ({"verdict": "false", "boxes": missed["boxes"]}, "takes no boxes"),
        ({"verdict": "missed", "boxes": [{"cls": "ebike", "box": [0.5, 0.2, 1.4, 0.5]}]}, "outside the image"),
        ({"verdict": "missed", "boxes": [{"cls": "ebike", "box": [0.5, 0.2, 0.4, 0.5]}]}, "inverted"),
        ({"verdict": "maybe"}, "verdict"),
    ]
    for body, why in bad:
        r = hub.client.post(url, json=body, headers=hub.auth(MANAGER))
        assert r.status_code == 422 and why in r.text, (body, r.text)

    smoke = make_event(hub.compound, "b1-u1-1502-smoke", seq=99, at=NIGHT)
    hub.pipeline.process([inbound(event_topic(hub.compound, smoke), wire.dump(smoke))])
    sensor = next(a.id for a in hub.service.list_alarms(state="open") if a.device == "b1-u1-1502-smoke")
    r = hub.client.post(f"/api/v1/alarms/{sensor}/marks", json={"verdict": "false"}, headers=hub.auth(MANAGER))
    assert r.status_code == 409 and "not one the detector raised" in r.json()["detail"]

    marks = hub.client.get(url, headers=hub.auth(WORKER_B2_U1)).json()
    assert [(m["verdict"], m["by"]) for m in marks] == [("false", MANAGER), ("missed", WORKER_B2_U1)]
    lines = audit(hub.db, "mark")
    assert [(e.actor, e.target, e.detail) for e in lines] == [
        (MANAGER, f"alarm:{alarm}", "false"),
        (WORKER_B2_U1, f"alarm:{alarm}", "missed 1 box(es)"),
    ]


def test_a_camera_alarm_without_its_snapshot_cannot_be_marked(hub: Hub) -> None:
    """Test that marking waits for the picture: 409 until the snapshot is stored."""
    hub.seq += 1
    base = make_event(hub.compound, LIFT_CAM, seq=hub.seq, kind=wire.EventKind.EBIKE_IN_LIFT, severity="warning")
    hub.pipeline.process([inbound(event_topic(hub.compound, base), wire.dump(base))])
    alarm = next(a.id for a in hub.service.list_alarms(state="open") if a.device == LIFT_CAM)
    r = hub.client.post(f"/api/v1/alarms/{alarm}/marks", json={"verdict": "correct"}, headers=hub.auth(MANAGER))
    assert r.status_code == 409 and "no snapshot" in r.json()["detail"]


def _labels(out: Path) -> dict[str, list[list[float]]]:
    found = {}
    for split in ("train", "val"):
        for p in sorted((out / "labels" / split).glob("*.txt")):
            found[p.stem] = [[float(v) for v in line.split()] for line in p.read_text().splitlines()]
    return found


def test_dataset_export_writes_yolo_with_hard_negatives_and_missed_boxes(hub: Hub, tmp_path: Path) -> None:
    """Test ``compound dataset export``: clean frames as pictures; a false mark is an empty label (hard negative);
    a correct one keeps the detector's boxes as ``class cx cy w h``; a missed one adds the drawn box; class ids
    follow the model's own class list (classes.txt = its ONNX metadata); the newest mark counts; a second
    export gives the same split; an alarm from an edge without clean frames uses the annotated snapshot and says
    so; errors are clear (nothing marked, a dataset already there, a file as --out)."""
    url = str(hub.db.engine.url)
    out = tmp_path / "ds"
    assert compound_cli("dataset", "export", "--url", url, "--out", str(out), "--model", str(SHIPPED)) == 2

    names = check_onnx(SHIPPED)
    lift, lift_event, lift_frame = hub.camera_alarm(LIFT_CAM, wire.EventKind.EBIKE_IN_LIFT, (EBIKE,))
    lane, lane_event, lane_frame = hub.camera_alarm(LANE_CAM, wire.EventKind.FIRE_LANE_BLOCKED, (CAR,))
    hub.resolve(lift)
    lift2, lift2_event, _ = hub.camera_alarm(LIFT_CAM, wire.EventKind.EBIKE_IN_LIFT, (EBIKE,), frame=False)
    post = hub.client.post
    assert post(f"/api/v1/alarms/{lift}/marks", json={"verdict": "false"}, headers=hub.auth(MANAGER)).is_success
    assert post(f"/api/v1/alarms/{lift}/marks", json={"verdict": "correct"}, headers=hub.auth(MANAGER)).is_success
    assert post(f"/api/v1/alarms/{lane}/marks", json={"verdict": "false"}, headers=hub.auth(MANAGER)).is_success
    missed = {"verdict": "missed", "boxes": [{"cls": "ebike", "box": [0.6, 0.5, 0.8, 0.9]}]}
    assert post(f"/api/v1/alarms/{lift2}/marks", json=missed, headers=hub.auth(MANAGER)).is_success

    args = ("dataset", "export", "--url", url, "--out", str(out), "--model", str(SHIPPED), "--val-fraction", "0.34")
    assert compound_cli(*args) == 0
    assert (out / "classes.txt").read_text().splitlines() == names
    labels = _labels(out)
    e = names.index("ebike")
    assert labels[f"{lift}-{lift_event}"] == [[e, 0.45, 0.65, 0.3, 0.5]]  # newest mark: correct
    assert labels[f"{lane}-{lane_event}"] == []  # false: a hard negative
    assert labels[f"{lift2}-{lift2_event}"] == [[e, 0.45, 0.65, 0.3, 0.5], [e, 0.7, 0.7, 0.2, 0.4]]
    images = {p.stem: p.read_bytes() for p in (out / "images").glob("*/*.jpg")}
    assert images[f"{lift}-{lift_event}"] == lift_frame and images[f"{lane}-{lane_event}"] == lane_frame
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == names and manifest["counts"]["negatives"] == 1
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == 3 and manifest["counts"]["val"] >= 1
    assert manifest["counts"]["annotated"] == 1
    assert [i["annotated"] for i in manifest["items"] if i["alarm_id"] == lift2] == [True]
    split = {i["alarm_id"]: i["split"] for i in manifest["items"]}
    data_yaml = (out / "data.yaml").read_text()
    assert "train: images/train" in data_yaml and f"  {e}: ebike" in data_yaml

    assert compound_cli(*args) == 2  # a dataset is already there
    assert compound_cli(*args, "--force") == 0
    again = json.loads((out / "manifest.json").read_text())
    assert {i["alarm_id"]: i["split"] for i in again["items"]} == split  # deterministic

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert compound_cli("dataset", "export", "--url", url, "--out", str(blocker), "--model", str(SHIPPED)) == 2


def test_dataset_export_refuses_a_class_the_model_lacks(
    hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that a box of a class the model does not know is refused by name, not written as a wrong id."""
    alarm, _, _ = hub.camera_alarm(LIFT_CAM, wire.EventKind.EBIKE_IN_LIFT, (EBIKE,))
    body = {"verdict": "missed", "boxes": [{"cls": "unicycle", "box": [0.1, 0.1, 0.3, 0.3]}]}
    assert hub.client.post(f"/api/v1/alarms/{alarm}/marks", json=body, headers=hub.auth(MANAGER)).is_success
    url = str(hub.db.engine.url)
    assert compound_cli("dataset", "export", "--url", url, "--out", str(tmp_path / "o"), "--model", str(SHIPPED)) == 2
    assert "'unicycle' is not one of the model's classes" in capsys.readouterr().err


def shadow_report(
    compound: Compound, live: bool, shadow: bool, at: datetime, device: str = LIFT_CAM
) -> wire.ShadowReport:
    return wire.ShadowReport(
        id=wire.new_event_id(),
        compound=compound.id,
        edge="b2",
        device=device,
        kind=wire.EventKind.EBIKE_IN_LIFT,
        at=at,
        until=at + timedelta(seconds=20),
        live_raised=live,
        shadow_raised=shadow,
        live_model="compound_det.onnx 0123456789ab",
        shadow_model="candidate.onnx ba9876543210",
        shadow_detections=(EBIKE,) if shadow else (),
    )


def test_shadow_reports_are_stored_once_and_summed_per_camera(hub: Hub) -> None:
    """Test that shadow reports from the edge are stored once (a redelivery is ignored) and summed per camera and
    candidate: agreements, shadow-only, live-only; none raises an alarm; a report for an unknown camera is
    dead-lettered; a grid worker sees only their cameras' rows."""
    now = datetime.now(UTC)
    reports = [
        shadow_report(hub.compound, True, True, now),
        shadow_report(hub.compound, False, True, now + timedelta(minutes=1)),
        shadow_report(hub.compound, True, False, now + timedelta(minutes=2)),
        shadow_report(hub.compound, True, True, now + timedelta(minutes=3)),
        shadow_report(hub.compound, False, True, now, device=LANE_CAM),
    ]

    def topic(r: wire.ShadowReport) -> str:
        return wire.topic(hub.compound.id, "b2", wire.MessageType.SHADOW, r.device)

    hub.pipeline.process([inbound(topic(r), wire.dump(r)) for r in reports])
    hub.pipeline.process([inbound(topic(reports[0]), wire.dump(reports[0]))])  # redelivered: ignored
    unknown = reports[0].model_copy(update={"id": wire.new_event_id(), "device": "no-such-cam"})
    hub.pipeline.process([inbound(topic(unknown), wire.dump(unknown))])
    with hub.db.session() as session:
        assert list(session.scalars(select(DeadLetter.reason))) == ["unknown_device"]
    assert hub.service.list_alarms() == []  # a shadow verdict never raises an alarm

    view = hub.client.get("/api/v1/shadow", headers=hub.auth(MANAGER)).json()
    rows = {c["device"]: c for c in view["cameras"]}
    assert {k: rows[LIFT_CAM][k] for k in ("episodes", "agreements", "shadow_only", "live_only")} == {
        "episodes": 4, "agreements": 2, "shadow_only": 1, "live_only": 1,
    }  # fmt: skip
    assert rows[LANE_CAM]["shadow_only"] == 1 and rows[LIFT_CAM]["shadow_model"] == "candidate.onnx ba9876543210"
    assert len(view["episodes"]) == 5 and view["episodes"][0]["shadow_detections"][0]["cls"] == "ebike"
    mine = hub.client.get("/api/v1/shadow", headers=hub.auth(WORKER_B2_U1)).json()
    assert {c["device"] for c in mine["cameras"]} == {LIFT_CAM}


def candidate(path: Path, note: str) -> Path:
    """A copy of the shipped model with one more metadata entry: a different file (SHA-256), same network."""
    model = onnx.load(str(SHIPPED))
    entry = model.metadata_props.add()
    entry.key, entry.value = "note", note
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def test_promote_and_rollback_from_the_api_are_for_managers_and_audited(hub: Hub) -> None:
    """Test that a manager promotes a candidate (copied in as version 1, live.json points at it), that the same
    model twice is refused, a worker is refused 403, a rollback returns to the vision.yaml model, and that each
    change is in the audit log."""
    folder = hub.store.root / CANDIDATES_DIR
    candidate(folder / "cand-a.onnx", "a")
    candidate(folder / "cand-b.onnx", "b")
    view = hub.client.get("/api/v1/models", headers=hub.auth(MANAGER)).json()
    assert view["live"] is None and [c["name"] for c in view["candidates"]] == ["cand-a.onnx", "cand-b.onnx"]
    assert "restart" in view["pickup"]
    assert hub.client.get("/api/v1/models", headers=hub.auth(WORKER_B2_U1)).status_code == 403
    r = hub.client.post("/api/v1/models/promote", json={"name": "cand-a.onnx"}, headers=hub.auth(WORKER_B2_U1))
    assert r.status_code == 403

    r = hub.client.post("/api/v1/models/promote", json={"name": "cand-a.onnx"}, headers=hub.auth(MANAGER))
    assert r.status_code == 200, r.text
    assert r.json()["live"]["version"] == 1 and hub.store.live_path() == hub.store.root / "compound_det-v1.onnx"
    assert hub.store.live_path().read_bytes() == (folder / "cand-a.onnx").read_bytes()  # type: ignore[union-attr]
    r = hub.client.post("/api/v1/models/promote", json={"name": "cand-a.onnx"}, headers=hub.auth(MANAGER))
    assert r.status_code == 409 and "already live" in r.json()["detail"]
    r = hub.client.post("/api/v1/models/promote", json={"name": "nope.onnx"}, headers=hub.auth(MANAGER))
    assert r.status_code == 404
    r = hub.client.post("/api/v1/models/promote", json={"name": "cand-b.onnx"}, headers=hub.auth(MANAGER))
    assert r.json()["live"]["version"] == 2
    r = hub.client.post("/api/v1/models/rollback", headers=hub.auth(MANAGER))
    assert r.json()["live"]["version"] == 1
    r = hub.client.post("/api/v1/models/rollback", headers=hub.auth(MANAGER))
    assert r.json()["live"] is None and hub.store.live_path() is None
    assert hub.client.post("/api/v1/models/rollback", headers=hub.auth(MANAGER)).status_code == 409
    assert [e.target for e in audit(hub.db, "model_promote")] == ["model:v1", "model:v2"]
    assert [e.target for e in audit(hub.db, "model_rollback")] == ["model:v1", "model:vision.yaml"]


def test_model_cli_promotes_rolls_back_and_refuses_what_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test ``compound model promote|rollback|status``: a model onnxruntime cannot load, or one without class
    names, is refused with why and nothing changes; a good one becomes live, the pointer file is whole JSON."""
    data = tmp_path / "data"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    assert compound_cli("model", "promote", str(broken), "--data-dir", str(data)) == 2
    assert "onnxruntime" in capsys.readouterr().err
    nameless = onnx.load(str(SHIPPED))
    del nameless.metadata_props[:]
    onnx.save(nameless, str(tmp_path / "nameless.onnx"))
    assert compound_cli("model", "promote", str(tmp_path / "nameless.onnx"), "--data-dir", str(data)) == 2
    assert "no class names" in capsys.readouterr().err
    assert not (data / "models" / LIVE_FILE).exists()

    good = candidate(tmp_path / "good.onnx", "good")
    assert compound_cli("model", "promote", str(good), "--data-dir", str(data)) == 0
    assert "restart" in capsys.readouterr().out
    pointer = json.loads((data / "models" / LIVE_FILE).read_text())
    assert pointer["live"] == 1 and pointer["versions"][0]["source"] == str(good.resolve())
    assert compound_cli("model", "status", "--data-dir", str(data)) == 0
    assert "version 1" in capsys.readouterr().out
    assert compound_cli("model", "rollback", "--data-dir", str(data)) == 0
    assert compound_cli("model", "rollback", "--data-dir", str(data)) == 2
    assert "nothing was promoted" in capsys.readouterr().err


def test_a_hub_without_a_model_store_says_so(web: WebHub) -> None:  # noqa: F811
    """Test that a hub app built without a data directory shows no live version and refuses promote and rollback
    with 409 and why, rather than failing."""
    view = web.client.get("/api/v1/models", headers=web.auth(MANAGER))
    assert view.status_code == 200 and view.json()["live"] is None and "no model store" in view.json()["pickup"]
    r = web.client.post("/api/v1/models/promote", json={"name": "x.onnx"}, headers=web.auth(MANAGER))
    assert r.status_code == 409 and "no model store" in r.json()["detail"]
    assert web.client.post("/api/v1/models/rollback", headers=web.auth(MANAGER)).status_code == 409


def test_split_by_camera_keeps_each_camera_on_one_side(hub: Hub, tmp_path: Path) -> None:
    """Test that ``split_by="camera"`` never puts one camera's pictures in both splits (no near-duplicate frames of
    one scene across train and val), and that a small set still gets a held-out picture."""
    from hub.dataset import export_yolo

    alarms = []
    for _ in range(2):
        for device, kind, det in (
            (LIFT_CAM, wire.EventKind.EBIKE_IN_LIFT, EBIKE),
            (LANE_CAM, wire.EventKind.FIRE_LANE_BLOCKED, CAR),
        ):
            alarm, _, _ = hub.camera_alarm(device, kind, (det,))
            alarms.append(alarm)
            hub.resolve(alarm)
    for alarm in alarms:
        assert hub.client.post(
            f"/api/v1/alarms/{alarm}/marks", json={"verdict": "correct"}, headers=hub.auth(MANAGER)
        ).is_success
    summary = export_yolo(hub.db, tmp_path / "ds", check_onnx(SHIPPED), val_fraction=0.2, split_by="camera")
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    sides = {(i["device"], i["split"]) for i in manifest["items"]}
    assert len(sides) == 2 and {d for d, _ in sides} == {LIFT_CAM, LANE_CAM}, sides
    assert summary.train == 2 and summary.val == 2
