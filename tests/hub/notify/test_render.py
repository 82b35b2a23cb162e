"""Rendering alert cards: every part, zh and en, the drill mark, byte limits, digests that lose no alarm."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from hub.notify.render import (
    WECOM_MARKDOWN_BYTES,
    WECOM_TEXT_BYTES,
    clip_bytes,
    group_card,
    redact_phones,
    render,
    render_sms,
    strip_personal,
    title,
    utf8_len,
)
from tests.hub.notify.cardsamples import CARE, LINKS, RESIDENT, RESIDENT_PHONE, make_card, make_cards


def test_one_card_in_chinese_has_every_part() -> None:
    card = make_card()
    text = render([card], links=LINKS)
    for part in (
        card.title,
        "位置：2号楼 1单元 15层 1502",
        "监测：烟雾浓度 0.31 dB/m（阈值 0.15）",
        "时间：11-29 02:14:07",
        "60 秒内无人确认：李强（微网格员）",
        "处置预案",
        "1. 1 分钟内到场确认",
        "3. 组织 1 单元疏散",
        "附近资源",
        "15层东侧消火栓",
        "住户照护信息",
        *CARE,
        f"[确认收到]({LINKS.acknowledge})",
        f"[我在路上]({LINKS.on_my_way})",
        f"[打开处置页]({LINKS.open})",
        f"[查看报警]({card.alarm_url})",
        f"[现场画面]({card.snapshot_url})",
    ):
        assert part in text, part
    assert "演练" not in text


def test_english_uses_english_words() -> None:
    card = make_card(lang="en")
    text = render([card], fmt="text", links=LINKS)
    for part in (
        "Where: Bldg 2 Unit 1 F15 1502",
        "Measured: smoke",
        "Time: 11-29",
        "Response plan",
        "Nearby resources",
    ):
        assert part in text, part
    assert f"Acknowledge: {LINKS.acknowledge}" in text
    assert not re.search(r"[\u4e00-\u9fff]", text), "Chinese words in an English message"


def test_care_lines_only_when_the_card_has_them() -> None:
    assert "住户照护信息" in render([make_card()])
    assert "住户照护信息" not in render([make_card(care=())])
    assert "Household care" not in render([make_card(care=())], lang="en")


def test_without_personal_links_only_the_alarm_link() -> None:
    text = render([make_card()])
    assert "确认收到" not in text and "[查看报警](https://hub.example/alarms/1)" in text


@pytest.mark.parametrize("lang, mark", [("zh", "【演练】"), ("en", "[DRILL]")])
def test_a_drill_is_marked_everywhere(lang: str, mark: str) -> None:
    card = make_card(drill=True, lang=lang)
    for fmt in ("text", "markdown"):
        text = render([card], fmt=fmt)
        assert text.lstrip("*").startswith(mark), text[:40]
        assert text.count(mark) >= 2  # the note and the title
    assert title([card]).startswith(mark)
    assert render_sms([card]).startswith(mark)
    digest = render(make_cards(3, drill=True, lang=lang), console_url="https://hub.example/")
    assert digest.lstrip("*").startswith(mark)


def test_a_digest_with_real_alarms_is_not_titled_a_drill() -> None:
    cards = (make_card(1), make_card(2, drill=True))
    assert not title(cards).startswith("【演练】")
    text = render(cards)
    assert "2. 【演练】" in text and "1. 【火警】" in text and "其中标【演练】的为演练" in text


def test_byte_limit_cuts_the_least_important_first() -> None:
    card = make_card(plan=tuple(f"第 {i} 步：按预案处置并报告" for i in range(200)))
    text = render([card], links=LINKS, limit=WECOM_MARKDOWN_BYTES)
    assert utf8_len(text) <= WECOM_MARKDOWN_BYTES
    assert "已截断" in text
    for essential in (card.title, "位置：", "监测：", "时间：", LINKS.acknowledge, card.alarm_url, "李强"):
        assert essential in text, essential
    assert "附近资源" not in text and "现场画面" not in text  # resources and snapshot went before the plan
    assert all(line in text for line in CARE)  # care lines outrank the plan


def test_text_limit_of_wecom_text() -> None:
    card = make_card(resources=tuple(f"灭火器 {i}" for i in range(300)))
    text = render([card], fmt="text", limit=WECOM_TEXT_BYTES)
    assert utf8_len(text) <= WECOM_TEXT_BYTES and card.alarm_url in text


def test_absurd_essentials_are_clipped_not_dropped() -> None:
    card = make_card(measured="烟" * 3000, title="【火警】" + "很长" * 2000)
    text = render([card], limit=1000)
    assert utf8_len(text) <= 1000
    assert card.alarm_url in text and "【火警】" in text


def test_digest_lists_every_alarm() -> None:
    cards = make_cards(12)
    text = render(cards, console_url="https://hub.example/", limit=WECOM_MARKDOWN_BYTES)
    assert "12 条报警" in text
    for card in cards:
        assert f"({card.alarm_url})" in text
        assert card.title in text
    assert "全部报警：https://hub.example/" in text


def test_digest_over_the_limit_counts_what_does_not_fit() -> None:
    cards = make_cards(200)
    text = render(cards, console_url="https://hub.example/", limit=WECOM_MARKDOWN_BYTES)
    assert utf8_len(text) <= WECOM_MARKDOWN_BYTES
    shown = [card for card in cards if f"({card.alarm_url})" in text]
    more = re.search(r"…以及另外 (\d+) 条报警，见 https://hub.example/", text)
    assert more, text[-200:]
    assert len(shown) + int(more.group(1)) == 200
    assert shown == list(cards[: len(shown)])


def test_english_digest_counts_too() -> None:
    cards = make_cards(100, lang="en")
    text = render(cards, fmt="text", console_url="https://hub.example/", limit=2048)
    more = re.search(r"…and (\d+) more, see https://hub.example/", text)
    assert more
    assert sum(card.alarm_url in text for card in cards) + int(more.group(1)) == 100


def test_group_card_strips_care_and_phone_numbers() -> None:
    card = make_card(measured=f"住户 {RESIDENT_PHONE} 报告冒烟", escalation_note="联系 010-62345678 未接")
    safe = group_card(card)
    assert safe.care == ()
    text = render([safe], fmt="text")
    assert RESIDENT not in text and RESIDENT_PHONE not in text and "62345678" not in text
    assert "李强" not in text or "微网格员" in text  # a worker's name is not a resident's


def test_strip_personal_is_the_last_guard() -> None:
    leaked = f"…{CARE[0]}… call {RESIDENT_PHONE} or +86 138 1234 5678"
    text = strip_personal(leaked, [make_card()])
    assert CARE[0] not in text and RESIDENT_PHONE not in text and "138 1234 5678" not in text


def test_redact_phones_leaves_other_numbers() -> None:
    assert redact_phones("1502 室 烟雾 0.31 11-29 02:14:07 alarms/12") == "1502 室 烟雾 0.31 11-29 02:14:07 alarms/12"
    assert redact_phones("电话13812345678") == "电话1**********"


def test_sms_text_fits_one_segment() -> None:
    card = make_card()
    text = render_sms([card], link="https://hub.example/a/o1")
    assert len(text) <= 70 and text.endswith("https://hub.example/a/o1") and "2号楼" in text
    long = make_card(title="【火警】" + "2号楼 1单元 1502 " * 10 + "烟雾报警")
    text = render_sms([long], link="https://hub.example/a/o1")
    assert len(text) <= 70 and text.endswith(" https://hub.example/a/o1")


def test_clip_bytes_never_splits_a_character() -> None:
    clipped = clip_bytes("烟雾" * 10, 10)
    assert utf8_len(clipped) <= 10 and clipped.endswith("…")
    clipped.encode("utf-8").decode("utf-8")
    assert clip_bytes("short", 10) == "short"


def test_nothing_to_render_is_an_error() -> None:
    with pytest.raises(ValueError):
        render([])


def test_incident_count_shown() -> None:
    assert "同一事件共 2 条报警" in render([replace(make_card(), incident_alarms=2)])
