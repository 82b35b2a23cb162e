"""The built-in channel types: importing this module registers each of them (``register_channel_type``)."""

from __future__ import annotations

import hub.notify.channels.dingtalk
import hub.notify.channels.feishu
import hub.notify.channels.ntfy
import hub.notify.channels.sms
import hub.notify.channels.webhook
import hub.notify.channels.wecom  # noqa: F401
