// The alarm detail view and its actions, shared by the console and the grid-worker page.

import {
  OPEN_STATES, api, el, fmtLocation, fmtTime, fmtValue, gridName, personName, severityBadge, stateChips, t,
} from "/static/common.js";

function section(titleKey, ...body) {
  return el("section", { class: "d-section" }, el("h3", {}, t(titleKey)), ...body);
}

function field(labelKey, value, attrs = {}) {
  return el("div", { class: "field", ...attrs }, el("span", { class: "k" }, t(labelKey)), el("span", { class: "v" }, value));
}

function who(ctx, id) {
  if (!id || id === "system") return t("system");
  if (id.startsWith("edge:")) return `${t("detail.edge")} ${id.slice(5)}`;
  const p = ctx.directory.people[id];
  return p ? `${p.name} · ${t(`role.${p.role}`)}` : id;
}

function routingView(ctx, alarm) {
  const routing = alarm.routing || {};
  const targets = (alarm.assigned && alarm.assigned.length) ? alarm.assigned
    : (routing.people || []).length ? routing.people : (alarm.assignees || []).map((p) => ({ person: p }));
  const rows = targets.map((target) => el("li", { class: "route", "data-person": target.person },
    el("span", { class: "who" }, personName(ctx, target.person)),
    target.role ? el("span", { class: "role" }, t(`role.${target.role}`)) : null,
    target.reason ? el("span", { class: "why" }, target.reason) : null));
  const reasons = (routing.reasons || []).map((r) => el("li", {}, r));
  return section("detail.routing",
    routing.rule ? el("p", { class: "muted rule" }, `${t("detail.rule")}: ${routing.rule}`) : null,
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
      h.note ? el("q", { class: "note" }, h.note) : null);
  });
  return section("detail.history", el("ol", { class: "history" }, items));
}

function eventsView(events) {
  if (!events || !events.length) return null;
  const items = events.map((e) => el("li", {},
    el("time", {}, fmtTime(e.occurred_at || e.received_at)),
    el("span", { class: `ev ev-${e.state}` }, t(`change.${e.state}`)),
    el("span", { class: "muted mono" }, `seq ${e.seq}`),
    e.value !== null && e.value !== undefined ? el("span", { class: "mono" }, fmtValue(e)) : null,
    e.severity ? severityBadge(e.severity) : null));
  return section("detail.events", el("ol", { class: "events" }, items));
}

function actionsView(alarm, onDone) {
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
  if (alarm.state === "raised" || alarm.state === "notified") {
    const note = el("input", { type: "text", class: "note-input", id: "ack-note", maxlength: "500", placeholder: t("action.note.ack") });
    const button = el("button", { class: "btn primary", id: "ack", type: "button" }, t("action.ack"));
    button.addEventListener("click", () => run("acknowledge", note.value.trim() ? { note: note.value.trim() } : {}, button));
    box.append(el("div", { class: "action-row" }, note, button));
  }
  const note = el("textarea", { class: "note-input", id: "resolve-note", rows: "2", maxlength: "2000", placeholder: t("action.note") });
  const button = el("button", { class: "btn success", id: "resolve", type: "button" }, t("action.resolve"));
  button.addEventListener("click", () => {
    if (!note.value.trim()) { status.textContent = t("action.note.required"); note.focus(); return; }
    run("resolve", { note: note.value.trim() }, button);
  });
  box.append(el("div", { class: "action-row" }, note, button), status);
  return box;
}

/** Render an alarm's detail (``GET /api/v1/alarms/{id}``) into ``container``. */
export function renderDetail(container, alarm, ctx, { onDone, onBack } = {}) {
  const loc = alarm.location || {};
  const times = ["raised", "notified", "acknowledged", "cleared", "resolved"]
    .filter((k) => alarm[`${k}_at`])
    .map((k) => field(`detail.${k}`, fmtTime(alarm[`${k}_at`])));
  const parts = [
    el("div", { class: `d-head sevbar-${alarm.severity}`, "data-alarm-id": alarm.id, "data-state": alarm.state },
      onBack ? el("button", { class: "btn ghost small back", type: "button", onclick: onBack }, `‹ ${t("detail.back")}`) : null,
      el("div", { class: "d-title" }, severityBadge(alarm.severity), el("h2", {}, t(`kind.${alarm.kind}`)), stateChips(alarm)),
      el("p", { class: "d-loc" }, fmtLocation(loc, ctx.directory.buildings)),
      el("p", { class: "muted" }, `#${alarm.id} · ${gridName(ctx, alarm.grid)} · ${alarm.device}`)),
    alarm.message ? el("p", { class: "d-message" }, alarm.message) : null,
    el("div", { class: "d-facts" },
      field("detail.value", el("span", { class: "mono big" }, fmtValue(alarm))),
      alarm.threshold !== null && alarm.threshold !== undefined
        ? field("detail.threshold", el("span", { class: "mono" }, fmtValue({ value: alarm.threshold, unit: alarm.unit }))) : null,
      ...times),
    actionsView(alarm, onDone),
    householdView(alarm.household),
    routingView(ctx, alarm),
    historyView(ctx, alarm.history),
    eventsView(alarm.events),
  ];
  container.replaceChildren(...parts.filter(Boolean));
}
