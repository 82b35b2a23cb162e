"""``python -m compound.cli``: the same entry point as the ``compound`` command."""

from compound.cli import main

main()
