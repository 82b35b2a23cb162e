// The property manager's console: live alarm list with filters, and the detail pane.
// The list is paged from the server in the console's order (GET /api/v1/alarms?order=attention, keyset cursor in
// X-Next-Cursor): the first page on load and on every filter change, the next ones as the list is scrolled to its
// end ("load more" as a fallback). Live changes update the rows already loaded; one that sorts past the last loaded
// row is left for a later page. The counters come from /api/v1/alarms/summary (every alarm, not the pages loaded).

import {
  KINDS, OPEN_STATES, PseudoState, SEVERITIES, STATES, api, applyI18n, el, fmtLocation, fmtTime,
  fmtValue, followAlarms, gridName, loadContext, personName, setupLangSwitch, severityBadge, stateChips, t,
} from "/static/common.js";
import { renderDetail } from "/static/detail.js";
import { createAttention } from "/static/attention.js";

const alarms = new Map(); // id -> AlarmPublic, the alarms of the pages loaded so far (server-side filters)
const PAGE = 100;
let cursor = null; // the next page's cursor ("<segment>.<id>"); null once every matching alarm is loaded
let generation = 0; // bumped by each (re)load from the first page: an older page arriving late is dropped
let loadingMore = null;
const rowCache = new Map(); // id -> [alarm, tr]: a row is rebuilt only when its alarm changed
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

/** The server's order (hub/alarms/paging.py): segment (open × critical … resolved × info), then newest id first. */
function segment(a) {
  return (OPEN_STATES.has(a.state) ? 0 : 3) + ({ critical: 0, warning: 1, info: 2 }[a.severity] ?? 3);
}

function compare(a, b) {
  return segment(a) - segment(b) || b.id - a.id;
}

/** Whether an alarm sorts within the pages loaded (at or before the last row handed out), or waits for a later page. */
function loaded(a) {
  if (cursor === null) return true;
  const [seg, id] = cursor.split(".").map(Number);
  return segment(a) < seg || (segment(a) === seg && a.id >= id);
}

function query(extra = {}) {
  return new URLSearchParams({ order: "attention", limit: String(PAGE), ...filters(), ...extra }).toString();
}

async function fetchPage(after) {
  const response = await fetch(`/api/v1/alarms?${query(after ? { cursor: after } : {})}`, {
    credentials: "same-origin", headers: { Accept: "application/json" },
  });
  if (response.status === 401) { await api("/api/v1/me"); return { items: [], next: null }; }  // api() sends to login
  if (!response.ok) throw new Error(`${response.status}`);
  return { items: await response.json(), next: response.headers.get("X-Next-Cursor") };
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

function cachedRow(alarm) {
  const hit = rowCache.get(alarm.id);
  if (hit && hit[0] === alarm) {
    hit[1].classList.toggle("selected", alarm.id === selected);
    return hit[1];
  }
  const tr = row(alarm);
  rowCache.set(alarm.id, [alarm, tr]);
  return tr;
}

function renderList(flashId = null) {
  const f = filters();
  const shown = [...alarms.values()].filter((a) => matches(a, f)).sort(compare);
  const rows = shown.map(cachedRow);
  $("alarm-rows").replaceChildren(...rows);
  $("empty").hidden = shown.length > 0;
  if (flashId !== null) {
    const tr = $("alarm-rows").querySelector(`tr[data-alarm-id="${flashId}"]`);
    if (tr) { tr.classList.add("flash"); setTimeout(() => tr.classList.remove("flash"), 2500); }
  }
  $("more").hidden = cursor === null;
  $("list-end").hidden = cursor !== null || shown.length === 0;
}

// The counters cover every alarm the person may see, asked of the server at most once a second.
let countsTimer = null;
async function refreshCounts() {
  countsTimer = null;
  try {
    const c = await api("/api/v1/alarms/summary");
    $("count-open").textContent = c.open;
    $("count-critical").textContent = c.critical;
    $("count-unacked").textContent = c.unacknowledged;
  } catch (err) { /* the next change or reload asks again */ }
}
function countsSoon() {
  if (countsTimer === null) countsTimer = setTimeout(refreshCounts, 1000);
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

/** The first page again (on load, a filter change, a reconnect): the pages loaded before are dropped. */
async function loadList() {
  const mine = ++generation;
  refreshCounts();
  const page = await fetchPage(null);
  if (mine !== generation) return;
  const fresh = new Map(page.items.map((a) => [a.id, a]));
  // A change pushed while the page was in flight may be newer than the page's copy.
  for (const [id, known] of alarms) {
    const listed = fresh.get(id);
    if (listed && known.updated_at > listed.updated_at) fresh.set(id, known);
  }
  alarms.clear();
  for (const [id, a] of fresh) alarms.set(id, a);
  cursor = page.next;
  renderList();
  await resetAttention();
}

/** The sound and title flash follow every open critical alarm, whatever the list's filters or pages loaded. */
async function resetAttention() {
  try {
    attention.reset(await api("/api/v1/alarms?order=attention&state=open&severity=critical&limit=1000"));
  } catch (err) { /* the next load or change tells it again */ }
}

/** The next page after the last row loaded (scrolling to the end of the list, or the "load more" button). */
function loadMore() {
  if (cursor === null || loadingMore) return loadingMore;
  const mine = generation;
  $("more").disabled = true;
  loadingMore = fetchPage(cursor).then((page) => {
    if (mine !== generation) return;
    for (const a of page.items) {
      const known = alarms.get(a.id);
      if (!known || known.updated_at <= a.updated_at) alarms.set(a.id, a);
      attention.update(a);
    }
    cursor = page.next;
    renderList();
  }).finally(() => { loadingMore = null; $("more").disabled = false; });
  return loadingMore;
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
    rowCache.clear();
    buildFilters();
    $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
    setLive($("live").dataset.status);
    renderList();
    refreshDetail();
  });
  applyI18n();
  buildFilters();
  $("filters").addEventListener("change", () => loadList());
  $("filters").addEventListener("reset", () => setTimeout(() => loadList(), 0));
  $("more").addEventListener("click", () => loadMore());
  // Infinite scroll: the next page as soon as the end of the list comes into view.
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { root: document.querySelector(".list-pane"), rootMargin: "200px" }).observe($("more"));
  setLive("connecting");
  tick();
  setInterval(tick, 1000);
  followAlarms({
    onStatus: setLive,
    onResync: loadList,
    onChange: ({ alarm, change }) => {
      const isNew = change === "raised";
      // Rows matching the filters and sorting within the loaded pages are kept; the others wait for their page.
      if (matches(alarm, filters()) && loaded(alarm)) alarms.set(alarm.id, alarm);
      else alarms.delete(alarm.id);
      renderSoon(alarm.id);
      countsSoon();
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
