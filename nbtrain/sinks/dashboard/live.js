// nbtrain live dashboard: the store (what the kernel sent), the layout, controls and tiles; charts in chart.js.
const STORES = new Map();

function newStore() {
  return {steps: [], epochs: [], lr: [], notes: [], layers: [], acts: [], insight: null, saved: "", plan: null,
          images: {fmap: {}, kern: {}, hist: []}, final: false, views: new Set(), asked: 0, gen: 0,
          head: {status: "starting", progress: [0, 1], paused: false, error: "", reach: false, memory: ""}};
}

function storeFor(model) {
  const key = model.get("key");
  if (!STORES.has(key)) STORES.set(key, newStore());
  return STORES.get(key);
}

// Append-only lists come as [from, rows]: rows replace the list from that index (a replay is idempotent; the
// charts' cached series start again when rows they had read are replaced).
function splice(s, k, part, ask) {
  const list = s[k], [from, rows] = part;
  if (from > list.length) { ask(); return; }
  if (from < list.length) s.gen++;
  if (from === list.length) { for (const r of rows) list.push(r); return; }
  list.splice(from, list.length - from, ...rows);
}

function receive(s, m, model) {
  if (m && m.t === "saved") { s.saved = m.text; for (const v of s.views) v.update(); return; }
  if (!m || m.t !== "data") return;
  const ask = () => { if (Date.now() - s.asked > 1000) { s.asked = Date.now(); model.send({t: "hello"}); } };
  for (const k of ["steps", "epochs", "lr", "notes", "layers", "acts"]) if (m[k]) splice(s, k, m[k], ask);
  if ("plan" in m) s.plan = m.plan;
  if (m.images) s.images = m.images;
  if ("insight" in m) s.insight = m.insight;
  s.head = {status: m.status, progress: m.progress, paused: m.paused, error: m.error, reach: m.reach,
            memory: m.memory || ""};
  s.final = s.final || m.final;
  for (const v of s.views) v.update();
}

// Whether the page around the widget is dark (JupyterLab and Notebook 7 mark the body; else the background's luminance).
function darkTheme(node) {
  const mark = document.body && document.body.dataset.jpThemeLight;
  if (mark !== undefined) return mark === "false";
  const bg = getComputedStyle(node || document.body).getPropertyValue("--jp-layout-color0") ||
    getComputedStyle(document.body).backgroundColor;
  const rgb = (bg.match(/\d+/g) || [255, 255, 255]).map(Number);
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 110;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function buildControls(v, model) {
  const row = el("div", "nbtrain-row", v.root), lang = v.lang;
  const progress = el("div", "nbtrain-progress", row);
  progress.setAttribute("role", "progressbar");
  progress.setAttribute("aria-label", tr(lang, "progress"));
  v.bar = el("div", "nbtrain-bar", progress);
  v.progress = progress;
  v.pause = el("button", "jupyter-button nbtrain-pause", row, tr(lang, "pause"));
  v.stop = el("button", "jupyter-button nbtrain-stop", row, tr(lang, "stop"));
  v.pause.onclick = () => { model.send({t: "pause"}); clicked(v.s, "pause"); };
  v.stop.onclick = () => { model.send({t: "stop"}); clicked(v.s, "stop"); };
  const lr = el("label", "nbtrain-lr", row, tr(lang, "lr_scale") + " ×");
  v.lr = el("input", "", lr);
  Object.assign(v.lr, {type: "range", min: -2, max: 1, step: 0.05, value: 0});
  v.lrOut = el("span", "nbtrain-lr-out", lr, "1");
  v.lr.oninput = () => { v.lrOut.textContent = fmt(Math.pow(10, +v.lr.value)); };
  v.lr.onchange = () => model.send({t: "lr", value: Math.pow(10, +v.lr.value)});
  if ((model.get("meta") || {}).static) row.style.display = "none";     // an exported page: no kernel to talk to
}

// A link, not a run control: the kernel writes the file (<run dir>/dashboard.html or ./<run name>.html) and says where.
function exportLink(parent, model, lang) {
  const a = el("a", "nbtrain-export", parent, tr(lang, "export"));
  a.href = "#";
  a.title = tr(lang, "export_tip");
  a.onclick = ev => { ev.preventDefault(); model.send({t: "export"}); };
  return a;
}

function checkbox(row, cls, text) {
  const label = el("label", "", row), box = el("input", cls, label);
  box.type = "checkbox";
  label.append(" " + text);
  return box;
}

function buildViewControls(v) {
  const row = el("div", "nbtrain-row nbtrain-viewctl", v.root), lang = v.lang;
  v.log = checkbox(row, "nbtrain-log", tr(lang, "log"));
  const sm = el("label", "", row, tr(lang, "smoothing") + " ");
  v.smooth = el("input", "nbtrain-smooth", sm);
  Object.assign(v.smooth, {type: "range", min: 0, max: 0.99, step: 0.01, value: v.alpha});
  v.smoothOut = el("span", "", sm, String(v.alpha));
  v.smoothVal = checkbox(row, "nbtrain-smooth-val", tr(lang, "smooth_val"));
  v.reset = el("button", "jupyter-button nbtrain-reset", row, tr(lang, "reset"));
  v.reset.title = tr(lang, "zoom_tip");
  v.reset.onclick = () => { v.zoom = null; v.drawCharts(); };
  v.log.onchange = v.smoothVal.onchange = () => v.drawCharts();
  v.smooth.oninput = () => { v.smoothOut.textContent = v.smooth.value; v.drawCharts(); };
  if (!v.static) { exportLink(row, v.model, lang); v.saved = el("span", "nbtrain-saved", row, ""); }
  else v.saved = el("span", "", null, "");
}

function paintTile(canvas, t, fit) {
  const scale = fit ? Math.max(1, Math.floor(fit / Math.max(t.w, t.h))) :
    Math.max(1, Math.min(Math.ceil(160 / Math.min(t.w, t.h)), Math.floor(640 / Math.max(t.w, t.h)) || 1));
  canvas.width = t.w; canvas.height = t.h;
  canvas.style.width = t.w * scale + "px"; canvas.style.height = t.h * scale + "px";
  const raw = atob(t.data), img = canvas.getContext("2d").createImageData(t.w, t.h);
  for (let i = 0, n = t.w * t.h; i < n; i++) {
    for (let c = 0; c < 3; c++) img.data[4 * i + c] = raw.charCodeAt(t.c === 1 ? i : 3 * i + c);
    img.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
}

function drawTiles(v, s) {
  for (const kind of ["fmap", "kern"]) {
    const tiles = s.images[kind] || {}, names = Object.keys(tiles), p = v.panels[kind];
    p.box.style.display = names.length ? "" : "none";
    if (!names.length) continue;
    if ([...p.pick.options].map(o => o.value).join() !== names.join()) {
      const keep = p.pick.value;
      p.pick.replaceChildren(...names.map(n => { const o = document.createElement("option"); o.value = o.textContent = n; return o; }));
      p.pick.value = names.includes(keep) ? keep : names[0];
    }
    paintTile(p.canvas, tiles[p.pick.value]);
  }
  drawHist(v, s.images.hist || []);
}

function drawHist(v, hists) {
  v.hist.style.display = hists.length ? "" : "none";
  v.hist.replaceChildren();
  for (const h of hists) {
    const svg = svgEl("svg", {class: "nbtrain-histogram", width: 160, height: 70, viewBox: "0 0 160 70"}, v.hist);
    const top = Math.max(1, ...h.counts), bw = 160 / h.counts.length;
    h.counts.forEach((c, i) => svgEl("rect", {x: i * bw, y: 58 - 48 * c / top, width: bw - 0.5, height: 48 * c / top, class: "bar"}, svg));
    svgEl("text", {x: 2, y: 8, class: "tick"}, svg).textContent = h.name;
    svgEl("text", {x: 2, y: 69, class: "tick"}, svg).textContent = `${fmt(h.lo)} … ${fmt(h.hi)}`;
  }
}

function buildTiles(v) {
  const row = el("div", "nbtrain-row nbtrain-images", v.root);
  v.panels = {};
  for (const [kind, label] of [["fmap", tr(v.lang, "features")], ["kern", tr(v.lang, "kernels")]]) {
    const box = el("div", "nbtrain-tilebox widget-dropdown", row);
    const lab = el("label", "", box, label + " ");
    const pick = el("select", `nbtrain-pick nbtrain-pick-${kind}`, lab);
    const canvas = el("canvas", `nbtrain-tile nbtrain-${kind}`, box);
    pick.onchange = () => drawTiles(v, v.s);
    box.style.display = "none";
    v.panels[kind] = {box, pick, canvas};
  }
  v.hist = el("div", "nbtrain-row nbtrain-hist", v.root);
}

function updateHead(v, s, model) {
  const h = s.head, [n, total] = h.progress || [0, 1], lang = v.lang, busy = h.reach ? "" : " — " + tr(lang, "busy_tip");
  v.status.textContent = h.status + (h.error ? ` · dashboard error: ${h.error}` : "");
  v.memory.textContent = h.memory || "";
  v.memory.style.display = h.memory ? "" : "none";
  v.saved.textContent = s.saved;
  v.bar.style.width = (100 * n / Math.max(1, total)).toFixed(1) + "%";
  v.progress.setAttribute("aria-valuenow", String(n));
  v.progress.setAttribute("aria-valuemax", String(total));
  v.stop.title = tr(lang, "stop_tip") + busy;
  v.pause.title = tr(lang, h.paused ? "resume_tip" : "pause_tip") + busy;
  v.lr.title = tr(lang, "lr_tip") + busy;
  v.lr.setAttribute("aria-label", tr(lang, "lr_tip"));
  v.notes.replaceChildren(...s.notes.map(t => el("div", "nbtrain-note", null, "⚠ " + t)));
  const done = !!model.get("final") || s.final;
  for (const b of [v.pause, v.stop, v.lr]) b.disabled = done;
  showClicks(v, s);
}

// A click shows at once that it was taken ("stopping…", "pausing…"), until the kernel's updates confirm it.
function clicked(s, what) {
  if (what === "stop") s.stopping = true;
  else s.wantPaused = s.wantPaused === undefined ? !s.head.paused : undefined;
  for (const v of s.views) showClicks(v, s);
}

function showClicks(v, s) {
  if (s.wantPaused === s.head.paused) s.wantPaused = undefined;
  const w = s.wantPaused, lang = v.lang;
  v.pause.textContent = tr(lang, w === undefined ? (s.head.paused ? "resume" : "pause") : w ? "pausing" : "resuming");
  if (s.stopping && !s.final) { v.stop.textContent = tr(lang, "stopping"); v.stop.disabled = true; }
}

// The view's state for tests and the draw benchmark: time one redraw of every chart (milliseconds).
function timeRedraw(v) {
  const t = performance.now();
  v.drawCharts();
  return performance.now() - t;
}

function makeView(s, model, root) {
  const meta = model.get("meta") || {}, lang = meta.lang === "zh" ? "zh" : "en";
  const v = {s, model, lang, static: !!meta.static, root: el("div", "nbtrain-live", root), boxes: [],
             alpha: meta.smooth ?? 0.6, hidden: new Set(), zoom: null, hoverX: null, drag: null};
  v.root.lang = lang === "zh" ? "zh-CN" : "en";
  v.root.classList.toggle("nbtrain-dark", darkTheme(root));
  v.status = el("div", "nbtrain-status", v.root, tr(lang, "starting"));
  v.status.setAttribute("role", "status");
  v.memory = el("div", "nbtrain-memory", v.root, "");
  buildControls(v, model);
  buildViewControls(v);
  v.placeholder = el("div", "nbtrain-placeholder", v.root, tr(lang, "waiting"));
  v.chartRow = el("div", "nbtrain-chartrow", v.root);
  v.charts = el("div", "nbtrain-row nbtrain-charts", v.chartRow);
  v.lrText = el("div", "nbtrain-lr-text", v.chartRow, "");
  v.readout = el("div", "nbtrain-readout", v.root, "");
  buildTiles(v);
  buildPanels(v);
  v.notes = el("div", "nbtrain-doctor", v.root);
  v.meta = () => model.get("meta") || {};
  v.drawCharts = () => drawCharts(v, s, v.meta());
  v.timeRedraw = () => timeRedraw(v);
  v.root.nbtrainView = v;
  v.update = () => {
    updateHead(v, s, model);
    v.drawCharts();
    if (v.imgs !== s.images) { v.imgs = s.images; drawTiles(v, s); }
    drawLayers(v, s, v.meta());
    drawInsight(v, s);
  };
  return v;
}

// A background run's page asks for what is new every meta.ask seconds until the final picture: the kernel answers
// from its comm handler, since Colab drops what the training thread would send (googlecolab/colabtools #3373).
function keepAsking(s, model) {
  const every = (model.get("meta") || {}).ask;
  if (!every || s.asking || model.get("final")) return;
  s.asking = setInterval(() => {
    if (model.get("final")) { clearInterval(s.asking); return; }
    model.send({t: "ask"});
  }, 1000 * every);
}

export default {
  initialize({model}) {
    const s = storeFor(model);
    model.on("msg:custom", m => receive(s, m, model));
    model.on("change:final", () => {
      for (const v of s.views) v.update();
      if ((model.get("meta") || {}).ask) model.send({t: "ask"});    // once more: the kernel re-sends what ended
    });
    model.send({t: "hello"});
    keepAsking(s, model);
  },
  render({model, el: host}) {
    const s = storeFor(model), v = makeView(s, model, host);
    s.views.add(v);
    model.send({t: "theme", dark: v.root.classList.contains("nbtrain-dark")});
    v.update();
    return () => s.views.delete(v);
  },
};
