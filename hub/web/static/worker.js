// The grid worker's phone page: only the alarms assigned to them or in their grids, live, with actions.

import {
  AlarmState, OPEN_STATES, api, applyI18n, el, fmtAgo, fmtLocation, fmtTime, fmtValue, followAlarms, gridName, lang, loadContext,
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
    renderDetail(pane, await api(`/api/v1/alarms/${selected}`), ctx, { onDone: refreshDetail, onBack: back, fieldActions: true });
  } catch (err) {
    pane.replaceChildren(el("p", { class: "placeholder" }, err.detail || err.message));
  }
}

function setLive(status) {
  $("live").dataset.status = status;
  $("live-text").textContent = t(status === "live" ? "live" : "reconnecting");
}

// ---------- Web Push: this phone gets alarms as notifications even with the page closed (sw.js shows them).

const pushText = (key) => t(`push.${key}`);  // common.js's tables, like every other string
const SUBSCRIBE_TIMEOUT_MS = 20000;

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window && window.isSecureContext;
}

async function pushRegistration() {
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

function setPush(state, note = "") {
  const button = $("push");
  button.dataset.push = state;
  button.disabled = state === "busy" || state === "unsupported";
  button.textContent = pushText(state === "on" ? "on" : state === "busy" ? "busy" : "off");
  button.hidden = state === "unsupported";
  $("push-status").textContent = note;
}

async function enablePush() {
  setPush("busy");
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") { setPush("denied", pushText("denied")); return; }
    const registration = await pushRegistration();
    const { public_key: key } = await api("/api/v1/push/key");
    let subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      const current = subscription.options && subscription.options.applicationServerKey;
      const same = current && btoa(String.fromCharCode(...new Uint8Array(current))) === btoa(String.fromCharCode(...keyBytes(key)));
      if (!same) { await subscription.unsubscribe(); subscription = null; }
    }
    if (!subscription) {
      // The browser asks its push service (FCM for Chrome, unreachable from mainland China): do not spin forever.
      const wait = new Promise((resolve, reject) => setTimeout(() => reject(new Error(pushText("timeout"))), SUBSCRIBE_TIMEOUT_MS));
      subscription = await Promise.race([
        registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }), wait,
      ]);
    }
    await api("/api/v1/push/subscriptions", { method: "POST", body: subscription.toJSON() });
    setPush("on", pushText("enabled"));
  } catch (err) {
    setPush("error", pushText("failed") + (err.detail || err.message || String(err)));
  }
}

async function disablePush() {
  setPush("busy");
  try {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration && await registration.pushManager.getSubscription();
    if (subscription) {
      await api("/api/v1/push/subscriptions", { method: "DELETE", body: { endpoint: subscription.endpoint } }).catch(() => null);
      await subscription.unsubscribe();
    }
    setPush("off");
  } catch (err) {
    setPush("error", pushText("failed") + (err.detail || err.message || String(err)));
  }
}

async function setupPush() {
  const button = el("button", { class: "btn ghost small", id: "push", type: "button" });
  const status = el("p", { class: "push-status", id: "push-status", role: "status" });
  document.querySelector(".phone-foot").prepend(button, status);
  button.addEventListener("click", () => (button.dataset.push === "on" ? disablePush() : enablePush()));
  if (!pushSupported()) { setPush("unsupported", pushText("unsupported")); return; }
  setPush("off");
  // Already on in this browser (permission granted, a subscription held): say so, and re-send it to the hub
  // (the person signed in may have changed; the hub takes the subscription over).
  if (Notification.permission !== "granted") return;
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && await registration.pushManager.getSubscription();
  if (subscription) {
    await api("/api/v1/push/subscriptions", { method: "POST", body: subscription.toJSON() }).catch(() => null);
    setPush("on", pushText("enabled"));
  }
}

async function main() {
  ctx = await loadContext();
  const whoText = () => `${ctx.person.name} · ${t(`role.${ctx.person.role}`)} · ${ctx.person.grids.map((g) => gridName(ctx, g)).join("、")}`;
  $("who").textContent = whoText();
  setupLangSwitch($("lang"), () => {
    $("who").textContent = whoText(); setLive($("live").dataset.status); renderList(); refreshDetail();
    if ($("push") && $("push").dataset.push !== "unsupported") $("push").textContent = pushText($("push").dataset.push === "on" ? "on" : "off");
  });
  applyI18n();
  setupPush().catch(() => setPush("error"));
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
  // "#/alarms/12" (this page's own links) or "#alarm-12" (where an "open" action link from a message lands).
  const match = location.hash.match(/^#(?:\/alarms\/|alarm-)(\d+)$/);
  if (match) await open(Number(match[1]));
}

main();
