"""Notifications and escalation: durable jobs written with the alarm, channels that deliver them, timers up the grid.

- ``card``: the alert card every channel renders (place, evidence, response plan, resources, care profile).
- ``channels``: the channel plugins (a registry keyed on the ``type`` of ``configs/channels.yaml``).
- ``ratelimit``: token buckets at each platform's documented limit.
- ``tables``: notification jobs, delivery attempts, escalation steps, incidents, silences (hub DB rows).
- ``escalation``: what a raise writes and what a due step does (pure of I/O but for the session).
- ``dispatcher``: claims due jobs and steps (one taker across hub replicas) and delivers.
"""
