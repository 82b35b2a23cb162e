"""Load ``channels.yaml`` (the channel plugins' entries) and check it against ``escalation.yaml`` and ``people.yaml``.

``channels.yaml`` is a list under ``channels:``, each entry discriminated on ``type`` by the channel registry
(``hub.notify.channels``): unknown types, unknown keys, duplicate ids, and references from escalation levels
or people's contacts to channels that do not exist are all ``ConfigIssue``s naming the file and key, raised
together as one ``ConfigError`` — the hub refuses to start rather than drop a fire's notification silently.
Without the file the compound gets ``inbox`` and ``webpush``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compound import wire
from compound.config import Compound
from compound.config.issues import ConfigError, ConfigIssue
from compound.config.loader import read_yaml, validation_issues
from hub.notify.channels import CHANNEL_TYPES, Channel, ChannelConfig, ChannelContext
from hub.notify.escalation import ChannelInfo

__all__ = ["CHANNELS_FILE", "ChannelSet", "build_channels", "channel_infos", "load_channel_configs"]

CHANNELS_FILE = "channels.yaml"
_DEFAULT: list[dict[str, Any]] = [
    {"id": "inbox", "type": "inbox"},
    {"id": "webpush", "type": "webpush", "contact": "mailto:ops@example.org"},
]


@dataclass(frozen=True, slots=True)
class ChannelSet:
    """The built channels of a hub and what escalation needs to know of each."""

    channels: Mapping[str, Channel]
    infos: Mapping[str, ChannelInfo]


def _builtin() -> None:
    import hub.notify.channels.builtin
    import hub.notify.channels.inbox  # noqa: F401


def load_channel_configs(compound: Compound) -> list[ChannelConfig]:
    """Parse and cross-check ``<config dir>/channels.yaml``; ``ConfigError`` listing every problem."""
    _builtin()
    issues: list[ConfigIssue] = []
    path = Path(compound.source) / CHANNELS_FILE
    entries: Any = _DEFAULT
    if path.exists():
        data = read_yaml(path, issues)
        if data is not None:
            if not isinstance(data, dict) or not isinstance(data.get("channels"), list) or set(data) != {"channels"}:
                issues.append(
                    ConfigIssue(CHANNELS_FILE, "", "top level must be a mapping with one key, 'channels' (a list)")
                )
                entries = []
            else:
                entries = data["channels"]
    configs: list[ChannelConfig] = []
    for i, entry in enumerate(entries):
        where = f"channels[{i}]"
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind not in CHANNEL_TYPES:
            known = ", ".join(sorted(CHANNEL_TYPES))
            issues.append(
                ConfigIssue(CHANNELS_FILE, f"{where}.type", f"unknown channel type {kind!r} (known: {known})")
            )
            continue
        try:
            configs.append(CHANNEL_TYPES[kind].config.model_validate(entry))
        except ValidationError as exc:
            for issue in validation_issues(exc, CHANNELS_FILE):
                issues.append(ConfigIssue(issue.file, f"{where}.{issue.path}" if issue.path else where, issue.message))
    _check(compound, configs, issues)
    if issues:
        raise ConfigError(issues)
    return configs


def _check(compound: Compound, configs: list[ChannelConfig], issues: list[ConfigIssue]) -> None:
    by_id: dict[str, ChannelConfig] = {}
    for i, config in enumerate(configs):
        if config.id in by_id:
            issues.append(ConfigIssue(CHANNELS_FILE, f"channels[{i}].id", f"duplicate channel id {config.id!r}"))
        by_id[config.id] = config
    kinds = {k.value for k in wire.EventKind}
    esc = compound.escalation
    for p, policy in enumerate(esc.policies):
        for k, kind in enumerate(policy.kinds):
            if kind not in kinds:
                issues.append(
                    ConfigIssue("escalation.yaml", f"policies[{p}].kinds[{k}]", f"unknown alarm kind {kind!r}")
                )
        for n, level in enumerate(policy.levels):
            for c, channel in enumerate(level.channels):
                found = by_id.get(channel)
                if found is None:
                    issues.append(
                        ConfigIssue(
                            "escalation.yaml",
                            f"policies[{p}].levels[{n}].channels[{c}]",
                            f"no channel {channel!r} in {CHANNELS_FILE}",
                        )
                    )
                elif found.group:
                    issues.append(
                        ConfigIssue(
                            "escalation.yaml",
                            f"policies[{p}].levels[{n}].channels[{c}]",
                            f"{channel!r} posts to a group chat: list it under 'groups'",
                        )
                    )
            for g, group in enumerate(level.groups):
                found = by_id.get(group)
                if found is None or not found.group:
                    what = "no channel" if found is None else "not a group channel:"
                    issues.append(
                        ConfigIssue("escalation.yaml", f"policies[{p}].levels[{n}].groups[{g}]", f"{what} {group!r}")
                    )
    for kind in list(esc.plans) + list(esc.never_silenced):
        if kind not in kinds:
            issues.append(ConfigIssue("escalation.yaml", "plans/never_silenced", f"unknown alarm kind {kind!r}"))
    for i, person in enumerate(compound.people_file.people):
        for channel in list(person.contacts) + list(person.fallback):
            found = by_id.get(channel)
            if found is None:
                issues.append(ConfigIssue("people.yaml", f"people[{i}].contacts/fallback", f"no channel {channel!r}"))
            elif found.group:
                issues.append(
                    ConfigIssue("people.yaml", f"people[{i}].contacts/fallback", f"{channel!r} is a group channel")
                )


def build_channels(configs: list[ChannelConfig], context: ChannelContext) -> ChannelSet:
    """Build each configured channel."""
    channels = {c.id: CHANNEL_TYPES[c.type].build(c, context) for c in configs}
    return ChannelSet(channels, channel_infos(configs))


def channel_infos(configs: list[ChannelConfig]) -> dict[str, ChannelInfo]:
    """What escalation needs of the configured channels, without building them."""
    return {c.id: ChannelInfo(c.id, group=c.group, needs_address=c.needs_address and not c.group) for c in configs}
