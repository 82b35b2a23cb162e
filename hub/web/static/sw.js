// The hub's service worker (served at /sw.js, scope "/"): shows Web Push alarms as notifications and answers
// their buttons. The payload is what hub/notify/channels/webpush.py sends:
//   {title, body, alarm_id, tag, drill, critical, links: {acknowledge, on_my_way, open}}
// "确认" and "在路上" POST the alarm's signed single-use action links; a tap elsewhere opens the alarm.

"use strict";

self.addEventListener("install", () => { self.skipWaiting(); });
self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });

/** The last pushes received (newest last), for the page and for tests: what arrived, whatever the OS showed. */
const received = [];

function parse(event) {
  if (!event.data) return null;
  try { return event.data.json(); } catch (err) { return { title: event.data.text() }; }
}

async function show(payload) {
  const links = payload.links || {};
  const actions = [];
  if (links.acknowledge) actions.push({ action: "ack", title: "确认" });
  if (links.on_my_way) actions.push({ action: "onway", title: "在路上" });
  const title = payload.title || "社区安全告警";
  await self.registration.showNotification(title, {
    body: payload.body || "",
    tag: payload.tag || (payload.alarm_id ? `alarm-${payload.alarm_id}` : undefined),
    renotify: true,
    data: { links, alarm_id: payload.alarm_id ?? null, drill: Boolean(payload.drill) },
    actions,
    icon: "/static/favicon.svg",
    requireInteraction: Boolean(payload.critical),
    vibrate: payload.critical ? [300, 100, 300, 100, 300] : [200],
    timestamp: Date.now(),
  });
  received.push({ title, tag: payload.tag || null, shown: true, at: Date.now() });
  if (received.length > 20) received.shift();
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage({ type: "push", title, tag: payload.tag || null });
}

self.addEventListener("push", (event) => {
  const payload = parse(event) || { title: "社区安全告警" };
  event.waitUntil(show(payload).catch((err) => {
    received.push({ title: payload.title || null, tag: payload.tag || null, shown: false, error: String(err), at: Date.now() });
  }));
});

async function openAlarm(url) {
  const target = new URL(url || "/worker", self.location.origin);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).pathname === target.pathname && "focus" in client) {
      if (client.url !== target.href && "navigate" in client) await client.navigate(target.href);
      return client.focus();
    }
  }
  return self.clients.openWindow(target.href);
}

async function act(link, fallback) {
  // The action links are single-use: POST performs it; when that fails (offline, already used, expired)
  // open the link, whose GET page says what happened and offers the action again.
  try {
    const response = await fetch(link, { method: "POST", credentials: "omit", redirect: "manual" });
    if (response.ok || response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) return;
  } catch (err) { /* fall through */ }
  await openAlarm(fallback || link);
}

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  const links = data.links || {};
  event.notification.close();
  if (event.action === "ack" && links.acknowledge) event.waitUntil(act(links.acknowledge, links.acknowledge));
  else if (event.action === "onway" && links.on_my_way) event.waitUntil(act(links.on_my_way, links.on_my_way));
  else event.waitUntil(openAlarm(links.open || "/worker"));
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "received" && event.source) {
    event.source.postMessage({ type: "received", received: received.slice() });
  }
});
