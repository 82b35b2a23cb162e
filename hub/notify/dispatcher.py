"""The dispatcher: takes due escalation steps and delivers due notification jobs, across any number of hubs.

Each tick:
1. **Steps.** One transaction per step: pick a due ``pending`` step (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   so replicas pick different rows), move it off ``pending`` with a conditional update (the one guarantee on
   every engine: exactly one transaction sees ``rowcount == 1``), and write what it does — the next level's
   jobs and the step after — in that same transaction. A hub killed before the commit leaves the step pending
   for the next tick (of any hub); after the commit, its jobs exist. Each step is therefore taken exactly once.
2. **Jobs.** Claim due jobs (``pending``, or ``sending`` whose lease expired: a dispatcher died mid-send) by
   writing ``sending`` + a lease, commit, send outside any transaction, then record the attempt and the outcome
   in a new transaction. A crash between send and record means the job is sent again when its lease expires:
   at least once to the channel, with the job's stable id as the idempotency key where the platform takes one.
   Per channel a token bucket holds the platform's limit; when more jobs are due for one recipient than the
   bucket allows, they go as one digest message listing every alarm.
3. **Outcome.** Success: the job is delivered and a ``raised`` alarm becomes ``notified`` (with its incident's
   other raised alarms). Failure: retried with exponential backoff while retryable and under the channel's
   ``max_attempts``; then ``failed``, and the person's fallback channel gets a job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from compound.clock import Clock, WallClock
from compound.config import Compound
from hub.alarms import lifecycle
from hub.alarms.changes import AlarmChanges
from hub.alarms.schemas import AlarmChange
from hub.db import Alarm, Database, DeliveryAttempt, EscalationStep, JobState, NotificationJob, StepState
from hub.notify.cards import CardMaker
from hub.notify.channels.base import Channel, DeliveryResult, Message, Recipient
from hub.notify.escalation import Escalation
from hub.notify.links import ActionTokens
from hub.notify.ratelimit import TokenBucket

__all__ = ["Dispatcher", "TickReport"]

log = logging.getLogger(__name__)

YIELD_PER_TICK_S: Final = 0.1
"""The most one tick waits in all for ``Dispatcher.foreground`` to clear: a steady stream of messages delays
notifications by at most this much a tick."""
LEASE_S: Final = 60.0
"""How long a claimed job is left to its dispatcher before another may send it again."""
MAX_BACKOFF_S: Final = 300.0


class Foreground(Protocol):
    """Work of this process that goes before the dispatcher's (ingest's backlog, ``hub.ingest.backlog.Backlog``)."""

    def wait_clear(self, timeout_s: float) -> bool: ...


@dataclass(slots=True)
class TickReport:
    """What one tick did (for logs, tests and benchmarks)."""

    steps: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    digests: int = 0
    waiting: int = 0
    """Due jobs held back by a channel's rate limit."""
    results: list[tuple[int, DeliveryResult]] = field(default_factory=list)


@dataclass(slots=True)
class _Outgoing:
    job_ids: list[int]
    channel: str
    message: Message


class Dispatcher:
    """Takes steps and delivers jobs for one hub process (any number of them may share a database)."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        channels: Mapping[str, Channel],
        escalation: Escalation,
        cards: CardMaker,
        *,
        links: ActionTokens | None = None,
        clock: Clock | None = None,
        changes: AlarmChanges | None = None,
        hub_id: str = "hub",
        batch: int = 200,
        workers: int = 8,
    ) -> None:
        self.db = db
        self.compound = compound
        self.channels = dict(channels)
        self.escalation = escalation
        self.cards = cards
        self.links = links
        self.clock: Clock = clock or WallClock()
        self.changes = changes
        self.hub_id = hub_id
        self.batch = batch
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")
        self._buckets: dict[str, TokenBucket | None] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.foreground: Foreground | None = None
        """When set, each write transaction of a tick starts once it is clear (at most ``YIELD_PER_TICK_S`` of waiting a
        tick): the alarms being stored go first, their notifications right after."""
        self._yield_left = 0.0

    # ------------------------------------------------------------------ loop

    def start(self, interval_s: float = 0.25) -> None:
        """Run ``tick`` every ``interval_s`` in a thread until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), name="notify-dispatcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Jobs were just written (by this process): tick now instead of at the next poll. Any thread."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                report = self.tick()
            except Exception:  # the loop must outlive a database hiccup; the rows stay for the next tick
                log.exception("notification tick failed")
                report = TickReport()
            if not (report.steps or report.sent):
                self._wake.wait(interval_s)
                self._wake.clear()

    def tick(self) -> TickReport:
        """Take every due step, then send every due job the rate limits allow; wait for the sends."""
        report = TickReport()
        self._yield_left = YIELD_PER_TICK_S
        self._take_steps(report)
        outgoing = self._claim_jobs(report)
        if outgoing:
            futures = [(out, self._pool.submit(self._send, out)) for out in outgoing]
            for out, future in futures:
                result, latency_ms = future.result()
                self._record(out, result, latency_ms, report)
        return report

    def _yield(self) -> None:
        """Before a write transaction: let the foreground's pending work go first, within the tick's allowance."""
        if self.foreground is None or self._yield_left <= 0:
            return
        started = time.monotonic()
        self.foreground.wait_clear(self._yield_left)
        self._yield_left -= time.monotonic() - started

    # ------------------------------------------------------------------ steps

    def _take_steps(self, report: TickReport) -> None:
        for _ in range(self.batch):
            now = self.clock.now()
            published: list[AlarmChange] = []
            self._yield()
            try:
                with self.db.session() as session:
                    step = session.scalar(
                        select(EscalationStep)
                        .where(EscalationStep.state == StepState.PENDING, EscalationStep.due_at <= now)
                        .order_by(EscalationStep.due_at, EscalationStep.id)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    )
                    if step is None:
                        return
                    claimed = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                        update(EscalationStep)
                        .where(EscalationStep.id == step.id, EscalationStep.state == StepState.PENDING)
                        .values(state=StepState.DONE, taken_by=self.hub_id)
                        .execution_options(synchronize_session=False)
                    ).rowcount
                    if claimed != 1:
                        continue
                    outcome = self.escalation.take_step(session, step, now)
                    step.taken_by = self.hub_id
                    alarm = session.get(Alarm, outcome.alarm_id)
                    if alarm is not None:
                        published.append(AlarmChange(alarm=lifecycle.to_public(alarm), change="escalated"))
                    log.info("escalation step %d of alarm %d taken: %s", step.id, outcome.alarm_id, outcome.note)
                    self._announce(session, published)
            except OperationalError as exc:  # another hub holds the row (SQLite): next tick
                log.info("escalation step skipped this tick: %s", exc.__class__.__name__)
                return
            report.steps += 1
            self._publish(published)

    # ------------------------------------------------------------------ jobs

    def _bucket(self, channel_id: str) -> TokenBucket | None:
        if channel_id not in self._buckets:
            channel = self.channels.get(channel_id)
            limit = channel.config.effective_rate() if channel is not None else None
            self._buckets[channel_id] = TokenBucket(limit) if limit is not None else None
        return self._buckets[channel_id]

    def _claim_jobs(self, report: TickReport) -> list[_Outgoing]:
        now = self.clock.now()
        mono = self.clock.monotonic()
        outgoing: list[_Outgoing] = []
        claimed: list[tuple[list[NotificationJob], str, Channel]] = []
        self._yield()
        with self.db.session() as session:
            jobs = session.scalars(
                select(NotificationJob)
                .where(
                    or_(
                        and_(NotificationJob.state == JobState.PENDING, NotificationJob.due_at <= now),
                        and_(NotificationJob.state == JobState.SENDING, NotificationJob.lease_until < now),
                    )
                )
                .order_by(NotificationJob.due_at, NotificationJob.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            groups: dict[tuple[str, str | None], list[NotificationJob]] = defaultdict(list)
            for job in jobs:
                groups[(job.channel, job.person_id)].append(job)
            for (channel_id, _person), group in groups.items():
                channel = self.channels.get(channel_id)
                if channel is None:
                    for job in group:
                        self._fail_now(session, job, now, "no_channel", f"channel {channel_id!r} is not configured")
                        report.failed += 1
                    continue
                bucket = self._bucket(channel_id)
                free = len(group) if bucket is None else bucket.available(mono)
                if free == 0:
                    report.waiting += len(group)
                    continue
                batches = [[job] for job in group] if len(group) <= free else [group]
                for batch in batches:
                    if bucket is not None:
                        bucket.take(mono)
                    for job in batch:
                        job.state = JobState.SENDING
                        job.claimed_by = self.hub_id
                        job.lease_until = now + timedelta(seconds=LEASE_S)
                    claimed.append((batch, channel_id, channel))
                    if len(batch) > 1:
                        report.digests += 1
        if not claimed:
            return []
        # The messages are made after the claim commits, in a read-only transaction: cards read the alarm, its
        # place and its residents, and the database's write lock (SQLite) is not held meanwhile.
        for batch, channel_id, channel in claimed:
            self._yield()  # a card is a few ms of Python: ingest's pending messages first
            with self.db.session() as session:
                outgoing.append(_Outgoing([j.id for j in batch], channel_id, self._message(session, channel, batch)))
        return outgoing

    def _message(self, session: Session, channel: Channel, jobs: list[NotificationJob]) -> Message:
        config = channel.config
        personal = not config.group
        lang: Literal["zh", "en"] = "en" if config.lang == "en" else "zh"
        cards = []
        seen: set[int] = set()
        for job in jobs:
            if job.alarm_id in seen:
                continue
            seen.add(job.alarm_id)
            alarm = session.get(Alarm, job.alarm_id)
            assert alarm is not None
            card = self.cards.card(session, alarm, job, lang, personal=personal)
            cards.append(card if personal else card.for_group())
        first = jobs[0]
        recipient = None
        links = None
        if personal and first.person_id is not None:
            person = self.compound.people.get(first.person_id)
            address = person.contacts.get(config.id) if person is not None else None
            recipient = Recipient(first.person_id, person.name if person else first.person_id, address or None)
            if self.links is not None and len(cards) == 1:
                links = self.links.links(first.person_id, cards[0].alarm_id)
        job_id = first.job_key if len(jobs) == 1 else f"digest:{first.job_key}+{len(jobs) - 1}"
        return Message(job_id=job_id, cards=tuple(cards), recipient=recipient, links=links)

    def _send(self, out: _Outgoing) -> tuple[DeliveryResult, float]:
        started = time.perf_counter()
        try:
            result = self.channels[out.channel].send(out.message)
        except Exception as exc:  # a channel must not raise; if one does, it is a failed, retryable attempt
            log.exception("channel %s raised on job %s", out.channel, out.message.job_id)
            result = DeliveryResult(ok=False, code="exception", detail=f"{exc.__class__.__name__}: {exc}"[:300])
        return result, (time.perf_counter() - started) * 1000.0

    def _record(self, out: _Outgoing, result: DeliveryResult, latency_ms: float, report: TickReport) -> None:
        now = self.clock.now()
        published: list[AlarmChange] = []
        carried: list[int] = []
        report.sent += 1
        if result.throttled_for_s is not None:
            bucket = self._bucket(out.channel)
            if bucket is not None:
                bucket.penalise(self.clock.monotonic(), result.throttled_for_s)
        self._yield()
        with self.db.session() as session:
            for job_id in out.job_ids:
                job = session.get(NotificationJob, job_id, with_for_update=True)
                if job is None:
                    continue
                report.results.append((job_id, result))
                job.attempts += 1
                job.last_code = result.code
                job.last_detail = result.detail[:300] or None
                session.add(
                    DeliveryAttempt(
                        job_id=job.id,
                        alarm_id=job.alarm_id,
                        channel=job.channel,
                        person_id=job.person_id,
                        at=now,
                        latency_ms=latency_ms,
                        ok=result.ok,
                        code=result.code,
                        detail=result.detail[:300] or None,
                        digest=len(out.message.cards),
                        hub=self.hub_id,
                    )
                )
                if result.ok:
                    job.state = JobState.DELIVERED
                    job.delivered_at = now
                    if len(out.job_ids) > 1:
                        job.digest_of = out.job_ids[0]
                    lead_changes, others = self._notified(session, job, now)
                    published += lead_changes
                    carried += others
                    report.delivered += 1
                    continue
                max_attempts = self.channels[job.channel].config.max_attempts
                if result.retryable and job.attempts < max_attempts:
                    backoff = min(MAX_BACKOFF_S, 2.0 ** (job.attempts - 1))
                    wait = max(backoff, result.throttled_for_s or 0.0)
                    job.state = JobState.PENDING
                    job.due_at = now + timedelta(seconds=wait)
                    job.claimed_by = None
                    job.lease_until = None
                else:
                    self._fail_now(session, job, now, result.code, result.detail)
                    report.failed += 1
            self._announce(session, published)
        self._publish(published)
        self._publish_notified(carried)

    def _fail_now(self, session: Session, job: NotificationJob, now: datetime, code: str | None, detail: str) -> None:
        job.state = JobState.FAILED
        job.last_code = code
        job.last_detail = detail[:300] or None
        fallback = self.escalation.write_fallback(session, job, now)
        log.warning(
            "notification job %d (%s to %s) failed for good: %s %s; fallback: %s",
            job.id,
            job.channel,
            job.person_id or "group",
            code,
            detail[:120],
            fallback or "none",
        )

    def _notified(self, session: Session, job: NotificationJob, now: datetime) -> tuple[list[AlarmChange], list[int]]:
        """Mark the job's alarm notified, and the other raised alarms of its incident (the lead's delivery carries
        them: ``lifecycle.mark_incident_notified``, in bulk). Returns the lead's change and the others' ids, which are
        announced to other replicas by id and published here once committed (``_publish_notified``)."""
        alarm = session.get(Alarm, job.alarm_id, with_for_update=True)
        if alarm is None:
            return [], []
        changes = []
        transition = lifecycle.mark_notified(alarm, job.person_id, job.channel, now)
        if transition is not None:
            changes.append(transition.change)
        others: list[int] = []
        if alarm.incident_id is not None:
            incident, person = alarm.incident_id, job.person_id
            others = lifecycle.mark_incident_notified(session, incident, alarm.id, person, job.channel, now)
            if self.changes is not None:
                self.changes.announce_ids(session, others, "notified")
        return changes, others

    def _publish_notified(self, alarm_ids: list[int]) -> None:
        """Publish the ``notified`` change of alarms marked in bulk, read back after the commit (outside the write
        transaction: a fire's incident loads hundreds)."""
        if self.changes is None or not alarm_ids:
            return
        self._yield()
        with self.db.session() as session:
            alarms = session.scalars(
                select(Alarm).options(selectinload(Alarm.assignees)).where(Alarm.id.in_(alarm_ids)).order_by(Alarm.id)
            ).all()
            changes = [AlarmChange(alarm=lifecycle.to_public(a), change="notified") for a in alarms]
        self._publish(changes)

    def _announce(self, session: Session, changes: list[AlarmChange]) -> None:
        """Tell other hub replicas about ``changes`` when ``session`` commits (``AlarmChanges.announce``)."""
        if self.changes is not None:
            self.changes.announce(session, changes)

    def _publish(self, changes: list[AlarmChange]) -> None:
        if self.changes is None:
            return
        for change in changes:
            self.changes.publish(change)
