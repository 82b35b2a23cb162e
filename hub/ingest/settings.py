"""``IngestSettings``: the knobs of hub ingest (timestamp bounds, batching, MQTT session, resend timing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from compound.tls import MqttTLS

__all__ = ["IngestSettings"]


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Ingest knobs."""

    max_skew: timedelta = timedelta(minutes=5)
    """How far *ahead* of the hub's clock a device timestamp may be. Device clocks drift (an RTC without NTP
    gains or loses seconds a day; one that boots before NTP syncs is off until it does), so a few minutes are
    tolerated; further is a wrong clock (a year ahead, milliseconds read as seconds, local time sent as UTC)
    and an event stamped in the future would sort ahead of real ones and be routed by a later roster: such a
    message is restamped at the hub's receipt time (``hub.ingest.validate``), never refused. Simulated runs
    whose devices keep another timeline than the hub widen it explicitly
    (``compound hub --max-skew``, which ``compound up`` sets)."""
    max_age: timedelta = timedelta(days=400)
    """How far *behind* the hub's clock a device timestamp may be. Old is normal: an outbox replayed after an
    outage, a journal resend (7 days), a simulated scenario started within the past year; older than this is
    a device with no time at all (1970) or a wrong century, restamped at the hub's receipt time like one ahead."""
    batch_size: int = 200
    """Most messages stored in one transaction (then acked together)."""
    shared_group: str = "hub"
    replica: str = "1"
    """Names this hub among replicas; part of the stable MQTT client id."""
    keepalive: int = 30
    username: str | None = None
    """MQTT username. amqtt 0.12 keeps sessions (offline queue) only for non-anonymous clients."""
    password: str | None = None
    tls: MqttTLS | None = None
    """The broker's TLS listener: the CA and the hub's client certificate (``compound keys --tls``); None: TCP."""
    resend_min_interval_s: float = 10.0
    """No seq range is asked of an edge again within this many seconds."""
    resend_sweep_s: float = 5.0
    """How often open seq gaps are asked for again (and heartbeats ahead of the stored seq checked)."""
    resend_settle_s: float = 3.0
    """After a subscribe, wait this long before asking for everything after the last stored seq: a broker that
    kept the session (Mosquitto) delivers its queue first, so only what it really lost is asked for."""
    resend_gap_max_age: timedelta = timedelta(days=8)
    """Gaps older than this are no longer asked for (the edge journal keeps 7 days by default)."""
    supervise_edges: bool = True
    """Raise ``edge_offline`` for a configured edge that went offline or lost events (``hub.ingest.supervision``);
    ``compound hub --no-edge-supervision`` turns it off (``compound up --duration``, whose edges stop on purpose)."""
    edge_offline_after_s: float | None = None
    """Nothing heard from an edge that has reported before (heartbeat, reading, event, status) for this long on the
    hub clock: ``edge_offline``. ``None``: 3 heartbeat intervals (``compound.yaml`` rules, 90 s by default). On a
    scaled clock at least 15 real seconds (``15 × speed``): a fast simulated run's edges tick once a real second."""
    edge_gap_after_s: float = 300.0
    """A seq gap not filled (by resends) this long after it was detected: ``edge_offline`` (events unaccounted for).
    On a scaled clock at least 60 real seconds (``60 × speed``): resends are asked for in real time."""
    supervise_every_s: float = 5.0
    """How often (hub clock's monotonic seconds) edges are checked for silence and unfilled gaps; a last will's
    ``offline`` status and the edge's return act at once, in the batch that carries them."""
    device_stale_after_s: float | None = None
    """Patrol: a sensor with no reading or event for this long is listed as stale (``/healthz``, ``stale_devices``).
    ``None``: the compound's ``fault.offline_after_s`` (300 s by default)."""
