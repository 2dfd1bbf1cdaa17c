// nbtrain live dashboard: the layer panel (a heat strip per layer over time) and the insight panel (confusion
// matrix, per-class precision / recall / F1, top losses; predicted vs true for a regression). Numbers in, canvas out.
const LAYER_METRICS = [
  ["grad", "m_grad", "layers", true], ["update", "m_update", "layers", true],
  ["mean", "m_mean", "acts", false], ["std", "m_std", "acts", true],
  ["dead", "m_dead", "acts", false]];
const PALETTE = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];   // viridis stops
const ROW = 12, COLS = 120, STRIP_W = 360;

function colorOf(t) {
  if (t === null || !isFinite(t)) return "rgb(200,200,200)";
  const x = Math.max(0, Math.min(1, t)) * (PALETTE.length - 1), i = Math.min(PALETTE.length - 2, Math.floor(x));
  const f = x - i, a = PALETTE[i], b = PALETTE[i + 1];
  return `rgb(${a.map((c, k) => Math.round(c + f * (b[k] - c))).join(",")})`;
}

function buildPanels(v) {
  const row = el("div", "nbtrain-row nbtrain-panels", v.root);
  const lb = v.layerBox = el("div", "nbtrain-layers", row);
  const lab = el("label", "", lb, tr(v.lang, "layers") + " ");
  v.layerPick = el("select", "nbtrain-layer-pick", lab);
  v.layerPick.onchange = () => { v.layerKey = null; drawLayers(v, v.s, v.meta()); };
  const grid = el("div", "nbtrain-layer-grid", lb);
  v.layerNames = el("div", "nbtrain-layer-names", grid);
  v.layerCanvas = el("canvas", "nbtrain-layer-strip", grid);
  v.layerLast = el("div", "nbtrain-layer-last", grid);
  v.layerScale = el("div", "nbtrain-layer-scale", lb);
  lb.style.display = "none";
  const ib = v.insightBox = el("div", "nbtrain-insight", row);
  v.insightTitle = el("div", "nbtrain-insight-title", ib);
  const body = el("div", "nbtrain-row nbtrain-insight-body", ib);
  v.cmCanvas = el("canvas", "nbtrain-confusion", body);
  v.perClass = el("table", "nbtrain-perclass", body);
  v.topLosses = el("div", "nbtrain-toplosses", ib);
  ib.style.display = "none";
}

// The metrics with data: [key, label, list, log]
function layerChoices(v, s, meta) {
  const names = meta.layers || {grad: [], act: []};
  return LAYER_METRICS.filter(([, , list]) => s[list].length && (list === "layers" ? names.grad : names.act).length)
    .map(([k, label, list, log]) => [k, tr(v.lang, label), list, log]);
}

function drawLayers(v, s, meta) {
  const choices = layerChoices(v, s, meta);
  v.layerBox.style.display = choices.length ? "" : "none";
  if (!choices.length) return;
  if ([...v.layerPick.options].map(o => o.value).join() !== choices.map(c => c[0]).join()) {
    const keep = v.layerPick.value;
    v.layerPick.replaceChildren(...choices.map(([k, label]) => { const o = document.createElement("option"); o.value = k; o.textContent = label; return o; }));
    v.layerPick.value = choices.some(c => c[0] === keep) ? keep : choices[0][0];
  }
  const [key, label, list, log] = choices.find(c => c[0] === v.layerPick.value) || choices[0];
  const rows = s[list], names = list === "layers" ? meta.layers.grad : meta.layers.act;
  const stamp = `${key}:${rows.length}:${names.length}`;
  if (v.layerKey === stamp) return;
  v.layerKey = stamp;
  const stride = Math.max(1, Math.ceil(rows.length / COLS)), cols = [];
  for (let i = rows.length - 1; i >= 0; i -= stride) cols.unshift(rows[i]);
  const tf = x => (x === null || x === undefined || !isFinite(x) || (log && x <= 0)) ? null : (log ? Math.log10(x) : x);
  let lo = Infinity, hi = -Infinity;
  for (const r of cols) for (const x of r[key]) { const t = tf(x); if (t !== null) { lo = Math.min(lo, t); hi = Math.max(hi, t); } }
  if (key === "dead") { lo = 0; hi = 1; }
  const span = hi > lo ? hi - lo : 1, c = v.layerCanvas, cw = STRIP_W / Math.max(cols.length, 1);
  c.width = STRIP_W; c.height = ROW * names.length;
  const g = c.getContext("2d");
  cols.forEach((r, j) => r[key].forEach((x, i) => {
    const t = tf(x);
    g.fillStyle = colorOf(t === null ? null : (t - lo) / span);
    g.fillRect(j * cw, i * ROW, Math.ceil(cw), ROW - 1);
  }));
  const last = cols[cols.length - 1][key];
  v.layerNames.replaceChildren(...names.map(n => el("div", "", null, n)));
  v.layerLast.replaceChildren(...names.map((n, i) => el("div", "", null, fmt(last[i]))));
  const unit = list === "layers" ? tr(v.lang, "strip_log_points", {s: cols[cols.length - 1].step}) : tr(v.lang, "strip_epochs");
  v.layerScale.textContent = tr(v.lang, "strip_scale", {label, unit, lo: (log ? "log10 " : "") + fmt(log ? Math.pow(10, lo) : lo),
                                                        hi: fmt(log ? Math.pow(10, hi) : hi)});
  c.onmousemove = ev => {
    const b = c.getBoundingClientRect(), j = Math.floor((ev.clientX - b.left) / b.width * cols.length);
    const i = Math.floor((ev.clientY - b.top) / b.height * names.length), r = cols[j];
    if (r && names[i] !== undefined) v.readout.textContent = `${names[i]} · ${list === "layers" ? "step " + r.step : "epoch " + r.epoch} · ${label} ${fmt(r[key][i])}`;
  };
  c.onmouseleave = () => { v.readout.textContent = ""; };
}

function className(ins, i) { return ins.names && ins.names[i] !== undefined ? String(ins.names[i]) : String(i); }

function drawConfusion(v, ins) {
  const cm = ins.confusion, k = cm.length, cell = Math.max(4, Math.min(28, Math.floor(300 / Math.max(k, 1))));
  const c = v.cmCanvas, pad = 16;
  c.width = c.height = pad + cell * k;
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  g.font = "9px sans-serif"; g.textAlign = "center"; g.textBaseline = "middle";
  cm.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((n, j) => {
      const t = n / total;
      g.fillStyle = n ? colorOf(0.15 + 0.85 * t) : (v.root.classList.contains("nbtrain-dark") ? "rgb(40,40,40)" : "rgb(245,245,245)");
      g.fillRect(pad + j * cell, pad + i * cell, cell - 1, cell - 1);
      if (cell >= 16 && n) { g.fillStyle = t > 0.6 ? "#000" : "#fff"; g.fillText(String(n), pad + (j + 0.5) * cell, pad + (i + 0.5) * cell); }
    });
  });
  g.fillStyle = "#555";
  g.fillText(tr(v.lang, "pred_arrow"), pad + cell * k / 2, 6);
  g.save(); g.translate(6, pad + cell * k / 2); g.rotate(-Math.PI / 2); g.fillText(tr(v.lang, "true_arrow"), 0, 0); g.restore();
  c.onmousemove = ev => {
    const b = c.getBoundingClientRect(), x = (ev.clientX - b.left) * c.width / b.width - pad, y = (ev.clientY - b.top) * c.height / b.height - pad;
    const i = Math.floor(y / cell), j = Math.floor(x / cell);
    if (i < 0 || j < 0 || i >= k || j >= k) return;
    const total = cm[i].reduce((a, b) => a + b, 0) || 1;
    v.readout.textContent = `true ${className(ins, i)} → predicted ${className(ins, j)}: ${cm[i][j]} (${(100 * cm[i][j] / total).toFixed(1)}% of ${className(ins, i)})`;
  };
  c.onmouseleave = () => { v.readout.textContent = ""; };
}

function drawPerClass(v, ins) {
  const pc = ins.per_class;
  v.perClass.replaceChildren();
  if (!pc) return;
  let idx = pc.f1.map((_, i) => i);
  if (idx.length > 12) idx = idx.sort((a, b) => (pc.f1[a] ?? 0) - (pc.f1[b] ?? 0)).slice(0, 12);   // the worst classes
  const head = el("tr", "", v.perClass);
  const lang = v.lang;
  for (const h of [tr(lang, idx.length < pc.f1.length ? "worst" : "class"), tr(lang, "precision"), tr(lang, "recall"), "F1", "n"]) el("th", "", head, h);
  for (const i of idx) {
    const tr = el("tr", "", v.perClass);
    for (const x of [className(ins, i), fmt(pc.precision[i]), fmt(pc.recall[i]), fmt(pc.f1[i]), String(pc.support[i])]) el("td", "", tr, x);
  }
}

function drawTopLosses(v, ins) {
  v.topLosses.replaceChildren();
  if (!ins.top || !ins.top.length) return;
  el("div", "nbtrain-insight-sub", v.topLosses, tr(v.lang, "top_losses"));
  const row = el("div", "nbtrain-row", v.topLosses);
  for (const r of ins.top) {
    const box = el("div", "nbtrain-toploss", row), t = (ins.thumbs || {})[String(r.index)];
    if (t) paintTile(el("canvas", "nbtrain-thumb", box), t, 48);
    el("div", "", box, `#${r.index} ${className(ins, r.true)} → ${className(ins, r.pred)} · ${fmt(r.loss)}`);
  }
}

function drawResiduals(v, ins) {
  const c = v.cmCanvas, n = 220, pad = 18;
  c.width = c.height = n;
  const g = c.getContext("2d");
  g.clearRect(0, 0, n, n);
  const all = ins.true.concat(ins.pred).filter(x => x !== null && isFinite(x));
  const lo = Math.min(...all), hi = Math.max(...all), span = hi > lo ? hi - lo : 1;
  const sx = x => pad + (x - lo) / span * (n - 2 * pad), sy = y => n - pad - (y - lo) / span * (n - 2 * pad);
  g.strokeStyle = "#999"; g.beginPath(); g.moveTo(sx(lo), sy(lo)); g.lineTo(sx(hi), sy(hi)); g.stroke();
  g.fillStyle = "rgba(25,118,210,0.5)";
  ins.true.forEach((t, i) => { const p = ins.pred[i]; if (t !== null && p !== null) g.fillRect(sx(t) - 1, sy(p) - 1, 2, 2); });
  g.fillStyle = "#555"; g.font = "9px sans-serif";
  g.fillText("true →", n / 2, n - 4); g.fillText(`${fmt(lo)} … ${fmt(hi)}`, 2, 10);
  c.onmousemove = null;
}

function drawInsight(v, s) {
  const ins = s.insight;
  v.insightBox.style.display = ins ? "" : "none";
  if (!ins || v.insightDrawn === ins) return;
  v.insightDrawn = ins;
  if (ins.kind === "regression") {
    v.insightTitle.textContent = tr(v.lang, "residuals_live", {e: ins.epoch});
    drawResiduals(v, ins);
    v.perClass.replaceChildren(); v.topLosses.replaceChildren();
    return;
  }
  v.insightTitle.textContent = tr(v.lang, "confusion_live", {e: ins.epoch});
  drawConfusion(v, ins);
  drawPerClass(v, ins);
  drawTopLosses(v, ins);
}
