// 识别模型: shadow mode compared with the live model per camera, and (managers) promote / rollback.
import { api, applyI18n, el, fmtTime, lang, loadContext, setupLangSwitch, t } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const TEXT = {
  zh: {
    title: "识别模型", shadow: "影子模式对比", models: "在用模型",
    help: "候选模型与在用模型看同样的画面；候选模型的判断只记录、不执行（不会锁梯、不会告警）。",
    camera: "摄像头", candidate: "候选模型", live_model: "在用模型", episodes: "事件数", agree: "一致",
    shadow_only: "仅候选报警", live_only: "仅在用报警", last: "最近", empty: "还没有影子模式的记录",
    live: "在用：", shipped: "vision.yaml 中配置的模型（尚未升级）", promote: "升级为在用模型",
    rollback: "回退到上一版本", done: "已完成", forbidden: "只有物业经理可以管理模型", version: "版本",
    pickup: "升级或回退后，各边缘网关在下次重启时加载在用模型。", is_live: "（在用）",
  },
  en: {
    title: "Detector models", shadow: "Shadow mode vs live", models: "Live model",
    help: "The candidate sees the same frames as the live model; its verdicts are recorded, never acted on (no hold, no alarm).",
    camera: "Camera", candidate: "Candidate", live_model: "Live model", episodes: "Episodes", agree: "Agree",
    shadow_only: "Candidate only", live_only: "Live only", last: "Last", empty: "No shadow-mode records yet",
    live: "Live: ", shipped: "the vision.yaml model (nothing promoted)", promote: "Promote to live",
    rollback: "Roll back to the previous version", done: "Done", forbidden: "Property managers only", version: "version",
    pickup: "After a promote or rollback, each edge loads the live model when it next restarts.", is_live: " (live)",
  },
};
const tx = (key) => TEXT[lang()][key] ?? TEXT.zh[key];
let ctx = null;
let shadow = { cameras: [], episodes: [] };
let models = null;
let refusal = null;

function render() {
  $("who").textContent = `${ctx.person.name} · ${t(`role.${ctx.person.role}`)}`;
  document.title = `${t("product")} · ${tx("title")}`;
  $("nav-models").textContent = tx("title");
  $("shadow-title").textContent = tx("shadow");
  $("shadow-help").textContent = tx("help");
  $("models-title").textContent = tx("models");
  $("shadow-head").replaceChildren(...["camera", "candidate", "live_model", "episodes", "agree", "shadow_only", "live_only", "last"]
    .map((k) => el("th", {}, tx(k))));
  $("shadow-rows").replaceChildren(...shadow.cameras.map((c) => el("tr", { "data-device": c.device },
    el("td", { class: "mono" }, c.device), el("td", { class: "mono" }, c.shadow_model), el("td", { class: "mono" }, c.live_model),
    el("td", { class: "mono", "data-k": "episodes" }, c.episodes), el("td", { class: "mono", "data-k": "agreements" }, c.agreements),
    el("td", { class: "mono", "data-k": "shadow_only" }, c.shadow_only), el("td", { class: "mono", "data-k": "live_only" }, c.live_only),
    el("td", { class: "mono" }, fmtTime(c.last_at)))));
  $("shadow-empty").hidden = shadow.cameras.length > 0;
  $("shadow-empty").textContent = tx("empty");
  const panel = $("models-panel");
  panel.hidden = refusal !== null && ctx.person.role !== "property_manager";
  if (!models) return;
  const live = models.live;
  $("models-live").textContent = `${tx("live")}${live ? `${tx("version")} ${live.version} · ${live.file} · ${live.sha256.slice(0, 12)}` : tx("shipped")}`;
  $("models-live").dataset.version = live ? String(live.version) : "";
  $("models-pickup").textContent = tx("pickup");
  $("candidates").replaceChildren(...models.candidates.map((c) => el("li", { "data-name": c.name },
    el("span", { class: "mono" }, `${c.name} · ${c.sha256.slice(0, 12)} `),
    live && live.sha256 === c.sha256 ? el("span", { class: "muted" }, tx("is_live"))
      : el("button", { class: "btn small", type: "button", onclick: () => change("/api/v1/models/promote", { name: c.name }) },
        tx("promote")))));
  $("rollback").hidden = !live;
  $("rollback").textContent = tx("rollback");
}

async function change(path, body) {
  try {
    models = await api(path, { method: "POST", body });
    $("models-status").textContent = tx("done");
  } catch (err) {
    $("models-status").textContent = err.status === 403 ? tx("forbidden") : (err.detail || err.message);
  }
  render();
}

async function main() {
  ctx = await loadContext();
  $("compound-name").textContent = ctx.compound.name;
  setupLangSwitch($("lang"), render);
  applyI18n();
  $("rollback").addEventListener("click", () => change("/api/v1/models/rollback", undefined));
  shadow = await api("/api/v1/shadow");
  try {
    models = await api("/api/v1/models");
  } catch (err) {
    refusal = err.status === 403 ? tx("forbidden") : err.detail || err.message;
  }
  render();
}

main();
