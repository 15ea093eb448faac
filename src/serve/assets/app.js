// The page of `event-publisher serve`. Everything an agent wrote (names,
// attributes, ids, errors) is agent-controlled: it reaches the DOM only as
// textContent, never as HTML. The state of the view lives in the URL.
"use strict";

const FILTERS = ["session", "agent", "name", "validity", "q"];
const PAGE = 100;
const MAX_ROWS = 2000;
const ATTR_MAX = 80;
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function params() { return new URLSearchParams(location.search); }

function truncate(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function agentLabel(r) {
  const s = r.source || {};
  if (!s.agent_id) return "main";
  return (s.agent_type || "agent") + " / " + s.agent_id.slice(0, 8);
}

function valueText(v) { return typeof v === "string" ? v : JSON.stringify(v); }

function duration(ms) {
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}

// ---- the detail panel -------------------------------------------------
function showRecord(record, valid) {
  $("detail-title").textContent = (record.name || "(no name)") + (valid ? "" : " — invalid");
  $("detail-json").textContent = JSON.stringify(record, null, 2);
  $("detail").hidden = false;
}
$("close-detail").addEventListener("click", () => { $("detail").hidden = true; });

// ---- the timeline -----------------------------------------------------
const timeline = { seen: new Set(), next: null, source: null, head: null, pulse: null };

function filterQuery(p) {
  const q = new URLSearchParams();
  for (const k of FILTERS) {
    const v = p.get(k);
    if (v) q.set(k, v);
  }
  if (!q.get("validity")) q.set("validity", "all");
  return q;
}

function row(item, fresh) {
  const r = item.record;
  const tr = el("tr", item.valid ? "row" : "row invalid");
  if (fresh) tr.classList.add("fresh");
  tr.dataset.id = r.id;
  tr.dataset.position = item.cursor || "";
  tr.appendChild(el("td", "time", r.timestamp));
  tr.appendChild(el("td", "name", (item.valid ? "" : "✗ ") + (r.name || "(no name)")));
  tr.appendChild(el("td", "agent", agentLabel(r)));
  const attrs = el("td", "attrs");
  if (!item.valid) {
    const errs = (r.errors || []).map((e) => "[" + e.kind + "] " + (e.instance_path ? e.instance_path + ": " : "") + e.message);
    attrs.appendChild(el("div", "errors", truncate(errs.join("; "), 300)));
  }
  for (const [k, v] of Object.entries(r.attributes || {})) {
    const span = el("span", "attr");
    span.appendChild(el("span", "k", k + "="));
    span.appendChild(el("span", "v", truncate(valueText(v), ATTR_MAX)));
    attrs.appendChild(span);
  }
  tr.appendChild(attrs);
  tr.addEventListener("click", () => showRecord(r, item.valid));
  return tr;
}

function addRows(items, atTop) {
  const body = $("rows");
  const frag = document.createDocumentFragment();
  for (const item of items) {
    if (timeline.seen.has(item.record.id)) continue;
    timeline.seen.add(item.record.id);
    frag.appendChild(row(item, atTop));
  }
  if (atTop) body.insertBefore(frag, body.firstChild); else body.appendChild(frag);
  // Never more than MAX_ROWS in the page: the oldest go (and can be loaded again).
  let trimmed = false;
  while (body.children.length > MAX_ROWS) {
    timeline.seen.delete(body.lastChild.dataset.id);
    body.removeChild(body.lastChild);
    trimmed = true;
  }
  if (trimmed && body.lastChild.dataset.position) {
    timeline.next = body.lastChild.dataset.position;
    $("older").hidden = false;
  }
  $("empty").hidden = body.children.length > 0;
}

async function loadPage() {
  const q = filterQuery(params());
  q.set("limit", PAGE);
  if (timeline.next) q.set("cursor", timeline.next);
  const page = await getJSON("/api/events?" + q);
  if (timeline.head === null) timeline.head = page.head || "";
  addRows(page.events, false);
  timeline.next = page.next;
  $("older").hidden = !page.next;
}

function connect() {
  if (timeline.source) timeline.source.close();
  const q = filterQuery(params());
  if (timeline.head) q.set("after", timeline.head);
  const src = new EventSource("/api/stream?" + q);
  timeline.source = src;
  src.onopen = () => { $("live").textContent = "live"; $("live").className = "live on"; };
  src.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live off"; };
  src.onmessage = (m) => {
    let record;
    try { record = JSON.parse(m.data); } catch (_) { return; }
    const valid = !(record.errors && record.errors.length);
    addRows([{ record, valid }], true);
    pulseAdd(record);
  };
}

// ---- the pulse chart: events per minute over the last hour, by name ---
async function loadPulse() {
  const q = filterQuery(params());
  q.set("minutes", "60");
  timeline.pulse = await getJSON("/api/pulse?" + q);
  drawPulse();
}

function pulseAdd(record) {
  const p = timeline.pulse;
  if (!p) return;
  const i = Math.floor((Date.parse(record.timestamp) - Date.parse(p.start)) / 60000);
  if (i < 0 || i >= p.minutes) return;
  const name = record.name || "(no name)";
  if (!p.counts[name]) { p.counts[name] = new Array(p.minutes).fill(0); p.names.push(name); }
  p.counts[name][i] += 1;
  drawPulse();
}

function drawPulse() {
  const p = timeline.pulse;
  const bars = $("pulse-bars");
  const legend = $("pulse-legend");
  bars.replaceChildren();
  legend.replaceChildren();
  const names = p.names.slice(0, 5);
  const colour = (n) => "c" + (names.indexOf(n) >= 0 ? names.indexOf(n) : 5);
  let max = 1;
  const totals = new Array(p.minutes).fill(0);
  for (const n of p.names) p.counts[n].forEach((c, i) => { totals[i] += c; });
  totals.forEach((t) => { max = Math.max(max, t); });
  for (let i = 0; i < p.minutes; i++) {
    const col = el("div", "minute");
    col.title = totals[i] + " events";
    for (const n of p.names) {
      const c = p.counts[n][i];
      if (!c) continue;
      const seg = el("div", colour(n));
      seg.style.height = (100 * c / max) + "%";
      seg.title = n + ": " + c;
      col.appendChild(seg);
    }
    bars.appendChild(col);
  }
  for (const n of names) {
    const s = el("span");
    s.appendChild(el("i", colour(n)));
    s.appendChild(document.createTextNode(n));
    legend.appendChild(s);
  }
  if (p.names.length > names.length) {
    const s = el("span"); s.appendChild(el("i", "c5")); s.appendChild(document.createTextNode("others"));
    legend.appendChild(s);
  }
  legend.appendChild(el("span", null, "max " + max + "/min, last " + p.minutes + " min"));
}

function showTimeline() {
  const p = params();
  const form = $("filters");
  for (const k of FILTERS) form.elements[k].value = p.get(k) || (k === "validity" ? "all" : "");
  timeline.seen.clear();
  timeline.next = null;
  timeline.head = null;
  $("rows").replaceChildren();
  loadPage().then(connect).then(() => { document.body.dataset.ready = "timeline"; }).catch(fail);
  loadPulse().catch(fail);
}

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = new URLSearchParams();
  q.set("view", "timeline");
  const form = $("filters");
  for (const k of FILTERS) {
    const v = form.elements[k].value.trim();
    if (v && !(k === "validity" && v === "all")) q.set(k, v);
  }
  go("?" + q);
});
$("clear").addEventListener("click", () => go("?view=timeline"));
$("older").addEventListener("click", () => loadPage().catch(fail));

// ---- sessions -----------------------------------------------------------
let sessionOffset = 0;
async function loadSessions() {
  const page = await getJSON("/api/sessions?limit=" + PAGE + "&offset=" + sessionOffset);
  const body = $("session-rows");
  for (const s of page.sessions) {
    const tr = el("tr", "session-row");
    tr.dataset.id = s.id;
    tr.appendChild(el("td", "name", s.id));
    tr.appendChild(el("td", "time", s.start || ""));
    tr.appendChild(el("td", null, duration(s.duration_ms)));
    tr.appendChild(el("td", null, s.events));
    tr.appendChild(el("td", s.invalid ? "errors" : null, s.invalid));
    tr.appendChild(el("td", null, s.runs));
    tr.appendChild(el("td", "agent", s.agent_types.join(", ")));
    tr.addEventListener("click", () => go("?view=session&id=" + encodeURIComponent(s.id)));
    body.appendChild(tr);
  }
  sessionOffset += page.sessions.length;
  $("more-sessions").hidden = sessionOffset >= page.total;
}
$("more-sessions").addEventListener("click", () => loadSessions().catch(fail));

// ---- one session: the waterfall ---------------------------------------
async function showSession(id) {
  const s = await getJSON("/api/sessions/" + encodeURIComponent(id));
  $("session-title").textContent = "session " + (s.session_id || s.trace_id);
  $("session-meta").textContent = s.start + " · " + duration(s.duration_ms) + " · " + s.events +
    " events" + (s.invalid ? ", " + s.invalid + " invalid" : "") + (s.truncated ? " (first events only)" : "");
  const wf = $("waterfall");
  wf.replaceChildren();
  const t = (ts) => Date.parse(ts);
  let t0 = Infinity, t1 = -Infinity;
  for (const r of s.runs) { t0 = Math.min(t0, t(r.start)); t1 = Math.max(t1, t(r.end)); }
  const span = Math.max(t1 - t0, 1);
  const pct = (ts) => (100 * (t(ts) - t0) / span) + "%";
  const width = (a, b) => (100 * Math.max(t(b) - t(a), 0) / span) + "%";

  const axis = el("div", "axis");
  axis.appendChild(el("span", null, "0"));
  axis.appendChild(el("span", null, duration(t1 - t0)));
  wf.appendChild(axis);

  // Nesting: a run under the run holding its parent span, else the run of
  // the event that caused it.
  const bySpan = new Map(s.runs.map((r) => [r.span_id, r]));
  const spanOfEvent = new Map();
  for (const r of s.runs) for (const e of r.events) {
    spanOfEvent.set(e.record.span_id, r.span_id);
  }
  const parentOf = (r) => {
    for (const p of [r.parent_span_id, r.caused_by_span_id]) {
      if (p && bySpan.has(p) && p !== r.span_id) return p;
      if (p && spanOfEvent.has(p) && spanOfEvent.get(p) !== r.span_id) return spanOfEvent.get(p);
    }
    return null;
  };
  const children = new Map();
  const roots = [];
  for (const r of s.runs) {
    const p = parentOf(r);
    if (p) { if (!children.has(p)) children.set(p, []); children.get(p).push(r); } else roots.push(r);
  }
  const lane = (label, depth, cls) => {
    const l = el("div", "lane " + (cls || ""));
    const lab = el("div", "lane-label", label);
    lab.style.paddingLeft = (depth * 16) + "px";
    l.appendChild(lab);
    const track = el("div", "lane-track");
    l.appendChild(track);
    wf.appendChild(l);
    return [l, track];
  };
  const [, sessionTrack] = lane("session", 0, "session-lane");
  const sb = el("div", "run-bar session-bar");
  sb.style.left = "0%"; sb.style.width = "100%";
  sessionTrack.appendChild(sb);

  const pairsBySpan = new Map();
  for (const p of s.pairs) {
    if (!pairsBySpan.has(p.span_id)) pairsBySpan.set(p.span_id, []);
    pairsBySpan.get(p.span_id).push(p);
  }
  const seen = new Set();
  const draw = (r, depth) => {
    if (seen.has(r.span_id)) return;
    seen.add(r.span_id);
    const label = r.agent_id ? (r.agent_type || "agent") + " " + r.agent_id : "main agent";
    const [l, track] = lane(label, depth, "run-lane");
    l.dataset.span = r.span_id;
    l.dataset.agent = r.agent_type || "main";
    l.dataset.depth = depth;
    const bar = el("div", "run-bar" + (r.bounds === "lifecycle" ? " lifecycle" : ""));
    bar.style.left = pct(r.start);
    bar.style.width = width(r.start, r.end);
    bar.title = label + ": " + duration(t(r.end) - t(r.start)) + " (" + r.bounds + ")";
    track.appendChild(bar);
    for (const p of pairsBySpan.get(r.span_id) || []) {
      const end = p.end || r.end;
      const b = el("div", "pair" + (p.failed ? " failed" : "") + (p.end ? "" : " open"));
      b.style.left = pct(p.start);
      b.style.width = width(p.start, end);
      b.title = p.name + (p.end ? ": " + duration(t(p.end) - t(p.start)) : ": unfinished") + (p.failed ? " (failed)" : "");
      track.appendChild(b);
    }
    for (const e of r.events) {
      const m = el("div", "mark" + (e.valid ? "" : " invalid"));
      m.style.left = pct(e.record.timestamp);
      m.title = (e.record.name || "(no name)") + " +" + duration(e.offset_ms);
      m.dataset.id = e.record.id;
      m.addEventListener("click", () => showRecord(e.record, e.valid));
      track.appendChild(m);
    }
    for (const c of children.get(r.span_id) || []) draw(c, depth + 1);
  };
  for (const r of roots) draw(r, 1);
  for (const r of s.runs) draw(r, 1);
  document.body.dataset.ready = "session";
}

// ---- routing --------------------------------------------------------------
function go(url) { history.pushState(null, "", url); render(); }
window.addEventListener("popstate", render);

function fail(e) {
  const p = el("p", "errors", "Error: " + e.message);
  document.querySelector("main").prepend(p);
}

function render() {
  delete document.body.dataset.ready;
  const p = params();
  const view = p.get("view") || "timeline";
  for (const v of ["timeline", "sessions", "session"]) $(v).hidden = v !== view;
  $("nav-timeline").classList.toggle("current", view === "timeline");
  $("nav-sessions").classList.toggle("current", view !== "timeline");
  if (view !== "timeline" && timeline.source) { timeline.source.close(); timeline.source = null; }
  if (view === "timeline") showTimeline();
  if (view === "sessions") {
    sessionOffset = 0;
    $("session-rows").replaceChildren();
    loadSessions().then(() => { document.body.dataset.ready = "sessions"; }).catch(fail);
  }
  if (view === "session") showSession(p.get("id") || "").catch(fail);
}

for (const a of document.querySelectorAll("nav a")) {
  a.addEventListener("click", (e) => { e.preventDefault(); go(a.getAttribute("href")); });
}
render();
