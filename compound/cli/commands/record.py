"""``compound record``: capture a compound's topic tree (and camera frames) into one MCAP file; ``record info``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from compound import wire
from compound.cli.options import (
    BrokerURL,
    add_data_dir_option,
    add_mqtt_auth_options,
    mqtt_credentials,
    parse_broker,
)
from compound.recording import Recording, RecordingError, RecordingInfo, RecordingWriter, from_ns

CONNECT_TIMEOUT_S = 10.0
"""How long ``record`` waits for the broker's SUBACK before giving up."""
FLUSH_EVERY_S = 2.0
"""Seconds between writes of the chunk in progress to disk."""


def register(sub: Any) -> None:
    """Add ``record`` (and its ``record info IN`` form)."""
    parser = sub.add_parser(
        "record",
        help="record a compound's MQTT traffic (and camera frames) into one MCAP file; `record info IN`",
        description="Subscribe to a compound's whole topic tree (<prefix>/v1/<compound>/#) and write every message "
        "(topic, payload, QoS, retain, receive time) into OUT (MCAP), with --frames also camera frames (JPEG). "
        "A progress line (messages, bytes, rate) goes to stderr; Ctrl-C/SIGTERM or --duration stops it cleanly, "
        "leaving a complete file. `compound record info IN` prints what a recording holds.",
        epilog="examples:\n  compound record --broker mqtt://127.0.0.1:1883 incident.mcap\n"
        "  compound record --broker mqtt://127.0.0.1:1883 --frames b2-u1-lift1-cam=sim:lift-ebike:1 lift.mcap\n"
        "  compound record info incident.mcap",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", nargs="+", metavar="OUT | info IN", help="file to write (.mcap), or `info IN`")
    parser.add_argument("--broker", type=parse_broker, default=None, help="MQTT broker URL, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument("--compound", default="+", metavar="ID", help="compound id (default: every compound)")
    parser.add_argument("--prefix", default=wire.DEFAULT_PREFIX, help=f"topic prefix (default {wire.DEFAULT_PREFIX})")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after this many real seconds"
    )
    parser.add_argument(
        "--frames",
        action="append",
        default=[],
        metavar="DEVICE=SOURCE",
        help="also record camera DEVICE's frames from SOURCE (as `compound edge --camera`: sim:lift-ebike:1, a "
        "file, rtsp://...), JPEG on channel /camera/DEVICE (repeatable); without --broker, stops when they end",
    )
    parser.add_argument(
        "--progress",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between progress lines on stderr (default 0.5 on a terminal, else 5)",
    )
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second recorded by --frames (default 5)")
    parser.add_argument("--json", action="store_true", help="with `info`: print JSON")
    add_data_dir_option(parser)
    add_mqtt_auth_options(parser)  # default: the hub's identity when its secret is in the data dir (it may read all)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch ``record OUT`` and ``record info IN``."""
    if args.out[0] == "info":
        if len(args.out) != 2:
            print("compound record info: give one recording, e.g. compound record info run.mcap", file=sys.stderr)
            return 2
        return run_info(Path(args.out[1]), as_json=args.json)
    if len(args.out) != 1:
        print(f"compound record: one output file, got {args.out}", file=sys.stderr)
        return 2
    if args.broker is None and not args.frames:
        print("compound record: nothing to record: give --broker URL and/or --frames DEVICE=SOURCE", file=sys.stderr)
        return 2
    bad = [f for f in args.frames if "=" not in f]
    if bad or args.fps <= 0:
        print(f"compound record: --frames needs DEVICE=SOURCE and --fps > 0, got {bad or args.fps}", file=sys.stderr)
        return 2
    return record(args, Path(args.out[0]))


def run_info(path: Path, *, as_json: bool) -> int:
    """Print what a recording holds."""
    try:
        info = Recording(path).info()
    except RecordingError as exc:
        print(f"compound record info: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(info.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(describe(info))
    return 0


def describe(info: RecordingInfo) -> str:
    """The human-readable ``record info`` text."""
    lines = [f"{info.path}: {info.messages} messages over {_hms(info.duration_s)} ({info.source})"]
    if info.messages:
        lines.append(f"  span       {from_ns(info.start_ns).isoformat()} -> {from_ns(info.end_ns).isoformat()}")
    lines.append(f"  compounds  {', '.join(info.compounds) or '-'}")
    lines.append(f"  edges      {', '.join(info.edges) or '-'}")
    shown = ", ".join(info.devices[:12]) + (f", ... ({len(info.devices) - 12} more)" if len(info.devices) > 12 else "")
    lines.append(f"  devices    {len(info.devices)}: {shown or '-'}")
    if info.cameras:
        lines.append("  cameras    " + ", ".join(f"{d} ({n} frames)" for d, n in info.cameras.items()))
    if info.sample_edges:
        lines.append("  samples    " + ", ".join(f"{e} ({n})" for e, n in info.sample_edges.items()))
    width = max((len(t) for t in info.topics), default=5)
    lines.append(f"  {'TOPIC':<{width}}  {'COUNT':>7}")
    lines.extend(f"  {topic:<{width}}  {count:>7}" for topic, count in info.topics.items())
    return "\n".join(lines)


def record(args: argparse.Namespace, out: Path) -> int:
    """Record until a signal, --duration, or (frames only) the end of every frame source."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    broker: BrokerURL | None = args.broker
    topic_filter = wire.subscription(args.prefix, args.compound)
    try:
        username, password = mqtt_credentials(args, "hub")
    except (OSError, ValueError) as exc:
        print(f"compound record: cannot read the MQTT credential: {exc}", file=sys.stderr)
        return 2
    try:
        writer = RecordingWriter(
            out,
            source="record",
            metadata={
                "broker": str(broker or ""),
                "filter": topic_filter if broker else "",
                "frames": ",".join(args.frames),
            },
        )
    except RecordingError as exc:
        print(f"compound record: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client: mqtt.Client | None = None
    if broker is not None:
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"compound-record-{os.getpid()}", protocol=mqtt.MQTTv311
        )
        if username is not None:
            client.username_pw_set(username, password)

        refusal: list[str] = []

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
            if not rc.is_failure:
                c.subscribe(topic_filter, qos=1)
            else:
                refusal.append(f"the broker refused the connection ({rc}; user {username or 'anonymous'})")
                subscribed.set()

        def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, codes: Any, _p: object) -> None:
            if any(code.is_failure for code in codes):
                refusal.append(
                    f"the broker refused the subscription to {topic_filter} (user {username or 'anonymous'};"
                    " with topic grants, name the compound: --compound ID)"
                )
            subscribed.set()

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            if not writer.closed:
                retain = bool(msg.retain) or _retained_by_contract(msg.topic)
                writer.message(msg.topic, bytes(msg.payload), msg.qos, retain, time.time_ns())

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            client.connect(broker.host, broker.port)
        except OSError as exc:
            writer.close()
            print(f"compound record: cannot reach {broker}: {exc}", file=sys.stderr)
            return 1
        client.loop_start()
        if not subscribed.wait(CONNECT_TIMEOUT_S) or refusal:
            client.loop_stop()
            writer.close()
            print(
                f"compound record: {refusal[0] if refusal else f'no subscription acknowledged by {broker}'}",
                file=sys.stderr,
            )
            return 1
        print(f"record: subscribed to {topic_filter} on {broker}, writing {out}", file=sys.stderr, flush=True)
    try:
        cameras = [_start_camera(spec, writer, args.fps, stop) for spec in args.frames]
    except OSError as exc:
        stop.set()
        if client is not None:
            client.loop_stop()
        writer.close()
        print(f"compound record: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    deadline = started + args.duration if args.duration else None
    tty = sys.stderr.isatty()
    every = args.progress or (0.5 if tty else 5.0)
    last_line = last_flush = started
    try:
        while not stop.wait(min(0.2, every)):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if broker is None and not any(t.is_alive() for t in cameras):
                break
            if now - last_flush >= FLUSH_EVERY_S:  # a killed recorder loses at most this much
                last_flush = now
                writer.flush()
            if now - last_line >= every:
                last_line = now
                print(("\r" if tty else "") + _progress(writer, now - started), end="" if tty else "\n",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        stop.set()
        if client is not None:
            client.disconnect()
            client.loop_stop()
        for thread in cameras:
            thread.join(10.0)
        writer.close()
    elapsed = time.monotonic() - started
    print(("\n" if tty else "") + f"record: done, {_progress(writer, elapsed)}, in {elapsed:.1f} s -> {out}",
          file=sys.stderr, flush=True)  # fmt: skip
    return 0


def _retained_by_contract(topic: str) -> bool:
    """Whether the wire contract publishes ``topic`` retained (an edge's status). MQTT 3.1.1 clears the retain
    flag of a message forwarded to a live subscriber, so the recorder restores it from the contract."""
    parts = topic.split("/")
    return len(parts) == 5 and parts[4] == wire.MessageType.STATUS.value


def _progress(writer: RecordingWriter, elapsed: float) -> str:
    rate = writer.messages / elapsed if elapsed > 0 else 0.0
    return f"{writer.messages} messages, {writer.bytes / 1024:,.1f} KiB, {rate:,.0f} msg/s"


def _start_camera(spec: str, writer: RecordingWriter, fps: float, stop: threading.Event) -> threading.Thread:
    """Open DEVICE=SOURCE and record its frames in a thread (rendered sources: every frame, as fast as they come)."""
    import simulators
    from compound.frames import RenderedSource
    from edge.vision.sources import open_source

    simulators.register()  # the sim: camera source
    device, source_spec = spec.split("=", 1)
    source = open_source(source_spec)
    start_ns = time.time_ns()

    def loop() -> None:
        index = 0
        try:
            while not stop.is_set():
                frame = source.frame_at(index / fps) if isinstance(source, RenderedSource) else source.read()
                if frame is None:
                    return
                live = bool(getattr(source, "live", False))
                at_ns = time.time_ns() if live else start_ns + int(index / fps * 1e9)
                writer.frame(device, frame.image, index=index, time_ns=at_ns, fps=fps)
                index += 1
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=loop, name=f"record-{device}", daemon=True)
    thread.start()
    return thread


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
