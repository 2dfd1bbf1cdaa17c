// nbtrain live dashboard: the curve charts of a view (one per metric, then the learning rate), their legends, one
// x-range shared by all of them (drag across one to zoom all, double-click to reset), a guide at the same step on
// every chart and a tooltip at the pointer with every curve's value there.
const SKIP = new Set(["step", "epoch", "lr", "time", "samples", "batch"]);
const CHART_H = 220, LR_H = 150;

// [step, value] points of `key` in s[list], kept per store and extended with what arrived since the last draw.
function seriesOf(s, list, key) {
  const c = s.cache || (s.cache = {}), id = list + ":" + key, rows = s[list];
  let e = c[id];
  if (!e || e.gen !== s.gen || e.n > rows.length) e = c[id] = {gen: s.gen, n: 0, pts: []};
  for (let i = e.n; i < rows.length; i++) {
    const r = rows[i];
    if (key in r && r[key] !== null) e.pts.push([r.step, r[key]]);
  }
  e.n = rows.length;
  return e.pts;
}

// The EMA of a cached series, extended incrementally while alpha stays the same.
function smoothed(s, list, key, alpha) {
  const pts = seriesOf(s, list, key);
  if (!alpha) return pts;
  const c = s.cache, id = `ema:${list}:${key}`;
  let e = c[id];
  if (!e || e.alpha !== alpha || e.src !== pts || e.out.length > pts.length) {
    e = c[id] = {alpha, src: pts, st: {avg: 0, weight: 0}, out: []};
  }
  if (e.out.length < pts.length) e.out.push(...ema(pts, alpha, e.out.length, e.st));
  return e.out;
}

function pastPts(p, list, key, alpha) {
  p.cache = p.cache || {};
  const id = `${list}:${key}:${alpha}`;
  if (!p.cache[id]) {
    const pts = [];
    for (const r of p[list]) if (key in r && r[key] !== null) pts.push([r.step, r[key]]);
    p.cache[id] = alpha ? ema(pts, alpha) : pts;
  }
  return p.cache[id];
}

// The metrics to chart (loss first, at most two), from every row, each row read once.
function metricKeys(s) {
  const c = s.cache || (s.cache = {});
  let e = c.keys;
  if (!e || e.gen !== s.gen || e.steps > s.steps.length || e.epochs > s.epochs.length) e = c.keys = {gen: s.gen, steps: 0, epochs: 0, keys: []};
  for (const list of ["steps", "epochs"]) {
    const rows = s[list];
    for (let i = e[list]; i < rows.length; i++) for (const k0 of Object.keys(rows[i])) {
      const k = k0.startsWith("val_") ? k0.slice(4) : k0;
      if (!SKIP.has(k) && !k.startsWith("lr") && !e.keys.includes(k)) e.keys.push(k);
    }
    e[list] = rows.length;
  }
  return e.keys.slice().sort((a, b) => (a !== "loss") - (b !== "loss")).slice(0, 2);
}

function metricName(lang, key) {
  const known = {loss: "loss", acc: "accuracy", accuracy: "accuracy"};
  return known[key] ? tr(lang, known[key]) : key;
}

// The lines of one metric chart: earlier runs that logged this metric, raw and smoothed train, validation.
function metricSpec(v, s, key, meta) {
  const alpha = +v.smooth.value, lang = v.lang, lines = [];
  (meta.past || []).forEach((p, i) => {
    const train = pastPts(p, p.steps.some(r => key in r) ? "steps" : "epochs", key, alpha);
    const val = pastPts(p, "epochs", "val_" + key, v.smoothVal.checked ? alpha : 0);
    if (!train.length && !val.length) return;
    const name = tr(lang, "earlier", {label: p.label});
    lines.push({id: `past${i}`, name, pts: train, cls: `past p${i % 3}`},
               {id: `past${i}`, name, pts: val, cls: `past val p${i % 3}`, hover: false});
  });
  const perStep = seriesOf(s, "steps", key).length > 0, list = perStep ? "steps" : "epochs";
  if (perStep && alpha) lines.push({id: "train", pts: seriesOf(s, list, key), cls: "raw", hover: false});
  lines.push({id: "train", name: tr(lang, "train"), pts: smoothed(s, list, key, alpha), cls: "train",
              raw: alpha ? seriesOf(s, list, key) : null, marker: !perStep});
  lines.push({id: "val", name: tr(lang, "val"), pts: smoothed(s, "epochs", "val_" + key, v.smoothVal.checked ? alpha : 0),
              raw: v.smoothVal.checked && alpha ? seriesOf(s, "epochs", "val_" + key) : null, cls: "val", marker: true});
  const name = metricName(lang, key);
  return {key, lines: lines.filter(l => l.pts.length), h: CHART_H, log: v.log.checked && key.includes("loss"),
          xtitle: tr(lang, "step"), ytitle: name, label: tr(lang, "chart_label", {name}), note: v.planNote};
}

// [step, lr] points of group g, cached like seriesOf, and whether that LR has stayed at its first value.
function lrOf(s, g) {
  const c = s.cache || (s.cache = {}), id = "lr:" + g, rows = s.lr;
  let e = c[id];
  if (!e || e.gen !== s.gen || e.n > rows.length) e = c[id] = {gen: s.gen, n: 0, pts: [], first: null, constant: true};
  for (let i = e.n; i < rows.length; i++) {
    const y = rows[i][1][g];
    if (y === null || y === undefined) continue;
    if (e.first === null) e.first = y; else if (y !== e.first) e.constant = false;
    e.pts.push([rows[i][0], y]);
  }
  e.n = rows.length;
  return e;
}

// The LR of each group and its plan, or {constant} when every group's LR is and stays constant (a line of text).
function lrSpec(v, s) {
  const lang = v.lang, groups = Math.max(s.plan ? s.plan.y.length : 0, s.lr.length ? s.lr[s.lr.length - 1][1].length : 0);
  const lines = [], values = [];
  for (let g = 0; g < groups; g++) {
    const seen = lrOf(s, g), plan = s.plan && s.plan.y[g] ? s.plan.y[g] : [];
    const first = seen.first !== null ? seen.first : plan[0];
    values.push(seen.constant && plan.every(y => y === first) ? first : null);
    const name = groups > 1 ? tr(lang, "group", {g}) : tr(lang, "lr");
    if (plan.length) lines.push({id: `g${g}`, name: `${name} · ${tr(lang, "planned")}`, cls: `plan g${g % 4}`,
                                 pts: s.plan.x.map((x, i) => [x, plan[i]]), hover: false});
    lines.push({id: `g${g}`, name, pts: seen.pts, cls: `lrg g${g % 4}`});
  }
  if (!groups || values.every(y => y !== null && y !== undefined)) return {constant: values};
  const now = s.lr.length ? s.lr[s.lr.length - 1][0] : undefined;
  return {key: "lr", lines, h: LR_H, log: false, now, xtitle: tr(lang, "step"), ytitle: tr(lang, "lr"),
          label: tr(lang, "chart_label", {name: tr(lang, "lr")})};
}

function constantText(lang, values) {
  if (!values.length) return "";
  const text = values.length === 1 ? fmt(values[0]) : values.map((y, g) => `${tr(lang, "group", {g})} ${fmt(y)}`).join(" · ");
  return tr(lang, "constant", {v: text});
}

// One chart's box: its legend (each entry a button that hides or shows its curves), the SVG, the tooltip.
function chartBox(v, key) {
  const box = el("div", "nbtrain-chartbox", v.charts);
  box.dataset.key = key;
  const c = {key, box, legend: el("div", "nbtrain-legend", box), svg: svgEl("svg", {class: "nbtrain-chart"}, box),
             tip: el("div", "nbtrain-tip", box)};
  c.legend.setAttribute("role", "list");
  c.tip.setAttribute("role", "tooltip");
  c.svg.dataset.key = key;
  c.svg.tabIndex = 0;
  wirePointer(v, c);
  return c;
}

function drawLegend(v, c, spec) {
  const seen = new Map();
  for (const l of spec.lines) if (l.name && !seen.has(l.id)) seen.set(l.id, l);
  const stamp = [...seen.values()].map(l => l.id + l.name + l.cls).join("|");
  if (c.legendStamp !== stamp) {
    c.legendStamp = stamp;
    c.legend.replaceChildren(...[...seen.values()].map(l => legendItem(v, l)));
  }
  for (const b of c.legend.children) b.setAttribute("aria-pressed", String(!v.hidden.has(b.dataset.series)));
}

function legendItem(v, l) {
  const b = el("button", "nbtrain-key", null);
  b.dataset.series = l.id;
  b.setAttribute("role", "listitem");
  b.title = tr(v.lang, "legend_tip");
  const sw = svgEl("svg", {width: 18, height: 8, class: "nbtrain-swatch", "aria-hidden": "true"}, b);
  svgEl("line", {x1: 0, x2: 18, y1: 4, y2: 4, class: "line " + l.cls}, sw);
  el("span", "nbtrain-key-name", b, l.name);
  b.onclick = () => { if (!v.hidden.delete(l.id)) v.hidden.add(l.id); v.drawCharts(); };
  return b;
}

// The shared x-range: the zoom when one is set, else every step logged so far.
function xRange(v, s) {
  if (v.zoom) return v.zoom;
  let xmax = 0;
  for (const list of [s.steps, s.epochs]) if (list.length) xmax = Math.max(xmax, list[list.length - 1].step || 0);
  for (const r of s.lr.slice(-1)) xmax = Math.max(xmax, r[0]);
  return [0, Math.max(1, xmax * 1.02)];
}

function drawCharts(v, s, meta) {
  const keys = metricKeys(s);
  v.placeholder.style.display = keys.length ? "none" : "";
  v.charts.style.display = v.chartRow.style.display = keys.length ? "" : "none";
  if (!keys.length) return;
  const lr = lrSpec(v, s), want = keys.concat(lr.constant ? [] : ["lr"]);
  if (v.boxes.map(c => c.key).join() !== want.join()) {
    v.charts.replaceChildren();
    v.boxes = want.map(k => chartBox(v, k));
  }
  v.lrText.textContent = lr.constant ? constantText(v.lang, lr.constant) : "";
  v.planNote = meta.total > (s.steps.length ? s.steps[s.steps.length - 1].step : 0) ? tr(v.lang, "planned_to", {n: meta.total}) : "";
  const xdom = xRange(v, s), specs = keys.map(k => metricSpec(v, s, k, meta)).concat(lr.constant ? [] : [lr]);
  v.reset.style.display = v.zoom ? "" : "none";
  specs.forEach((spec, i) => {
    const c = v.boxes[i];
    spec.xdom = xdom;
    drawLegend(v, c, spec);
    c.spec = spec;
    c.scales = drawChart(c.svg, {...spec, lines: spec.lines.filter(l => !v.hidden.has(l.id))});
  });
  if (v.hoverX !== null) showGuides(v, v.hoverX);
}

// Pointer on a chart: a guide at that step on every chart, the tooltip at the pointer; drag to zoom all charts.
function wirePointer(v, c) {
  const svg = c.svg;
  svg.onmousemove = ev => {
    if (!c.scales) return;
    const x = pointerX(svg, c.scales, ev);
    if (v.drag) { dragBox(v.drag, c, x); return; }
    const hit = hoverAt(v, c, x);
    if (!hit) return;
    v.hoverX = hit.x;
    showGuides(v, hit.x);
    showTip(c, hit, ev);
  };
  svg.onmouseleave = () => { v.hoverX = null; hideGuides(v); v.drag = null; };
  svg.onmousedown = ev => {
    if (!c.scales || ev.button !== 0) return;
    ev.preventDefault();
    v.drag = {c, x0: pointerX(svg, c.scales, ev)};
  };
  svg.onmouseup = ev => {
    const d = v.drag;
    v.drag = null;
    if (!d || d.c !== c) return;
    const x1 = pointerX(svg, c.scales, ev), px = Math.abs(c.scales.sx(x1) - c.scales.sx(d.x0));
    c.scales.box.setAttribute("visibility", "hidden");
    if (px >= 5) { v.zoom = [Math.min(d.x0, x1), Math.max(d.x0, x1)]; v.drawCharts(); }
  };
  svg.ondblclick = () => { v.zoom = null; v.drawCharts(); };
}

function dragBox(d, c, x) {
  const s = c.scales, a = s.sx(Math.min(d.x0, x)), b = s.sx(Math.max(d.x0, x));
  s.box.setAttribute("x", a); s.box.setAttribute("width", Math.max(0, b - a));
  s.box.setAttribute("visibility", "visible");
}

// The step under the pointer: a marker's (validation, an epoch) within 4 pixels, else the nearest point of the main
// curve; then every named curve's value at that step (its nearest point, with its own step when that differs).
function hoverAt(v, c, x) {
  const spec = c.spec, lines = spec.lines.filter(l => l.name && l.hover !== false && !v.hidden.has(l.id));
  const main = lines.find(l => l.id === "train") || lines[lines.length - 1], s = c.scales;
  let p = main && nearestPt(main.pts, x);
  for (const l of lines) {
    const q = l.marker && nearestPt(l.pts, x);
    if (q && Math.abs(s.sx(q[0]) - s.sx(x)) <= 4) { p = q; break; }
  }
  if (!p) return null;
  const rows = [];
  for (const l of lines) {
    const q = nearestPt(l.pts, p[0]);
    if (!q) continue;
    const raw = l.raw ? nearestPt(l.raw, q[0]) : null;
    rows.push({id: l.id, cls: l.cls, name: l.name, step: q[0], y: q[1], raw: raw ? raw[1] : null});
  }
  return {x: p[0], rows, lang: v.lang};
}

function showTip(c, hit, ev) {
  const tip = c.tip, lang = hit.lang;
  const head = el("div", "nbtrain-tip-step", null, `${tr(lang, "step")} ${hit.x}`);
  tip.replaceChildren(head, ...hit.rows.map(r => {
    const row = el("div", "nbtrain-tip-row", null);
    row.dataset.series = r.id;
    const sw = svgEl("svg", {width: 12, height: 8, "aria-hidden": "true"}, row);
    svgEl("line", {x1: 0, x2: 12, y1: 4, y2: 4, class: "line " + r.cls}, sw);
    el("span", "nbtrain-tip-name", row, r.name);
    el("span", "nbtrain-tip-value", row, fmt(r.y));
    const extra = [r.raw !== null ? `${tr(lang, "raw")} ${fmt(r.raw)}` : "", r.step !== hit.x ? `${tr(lang, "step")} ${r.step}` : ""];
    if (extra.some(Boolean)) el("span", "nbtrain-tip-extra", row, `(${extra.filter(Boolean).join(", ")})`);
    return row;
  }));
  const box = c.box.getBoundingClientRect();
  tip.style.display = "block";
  const left = ev.clientX - box.left + 14, top = ev.clientY - box.top + 10;
  tip.style.left = Math.min(left, Math.max(0, box.width - tip.offsetWidth)) + "px";
  tip.style.top = top + "px";
}

function showGuides(v, x) {
  for (const c of v.boxes) {
    const s = c.scales;
    if (!s || x < c.spec.xdom[0] || x > c.spec.xdom[1]) { if (s) s.guide.setAttribute("visibility", "hidden"); continue; }
    s.guide.setAttribute("x1", s.sx(x)); s.guide.setAttribute("x2", s.sx(x));
    s.guide.setAttribute("visibility", "visible");
  }
}

function hideGuides(v) {
  for (const c of v.boxes) {
    if (c.scales) c.scales.guide.setAttribute("visibility", "hidden");
    c.tip.style.display = "none";
  }
}
