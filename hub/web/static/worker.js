// The grid worker's phone page: only the alarms assigned to them or in their grids, live, with actions.

import {
  AlarmState, OPEN_STATES, api, applyI18n, el, fmtAgo, fmtLocation, fmtTime, fmtValue, followAlarms, gridName, loadContext,
  setupLangSwitch, severityBadge, stateChips, t,
} from "/static/common.js";
import { renderDetail } from "/static/detail.js";

const alarms = new Map();
let ctx = null;
let selected = null;
const $ = (id) => document.getElementById(id);

function card(alarm) {
  return el("li", {
    class: `card sevbar-${alarm.severity}${OPEN_STATES.has(alarm.state) ? "" : " closed"}`,
    "data-alarm-id": alarm.id, "data-state": alarm.state, tabindex: "0",
    onclick: () => open(alarm.id),
  },
  el("div", { class: "card-top" }, severityBadge(alarm.severity), el("strong", {}, t(`kind.${alarm.kind}`)), stateChips(alarm)),
  el("div", { class: "card-loc" }, fmtLocation(alarm.location, ctx.directory.buildings)),
  el("div", { class: "card-meta" },
    el("span", { class: "mono" }, fmtValue(alarm)),
    el("span", {}, gridName(ctx, alarm.grid)),
    el("time", { title: fmtTime(alarm.raised_at) }, `${fmtTime(alarm.raised_at, { short: true })} · ${fmtAgo(alarm.raised_at)}`)));
}

function renderList(flashId = null) {
  // The server already keeps the list and the stream to "mine" (assigned to me, or in my grids).
  const shown = [...alarms.values()].sort((a, b) => {
    const oa = OPEN_STATES.has(a.state) ? 0 : 1; const ob = OPEN_STATES.has(b.state) ? 0 : 1;
    return oa - ob || new Date(b.raised_at) - new Date(a.raised_at);
  });
  $("cards").replaceChildren(...shown.map(card));
  $("empty").hidden = shown.length > 0;
  if (flashId !== null) {
    const item = $("cards").querySelector(`li[data-alarm-id="${flashId}"]`);
    if (item) { item.classList.add("flash"); setTimeout(() => item.classList.remove("flash"), 2500); }
  }
}

async function loadList() {
  const list = await api("/api/v1/alarms?mine=true&limit=200");
  alarms.clear();
  for (const a of list) alarms.set(a.id, a);
  renderList();
}

async function open(id) {
  selected = id;
  history.replaceState(null, "", `#/alarms/${id}`);
  $("list-view").hidden = true;
  $("detail-view").hidden = false;
  await refreshDetail();
}

function back() {
  selected = null;
  history.replaceState(null, "", location.pathname);
  $("detail-view").hidden = true;
  $("list-view").hidden = false;
  renderList();
}

async function refreshDetail() {
  if (selected === null) return;
  const pane = $("detail-view");
  const focused = document.activeElement;
  if (focused && pane.contains(focused) && focused.value) return;
  try {
    renderDetail(pane, await api(`/api/v1/alarms/${selected}`), ctx, { onDone: refreshDetail, onBack: back });
  } catch (err) {
    pane.replaceChildren(el("p", { class: "placeholder" }, err.detail || err.message));
  }
}

function setLive(status) {
  $("live").dataset.status = status;
  $("live-text").textContent = t(status === "live" ? "live" : "reconnecting");
}

async function main() {
  ctx = await loadContext();
  const whoText = () => `${ctx.person.name} · ${t(`role.${ctx.person.role}`)} · ${ctx.person.grids.map((g) => gridName(ctx, g)).join("、")}`;
  $("who").textContent = whoText();
  setupLangSwitch($("lang"), () => { $("who").textContent = whoText(); setLive($("live").dataset.status); renderList(); refreshDetail(); });
  applyI18n();
  setLive("connecting");
  followAlarms({
    params: "?mine=true",
    onStatus: setLive,
    onResync: loadList,
    onChange: ({ alarm }) => {
      alarms.set(alarm.id, alarm);
      renderList(alarm.id);
      if (alarm.id === selected) refreshDetail();
      if (navigator.vibrate && alarm.state === AlarmState.RAISED) navigator.vibrate(200);
    },
  });
  await loadList();
  setInterval(() => { if (selected === null) renderList(); }, 30000);
  const match = location.hash.match(/^#\/alarms\/(\d+)$/);
  if (match) await open(Number(match[1]));
}

main();
