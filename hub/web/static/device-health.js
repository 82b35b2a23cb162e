// 设备状态: every visible device's health (GET /api/v1/device-health), worst first, with counts per building and
// type, the edges, and the maintenance list as CSV. Refreshed every 15 s.

import {
  api, applyI18n, el, fmtLocation, fmtTime, loadContext, setupLangSwitch, t,
} from "/static/common.js";
import { where } from "/static/places.js";

const STATUSES = ["offline", "low_battery", "stuck", "noisy", "stale"];
const REFRESH_MS = 15_000;
let ctx = null;
let report = null;

const $ = (id) => document.getElementById(id);

function statusChip(status) {
  return el("span", { class: `hstate hstate-${status}`, "data-status": status }, t(`h.status.${status}`));
}

function buildingName(id) {
  const name = ctx.directory.buildings[id];
  return name || fmtLocation({ building: id }, ctx.directory.buildings);
}

function fillFilters() {
  const status = $("h-status"); const building = $("h-building");
  const keep = [status.value, building.value];
  status.replaceChildren(el("option", { value: "" }, t("h.all")), ...STATUSES.map((s) => el("option", { value: s }, t(`h.status.${s}`))));
  const buildings = [...new Set((report ? report.devices : []).map((d) => d.building))];
  building.replaceChildren(el("option", { value: "" }, t("filter.all")), ...buildings.map((b) => el("option", { value: b }, buildingName(b))));
  [status.value, building.value] = keep;
  const params = new URLSearchParams();
  if (status.value) params.set("status", status.value);
  $("h-csv").href = `/api/v1/device-health.csv${params.size ? `?${params}` : ""}`;
}

function value(d) {
  if (d.value === null || d.value === undefined) return "—";
  return d.problems.includes("low_battery") ? `${Math.round(d.value)}%` : String(Number(d.value.toFixed(3)));
}

function render() {
  if (!report) return;
  fillFilters();
  const status = $("h-status").value; const building = $("h-building").value;
  const rank = (d) => STATUSES.indexOf(d.status);
  const rows = report.devices
    .filter((d) => d.problems.length && (!status || d.problems.includes(status)) && (!building || d.building === building))
    .sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
  $("h-device-rows").replaceChildren(...rows.slice(0, 1000).map((d) => el("tr", { "data-device": d.id, "data-status": d.status },
    el("td", {}, d.problems.map(statusChip)),
    el("td", {}, el("a", { href: `/devices/${encodeURIComponent(d.id)}` }, t(`type.${d.type}`))),
    el("td", {}, where({ building: d.building, unit: d.unit, floor: d.floor, flat: d.flat, place: d.place }, ctx.directory.buildings)),
    el("td", { class: "mono" }, value(d)),
    el("td", { class: "mono" }, fmtTime(d.since)),
    el("td", { class: "mono" }, fmtTime(d.last_report_at)),
    el("td", {}, d.alarm_ids.map((id) => el("a", { href: `/#/alarms/${id}`, class: "mono" }, `#${id} `))))));
  $("h-empty").hidden = rows.length > 0;
  $("h-counts-head").replaceChildren(el("tr", {}, el("th", {}, t("h.building")), el("th", {}, t("h.type")), el("th", {}, t("h.total")),
    el("th", {}, t("h.status.online")), ...STATUSES.map((s) => el("th", {}, t(`h.status.${s}`)))));
  $("h-count-rows").replaceChildren(...report.counts.filter((c) => !building || c.building === building).map((c) =>
    el("tr", { "data-building": c.building, "data-type": c.type },
      el("td", {}, buildingName(c.building)), el("td", {}, t(`type.${c.type}`)), el("td", { class: "mono" }, c.total),
      el("td", { class: "mono" }, c.online),
      ...STATUSES.map((s) => el("td", { class: `mono${c[s] ? " bad" : ""}`, "data-status": s }, c[s])))));
  $("h-edge-rows").replaceChildren(...report.edges.map((e) => el("tr", { "data-edge": e.edge, "data-offline": e.offline ? "1" : "0" },
    el("td", { title: e.edge }, e.names.join("、") || e.edge),
    el("td", {}, e.last_seen_at ? statusChip(e.offline ? "offline" : "online") : el("span", { class: "muted" }, t("h.edge.never"))),
    el("td", { class: "mono" }, fmtTime(e.last_seen_at)))));
}

async function load() {
  report = await api("/api/v1/device-health");
  render();
  document.body.dataset.ready = "1";
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  const who = () => { $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`; };
  who();
  document.title = `${t("product")} · ${t("health")}`;
  setupLangSwitch($("lang"), () => { who(); document.title = `${t("product")} · ${t("health")}`; render(); });
  applyI18n();
  $("h-filters").addEventListener("change", render);
  await load();
  setInterval(() => load().catch(() => {}), REFRESH_MS);
}

main();
