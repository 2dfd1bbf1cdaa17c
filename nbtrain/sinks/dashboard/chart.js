// nbtrain live dashboard: SVG charts (concatenated before live.js into one ES module by view.py).
const NS = "http://www.w3.org/2000/svg";
const W = 340, H = 210, M = {l: 52, r: 12, t: 20, b: 26};
let CLIPS = 0;

function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
}

// Debiased EMA (TensorBoard's smoothing); null values are skipped, not spread.
function ema(pts, alpha) {
  if (!alpha) return pts;
  let avg = 0, weight = 0;
  return pts.map(([x, y]) => {
    if (y === null || !isFinite(y)) return [x, null];
    avg = alpha * avg + (1 - alpha) * y;
    weight = alpha * weight + (1 - alpha);
    return [x, avg / weight];
  });
}

function series(rows, key) {
  const out = [];
  for (const r of rows) if (key in r && r[key] !== null) out.push([r.step, r[key]]);
  return out;
}

// At most two points (min, max) per pixel column: a path stays small however long the run.
function thin(pts, x0, x1, width) {
  if (pts.length <= 2 * width) return pts;
  const out = [], span = (x1 - x0) || 1;
  let col = null, lo = null, hi = null;
  const flush = () => { if (lo) { out.push(lo[0] <= hi[0] ? lo : hi); if (lo !== hi) out.push(lo[0] <= hi[0] ? hi : lo); } };
  for (const p of pts) {
    const c = Math.floor((p[0] - x0) / span * width);
    if (c !== col) { flush(); col = c; lo = hi = p; continue; }
    if (p[1] < lo[1]) lo = p;
    if (p[1] > hi[1]) hi = p;
  }
  flush();
  return out;
}

function niceStep(span, n) {
  const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 2.5, 5, 10].map(m => m * p).find(s => s >= raw) || raw;
}

function ticks(lo, hi, log) {
  if (log) {                                   // powers of ten; within less than two decades, 1-2-5 steps
    const tens = [], steps = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = +(m * Math.pow(10, e)).toPrecision(6);
        if (v >= lo && v <= hi) { steps.push(v); if (m === 1) tens.push(v); }
      }
    }
    return tens.length >= 2 ? tens : steps.length >= 2 ? steps : [lo, hi];
  }
  const s = niceStep(hi - lo || 1, 4), out = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-9 * s; v += s) out.push(+v.toPrecision(12));
  return out;
}

function yDomain(all, log) {
  let lo = Infinity, hi = -Infinity;
  for (const pts of all) for (const [, y] of pts) {
    if (y === null || !isFinite(y) || (log && y <= 0)) continue;
    lo = Math.min(lo, y); hi = Math.max(hi, y);
  }
  if (lo === Infinity) return log ? [0.1, 1] : [0, 1];
  if (log) return lo === hi ? [lo / 2, hi * 2] : [lo / 1.15, hi * 1.15];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
}

function scales(xdom, ydom, log) {
  const [x0, x1] = xdom, [y0, y1] = ydom;
  const ly = v => Math.log10(v);
  const sx = x => M.l + (x - x0) / ((x1 - x0) || 1) * (W - M.l - M.r);
  const sy = log ? y => H - M.b - (ly(y) - ly(y0)) / ((ly(y1) - ly(y0)) || 1) * (H - M.t - M.b)
                 : y => H - M.b - (y - y0) / ((y1 - y0) || 1) * (H - M.t - M.b);
  const ix = px => x0 + (px - M.l) / (W - M.l - M.r) * (x1 - x0);
  return {sx, sy, ix};
}

function pathOf(pts, s, log) {
  let d = "", pen = false;
  for (const [x, y] of pts) {
    if (y === null || !isFinite(y) || (log && y <= 0)) { pen = false; continue; }
    d += (pen ? "L" : "M") + s.sx(x).toFixed(1) + "," + s.sy(y).toFixed(1);
    pen = true;
  }
  return d;
}

function drawAxes(g, xdom, ydom, log, s, title) {
  for (const v of ticks(xdom[0], xdom[1], false)) {
    svgEl("line", {x1: s.sx(v), x2: s.sx(v), y1: M.t, y2: H - M.b, class: "grid"}, g);
    svgEl("text", {x: s.sx(v), y: H - M.b + 14, class: "tick x", "text-anchor": "middle"}, g).textContent = fmt(v);
  }
  for (const v of ticks(ydom[0], ydom[1], log)) {
    svgEl("line", {x1: M.l, x2: W - M.r, y1: s.sy(v), y2: s.sy(v), class: "grid"}, g);
    svgEl("text", {x: M.l - 4, y: s.sy(v) + 3, class: "tick y", "text-anchor": "end"}, g).textContent = fmt(v);
  }
  svgEl("text", {x: M.l, y: 13, class: "title"}, g).textContent = title;
}

// The planned extent: a dashed line where it falls inside the axes, else a faint "→ N" at the right end.
function drawPlanned(g, total, xdom, s) {
  if (!total) return;
  if (total <= xdom[1]) {
    svgEl("line", {x1: s.sx(total), x2: s.sx(total), y1: M.t, y2: H - M.b, class: "planned"}, g);
  } else {
    const t = svgEl("text", {x: W - M.r, y: 13, class: "planned", "text-anchor": "end"}, g);
    t.textContent = `→ ${total} planned`;
  }
}

// spec: {title, xdom, log, total, lines: [{pts, cls, marker}], hover(x) -> text}
function drawChart(svg, spec) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const ydom = yDomain(spec.lines.map(l => l.pts.filter(p => p[0] >= spec.xdom[0] && p[0] <= spec.xdom[1])), spec.log);
  const s = scales(spec.xdom, ydom, spec.log);
  const g = svgEl("g", {}, svg);
  drawAxes(g, spec.xdom, ydom, spec.log, s, spec.title);
  drawPlanned(g, spec.total, spec.xdom, s);
  const id = "nbtrain-clip-" + (++CLIPS);                 // lines of longer earlier runs end at the axes
  svgEl("rect", {x: M.l, y: M.t - 2, width: W - M.l - M.r, height: H - M.t - M.b + 4}, svgEl("clipPath", {id}, svg));
  const clip = svgEl("g", {"clip-path": `url(#${id})`}, svg);
  for (const l of spec.lines) {
    const pts = thin(l.pts, spec.xdom[0], spec.xdom[1], W);
    svgEl("path", {d: pathOf(pts, s, spec.log), class: "line " + l.cls}, clip);
    if (l.marker) for (const [x, y] of pts) {
      if (y !== null && isFinite(y) && !(spec.log && y <= 0)) svgEl("circle", {cx: s.sx(x), cy: s.sy(y), r: 2.5, class: "dot " + l.cls}, clip);
    }
  }
  if (spec.now !== undefined) svgEl("line", {x1: s.sx(spec.now), x2: s.sx(spec.now), y1: M.t, y2: H - M.b, class: "now"}, g);
  const guide = svgEl("line", {y1: M.t, y2: H - M.b, class: "guide", visibility: "hidden"}, svg);
  svg.onmousemove = ev => {
    const r = svg.getBoundingClientRect(), px = (ev.clientX - r.left) * W / r.width;
    const x = s.ix(Math.max(M.l, Math.min(W - M.r, px)));
    const hit = spec.hover(x);
    if (!hit) return;
    guide.setAttribute("x1", s.sx(hit.x)); guide.setAttribute("x2", s.sx(hit.x));
    guide.setAttribute("visibility", "visible");
    spec.readout(hit.text);
  };
  svg.onmouseleave = () => { guide.setAttribute("visibility", "hidden"); spec.readout(""); };
}

// The row of `rows` whose step is nearest to x (rows sorted by step).
function nearest(rows, x) {
  let lo = 0, hi = rows.length - 1;
  if (hi < 0) return null;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (rows[mid].step < x) lo = mid; else hi = mid; }
  return Math.abs(rows[lo].step - x) <= Math.abs(rows[hi].step - x) ? rows[lo] : rows[hi];
}
