// A device's page: what and where it is, and its recent history (1 h / 24 h / 7 d) as a live chart.
// The API applies the same grid rules as for alarms: a device outside the reader's grids is "not found".

import { ApiError, api, applyI18n, el, fmtAxis, fmtLocation, fmtTime, gridName, loadContext, setupLangSwitch, t }
  from "/static/common.js";
import { curveErrorText } from "/static/detail.js";
import { loadSeries } from "/static/series.js";

const REFRESH_MS = 15_000;
const RANGES = [3600, 86400, 604800];
const $ = (id) => document.getElementById(id);
let ctx = null;
let device = null;
let span = 86400;
let quantity = null;

function deviceId() {
  return decodeURIComponent(location.pathname.replace(/^\/devices\//, "").replace(/\/$/, ""));
}

/** Only a same-origin path is followed back (never another site). */
function backHref() {
  const back = new URLSearchParams(location.search).get("back");
  return back && back.startsWith("/") && !back.startsWith("//") ? back : "/";
}

function fmtReading(value, q) {
  if (value === null || value === undefined) return "—";
  const units = { smoke: "dB/m", gas: "%LEL", battery: "%", door: "" };
  const v = Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(1) : value.toFixed(3);
  return `${v}${units[q] ? ` ${units[q]}` : ""}`;
}

function renderHead() {
  $("device-id").textContent = device.id;
  $("device-loc").textContent = fmtLocation(device, ctx.directory.buildings);
  const field = (key, value) => el("div", { class: "field" }, el("span", { class: "k" }, t(key)), el("span", { class: "v" }, value));
  $("device-facts").replaceChildren(
    field("device.type", t(`type.${device.type}`)),
    field("device.grid", gridName(ctx, device.grid)),
    field("device.edge", device.edge),
    field("device.latest", el("span", { class: "mono", id: "device-latest" }, "—")));
  document.title = `${t("product")} · ${device.id}`;
}

function renderPickers() {
  $("ranges").querySelectorAll("button").forEach((b) => {
    b.classList.toggle("active", Number(b.dataset.range) === span);
    b.setAttribute("aria-pressed", String(Number(b.dataset.range) === span));
  });
  const select = $("quantity");
  const known = device.quantities.length ? device.quantities : [];
  select.replaceChildren(...known.map((q) => el("option", { value: q }, t(`quantity.${q}`))));
  select.value = quantity ?? "";
  select.parentElement.hidden = known.length < 2;
}

async function draw() {
  const box = $("device-curve");
  const data = await loadSeries(box, {
    device: device.id, span, quantity: quantity ?? undefined, maxPoints: 600, formatTime: fmtAxis,
    emptyText: t("curve.empty"), errorText: curveErrorText, unit: "",
    label: `${device.id} · ${t(`quantity.${quantity}`)}`,
  });
  box.dataset.loads = String(Number(box.dataset.loads || 0) + 1);
  box.dataset.span = String(span);
  if (data === null) { $("device-summary").textContent = ""; return; }
  if (quantity === null && data.quantity) { quantity = data.quantity; renderPickers(); }
  const last = data.points[data.points.length - 1];
  $("device-latest").textContent = last ? `${fmtReading(last.value, data.quantity)} · ${fmtTime(last.at, { short: true })}` : "—";
  $("device-summary").textContent = `${data.points.length} ${t("device.points")} · ${t("device.updated")} ${fmtTime(data.to)}`;
}

async function main() {
  ctx = await loadContext();
  $("back").href = backHref();
  const hashSpan = Number(new URLSearchParams(location.search).get("span"));
  if (RANGES.includes(hashSpan)) span = hashSpan;
  try {
    device = await api(`/api/v1/devices/${encodeURIComponent(deviceId())}`);
  } catch (err) {
    applyI18n();
    document.querySelectorAll(".panel").forEach((p) => { p.hidden = true; });
    $("device-error").hidden = false;
    $("device-error").textContent = err instanceof ApiError && err.status === 404 ? t("curve.notfound") : (err.detail || err.message);
    return;
  }
  const render = () => { renderHead(); renderPickers(); draw(); };
  setupLangSwitch($("lang"), render);
  applyI18n();
  $("ranges").addEventListener("click", (e) => {
    const range = Number(e.target.closest("button")?.dataset.range);
    if (!RANGES.includes(range)) return;
    span = range;
    const url = new URL(location.href);
    url.searchParams.set("span", String(span));
    history.replaceState(null, "", url);
    renderPickers();
    draw();
  });
  $("quantity").addEventListener("change", (e) => { quantity = e.target.value; draw(); });
  render();
  const tick = () => { $("clock").textContent = fmtTime(new Date().toISOString()); };
  tick();
  setInterval(tick, 1000);
  setInterval(draw, REFRESH_MS);
}

main();
