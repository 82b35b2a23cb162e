// Marking a camera alarm: correct / false (正确 / 误报), or a missed e-bike drawn as a box on the snapshot.
// POST /api/v1/alarms/{id}/marks; the marks become a training set (`compound dataset export`).

import { ApiError, api, el, fmtTime, lang, t } from "/static/common.js";

const MARK_TEXT = {
  zh: {
    "mark.title": "标注（用于改进识别模型）", "mark.correct": "正确", "mark.false": "误报",
    "mark.missed": "报告漏检的电动车", "mark.draw_help": "在抓拍图上拖动画框，框住漏检的物体，再选择类别。",
    "mark.class": "类别", "mark.submit": "提交漏检", "mark.cancel": "取消", "mark.undo": "撤销上一个框",
    "mark.saved": "已保存", "mark.none": "尚未标注", "mark.current": "当前标注",
    "mark.verdict.correct": "正确", "mark.verdict.false": "误报", "mark.verdict.missed": "漏检",
    "mark.boxes": "个框", "mark.forbidden": "只有物业经理和该网格的网格员可以标注",
    "mark.need_box": "请先在图上画至少一个框", "mark.error": "标注失败",
  },
  en: {
    "mark.title": "Mark (to improve the detector)", "mark.correct": "Correct", "mark.false": "False alarm",
    "mark.missed": "Report a missed e-bike", "mark.draw_help": "Drag on the snapshot to box what was missed, then pick its class.",
    "mark.class": "Class", "mark.submit": "Submit missed", "mark.cancel": "Cancel", "mark.undo": "Undo last box",
    "mark.saved": "Saved", "mark.none": "Not marked yet", "mark.current": "Current mark",
    "mark.verdict.correct": "correct", "mark.verdict.false": "false alarm", "mark.verdict.missed": "missed",
    "mark.boxes": "box(es)", "mark.forbidden": "Only property managers and the grid's workers may mark",
    "mark.need_box": "Draw at least one box on the picture first", "mark.error": "Marking failed",
  },
};

/** Alarm kinds raised by the detector, whose pictures can teach it (a façade camera's thrown object is motion-based). */
export const MARKABLE_KINDS = new Set(["ebike_in_lift", "fire_lane_blocked"]);

/** Classes offered for a missed object (the shipped model's classes; e-bike first). */
export const MARK_CLASSES = [
  "ebike", "bicycle", "person", "pram", "wheelchair", "walker", "mobility_scooter", "trolley", "pet", "car", "tricycle",
  "heap",
];

function mx(key) {
  const found = t(key);
  if (found !== key) return found;
  return MARK_TEXT[lang()][key] ?? MARK_TEXT.zh[key] ?? key;
}

function clsName(cls) {
  const found = t(`cls.${cls}`);
  if (found !== `cls.${cls}`) return found;
  const zh = { ebike: "电动车", bicycle: "自行车", person: "行人", pram: "婴儿车", wheelchair: "轮椅", walker: "助行器",
    mobility_scooter: "代步车", trolley: "购物车", pet: "宠物", car: "汽车", tricycle: "三轮车", heap: "杂物堆" };
  return lang() === "en" ? cls.replace(/_/g, " ") : (zh[cls] ?? cls);
}

function describe(mark) {
  const boxes = mark.boxes.length ? ` · ${mark.boxes.length} ${mx("mark.boxes")}` : "";
  return `${mx("mark.current")}：${mx(`mark.verdict.${mark.verdict}`)}${boxes} · ${mark.by} · ${fmtTime(mark.at)}`;
}

/**
 * Add the marking panel under a camera alarm's snapshot. ``frame`` is the element wrapping the snapshot image
 * (the drawing layer is laid over it); ``img`` the image, whose displayed size maps pointer positions to
 * fractions of the picture.
 */
export function markingView(alarm, frame, img) {
  if (!MARKABLE_KINDS.has(alarm.kind)) return document.createDocumentFragment();  // nothing to add
  const status = el("p", { class: "mark-status muted small", id: "mark-status", role: "status" });
  const current = el("p", { class: "mark-current", id: "mark-current" }, mx("mark.none"));
  const pending = [];
  const layer = el("div", { class: "mark-layer", id: "mark-layer", hidden: true });
  frame.classList.add("mark-frame");
  frame.append(layer);

  const select = el("select", { id: "mark-class", "aria-label": mx("mark.class") },
    MARK_CLASSES.map((c) => el("option", { value: c }, clsName(c))));
  const list = el("ul", { class: "mark-boxes", id: "mark-boxes" });
  const drawPanel = el("div", { class: "mark-draw", id: "mark-draw", hidden: true },
    el("p", { class: "muted small" }, mx("mark.draw_help")),
    el("label", {}, `${mx("mark.class")} `, select),
    list,
    el("div", { class: "mark-actions" },
      el("button", { type: "button", class: "btn primary small", id: "mark-submit", onclick: () => submitMissed() },
        mx("mark.submit")),
      el("button", { type: "button", class: "btn ghost small", id: "mark-undo", onclick: () => { pending.pop(); redraw(); } },
        mx("mark.undo")),
      el("button", { type: "button", class: "btn ghost small", id: "mark-cancel", onclick: () => setDrawing(false) },
        mx("mark.cancel"))));

  function redraw() {
    layer.replaceChildren(...pending.map((b, i) => boxNode(b.box, `${i + 1} ${clsName(b.cls)}`)));
    list.replaceChildren(...pending.map((b, i) => el("li", { "data-cls": b.cls },
      `${i + 1}. ${clsName(b.cls)} [${b.box.map((v) => v.toFixed(2)).join(", ")}]`)));
  }

  function place(node, box) {  // CSSOM styles: allowed by the pages' CSP, unlike style attributes
    node.style.left = `${box[0] * 100}%`;
    node.style.top = `${box[1] * 100}%`;
    node.style.width = `${(box[2] - box[0]) * 100}%`;
    node.style.height = `${(box[3] - box[1]) * 100}%`;
    return node;
  }

  function boxNode(box, label) {
    return place(el("div", { class: "mark-box" }, el("span", {}, label)), box);
  }

  function setDrawing(on) {
    layer.hidden = !on;
    drawPanel.hidden = !on;
    frame.dataset.drawing = on ? "1" : "0";
    if (!on) { pending.length = 0; redraw(); }
  }

  // Pointer drag on the layer draws one box, in fractions of the displayed image.
  let start = null;
  let ghost = null;
  const at = (event) => {
    const r = img.getBoundingClientRect();
    return [Math.min(Math.max((event.clientX - r.left) / r.width, 0), 1), Math.min(Math.max((event.clientY - r.top) / r.height, 0), 1)];
  };
  layer.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    layer.setPointerCapture(event.pointerId);
    start = at(event);
    ghost = boxNode([start[0], start[1], start[0], start[1]], "");
    ghost.classList.add("ghost");
    layer.append(ghost);
  });
  layer.addEventListener("pointermove", (event) => {
    if (!start || !ghost) return;
    const [x, y] = at(event);
    const box = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    place(ghost, box);
  });
  layer.addEventListener("pointerup", (event) => {
    if (!start) return;
    const [x, y] = at(event);
    const box = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    start = null;
    ghost?.remove();
    ghost = null;
    if (box[2] - box[0] >= 0.01 && box[3] - box[1] >= 0.01) {
      pending.push({ cls: select.value, box: box.map((v) => Math.round(v * 10000) / 10000) });
    }
    redraw();
  });

  async function send(body) {
    status.textContent = "";
    try {
      const mark = await api(`/api/v1/alarms/${alarm.id}/marks`, { method: "POST", body });
      current.textContent = describe(mark);
      current.dataset.verdict = mark.verdict;
      status.textContent = mx("mark.saved");
      return true;
    } catch (err) {
      const why = err instanceof ApiError && err.status === 403 ? mx("mark.forbidden") : `${mx("mark.error")}: ${err.detail ?? err.message}`;
      status.textContent = why;
      status.dataset.error = String(err.status ?? "");
      return false;
    }
  }

  async function submitMissed() {
    if (!pending.length) { status.textContent = mx("mark.need_box"); return; }
    if (await send({ verdict: "missed", boxes: pending.slice() })) setDrawing(false);
  }

  api(`/api/v1/alarms/${alarm.id}/marks`).then((marks) => {
    if (marks && marks.length) {
      const last = marks[marks.length - 1];
      current.textContent = describe(last);
      current.dataset.verdict = last.verdict;
    }
  }).catch(() => {});

  return el("div", { class: "marking", id: "alarm-marking" },
    el("h4", {}, mx("mark.title")),
    current,
    el("div", { class: "mark-actions" },
      el("button", { type: "button", class: "btn small", id: "mark-correct", onclick: () => send({ verdict: "correct" }) },
        mx("mark.correct")),
      el("button", { type: "button", class: "btn small", id: "mark-false", onclick: () => send({ verdict: "false" }) },
        mx("mark.false")),
      el("button", { type: "button", class: "btn small", id: "mark-missed", onclick: () => setDrawing(drawPanel.hidden) },
        mx("mark.missed"))),
    drawPanel,
    status);
}
