// The property manager's console: live alarm list with filters, and the detail pane.

import {
  ACKNOWLEDGEABLE, KINDS, OPEN_STATES, PseudoState, SEVERITIES, STATES, api, applyI18n, el, fmtLocation, fmtTime,
  fmtValue, followAlarms, gridName, loadContext, personName, setupLangSwitch, severityBadge, stateChips, t,
} from "/static/common.js";
import { renderDetail } from "/static/detail.js";
import { createAttention } from "/static/attention.js";

const alarms = new Map(); // id -> AlarmPublic, every alarm matching the server-side filters
let ctx = null;
let selected = null;
let attention = null; // sound, title and favicon flashing for unacknowledged critical alarms; banners

const $ = (id) => document.getElementById(id);

function filters() {
  const form = new FormData($("filters"));
  return Object.fromEntries([...form.entries()].filter(([, v]) => v));
}

function matches(alarm, f) {
  if (f.state === PseudoState.OPEN ? !OPEN_STATES.has(alarm.state) : f.state && alarm.state !== f.state) return false;
  if (f.severity && alarm.severity !== f.severity) return false;
  if (f.kind && alarm.kind !== f.kind) return false;
  if (f.grid && alarm.grid !== f.grid && !(ctx.directory.grids[alarm.grid]?.parents || []).includes(f.grid)) return false;
  return true;
}

function fillSelect(select, values, labeller, extra = []) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, t("filter.all")),
    ...extra.map(([v, label]) => el("option", { value: v }, label)),
    ...values.map((v) => el("option", { value: v }, labeller(v))));
  select.value = current;
}

function buildFilters() {
  fillSelect($("f-state"), STATES, (s) => t(`state.${s}`), [[PseudoState.OPEN, t("filter.open")]]);
  fillSelect($("f-severity"), SEVERITIES, (s) => t(`severity.${s}`));
  fillSelect($("f-kind"), KINDS, (k) => t(`kind.${k}`));
  fillSelect($("f-grid"), ctx.visible_grids, (g) => gridName(ctx, g));
}

function sortKey(a) {
  const open = OPEN_STATES.has(a.state) ? 0 : 1;
  const sev = { critical: 0, warning: 1, info: 2 }[a.severity] ?? 3;
  return [open, sev, -new Date(a.raised_at).getTime()];
}

function compare(a, b) {
  const ka = sortKey(a); const kb = sortKey(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return b.id - a.id;
}

function row(alarm) {
  const tr = el("tr", {
    class: `sevrow-${alarm.severity}${alarm.id === selected ? " selected" : ""}${OPEN_STATES.has(alarm.state) ? "" : " closed"}`,
    "data-alarm-id": alarm.id, "data-state": alarm.state, "data-kind": alarm.kind, tabindex: "0",
  },
  el("td", {}, severityBadge(alarm.severity)),
  el("td", { class: "kind" }, t(`kind.${alarm.kind}`)),
  el("td", { class: "loc" }, fmtLocation(alarm.location, ctx.directory.buildings)),
  el("td", { class: "mono" }, fmtValue(alarm)),
  el("td", {}, gridName(ctx, alarm.grid)),
  el("td", { class: "assignees" }, (alarm.assignees || []).map((id) => personName(ctx, id)).join("、") || "—"),
  el("td", {}, stateChips(alarm)),
  el("td", { class: "mono time" }, fmtTime(alarm.raised_at, { short: true })));
  tr.addEventListener("click", () => select(alarm.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") select(alarm.id); });
  return tr;
}

function renderList(flashId = null) {
  const f = filters();
  const shown = [...alarms.values()].filter((a) => matches(a, f)).sort(compare);
  const rows = shown.map(row);
  $("alarm-rows").replaceChildren(...rows);
  $("empty").hidden = shown.length > 0;
  if (flashId !== null) {
    const tr = $("alarm-rows").querySelector(`tr[data-alarm-id="${flashId}"]`);
    if (tr) { tr.classList.add("flash"); setTimeout(() => tr.classList.remove("flash"), 2500); }
  }
  const all = [...alarms.values()];
  $("count-open").textContent = all.filter((a) => OPEN_STATES.has(a.state)).length;
  $("count-critical").textContent = all.filter((a) => OPEN_STATES.has(a.state) && a.severity === "critical").length;
  $("count-unacked").textContent = all.filter((a) => ACKNOWLEDGEABLE.has(a.state)).length;
}

// Changes can arrive by the dozen a second: the list is rebuilt once per frame, not once per change.
let renderQueued = false;
let flashNext = null;
function renderSoon(flashId) {
  flashNext = flashId;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderList(flashNext); flashNext = null; });
}

async function loadList() {
  const list = await api("/api/v1/alarms?limit=500");
  const fresh = new Map(list.map((a) => [a.id, a]));
  // A change pushed while the list was in flight may be newer than the list's copy.
  for (const [id, known] of alarms) {
    const listed = fresh.get(id);
    if (listed && known.updated_at > listed.updated_at) fresh.set(id, known);
  }
  alarms.clear();
  for (const [id, a] of fresh) alarms.set(id, a);
  renderList();
  attention.reset(alarms.values());
}

async function select(id) {
  selected = id;
  if (location.hash !== `#/alarms/${id}`) history.replaceState(null, "", `#/alarms/${id}`);
  $("alarm-rows").querySelectorAll("tr").forEach((tr) => tr.classList.toggle("selected", Number(tr.dataset.alarmId) === id));
  await refreshDetail();
}

async function refreshDetail() {
  if (selected === null) return;
  const pane = $("detail");
  const focused = document.activeElement;
  // Do not wipe what someone is typing into a note when a live update arrives.
  if (focused && pane.contains(focused) && focused.value) return;
  try {
    const detail = await api(`/api/v1/alarms/${selected}`);
    renderDetail(pane, detail, ctx, { onDone: refreshDetail });
  } catch (err) {
    pane.replaceChildren(el("p", { class: "placeholder" }, err.detail || err.message));
  }
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 4000);
}

function setLive(status) {
  $("live").dataset.status = status;
  $("live-text").textContent = t(status === "live" ? "live" : "reconnecting");
}

function tick() {
  $("clock").textContent = fmtTime(new Date().toISOString());
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  $("nav-dead-letters").hidden = !ctx.can_read_dead_letters;
  $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
  attention = createAttention({ titleKey: "console" });
  setupLangSwitch($("lang"), () => {
    attention.relabel();
    buildFilters();
    $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
    setLive($("live").dataset.status);
    renderList();
    refreshDetail();
  });
  applyI18n();
  buildFilters();
  $("filters").addEventListener("change", () => renderList());
  $("filters").addEventListener("reset", () => setTimeout(() => renderList(), 0));
  setLive("connecting");
  tick();
  setInterval(tick, 1000);
  followAlarms({
    onStatus: setLive,
    onResync: loadList,
    onChange: ({ alarm, change }) => {
      const isNew = !alarms.has(alarm.id);
      alarms.set(alarm.id, alarm);
      renderSoon(alarm.id);
      attention.update(alarm);
      if (isNew) toast(`${t(`severity.${alarm.severity}`)} · ${t(`kind.${alarm.kind}`)} · ${fmtLocation(alarm.location, ctx.directory.buildings)}`);
      if (alarm.id === selected) refreshDetail();
    },
  });
  await loadList();
  const match = location.hash.match(/^#\/alarms\/(\d+)$/);
  if (match) await select(Number(match[1]));
}

main();
