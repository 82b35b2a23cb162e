"""Build the alert card of an alarm for one job: place labels, measurement, evidence, plan, resources, care.

The care profile (a household's needs and emergency contact) is personal data: it goes only on a personal
channel, only to a person responsible for the flat (its micro-grid workers, grid leaders, property managers:
``hub.alarms.access.responsible_for_flat``). Group cards never have it (``AlertCard.for_group``).
"""

from __future__ import annotations

from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from compound.config import Compound
from hub.alarms.access import responsible_for_flat
from hub.db import Alarm, EventRecord, Incident, NotificationJob, Snapshot
from hub.notify.card import AlertCard, Place

__all__ = ["KIND_LABELS", "CardMaker"]

Lang = Literal["zh", "en"]

KIND_LABELS: Final[dict[str, tuple[str, str]]] = {
    "smoke": ("烟雾报警", "Smoke alarm"),
    "gas_pre_alarm": ("燃气预警", "Gas pre-alarm"),
    "gas": ("燃气泄漏", "Gas leak"),
    "door_held_open": ("门长时间未关", "Door held open"),
    "door_forced": ("门被强行打开", "Door forced"),
    "care_inactive": ("关爱对象长时间无活动", "Care household inactive"),
    "device_offline": ("设备离线", "Device offline"),
    "low_battery": ("电量低", "Low battery"),
    "stuck_value": ("读数卡滞", "Stuck reading"),
    "noisy_signal": ("信号异常", "Noisy signal"),
    "ebike_in_lift": ("电动车进电梯", "E-bike in lift"),
    "fire_lane_blocked": ("消防通道堵塞", "Fire lane blocked"),
    "thrown_object": ("高空抛物", "Object thrown from height"),
    "edge_offline": ("边缘网关离线", "Edge offline"),
}
"""Kind labels (zh, en); the console's table is hub/web/static/common.js (same words)."""

SEVERITY_LABELS: Final[dict[str, tuple[str, str]]] = {
    "info": ("提示", "info"),
    "warning": ("警告", "warning"),
    "critical": ("紧急", "critical"),
    "major": ("重大", "major"),
}

_FIRE_TAGS: Final = {"smoke": "火警", "gas": "燃气", "gas_pre_alarm": "燃气"}


class CardMaker:
    """Cards for jobs, in a channel's language, with links to ``public_url``."""

    def __init__(self, compound: Compound, public_url: str) -> None:
        self.compound = compound
        self.public_url = public_url.rstrip("/")
        self._buildings = {b.id: b.name for b in compound.buildings}
        self._sites = {s.id: s.name for s in compound.compound.sites}

    def card(self, session: Session, alarm: Alarm, job: NotificationJob, lang: Lang, *, personal: bool) -> AlertCard:
        """The card for ``job`` about ``alarm``; ``personal``: a personal channel (care data allowed if responsible)."""
        zh = lang == "zh"
        incident = session.get(Incident, alarm.incident_id) if alarm.incident_id is not None else None
        severity = incident.severity if incident is not None else alarm.severity
        kind_label = KIND_LABELS.get(alarm.kind, (alarm.kind, alarm.kind))[0 if zh else 1]
        place = self._place(alarm, zh)
        tag = _FIRE_TAGS.get(alarm.kind, "告警") if zh else alarm.kind.replace("_", " ").upper()
        drill = "【演练】" if zh else "[DRILL] "
        title = f"{drill if alarm.drill else ''}【{tag}】{place.label()} {kind_label}"
        if incident is not None and incident.alarms > 1:
            title += f"（{incident.alarms} 个告警）" if zh else f" ({incident.alarms} alarms)"
        snapshot = session.scalar(
            select(Snapshot.event_id)
            .join(EventRecord, EventRecord.event_id == Snapshot.event_id)
            .where(EventRecord.alarm_id == alarm.id)
            .limit(1)
        )
        local = alarm.raised_at.astimezone(self.compound.tz)
        return AlertCard(
            alarm_id=alarm.id,
            kind=alarm.kind,
            kind_label=kind_label,
            severity=severity,
            severity_label=SEVERITY_LABELS.get(severity, (severity, severity))[0 if zh else 1],
            title=title,
            place=place,
            grid=alarm.grid,
            raised_at=alarm.raised_at,
            raised_at_local=local.strftime("%m-%d %H:%M:%S"),
            measured=self._measured(alarm, zh),
            alarm_url=f"{self.public_url}/#alarm-{alarm.id}",
            lang=lang,
            snapshot_url=f"{self.public_url}/api/v1/alarms/{alarm.id}/snapshot" if snapshot else None,
            plan=tuple(self.compound.escalation.plans.get(alarm.kind, ())),
            resources=tuple(self.compound.escalation.resources_for(alarm.building, alarm.unit)),
            care=self._care(alarm, job.person_id, zh) if personal else (),
            level=job.level,
            level_label=(f"第 {job.level} 级" if zh else f"level {job.level}"),
            escalation_note=job.note or "",
            incident_id=alarm.incident_id,
            incident_alarms=incident.alarms if incident is not None else 1,
            drill=bool(alarm.drill),
        )

    def _place(self, alarm: Alarm, zh: bool) -> Place:
        building = self._buildings.get(alarm.building) or self._sites.get(alarm.building) or alarm.building
        unit = floor = None
        if alarm.unit:
            number = alarm.unit.lstrip("u")
            unit = (
                f"{number}单元" if zh and number.isdigit() else (f"unit {number}" if number.isdigit() else alarm.unit)
            )
        if alarm.floor is not None:
            floor = f"{alarm.floor}层" if zh else f"floor {alarm.floor}"
        spot = None if alarm.flat else (alarm.place or None)
        return Place(building=building, unit=unit, floor=floor, flat=alarm.flat, spot=spot)

    @staticmethod
    def _measured(alarm: Alarm, zh: bool) -> str:
        if alarm.value is None:
            return alarm.message or ""
        unit = f" {alarm.value_unit}" if alarm.value_unit else ""
        text = f"{alarm.value:g}{unit}"
        if alarm.threshold is not None:
            text += f"（阈值 {alarm.threshold:g}{unit}）" if zh else f" (threshold {alarm.threshold:g}{unit})"
        if alarm.message:
            text += f" — {alarm.message}"
        return text

    def _care(self, alarm: Alarm, person_id: str | None, zh: bool) -> tuple[str, ...]:
        if person_id is None or alarm.unit is None or alarm.flat is None:
            return ()
        person = self.compound.people.get(person_id)
        if person is None or not responsible_for_flat(person, alarm.grid, self.compound):
            return ()
        household = self.compound.household(alarm.building, alarm.unit, alarm.flat)
        if household is None:
            return ()
        lines = []
        for resident in household.residents:
            age = (
                f"，{resident.age} 岁"
                if zh and resident.age is not None
                else (f", {resident.age}" if resident.age is not None else "")
            )
            note = f"：{resident.notes}" if zh and resident.notes else (f": {resident.notes}" if resident.notes else "")
            lines.append(f"{resident.name}{age}{note}")
        if household.care is not None:
            contact = household.care.emergency_contact
            lines.append(
                f"紧急联系人：{contact.name}（{contact.relation}）{contact.phone}"
                if zh
                else f"Emergency contact: {contact.name} ({contact.relation}) {contact.phone}"
            )
        return tuple(lines)
