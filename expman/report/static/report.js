// expman report: one page over the runs of an archive. Data: the JSON in #expman-data.
// Views: runs (a virtual table, sortable and filterable), scatter, parallel coordinates,
// heatmap, curves, diff and search (an adaptive search's best so far or Pareto front).
// The state of the controls survives the page's reloads (`expman report --watch`) in
// sessionStorage. Nothing here makes a network request.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("expman-data").textContent);
  const RUNS = DATA.runs;
  const BY_ID = new Map(RUNS.map((r) => [r.id, r]));
  const ROW = 26; // px, as in the stylesheet
  const PALETTE = ["#2463b0", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285",
    "#e67700", "#5c940d", "#364fc7", "#a61e4d"];
  const KEY = "expman-report:" + DATA.archive;
  const state = Object.assign(
    { tab: "runs", sort: { key: "id", desc: false }, filter: "", status: "", chosen: [],
      scatter: {}, parallel: {}, heat: {}, curves: {}, diff: {}, scroll: 0 },
    load());
  const charts = {}; // the uPlot instances, by view: tests and curious users read them
  window.expmanReport = { charts: charts, state: state };

  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "{}"); } catch (e) { return {}; }
  }
  function save() {
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
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
  function options(select, values, chosen) {
    select.replaceChildren(...values.map((v) => el("option", { value: v, text: v })));
    if (values.includes(chosen)) select.value = chosen;
    return select.value;
  }

  // ---- columns ---------------------------------------------------------------------
  const names = (field) => [...new Set(RUNS.flatMap((r) => Object.keys(r[field] || {})))].sort();
  const VARS = names("vars");
  const METRICS = names("metrics");
  const SERIES = names("series");
  const COLUMNS = [
    { key: "id", label: "run", get: (r) => r.id },
    { key: "status", label: "status", get: (r) => r.status },
    { key: "tags", label: "tags", get: (r) => r.tags.join(" ") },
    { key: "hypothesis", label: "hypothesis", get: (r) => r.hypothesis },
    ...VARS.map((n) => ({ key: "vars." + n, label: n, get: (r) => r.vars[n] })),
    ...METRICS.map((n) => ({ key: "metrics." + n, label: n, get: (r) => r.metrics[n] })),
    ...SERIES.flatMap((n) => ["last", "min"].map((s) => ({
      key: "series." + n + "." + s, label: n + " (" + s + ")",
      get: (r) => (r.series[n] || {})[s] }))),
    { key: "observations", label: "observations", get: (r) => r.observations },
    { key: "notes", label: "notes", get: (r) => r.notes.join(" · ") },
    { key: "started", label: "started", get: (r) => r.started },
    { key: "duration", label: "duration (s)", get: (r) => r.duration },
  ];
  const NUMERIC = COLUMNS.filter((c) => c.key !== "id" && RUNS.some((r) => isNum(c.get(r))));
  const TEXT = RUNS.map((r) => [r.id, r.status, r.tags.join(" "), r.hypothesis, r.observations,
    ...r.notes,
    ...Object.entries(r.vars).map(([k, v]) => k + "=" + fmt(v)),
    ...Object.entries(r.metrics).map(([k, v]) => k + "=" + fmt(v))].join("\u0001").toLowerCase());
  const INDEX = new Map(RUNS.map((r, i) => [r.id, i]));

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
  function renderTable() {
    current = shown();
    document.getElementById("count").textContent =
      current.length + " of " + RUNS.length + " runs";
    const head = el("tr", {}, [el("th", { text: "diff", title: "choose two runs to compare" }),
      ...COLUMNS.map((c) => el("th", {
        text: c.label, "data-key": c.key, title: c.key,
        class: state.sort.key === c.key ? (state.sort.desc ? "sorted-desc" : "sorted-asc") : "",
        onclick: () => {
          state.sort = { key: c.key, desc: state.sort.key === c.key ? !state.sort.desc : false };
          save(); renderTable(); renderViews();
        },
      }))]);
    table.tHead.replaceChildren(head);
    drawRows();
  }
  function cell(column, run) {
    const value = column.get(run);
    if (column.key === "id") {
      return el("td", {}, [el("a", { href: run.folder, text: run.id }), " ",
        el("a", { href: run.logs, text: "logs", class: "logs" })]);
    }
    if (column.key === "status") return el("td", { class: "status-" + value, text: value });
    if (column.key === "tags") return el("td", {}, run.tags.map((t) => el("span", { class: "tag", text: t })));
    return el("td", { class: isNum(value) ? "num" : "", text: fmt(value), title: fmt(value) });
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
      rows.push(el("tr", { "data-id": run.id }, [el("td", {}, [box]),
        ...COLUMNS.map((c) => cell(c, run))]));
    }
    rows.push(el("tr", { style: "height:" + (current.length - last) * ROW + "px", class: "spacer" }));
    table.tBodies[0].replaceChildren(...rows);
  }
  function choose(id, on) {
    state.chosen = state.chosen.filter((x) => x !== id);
    if (on) state.chosen.push(id);
    state.chosen = state.chosen.slice(-2);
    if (state.chosen.length === 2) state.diff = { a: state.chosen[0], b: state.chosen[1] };
    save(); drawRows();
  }
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
    return positive.length > 1 && positive.every((v) => v > 0) &&
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
      scales: { x: { time: false, distr: logScale(data[0]) ? 3 : 1 } },
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
    const axes = NUMERIC.filter((c) => (c.key.startsWith("vars.") || c.key.startsWith("metrics.")) &&
      varies(c)).slice(0, 12);
    const metricAxes = axes.filter((a) => !a.key.startsWith("vars.")).map((a) => a.key);
    state.parallel = state.parallel || {};
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
    const pad = 70, top = 50, bottom = h - 30, step = (w - 2 * pad) / (axes.length - 1);
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
      ctx.fillText(a.label, x, top - 24);
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

  function renderCurves() {
    const target = document.getElementById("curves-chart");
    const legend = document.getElementById("curves-legend");
    const metrics = Object.keys(DATA.curves).sort();
    legend.replaceChildren();
    if (!metrics.length) return empty(target, "No run logged metric series ($EXPMAN_METRICS).");
    state.curves.metric = options(document.getElementById("curves-metric"), metrics, state.curves.metric);
    const curve = DATA.curves[state.curves.metric];
    const runs = shown().filter((r) => curve.runs[r.id]).slice(0, 100);
    const varying = VARS.filter((n) => new Set(runs.map((r) => fmt(r.vars[n]))).size > 1);
    state.curves.group = options(document.getElementById("curves-group"), ["run", ...VARS],
      state.curves.group || varying[0] || "run");
    if (!runs.length) return empty(target, "No shown run has this metric.");
    const groupOf = (r) => (state.curves.group === "run" ? r.id : fmt(r.vars[state.curves.group]));
    const groups = [...new Set(runs.map(groupOf))];
    const colour = (g) => PALETTE[groups.indexOf(g) % PALETTE.length];
    plot("curves", {
      width: width(), height: 420, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: state.curves.metric }],
      series: [{ label: "step" }, ...runs.map((r) => ({ label: r.id + " " + groupOf(r),
        stroke: colour(groupOf(r)), width: 1.5, spanGaps: true, points: { show: false } }))],
    }, [curve.steps, ...runs.map((r) => curve.runs[r.id])], target);
    legend.replaceChildren(...groups.slice(0, 40).map((g) => {
      const item = el("span", { text: (state.curves.group === "run" ? "run " : state.curves.group + "=") + g });
      item.style.setProperty("--swatch", colour(g));
      return item;
    }));
  }

  function renderDiff() {
    const target = document.getElementById("diff-table");
    const ids = shown().map((r) => r.id);
    if (ids.length < 1) return empty(target, "No runs.");
    const a = options(document.getElementById("diff-a"), ids, state.diff.a || ids[Math.max(0, ids.length - 2)]);
    const b = options(document.getElementById("diff-b"), ids, state.diff.b || ids[ids.length - 1]);
    state.diff = { a, b };
    const only = document.getElementById("diff-only").checked;
    const flat = (run) => {
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
    };
    const left = flat(BY_ID.get(a)), right = flat(BY_ID.get(b));
    const keyOf = (row) => row[0] + "\u0001" + row[1];
    const rightMap = new Map(right.map((r) => [keyOf(r), r[2]]));
    const leftMap = new Map(left.map((r) => [keyOf(r), r[2]]));
    const keys = [...new Set([...left, ...right].map(keyOf))];
    const rows = keys.map((k) => {
      const [section, key] = k.split("\u0001");
      const x = fmt(leftMap.get(k)), y = fmt(rightMap.get(k));
      const changed = x !== y;
      if (only && !changed) return null;
      return el("tr", { class: changed ? "changed" : "", "data-key": section + "." + key }, [
        el("td", { class: "section", text: section }), el("td", { class: "key", text: key || section }),
        el("td", { text: x }), el("td", { text: y })]);
    }).filter(Boolean);
    target.replaceChildren(el("table", { class: "diff" }, [el("thead", {}, [el("tr", {}, [
      el("th", { text: "" }), el("th", { text: "" }), el("th", { text: "run " + a }),
      el("th", { text: "run " + b })])]), el("tbody", {}, rows)]));
    if (!rows.length) target.append(el("div", { class: "empty", text: "No differences." }));
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
    heatmap: renderHeatmap, curves: renderCurves, diff: renderDiff, search: renderSearch };
  function renderViews() { VIEWS[state.tab](); save(); }
  function show(tab) {
    state.tab = VIEWS[tab] ? tab : "runs";
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
  for (const id of ["parallel-colour", "scatter-x", "scatter-y", "heat-sweep", "heat-x", "heat-y", "heat-metric",
    "curves-metric", "curves-group", "diff-a", "diff-b"]) {
    document.getElementById(id).addEventListener("change", (event) => {
      const [view, field] = { "parallel-colour": ["parallel", "colour"], "scatter-x": ["scatter", "x"], "scatter-y": ["scatter", "y"],
        "heat-sweep": ["heat", "sweep"], "heat-x": ["heat", "x"], "heat-y": ["heat", "y"],
        "heat-metric": ["heat", "metric"], "curves-metric": ["curves", "metric"],
        "curves-group": ["curves", "group"], "diff-a": ["diff", "a"], "diff-b": ["diff", "b"] }[id];
      state[view][field] = event.target.value;
      renderViews();
    });
  }
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
