// Dead letters (property managers): what the hub refused, and why.
import { api, applyI18n, el, fmtTime, loadContext, setupLangSwitch, t } from "/static/common.js";

const $ = (id) => document.getElementById(id);
let ctx = null;
let letters = [];
let refusal = null;

/** The tables' word for a refusal reason; the code itself for one they do not have. */
function wordOr(key, fallback) {
  const word = t(key);
  return word === key ? fallback : word;
}

function render() {
  $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
  $("letter-rows").replaceChildren(...letters.map((d) => el("tr", { "data-reason": d.reason },
    el("td", { class: "mono time" }, fmtTime(d.received_at)),
    el("td", {}, el("span", { class: "reason", title: d.detail }, wordOr(`dl.why.${d.reason}`, d.reason))),
    el("td", { class: "mono topic" }, d.topic),
    el("td", { class: "mono" }, `${d.size} ${t("dl.bytes")}`),
    el("td", { class: "mono preview", title: d.detail }, d.preview))));
  $("empty").hidden = letters.length > 0 && !refusal;
  $("empty").textContent = refusal || t("dl.empty");
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  setupLangSwitch($("lang"), render);
  applyI18n();
  try {
    letters = await api("/api/v1/dead-letters?limit=500");
  } catch (err) {
    refusal = err.status === 403 ? t("dl.forbidden") : err.detail || err.message;
  }
  render();
}

main();
