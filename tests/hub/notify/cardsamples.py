"""Alert cards for channel and render tests: a smoke alarm in 2号楼 with every part filled, care data included."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.notify.card import ActionLinks, AlertCard, Place

__all__ = ["CARE", "CARE_EN", "LINKS", "RESIDENT", "RESIDENT_PHONE", "make_card", "make_cards"]

RESIDENT = "王秀英"
RESIDENT_PHONE = "13812345678"
CARE = (f"独居老人 {RESIDENT}，82 岁，行动不便（轮椅）", f"紧急联系人 女儿 张丽 {RESIDENT_PHONE}")
CARE_EN = ("Lives alone, 82, wheelchair user", f"Emergency contact: daughter, {RESIDENT_PHONE}")
LINKS = ActionLinks(
    acknowledge="https://hub.example/a/ack-tok_1",
    on_my_way="https://hub.example/a/omw-tok_1",
    open="https://hub.example/a/open-tok_1",
)


def make_card(alarm_id: int = 1, **changes: Any) -> AlertCard:
    """A critical smoke alarm card in Chinese (``lang="en"`` gives the English texts)."""
    en = changes.get("lang") == "en"
    card = AlertCard(
        alarm_id=alarm_id,
        kind="smoke",
        kind_label="Smoke alarm" if en else "烟雾报警",
        severity="critical",
        severity_label="Fire" if en else "火警",
        title=f"[FIRE] Bldg 2 Unit 1 #1502 smoke alarm {alarm_id}"
        if en
        else f"【火警】2号楼 1单元 1502 烟雾报警 {alarm_id}",
        place=Place("Bldg 2" if en else "2号楼", "Unit 1" if en else "1单元", "F15" if en else "15层", "1502"),
        grid="b2-u1",
        raised_at=datetime(2026, 11, 28, 18, 14, 7, tzinfo=UTC),
        raised_at_local="11-29 02:14:07",
        measured="smoke 0.31 dB/m (threshold 0.15)" if en else "烟雾浓度 0.31 dB/m（阈值 0.15）",
        alarm_url=f"https://hub.example/alarms/{alarm_id}",
        snapshot_url=f"https://hub.example/alarms/{alarm_id}/snapshot",
        plan=(
            ("Check on site within 1 minute", "Call 119 if there is fire", "Evacuate unit 1")
            if en
            else ("1 分钟内到场确认", "确认起火立即拨打 119", "组织 1 单元疏散")
        ),
        resources=(
            ("Extinguisher F15 stairwell", "Hydrant F15 east") if en else ("15层楼梯间灭火器", "15层东侧消火栓")
        ),
        care=CARE_EN if en else CARE,
        level=1,
        level_label="Level 1" if en else "一级",
        escalation_note="No acknowledgement in 60 s: Li Qiang" if en else "60 秒内无人确认：李强（微网格员）",
    )
    return replace(card, **changes)


def make_cards(n: int, **changes: Any) -> tuple[AlertCard, ...]:
    """``n`` cards with alarm ids 1..n."""
    return tuple(make_card(i, **changes) for i in range(1, n + 1))
