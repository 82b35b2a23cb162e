// The alarm detail view and its actions, shared by the console and the grid-worker page.

import {
  ACKNOWLEDGEABLE, AlarmState, ApiError, OPEN_STATES, api, channelName, el, fmtAxis, fmtEventMessage, fmtHistoryNote, fmtLocation, fmtTime, fmtValue, gridName, lang, personName,
  severityBadge, stateChips, t,
} from "/static/common.js";
import { markingView } from "/static/marking.js";
import { loadSeries } from "/static/series.js";

const CURVE_BEFORE_MS = 30 * 60 * 1000;
/** While an alarm is open its curve is redrawn this often (and on every live change of the alarm). */
export const CURVE_REFRESH_MS = 10_000;
const LONGEST_CURVE_S = 7 * 86400;
/** The reading charted for an alarm kind (else the device's main quantity). */
const QUANTITY_OF = {
  smoke: "smoke", gas: "gas", gas_pre_alarm: "gas", low_battery: "battery",
  door_held_open: "door", door_forced: "door", care_inactive: "door",
};
/** Kinds whose threshold is in the unit of the charted reading (a care alarm's threshold is in seconds). */
const THRESHOLD_ON_CURVE = new Set(["smoke", "gas", "gas_pre_alarm", "low_battery"]);
let curveTimer = null;

/** Alarm kinds raised by a camera: their detail shows the edge's snapshot and detections instead of a curve. */
export const CAMERA_KINDS = new Set(["ebike_in_lift", "fire_lane_blocked", "thrown_object"]);
/** While a camera alarm's JPEG has not arrived yet (it travels apart from the event), ask again this often. */
const EVIDENCE_RETRY_MS = 3000;
const EVIDENCE_RETRIES = 20;
const EVIDENCE_TEXT = {
  zh: {
    "evidence.title": "现场抓拍", "evidence.waiting": "抓拍图片尚未到达，稍后自动刷新…", "evidence.none": "无抓拍图片",
    "evidence.error": "抓拍暂不可用", "evidence.detections": "识别结果", "evidence.alt": "摄像头抓拍（识别框由边缘网关绘制）",
    "cls.person": "行人", "cls.ebike": "电动车", "cls.bicycle": "自行车", "cls.pram": "婴儿车", "cls.wheelchair": "轮椅",
    "cls.walker": "助行器", "cls.mobility_scooter": "代步车", "cls.trolley": "购物车", "cls.pet": "宠物", "cls.car": "汽车",
    "cls.tricycle": "三轮车", "cls.heap": "杂物堆",
  },
  en: {
    "evidence.title": "Camera snapshot", "evidence.waiting": "The snapshot has not arrived yet; retrying…",
    "evidence.none": "No snapshot", "evidence.error": "Snapshot unavailable", "evidence.detections": "Detections",
    "evidence.alt": "Camera snapshot (boxes drawn by the edge)", "cls.mobility_scooter": "mobility scooter",
  },
};

function tx(key) {
  const found = t(key);
  if (found !== key) return found;
  return EVIDENCE_TEXT[lang()][key] ?? EVIDENCE_TEXT.zh[key] ?? key.replace(/^cls\./, "");
}

export function curveErrorText(status) {
  if (status === 503) return t("curve.none");
  if (status === 404) return t("curve.notfound");
  return `${t("curve.unavailable")}${status ? ` (${status})` : ""}`;
}

/** Where a link to the device page should bring the reader back to. */
export function deviceHref(device) {
  return `/devices/${encodeURIComponent(device)}?back=${encodeURIComponent(location.pathname + location.hash)}`;
}

/** Draw the alarm's sensor curve: 30 min before the raise until now (open) or until it was resolved. */
async function drawAlarmCurve(box, alarm) {
  const open = OPEN_STATES.has(alarm.state);
  const withThreshold = THRESHOLD_ON_CURVE.has(alarm.kind);
  const options = {
    device: alarm.device,
    quantity: QUANTITY_OF[alarm.kind],
    from: new Date(new Date(alarm.raised_at).getTime() - CURVE_BEFORE_MS),
    to: open ? undefined : alarm.resolved_at,  // open: the hub's clock, which may be a simulated one
    threshold: withThreshold ? alarm.threshold : null,
    unit: withThreshold ? alarm.unit || "" : "",
    marker: alarm.raised_at,
    label: `${alarm.device} · ${t(`kind.${alarm.kind}`)}`,
    formatTime: fmtAxis,
    emptyText: t("curve.empty"),
    errorText: curveErrorText,
  };
  let data = await loadSeries(box, options);
  if (data === null && loadSeries.lastStatus === 422) {  // raised too long ago for one window: its last days
    data = await loadSeries(box, { ...options, from: undefined, span: LONGEST_CURVE_S });
  }
  box.dataset.loads = String(Number(box.dataset.loads || 0) + 1);
  box.dataset.state = data === null ? "error" : "ok";
}

function curveView(alarm, previous) {
  const box = el("div", { class: "curve", id: "alarm-curve", "data-device": alarm.device });
  if (previous) {  // keep the last drawing until the new one arrives (no flicker), and its count of draws
    box.dataset.loads = previous.parentElement?.dataset.loads || "0";
    box.append(previous);
  }
  const link = el("a", { class: "device-link", id: "device-link", href: deviceHref(alarm.device) },
    `${t("detail.device_page")} ›`);
  const help = el("p", { class: "muted small" }, t(OPEN_STATES.has(alarm.state) ? "detail.curve.help" : "detail.curve.closed"));
  return { box, view: el("section", { class: "d-section curve-section" },
    el("div", { class: "section-head" }, el("h3", {}, t("detail.curve")), link), box, help) };
}

/** Fill ``box`` with the alarm's snapshot and detections (``GET /api/v1/alarms/{id}/evidence``). */
async function loadEvidence(box, alarm, attempt = 0) {
  let evidence;
  try {
    evidence = await api(`/api/v1/alarms/${alarm.id}/evidence`);
  } catch (err) {
    box.dataset.state = "error";
    box.replaceChildren(el("p", { class: "muted" }, `${tx("evidence.error")}${err.status ? ` (${err.status})` : ""}`));
    return;
  }
  if (!box.isConnected && attempt > 0) return;
  const dets = evidence.detections || [];
  const list = dets.length ? el("div", { class: "detections-wrap" },
    el("h4", {}, tx("evidence.detections")),
    el("ul", { class: "detections", id: "alarm-detections" }, dets.map((d) => el("li", { "data-cls": d.cls },
      el("span", { class: "cls" }, tx(`cls.${d.cls}`)),
      el("span", { class: "mono score" }, d.score.toFixed(2)),
      d.track_id !== null && d.track_id !== undefined ? el("span", { class: "muted mono" }, `#${d.track_id}`) : null)))) : null;
  if (evidence.snapshot) {
    const img = el("img", {
      id: "alarm-snapshot", class: "snapshot", alt: tx("evidence.alt"), "data-event-id": evidence.snapshot.event_id,
      src: `${evidence.snapshot.url}?event=${encodeURIComponent(evidence.snapshot.event_id)}`,
    });
    box.dataset.state = "ok";
    const frame = el("div", { class: "snapshot-frame" }, el("a", { href: img.src, target: "_blank", rel: "noopener" }, img));
    box.replaceChildren(frame, list, markingView(alarm, frame, img));  // correct / false / missed boxes
    return;
  }
  const waiting = OPEN_STATES.has(alarm.state) && attempt < EVIDENCE_RETRIES;
  box.dataset.state = waiting ? "waiting" : "none";
  box.replaceChildren(el("p", { class: "muted" }, tx(waiting ? "evidence.waiting" : "evidence.none")), list);
  if (waiting) setTimeout(() => { if (box.isConnected) loadEvidence(box, alarm, attempt + 1); }, EVIDENCE_RETRY_MS);
}

function evidenceView(alarm) {
  const box = el("div", { class: "evidence", id: "alarm-evidence", "data-state": "loading" });
  return { box, view: el("section", { class: "d-section evidence-section" }, el("h3", {}, tx("evidence.title")), box) };
}

function section(titleKey, ...body) {
  return el("section", { class: "d-section" }, el("h3", {}, t(titleKey)), ...body);
}

function field(labelKey, value, attrs = {}) {
  return el("div", { class: "field", ...attrs }, el("span", { class: "k" }, t(labelKey)), el("span", { class: "v" }, value));
}

/** The tables' word for ``key`` in the reader's language, or ``fallback`` (an operator's id) when there is none. */
function wordOr(key, fallback) {
  const word = t(key);
  return word === key ? fallback : word;
}

function who(ctx, id) {
  if (!id || id === "system") return t("system");
  if (id.startsWith("edge:")) return `${t("detail.edge")} ${ctx.directory.buildings[id.slice(5)] || id.slice(5)}`;
  const p = ctx.directory.people[id];
  return p ? `${p.name} · ${t(`role.${p.role}`)}` : id;
}

/** A routing reason in the reader's language, from the data the router stores beside its English sentence. */
function whyText(ctx, why, fallback) {
  if (!why || !why.key) return fallback || "";
  const grids = ctx.directory.grids || {};
  const words = {
    ...why,
    role: t(`role.${why.role}`),
    by_role: why.by_role ? t(`role.${why.by_role}`) : "",
    grid: grids[why.grid] ? grids[why.grid].name : (why.grid || ""),
    by_grid: grids[why.by_grid] ? grids[why.by_grid].name : (why.by_grid || ""),
    day: why.day ? t(`day.${why.day}`) : "",
  };
  return t(`why.${why.key}`).replace(/\{(\w+)\}/g, (_, name) => words[name] ?? "");
}

function routingView(ctx, alarm) {
  const routing = alarm.routing || {};
  const whyOf = Object.fromEntries((routing.people || []).map((p) => [p.person, p.why]));
  const targets = (alarm.assigned && alarm.assigned.length) ? alarm.assigned
    : (routing.people || []).length ? routing.people : (alarm.assignees || []).map((p) => ({ person: p }));
  const rows = targets.map((target) => el("li", { class: "route", "data-person": target.person },
    el("span", { class: "who" }, personName(ctx, target.person)),
    target.role ? el("span", { class: "role" }, t(`role.${target.role}`)) : null,
    target.reason ? el("span", { class: "why" }, whyText(ctx, target.why || whyOf[target.person], target.reason)) : null));
  const whys = routing.whys || [];
  const reasons = (routing.reasons || []).map((r, i) => el("li", {}, whyText(ctx, whys[i], r)));
  return section("detail.routing",
    routing.rule ? el("p", { class: "muted rule", "data-rule": routing.rule }, `${t("detail.rule")}: ${wordOr(`rule.${routing.rule}`, routing.rule)}`) : null,
    rows.length ? el("ul", { class: "routes" }, rows) : el("p", { class: "muted" }, t("detail.none")),
    reasons.length && !rows.length ? el("ul", { class: "reasons muted" }, reasons) : null);
}

function householdView(household) {
  if (!household) return null;
  const residents = household.residents.map((r) => el("li", {},
    el("strong", {}, r.name),
    r.age !== null && r.age !== undefined ? ` ${r.age}${t("detail.age")}` : "",
    r.phone ? el("a", { href: `tel:${r.phone.replace(/\s/g, "")}`, class: "tel" }, r.phone) : null,
    r.notes ? el("span", { class: "muted" }, ` ${r.notes}`) : null));
  const care = household.care;
  return section("detail.household",
    care ? el("p", { class: "care-flag" }, `${t("detail.care")}: ${t(`care.${care.reason}`)}`) : null,
    el("ul", { class: "residents" }, residents),
    care ? field("detail.contact", el("span", {}, `${care.emergency_contact.name}（${care.emergency_contact.relation}） `,
      el("a", { class: "tel", href: `tel:${care.emergency_contact.phone.replace(/\s/g, "")}` }, care.emergency_contact.phone))) : null);
}

function historyView(ctx, history) {
  if (!history || !history.length) return section("detail.history", el("p", { class: "muted" }, t("detail.none")));
  const items = history.map((h) => {
    return el("li", { class: "h-item", "data-action": h.action, "data-state": h.to_state },
      el("time", {}, fmtTime(h.at)),
      el("span", { class: `h-action act-${h.action}` }, t(`action.${h.action}`)),
      el("span", { class: "who" }, who(ctx, h.actor)),
      h.note || h.note_data ? el("q", { class: "note" }, fmtHistoryNote(ctx, h)) : null);
  });
  return section("detail.history", el("ol", { class: "history" }, items));
}

function eventsView(events) {
  if (!events || !events.length) return null;
  const items = events.map((e) => el("li", {},
    el("time", {}, fmtTime(e.occurred_at || e.received_at)),
    el("span", { class: `ev ev-${e.state}` }, t(`change.${e.state}`)),
    el("span", { class: "muted mono" }, `${t("detail.seq")} ${e.seq}`),
    e.value !== null && e.value !== undefined ? el("span", { class: "mono" }, fmtValue(e)) : null,
    e.severity ? severityBadge(e.severity) : null,
    e.message || e.kind ? el("span", { class: "ev-message" }, fmtEventMessage(e.kind, e.state, e, e.message)) : null));
  return section("detail.events", el("ol", { class: "events" }, items));
}

/** The photo the on-site step may carry: the hub refuses more than this (and anything but JPEG or PNG). */
const MAX_PHOTO_BYTES = 5 * 1024 * 1024;

/** POST a multipart form (the on-site photo) with the session cookie; errors like ``api``. */
async function postForm(path, form) {
  const response = await fetch(path, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" }, body: form });
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.hash)}`;
    throw new ApiError(401, "not signed in");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
    throw new ApiError(response.status, detail);
  }
  return data;
}

/** The response plan (预案) for the alarm's kind, in order, and the resources nearest its place. */
function planView(alarm) {
  const plan = alarm.plan || [];
  const resources = alarm.resources || [];
  if (!plan.length && !resources.length) return null;
  return el("section", { class: "d-section plan", id: "plan" },
    el("h3", {}, t("plan.title")),
    plan.length ? el("ol", { class: "plan-steps", id: "plan-steps" }, plan.map((step) => el("li", {}, step))) : null,
    resources.length ? el("div", { class: "plan-resources" }, el("h4", {}, t("plan.resources")),
      el("ul", { id: "plan-resources" }, resources.map((item) => el("li", {}, item)))) : null);
}

/** Escalation state: drill / flapping / silenced / incident badges, level, next step, policy; then deliveries. */
function escalationView(ctx, alarm) {
  const badges = [
    alarm.drill ? el("span", { class: "badge drill", id: "badge-drill" }, t("esc.drill")) : null,
    alarm.flapping ? el("span", { class: "badge flapping", id: "badge-flapping" }, t("esc.flapping")) : null,
    alarm.silenced_by !== null && alarm.silenced_by !== undefined
      ? el("span", { class: "badge silenced", id: "badge-silenced" }, `${t("esc.silenced")} · ${t("esc.rule")} ${alarm.silenced_by}`) : null,
    alarm.incident_id !== null && alarm.incident_id !== undefined
      ? el("span", { class: "badge incident", id: "badge-incident" }, `${t("esc.incident")} #${alarm.incident_id}`) : null,
  ].filter(Boolean);
  const level = alarm.escalation_level;
  const box = el("div", { class: "deliveries-box", id: "deliveries", "data-state": "loading" });
  return {
    box,
    view: el("section", { class: "d-section escalation", id: "escalation", "data-level": level ?? "" },
      el("h3", {}, t("esc.title")),
      badges.length ? el("div", { class: "esc-badges" }, badges) : null,
      el("div", { class: "d-facts" },
        field("esc.level", level === null || level === undefined ? "—" : t("esc.level.n").replace("{n}", level), { id: "esc-level" }),
        field("esc.next", alarm.next_step_at ? fmtTime(alarm.next_step_at) : "—", { id: "esc-next" }),
        field("esc.policy", alarm.policy ? wordOr(`policy.${alarm.policy}`, alarm.policy) : "—", { id: "esc-policy", "data-policy": alarm.policy || "" })),
      el("h4", {}, t("esc.attempts")), box),
  };
}

/** Fill ``box`` with the alarm's notification jobs and each delivery attempt (``GET .../notifications``). */
async function loadDeliveries(box, ctx, alarm) {
  let record;
  try {
    record = await api(`/api/v1/alarms/${alarm.id}/notifications`);
  } catch (err) {
    box.dataset.state = "error";
    box.replaceChildren(el("p", { class: "muted" }, `${t("esc.unavailable")}${err.status ? ` (${err.status})` : ""}`));
    return;
  }
  const jobs = record.jobs || [];
  box.dataset.state = "ok";
  box.dataset.jobs = String(jobs.length);
  if (!jobs.length) { box.replaceChildren(el("p", { class: "muted" }, t("esc.none"))); return; }
  box.replaceChildren(el("ul", { class: "deliveries" }, jobs.map((job) => el("li", {
    class: "job", "data-job-id": job.id, "data-state": job.state, "data-channel": job.channel, "data-level": job.level,
  },
  el("span", { class: "mono" }, `${t("esc.level.n").replace("{n}", job.level)}${job.repeat ? `·${job.repeat}` : ""}`),
  el("span", { class: "who" }, job.person_id ? personName(ctx, job.person_id) : `${t("esc.group")} ${channelName(job.channel)}`),
  el("span", { class: "muted" }, `${channelName(job.channel)} · ${t(`job.${job.purpose}`)}`),
  el("span", { class: `job-state s-${job.state}` }, t(`job.${job.state}`)),
  el("time", {}, fmtTime(job.delivered_at || job.created_at)),
  (job.tries || []).length ? el("ol", { class: "tries" }, job.tries.map((a) => el("li", {
    class: a.ok ? "ok" : "fail", "data-ok": a.ok ? "1" : "0", "data-code": a.code || "", title: a.detail || null,
  }, `${fmtTime(a.at)} · ${t(a.ok ? "try.ok" : "try.fail")}${a.code ? ` · ${wordOr(`code.${a.code}`, a.code)}` : ""} · ${Math.round(a.latency_ms)} ms`,
  a.digest > 1 ? ` · ×${a.digest}` : ""))) : null))));
  // The channel's own words (English, for logs) are the attempt's tooltip; its code is worded from the tables.
}

function actionsView(alarm, onDone, { fieldActions = false } = {}) {
  if (!OPEN_STATES.has(alarm.state)) return null;
  const box = el("section", { class: "actions" });
  const status = el("p", { class: "action-status", role: "alert" });
  const run = async (path, body, button) => {
    button.disabled = true;
    status.textContent = "";
    try {
      await api(`/api/v1/alarms/${alarm.id}/${path}`, { method: "POST", body });
      status.textContent = t("action.done");
      if (onDone) await onDone();
    } catch (err) {
      status.textContent = `${t("action.failed")}: ${err.detail || err.message}`;
      button.disabled = false;
      // Someone else acted first (409) or the alarm left this person's grids (404): show what it is now.
      if ((err.status === 409 || err.status === 404) && onDone) setTimeout(onDone, 1500);
    }
  };
  if (ACKNOWLEDGEABLE.has(alarm.state)) {
    const note = el("input", { type: "text", class: "note-input", id: "ack-note", maxlength: "500", placeholder: t("action.note.ack") });
    const button = el("button", { class: "btn primary", id: "ack", type: "button" }, t("action.ack"));
    button.addEventListener("click", () => run("acknowledge", note.value.trim() ? { note: note.value.trim() } : {}, button));
    box.append(el("div", { class: "action-row" }, note, button));
  }
  if (fieldActions && (ACKNOWLEDGEABLE.has(alarm.state) || alarm.state === AlarmState.ACKNOWLEDGED)) {
    const go = el("button", { class: "btn go", id: "on-my-way", type: "button" }, t("action.go"));
    go.addEventListener("click", () => run("on-my-way", {}, go));
    box.append(el("div", { class: "action-row" }, go));
  }
  if (fieldActions && alarm.state !== AlarmState.ON_SITE) {
    const photo = el("input", { type: "file", id: "on-site-photo", accept: "image/jpeg,image/png", capture: "environment",
      "aria-label": t("action.photo") });
    const siteNote = el("input", { type: "text", class: "note-input", id: "on-site-note", maxlength: "500", placeholder: t("action.site.note") });
    const arrive = el("button", { class: "btn arrive", id: "on-site", type: "button" }, t("action.arrive"));
    arrive.addEventListener("click", async () => {
      const file = photo.files && photo.files[0];
      if (file && file.size > MAX_PHOTO_BYTES) { status.textContent = t("action.photo.big"); return; }
      const form = new FormData();
      if (siteNote.value.trim()) form.append("note", siteNote.value.trim());
      if (file) form.append("photo", file, file.name);
      arrive.disabled = true;
      status.textContent = "";
      try {
        await postForm(`/api/v1/alarms/${alarm.id}/on-site`, form);
        status.textContent = t("action.done");
        if (onDone) await onDone();
      } catch (err) {
        status.textContent = `${t("action.failed")}: ${err.detail || err.message}`;
        arrive.disabled = false;
      }
    });
    box.append(el("div", { class: "action-row on-site-row" },
      el("label", { class: "photo-label muted small" }, t("action.photo"), photo), siteNote, arrive));
  }
  const note = el("textarea", { class: "note-input", id: "resolve-note", rows: "2", maxlength: "2000",
    placeholder: t(fieldActions ? "action.note.close" : "action.note") });
  const button = el("button", { class: "btn success", id: "resolve", type: "button" }, t("action.resolve"));
  button.addEventListener("click", () => {
    if (!note.value.trim()) { status.textContent = t("action.note.required"); note.focus(); return; }
    run("resolve", { note: note.value.trim() }, button);
  });
  box.append(el("div", { class: "action-row" }, note, button), status);
  return box;
}

/** Render an alarm's detail (``GET /api/v1/alarms/{id}``) into ``container``. */
export function renderDetail(container, alarm, ctx, { onDone, onBack, fieldActions = false } = {}) {
  const loc = alarm.location || {};
  const sameAlarm = container.querySelector(`.d-head[data-alarm-id="${alarm.id}"]`);
  const previousChart = sameAlarm ? container.querySelector("#alarm-curve svg") : null;
  const camera = CAMERA_KINDS.has(alarm.kind);
  const curve = camera ? null : curveView(alarm, previousChart);
  const evidence = camera ? evidenceView(alarm) : null;
  const times = ["raised", "notified", "acknowledged", "on_my_way", "on_site", "cleared", "resolved"]
    .filter((k) => alarm[`${k}_at`])
    .map((k) => field(k === "on_my_way" || k === "on_site" ? `state.${k}` : `detail.${k}`, fmtTime(alarm[`${k}_at`]),
      { "data-time": k }));
  const escalation = escalationView(ctx, alarm);
  // The message in the reader's language from the kind and figures; the edge's English text for a kind not worded.
  const message = fmtEventMessage(alarm.kind, alarm.cleared_at ? "cleared" : "raised", alarm, alarm.message);
  const parts = [
    el("div", { class: `d-head sevbar-${alarm.severity}`, "data-alarm-id": alarm.id, "data-state": alarm.state },
      onBack ? el("button", { class: "btn ghost small back", type: "button", onclick: onBack }, `‹ ${t("detail.back")}`) : null,
      el("div", { class: "d-title" }, severityBadge(alarm.severity), el("h2", {}, t(`kind.${alarm.kind}`)), stateChips(alarm),
        alarm.drill ? el("span", { class: "badge drill", "data-drill": "1" }, t("esc.drill")) : null),
      el("p", { class: "d-loc" }, fmtLocation(loc, ctx.directory.buildings)),
      el("p", { class: "muted" }, `#${alarm.id} · ${gridName(ctx, alarm.grid)} · ${alarm.device}`)),
    message ? el("p", { class: "d-message" }, message) : null,
    el("div", { class: "d-facts" },
      field("detail.value", el("span", { class: "mono big" }, fmtValue(alarm))),
      alarm.threshold !== null && alarm.threshold !== undefined
        ? field("detail.threshold", el("span", { class: "mono" }, fmtValue({ value: alarm.threshold, unit: alarm.unit }))) : null,
      ...times),
    camera ? evidence.view : curve.view,
    actionsView(alarm, onDone, { fieldActions }),
    planView(alarm),
    escalation.view,
    householdView(alarm.household),
    routingView(ctx, alarm),
    historyView(ctx, alarm.history),
    eventsView(alarm.events),
  ];
  const previousDeliveries = sameAlarm ? container.querySelector("#deliveries") : null;
  if (previousDeliveries) escalation.box.replaceChildren(...previousDeliveries.childNodes);  // no flicker on reload
  container.replaceChildren(...parts.filter(Boolean));
  loadDeliveries(escalation.box, ctx, alarm);
  clearInterval(curveTimer);
  if (camera) {
    loadEvidence(evidence.box, alarm);
    return;
  }
  drawAlarmCurve(curve.box, alarm);
  if (OPEN_STATES.has(alarm.state)) {
    curveTimer = setInterval(() => {
      if (curve.box.isConnected) drawAlarmCurve(curve.box, alarm);
      else clearInterval(curveTimer);
    }, CURVE_REFRESH_MS);
  }
}
