// 响应统计: response times per grid and per worker over a period (GET /api/v1/metrics/response), CSV export.
import {
  api, applyI18n, el, fmtDuration, gridName, loadContext, personName, setupLangSwitch, t,
} from "/static/common.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
let ctx = null;
let report = null;

/** A moment as a datetime-local value in the compound's time zone (the API reads offset-less times so). */
function localInput(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: ctx.compound.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

function setRange(days) {
  const end = new Date(Math.ceil((Date.now() + 1) / 60_000) * 60_000);  // the next whole minute: now is inside
  $("m-to").value = localInput(end);
  $("m-from").value = localInput(new Date(end.getTime() - days * DAY_MS));
}

function query() {
  const q = new URLSearchParams({ from: $("m-from").value, to: $("m-to").value });
  if ($("m-grid").value) q.set("grid", $("m-grid").value);
  return q.toString();
}

function share(part, whole, value) {
  if (!whole) return el("span", { class: "muted" }, "—");
  return el("span", {}, `${Math.round(value * 100)}%`, el("span", { class: "muted small" }, ` ${part}/${whole}`));
}

function times(row, name, col) {
  const p50 = row[`${name}_p50_s`]; const p90 = row[`${name}_p90_s`];
  return el("td", { class: "mono", "data-col": col, "data-p50": p50 ?? "", "data-p90": p90 ?? "" },
    p50 === null ? "—" : `${fmtDuration(p50)} / ${fmtDuration(p90)}`);
}

function head() {
  return el("tr", {},
    ["m.col.name", "m.col.alarms", "m.col.ack", "m.col.on_site", "m.col.resolve", "m.col.level1", "m.col.in_time",
      "m.col.closed", "m.col.drills"].map((k) => el("th", {}, t(k))));
}

function row(r, scope, name) {
  return el("tr", { class: scope === "total" ? "total-row" : "", "data-scope": scope, "data-key": r.key },
    el("td", {}, name),
    el("td", { class: "mono", "data-col": "alarms" }, r.alarms),
    times(r, "ack", "ack"),
    times(r, "on_site", "on_site"),
    times(r, "resolve", "resolve"),
    el("td", { "data-col": "level1" }, share(r.ack_level1, r.alarms, r.ack_level1_share)),
    el("td", { "data-col": "in_time" }, share(r.on_site_in_time, r.on_site_policy_alarms, r.on_site_in_time_share)),
    el("td", { "data-col": "closed" }, share(r.closed_24h, r.alarms, r.closed_24h_share)),
    el("td", { class: "mono", "data-col": "drills" }, r.drills));
}

function render() {
  $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
  $("m-grids-head").replaceChildren(head());
  $("m-workers-head").replaceChildren(head());
  if (!report) return;
  $("m-grid-rows").replaceChildren(
    row(report.total, "total", t("m.total")),
    ...report.grids.map((g) => row(g, "grid", gridName(ctx, g.key))));
  $("m-worker-rows").replaceChildren(...report.workers.map((w) => row(w, "worker", personName(ctx, w.key))));
  $("m-empty").hidden = report.total.alarms + report.total.drills > 0;
}

async function load() {
  const q = query();
  $("m-csv").href = `/api/v1/metrics/response.csv?${q}`;
  $("m-status").textContent = "";
  try {
    report = await api(`/api/v1/metrics/response?${q}`);
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (err) {
    report = null;
    $("m-status").textContent = `${t("m.bad")}: ${err.detail || err.message}`;
  }
  render();
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  $("m-grid").replaceChildren(el("option", { value: "" }, t("filter.all")),
    ...ctx.visible_grids.map((g) => el("option", { value: g }, gridName(ctx, g))));
  setupLangSwitch($("lang"), () => { $("m-grid").options[0].textContent = t("filter.all"); render(); });
  applyI18n();
  setRange(7);
  document.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => {
    setRange(Number(b.dataset.range)); load();
  }));
  $("period").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("m-grid").addEventListener("change", load);
  await load();
}

main();
