"""channels.yaml: strict, cross-checked with escalation.yaml and people.yaml; sane defaults without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compound.config import ConfigError, load_config
from compound.config.loader import DEFAULT_CONFIG_DIR
from hub.notify.settings import channel_infos, load_channel_configs


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def test_shipped_channels_reach_people_without_addresses() -> None:
    """Test that the shipped channels load and that the in-app inbox and Web Push need no address per person."""
    infos = channel_infos(load_channel_configs(load_config()))
    assert {cid: (i.group, i.needs_address) for cid, i in infos.items()} == {
        "inbox": (False, False),
        "webpush": (False, False),
    }


def test_without_channels_yaml_the_defaults_apply(tmp_path: Path) -> None:
    """Test that a config directory with no channels.yaml gets the inbox and Web Push."""
    root = _copy(tmp_path)
    (root / "channels.yaml").unlink()
    assert [c.id for c in load_channel_configs(load_config(root))] == ["inbox", "webpush"]


def test_unknown_type_key_and_reference_are_each_named(tmp_path: Path) -> None:
    """Test that an unknown channel type, an unknown key and an escalation level naming a missing channel are
    all reported together, each with its file and place."""
    root = _copy(tmp_path)
    (root / "channels.yaml").write_text(
        "channels:\n"
        "  - {id: inbox, type: inbox, colour: red}\n"
        "  - {id: pager, type: pager}\n"
        "  - {id: webpush, type: webpush, contact: 'mailto:a@b.c'}\n",
        encoding="utf-8",
    )
    escalation = (root / "escalation.yaml").read_text(encoding="utf-8")
    (root / "escalation.yaml").write_text(escalation.replace("channels: [webpush, inbox]}", "channels: [sms]}", 1))
    with pytest.raises(ConfigError) as caught:
        load_channel_configs(load_config(root))
    text = str(caught.value)
    assert "channels[0].colour" in text and "unknown key" in text
    assert "unknown channel type 'pager'" in text
    assert "no channel 'sms' in channels.yaml" in text
