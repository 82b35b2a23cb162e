// 历史告警: alarms searched on the server (GET /api/v1/history/alarms) by time range, place, kind, state and
// person, one page of 50 at a time; times typed here are the compound's local time (the API reads them so).

import {
  KINDS, STATES, api, applyI18n, el, fmtTime, fmtValue, loadContext, setupLangSwitch, severityBadge, stateChips, t,
} from "/static/common.js";
import { where } from "/static/places.js";

const PAGE = 50;
let ctx = null;
let offset = 0;
let total = 0;

const $ = (id) => document.getElementById(id);

function options(select, values, label) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, t("filter.all")), ...values.map((v) => el("option", { value: v }, label(v))));
  select.value = keep;
}

function fillFilters() {
  const buildings = Object.keys(ctx.directory.buildings);
  options($("hs-building"), buildings, (b) => ctx.directory.buildings[b]);
  const units = [...new Set(Object.values(ctx.directory.grids).map((g) => g.unit).filter(Boolean))];
  options($("hs-unit"), units.length ? units : ["u1", "u2", "u3"], (u) => `${u.replace(/^u/, "")}${t("unit")}`);
  options($("hs-kind"), KINDS, (k) => t(`kind.${k}`));
  options($("hs-state"), ["open", ...STATES], (s) => (s === "open" ? t("filter.open") : t(`state.${s}`)));
  const people = Object.entries(ctx.directory.people);
  options($("hs-person"), people.map(([id]) => id), (id) => ctx.directory.people[id].name);
}

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("hs-form")).entries()) if (v) params.set(k, v);
  params.set("offset", String(offset));
  params.set("limit", String(PAGE));
  return params;
}

async function search() {
  let page;
  try {
    page = await api(`/api/v1/history/alarms?${query()}`);
  } catch (err) {
    $("hs-count").textContent = t("hs.bad");
    return;
  }
  total = page.total;
  $("hs-rows").replaceChildren(...page.items.map((a) => el("tr", { "data-alarm-id": a.id, "data-kind": a.kind, "data-state": a.state },
    el("td", {}, severityBadge(a.severity)),
    el("td", {}, el("a", { href: `/#/alarms/${a.id}` }, t(`kind.${a.kind}`))),
    el("td", {}, where(a.location, ctx.directory.buildings)),
    el("td", { class: "mono" }, fmtValue(a)),
    el("td", {}, stateChips(a)),
    el("td", { class: "mono" }, fmtTime(a.raised_at)))));
  $("hs-empty").hidden = page.items.length > 0;
  const last = Math.min(total, offset + page.items.length);
  $("hs-count").textContent = `${t("hs.total")} ${total} ${t("hs.items")} · ${total ? offset + 1 : 0}–${last}`;
  $("hs-prev").disabled = offset === 0;
  $("hs-next").disabled = offset + PAGE >= total;
  document.body.dataset.ready = "1";
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  const who = () => { $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`; };
  who();
  document.title = `${t("product")} · ${t("history")}`;
  setupLangSwitch($("lang"), () => { who(); document.title = `${t("product")} · ${t("history")}`; fillFilters(); search(); });
  applyI18n();
  fillFilters();
  $("hs-form").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; search(); });
  $("hs-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); search(); });
  $("hs-next").addEventListener("click", () => { if (offset + PAGE < total) { offset += PAGE; search(); } });
  await search();
}

main();
