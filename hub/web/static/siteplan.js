// 平面图: the compound drawn from its config (GET /api/v1/siteplan) as SVG, live alarm markers from the alarm
// stream, a building's floors as a stacked grid of flats (#/b/<building>), a flat (#/f/<building>/<unit>/<flat>).

import {
  ACKNOWLEDGEABLE, OPEN_STATES, api, applyI18n, el, fmtLocation, fmtTime, followAlarms, loadContext,
  setupLangSwitch, severityBadge, stateChips, t,
} from "/static/common.js";
import { createAttention } from "/static/attention.js";
import { placeLabel, where } from "/static/places.js";

const SVG = "http://www.w3.org/2000/svg";
const SEV_RANK = { critical: 0, warning: 1, info: 2 };
const alarms = new Map(); // id -> AlarmPublic (open alarms only)
let ctx = null;
let plan = null;
let attention = null;
let panelTimer = null;

const $ = (id) => document.getElementById(id);

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function buildingLabel(b) {
  return b.kind === "building" ? b.name : b.name || t(`site.${b.kind}`);
}

function featureLabel(f) {
  return t(`sp.${f.kind}`);
}

/** Where an alarm's marker goes inside its building's group (the building's own frame, before rotation). */
function markerSpot(b, alarm) {
  const feature = b.features.find((f) => f.device === alarm.device);
  if (feature) return [feature.dx, feature.dy];
  const unit = b.units.find((u) => u.id === alarm.location.unit);
  if (unit) return [((unit.start + unit.end) / 2 - 0.5) * b.width, 0];
  return [0, 0];
}

function drawPlan() {
  const root = $("plan");
  root.setAttribute("viewBox", `0 0 ${plan.width.toFixed(1)} ${plan.height.toFixed(1)}`);
  $("plan-title").textContent = t("sp.title");
  const groups = plan.buildings.map((b) => {
    const g = svg("g", {
      class: `sp-building kind-${b.kind}`, "data-building": b.id, tabindex: "0", role: "button",
      transform: `translate(${b.x} ${b.y}) rotate(${b.rotation})`,
    });
    for (const f of b.features.filter((x) => x.kind === "fire_lane")) {
      g.append(svg("rect", { class: "sp-lane", x: f.dx - f.width / 2, y: f.dy - f.depth / 2, width: f.width, height: f.depth, "data-device": f.device }),
        svg("text", { class: "sp-lane-label", x: f.dx, y: f.dy + 1.4, "text-anchor": "middle" }, featureLabel(f)));
    }
    g.append(svg("rect", { class: "sp-footprint", x: -b.width / 2, y: -b.depth / 2, width: b.width, height: b.depth, rx: 1.5 }));
    for (const u of b.units) {
      const x0 = (u.start - 0.5) * b.width;
      if (u.start > 0) g.append(svg("line", { class: "sp-unit-line", x1: x0, y1: -b.depth / 2, x2: x0, y2: b.depth / 2 }));
      g.append(svg("text", { class: "sp-unit-label", x: x0 + ((u.end - u.start) * b.width) / 2, y: b.depth / 2 - 2, "text-anchor": "middle" },
        `${u.id.replace(/^u/, "")}${t("unit")}`));
    }
    for (const f of b.features.filter((x) => x.kind !== "fire_lane")) {
      g.append(svg("rect", { class: `sp-feature sp-${f.kind}`, x: f.dx - f.width / 2, y: f.dy - f.depth / 2, width: f.width, height: f.depth, "data-device": f.device },
        svg("title", {}, featureLabel(f))));
    }
    g.append(svg("text", { class: "sp-name", x: 0, y: -1, "text-anchor": "middle" }, buildingLabel(b)));
    g.append(svg("g", { class: "sp-markers" }));
    g.addEventListener("click", () => { location.hash = `#/b/${b.id}`; });
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") location.hash = `#/b/${b.id}`; });
    return g;
  });
  root.replaceChildren(svg("title", { id: "plan-title" }, t("sp.title")), ...groups);
  drawMarkers();
}

function drawMarkers() {
  if (!plan) return;
  const byBuilding = new Map();
  for (const a of alarms.values()) {
    if (!OPEN_STATES.has(a.state)) continue;
    if (!byBuilding.has(a.location.building)) byBuilding.set(a.location.building, []);
    byBuilding.get(a.location.building).push(a);
  }
  for (const b of plan.buildings) {
    const layer = $("plan").querySelector(`g[data-building="${b.id}"] .sp-markers`);
    if (!layer) continue;
    const list = (byBuilding.get(b.id) || []).sort((x, y) => (SEV_RANK[x.severity] ?? 3) - (SEV_RANK[y.severity] ?? 3) || y.id - x.id);
    const used = new Map();
    const markers = list.slice(0, 40).map((a) => {
      const [x, y] = markerSpot(b, a);
      const key = `${x},${y}`;
      const n = used.get(key) || 0;
      used.set(key, n + 1);
      const unacked = ACKNOWLEDGEABLE.has(a.state);
      const m = svg("g", {
        class: `marker sev-${a.severity}${unacked ? " unacked" : ""}`, "data-alarm-id": a.id, "data-kind": a.kind,
        "data-severity": a.severity, "data-state": a.state, transform: `translate(${x + n * 5} ${y - 3})`,
      },
      svg("circle", { class: "marker-halo", r: 4.5 }),
      svg("circle", { class: "marker-dot", r: 2.6 }),
      svg("title", {}, `${t(`severity.${a.severity}`)} · ${t(`kind.${a.kind}`)} · ${where(a.location, ctx.directory.buildings)}`));
      m.addEventListener("click", (e) => {
        e.stopPropagation();
        const loc = a.location;
        location.hash = loc.unit && loc.flat ? `#/f/${loc.building}/${loc.unit}/${loc.flat}` : `#/b/${loc.building}`;
      });
      return m;
    });
    layer.replaceChildren(...markers);
    const g = layer.parentNode;
    g.classList.toggle("has-alarm", list.length > 0);
    g.dataset.alarms = String(list.length);
  }
}

// Changes can arrive by the dozen a second: markers are redrawn once per frame, not once per change.
let markersQueued = false;
function drawMarkersSoon() {
  if (markersQueued) return;
  markersQueued = true;
  requestAnimationFrame(() => { markersQueued = false; drawMarkers(); });
}

function deviceDot(d) {
  const s = d.state;
  const cls = s.status === "ok" ? "ok" : `${s.status} sev-${s.severity}${ACKNOWLEDGEABLE.has(s.state) ? " unacked" : ""}`;
  return el("i", { class: `dev ${cls}`, "data-device": d.id, "data-status": s.status, title: `${t(`type.${d.type}`)} · ${t(`sp.dev.${s.status}`)}` });
}

function deviceRow(d) {
  const s = d.state;
  return el("li", { class: "sp-device", "data-device": d.id, "data-status": s.status },
    deviceDot(d),
    el("span", { class: "name" }, t(`type.${d.type}`)),
    d.place ? el("span", { class: "muted" }, placeLabel(d.place)) : null,
    el("span", { class: `sp-status ${s.status}` }, s.status === "ok" ? t("sp.dev.ok") : `${t(`kind.${s.kind}`)}`),
    s.alarm_id ? el("a", { href: `/#/alarms/${s.alarm_id}` }, t("sp.open_alarm")) : null,
    el("a", { href: `/devices/${encodeURIComponent(d.id)}` }, t("detail.device_page")));
}

async function showBuilding(id) {
  const panel = $("sp-panel");
  const b = await api(`/api/v1/siteplan/buildings/${encodeURIComponent(id)}`);
  const info = plan.buildings.find((x) => x.id === id);
  const head = el("div", { class: "sp-head", "data-building": id },
    el("a", { href: "#/", class: "back" }, `← ${t("sp.back")}`),
    el("h2", {}, info ? buildingLabel(info) : fmtLocation({ building: id }, ctx.directory.buildings)));
  const open = [...alarms.values()].filter((a) => a.location.building === id && OPEN_STATES.has(a.state));
  const openList = el("ul", { class: "sp-open" }, open.length ? open.map((a) => el("li", { "data-alarm-id": a.id },
    severityBadge(a.severity), " ", el("span", {}, t(`kind.${a.kind}`)), " ",
    el("span", {}, where(a.location, ctx.directory.buildings)), " ", stateChips(a))) : [el("li", { class: "muted" }, t("sp.none_open"))]);
  const units = b.units.map((u) => el("section", { class: "sp-unit", "data-unit": u.id },
    el("h3", {}, `${u.id.replace(/^u/, "")}${t("unit")}`),
    el("table", { class: "sp-floors" }, el("tbody", {}, u.floors.map((row) => el("tr", { "data-floor": row.floor },
      el("th", {}, `${row.floor}${t("floor")}`),
      row.flats.map((f) => {
        const worst = f.devices.map((d) => d.state).filter((s) => s.status !== "ok")
          .sort((x, y) => (SEV_RANK[x.severity] ?? 3) - (SEV_RANK[y.severity] ?? 3))[0];
        const cell = el("td", {
          class: `sp-flat${worst ? ` ${worst.status} sev-${worst.severity}` : ""}${worst && ACKNOWLEDGEABLE.has(worst.state) ? " unacked" : ""}`,
          "data-flat": f.flat, tabindex: "0", title: f.devices.map((d) => t(`type.${d.type}`)).join("、"),
        }, el("span", { class: "num" }, f.flat), el("span", { class: "devs" }, f.devices.map(deviceDot)));
        const go = () => { location.hash = `#/f/${id}/${u.id}/${f.flat}`; };
        cell.addEventListener("click", go);
        cell.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
        return cell;
      }),
      el("td", { class: "sp-common" }, row.common.map(deviceDot)))))),
    u.other.length ? el("ul", { class: "sp-devices" }, u.other.map(deviceRow)) : null));
  const other = b.other.length ? el("section", {}, el("h3", {}, t("sp.other")), el("ul", { class: "sp-devices" }, b.other.map(deviceRow))) : null;
  panel.replaceChildren(...[head, el("h3", {}, t("sp.open")), openList, el("div", { class: "sp-units" }, units), other].filter(Boolean));
}

async function showFlat(building, unit, flat) {
  const panel = $("sp-panel");
  const f = await api(`/api/v1/siteplan/flats/${encodeURIComponent(building)}/${encodeURIComponent(unit)}/${encodeURIComponent(flat)}`);
  const loc = { building, unit, floor: f.floor, flat };
  const head = el("div", { class: "sp-head", "data-flat": flat, "data-building": building, "data-unit": unit },
    el("a", { href: `#/b/${building}`, class: "back" }, `← ${t("sp.back_building")}`),
    el("h2", {}, where(loc, ctx.directory.buildings)));
  const devices = el("ul", { class: "sp-devices", id: "flat-devices" }, f.devices.length ? f.devices.map(deviceRow) : [el("li", { class: "muted" }, t("sp.no_devices"))]);
  let household;
  if (f.household) {
    const h = f.household;
    household = el("div", { class: "sp-household", id: "flat-household" },
      h.care ? el("p", { class: "care" }, `${t("sp.care")} · ${t(`care.${h.care.reason}`)}`) : null,
      el("ul", {}, h.residents.map((r) => el("li", {}, el("span", { class: "name" }, r.name),
        r.age !== null && r.age !== undefined ? ` ${r.age}${t("detail.age")}` : "",
        r.phone ? el("span", { class: "mono" }, ` ${r.phone}`) : null,
        r.notes ? el("span", { class: "muted" }, ` ${r.notes}`) : null))),
      h.care && h.care.emergency_contact ? el("p", {}, `${t("detail.contact")}：${h.care.emergency_contact.name} `, el("span", { class: "mono" }, h.care.emergency_contact.phone || "")) : null);
  } else {
    household = el("p", { class: "muted", id: "flat-household-hidden" }, t("sp.household.hidden"));
  }
  const history = el("ul", { class: "sp-history", id: "flat-history" }, f.history.length ? f.history.map((a) => el("li", { "data-alarm-id": a.id },
    severityBadge(a.severity), " ", el("a", { href: `/#/alarms/${a.id}` }, t(`kind.${a.kind}`)), " ", stateChips(a), " ",
    el("span", { class: "mono" }, fmtTime(a.raised_at)))) : [el("li", { class: "muted" }, t("sp.no_history"))]);
  panel.replaceChildren(head, el("h3", {}, t("sp.devices")), devices, el("h3", {}, t("sp.household")), household,
    el("h3", {}, t("sp.history")), history);
}

async function route() {
  const panel = $("sp-panel");
  const hash = location.hash;
  let m;
  $("plan").querySelectorAll(".sp-building").forEach((g) => g.classList.remove("selected"));
  try {
    if ((m = hash.match(/^#\/b\/([\w-]+)$/))) {
      $("plan").querySelector(`g[data-building="${m[1]}"]`)?.classList.add("selected");
      await showBuilding(m[1]);
    } else if ((m = hash.match(/^#\/f\/([\w-]+)\/([\w-]+)\/(\d+)$/))) {
      $("plan").querySelector(`g[data-building="${m[1]}"]`)?.classList.add("selected");
      await showFlat(m[1], m[2], m[3]);
    } else {
      panel.replaceChildren(el("p", { class: "placeholder" }, t("sp.select")));
    }
  } catch (err) {
    panel.replaceChildren(el("p", { class: "placeholder" }, err.detail || err.message));
  }
}

function refreshPanelSoon() {
  clearTimeout(panelTimer);
  panelTimer = setTimeout(route, 300);
}

async function loadAlarms() {
  const list = await api("/api/v1/alarms?state=open&limit=1000");
  alarms.clear();
  for (const a of list) alarms.set(a.id, a);
  drawMarkers();
  attention.reset(list);
}

function setLive(status) {
  $("live").dataset.status = status;
  $("live-text").textContent = t(status === "live" ? "live" : "reconnecting");
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  const who = () => { $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`; };
  who();
  document.title = `${t("product")} · ${t("siteplan")}`;
  attention = createAttention({ titleKey: "siteplan" });
  setupLangSwitch($("lang"), () => {
    who();
    setLive($("live").dataset.status);
    drawPlan();
    route();
    attention.relabel();
  });
  applyI18n();
  setLive("connecting");
  plan = await api("/api/v1/siteplan");
  drawPlan();
  window.addEventListener("hashchange", route);
  followAlarms({
    onStatus: setLive,
    onResync: loadAlarms,
    onChange: ({ alarm }) => {
      if (OPEN_STATES.has(alarm.state)) alarms.set(alarm.id, alarm); else alarms.delete(alarm.id);
      drawMarkersSoon();
      attention.update(alarm);
      if (location.hash.startsWith(`#/b/${alarm.location.building}`) || location.hash.startsWith(`#/f/${alarm.location.building}/`)) refreshPanelSoon();
    },
  });
  await loadAlarms();
  await route();
  document.body.dataset.ready = "1";
}

main();
