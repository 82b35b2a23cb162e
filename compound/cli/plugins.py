"""Plugins: modules imported before a command runs, that register camera types, detectors, drivers, sources.

``compound --plugin MODULE`` (repeatable) and ``$COMPOUND_PLUGINS`` (comma-separated module names) name
them, like ``pytest -p``. A plugin registers itself on import (``register_camera_kind``,
``register_detector``, ``register_driver``, ``register_camera_source``). The names are written back to
``$COMPOUND_PLUGINS``, so the processes ``compound up`` starts load the same plugins.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from types import ModuleType

__all__ = ["ENV", "PluginError", "load_plugins", "plugin_names"]

log = logging.getLogger(__name__)

ENV = "COMPOUND_PLUGINS"
"""Environment variable naming plugin modules, comma-separated."""


class PluginError(ImportError):
    """A plugin module cannot be imported; ``module`` names it."""

    def __init__(self, module: str, message: str) -> None:
        super().__init__(f"cannot load plugin {module!r}: {message}")
        self.module = module


def plugin_names(options: Iterable[str] = ()) -> list[str]:
    """Plugin modules from ``$COMPOUND_PLUGINS`` then ``options`` (``--plugin``), each once, in order."""
    names = [n.strip() for n in os.environ.get(ENV, "").split(",")] + [n.strip() for n in options]
    return list(dict.fromkeys(n for n in names if n))


def load_plugins(names: Iterable[str]) -> list[ModuleType]:
    """Import each plugin module (registering what it offers) and export the list in ``$COMPOUND_PLUGINS``."""
    names = list(names)
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise PluginError(name, str(exc)) from exc
        log.info("plugin %s loaded", name)
    if names:
        os.environ[ENV] = ",".join(names)
    return modules
