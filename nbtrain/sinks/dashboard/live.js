// nbtrain live dashboard: the store (what the kernel sent), the layout, controls and tiles; charts in chart.js.
const STORES = new Map();
const SKIP = new Set(["step", "epoch", "lr", "time", "samples", "batch"]);
const STOP_TIP = "Stop after the batch in progress (the model, logs and last checkpoint stay usable)";
const BUSY_TIP = " — this kernel takes the click once the running cell has ended (no kernel subshell brings it, " +
  "and the training thread cannot read its queue here). To stop a foreground fit now, interrupt the kernel: the " +
  "loop stops cleanly.";

function newStore() {
  return {steps: [], epochs: [], lr: [], notes: [], layers: [], acts: [], insight: null, saved: "", plan: null,
          images: {fmap: {}, kern: {}, hist: []}, final: false, views: new Set(), asked: 0,
          head: {status: "starting", progress: [0, 1], paused: false, error: "", reach: false, memory: ""}};
}

function storeFor(model) {
  const key = model.get("key");
  if (!STORES.has(key)) STORES.set(key, newStore());
  return STORES.get(key);
}

// Append-only lists come as [from, rows]: rows replace the list from that index (a replay is idempotent).
function splice(list, part, ask) {
  const [from, rows] = part;
  if (from > list.length) { ask(); return; }
  list.splice(from, list.length - from, ...rows);
}

function receive(s, m, model) {
  if (m && m.t === "saved") { s.saved = m.text; for (const v of s.views) v.update(); return; }
  if (!m || m.t !== "data") return;
  const ask = () => { if (Date.now() - s.asked > 1000) { s.asked = Date.now(); model.send({t: "hello"}); } };
  for (const k of ["steps", "epochs", "lr", "notes", "layers", "acts"]) if (m[k]) splice(s[k], m[k], ask);
  if ("plan" in m) s.plan = m.plan;
  if (m.images) s.images = m.images;
  if ("insight" in m) s.insight = m.insight;
  s.head = {status: m.status, progress: m.progress, paused: m.paused, error: m.error, reach: m.reach,
            memory: m.memory || ""};
  s.final = s.final || m.final;
  for (const v of s.views) v.update();
}

function metricKeys(rows) {
  const keys = [];
  for (const r of rows) for (const k0 of Object.keys(r)) {
    const k = k0.startsWith("val_") ? k0.slice(4) : k0;
    if (!SKIP.has(k) && !k.startsWith("lr") && !keys.includes(k)) keys.push(k);
  }
  return keys.sort((a, b) => (a !== "loss") - (b !== "loss")).slice(0, 2);
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function buildControls(v, model) {
  const row = el("div", "nbtrain-row", v.root);
  v.bar = el("div", "nbtrain-bar", el("div", "nbtrain-progress", row));
  v.pause = el("button", "jupyter-button nbtrain-pause", row, "Pause");
  v.stop = el("button", "jupyter-button nbtrain-stop", row, "Stop");
  v.pause.onclick = () => { model.send({t: "pause"}); clicked(v.s, "pause"); };
  v.stop.onclick = () => { model.send({t: "stop"}); clicked(v.s, "stop"); };
  const lr = el("label", "nbtrain-lr", row, "LR ×");
  v.lr = el("input", "", lr);
  Object.assign(v.lr, {type: "range", min: -2, max: 1, step: 0.05, value: 0});
  v.lrOut = el("span", "nbtrain-lr-out", lr, "1");
  v.lr.oninput = () => { v.lrOut.textContent = fmt(Math.pow(10, +v.lr.value)); };
  v.lr.onchange = () => model.send({t: "lr", value: Math.pow(10, +v.lr.value)});
  if ((model.get("meta") || {}).static) row.style.display = "none";     // an exported page: no kernel to talk to
}

// A link, not a run control: the kernel writes the file (<run dir>/dashboard.html or ./<run name>.html) and says where.
function exportLink(parent, model) {
  const a = el("a", "nbtrain-export", parent, "Export HTML");
  a.href = "#";
  a.title = "Write this dashboard as one self-contained HTML file (curves, panels, spec, code) that opens " +
    "in a browser with no kernel";
  a.onclick = ev => { ev.preventDefault(); model.send({t: "export"}); };
  return a;
}

function buildViewControls(v) {
  const row = el("div", "nbtrain-row nbtrain-viewctl", v.root);
  const log = el("label", "", row);
  v.log = el("input", "nbtrain-log", log);
  v.log.type = "checkbox";
  log.append(" log scale (loss)");
  const sm = el("label", "", row, "smoothing ");
  v.smooth = el("input", "nbtrain-smooth", sm);
  Object.assign(v.smooth, {type: "range", min: 0, max: 0.99, step: 0.01, value: v.alpha});
  v.smoothOut = el("span", "", sm, String(v.alpha));
  v.log.onchange = () => v.drawCharts();
  v.smooth.oninput = () => { v.smoothOut.textContent = v.smooth.value; v.drawCharts(); };
  if (!v.static) { exportLink(row, v.model); v.saved = el("span", "nbtrain-saved", row, ""); }
  else v.saved = el("span", "", null, "");
}

function metricSpec(v, s, key, xdom, meta) {
  const alpha = +v.smooth.value, lines = [];
  for (const p of meta.past || []) {
    lines.push({pts: ema(series(p.steps, key), alpha), cls: "past"});
    lines.push({pts: series(p.epochs, "val_" + key), cls: "past val", marker: true});
  }
  const raw = series(s.steps, key);
  lines.push({pts: raw, cls: "raw"}, {pts: ema(raw, alpha), cls: "train"});
  lines.push({pts: series(s.epochs, key), cls: "epoch", marker: true});
  lines.push({pts: series(s.epochs, "val_" + key), cls: "val", marker: true});
  const hover = x => {
    const r = nearest(s.steps, x), e = nearest(s.epochs, x);
    const best = !r || (e && Math.abs(e.step - x) < Math.abs(r.step - x)) ? e : r;
    if (!best) return null;
    const vals = [key, "val_" + key].filter(k => best[k] !== undefined && best[k] !== null).map(k => [k, best[k]]);
    return {x: best.step, text: `step ${best.step} · ` + vals.map(([k, y]) => `${k} ${fmt(y)}`).join(" · ")};
  };
  return {title: key + (meta.past && meta.past.length ? "  (faint: earlier runs)" : ""), xdom, total: meta.total,
          log: v.log.checked && key.includes("loss"), lines, hover, readout: t => { v.readout.textContent = t; }};
}

function lrSpec(v, s, meta) {
  const groups = Math.max(s.plan ? s.plan.y.length : 0, s.lr.length ? s.lr[s.lr.length - 1][1].length : 0);
  const lines = [];
  let xmax = meta.total || 1;
  for (let g = 0; g < groups; g++) {
    if (s.plan && s.plan.y[g]) lines.push({pts: s.plan.x.map((x, i) => [x, s.plan.y[g][i]]), cls: `plan g${g % 4}`});
    lines.push({pts: s.lr.map(([x, lrs]) => [x, lrs[g]]), cls: `lrg g${g % 4}`});
  }
  for (const [x] of s.lr) xmax = Math.max(xmax, x);
  const hover = x => {
    const rows = s.lr.map(([step, lrs]) => ({step, lrs})), r = nearest(rows, x);
    return r && {x: r.step, text: `step ${r.step} · ` + r.lrs.map((y, g) => `lr group ${g} ${fmt(y)}`).join(" · ")};
  };
  const now = s.lr.length ? s.lr[s.lr.length - 1][0] : 0;
  return {title: "learning rate (dashed: planned)", xdom: [0, xmax], total: 0, log: false, lines, hover, now,
          readout: t => { v.readout.textContent = t; }};
}

function drawCharts(v, s, meta) {
  const keys = metricKeys(s.steps.concat(s.epochs));
  v.placeholder.style.display = keys.length ? "none" : "";
  v.charts.style.display = keys.length ? "" : "none";
  if (!keys.length) return;
  let xmax = 0;
  for (const r of s.steps) xmax = Math.max(xmax, r.step);
  for (const r of s.epochs) xmax = Math.max(xmax, r.step);
  const xdom = [0, Math.max(1, xmax * 1.02)];
  const want = keys.concat(["lr"]);
  if (v.svgs.map(x => x.dataset.key).join() !== want.join()) {
    v.charts.replaceChildren();
    v.svgs = want.map(k => { const e = svgEl("svg", {class: "nbtrain-chart"}, v.charts); e.dataset.key = k; return e; });
  }
  keys.forEach((k, i) => drawChart(v.svgs[i], metricSpec(v, s, k, xdom, meta)));
  drawChart(v.svgs[keys.length], lrSpec(v, s, meta));
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
  for (const [kind, label] of [["fmap", "features"], ["kern", "kernels"]]) {
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
  const h = s.head, [n, total] = h.progress || [0, 1];
  v.status.textContent = h.status + (h.error ? ` · dashboard error: ${h.error}` : "");
  v.memory.textContent = h.memory || "";
  v.memory.style.display = h.memory ? "" : "none";
  v.saved.textContent = s.saved;
  v.bar.style.width = (100 * n / Math.max(1, total)).toFixed(1) + "%";
  v.stop.title = STOP_TIP + (h.reach ? "" : BUSY_TIP);
  v.pause.title = (h.paused ? "Resume training" : "Pause after the batch in progress") + (h.reach ? "" : BUSY_TIP);
  v.lr.title = "Scale every group's LR and the schedule ahead from the next step" + (h.reach ? "" : BUSY_TIP);
  v.notes.replaceChildren(...s.notes.map(t => el("div", "nbtrain-note", null, "⚠ " + t)));
  const done = !!model.get("final");
  for (const b of [v.pause, v.stop, v.lr]) b.disabled = done || s.final;
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
  const w = s.wantPaused;
  v.pause.textContent = w === undefined ? (s.head.paused ? "Resume" : "Pause") : w ? "pausing…" : "resuming…";
  if (s.stopping && !s.final) { v.stop.textContent = "stopping…"; v.stop.disabled = true; }
}

function showFinal(v, model) {
  const png = model.get("final");
  if (!png) return false;
  v.root.replaceChildren();
  el("div", "nbtrain-status", v.root, model.get("final_status"));
  const img = el("img", "nbtrain-final nbtrain-curves", v.root);
  img.src = "data:image/png;base64," + png;
  v.notes = el("div", "nbtrain-doctor", v.root);
  v.notes.replaceChildren(...v.s.notes.map(t => el("div", "nbtrain-note", null, "⚠ " + t)));
  const row = el("div", "nbtrain-row", v.root);
  exportLink(row, model);
  v.saved = el("span", "nbtrain-saved", row, v.s.saved);
  v.refresh = () => { v.saved.textContent = v.s.saved; };
  return true;
}

function makeView(s, model, root) {
  const meta = model.get("meta") || {};
  const v = {s, model, static: !!meta.static, root: el("div", "nbtrain-live", root), svgs: [], alpha: meta.smooth ?? 0.6};
  v.status = el("div", "nbtrain-status", v.root, "starting");
  v.memory = el("div", "nbtrain-memory", v.root, "");
  buildControls(v, model);
  buildViewControls(v);
  v.placeholder = el("div", "nbtrain-placeholder", v.root, "waiting for the first log point…");
  v.charts = el("div", "nbtrain-row nbtrain-charts", v.root);
  v.readout = el("div", "nbtrain-readout", v.root, "");
  buildTiles(v);
  buildPanels(v);
  v.notes = el("div", "nbtrain-doctor", v.root);
  v.meta = () => model.get("meta") || {};
  v.drawCharts = () => drawCharts(v, s, v.meta());
  v.update = () => {
    if (v.ended) { v.refresh(); return; }
    if ((v.ended = showFinal(v, model))) return;
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
    model.on("change:final", () => { for (const v of s.views) v.update(); });
    model.send({t: "hello"});
    keepAsking(s, model);
  },
  render({model, el: host}) {
    const s = storeFor(model), v = makeView(s, model, host);
    s.views.add(v);
    v.update();
    return () => s.views.delete(v);
  },
};
