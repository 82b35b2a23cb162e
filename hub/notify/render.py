"""Alert cards as message text: plain text and markdown, in Chinese (default) or English, within a byte limit.

One card renders as: the drill mark (when ``card.drill``), the title, where, what was measured, when, the
escalation note, the response plan (预案), the nearest resources, the household's care lines (only when the
card has them: a group card never does) and the links (the alarm on the console; for a personal message the
signed acknowledge / on-my-way / open links). Several cards render as a digest: one line per alarm, each with
its link; when they cannot all fit, the last line says how many more there are and where to see them.

Byte limits are the platforms' (``WECOM_MARKDOWN_BYTES`` …). Over the limit the least important parts go
first, line by line from the end: the snapshot link, resources, the plan, the care lines, the escalation note;
the title, place, measured value, time and the links go last (clipped, never dropped). A digest never loses an
alarm silently: what does not fit is counted in the "…and N more" line.

Group channels render ``group_card(card)``: ``card.for_group()`` (no care lines) with phone numbers blanked in
every text field, so that nothing personal reaches a shared chat even when a card carries it by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from hub.notify.card import ActionLinks, AlertCard

__all__ = [
    "DINGTALK_MARKDOWN_BYTES",
    "FEISHU_BODY_BYTES",
    "NTFY_BYTES",
    "SMS_SEGMENT_CHARS",
    "WECOM_MARKDOWN_BYTES",
    "WECOM_TEXT_BYTES",
    "Format",
    "clip_bytes",
    "drill_mark",
    "group_card",
    "redact_phones",
    "render",
    "render_sms",
    "strip_personal",
    "title",
    "utf8_len",
    "words",
]

WECOM_MARKDOWN_BYTES = 4096
WECOM_TEXT_BYTES = 2048
NTFY_BYTES = 4096
FEISHU_BODY_BYTES = 20 * 1024
DINGTALK_MARKDOWN_BYTES = 4096
"""DingTalk documents no byte limit for a robot message; we hold it to WeCom's, which reads well on a phone."""
SMS_SEGMENT_CHARS = 70
"""One SMS segment holds 70 Chinese characters (UCS-2); longer texts are billed and delivered as several."""

Format = Literal["text", "markdown"]

_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "drill": "【演练】",
        "drill_note": "【演练】本条为演练消息，不是真实警情",
        "place": "位置",
        "measured": "监测",
        "time": "时间",
        "severity": "级别",
        "escalation": "升级",
        "incident": "同一事件共 {n} 条报警",
        "plan": "处置预案",
        "resources": "附近资源",
        "care": "住户照护信息",
        "view": "查看报警",
        "view_short": "查看",
        "acknowledge": "确认收到",
        "acknowledge_short": "确认",
        "on_my_way": "我在路上",
        "open": "打开处置页",
        "snapshot": "现场画面",
        "digest": "{n} 条报警",
        "more": "…以及另外 {n} 条报警",
        "see": "，见 {url}",
        "console": "全部报警：{url}",
        "truncated": "…（内容过长，已截断，详见报警页面）",
        "some_drills": "其中标【演练】的为演练，不是真实警情",
        "sep": "：",
    },
    "en": {
        "drill": "[DRILL] ",
        "drill_note": "[DRILL] This is a drill, not a real alarm",
        "place": "Where",
        "measured": "Measured",
        "time": "Time",
        "severity": "Level",
        "escalation": "Escalation",
        "incident": "{n} alarms in this incident",
        "plan": "Response plan",
        "resources": "Nearby resources",
        "care": "Household care notes",
        "view": "View alarm",
        "view_short": "View",
        "acknowledge": "Acknowledge",
        "acknowledge_short": "Ack",
        "on_my_way": "On my way",
        "open": "Open",
        "snapshot": "Camera snapshot",
        "digest": "{n} alarms",
        "more": "…and {n} more",
        "see": ", see {url}",
        "console": "All alarms: {url}",
        "truncated": "… (shortened; see the alarm page)",
        "some_drills": "Lines marked [DRILL] are drills, not real alarms",
        "sep": ": ",
    },
}


def words(lang: str) -> dict[str, str]:
    """The fixed words of messages in ``lang`` ("zh" for anything but "en")."""
    return _WORDS["en" if lang == "en" else "zh"]


def utf8_len(text: str) -> int:
    """Bytes ``text`` takes in UTF-8 (the platforms' limits count bytes)."""
    return len(text.encode("utf-8"))


def clip_bytes(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending in ``ellipsis`` when cut (never a split character)."""
    if utf8_len(text) <= limit:
        return text
    room = limit - utf8_len(ellipsis)
    if room <= 0:
        return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", "ignore")
    return text.encode("utf-8")[:room].decode("utf-8", "ignore") + ellipsis


_PHONE = re.compile(
    r"(?<![\dA-Za-z])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![\dA-Za-z])"  # mobile
    r"|(?<![\dA-Za-z])0\d{2,3}[ -]?\d{7,8}(?![\dA-Za-z])"  # landline with area code
)


def redact_phones(text: str) -> str:
    """``text`` with every mainland mobile or landline number blanked ("1**********")."""
    return _PHONE.sub(lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text)


def group_card(card: AlertCard) -> AlertCard:
    """The card as a shared chat may see it: no care lines and no phone numbers in any text field."""
    safe = card.for_group()
    return replace(
        safe,
        title=redact_phones(safe.title),
        measured=redact_phones(safe.measured),
        escalation_note=redact_phones(safe.escalation_note),
        level_label=redact_phones(safe.level_label),
        plan=tuple(redact_phones(step) for step in safe.plan),
        resources=tuple(redact_phones(item) for item in safe.resources),
        tags=tuple(redact_phones(tag) for tag in safe.tags),
        place=replace(safe.place, spot=redact_phones(safe.place.spot) if safe.place.spot else safe.place.spot),
    )


def strip_personal(text: str, cards: Sequence[AlertCard]) -> str:
    """Last guard before a shared chat: ``text`` without any of ``cards``' care lines and without phone numbers.

    ``cards`` are the cards as they were before ``group_card`` (with their care lines, if any).
    """
    for card in cards:
        for line in card.care:
            if line.strip():
                text = text.replace(line, "***")
    return redact_phones(text)


def drill_mark(lang: str) -> str:
    """The mark every drill message carries: "【演练】" / "[DRILL] "."""
    return words(lang)["drill"]


def _lang(cards: Sequence[AlertCard], lang: str | None) -> str:
    return lang or (cards[0].lang if cards else "zh")


def title(cards: Sequence[AlertCard], lang: str | None = None) -> str:
    """One line for a push title or a card header: the card's title, or "3 条报警：first title" for a digest."""
    if not cards:
        raise ValueError("nothing to render: no cards")
    lang = _lang(cards, lang)
    w = words(lang)
    # A digest with one real alarm in it is not marked a drill in its title: its lines say which are.
    mark = w["drill"] if all(card.drill for card in cards) else ""
    first = cards[0].title
    text = first if len(cards) == 1 else w["digest"].format(n=len(cards)) + w["sep"] + first
    return text if not mark or text.startswith(mark.strip()) else mark + text


@dataclass
class _Section:
    priority: int
    """Higher stays longer; ``ESSENTIAL`` sections are clipped but never dropped."""
    lines: list[str]
    head: str | None = None


_ESSENTIAL = 100


def _link(fmt: Format, label: str, url: str) -> str:
    return f"[{label}]({url})" if fmt == "markdown" else f"{label}: {url}"


def _bold(fmt: Format, text: str) -> str:
    return f"**{text}**" if fmt == "markdown" else text


def _sections(card: AlertCard, fmt: Format, lang: str, links: ActionLinks | None) -> list[_Section]:
    w = words(lang)
    sep = w["sep"]
    out: list[_Section] = []
    if card.drill:
        out.append(_Section(_ESSENTIAL, [_bold(fmt, w["drill_note"])]))
    heading = card.title if not card.drill or card.title.startswith(w["drill"].strip()) else w["drill"] + card.title
    out.append(_Section(_ESSENTIAL, [_bold(fmt, heading)]))
    facts = [f"{w['place']}{sep}{card.place.label()}"]
    if card.measured:
        facts.append(f"{w['measured']}{sep}{card.measured}")
    facts.append(f"{w['time']}{sep}{card.raised_at_local}")
    if card.severity_label:
        facts.append(f"{w['severity']}{sep}{card.severity_label}")
    out.append(_Section(_ESSENTIAL, facts))
    link_lines = []
    if links is not None:
        link_lines.append(_link(fmt, w["acknowledge"], links.acknowledge))
        if links.on_my_way:
            link_lines.append(_link(fmt, w["on_my_way"], links.on_my_way))
        if links.open:
            link_lines.append(_link(fmt, w["open"], links.open))
    link_lines.append(_link(fmt, w["view"], card.alarm_url))
    if fmt == "markdown":
        link_lines = [" | ".join(link_lines)]
    out.append(_Section(_ESSENTIAL + 1, link_lines))
    escalation = [note for note in (card.level_label, card.escalation_note) if note]
    if escalation:
        out.append(_Section(80, [f"{w['escalation']}{sep}" + " · ".join(escalation)]))
    if card.incident_alarms > 1:
        out.append(_Section(70, [w["incident"].format(n=card.incident_alarms)]))
    if card.care:
        out.append(_Section(60, [f"- {line}" for line in card.care], head=_bold(fmt, w["care"])))
    if card.plan:
        out.append(_Section(50, [f"{i}. {step}" for i, step in enumerate(card.plan, 1)], head=_bold(fmt, w["plan"])))
    if card.resources:
        out.append(_Section(30, [f"- {item}" for item in card.resources], head=_bold(fmt, w["resources"])))
    if card.snapshot_url:
        out.append(_Section(20, [_link(fmt, w["snapshot"], card.snapshot_url)]))
    return out


def _join(sections: Sequence[_Section], fmt: Format, tail: str | None) -> str:
    blocks = []
    for section in sections:
        lines = ([section.head] if section.head else []) + section.lines
        blocks.append("\n".join(lines))
    if tail:
        blocks.append(tail)
    return ("\n\n" if fmt == "markdown" else "\n").join(blocks)


def _fit_card(card: AlertCard, fmt: Format, lang: str, links: ActionLinks | None, limit: int | None) -> str:
    sections = _sections(card, fmt, lang, links)
    text = _join(sections, fmt, None)
    if limit is None or utf8_len(text) <= limit:
        return text
    tail = words(lang)["truncated"]
    # Drop lines from the end of the least important section first, a section's heading with its last line.
    order = sorted((s for s in sections if s.priority < _ESSENTIAL), key=lambda s: s.priority)
    for section in order:
        while section.lines and utf8_len(_join(sections, fmt, tail)) > limit:
            section.lines.pop()
        if not section.lines:
            sections.remove(section)
        text = _join(sections, fmt, tail)
        if utf8_len(text) <= limit:
            return text
    # Only the essentials are left and they are still too long: clip their text lines ever shorter (never a
    # link line), then the tail goes, and a hard cut is the last resort for an absurdly small limit.
    essentials = [s for s in sections if s.priority == _ESSENTIAL]
    for width in (240, 120, 60, 30):
        for section in essentials:
            section.lines = [clip_bytes(line, width) for line in section.lines]
        text = _join(sections, fmt, tail)
        if utf8_len(text) <= limit:
            return text
    return clip_bytes(_join(sections, fmt, None), limit)


def _digest_line(index: int, card: AlertCard, fmt: Format, lang: str) -> str:
    w = words(lang)
    mark = w["drill"] if card.drill and not card.title.startswith(w["drill"].strip()) else ""
    label = clip_bytes(mark + card.title, 160)
    if fmt == "markdown":
        return f"{index}. {label} {card.raised_at_local} [{w['view_short']}]({card.alarm_url})"
    return f"{index}. {label} {card.raised_at_local} {card.alarm_url}"


def _fit_digest(cards: Sequence[AlertCard], fmt: Format, lang: str, console_url: str | None, limit: int | None) -> str:
    w = words(lang)
    head = [_bold(fmt, w["digest"].format(n=len(cards)))]
    if all(card.drill for card in cards):
        head.insert(0, _bold(fmt, w["drill_note"]))
    elif any(card.drill for card in cards):
        head.append(w["some_drills"])
    footer = [w["console"].format(url=console_url)] if console_url else []
    lines = [_digest_line(i, card, fmt, lang) for i, card in enumerate(cards, 1)]
    nl = "\n"
    block = "\n\n" if fmt == "markdown" else "\n"

    def compose(shown: list[str], more: int) -> str:
        body = list(shown)
        if more:
            line = w["more"].format(n=more) + (w["see"].format(url=console_url) if console_url else "")
            body.append(line)
        parts = [nl.join(head), nl.join(body)]
        if footer and not more:
            parts.append(nl.join(footer))
        return block.join(parts)

    text = compose(lines, 0)
    if limit is None or utf8_len(text) <= limit:
        return text
    # Keep the first alarms that fit and count the rest, so none is lost without a word.
    shown = 0
    while shown < len(lines) and utf8_len(compose(lines[: shown + 1], len(lines) - shown - 1)) <= limit:
        shown += 1
    text = compose(lines[:shown], len(lines) - shown)
    return clip_bytes(text, limit)


def render(
    cards: Sequence[AlertCard],
    *,
    fmt: Format = "markdown",
    lang: str | None = None,
    links: ActionLinks | None = None,
    console_url: str | None = None,
    limit: int | None = None,
) -> str:
    """One card (or a digest of several) as ``fmt`` in ``lang`` (default: the first card's), ≤ ``limit`` bytes.

    ``links`` (one card only) adds the signed personal actions; ``console_url`` is where a digest sends the
    reader for everything (and for the alarms that did not fit).
    """
    if not cards:
        raise ValueError("nothing to render: no cards")
    lang = _lang(cards, lang)
    if len(cards) == 1:
        return _fit_card(cards[0], fmt, lang, links, limit)
    return _fit_digest(cards, fmt, lang, console_url, limit)


def render_sms(
    cards: Sequence[AlertCard],
    *,
    link: str | None = None,
    lang: str | None = None,
    limit_chars: int = SMS_SEGMENT_CHARS,
) -> str:
    """A short text for SMS or a voice call: drill mark, title (with the place), one short link.

    The text is clipped so that the whole fits ``limit_chars`` (one segment) where the link leaves room; the link
    is never cut.
    """
    if not cards:
        raise ValueError("nothing to render: no cards")
    lang = _lang(cards, lang)
    card = cards[0]
    head = title(cards, lang)
    if card.place.building not in head:
        head = f"{head} {card.place.label()}"
    url = link or card.alarm_url
    room = limit_chars - len(url) - 1
    if len(head) > room:
        head = head[: max(room - 1, 12)] + "…"
    return f"{head} {url}"
