"""``compound replay``: publish a recording back to a broker with its pacing scaled, or feed it into an edge."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from compound.cli.options import add_config_option, add_data_dir_option, parse_broker, positive_number
from compound.recording import RecordedMessage, Recording, RecordingError, from_ns, to_ns

__all__ = ["ReplaySummary", "Replayer", "register"]

CONNECT_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 60.0
"""After the last publish, how long to wait for the broker to acknowledge what is still in flight."""


def register(sub: Any) -> None:
    """Add ``replay``."""
    parser = sub.add_parser(
        "replay",
        help="publish a recording back to a broker (original pacing scaled), or into an edge agent",
        description="Publish the MQTT messages of a recording (compound record / sim run --record) back to a "
        "broker in their recorded order, with the recorded gaps divided by --speed (default 1) or as fast as "
        "possible, at most --window QoS 1 messages in flight; a progress bar on stderr and a summary at the end. "
        "--into-edge instead runs an edge agent whose sensor driver is the recording (its raw samples, else the "
        "readings the edge published) and whose cameras play the recorded frames, so rules and detector run again "
        "on recorded input.",
        epilog="examples:\n  compound replay incident.mcap --broker mqtt://127.0.0.1:1883 --speed 10\n"
        "  compound replay incident.mcap --broker mqtt://127.0.0.1:1883 --as-fast-as-possible --from 120 --to 300\n"
        "  compound replay lift.mcap --into-edge --edge b2 --broker mqtt://127.0.0.1:1883",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recording", type=Path, metavar="IN", help="recording file (.mcap)")
    parser.add_argument(
        "--broker",
        type=parse_broker,
        default=parse_broker(os.environ.get("COMPOUND_BROKER", "mqtt://127.0.0.1:1883")),
        help="MQTT broker URL (default $COMPOUND_BROKER, else mqtt://127.0.0.1:1883)",
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=positive_number, default=None, metavar="N", help="recorded seconds per real second"
    )
    pace.add_argument("--as-fast-as-possible", action="store_true", help="no pacing: publish as fast as acknowledged")
    parser.add_argument(
        "--from", dest="start", metavar="T", help="start at T: seconds from the recording's start, or an ISO time"
    )
    parser.add_argument("--to", dest="end", metavar="T", help="end at T (inclusive): seconds or an ISO time")
    parser.add_argument("--window", type=int, default=64, help="QoS 1 messages in flight at most (default 64)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    into = parser.add_argument_group("into an edge (--into-edge)")
    into.add_argument("--into-edge", action="store_true", help="run an edge agent on the recording instead")
    into.add_argument("--edge", help="edge id (default: the one edge the recording has samples or cameras of)")
    into.add_argument(
        "--tail",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="recorded seconds to run past the end (default 10)",
    )
    add_config_option(parser)
    add_data_dir_option(parser)
    parser.set_defaults(func=run)


def _moment(value: str | None, origin_ns: int) -> int | None:
    """``T`` as nanoseconds: seconds from ``origin_ns``, or an ISO 8601 time with an offset."""
    if value is None:
        return None
    try:
        return origin_ns + int(float(value) * 1e9)
    except ValueError:
        pass
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time needs a UTC offset: {value!r}")
    return to_ns(moment)


@dataclass(slots=True)
class ReplaySummary:
    """What a replay published: messages, bytes, acknowledged, span replayed and real seconds taken."""

    messages: int = 0
    bytes: int = 0
    acknowledged: int = 0
    recorded_s: float = 0.0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Messages per real second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "bytes": self.bytes,
            "acknowledged": self.acknowledged,
            "recorded_s": round(self.recorded_s, 3),
            "seconds": round(self.seconds, 3),
            "msg_per_s": round(self.rate, 1),
        }


class Replayer:
    """Publishes recorded messages with paho: recorded QoS and retain, in order, at most ``window`` in flight."""

    def __init__(self, host: str, port: int, *, window: int = 64, client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._slots = threading.Semaphore(window)
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.acknowledged = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"compound-replay-{os.getpid()}", protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = lambda *_: self._connected.set()
        self.client.on_publish = self._on_publish
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise ConnectionError(f"no CONNACK from mqtt://{host}:{port} within {CONNECT_TIMEOUT_S:.0f} s")

    def _on_publish(self, *_: object) -> None:
        with self._lock:
            self.acknowledged += 1
        self._slots.release()

    def replay(
        self,
        messages: Iterable[RecordedMessage],
        *,
        speed: float | None,
        on_message: Callable[[RecordedMessage], None] = lambda m: None,
    ) -> ReplaySummary:
        """Publish ``messages`` in order; ``speed`` None: as fast as acknowledged, else recorded gaps / speed."""
        summary = ReplaySummary()
        first_ns: int | None = None
        last_ns = 0
        start = time.monotonic()
        for message in messages:
            if first_ns is None:
                first_ns = message.time_ns
            if speed is not None:
                due = start + (message.time_ns - first_ns) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self._slots.acquire()
            self.client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            summary.messages += 1
            summary.bytes += len(message.payload)
            last_ns = message.time_ns
            on_message(message)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while self.acknowledged < summary.messages and time.monotonic() < deadline:
            time.sleep(0.005)
        summary.seconds = time.monotonic() - start
        summary.acknowledged = self.acknowledged
        summary.recorded_s = (last_ns - first_ns) / 1e9 if first_ns is not None else 0.0
        return summary

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def run(args: argparse.Namespace) -> int:
    """Replay to the broker, or into an edge."""
    try:
        recording = Recording(args.recording)
        info = recording.info()
        start_ns = _moment(args.start, info.start_ns)
        end_ns = _moment(args.end, info.start_ns)
    except RecordingError as exc:
        print(f"compound replay: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"compound replay: --from/--to: {exc}", file=sys.stderr)
        return 2
    if args.window < 1:
        print("compound replay: --window must be at least 1", file=sys.stderr)
        return 2
    if args.into_edge:
        return into_edge(args, recording)
    total = (
        sum(1 for _ in recording.messages(start_ns=start_ns, end_ns=end_ns))
        if (start_ns is not None or end_ns is not None)
        else sum(n for t, n in info.topics.items() if not t.startswith("/"))
    )
    speed = None if args.as_fast_as_possible else (args.speed or 1.0)
    pace = "as fast as possible" if speed is None else f"speed x{speed:g}"
    print(f"replay: {total} messages of {args.recording} to {args.broker}, {pace}", file=sys.stderr, flush=True)
    try:
        replayer = Replayer(args.broker.host, args.broker.port, window=args.window)
    except OSError as exc:
        print(f"compound replay: cannot reach {args.broker}: {exc}", file=sys.stderr)
        return 1
    from tqdm import tqdm

    bar = tqdm(total=total, unit="msg", file=sys.stderr, disable=None, mininterval=0.5)
    try:
        summary = replayer.replay(
            recording.messages(start_ns=start_ns, end_ns=end_ns), speed=speed, on_message=lambda _m: bar.update()
        )
    except KeyboardInterrupt:
        print("\ncompound replay: interrupted", file=sys.stderr)
        return 130
    finally:
        bar.close()
        replayer.close()
    if args.json:
        print(json.dumps(summary.as_dict()))
    print(
        f"replay: {summary.messages} messages ({summary.bytes / 1024:,.1f} KiB, {summary.recorded_s:.1f} s recorded) "
        f"in {summary.seconds:.2f} s, {summary.rate:,.0f} msg/s, {summary.acknowledged} acknowledged",
        file=sys.stderr,
    )
    return 0 if summary.acknowledged >= summary.messages else 1


def into_edge(args: argparse.Namespace, recording: Recording) -> int:
    """Run ``compound edge --driver recording`` (and its cameras on ``recording:`` sources) on the recording."""
    from compound.cli import build_parser
    from compound.config import ConfigError, load_config

    if args.as_fast_as_possible or args.start or args.end:
        print("compound replay --into-edge: the edge runs on a clock; use --speed N (no --as-fast-as-possible, "
              "--from, --to)", file=sys.stderr)  # fmt: skip
        return 2
    info = recording.info()
    try:
        compound = load_config(args.config)
    except ConfigError as exc:
        print(f"compound replay: {exc}", file=sys.stderr)
        return 2
    camera_edges = {compound.devices[d].edge for d in info.cameras if d in compound.devices}
    candidates = sorted(set(info.sample_edges) | camera_edges) or [e for e in info.edges if e in compound.edges()]
    edge = args.edge or (candidates[0] if len(candidates) == 1 else None)
    if edge is None or edge not in compound.edges():
        print(f"compound replay --into-edge: name the edge with --edge (recording has {candidates or 'none'})",
              file=sys.stderr)  # fmt: skip
        return 2
    devices = [d.id for d in compound.devices_of_edge(edge)]
    samples = recording.samples(edge, devices)
    frames = {d: n for d, n in info.cameras.items() if d in devices}
    begin = samples[0].at if samples else from_ns(info.start_ns)
    span = (samples[-1].at - samples[0].at).total_seconds() if samples else 0.0
    for camera, n in frames.items():
        first = next(recording.frames(camera))
        span = max(span, n / first.fps)
    argv = ["edge", "--edge", edge, "--driver", "recording", "--driver-option", f"path={args.recording}",
            "--sim-start", begin.isoformat(), "--speed", f"{args.speed or 1.0:g}",
            "--duration", f"{span + args.tail:g}", "--broker", str(args.broker),
            "--config", str(args.config), "--data-dir", str(args.data_dir)]  # fmt: skip
    if frames:
        argv.append("--cameras")
        from edge.vision.config import camera_devices

        for camera in (d.id for d in camera_devices(compound, edge)):
            source = f"recording:{args.recording}#{camera}" if camera in frames else "off"
            argv += ["--camera", f"{camera}={source}"]
    recorded = timedelta(seconds=round(span))
    print(f"replay: {len(samples)} samples and {sum(frames.values())} frames into edge {edge} "
          f"({recorded} recorded, from {begin.isoformat()})", file=sys.stderr, flush=True)  # fmt: skip
    edge_args = build_parser().parse_args(argv)
    code: int = edge_args.func(edge_args)
    return code
