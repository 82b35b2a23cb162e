// A device's curve as an inline SVG: readings, the rule's threshold, the alarm moment. No third-party code.
//
//   import { loadSeries } from "/static/series.js";
//   await loadSeries(element, { device: alarm.device, from: minus30min, to: new Date(),
//                               threshold: alarm.threshold, unit: alarm.unit, marker: alarm.raised_at });
//
// Without `from`, `span` (seconds) gives the window ending at `to`; without `to` the window ends at the hub's
// clock (simulated when the hub replays a scenario). `formatTime(date, spanMs)` labels the time axis
// (default: the browser's local clock, with the day for windows over a day).
//
// The SVG carries data-points, data-max, data-threshold, data-from/data-to and data-crosses-threshold for tests
// and screen readers; the threshold line carries data-y, every point of the curve is in data-ys.

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 220, PAD = { left: 52, right: 12, top: 14, bottom: 28 };

function node(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function toDate(value) {
  return value instanceof Date ? value : new Date(value);
}

function fmtClock(date, spanMs) {
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return spanMs > 86_400_000 ? `${date.getMonth() + 1}/${date.getDate()} ${time}` : time;
}

function fmtNumber(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : v.toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
}

/** Draw points ({at, value}) into container; returns the SVG element. */
export function renderSeries(container, { points = [], from, to, threshold = null, unit = "", label = "", marker = null,
                                          emptyText = "No readings in this window", formatTime = fmtClock } = {}) {
  const start = toDate(from ?? (points[0] && points[0].at) ?? Date.now()).getTime();
  const end = toDate(to ?? (points.length ? points[points.length - 1].at : Date.now())).getTime();
  const span = Math.max(end - start, 1);
  const values = points.map((p) => p.value);
  const bounds = values.concat(threshold === null || threshold === undefined ? [] : [threshold]);
  let lo = bounds.length ? Math.min(...bounds, 0) : 0;
  let hi = bounds.length ? Math.max(...bounds) : 1;
  if (hi - lo < 1e-9) hi = lo + 1;
  hi += (hi - lo) * 0.08;
  const x = (t) => PAD.left + ((toDate(t).getTime() - start) / span) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);

  const crosses = threshold !== null && threshold !== undefined
    && values.some((v) => v < threshold) && values.some((v) => v >= threshold);
  const svg = node("svg", {
    viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", class: "series-chart",
    "data-points": points.length, "data-max": values.length ? Math.max(...values) : "",
    "data-min": values.length ? Math.min(...values) : "",
    "data-threshold": threshold === null || threshold === undefined ? "" : threshold,
    "data-from": new Date(start).toISOString(), "data-to": new Date(end).toISOString(),
    "data-crosses-threshold": crosses ? "true" : "false",
    "aria-label": `${label} ${points.length} readings${crosses ? ", crossing the threshold" : ""}`.trim(),
  });
  svg.append(node("title", {}, label || "readings"));
  svg.append(node("rect", { x: PAD.left, y: PAD.top, width: W - PAD.left - PAD.right,
    height: H - PAD.top - PAD.bottom, fill: "none", stroke: "#d0d4da" }));

  for (let i = 0; i <= 4; i++) {  // value grid and labels
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    svg.append(node("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6370" },
      fmtNumber(v)));
  }
  for (let i = 0; i <= 4; i++) {  // time labels
    const t = new Date(start + (span * i) / 4);
    svg.append(node("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle",
      "font-size": 11, fill: "#5b6370" }, formatTime(t, span)));
  }
  if (unit) svg.append(node("text", { x: PAD.left + 6, y: PAD.top + 14, "font-size": 11, fill: "#5b6370" }, unit));

  if (threshold !== null && threshold !== undefined) {
    svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(threshold), y2: y(threshold),
      stroke: "#d93025", "stroke-dasharray": "6 4", "stroke-width": 1.5, class: "series-threshold",
      "data-y": y(threshold).toFixed(1) }));
    svg.append(node("text", { x: W - PAD.right - 4, y: y(threshold) - 4, "text-anchor": "end", "font-size": 11,
      fill: "#d93025" }, fmtNumber(threshold)));
  }
  if (marker) {
    const mx = x(marker);
    if (mx >= PAD.left && mx <= W - PAD.right) {
      svg.append(node("line", { x1: mx, x2: mx, y1: PAD.top, y2: H - PAD.bottom, stroke: "#8a5cf6",
        "stroke-width": 1.5, class: "series-marker" }));
    }
  }
  if (points.length) {
    const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    const base = y(Math.max(lo, 0));
    svg.append(node("path", { d: `${path} L${x(points[points.length - 1].at).toFixed(1)},${base} `
      + `L${x(points[0].at).toFixed(1)},${base} Z`, fill: "rgba(26,115,232,0.10)", stroke: "none" }));
    svg.append(node("path", { d: path, fill: "none", stroke: "#1a73e8", "stroke-width": 2, class: "series-line",
      "data-ys": points.map((p) => y(p.value).toFixed(1)).join(" ") }));
    if (threshold !== null && threshold !== undefined) {
      for (const p of points) {
        if (p.value >= threshold) {
          svg.append(node("circle", { cx: x(p.at), cy: y(p.value), r: 2.5, fill: "#d93025" }));
        }
      }
    }
  } else {
    svg.append(node("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "font-size": 13, fill: "#5b6370",
      class: "series-empty" }, emptyText));
  }
  container.replaceChildren(svg);
  return svg;
}

function defaultErrorText(status) {
  return status === 404 ? "No such device" : `Curve unavailable (${status})`;
}

/**
 * Fetch /api/v1/devices/{device}/series (session cookie) and draw it; returns the response body, or null when
 * the request failed (then the chart shows `errorText(status)`, and `lastStatus` holds the status).
 */
export async function loadSeries(container, { device, from, to, span, quantity, maxPoints = 500,
                                              errorText = defaultErrorText, ...options }) {
  const params = new URLSearchParams();
  if (from) params.set("from", toDate(from).toISOString());
  if (to) params.set("to", toDate(to).toISOString());
  if (span && !from) params.set("span", String(span));
  if (quantity) params.set("quantity", quantity);
  params.set("max_points", String(maxPoints));
  let response;
  try {
    response = await fetch(`/api/v1/devices/${encodeURIComponent(device)}/series?${params}`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
  } catch (err) {
    response = { ok: false, status: 0 };
  }
  loadSeries.lastStatus = response.status;
  if (!response.ok) {
    renderSeries(container, { ...options, points: [], from, to, threshold: null, marker: null,
      emptyText: errorText(response.status) });
    return null;
  }
  const data = await response.json();
  renderSeries(container, { ...options, points: data.points, from: data.from, to: data.to,
    label: options.label ?? `${device} ${data.quantity ?? ""}`.trim() });
  return data;
}
