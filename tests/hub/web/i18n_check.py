"""One check for every page: no visible string outside the translation table (and the data shown).

Each visible text node of the page (and button titles, the document title) has the table's values taken out —
``common.js``'s ``I18N[lang]`` plus, for pages that carry their own (``detail.js``'s evidence words, the action
link page's server-side table), the ``tables`` given — then the data it may show: the signed-in person's
directory (buildings, grids, people, the compound), place names as ``fmtPlace`` writes them, measurement units,
and the ``extra`` strings the test names (a household's names and phones, a note typed in the test). Digits,
spaces, punctuation and times are dropped. In Chinese nothing may be left; in English no Chinese may be left
(ids such as b2 may). Not by eye: a new English word in the Chinese UI fails the test that shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from playwright.sync_api import Page

__all__ = ["UNITS", "assert_all_from_table"]

UNITS = ("dB/m", "%LEL", "ppm", "°C", "ms")
"""Measurement units, shown as the devices report them (symbols, not words of either language)."""

_LEFTOVER_JS = """
async ([extra, lang, tables, alarmId]) => {
  const { I18N, fmtPlace } = await import("/static/common.js");
  const words = new Set(extra);
  // A template's literal pieces ("{role} on duty for {grid}" → "on duty for"): what is filled in is data or words.
  const addValue = (v) => { for (const piece of String(v).split(/\\{\\w+\\}/)) words.add(piece.trim()); };
  Object.values(I18N[lang]).forEach(addValue);
  if (alarmId !== null) {  // the data an alarm's detail shows: its device id, household, the plan from the config
    const a = await (await fetch(`/api/v1/alarms/${alarmId}`)).json();
    words.add(a.device);
    for (const v of [...(a.plan || []), ...(a.resources || [])]) words.add(v);
    const h = a.household;
    if (h) {
      for (const r of h.residents || []) for (const v of [r.name, r.phone, r.notes]) if (v) words.add(v);
      const c = h.care && h.care.emergency_contact;
      if (c) for (const v of [c.name, c.relation, c.phone]) if (v) words.add(v);
    }
  }
  for (const table of tables) Object.values(table[lang] || table).forEach(addValue);
  // Relative times as Intl words them in this language ("3 分钟前", "3 minutes ago"): their literal parts.
  const rtf = new Intl.RelativeTimeFormat(lang === "en" ? "en" : "zh-CN", { numeric: "auto" });
  for (const unit of ["second", "minute", "hour", "day"]) {
    for (const n of [-2, -1, 0, 1]) {
      for (const part of rtf.formatToParts(n, unit)) if (part.type === "literal") words.add(part.value.trim());
      if (!rtf.formatToParts(n, unit).some((p) => p.type === "integer")) words.add(rtf.format(n, unit));
    }
  }
  // Places as fmtPlace words them ("15层防火门", "fire door 15"): their words without the number.
  for (const p of ["kitchen", "flat-door", "entrance", "gate", "fire-door-1", "lift-1"]) {
    for (const piece of fmtPlace(p).split(/\\d+/)) words.add(piece.trim());
  }
  const me = await fetch("/api/v1/me").then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (me) {
    words.add(me.compound.name);
    words.add(me.person.name);
    for (const group of [me.directory.buildings, me.directory.grids, me.directory.people]) {
      for (const v of Object.values(group)) words.add(typeof v === "string" ? v : v.name);
    }
  }
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || !node.textContent.trim()) continue;
    if (parent.closest("title, script, style, option")) continue;
    if (!parent.getClientRects().length) continue;
    texts.push([node.textContent.trim(), `${parent.tagName.toLowerCase()}.${parent.getAttribute("class") || ""}`]);
  }
  for (const b of document.querySelectorAll("button, a.btn")) {
    if (b.getClientRects().length && b.title) texts.push([b.title, "title of a button"]);
  }
  for (const i of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
    if (i.getClientRects().length && i.placeholder) texts.push([i.placeholder, "placeholder"]);
  }
  texts.push([document.title, "document.title"]);
  const sorted = [...words].filter(Boolean).map(String).sort((a, b) => b.length - a.length);
  const left = [];
  for (const [text, where] of texts) {
    let rest = text;
    for (const w of sorted) rest = rest.split(w).join(" ");
    rest = rest.replace(/[\\d\\s·、：:，,。；;（）()\\-–—←‹›…#%/.\\[\\]【】≤≥+×]+/g, "");
    // Chinese: nothing may be left. English: ids may be (b2, u1), Chinese may not.
    if (lang === "zh" ? rest : /[\\u4e00-\\u9fff]/.test(rest)) left.push(`${where}: ${text} → ${rest}`);
  }
  return { left, count: texts.length };
}
"""


def assert_all_from_table(
    page: Page,
    extra: Iterable[str] = (),
    lang: str = "zh",
    *,
    tables: Iterable[dict[str, Any]] = (),
    alarm: int | None = None,
    at_least: int = 5,
) -> int:
    """Every visible string on ``page`` is made of ``lang``-table values and data; how many strings were checked.

    ``tables``: further translation tables the page uses (``{"zh": {...}, "en": {...}}`` or one flat dict);
    ``alarm``: an alarm whose detail is open (its device id, household and response plan are data)."""
    result: dict[str, Any] = page.evaluate(_LEFTOVER_JS, [[*extra, *UNITS], lang, list(tables), alarm])
    assert result["left"] == [], f"strings not from the translation table ({lang}): {result['left']}"
    assert result["count"] >= at_least, f"only {result['count']} strings on the page: is it the page meant?"
    return int(result["count"])
