"""The channel types that ship with the hub: importing this module registers each of them."""

import hub.notify.channels.webpush  # noqa: F401
