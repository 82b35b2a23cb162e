"""End-to-end tests of ``compound up``: broker, hub and every edge in one process tree, real processes only."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from compound.cli.runner import mqtt_ready
from compound.config import Compound
from compound.config.models import Role
from compound.identity import HUB, read_secret, secret_path
from compound.wire import EventKind, EventState
from hub.web.auth import TokenSigner, load_secret_key
from tests.edge.support import ROOT, Collector
from tests.servers import MosquittoServer
from tests.support import free_port, wait_for, wait_port_closed

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENARIO = ["--scenario", "kitchen-fire-night", "--duration", "1300", "--speed", "100"]
"""The fire is at 60 s, the alarm at ~220 s and the clear at ~800 s: 1300 simulated s cover it with margin."""

KILL_SPEED = {"mosquitto": 100, "amqtt": 40}
"""amqtt drops what a dead hub misses, so the hub's restart (up to ~10 s on a loaded 2-core machine) and its
resend request must come while the edges still run: ~27 real s of scenario are left after the kill at x40."""

FLAT = {"building": "b2", "unit": "u1", "floor": 15, "flat": "1502"}
NIGHT_CREW = ["p-li-qiang", "p-song-kai"]
"""mg-b2-u1's night micro-grid worker and property security on duty at 02:00."""


def up(*args: str, stderr: Path, stdout: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """``compound up`` as a child process, stderr to a file."""
    with open(stderr, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "compound.cli", "up", *args],
            stdout=stdout,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a `compound up` that is still running (a failed test): SIGTERM stops its tree; SIGKILL if stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # its children still get SIGTERM from the kernel (PR_SET_PDEATHSIG)
            proc.wait(timeout=10)


def finish(proc: subprocess.Popen[bytes], stderr: Path, timeout: float = 150) -> tuple[int, dict[str, Any]]:
    """Wait for a headless run; its exit code and the one JSON document it printed on stdout."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError(f"compound up did not finish in {timeout:g} s:\n{tail(stderr)}") from None
    text = out.decode()
    try:
        report = json.loads(text)  # the whole of stdout is one document: nothing else may leak into it
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}):\n{text[:2000]}\n{tail(stderr)}") from None
    return proc.returncode, report


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_kitchen_fire(report: dict[str, Any], speed: int = 100) -> None:
    """Exactly one alarm, a smoke alarm for the right flat, routed to the night crew, cleared by the device;
    clean ingest."""
    assert report["exit_code"] == 0, report["processes"]
    smoke = [a for a in report["alarms"] if a["kind"] == "smoke"]
    assert len(smoke) == 1, smoke
    assert len(report["alarms"]) == 1, [(a["kind"], a["device"]) for a in report["alarms"]]
    alarm = smoke[0]
    assert alarm["device"] == "b2-u1-1502-smoke"
    assert {k: alarm["location"][k] for k in FLAT} == FLAT
    assert alarm["grid"] == "mg-b2-u1"
    assert alarm["assignees"] == NIGHT_CREW
    assert alarm["cleared_at"] is not None and alarm["state"] in ("raised", "notified")
    assert_escalated(alarm)
    assert alarm["raised_at"].startswith("2026-11-23T18:0")  # 02:0x local: the shared simulated timeline
    assert report["dead_letters"] == {"total": 0, "by_reason": {}}
    assert report["events"]["produced"] > 0
    assert report["events"]["received"] == report["events"]["produced"]
    assert report["events"]["missing"] == 0 and report["seq_gaps"]["count"] == 0
    for edge, figures in report["edges"].items():
        assert figures["received"] == figures["produced"], (edge, figures)
        assert figures["outbox_events_waiting"] == 0, (edge, figures)
    params = report["parameters"]
    assert (params["scenario"], params["duration_s"], params["speed"]) == ("kitchen-fire-night", 1300, speed)
    assert params["edges"] == ["b1", "b2", "b3", "b4", "kg"]


def assert_escalated(alarm: dict[str, Any]) -> None:
    """Nobody acknowledges in a headless run: the night crew is told at once, reminded, then the grid leader, the
    full-time grid worker and the manager on duty, each step taken once, each told on the in-app inbox."""
    told = {(n["level"], n["repeat"], n["person"]) for n in alarm["notifications"] if n["channel"] == "inbox"}
    assert {(0, 0, p) for p in NIGHT_CREW} | {(0, 1, p) for p in NIGHT_CREW} <= told
    assert {(1, 0, "p-gao-ming"), (2, 0, "p-xu-hong"), (3, 0, "p-feng-yu")} <= told
    assert all(n["result"] == "delivered" for n in alarm["notifications"] if n["channel"] == "inbox")
    done = [(s["action"], s["level"], s["repeat"]) for s in alarm["escalation"] if s["state"] == "done"]
    assert done[:4] == [("level", 0, 1), ("level", 1, 0), ("level", 2, 0), ("level", 3, 0)]
    assert len(done) == len(set(done))
    assert alarm["escalation_level"] == 3


def hub_events(data_dir: Path) -> list[tuple[str, str, int]]:
    """(event id, edge, seq) of every event the hub stored."""
    conn = sqlite3.connect(f"file:{data_dir / 'hub.db'}?mode=ro", uri=True, timeout=10)
    try:
        return [(str(r[0]), str(r[1]), int(r[2])) for r in conn.execute("SELECT event_id, edge, seq FROM events")]
    finally:
        conn.close()


@pytest.mark.parametrize("broker_kind", ["amqtt", "mosquitto"])
def test_kitchen_fire_headless_json(broker_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Test that `compound up --scenario kitchen-fire-night --duration --json` (embedded amqtt, or Mosquitto through
    --broker) exits 0 by itself and prints one JSON report: exactly one smoke alarm for b2/u1/1502 routed to the
    night micro-grid worker and security on duty and cleared by the device, every event received, no dead letters;
    the login links in the banner carry tokens signed with the data dir's key."""
    data = tmp_path / "data"
    args = [*SCENARIO, "--json", "--port", "0", "--data-dir", str(data)]
    if broker_kind == "mosquitto":
        mosquitto: MosquittoServer = request.getfixturevalue("mosquitto")
        args += ["--broker", mosquitto.url]
    else:
        args += ["--mqtt-port", "0"]
    log = tmp_path / "up.err"
    code, report = finish(up(*args, stderr=log), log)
    assert code == 0, tail(log)
    assert_kitchen_fire(report)
    assert report["parameters"]["embedded_broker"] is (broker_kind == "amqtt")
    # Duplicates on the wire are allowed (a resend request can cross an event in flight): the hub counts them
    # in report["duplicates"] and stores each event exactly once.
    stored = hub_events(data)
    assert len({event_id for event_id, _, _ in stored}) == len(stored) == report["events"]["produced"]
    roles = {c["name"]: c for c in report["processes"]["children"]}
    assert ("broker" in roles) is (broker_kind == "amqtt")
    assert roles["hub"]["returncode"] == 0 and roles["hub"]["restarts"] == 0
    # The banner (stderr with --json) names the console and signs in the manager and the worker on duty.
    banner = log.read_text()
    console = report["parameters"]["console"]
    assert f"console    {console}/" in banner
    signer = TokenSigner(load_secret_key(data))
    tokens = re.findall(re.escape(console) + r"/login\?token=(\S+)", banner)
    assert [signer.person_id(t) for t in tokens] == ["p-feng-yu", "p-li-qiang"]


@pytest.mark.parametrize("broker_kind", ["mosquitto", "amqtt"])
def test_hub_sigkill_mid_scenario_loses_and_doubles_nothing(
    broker_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Test that a hub SIGKILLed by hand right after the smoke alarm is stored is restarted by `compound up`, and the
    hub ends with every event the edges produced exactly once (the same ids a plain subscriber saw, seqs 1..last
    per edge) and one alarm per condition, the smoke alarm with the device's clear. On Mosquitto (through --broker)
    its persistent session queues what the dead hub missed; on the embedded amqtt, which drops it, the edges' replay
    of the hub's seq gaps fills them."""
    data = tmp_path / "data"
    log = tmp_path / "up.err"
    topic = "compound/v1/sunrise-garden/+/event/+"
    scenario = [*SCENARIO[:-1], str(KILL_SPEED[broker_kind])]
    if broker_kind == "mosquitto":
        mosquitto: MosquittoServer = request.getfixturevalue("mosquitto")
        collector = Collector(mosquitto.port, topic, "it-up-kill")
        collector.start()
        proc = up(*scenario, "--json", "--port", "0", "--broker", mosquitto.url, "--data-dir", str(data), stderr=log)
    else:
        port = free_port()
        proc = up(*scenario, "--json", "--port", "0", "--mqtt-port", str(port), "--data-dir", str(data), stderr=log)
        # The embedded broker comes up first; subscribe before the hub is ready (the edges start after it).
        wait_for(lambda: mqtt_ready("127.0.0.1", port) or proc.poll() is not None, 60, "the embedded broker")
        # The embedded broker refuses anonymous clients: listen with the hub's identity that `compound up` provisioned.
        hub_secret = read_secret(secret_path(data, HUB))
        collector = Collector(
            port, topic, "it-up-kill", filter_prefix=("compound/v1/sunrise-garden/",), credentials=(HUB, hub_secret)
        )
        collector.start()
    try:
        db = data / "hub.db"

        def smoke_stored() -> bool:
            if not db.exists():
                return False
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    row = conn.execute("SELECT count(*) FROM events WHERE device = 'b2-u1-1502-smoke'").fetchone()
                finally:
                    conn.close()
            except sqlite3.Error:
                return False
            return bool(row[0])

        wait_for(lambda: smoke_stored() or proc.poll() is not None, 90, "the smoke alarm in the hub")
        hubs = [p for p in children_of(proc.pid) if "hub" in cmdline(p)]
        assert len(hubs) == 1, tail(log)
        os.kill(hubs[0], signal.SIGKILL)
        code, report = finish(proc, log)
    finally:
        stop(proc)
        collector.stop()
    assert code == 0, tail(log)
    assert_kitchen_fire(report, speed=KILL_SPEED[broker_kind])
    hub = next(c for c in report["processes"]["children"] if c["name"] == "hub")
    assert hub["restarts"] == 1 and hub["earlier_exits"] == [-signal.SIGKILL]
    stored = hub_events(data)
    ids = [event_id for event_id, _, _ in stored]
    assert len(ids) == len(set(ids))  # doubles nothing
    assert set(ids) == {e.id for e in collector.events()}  # loses nothing a plain subscriber saw
    for edge, figures in report["edges"].items():
        assert sorted(seq for _, e, seq in stored if e == edge) == list(range(1, figures["last_seq"] + 1)), edge
    conditions = [(a["device"], a["kind"]) for a in report["alarms"]]
    assert len(conditions) == len(set(conditions)), conditions
    raises = [e for e in collector.events() if e.state is EventState.RAISED and e.kind is EventKind.SMOKE]
    assert [e.device for e in raises] == ["b2-u1-1502-smoke"]


def test_ctrl_c_stops_everything(compound: Compound, tmp_path: Path) -> None:
    """Test that an interactive `compound up` prints the console URL and a login link that signs the manager in,
    and that Ctrl-C (SIGINT) then stops every child (edges, hub, broker) and exits 0, leaving no process behind."""
    data = tmp_path / "data"
    log = tmp_path / "up.err"
    out = tmp_path / "up.out"
    with open(out, "wb") as stdout:
        proc = up(
            "--edges", "b2,kg", "--speed", "10", "--port", "0", "--mqtt-port", "0", "--data-dir", str(data),
            stderr=log, stdout=stdout.fileno(),
        )  # fmt: skip
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text() or proc.poll() is not None, 60, "the banner")
        banner = out.read_text()
        link = re.search(r"(http://127\.0\.0\.1:(\d+))/login\?token=(\S+)", banner)
        assert link is not None, banner + tail(log)
        console, port = link.group(1), int(link.group(2))
        browser = build_opener(HTTPCookieProcessor(CookieJar()))
        with browser.open(link.group(0), timeout=10) as page:  # the click-to-login link: session cookie, console
            assert page.status == 200
        with browser.open(f"{console}/api/v1/me", timeout=10) as me:
            signed_in = json.load(me)["person"]["id"]
        # The first link is the property manager on duty now (no scenario: the wall clock's shift).
        manager = re.search(r"log in as\s+\S+ \(([\w-]+)\), property manager on duty:", banner)
        assert manager is not None and signed_in == manager.group(1), banner
        assert compound.people[signed_in].role is Role.PROPERTY_MANAGER
        with browser.open(f"{console}/api/v1/alarms", timeout=10) as alarms:
            assert isinstance(json.load(alarms), list)
        wait_for(lambda: "edge kg:" in out.read_text(), 60, "the edges to start")
        tree = children_of(proc.pid)
        names = {" ".join(cmdline(p)) for p in tree}
        for part in ("compound.broker", " hub ", "--edge b2", "--edge kg"):
            assert any(part in n for n in names), (part, names)
        time.sleep(1)  # let the edges run a moment
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, tail(log)
    finally:
        stop(proc)
    assert "stopped (signal SIGINT)" in out.read_text()
    wait_for(lambda: not any(alive(p) for p in tree), 10, "every child to be gone")
    wait_port_closed(port, timeout=10)


def test_children_stop_when_compound_up_is_killed(tmp_path: Path) -> None:
    """Test that when `compound up` itself is killed with SIGKILL (no chance to stop its tree), its broker, hub and
    edge still stop by themselves instead of running on as orphans."""
    out = tmp_path / "up.out"
    with open(out, "wb") as stdout:
        proc = up(
            "--edges", "kg", "--port", "0", "--mqtt-port", "0", "--data-dir", str(tmp_path / "data"),
            stderr=tmp_path / "up.err", stdout=stdout.fileno(),
        )  # fmt: skip
    try:
        wait_for(lambda: "edge kg:" in out.read_text() or proc.poll() is not None, 60, "the edge to start")
        tree = children_of(proc.pid)
        assert len(tree) >= 3, tail(tmp_path / "up.err")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        stop(proc)
    wait_for(lambda: not any(alive(p) for p in tree), 30, "the orphaned children to stop")
