// expman report: one page over the runs of an archive. Data: the JSON in #expman-data.
// Views: runs (a virtual table, sortable and filterable, its columns chosen), scatter,
// parallel coordinates, heatmap, curves (panels per metric), diff (of N chosen runs), one
// run's detail, and search (an adaptive search's best so far or Pareto front). The state of
// the controls survives the page's reloads (`expman report --watch`) in sessionStorage, and
// is kept in the URL fragment, so that a link opens a given view; the fragment is untrusted
// (anyone can write a link): each value is checked against what the page knows, and only
// ever used as text. Nothing here makes a network request.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("expman-data").textContent);
  const RUNS = DATA.runs;
  const BY_ID = new Map(RUNS.map((r) => [r.id, r]));
  const ROW = 26; // px, as in the stylesheet
  const PALETTE = ["#2463b0", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285",
    "#e67700", "#5c940d", "#364fc7", "#a61e4d"];
  const TABS = ["runs", "scatter", "parallel", "heatmap", "curves", "diff", "run", "search"];
  const DIFF_MAX = 8; // runs compared at once
  const KEY = "expman-report:" + DATA.archive;
  const state = Object.assign(
    { tab: "runs", sort: { key: "id", desc: false }, filter: "", status: "", chosen: [],
      columns: {}, constant: false, scatter: {}, parallel: {}, heat: {}, run: "", scroll: 0 },
    load());
  const CURVES = { metrics: [], x: "step", by: [], band: "minmax", smooth: 0, log: false,
    ymin: null, ymax: null, every: false, full: {} };
  state.curves = Object.assign(CURVES, isObject(state.curves) ? state.curves : {});
  for (const key of ["sort", "columns", "scatter", "parallel", "heat"]) {
    if (!isObject(state[key])) state[key] = key === "sort" ? { key: "id", desc: false } : {};
  }
  if (!Array.isArray(state.chosen)) state.chosen = [];
  fromFragment();
  const charts = {}; // the uPlot instances, by view: tests and curious users read them
  window.expmanReport = { charts: charts, state: state };

  function load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || "{}");
      return saved && typeof saved === "object" ? saved : {};
    } catch (e) { return {}; }
  }
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function save() {
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
    try { history.replaceState(null, "", "#" + toFragment()); } catch (e) { /* a sandbox */ }
  }
  // The fragment: tab, filter, status, sort, desc, metrics, xaxis, group, by, band, smooth, log,
  // ymin, ymax, runs (chosen for the diff), run (the detail's), x and y (the scatter's).
  function toFragment() {
    const c = state.curves, p = new URLSearchParams();
    p.set("tab", state.tab);
    if (state.filter) p.set("filter", state.filter);
    if (state.status) p.set("status", state.status);
    if (state.sort.key !== "id" || state.sort.desc) {
      p.set("sort", state.sort.key);
      if (state.sort.desc) p.set("desc", "1");
    }
    if (state.tab === "curves") {
      p.set("metrics", c.metrics.join(","));
      if (c.group) p.set("group", c.group);
      if (c.by.length) p.set("by", c.by.join(","));
      if (c.band !== "minmax") p.set("band", c.band);
      if (c.smooth) p.set("smooth", String(c.smooth));
      if (c.log) p.set("log", "1");
      if (c.x !== "step") p.set("xaxis", c.x);
      for (const bound of ["ymin", "ymax"]) if (isNum(c[bound])) p.set(bound, String(c[bound]));
    }
    if (state.tab === "scatter" && state.scatter.x) { p.set("x", state.scatter.x); p.set("y", state.scatter.y); }
    if (state.chosen.length) p.set("runs", state.chosen.join(","));
    if (state.tab === "run" && state.run) p.set("run", state.run);
    if (state.tab === "search" && state.search && state.search.sweep) p.set("sweep", state.search.sweep);
    return p.toString();
  }
  function fromFragment() {
    let p;
    try { p = new URLSearchParams(location.hash.slice(1)); } catch (e) { return; }
    if (![...p.keys()].length) return;
    const text = (name) => (p.has(name) ? String(p.get(name)).slice(0, 500) : null);
    const list = (name) => (text(name) || "").split(",").filter(Boolean);
    const tab = text("tab");
    if (TABS.includes(tab)) state.tab = tab;
    if (text("filter") !== null) state.filter = text("filter");
    const status = text("status");
    state.status = RUNS.some((r) => r.status === status) ? status : "";
    if (text("sort") !== null) state.sort = { key: text("sort"), desc: text("desc") === "1" };
    if (p.has("metrics")) state.curves.metrics = list("metrics").filter((m) => Object.hasOwn(DATA.curves, m));
    if (p.has("group")) state.curves.group = text("group");
    if (p.has("by")) state.curves.by = list("by");
    if (p.has("metrics")) { // a link to the curves: what it leaves out is the default
      state.curves.band = text("band") === "std" ? "std" : "minmax";
      const smooth = Number(text("smooth"));
      state.curves.smooth = isFinite(smooth) ? Math.min(0.99, Math.max(0, smooth)) : 0;
      state.curves.log = text("log") === "1";
      state.curves.x = Object.hasOwn(DATA.curves, text("xaxis")) ? text("xaxis") : "step";
      for (const bound of ["ymin", "ymax"]) {
        const value = p.has(bound) ? Number(text(bound)) : null;
        state.curves[bound] = isNum(value) ? value : null;
      }
    }
    if (p.has("runs")) state.chosen = list("runs").filter((id) => BY_ID.has(id)).slice(0, DIFF_MAX);
    if (BY_ID.has(text("run"))) state.run = text("run");
    if (p.has("x")) state.scatter = { x: text("x"), y: text("y") };
    if (Object.hasOwn(DATA.searches || {}, text("sweep"))) state.search = { sweep: text("sweep") };
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.append(child);
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      return Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(3) : String(+v.toPrecision(4));
    }
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function full(v) { return v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v); }
  function when(v) { // ISO 8601 in UTC, to the minute
    return typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v) ? v.slice(0, 16).replace("T", " ") : fmt(v);
  }
  function lasting(v) {
    if (!isNum(v)) return fmt(v);
    const pad = (n) => String(Math.floor(n)).padStart(2, "0");
    if (v < 60) return (v < 10 ? v.toFixed(1) : Math.round(v)) + " s";
    if (v < 3600) return Math.floor(v / 60) + " m " + pad(v % 60) + " s";
    if (v < 86400) return Math.floor(v / 3600) + " h " + pad((v % 3600) / 60) + " m";
    return Math.floor(v / 86400) + " d " + pad((v % 86400) / 3600) + " h";
  }
  function options(select, values, chosen) {
    select.replaceChildren(...values.map((v) => el("option", { value: v, text: v })));
    if (values.includes(chosen)) select.value = chosen;
    return select.value;
  }
  function checkboxes(target, values, chosen, onchange) {
    target.replaceChildren(...values.map((v) => {
      const box = el("input", { type: "checkbox", value: v });
      box.checked = chosen.includes(v);
      box.addEventListener("change", () => onchange(v, box.checked));
      return el("label", { class: "chip" }, [box, " " + v]);
    }));
  }

  // ---- columns: what answers the question first (metrics, series), then the vars ----------
  const names = (field) => [...new Set(RUNS.flatMap((r) => Object.keys(r[field] || {})))].sort();
  const VARS = names("vars");
  const METRICS = names("metrics");
  const SERIES = names("series");
  const STATS = ["last", "min", "max"];
  // A cost is named by one of its words (`val_loss`, `error_rate`, `trainTime`), not by
  // letters inside another word (`answer_accuracy` holds `wer`, `confidence` `fid`).
  const LOWER = /^(loss(es)?|err(or|ors)?|mse|mae|rmse|nll|perplexity|ppl|regret|costs?|latency|time|runtime|walltime|duration|seconds|wer|cer|fid)$/;
  const words = (name) => String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase()
    .split(/[^a-z0-9]+|(?<=[a-z])(?=[0-9])/).filter(Boolean);
  const COLUMNS = [
    { key: "id", label: "run", get: (r) => r.id },
    { key: "status", label: "status", get: (r) => r.status },
    ...METRICS.map((n) => ({ key: "metrics." + n, label: n, name: n, get: (r) => r.metrics[n] })),
    ...SERIES.flatMap((n) => STATS.map((s) => ({
      key: "series." + n + "." + s, label: n + " (" + s + ")", name: n,
      get: (r) => (r.series[n] || {})[s] }))),
    ...VARS.map((n) => ({ key: "vars." + n, label: n, get: (r) => r.vars[n] })),
    { key: "tags", label: "tags", get: (r) => r.tags.join(" ") },
    { key: "hypothesis", label: "hypothesis", get: (r) => r.hypothesis },
    { key: "observations", label: "observations", get: (r) => r.observations },
    { key: "notes", label: "notes", get: (r) => r.notes.join(" · ") },
    { key: "started", label: "started (UTC)", get: (r) => r.started, show: when },
    { key: "duration", label: "duration", get: (r) => r.duration, show: lasting },
  ];
  const CONSTANT = new Set(COLUMNS.filter((c) => c.key !== "id" && c.key !== "status" &&
    new Set(RUNS.map((r) => full(c.get(r)))).size <= 1).map((c) => c.key));
  const NUMERIC = COLUMNS.filter((c) => c.key !== "id" && c.key !== "started" &&
    c.key !== "duration" && RUNS.some((r) => isNum(c.get(r))));
  const TEXT = RUNS.map((r) => [r.id, r.status, r.tags.join(" "), r.hypothesis, r.observations,
    ...r.notes,
    ...Object.entries(r.vars).map(([k, v]) => k + "=" + fmt(v)),
    ...Object.entries(r.metrics).map(([k, v]) => k + "=" + fmt(v))].join("\u0001").toLowerCase());
  function visible(column) {
    if (column.key === "id") return true;
    const chosen = state.columns[column.key];
    return typeof chosen === "boolean" ? chosen : state.constant || !CONSTANT.has(column.key);
  }
  function lowerIsBetter(column) { return words(column.name).some((w) => LOWER.test(w)); }

  // ---- the filtered, sorted runs (every view shows these) -------------------------------
  function shown() {
    const terms = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
    let list = RUNS.filter((r, i) => (!state.status || r.status === state.status) &&
      terms.every((t) => TEXT[i].includes(t)));
    const column = COLUMNS.find((c) => c.key === state.sort.key) || COLUMNS[0];
    const keyed = list.map((r) => [column.get(r), r]);
    const rank = (v) => (v === null || v === undefined || v === "" ? 2 : isNum(v) ? 0 : 1);
    keyed.sort((a, b) => {
      const ra = rank(a[0]), rb = rank(b[0]);
      if (ra !== rb) return ra - rb; // missing values last, whichever the direction
      if (ra === 2) return 0;
      const x = ra === 0 ? a[0] : String(a[0]), y = ra === 0 ? b[0] : String(b[0]);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return state.sort.desc ? -order : order;
    });
    return keyed.map((p) => p[1]);
  }

  // ---- runs: a virtual table ------------------------------------------------------------
  const scroller = document.getElementById("table-scroll");
  const table = document.getElementById("runs-table");
  let current = [];
  let columns = [];
  let best = new Map(); // column key -> the best value among the shown runs that succeeded
  function renderTable() {
    current = shown();
    columns = COLUMNS.filter(visible);
    best = new Map();
    const results = current.filter((r) => r.status === "succeeded"); // a stopped run's value is no result
    for (const c of columns.filter((c) => c.name !== undefined)) {
      const values = results.map(c.get).filter(isNum);
      if (new Set(values).size < 2) continue;
      const lower = lowerIsBetter(c);
      best.set(c.key, values.reduce((a, b) => (lower ? Math.min(a, b) : Math.max(a, b))));
    }
    document.getElementById("count").textContent =
      current.length + " of " + RUNS.length + " runs";
    const hidden = COLUMNS.filter((c) => !visible(c)).length;
    document.getElementById("constant-label").textContent =
      "constant columns (" + CONSTANT.size + ")" + (hidden ? ", " + hidden + " hidden" : "");
    const head = el("tr", {}, [el("th", { text: "diff", title: "choose runs to compare (up to " + DIFF_MAX + ")" }),
      ...columns.map((c) => el("th", {
        text: c.label, "data-key": c.key, title: c.key + (CONSTANT.has(c.key) ? " (the same in every run)" : ""),
        class: state.sort.key === c.key ? (state.sort.desc ? "sorted-desc" : "sorted-asc") : "",
        onclick: () => {
          state.sort = { key: c.key, desc: state.sort.key === c.key ? !state.sort.desc : false };
          save(); renderTable(); renderViews();
        },
      }))]);
    table.tHead.replaceChildren(head);
    drawRows();
    renderChooser();
  }
  function renderChooser() {
    checkboxes(document.getElementById("column-list"), COLUMNS.slice(1).map((c) => c.key),
      COLUMNS.filter(visible).map((c) => c.key), (key, on) => {
        state.columns[key] = on; save(); renderTable();
      });
  }
  function cell(column, run) {
    const value = column.get(run);
    if (column.key === "id") {
      return el("td", {}, [el("a", { href: run.folder, text: run.id }), " ",
        el("a", { href: run.logs, text: "logs", class: "logs" })]);
    }
    if (column.key === "status") return el("td", { class: "status-" + value, text: value });
    if (column.key === "tags") return el("td", {}, run.tags.map((t) => el("span", { class: "tag", text: t })));
    const top = run.status === "succeeded" && best.has(column.key) && value === best.get(column.key);
    return el("td", {
      class: (isNum(value) ? "num" : "") + (top ? " best" : ""),
      text: (column.show || fmt)(value),
      title: full(value) + (top ? " (best: " + (lowerIsBetter(column) ? "lowest" : "highest") + ")" : ""),
    });
  }
  function drawRows() {
    const top = scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - 10);
    const last = Math.min(current.length, first + Math.ceil(scroller.clientHeight / ROW) + 20);
    const rows = [el("tr", { style: "height:" + first * ROW + "px", class: "spacer" })];
    for (let i = first; i < last; i++) {
      const run = current[i];
      const box = el("input", { type: "checkbox", "aria-label": "compare " + run.id });
      box.checked = state.chosen.includes(run.id);
      box.addEventListener("change", () => choose(run.id, box.checked));
      const row = el("tr", { "data-id": run.id }, [el("td", {}, [box]),
        ...columns.map((c) => cell(c, run))]);
      row.addEventListener("click", (event) => {
        if (event.target.closest("a, input")) return; // a link, or the diff's box
        state.run = run.id; show("run");
      });
      rows.push(row);
    }
    rows.push(el("tr", { style: "height:" + (current.length - last) * ROW + "px", class: "spacer" }));
    table.tBodies[0].replaceChildren(...rows);
  }
  function choose(id, on) {
    state.chosen = state.chosen.filter((x) => x !== id);
    if (on) state.chosen.push(id);
    state.chosen = state.chosen.slice(-DIFF_MAX);
    save(); drawRows();
  }
  const constant = document.getElementById("show-constant");
  constant.checked = state.constant;
  constant.addEventListener("change", () => {
    state.constant = constant.checked; state.columns = {}; save(); renderTable();
  });
  scroller.addEventListener("scroll", () => { state.scroll = scroller.scrollTop; drawRows(); });
  const filter = document.getElementById("filter");
  filter.value = state.filter;
  filter.addEventListener("input", () => {
    state.filter = filter.value; save(); renderTable(); renderViews();
  });
  const status = document.getElementById("status");
  options(status, ["", ...new Set(RUNS.map((r) => r.status))].sort(), state.status);
  status.options[0].textContent = "any status";
  status.addEventListener("change", () => {
    state.status = status.value; save(); renderTable(); renderViews();
  });

  // ---- charts ---------------------------------------------------------------------------
  function plot(view, opts, data, target) {
    if (charts[view]) charts[view].destroy();
    target.replaceChildren();
    charts[view] = new uPlot(opts, data, target);
    return charts[view];
  }
  function width() {
    const main = document.querySelector("main");
    return Math.max(400, Math.min(1400, (main.clientWidth || 900) - 40));
  }
  function logScale(values) {
    const positive = values.filter(isNum);
    return positive.length > 1 && positive.every(loggable) &&
      Math.max(...positive) / Math.min(...positive) >= 50;
  }
  function empty(target, text) { target.replaceChildren(el("div", { class: "empty", text })); }

  function renderScatter() {
    const target = document.getElementById("scatter-chart");
    const xs = document.getElementById("scatter-x"), ys = document.getElementById("scatter-y");
    const keys = NUMERIC.map((c) => c.key);
    if (!keys.length) return empty(target, "No numeric vars or metrics to plot.");
    const runs = shown();
    const varies = (k) => new Set(runs.map(NUMERIC.find((c) => c.key === k).get)).size > 1;
    state.scatter.x = options(xs, keys, state.scatter.x ||
      keys.find((k) => k.startsWith("vars.") && varies(k)) || keys[0]);
    state.scatter.y = options(ys, keys, state.scatter.y ||
      keys.find((k) => !k.startsWith("vars.")) || keys[0]);
    const cx = NUMERIC.find((c) => c.key === state.scatter.x);
    const cy = NUMERIC.find((c) => c.key === state.scatter.y);
    const points = runs.map((r) => [cx.get(r), cy.get(r), r]).filter((p) => isNum(p[0]) && isNum(p[1]))
      .sort((a, b) => a[0] - b[0]);
    if (!points.length) return empty(target, "No run has both values.");
    const groups = [...new Set(points.map((p) => p[2].status))].sort();
    const colour = { succeeded: "#1f8a4c", failed: "#c0392b", interrupted: "#b7791f" };
    const data = [points.map((p) => p[0]),
      ...groups.map((g) => points.map((p) => (p[2].status === g ? p[1] : null)))];
    plot("scatter", {
      width: width(), height: 420, mode: 1,
      scales: { x: { time: false, distr: logScale(data[0]) ? 3 : 1 },
        y: { distr: logScale(points.map((p) => p[1])) ? 3 : 1 } }, // a diverged run flattens no other
      axes: [{ label: state.scatter.x }, { label: state.scatter.y }],
      series: [{ label: state.scatter.x }, ...groups.map((g, i) => ({
        label: g, stroke: colour[g] || PALETTE[i], paths: () => null,
        points: { show: true, size: 8, fill: colour[g] || PALETTE[i] } }))],
    }, data, target);
  }

  function renderParallel() {
    const canvas = document.getElementById("parallel-canvas");
    const runs = shown();
    const varies = (c) => new Set(runs.map(c.get).filter(isNum)).size > 1;
    // The vars first (they lead to the results), the metrics, then one summary of each
    // series (chosen: none by default when there are metrics, else the last value).
    const summary = options(document.getElementById("parallel-series"), ["none", ...STATS],
      state.parallel.series || (METRICS.length ? "none" : "last"));
    state.parallel.series = summary;
    const varying = NUMERIC.filter(varies).filter((c) => !c.key.startsWith("series.") ||
      c.key.endsWith("." + summary));
    const axes = [...varying.filter((c) => c.key.startsWith("vars.")),
      ...varying.filter((c) => !c.key.startsWith("vars."))].slice(0, 12);
    const metricAxes = axes.filter((a) => !a.key.startsWith("vars.")).map((a) => a.key);
    state.parallel.colour = options(document.getElementById("parallel-colour"),
      metricAxes.length ? metricAxes : axes.map((a) => a.key), state.parallel.colour);
    window.expmanReport.parallel = { axes: axes.map((a) => a.key), lines: 0 };
    const ctx = canvas.getContext("2d");
    const w = (canvas.width = width()), h = (canvas.height = 440);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, sans-serif";
    if (axes.length < 2) {
      ctx.fillText("Parallel coordinates need two vars or metrics that vary.", 20, 30);
      return;
    }
    const pad = 70, top = 64, bottom = h - 30, step = (w - 2 * pad) / (axes.length - 1);
    const ranges = axes.map((a) => {
      const v = runs.map(a.get).filter(isNum);
      const log = logScale(v);
      const t = (x) => (log ? Math.log10(x) : x);
      const lo = Math.min(...v.map(t)), hi = Math.max(...v.map(t));
      return { t, lo, hi: hi === lo ? lo + 1 : hi, min: Math.min(...v), max: Math.max(...v) };
    });
    const by = Math.max(0, axes.findIndex((a) => a.key === state.parallel.colour));
    let lines = 0;
    for (const run of runs) {
      const values = axes.map((a) => a.get(run));
      const c = values[by];
      const t = isNum(c) ? (ranges[by].t(c) - ranges[by].lo) / (ranges[by].hi - ranges[by].lo) : null;
      ctx.strokeStyle = t === null ? "rgba(192,57,43,0.5)" : "hsla(" + Math.round(220 - 190 * t) + ",70%,45%,0.6)";
      ctx.setLineDash(run.status === "succeeded" ? [] : [4, 3]);
      ctx.beginPath();
      let drawing = false, any = false;
      values.forEach((v, i) => {
        if (!isNum(v)) { drawing = false; return; } // a missing value breaks the line
        const r = ranges[i], y = bottom - ((r.t(v) - r.lo) / (r.hi - r.lo)) * (bottom - top);
        if (drawing) ctx.lineTo(pad + i * step, y); else ctx.moveTo(pad + i * step, y);
        drawing = any = true;
      });
      ctx.stroke();
      if (any) lines++;
    }
    ctx.setLineDash([]);
    ctx.strokeStyle = "#333"; ctx.fillStyle = "#1d232a"; ctx.textAlign = "center";
    axes.forEach((a, i) => {
      const x = pad + i * step;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.fillText(a.label, x, top - 24 - (i % 2) * 14); // staggered: long names overlap
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(fmt(ranges[i].max), x, top - 8);
      ctx.fillText(fmt(ranges[i].min), x, bottom + 14);
    });
    window.expmanReport.parallel.lines = lines;
  }

  function renderHeatmap() {
    const target = document.getElementById("heatmap-grid");
    const sweeps = Object.keys(DATA.sweeps);
    const pick = (id, values, chosen) => options(document.getElementById(id), values, chosen);
    if (!sweeps.length) return empty(target, "No sweep in these runs.");
    state.heat.sweep = pick("heat-sweep", sweeps, state.heat.sweep || sweeps[sweeps.length - 1]);
    const plan = DATA.sweeps[state.heat.sweep];
    const swept = [...new Set(plan.flatMap((p) => Object.keys(p.vars)))].sort();
    if (swept.length < 1) return empty(target, "This sweep has no vars.");
    state.heat.x = pick("heat-x", swept, state.heat.x || swept[0]);
    state.heat.y = pick("heat-y", swept, state.heat.y || swept[1] || swept[0]);
    const metricKeys = NUMERIC.filter((c) => !c.key.startsWith("vars.")).map((c) => c.key);
    state.heat.metric = pick("heat-metric", metricKeys, state.heat.metric || metricKeys[0]);
    const metric = NUMERIC.find((c) => c.key === state.heat.metric);
    const visible = new Set(shown().map((r) => r.id));
    const byPoint = new Map();
    for (const run of RUNS) {
      if (!run.sweep || run.sweep.id !== state.heat.sweep || !visible.has(run.id)) continue;
      const mine = byPoint.get(run.sweep.index) || [];
      mine.push(run);
      byPoint.set(run.sweep.index, mine);
    }
    const sortValues = (vs) => [...new Set(vs)].sort((a, b) => (isNum(a) && isNum(b) ? a - b : String(a) < String(b) ? -1 : 1));
    const xv = sortValues(plan.map((p) => p.vars[state.heat.x]));
    const yv = sortValues(plan.map((p) => p.vars[state.heat.y]));
    const cells = new Map();
    for (const point of plan) {
      const key = JSON.stringify([point.vars[state.heat.x], point.vars[state.heat.y]]);
      const c = cells.get(key) || { values: [], failed: 0, running: 0, planned: 0 };
      c.planned++;
      const runs = byPoint.get(point.index) || [];
      const ok = runs.filter((r) => r.status === "succeeded").pop();
      if (ok && metric && isNum(metric.get(ok))) c.values.push(metric.get(ok));
      else if (runs.some((r) => r.status === "running")) c.running++;
      else if (runs.length) c.failed++;
      cells.set(key, c);
    }
    const all = [...cells.values()].flatMap((c) => c.values);
    const lo = Math.min(...all), hi = Math.max(...all);
    const head = el("tr", {}, [el("th", { text: state.heat.y + " \\ " + state.heat.x }),
      ...xv.map((x) => el("th", { text: fmt(x) }))]);
    const rows = yv.map((y) => el("tr", {}, [el("th", { text: fmt(y) }), ...xv.map((x) => {
      const c = cells.get(JSON.stringify([x, y]));
      if (!c) return el("td", { class: "missing", "data-state": "none", text: "" });
      if (c.values.length) {
        const mean = c.values.reduce((a, b) => a + b, 0) / c.values.length;
        const t = hi > lo ? (mean - lo) / (hi - lo) : 0.5;
        const td = el("td", { "data-state": "done", text: fmt(mean),
          title: c.values.length + " run(s)" + (c.failed ? ", " + c.failed + " failed" : "") });
        td.style.background = "hsl(212,60%," + Math.round(92 - 52 * t) + "%)";
        if (t > 0.6) td.style.color = "#fff";
        if (c.failed) td.classList.add("failed");
        return td;
      }
      const what = c.running ? "running" : c.failed ? "failed" : "missing";
      return el("td", { class: what, "data-state": what, text: what });
    })]));
    target.replaceChildren(el("table", { class: "heatmap" }, [el("thead", {}, [head]),
      el("tbody", {}, rows)]));
  }

  // ---- curves: a panel per chosen metric ----------------------------------------------
  const curves = state.curves;
  function latestOfPoints(runs) {
    // A sweep point run again (after a failure or an interruption) has several runs: its
    // curve is the last succeeded one's (else the newest's), not one curve per attempt.
    const chosen = new Map();
    for (const r of runs) {
      if (!r.sweep) continue;
      const key = r.sweep.id + "\u0001" + r.sweep.index;
      const held = chosen.get(key);
      const ok = (x) => x.status === "succeeded";
      const newer = held && (r.id.length - held.id.length || (r.id > held.id ? 1 : -1)) > 0; // digits
      const better = !held || ok(r) > ok(held) || (ok(r) === ok(held) && newer); // not the table's order
      if (better) chosen.set(key, r);
    }
    return runs.filter((r) => !r.sweep || chosen.get(r.sweep.id + "\u0001" + r.sweep.index) === r);
  }
  function smoothed(values, weight) { // an EMA, debiased as TensorBoard's is; gaps stay gaps
    if (!weight) return values;
    let num = 0, den = 0;
    return values.map((v) => {
      if (!isNum(v)) return null;
      num = weight * num + (1 - weight) * v;
      den = weight * den + (1 - weight);
      return num / den;
    });
  }
  function robust(lines, log) {
    // Where the curves are when the most extreme fifth of them (at least one of three) is
    // left out; when a run diverged (beyond that by more than ten times its span, on
    // either side), the panel starts there and says so. null: nothing to hide.
    const t = (v) => (log ? Math.log10(v) : v);
    const all = (l) => (l.band ? [...l.values, ...l.band.lo, ...l.band.hi] : l.values);
    const ends = lines.map((l) => all(l).filter((v) => isNum(v) && (!log || v > 0)).map(t))
      .filter((vs) => vs.length).map((vs) => [Math.min(...vs), Math.max(...vs)]);
    if (ends.length < 3) return null;
    const skip = Math.max(1, Math.floor(ends.length / 5));
    const lows = ends.map((e) => e[0]).sort((a, b) => a - b);
    const highs = ends.map((e) => e[1]).sort((a, b) => a - b);
    const lo = lows[skip], hi = highs[highs.length - 1 - skip];
    const span = hi - lo || Math.abs(hi) || 1;
    const min = lows[0], max = highs[highs.length - 1];
    const top = max - hi > 10 * span, bottom = lo - min > 10 * span; // the sides to cut
    if (!top && !bottom) return null;
    const range = [bottom ? lo - span / 20 : min, top ? hi + span / 20 : max];
    const out = lines.filter((l) => all(l).some((v) => isNum(v) && (!log || v > 0) &&
      (t(v) < range[0] || t(v) > range[1]))).map((l) => l.label);
    return { range: log ? range.map((v) => 10 ** v) : range, out };
  }
  // What a log axis can draw: uPlot counts its decades, and 10 ** -324 is 0 (a panel
  // with 5e-324 in it, or asked to start there, was drawn empty).
  function loggable(v) { return v >= 1e-300 && v <= 1e300; }
  function vary(runs, name) { return new Set(runs.map((r) => fmt(r.vars[name]))).size > 1; }
  function renderCurves() {
    const target = document.getElementById("curves-chart");
    const legend = document.getElementById("curves-legend");
    const metrics = Object.keys(DATA.curves).sort();
    legend.replaceChildren();
    for (const key of Object.keys(charts)) if (key.startsWith("curves")) { charts[key].destroy(); delete charts[key]; }
    if (!metrics.length) return empty(target, "No run logged metric series ($EXPMAN_METRICS).");
    curves.metrics = curves.metrics.filter((m) => metrics.includes(m));
    if (!curves.metrics.length) curves.metrics = [metrics[0]];
    checkboxes(document.getElementById("curves-metrics"), metrics, curves.metrics, (m, on) => {
      curves.metrics = on ? [...curves.metrics, m] : curves.metrics.filter((x) => x !== m);
      curves.full = {}; renderViews();
    });
    const candidates = shown().filter((r) => curves.metrics.some((m) => DATA.curves[m].runs[r.id]));
    const runs = (curves.every ? candidates : latestOfPoints(candidates)).slice(0, 100);
    const varying = VARS.filter((n) => vary(runs, n));
    curves.group = options(document.getElementById("curves-group"), ["run", ...VARS],
      curves.group || varying[0] || "run");
    curves.x = options(document.getElementById("curves-x"), ["step", ...metrics], curves.x || "step");
    curves.by = curves.by.filter((n) => VARS.includes(n));
    checkboxes(document.getElementById("curves-by"), VARS, curves.by, (n, on) => {
      curves.by = on ? [...curves.by, n] : curves.by.filter((x) => x !== n); renderViews();
    });
    document.getElementById("curves-by").prepend("group by ");
    document.getElementById("curves-band").value = curves.band;
    document.getElementById("curves-smooth").value = curves.smooth;
    document.getElementById("curves-smooth-value").textContent = curves.smooth ? String(curves.smooth) : "off";
    document.getElementById("curves-log").checked = curves.log;
    document.getElementById("curves-ymin").value = isNum(curves.ymin) ? curves.ymin : "";
    document.getElementById("curves-ymax").value = isNum(curves.ymax) ? curves.ymax : "";
    document.getElementById("curves-every").checked = curves.every;
    if (!runs.length) return empty(target, "No shown run has these metrics.");
    const colourOf = (r) => (curves.group === "run" ? r.id : fmt(r.vars[curves.group]));
    const colours = [...new Set(runs.map(colourOf))];
    const colour = (key) => PALETTE[colours.indexOf(key) % PALETTE.length];
    target.replaceChildren();
    curves.metrics.forEach((metric, i) => {
      const chart = panel(metric, runs, colourOf, colour, target);
      if (chart) { charts["curves:" + metric] = chart; if (i === 0) charts.curves = chart; }
    });
    const item = (text, c) => { const s = el("span", { text }); s.style.setProperty("--swatch", c); return s; };
    const groups = curves.by.length ? [...grouped(runs).entries()] : null; // of every panel
    legend.replaceChildren(...(groups ? groups.map(([key, members], g) =>
      item(groupLabel(key, members), PALETTE[g % PALETTE.length]))
      : colours.map((g) => item((curves.group === "run" ? "run " : curves.group + "=") + g, colour(g))))
      .slice(0, 40));
  }
  function interpolate(steps, values, at) { // values (null: none) at the steps `at`
    const known = steps.map((s, k) => [s, values[k]]).filter((p) => isNum(p[1]));
    let j = 0;
    return at.map((t) => {
      if (!known.length || t < known[0][0] || t > known[known.length - 1][0]) return null;
      while (j < known.length - 1 && known[j + 1][0] < t) j++;
      const [s0, v0] = known[j], [s1, v1] = known[Math.min(j + 1, known.length - 1)];
      return s1 === s0 || t <= s0 ? v0 : v0 + ((v1 - v0) * (t - s0)) / (s1 - s0);
    });
  }
  function axis(metric, runs) {
    // The panel's x values, and each run's values on them: the metric's own grid of steps,
    // or, with another series as x (a logged `time`, an epoch), a grid over its range,
    // each run's points put in its cells (the mean of those that fall in one).
    const curve = DATA.curves[metric];
    const other = curves.x !== "step" ? DATA.curves[curves.x] : null;
    if (!other) return { xs: curve.steps, of: (r) => curve.runs[r.id] || null };
    const pairs = new Map();
    for (const r of runs) {
      const ys = curve.runs[r.id], xs = other.runs[r.id];
      if (!ys || !xs) continue;
      const at = interpolate(other.steps, xs, curve.steps);
      pairs.set(r.id, at.map((x, k) => [x, ys[k]]).filter(([x, y]) => isNum(x) && isNum(y)));
    }
    const all = [...pairs.values()].flatMap((p) => p.map((q) => q[0]));
    if (!all.length) return { xs: [], of: () => null };
    const lo = Math.min(...all), hi = Math.max(...all), cells = hi > lo ? 200 : 1;
    const w = (hi - lo) / cells || 1;
    const xs = Array.from({ length: cells }, (_, i) => (cells > 1 ? lo + w * (i + 0.5) : lo));
    const of = (r) => {
      if (!pairs.has(r.id)) return null;
      const sums = new Array(cells).fill(0), counts = new Array(cells).fill(0);
      for (const [x, y] of pairs.get(r.id)) {
        const c = Math.min(cells - 1, Math.floor((x - lo) / w));
        sums[c] += y; counts[c]++;
      }
      return sums.map((v, c) => (counts[c] ? v / counts[c] : null));
    };
    return { xs, of };
  }
  function lines(metric, runs, colourOf, colour) {
    // What one panel draws: a line per run (raw faint behind the smoothed one), or per
    // group of runs (the mean, and a band across the runs of the group).
    const { xs, of } = axis(metric, runs);
    const mine = runs.filter((r) => of(r));
    const positive = (v) => (curves.log && !loggable(v) ? null : v);
    if (!curves.by.length) {
      return { xs, drawn: mine.map((r) => {
        const raw = of(r).map(positive);
        return { label: r.id, runs: [r], colour: colour(colourOf(r)), raw,
          values: smoothed(raw, curves.smooth) };
      }) };
    }
    const groups = grouped(mine);
    const order = [...grouped(runs).keys()]; // a group's colour is the same in every panel
    return { xs, drawn: [...groups.entries()].map(([key, members]) => {
      const each = members.map((r) => smoothed(of(r).map(positive), curves.smooth));
      const band = { lo: [], hi: [] }, mean = [];
      xs.forEach((_, k) => {
        const vs = each.map((v) => v[k]).filter(isNum);
        if (!vs.length) { mean.push(null); band.lo.push(null); band.hi.push(null); return; }
        const m = vs.reduce((a, b) => a + b, 0) / vs.length;
        const sd = Math.sqrt(vs.reduce((a, b) => a + (b - m) ** 2, 0) / vs.length);
        mean.push(m);
        band.lo.push(curves.band === "std" ? m - sd : Math.min(...vs));
        band.hi.push(curves.band === "std" ? m + sd : Math.max(...vs));
      });
      return { label: groupLabel(key, members), runs: members,
        colour: PALETTE[order.indexOf(key) % PALETTE.length], values: mean, band };
    }) };
  }
  function grouped(runs) { // key ("LR=0.1 SEED=2") -> its runs, in the runs' order
    const groups = new Map();
    for (const r of runs) {
      const key = curves.by.map((n) => n + "=" + fmt(r.vars[n])).join(" ");
      groups.set(key, [...(groups.get(key) || []), r]);
    }
    return groups;
  }
  function groupLabel(key, members) {
    return key + " (" + members.length + " run" + (members.length > 1 ? "s" : "") + ")";
  }
  function panel(metric, runs, colourOf, colour, target) {
    const { xs, drawn } = lines(metric, runs, colourOf, colour);
    const box = el("div", { class: "chart panel", "data-metric": metric });
    const note = el("div", { class: "note" });
    box.append(el("div", { class: "panel-title", text: metric }), note);
    target.append(box);
    if (!drawn.length) { note.textContent = "No shown run has this metric."; return null; }
    // The range asked for (null: automatic): a bound a log axis cannot draw is automatic.
    const chosen = [curves.ymin, curves.ymax].map((v) => (isNum(v) && !(curves.log && !loggable(v)) ? v : null));
    const clipped = curves.full[metric] || chosen.some(isNum) ? null : robust(drawn, curves.log);
    if (clipped) {
      const names = clipped.out.slice(0, 5).join(", ") + (clipped.out.length > 5 ? ", …" : "");
      note.append(el("span", { class: "warn", text: "Range " + fmt(clipped.range[0]) + " to " +
        fmt(clipped.range[1]) + ": where most values are; out of it: " + names + ". " }),
      el("button", { class: "show-all", text: "show all", onclick: () => { curves.full[metric] = true; renderViews(); } }));
    }
    const series = [{ label: curves.x }], data = [xs], info = [null], bands = [];
    for (const line of drawn) {
      if (line.band) {
        series.push({ label: line.label + " min", stroke: line.colour + "00", width: 0, points: { show: false }, spanGaps: true },
          { label: line.label + " max", stroke: line.colour + "00", width: 0, points: { show: false }, spanGaps: true });
        data.push(line.band.lo, line.band.hi); info.push(null, null);
        bands.push({ series: [data.length - 1, data.length - 2], fill: line.colour + "26" });
      } else if (curves.smooth) {
        series.push({ label: line.label + " raw", stroke: line.colour + "40", width: 1, points: { show: false }, spanGaps: true });
        data.push(line.raw); info.push(null);
      }
      series.push({ label: line.label, stroke: line.colour, width: 1.5, spanGaps: true, points: { show: false } });
      data.push(line.values); info.push(line);
    }
    // Only the cells some line has a point in: bands and hovering see no empty columns.
    const kept = xs.map((_, k) => k).filter((k) => data.some((column, i) => i > 0 && column[k] !== null));
    const packed = data.map((column) => kept.map((k) => column[k]));
    const hover = document.getElementById("curves-hover");
    let focused = null;
    const describe = (u) => {
      if (focused === null || !info[focused]) return;
      const line = info[focused], k = u.cursor.idx;
      const vars = (r) => Object.entries(r.vars).map(([n, v]) => n + "=" + fmt(v)).join(" ");
      const who = line.band ? line.label + ": runs " + line.runs.map((r) => r.id).join(" ")
        : "run " + line.label + " (" + line.runs[0].status + ") " + vars(line.runs[0]);
      const at = k === null || k === undefined ? "" : " · " + metric + " " + fmt(u.data[focused][k]) + " at " + curves.x + " " + fmt(u.data[0][k]);
      hover.textContent = who + at;
    };
    return new uPlot({
      width: width(), height: curves.metrics.length > 1 ? 300 : 420, legend: { show: false }, bands,
      cursor: { focus: { prox: 24 } },
      focus: { alpha: 0.35 },
      scales: { x: { time: false }, y: Object.assign({ distr: curves.log ? 3 : 1 },
        clipped ? { range: () => clipped.range } : {},
        chosen.some(isNum) ? { range: (u, low, high) => {
          const a = isNum(chosen[0]) ? chosen[0] : low, b = isNum(chosen[1]) ? chosen[1] : high;
          if (a !== b) return [Math.min(a, b), Math.max(a, b)]; // from above to: the same range
          const pad = Math.abs(a) / 10 || 1;
          return [curves.log ? a / 2 : a - pad, curves.log ? a * 2 : a + pad];
        } } : {}) },
      axes: [{ label: curves.x }, { label: metric }],
      series,
      hooks: {
        setSeries: [(u, i) => { focused = i; describe(u); }],
        setCursor: [(u) => describe(u)],
      },
    }, packed, box);
  }

  // ---- diff: what differs between the chosen runs ---------------------------------------
  function flatten(run) {
    const out = [["status", "", run.status], ["hypothesis", "", run.hypothesis],
      ["observations", "", run.observations], ["notes", "", run.notes.join("\n")]];
    for (const [section, value] of [["vars", run.vars], ["metrics", run.metrics],
      ["config", run.config], ["code", run.code]]) {
      for (const [k, v] of Object.entries(value || {})) {
        if (v && typeof v === "object") for (const [k2, v2] of Object.entries(v)) out.push([section, k + "." + k2, v2]);
        else out.push([section, k, v]);
      }
    }
    for (const [name, s] of Object.entries(run.series)) {
      for (const field of ["last", "min", "max", "count"]) out.push(["series", name + "." + field, s[field]]);
    }
    return out;
  }
  function thumbnail(image) {
    // An image as an <img> only (an SVG's script never runs there), or a link to the
    // archived file when the report's budget for inlined images was spent.
    const link = el("a", { href: image.href, title: image.path });
    if (image.src) link.append(el("img", { src: image.src, alt: image.path, class: "thumb" }));
    else link.append(el("span", { class: "thumb-link", text: image.path }));
    return link;
  }
  function renderDiff() {
    const target = document.getElementById("diff-table");
    const ids = shown().map((r) => r.id);
    let chosen = state.chosen.filter((id) => BY_ID.has(id));
    if (chosen.length < 2) chosen = [...new Set([...chosen, ...ids.slice(-2)])].slice(-2);
    document.getElementById("diff-runs").replaceChildren(...chosen.map((id) => el("span", { class: "chip" }, [
      "run " + id + " ", el("button", { text: "×", title: "leave run " + id + " out", "data-id": id,
        onclick: () => { state.chosen = chosen.filter((x) => x !== id); renderViews(); } })])));
    const add = document.getElementById("diff-add");
    options(add, ["", ...ids.filter((id) => !chosen.includes(id))], "");
    add.options[0].textContent = "…";
    if (chosen.length < 1) return empty(target, "No runs.");
    state.chosen = chosen;
    const only = document.getElementById("diff-only").checked;
    const tables = chosen.map((id) => new Map(flatten(BY_ID.get(id)).map((r) => [r[0] + "\u0001" + r[1], r[2]])));
    const keys = [...new Set(tables.flatMap((t) => [...t.keys()]))];
    const rows = keys.map((k) => {
      const [section, key] = k.split("\u0001");
      const values = tables.map((t) => fmt(t.get(k)));
      const changed = new Set(tables.map((t) => full(t.get(k)))).size > 1; // not as rounded
      if (only && !changed) return null;
      return el("tr", { class: changed ? "changed" : "", "data-key": section + "." + key }, [
        el("td", { class: "section", text: section }), el("td", { class: "key", text: key || section }),
        ...values.map((v, i) => el("td", { text: v, title: full(tables[i].get(k)) }))]);
    }).filter(Boolean);
    const paths = [...new Set(chosen.flatMap((id) => BY_ID.get(id).images.map((i) => i.path)))].sort();
    for (const path of paths) {
      rows.push(el("tr", { class: "images", "data-key": "images." + path }, [
        el("td", { class: "section", text: "images" }), el("td", { class: "key", text: path }),
        ...chosen.map((id) => {
          const image = BY_ID.get(id).images.find((i) => i.path === path);
          return el("td", {}, image ? [thumbnail(image)] : []);
        })]));
    }
    target.replaceChildren(el("table", { class: "diff" }, [el("thead", {}, [el("tr", {}, [
      el("th", { text: "" }), el("th", { text: "" }), ...chosen.map((id) => el("th", { text: "run " + id }))])]),
    el("tbody", {}, rows)]));
    if (!rows.length) target.append(el("div", { class: "empty", text: "No differences." }));
  }

  // ---- one run's detail -----------------------------------------------------------------
  function renderRun() {
    const target = document.getElementById("run-detail");
    const ids = shown().map((r) => r.id);
    if (!ids.length) return empty(target, "No runs.");
    state.run = options(document.getElementById("run-id"), ids, state.run || ids[ids.length - 1]);
    const run = BY_ID.get(state.run);
    const rows = flatten(run).filter((r) => full(r[2]) !== "").map(([section, key, value]) =>
      el("tr", {}, [el("td", { class: "section", text: section }), el("td", { class: "key", text: key || section }),
        el("td", { text: section === "series" || section === "metrics" ? fmt(value) : full(value), title: full(value) })]));
    const extra = [["started (UTC)", when(run.started)], ["duration", lasting(run.duration)]];
    target.replaceChildren(
      el("p", {}, [el("a", { href: run.folder, text: "run folder" }), " · ", el("a", { href: run.logs, text: "logs" }),
        ...extra.map(([k, v]) => " · " + k + " " + v)]),
      el("div", { class: "gallery" }, run.images.map((image) => el("figure", {}, [thumbnail(image),
        el("figcaption", { text: image.path })]))),
      el("table", { class: "diff" }, [el("tbody", {}, rows)]));
  }

  // ---- search: an adaptive search's best so far, and its Pareto front -------------------
  function renderSearch() {
    const target = document.getElementById("search-chart");
    const front = document.getElementById("search-front");
    const ids = Object.keys(DATA.searches || {});
    front.replaceChildren();
    if (!ids.length) return empty(target, "No adaptive search (expman sweep --search) here.");
    state.search = state.search || {};
    state.search.sweep = options(document.getElementById("search-sweep"), ids, state.search.sweep);
    const found = DATA.searches[state.search.sweep];
    const trials = found.trials;
    const pruned = trials.filter((t) => t.pruned).length;
    const failed = trials.filter((t) => !t.pruned && !t.values).length;
    document.getElementById("search-count").textContent =
      `${trials.length} trials, ${pruned} pruned, ${failed} without an objective`;
    const names = found.objectives;
    const sign = found.directions[0] === "maximize" ? -1 : 1;
    let best = null;
    const xs = [], values = [], bests = [];
    for (const t of trials) {
      const v = t.values ? t.values[0] : null;
      if (isNum(v) && (best === null || sign * v < sign * best)) best = v;
      xs.push(t.index); values.push(isNum(v) ? v : null); bests.push(best);
    }
    const dots = (label, colour, size) => ({ label, stroke: colour, paths: () => null,
      points: { show: true, size, fill: colour } });
    if (names.length === 1) {
      plot("search", { width: width(), height: 360, mode: 1, scales: { x: { time: false } },
        axes: [{ label: "trial" }, { label: names[0] }],
        series: [{ label: "trial" }, dots(names[0], PALETTE[0], 6),
          { label: "best so far", stroke: PALETTE[1], width: 2, points: { show: false } }] },
        [xs, values, bests], target);
    } else {
      const told = trials.filter((t) => t.values).sort((a, b) => a.values[0] - b.values[0]);
      const onFront = (t) => found.front.includes(t.index);
      plot("search", { width: width(), height: 360, mode: 1, scales: { x: { time: false } },
        axes: [{ label: names[0] }, { label: names[1] }],
        series: [{ label: names[0] }, dots("trials", PALETTE[0], 6),
          dots("Pareto front", PALETTE[1], 10)] },
        [told.map((t) => t.values[0]), told.map((t) => t.values[1]),
          told.map((t) => (onFront(t) ? t.values[1] : null))], target);
    }
    const rows = trials.filter((t) => found.front.includes(t.index)).map((t) =>
      el("tr", {}, [el("td", { text: String(t.index) }),
        ...t.values.map((v) => el("td", { text: fmt(v) }))]));
    front.replaceChildren(el("table", { class: "diff" }, [el("thead", {}, [el("tr", {}, [
      el("th", { text: names.length === 1 ? "best trial" : "Pareto front: trial" }),
      ...names.map((n) => el("th", { text: n }))])]), el("tbody", {}, rows)]));
  }

  // ---- tabs -----------------------------------------------------------------------------
  const VIEWS = { runs: () => {}, scatter: renderScatter, parallel: renderParallel,
    heatmap: renderHeatmap, curves: renderCurves, diff: renderDiff, run: renderRun,
    search: renderSearch };
  function renderViews() { VIEWS[state.tab](); save(); }
  function show(tab) {
    state.tab = TABS.includes(tab) ? tab : "runs";
    for (const button of document.querySelectorAll("nav button")) {
      button.classList.toggle("active", button.dataset.tab === state.tab);
    }
    for (const section of document.querySelectorAll("main > section")) {
      section.hidden = section.id !== state.tab;
    }
    if (state.tab === "runs") drawRows();
    renderViews();
  }
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => show(button.dataset.tab));
  }
  const MENUS = { "parallel-colour": ["parallel", "colour"], "parallel-series": ["parallel", "series"], "scatter-x": ["scatter", "x"],
    "scatter-y": ["scatter", "y"], "heat-sweep": ["heat", "sweep"], "heat-x": ["heat", "x"],
    "heat-y": ["heat", "y"], "heat-metric": ["heat", "metric"], "curves-group": ["curves", "group"],
    "curves-band": ["curves", "band"], "curves-x": ["curves", "x"], "run-id": [null, "run"] };
  for (const [id, [view, field]] of Object.entries(MENUS)) {
    document.getElementById(id).addEventListener("change", (event) => {
      (view ? state[view] : state)[field] = event.target.value;
      renderViews();
    });
  }
  document.getElementById("curves-smooth").addEventListener("input", (event) => {
    curves.smooth = Number(event.target.value); renderViews();
  });
  for (const [id, field] of [["curves-ymin", "ymin"], ["curves-ymax", "ymax"]]) {
    document.getElementById(id).addEventListener("change", (event) => {
      const value = event.target.value === "" ? null : Number(event.target.value);
      curves[field] = isNum(value) ? value : null; renderViews();
    });
  }
  for (const [id, field] of [["curves-log", "log"], ["curves-every", "every"]]) {
    document.getElementById(id).addEventListener("change", (event) => {
      curves[field] = event.target.checked; curves.full = {}; renderViews();
    });
  }
  document.getElementById("diff-add").addEventListener("change", (event) => {
    if (BY_ID.has(event.target.value)) state.chosen = [...state.chosen, event.target.value].slice(-DIFF_MAX);
    renderViews();
  });
  document.getElementById("diff-only").addEventListener("change", renderDiff);
  document.getElementById("search-sweep").addEventListener("change", (event) => {
    state.search = { sweep: event.target.value };
    renderViews();
  });
  renderTable();
  scroller.scrollTop = state.scroll || 0;
  show(state.tab);
  window.expmanReport.renderedAt = performance.now(); // ms since navigation began
  document.body.dataset.ready = "1";
})();
