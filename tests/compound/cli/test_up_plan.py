"""``compound up`` plans its children from its options: what each ``compound edge`` is started with."""

from __future__ import annotations

from pathlib import Path

from compound.cli import build_parser
from compound.cli.commands.up import edge_children, make_plan


def test_driver_and_its_options_reach_every_edge(tmp_path: Path) -> None:
    """Test that ``--driver`` and each ``--driver-option`` are passed on to every edge it starts."""
    args = build_parser().parse_args(
        [
            "up",
            "--no-hub",
            "--edges",
            "b1,b2",
            "--data-dir",
            str(tmp_path),
            "--driver",
            "sim",
            "--driver-option",
            "port=/dev/ttyUSB0",
            "--driver-option",
            "baud=9600",
        ]
    )
    children = edge_children(make_plan(args))
    assert [child.name for child in children] == ["edge-b1", "edge-b2"]
    for child in children:
        argv = list(child.argv)
        assert argv[argv.index("--driver") + 1] == "sim"
        options = [argv[i + 1] for i, a in enumerate(argv) if a == "--driver-option"]
        assert options == ["port=/dev/ttyUSB0", "baud=9600"]


def test_a_headless_run_turns_edge_supervision_off(tmp_path: Path) -> None:
    """Test that ``--duration`` (edges that stop on purpose, offline status and all) starts the hub with
    ``--no-edge-supervision``, and an open-ended run leaves supervision on."""
    from compound.cli.commands.up import hub_children

    def hub_argv(*extra: str) -> list[str]:
        args = build_parser().parse_args(["up", "--edges", "b2", "--data-dir", str(tmp_path), *extra])
        (hub,) = hub_children(make_plan(args))
        return list(hub.argv)

    assert "--no-edge-supervision" in hub_argv("--duration", "60")
    assert "--no-edge-supervision" not in hub_argv()
    options = build_parser().parse_args(["hub", "--edge-offline-after", "2m", "--edge-gap-after", "90s"])
    assert (options.edge_offline_after.total_seconds(), options.edge_gap_after.total_seconds()) == (120, 90)
