"""What an alarm's life writes into the notification outbox and the escalation timers, inside its transaction.

Every function here takes the caller's session and only adds rows: the raise that routes an alarm writes its
level-0 jobs and its next step in the same commit as the alarm; a person's acknowledgement cancels the steps
in the same commit as the state change; a due step, taken by one hub, writes the next level's jobs and the
step after it in the same commit as marking itself done. A crash anywhere therefore leaves either the cause
and all its consequences, or neither — nothing is held in memory.

Rules kept here (``docs``: README "Escalation"):
- Level 0 is the people the router picked (the stand-in when the worker is off duty); later levels are roles
  resolved up the grid chain at the moment the step is taken.
- Acknowledging stops escalation. For policies with ``on_site_within_s`` (fire, gas) a second clock starts:
  nobody on site in time → escalation resumes from the next level.
- Incidents: alarms of one place within the window share the lead alarm's notification stream; a fire or gas
  alarm never joins a stream that is not itself fire or gas (grouping may only add to who is told), and two
  critical fire/gas detectors agreeing raise the incident to ``major`` and tell everyone already told.
- Silences keep an alarm from being pushed (it is stored and shown) — never fire or gas. A drill silence
  marks alarms as drills: pushed marked 演练 and kept out of the response metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from compound.config import Compound
from compound.config.escalation import Level, Policy
from compound.config.people import Role
from hub.alarm_states import AlarmState
from hub.db import Alarm, AlarmHistory, EscalationStep, Incident, JobState, NotificationJob, Silence, StepState
from hub.routing.router import Router

__all__ = ["DEFAULT_CHANNELS", "SEVERITY_RANK", "ChannelInfo", "Escalation", "StepOutcome"]

log = logging.getLogger(__name__)

SYSTEM: Final = "system"
SEVERITY_RANK: Final = {"info": 0, "warning": 1, "critical": 2, "major": 3}
"""Incident severities, lowest first; ``major``: two or more critical fire/gas detectors in one place agree."""
EDGE_OFFLINE: Final = "edge_offline"
"""The hub-raised kind (``compound.wire.EventKind.EDGE_OFFLINE``): it leads its edge's fault incident."""
MAX_FINAL_REPEATS: Final = 100
"""Reminders of the last level after its timeout (every ``final_repeat_every_s``) before the chain stops."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What escalation needs to know of a channel: does it post to a group, does a person need an address on it."""

    id: str
    group: bool
    needs_address: bool


DEFAULT_CHANNELS: Final = {
    "webpush": ChannelInfo("webpush", group=False, needs_address=False),
    "inbox": ChannelInfo("inbox", group=False, needs_address=False),
}
"""The channels of a compound without ``channels.yaml``: Web Push to the worker page and the in-app inbox."""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What taking one step did."""

    step_id: int
    alarm_id: int
    jobs: int
    note: str


class Escalation:
    """Writes notification jobs and escalation steps for alarms, from ``escalation.yaml`` and ``channels.yaml``."""

    def __init__(self, compound: Compound, router: Router, channels: Mapping[str, ChannelInfo]) -> None:
        self.compound = compound
        self.config = compound.escalation
        self.router = router
        self.channels = dict(channels)
        self._never_silenced = frozenset(self.config.never_silenced)

    # ------------------------------------------------------------------ raise

    def on_raise(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """A new alarm was raised and routed (``alarm.assignees`` set, ``alarm.id`` flushed): silence, incident,
        level-0 jobs and the next step, all in the caller's transaction."""
        silence = self._silence_for(session, alarm, now)
        if silence is not None and silence.drill:
            alarm.drill = True
            self._note(
                session,
                alarm,
                now,
                f"演练：静默规则 {silence.id}（{silence.reason}）将此告警标为演练",
                {"key": "esc_drill", "rule": silence.id, "reason": silence.reason},
            )
        elif silence is not None and alarm.kind in self._never_silenced:
            note = f"静默规则 {silence.id} 不适用：火警和燃气告警从不静默"
            self._note(session, alarm, now, note, {"key": "esc_never_silenced", "rule": silence.id})
        elif silence is not None:
            alarm.silenced_by = silence.id
            note = f"已静默（规则 {silence.id}：{silence.reason}，{silence.author}）：不推送"
            data = {"key": "esc_silenced", "rule": silence.id, "reason": silence.reason, "author": silence.author}
            self._note(session, alarm, now, note, data)
            return
        if self._join_incident(session, alarm, now):
            return
        policy = self.config.policy_for(alarm.kind, alarm.severity)
        alarm.policy = policy.id
        alarm.escalation_level = 0
        jobs = self._write_level(session, alarm, policy, 0, 0, now, "告警已按位置派发", fresh=True)
        self._schedule_after(session, alarm, policy, 0, 0, now, now)
        if not jobs:
            self._note(session, alarm, now, "0 级无人可通知：直接进入下一级", {"key": "esc_level0_nobody"})

    def on_reraise(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """The device raised again after clearing: count it; past the flap threshold the alarm is marked flapping
        (one open alarm, no new notifications)."""
        window = timedelta(seconds=self.config.flapping.window_s)
        recent = [t for t in (alarm.reraised or []) if datetime.fromisoformat(t) > now - window]
        recent.append(now.isoformat())
        alarm.reraised = recent[-self.config.flapping.count :]
        if not alarm.flapping and len(recent) >= self.config.flapping.count:
            alarm.flapping = True
            self._note(
                session,
                alarm,
                now,
                f"抖动：{self.config.flapping.window_s:g} 秒内恢复后又报警 {len(recent)} 次，保持一个告警并标记为抖动",
                {"key": "esc_flapping", "window": self.config.flapping.window_s, "count": len(recent)},
            )

    # ------------------------------------------------------------------ people act

    def on_taken(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """Someone acknowledged: stop the chain (and reminders not yet sent); start the on-site clock if the
        policy has one. Applies to the incident's lead alarm whichever of its alarms was acknowledged."""
        lead = self._lead(session, alarm)
        self._cancel(session, lead, "已确认，停止升级", actions=("level",))
        policy = self._policy(lead)
        lead.next_step_at = None
        if policy is not None and policy.on_site_within_s is not None and lead.on_site_at is None:
            due = now + timedelta(seconds=policy.on_site_within_s)
            session.add(
                EscalationStep(
                    alarm_id=lead.id, action="on_site", level=lead.escalation_level or 0, due_at=due, created_at=now
                )
            )
            lead.next_step_at = due

    def on_site(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """Someone is on site: the on-site clock and any resumed escalation stop."""
        lead = self._lead(session, alarm)
        if lead.on_site_at is None:
            lead.on_site_at = now
        self._cancel(session, lead, "已到场，停止升级", actions=("level", "on_site"))
        lead.next_step_at = None

    def on_resolved(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """Resolved: nothing more is due for it (a lead's incident members keep their own state)."""
        self._cancel(session, alarm, "已处理完毕", actions=("level", "on_site"))
        alarm.next_step_at = None
        if alarm.incident_id is not None:
            incident = session.get(Incident, alarm.incident_id)
            if incident is not None and incident.lead_alarm_id == alarm.id:
                incident.closed_at = now

    # ------------------------------------------------------------------ timers

    def take_step(self, session: Session, step: EscalationStep, now: datetime) -> StepOutcome:
        """Do a due step the caller has claimed (``state`` already moved off ``pending`` by this transaction)."""
        alarm = session.get(Alarm, step.alarm_id, with_for_update=True)
        assert alarm is not None
        policy = self._policy(alarm)
        step.taken_at = now
        if alarm.state is AlarmState.RESOLVED or policy is None:
            return self._finish(step, alarm, 0, "告警已处理，无需升级")
        if step.action == "on_site":
            if alarm.on_site_at is not None:
                return self._finish(step, alarm, 0, "已按时到场")
            level = min((alarm.escalation_level or 0) + 1, len(policy.levels) - 1)
            note = f"已确认但 {policy.on_site_within_s:g} 秒内无人到场：继续升级"
            self._note(session, alarm, now, note, {"key": "esc_on_site_late", "within": policy.on_site_within_s})
            jobs = self._write_level(session, alarm, policy, level, 0, now, note, tag="resume")
            alarm.escalation_level = level
            self._schedule_after(session, alarm, policy, level, 0, now, now)
            return self._finish(step, alarm, jobs, note)
        taken_on = alarm.acknowledged_at is not None and alarm.acknowledged_at >= step.created_at
        if taken_on or alarm.on_site_at is not None:
            return self._finish(step, alarm, 0, "已有人确认，停止升级")
        spec = policy.levels[step.level]
        if step.repeat == 0:
            note, data = self._timeout_note(session, alarm, policy, step.level)
            alarm.escalation_level = step.level
            roles = [] if spec.to == "routed" else [r.value for r in spec.to]
            data.update(key="esc_level_up", level=step.level, roles=roles)
            self._note(session, alarm, now, f"升级到第 {step.level} 级（{spec.role_label()}）：{note}", data)
        else:
            note = f"第 {step.level} 级第 {step.repeat} 次提醒：仍无人确认"
        jobs = self._write_level(session, alarm, policy, step.level, step.repeat, now, note)
        self._schedule_after(session, alarm, policy, step.level, step.repeat, step.due_at, now)
        return self._finish(step, alarm, jobs, note)

    # ------------------------------------------------------------------ helpers

    def _finish(self, step: EscalationStep, alarm: Alarm, jobs: int, note: str) -> StepOutcome:
        step.state = StepState.DONE
        step.outcome = note[:300]
        if step.action == "on_site" and jobs == 0 and alarm.next_step_at == step.due_at:
            alarm.next_step_at = None
        return StepOutcome(step.id, alarm.id, jobs, note)

    def _timeout_note(self, session: Session, alarm: Alarm, policy: Policy, level: int) -> tuple[str, dict[str, Any]]:
        previous = policy.levels[level - 1]
        told = session.scalars(
            select(NotificationJob.person_id)
            .where(NotificationJob.alarm_id == alarm.id, NotificationJob.level == level - 1)
            .where(NotificationJob.person_id.is_not(None))
            .distinct()
        ).all()
        people = self.compound.people
        names = "、".join(people[p].name if p in people else p for p in told if p) or "无人"
        data = {"timeout": previous.ack_timeout_s, "told": [p for p in told if p]}
        return f"{previous.ack_timeout_s:g} 秒内无人确认（已通知：{names}）", data

    def _schedule_after(
        self, session: Session, alarm: Alarm, policy: Policy, level: int, repeat: int, due: datetime, now: datetime
    ) -> None:
        """Write the step after (level, repeat), whose own due time was ``due``."""
        spec = policy.levels[level]
        every = spec.repeat_every_s or 0.0
        level_start = due - timedelta(seconds=every * min(repeat, spec.repeats))
        if repeat < spec.repeats:
            nxt = (level, repeat + 1, due + timedelta(seconds=every))
        elif level + 1 < len(policy.levels):
            nxt = (level + 1, 0, level_start + timedelta(seconds=spec.ack_timeout_s))
        elif policy.final_repeat_every_s is not None and repeat < spec.repeats + MAX_FINAL_REPEATS:
            after = spec.ack_timeout_s if repeat == spec.repeats else policy.final_repeat_every_s
            base = level_start if repeat == spec.repeats else due
            nxt = (level, repeat + 1, base + timedelta(seconds=after))
        else:
            alarm.next_step_at = None
            return
        next_level, next_repeat, next_due = nxt
        session.add(
            EscalationStep(
                alarm_id=alarm.id, action="level", level=next_level, repeat=next_repeat, due_at=next_due, created_at=now
            )
        )
        alarm.next_step_at = next_due

    def _people_for(self, alarm: Alarm, level: Level, now: datetime) -> list[str]:
        if level.to == "routed":
            return [a.person_id for a in alarm.assignees]
        found: dict[str, None] = {}
        for role in level.to:
            people, _ = self.router.responsible(Role(role), alarm.grid, now)
            for person in people:
                found[person.id] = None
        return list(found)

    def _write_level(
        self,
        session: Session,
        alarm: Alarm,
        policy: Policy,
        level_index: int,
        repeat: int,
        now: datetime,
        note: str,
        *,
        tag: str = "",
        fresh: bool = False,
    ) -> int:
        """Jobs for one level (or reminder): each person on each of the level's personal channels they can be
        reached on (their first fallback when none; a reminder adds all their fallbacks), and each group once.
        ``fresh``: the alarm was raised in this transaction, so none of its jobs can exist yet (no lookup each)."""
        level = policy.levels[level_index]
        purpose = "alert" if repeat == 0 else "reminder"
        people = self.compound.people
        written = 0
        for person_id in self._people_for(alarm, level, now):
            person = people.get(person_id)
            usable = [c for c in level.channels if self._reachable(c, person_id)]
            if person is not None and (repeat > 0 or not usable):
                # Unanswered (a reminder) or unreachable on the level's channels: add the person's fallbacks.
                extra = [c for c in person.fallback if c not in usable and self._reachable(c, person_id)]
                usable += extra if repeat > 0 else extra[:1]
            if not usable:
                note_data = {"key": "esc_unreachable", "person": person_id, "level": level_index}
                self._note(session, alarm, now, f"{person_id} 在第 {level_index} 级的渠道上都无法联系", note_data)
                continue
            for channel in usable:
                written += self._job(
                    session, alarm, level_index, repeat, purpose, person_id, channel, now, note, tag, fresh=fresh
                )
        for group in level.groups:
            written += self._job(session, alarm, level_index, repeat, purpose, None, group, now, note, tag, fresh=fresh)
        return written

    def _reachable(self, channel_id: str, person_id: str) -> bool:
        info = self.channels.get(channel_id)
        if info is None or info.group:
            return False
        person = self.compound.people.get(person_id)
        if not info.needs_address:
            return True
        return person is not None and bool(person.contacts.get(channel_id))

    def fallback_channel(self, session: Session, job: NotificationJob) -> str | None:
        """The person's next channel for a job that failed for good: the first of their fallbacks (then their
        other contacts) not yet tried for this alarm, level and repeat."""
        if job.person_id is None:
            return None
        person = self.compound.people.get(job.person_id)
        if person is None:
            return None
        tried = set(
            session.scalars(
                select(NotificationJob.channel).where(
                    NotificationJob.alarm_id == job.alarm_id,
                    NotificationJob.level == job.level,
                    NotificationJob.repeat == job.repeat,
                    NotificationJob.person_id == job.person_id,
                )
            )
        )
        for channel in [*person.fallback, *person.contacts]:
            if channel not in tried and self._reachable(channel, person.id):
                return channel
        return None

    def write_fallback(self, session: Session, job: NotificationJob, now: datetime) -> str | None:
        """Write the fallback job for a failed one; the channel used, or ``None`` if the person has none left."""
        channel = self.fallback_channel(session, job)
        if channel is None or job.person_id is None:
            return None
        alarm = session.get(Alarm, job.alarm_id)
        assert alarm is not None
        note = f"{job.channel} 投递失败（{job.last_code or '-'}），改用 {channel}"
        self._job(session, alarm, job.level, job.repeat, "fallback", job.person_id, channel, now, note, "")
        return channel

    def _job(
        self,
        session: Session,
        alarm: Alarm,
        level: int,
        repeat: int,
        purpose: str,
        person_id: str | None,
        channel: str,
        now: datetime,
        note: str,
        tag: str,
        *,
        fresh: bool = False,
    ) -> int:
        key = f"a{alarm.id}:l{level}:r{repeat}:{tag or purpose}:{person_id or 'group'}:{channel}"
        if not fresh and session.scalar(select(NotificationJob.id).where(NotificationJob.job_key == key)) is not None:
            return 0  # (the unique job_key holds this either way; the lookup keeps a retaken step from failing)
        session.add(
            NotificationJob(
                job_key=key,
                alarm_id=alarm.id,
                level=level,
                repeat=repeat,
                purpose=purpose,
                person_id=person_id,
                channel=channel,
                state=JobState.PENDING,
                attempts=0,
                created_at=now,
                due_at=now,
                note=note[:300],
            )
        )
        session.info[_JOBS_KEY] = jobs_written(session) + 1
        return 1

    def _silence_for(self, session: Session, alarm: Alarm, now: datetime) -> Silence | None:
        found = [
            s
            for s in _active_silences(session, now)
            if s.device in (None, alarm.device)
            and s.building in (None, alarm.building)
            and s.unit in (None, alarm.unit)
            and s.kind in (None, alarm.kind)
        ]
        # A drill wins over a plain silence: a drill must still be pushed (marked), so its people practise.
        return next((s for s in found if s.drill), found[0] if found else None)

    def place_key(self, alarm: Alarm) -> str:
        """Where an incident is: a fault groups by edge (an edge going dark is one incident), a hazard by unit
        (or by named place off the flats: a fire lane, a lift)."""
        if self._is_fault(alarm.kind):
            return f"fault:{alarm.edge}"
        return f"hazard:{alarm.building}/{alarm.unit or alarm.place or alarm.device}"

    @staticmethod
    def _is_fault(kind: str) -> bool:
        return kind in {"device_offline", "low_battery", "stuck_value", "noisy_signal", EDGE_OFFLINE}

    def _edge_incident(self, session: Session, alarm: Alarm) -> Incident | None:
        """The incident an open, uncleared ``edge_offline`` alarm of the fault's edge leads (whatever its age):
        while an edge is dark its devices' faults are its consequence, carried by its stream."""
        lead_incident = session.scalar(
            select(Alarm.incident_id)
            .where(Alarm.device == alarm.edge, Alarm.kind == EDGE_OFFLINE, Alarm.state != AlarmState.RESOLVED)
            .where(Alarm.cleared_at.is_(None), Alarm.incident_id.is_not(None), Alarm.policy.is_not(None))
            .limit(1)
        )
        if lead_incident is None:
            return None
        return session.scalar(
            select(Incident).where(Incident.id == lead_incident, Incident.closed_at.is_(None)).with_for_update()
        )

    def _join_incident(self, session: Session, alarm: Alarm, now: datetime) -> bool:
        """Attach to the place's open incident (True: the lead's stream carries it) or open a new one (False).
        An ``edge_offline`` alarm always leads its own; a fault of a dark edge joins that edge's."""
        key = self.place_key(alarm)
        window = self.config.incidents.window_s
        incident = None
        if alarm.kind == EDGE_OFFLINE:
            window = 0  # never carried by a device fault's stream: the edge's own alarm leads
        elif self._is_fault(alarm.kind):
            incident = self._edge_incident(session, alarm)
        if incident is None and window > 0:
            incident = session.scalar(_OPEN_INCIDENT, {"key": key, "since": now - timedelta(seconds=window)})
        lead = session.get(Alarm, incident.lead_alarm_id) if incident is not None else None
        if lead is not None:
            _hold(session, lead)
        joinable = (
            incident is not None
            and lead is not None
            and lead.state is not AlarmState.RESOLVED
            and lead.silenced_by is None
            and (alarm.kind not in self._never_silenced or lead.kind in self._never_silenced)
        )
        if not joinable or incident is None or lead is None:
            session.add(
                new := Incident(
                    place_key=key, lead_alarm_id=alarm.id, severity=alarm.severity, opened_at=now, last_at=now
                )
            )
            session.flush()
            alarm.incident_id = new.id
            return False
        alarm.incident_id = incident.id
        incident.alarms += 1
        incident.last_at = now
        before = incident.severity
        severity = max(before, alarm.severity, key=SEVERITY_RANK.__getitem__)
        # Asked only when the answer can change the severity (one round trip less per alarm joining a fire).
        hazard = alarm.kind in self._never_silenced and alarm.severity == "critical"
        if hazard and severity != "major" and self._other_critical_hazard(session, incident, alarm):
            severity = "major"
        incident.severity = severity
        note = f"并入事件 {incident.id}（主告警 {lead.id}）：随主告警一起通知"
        self._note(session, alarm, now, note, {"key": "esc_joined", "incident": incident.id, "lead": lead.id})
        raised = SEVERITY_RANK[severity] > SEVERITY_RANK[before]
        joined = f"告警 {alarm.id}（{alarm.kind}，{alarm.device}）并入本事件，共 {incident.alarms} 个"
        data: dict[str, Any] = {
            "key": "esc_incident_grew",
            "alarm": alarm.id,
            "kind": alarm.kind,
            "device": alarm.device,
            "count": incident.alarms,
        }
        if raised:
            joined += f"；事件级别 {before} → {severity}"
            data.update(severity_from=before, severity_to=severity)
        self._note(session, lead, now, joined, data)
        if raised:
            self._tell_again(session, lead, incident, now, joined)
        return True

    def _other_critical_hazard(self, session: Session, incident: Incident, alarm: Alarm) -> bool:
        """Another critical fire or gas alarm is already in the incident (two detectors agree: ``major``)."""
        found = session.scalar(
            select(Alarm.id)
            .where(Alarm.incident_id == incident.id, Alarm.id != alarm.id)
            .where(Alarm.kind.in_(self._never_silenced), Alarm.severity == "critical")
            .limit(1)
        )
        return found is not None

    def _tell_again(self, session: Session, lead: Alarm, incident: Incident, now: datetime, note: str) -> None:
        """The incident grew worse: one update to every person and group already told about it."""
        told = session.execute(
            select(NotificationJob.person_id, NotificationJob.channel, NotificationJob.level)
            .where(NotificationJob.alarm_id == lead.id, NotificationJob.purpose != "update")
            .distinct()
        ).all()
        for person_id, channel, level in told:
            tag = f"update{incident.alarms}"
            self._job(session, lead, level, 0, "update", person_id, channel, now, note, tag)

    def _lead(self, session: Session, alarm: Alarm) -> Alarm:
        if alarm.incident_id is None or alarm.policy is not None:
            return alarm
        incident = session.get(Incident, alarm.incident_id)
        lead = session.get(Alarm, incident.lead_alarm_id) if incident is not None else None
        return lead or alarm

    def _policy(self, alarm: Alarm) -> Policy | None:
        if alarm.policy is None:
            return None
        return next((p for p in self.config.policies if p.id == alarm.policy), None)

    def _cancel(self, session: Session, alarm: Alarm, why: str, *, actions: tuple[str, ...]) -> None:
        session.execute(
            update(EscalationStep)
            .where(EscalationStep.alarm_id == alarm.id, EscalationStep.state == StepState.PENDING)
            .where(EscalationStep.action.in_(actions))
            .values(state=StepState.CANCELLED, outcome=why)
        )
        session.execute(
            update(NotificationJob)
            .where(NotificationJob.alarm_id == alarm.id, NotificationJob.state == JobState.PENDING)
            .where(NotificationJob.purpose.in_(("reminder",)))
            .values(state=JobState.CANCELLED, last_detail=why)
        )

    @staticmethod
    def _note(session: Session, alarm: Alarm, now: datetime, note: str, data: dict[str, Any]) -> None:
        """An escalation step in the alarm's history: the sentence (logs, API) and the same as data (the console)."""
        session.add(
            AlarmHistory(
                alarm_id=alarm.id,
                at=now,
                actor=SYSTEM,
                action="escalation",
                from_state=alarm.state,
                to_state=alarm.state,
                note=note,
                note_data=data,
            )
        )


_OPEN_INCIDENT = (
    select(Incident)
    .where(Incident.place_key == bindparam("key"), Incident.closed_at.is_(None), Incident.last_at >= bindparam("since"))
    .order_by(Incident.id.desc())
    .limit(1)
    .with_for_update()
)
"""The place's open incident still within its window (built once: ingest asks it for every raise)."""
_ACTIVE_SILENCES = (
    select(Silence)
    .where(Silence.starts_at <= bindparam("now"), Silence.ends_at > bindparam("now"), Silence.cancelled_at.is_(None))
    .order_by(Silence.id)
)

_JOBS_KEY: Final = "escalation.jobs_written"


def jobs_written(session: Session) -> int:
    """Notification jobs written in ``session`` so far: ingest wakes the dispatcher after a commit that wrote some
    (an alarm joining an incident writes none: the lead's jobs carry it, and a tick for it would only compete with
    ingest for the database)."""
    return int(session.info.get(_JOBS_KEY, 0))


_SILENCES_KEY: Final = "escalation.active_silences"


def _active_silences(session: Session, now: datetime) -> list[Silence]:
    """The silences in force at ``now``, read once per transaction and ``now``: ingest raises a batch's alarms in one
    transaction at one ``now``, so a raise costs no round trip for silences (there are few, and rarely any)."""
    transaction = session.get_transaction()
    cached = session.info.get(_SILENCES_KEY)
    if transaction is not None and cached is not None and cached[0] is transaction and cached[1] == now:
        return list(cached[2])
    found = list(session.scalars(_ACTIVE_SILENCES, {"now": now}))
    session.info[_SILENCES_KEY] = (transaction, now, found)
    return found


_HELD_KEY: Final = "escalation.held_leads"


def _hold(session: Session, alarm: Alarm) -> None:
    """Keep an incident's lead alarm referenced until the transaction ends. The session's identity map holds clean
    objects weakly: once a flush leaves the lead clean it could be collected, and the next alarm joining the same
    incident in the batch would load it again (one round trip per raise in a fire, measured by bench/load.py)."""
    transaction = session.get_transaction()
    held: tuple[object, dict[int, Alarm]] | None = session.info.get(_HELD_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[_HELD_KEY] = held
    held[1][alarm.id] = alarm
