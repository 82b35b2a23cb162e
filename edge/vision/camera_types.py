"""The camera-type registry: what each kind of camera watches for, keyed by its device type.

A camera type (``edge/vision/types/lift.py``, ``fire_lane.py``, or a plugin module) registers a
``CameraKind``: the device ``type`` it serves in ``devices.yaml`` (any name ending in ``_camera``, see
``compound.config.models.CameraType``), a short ``name`` that is also the key of its per-camera options in
``vision.yaml`` (``lift:``, ``fire_lane:``), the pydantic model of those options, a factory of its
``VisionRule`` and, when it acts locally, a factory of its default actuator (a lift camera's
``SimulatedLift``). The vision config, the pipeline builder, restarts and the fault rules ask this registry;
nothing else names a camera type. Like Frigate's ``detector_types``, a plugin is a module that registers
itself on import (``compound --plugin MODULE``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from compound.config import Device
from compound.config.models import CameraType
from edge.vision.rules import VisionRule
from edge.vision.zones import Zone

__all__ = [
    "CAMERA_KINDS",
    "CameraKind",
    "CameraSetup",
    "UnknownCameraType",
    "camera_kind",
    "kind_by_name",
    "register_camera_kind",
]

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class UnknownCameraType(ValueError):
    """A camera device's type is not registered by any camera type (a typo, or a plugin not loaded)."""

    def __init__(self, device: str, device_type: str) -> None:
        known = ", ".join(sorted(CAMERA_KINDS)) or "(none)"
        super().__init__(
            f"camera {device}: no camera type {device_type!r} is registered (known: {known}; "
            "load a plugin with `compound --plugin MODULE` or $COMPOUND_PLUGINS)"
        )
        self.device = device
        self.device_type = device_type


@dataclass(frozen=True, slots=True)
class CameraSetup(Generic[OptionsT]):
    """What a camera type gets to build one camera's rule."""

    device: Device
    zone: Zone
    """The camera's first zone in ``vision.yaml``, else the whole frame."""
    options: OptionsT
    """The camera's options block in ``vision.yaml`` (the model's defaults when it has none)."""
    actuator: Any = None
    """What the camera commands locally (a ``LiftController``), when its type has one."""


@dataclass(frozen=True, slots=True)
class CameraKind(Generic[OptionsT]):
    """One camera type: the devices it serves, its options and how it builds its rule and actuator."""

    device_type: str
    """The device ``type`` in ``devices.yaml``, e.g. ``lift_camera``."""
    name: str
    """Short name, e.g. ``lift``: the key of its options in ``vision.yaml`` and ``CameraDevice.kind``."""
    options: type[OptionsT]
    """Per-camera options (strict pydantic model; every field needs a default)."""
    rule: Callable[[CameraSetup[OptionsT]], VisionRule]
    """Builds the camera's rule."""
    actuator: Callable[[str], Any] | None = None
    """Builds the default local actuator of a camera (by device id) when none is given."""


CAMERA_KINDS: dict[str, CameraKind[Any]] = {}
"""Registered camera types by device type."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RESERVED = frozenset({"device", "fps", "offline_after_s", "zones"})  # the fields every camera has in vision.yaml


def register_camera_kind(kind: CameraKind[Any]) -> None:
    """Register a camera type (replacing one of the same device type); ``ValueError`` on a bad name."""
    if not re.fullmatch(CameraType.PATTERN, kind.device_type):
        raise ValueError(f"camera device type {kind.device_type!r} must match {CameraType.PATTERN}")
    if not _NAME.match(kind.name) or kind.name in _RESERVED:
        raise ValueError(f"camera type name {kind.name!r} must be a lowercase identifier, not {sorted(_RESERVED)}")
    clash = kind_by_name(kind.name)
    if clash is not None and clash.device_type != kind.device_type:
        raise ValueError(f"camera type name {kind.name!r} is already used by {clash.device_type}")
    CAMERA_KINDS[kind.device_type] = kind


def camera_kind(device: Device) -> CameraKind[Any]:
    """The camera type of a camera device; ``UnknownCameraType`` when none is registered."""
    try:
        return CAMERA_KINDS[device.type.value]
    except KeyError:
        raise UnknownCameraType(device.id, device.type.value) from None


def kind_by_name(name: str) -> CameraKind[Any] | None:
    """The camera type whose options key is ``name``, if any."""
    return next((k for k in CAMERA_KINDS.values() if k.name == name), None)
