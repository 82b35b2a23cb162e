"""Hub ingest: MQTT → validate → dead-letter or store → dedup → seq gaps → alarms → routing → commit → fan out.

The parts, each in its own module:

- ``transport``: ``Ingestor``, the paho client (manual ack after commit, shared or plain subscription,
  reconnects), the queue feeding one worker thread, resend sweeps; ``run(stop)`` is a coroutine, so a FastAPI
  lifespan or ``compound hub`` can host it.
- ``validate``: a pure function from (topic, payload, receipt time, config, settings) to a parsed message or a
  dead letter with its reason (``DEAD_LETTER_REASONS``).
- ``store`` and ``sequence``: one transaction per batch: events once (insert-ignore on the event id) and into
  alarms, per-edge seq tracking (gaps, tails a heartbeat shows) and the resend ranges they call for.
- ``fanout``: after the commit only: resend requests, alarm changes to the live feed, series.
- ``pipeline``: ``MessagePipeline`` ties validate, store and fan-out together for one batch.

Brokers that acknowledge an event to the edge and then lose it (amqtt restarts, a hub SIGKILLed on amqtt)
are covered end to end: the hub asks the edge to resend what it misses (``hub/resend.py``): a recorded seq
gap, a heartbeat past the last stored seq, and after every subscribe the open gaps and everything after the
last stored seq; a sweep every ``resend_sweep_s`` asks again while gaps stay open.

Every time the hub reads comes from one injected ``compound.clock.Clock``: receipt times, gap stamps and
alarm steps from ``now()``, sweep and rate-limit periods from ``monotonic()``.
"""

from hub.ingest.fanout import BatchOutcome
from hub.ingest.inbound import Inbound
from hub.ingest.pipeline import MessagePipeline
from hub.ingest.settings import IngestSettings
from hub.ingest.transport import Ingestor, probe_shared_subscriptions
from hub.ingest.validate import DEAD_LETTER_REASONS, Parsed, ParsedSnapshot, Rejected, describe_span, validate

__all__ = [
    "DEAD_LETTER_REASONS",
    "BatchOutcome",
    "Inbound",
    "IngestSettings",
    "Ingestor",
    "MessagePipeline",
    "Parsed",
    "ParsedSnapshot",
    "Rejected",
    "describe_span",
    "probe_shared_subscriptions",
    "validate",
]
