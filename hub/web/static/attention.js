// Attention: a new critical alarm sounds and flashes the title and favicon until someone acknowledges it;
// a banner while the hub has lost its broker or an edge is offline. Used by the console and the site plan.
//
// Browsers refuse to play sound before the person has interacted with the page, so the top bar gets a
// one-click "开启声音" (enable sound) button; until it is clicked only the title and favicon flash.

import { ACKNOWLEDGEABLE, api, el, t } from "/static/common.js";

const FLASH_MS = 1000;
const POLL_MS = 10_000;
const ICON = "/static/favicon.svg";
const ICON_ALERT = "/static/favicon-alert.svg";

/**
 * Create the attention controller: ``update(alarm)`` per alarm change, ``reset(alarms)`` after a full list load.
 * Critical alarms still waiting for an acknowledgement keep the sound and the flashing on.
 */
export function createAttention({ topRight = document.querySelector(".top-right"), titleKey = null } = {}) {
  const pending = new Map(); // id -> alarm: critical, not yet acknowledged
  const audio = el("audio", { id: "alarm-sound", src: "/static/alarm.wav", loop: true, preload: "auto" });
  document.body.append(audio);
  let enabled = false;
  let sounding = false; // our own record: a play() that the browser refused still leaves audio.paused true
  let timer = null;
  let phase = false;
  const baseTitle = () => (titleKey ? `${t("product")} · ${t(titleKey)}` : document.title);
  let title = baseTitle();

  const button = el("button", { class: "btn ghost small sound", id: "sound", type: "button", title: t("att.sound.help") });
  const label = () => { button.textContent = enabled ? t("att.sound.on") : t("att.sound.enable"); button.dataset.enabled = enabled ? "1" : "0"; };
  button.addEventListener("click", () => {
    enabled = !enabled;
    label();
    if (!enabled && sounding) { sounding = false; audio.pause(); }
    if (enabled) {
      // Played (and at once paused) inside the click: the browser then allows later plays without a click.
      const primed = audio.play();
      if (primed && primed.then) primed.then(() => { if (!sounding) audio.pause(); }).catch(() => {});
    }
    refresh();
  });
  label();
  if (topRight) topRight.prepend(button);

  const banner = el("div", { class: "attention-banner", id: "attention-banner", role: "alert", hidden: true });
  const header = document.querySelector("header.topbar");
  if (header) header.after(banner); else document.body.prepend(banner);

  function setIcon(href) {
    let link = document.querySelector('link[rel="icon"]');
    if (!link) { link = el("link", { rel: "icon", type: "image/svg+xml" }); document.head.append(link); }
    if (link.getAttribute("href") !== href) link.setAttribute("href", href);
  }

  function flash() {
    phase = !phase;
    document.title = phase ? `${t("att.title")} ${pending.size} ${t("att.pending")}` : title;
    setIcon(phase ? ICON_ALERT : ICON);
  }

  function start() {
    if (timer === null) {
      title = baseTitle();
      phase = false;
      flash();
      timer = setInterval(flash, FLASH_MS);
    }
    if (enabled && !sounding) {
      sounding = true;
      const playing = audio.play();
      if (playing && playing.catch) playing.catch(() => {});
    }
    document.body.dataset.attention = "on";
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; document.title = title; setIcon(ICON); }
    if (sounding || !audio.paused) { sounding = false; audio.pause(); audio.currentTime = 0; }
    document.body.dataset.attention = "off";
  }

  function refresh() { if (pending.size) start(); else stop(); }

  function note(alarm) {
    if (alarm.severity === "critical" && ACKNOWLEDGEABLE.has(alarm.state)) pending.set(alarm.id, alarm);
    else pending.delete(alarm.id);
  }

  async function poll() {
    const lines = [];
    try {
      const response = await fetch("/healthz", { credentials: "same-origin", headers: { Accept: "application/json" } });
      const health = await response.json();
      const ingest = health && health.parts && health.parts.ingest;
      if (ingest && ingest.subscribed === false) lines.push(t("att.broker"));
    } catch (err) {
      lines.push(t("att.broker"));
    }
    try {
      const edges = await api("/api/v1/device-health/edges");
      const down = edges.filter((e) => e.offline).map((e) => e.names.join("、") || e.edge);
      if (down.length) lines.push(`${t("att.edge")}${down.join("、")}`);
    } catch (err) { /* signed out or refused: the page itself says so */ }
    banner.replaceChildren(...lines.map((line) => el("p", {}, line)));
    banner.hidden = lines.length === 0;
  }
  poll();
  setInterval(poll, POLL_MS);
  document.body.dataset.attention = "off";

  return {
    update(alarm) { note(alarm); refresh(); },
    reset(alarms) { pending.clear(); for (const a of alarms) note(a); refresh(); },
    relabel() {
      label();
      title = baseTitle();
      // While flashing, the title shown now is rewritten too (not only at the next tick).
      document.title = timer !== null && phase ? `${t("att.title")} ${pending.size} ${t("att.pending")}` : title;
      button.title = t("att.sound.help");
      poll();
    },
    get pending() { return pending.size; },
  };
}
