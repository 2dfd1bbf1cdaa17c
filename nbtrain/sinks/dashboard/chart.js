// nbtrain live dashboard: one SVG chart (axes with titles, lines thinned to the pixel columns, markers, a guide,
// a zoom box). Concatenated before charts.js, panels.js and live.js into one ES module by view.py, after WORDS.
const NS = "http://www.w3.org/2000/svg";
const W = 380, M = {l: 54, r: 12, t: 8, b: 34};
let CLIPS = 0;

// A UI string of i18n.json ("chart.<key>") in the view's language, with {name} fields filled.
function tr(lang, key, vars) {
  const pair = WORDS["chart." + key];
  const text = pair ? pair[lang === "zh" ? 1 : 0] : key;
  return vars ? text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k])) : text;
}

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

function good(y, log) { return y !== null && y !== undefined && isFinite(y) && !(log && y <= 0); }

// Debiased EMA (TensorBoard's smoothing) over [x, y] points; null values are skipped, not spread.
function ema(pts, alpha, from, state) {
  const st = state || {avg: 0, weight: 0}, out = [];
  for (let i = from || 0; i < pts.length; i++) {
    const [x, y] = pts[i];
    if (y === null || !isFinite(y)) { out.push([x, null]); continue; }
    st.avg = alpha * st.avg + (1 - alpha) * y;
    st.weight = alpha * st.weight + (1 - alpha);
    out.push([x, st.avg / st.weight]);
  }
  return out;
}

// The index of the first point with x >= x0 (points sorted by x).
function lowerBound(pts, x0) {
  let lo = 0, hi = pts.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (pts[mid][0] < x0) lo = mid + 1; else hi = mid; }
  return lo;
}

// The point nearest to x (points sorted by x), or null.
function nearestPt(pts, x) {
  if (!pts.length) return null;
  const i = lowerBound(pts, x);
  if (i >= pts.length) return pts[pts.length - 1];
  if (i === 0) return pts[0];
  return x - pts[i - 1][0] <= pts[i][0] - x ? pts[i - 1] : pts[i];
}

// A columnar copy of an append-only [x, y] series, kept on the array itself and extended with what was appended:
// xs and ys in Float64Arrays (NaN for a gap), and per block of BLOCK (32) and of BIG (1,024) points the index of its
// lowest and highest value (-1: a gap inside). Contiguous numbers, so a redraw reads a few hundred of them per pixel
// column at most, never chasing the [x, y] pairs of a long run through the heap.
const BLOCK = 32, BIG = BLOCK * BLOCK;
function columns(pts) {
  let c = pts.cols;
  if (!c || c.n > pts.length) c = pts.cols = {n: 0, xs: new Float64Array(1024), ys: new Float64Array(1024),
                                              lo: [], hi: [], LO: [], HI: []};
  if (pts.length > c.xs.length) {
    const size = Math.max(pts.length, 2 * c.xs.length), xs = new Float64Array(size), ys = new Float64Array(size);
    xs.set(c.xs.subarray(0, c.n)); ys.set(c.ys.subarray(0, c.n));
    c.xs = xs; c.ys = ys;
  }
  for (let i = c.n; i < pts.length; i++) {
    const y = pts[i][1];
    c.xs[i] = pts[i][0];
    c.ys[i] = y === null || y === undefined || !isFinite(y) ? NaN : y;
  }
  c.n = pts.length;
  summarize(c.lo, c.hi, c.n, BLOCK, k => span(c.ys, k * BLOCK, (k + 1) * BLOCK));
  summarize(c.LO, c.HI, c.n, BIG, k => joined(c, k * BLOCK, (k + 1) * BLOCK));
  return c;
}

// Extend the per-block [lowest, highest] indices of `size`-point blocks over the first n points.
function summarize(lo, hi, n, size, of) {
  for (let k = lo.length; (k + 1) * size <= n; k++) { const [l, h] = of(k); lo.push(l); hi.push(h); }
}

// [index of the lowest, of the highest] of ys[a..b), [-1, -1] when a gap is inside.
function span(ys, a, b) {
  let l = a, h = a;
  for (let j = a; j < b; j++) {
    const y = ys[j];
    if (y !== y) return [-1, -1];
    if (y < ys[l]) l = j;
    if (y > ys[h]) h = j;
  }
  return [l, h];
}

// The same over the small blocks ka..kb.
function joined(c, ka, kb) {
  let l = c.lo[ka], h = c.hi[ka];
  for (let k = ka; k < kb; k++) {
    if (c.lo[k] < 0) return [-1, -1];
    if (c.ys[c.lo[k]] < c.ys[l]) l = c.lo[k];
    if (c.ys[c.hi[k]] > c.ys[h]) h = c.hi[k];
  }
  return [l, h];
}

// [index of the lowest, of the highest value] in [a, b) (whole blocks read from their summaries), or null on a gap.
function extremes(c, a, b) {
  const ys = c.ys;
  let l = -1, h = -1, i = a;
  while (i < b) {
    let ll, hh, next;
    if (i % BIG === 0 && i + BIG <= b && i / BIG < c.LO.length) { ll = c.LO[i / BIG]; hh = c.HI[i / BIG]; next = i + BIG; }
    else if (i % BLOCK === 0 && i + BLOCK <= b && i / BLOCK < c.lo.length) {
      ll = c.lo[i / BLOCK]; hh = c.hi[i / BLOCK]; next = i + BLOCK;
    } else { ll = hh = ys[i] === ys[i] ? i : -1; next = i + 1; }
    if (ll < 0) return null;
    if (l < 0 || ys[ll] < ys[l]) l = ll;
    if (h < 0 || ys[hh] > ys[h]) h = hh;
    i = next;
  }
  return [l, h];
}

// The index of the first x >= x0 in xs[lo..hi) (sorted).
function lowerX(xs, x0, lo, hi) {
  while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x0) lo = mid + 1; else hi = mid; }
  return lo;
}

// The points inside [x0, x1] (and one on each side); beyond 4 per pixel column, the first, last, lowest and highest
// of each column (min/max per pixel column: what a path of `width` pixels can show, however long the run); a column
// with a gap keeps its points, so the pen lifts there. The full data stays for hover and export.
function thin(pts, x0, x1, width) {
  if (pts.length <= 4 * width) {
    return pts.slice(Math.max(0, lowerBound(pts, x0) - 1), Math.min(pts.length, lowerBound(pts, x1) + 1));
  }
  const c = columns(pts), xs = c.xs;
  const a = Math.max(0, lowerX(xs, x0, 0, c.n) - 1), b = Math.min(c.n, lowerX(xs, x1, a, c.n) + 1);
  if (b - a <= 4 * width) return pts.slice(a, b);
  const out = [], span = (x1 - x0) || 1;
  for (let col = 0, i = a; col <= width + 1 && i < b; col++) {
    const end = col > width ? b : Math.min(b, Math.max(i + 1, lowerX(xs, x0 + (col + 1) * span / width, i, b)));
    const ex = extremes(c, i, end);
    if (!ex) { for (let j = i; j < end; j++) out.push(pts[j]); i = end; continue; }
    let prev = -1;
    for (const j of [i, Math.min(ex[0], ex[1]), Math.max(ex[0], ex[1]), end - 1]) {
      if (j > prev) { out.push(pts[j]); prev = j; }
    }
    i = end;
  }
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

// The y range of the points inside [x0, x1] (thinned points keep every extreme, so they are enough).
function yDomain(all, log) {
  let lo = Infinity, hi = -Infinity;
  for (const pts of all) for (const [, y] of pts) {
    if (!good(y, log)) continue;
    if (y < lo) lo = y;
    if (y > hi) hi = y;
  }
  if (lo === Infinity) return log ? [0.1, 1] : [0, 1];
  if (log) return lo === hi ? [lo / 2, hi * 2] : [lo / 1.15, hi * 1.15];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
}

function scales(xdom, ydom, log, h) {
  const [x0, x1] = xdom, [y0, y1] = ydom, ly = Math.log10;
  const sx = x => M.l + (x - x0) / ((x1 - x0) || 1) * (W - M.l - M.r);
  const sy = log ? y => h - M.b - (ly(y) - ly(y0)) / ((ly(y1) - ly(y0)) || 1) * (h - M.t - M.b)
                 : y => h - M.b - (y - y0) / ((y1 - y0) || 1) * (h - M.t - M.b);
  const ix = px => x0 + (px - M.l) / (W - M.l - M.r) * (x1 - x0);
  return {sx, sy, ix, h};
}

function pathOf(pts, s, log) {
  let d = "", pen = false;
  for (const [x, y] of pts) {
    if (!good(y, log)) { pen = false; continue; }
    d += (pen ? "L" : "M") + s.sx(x).toFixed(1) + "," + s.sy(y).toFixed(1);
    pen = true;
  }
  return d;
}

function drawAxes(g, spec, ydom, s) {
  const h = s.h;
  for (const v of ticks(spec.xdom[0], spec.xdom[1], false)) {
    svgEl("line", {x1: s.sx(v), x2: s.sx(v), y1: M.t, y2: h - M.b, class: "grid"}, g);
    svgEl("text", {x: s.sx(v), y: h - M.b + 12, class: "tick x", "text-anchor": "middle"}, g).textContent = fmt(v);
  }
  for (const v of ticks(ydom[0], ydom[1], spec.log)) {
    svgEl("line", {x1: M.l, x2: W - M.r, y1: s.sy(v), y2: s.sy(v), class: "grid"}, g);
    svgEl("text", {x: M.l - 4, y: s.sy(v) + 3, class: "tick y", "text-anchor": "end"}, g).textContent = fmt(v);
  }
  const mid = (M.t + h - M.b) / 2;
  svgEl("text", {x: (M.l + W - M.r) / 2, y: h - 4, class: "axis-title x", "text-anchor": "middle"}, g)
    .textContent = spec.xtitle;
  svgEl("text", {x: 11, y: mid, class: "axis-title y", "text-anchor": "middle",
                 transform: `rotate(-90 11 ${mid})`}, g).textContent = spec.ytitle;
  if (spec.note) svgEl("text", {x: W - M.r, y: h - 4, class: "planned", "text-anchor": "end"}, g).textContent = spec.note;
}

// Markers at most every 6 pixels: a thousand epochs stay a readable line.
function drawMarkers(pts, s, spec, cls, parent) {
  const shown = pts.filter(p => good(p[1], spec.log) && p[0] >= spec.xdom[0] && p[0] <= spec.xdom[1]);
  const every = Math.max(1, Math.ceil(shown.length * 6 / (W - M.l - M.r)));
  for (let i = shown.length - 1; i >= 0; i -= every) {
    svgEl("circle", {cx: s.sx(shown[i][0]).toFixed(1), cy: s.sy(shown[i][1]).toFixed(1), r: 2, class: "dot " + cls}, parent);
  }
}

// spec: {key, xdom, log, h, xtitle, ytitle, note, label, lines: [{id, pts, cls, marker}], now}; returns the scales.
function drawChart(svg, spec) {
  const h = spec.h;
  svg.replaceChildren();
  for (const [k, v] of Object.entries({viewBox: `0 0 ${W} ${h}`, width: W, height: h, role: "img",
    "aria-label": spec.label, "data-x0": spec.xdom[0], "data-x1": spec.xdom[1]})) svg.setAttribute(k, v);
  const thinned = spec.lines.map(l => thin(l.pts, spec.xdom[0], spec.xdom[1], W - M.l - M.r));
  const inside = thinned.map(pts => pts.filter(p => p[0] >= spec.xdom[0] && p[0] <= spec.xdom[1]));
  const ydom = spec.ydom || yDomain(inside, spec.log), s = scales(spec.xdom, ydom, spec.log, h);
  const g = svgEl("g", {}, svg);
  drawAxes(g, spec, ydom, s);
  const id = "nbtrain-clip-" + (++CLIPS);                 // lines of longer earlier runs end at the axes
  svgEl("rect", {x: M.l, y: M.t - 2, width: W - M.l - M.r, height: h - M.t - M.b + 4}, svgEl("clipPath", {id}, svg));
  const clip = svgEl("g", {"clip-path": `url(#${id})`}, svg);
  spec.lines.forEach((l, i) => {
    svgEl("path", {d: pathOf(thinned[i], s, spec.log), class: "line " + l.cls, "data-series": l.id}, clip);
    if (l.marker) drawMarkers(thinned[i], s, spec, l.cls, clip);
  });
  if (spec.now !== undefined) svgEl("line", {x1: s.sx(spec.now), x2: s.sx(spec.now), y1: M.t, y2: h - M.b, class: "now"}, g);
  s.guide = svgEl("line", {y1: M.t, y2: h - M.b, class: "guide", visibility: "hidden"}, svg);
  s.box = svgEl("rect", {y: M.t, height: h - M.t - M.b, class: "zoombox", visibility: "hidden"}, svg);
  return s;
}

// Pointer x in data units on a chart drawn with scales s (clamped to the plot area).
function pointerX(svg, s, ev) {
  const r = svg.getBoundingClientRect(), px = (ev.clientX - r.left) * W / r.width;
  return s.ix(Math.max(M.l, Math.min(W - M.r, px)));
}
