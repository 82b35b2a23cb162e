"""Operator configuration: strict models, a loader with precise errors, and lookups."""

from compound.config.loader import (
    DEFAULT_CONFIG_DIR,
    Compound,
    ConfigError,
    ConfigIssue,
    Device,
    load_config,
)
from compound.config.models import CameraType, DeviceType, DoorRole, Role

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "CameraType",
    "Compound",
    "ConfigError",
    "ConfigIssue",
    "Device",
    "DeviceType",
    "DoorRole",
    "Role",
    "load_config",
]
