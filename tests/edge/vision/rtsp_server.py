"""A real RTSP server for tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0) playing a clip.

Run with the *system* Python (``/usr/bin/python3``), which has Debian's ``python3-gi``; the project's venv
does not. It serves ``rtsp://127.0.0.1:PORT/PATH``: a rendered clip, a folder of JPEG frames
(``00000.jpg``, ``00001.jpg``, ...), looped forever, encoded to H.264 (x264, zero-latency) like an IP
camera's main stream. SIGTERM/SIGINT stop it.

    /usr/bin/python3 tests/edge/vision/rtsp_server.py --port 8554 --frames DIR --fps 5 --path /cam
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(frames: str, fps: int) -> str:
    """The media pipeline: JPEG frames -> raw video -> H.264 -> RTP payloader ``pay0``."""
    return (
        f'( multifilesrc location="{frames}/%05d.jpg" index=0 loop=true caps="image/jpeg,framerate={fps}/1" '
        "! jpegdec ! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=800 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", required=True, help="folder of %%05d.jpg frames")
    parser.add_argument("--fps", type=int, default=5)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.frames, args.fps))
    factory.set_shared(True)  # every client sees the same live stream, like a camera
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"serving rtsp://{args.address}:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
