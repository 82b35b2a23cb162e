"""``compound up`` plans its children from its options: what each ``compound edge`` is started with."""

from __future__ import annotations

from pathlib import Path

from compound.cli import build_parser
from compound.cli.commands.up import edge_children, make_plan


def test_driver_and_its_options_reach_every_edge(tmp_path: Path) -> None:
    """Test that ``--driver`` and each ``--driver-option`` are passed on to every edge it starts."""
    args = build_parser().parse_args(
        ["up", "--no-hub", "--edges", "b1,b2", "--data-dir", str(tmp_path), "--driver", "sim",
         "--driver-option", "port=/dev/ttyUSB0", "--driver-option", "baud=9600"]
    )
    children = edge_children(make_plan(args))
    assert [child.name for child in children] == ["edge-b1", "edge-b2"]
    for child in children:
        argv = list(child.argv)
        assert argv[argv.index("--driver") + 1] == "sim"
        options = [argv[i + 1] for i, a in enumerate(argv) if a == "--driver-option"]
        assert options == ["port=/dev/ttyUSB0", "baud=9600"]
