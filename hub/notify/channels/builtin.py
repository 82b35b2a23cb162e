"""The channel types that ship with the hub: importing this module registers each of them."""

import hub.notify.channels.dingtalk
import hub.notify.channels.feishu
import hub.notify.channels.ntfy
import hub.notify.channels.sms
import hub.notify.channels.webhook
import hub.notify.channels.webpush
import hub.notify.channels.wecom  # noqa: F401
