// The ftsr dashboard page: renders the cluster model pushed by
// /api/stream (server-sent events) and draws trace waterfalls from
// /api/trace. No framework: plain DOM.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "onclick") e.addEventListener("click", v);
    else e[k] = v;
  }
  for (const c of children)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function clock(ns) {
  const d = new Date(ns / 1e6);
  return d.toISOString().substring(11, 23);
}

function ms(ns) {
  const v = ns / 1e6;
  return v < 10 ? v.toFixed(2) + " ms" : v.toFixed(0) + " ms";
}

function renderNodes(m) {
  const box = $("nodes");
  box.replaceChildren();
  for (const n of m.nodes) {
    const detail = n.reason || (n.answered ? "" : n.error);
    box.append(el("div", { class: "node health-" + n.state, "data-node": n.name },
      el("div", { class: "name" }, n.name, " ",
         el("span", { class: "state state-" + n.state }, n.state)),
      el("div", {}, "incarnation ", n.incarnation),
      el("div", { class: "detail" }, n.address),
      detail ? el("div", { class: "detail" }, detail) : ""));
  }
}

function renderGroups(m) {
  const body = $("groups").tBodies[0];
  body.replaceChildren();
  for (const g of m.groups)
    body.append(el("tr", { "data-group": g.id },
      el("td", {}, g.name || g.id), el("td", {}, g.type),
      el("td", {}, g.view), el("td", {}, g.primary || "?"),
      el("td", {}, g.seqno), el("td", {}, g.members.join(" ")),
      el("td", {}, g.serving ? "yes" : "no")));
  if (!m.groups.length)
    body.append(el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "no groups")));
}

function renderActors(m) {
  const body = $("actors").tBodies[0];
  body.replaceChildren();
  for (const a of m.actors)
    body.append(el("tr", { "data-actor": a.id },
      el("td", {}, a.id), el("td", {}, a.type), el("td", {}, a.node),
      el("td", {}, a.incarnation), el("td", {}, a.generation),
      el("td", {}, a.state), el("td", {}, a.nodes.join(" "))));
  if (!m.actors.length)
    body.append(el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "no persistent actors")));
}

function phase(cls, text) {
  return el("span", { class: "phase " + cls }, text);
}

function arrow() {
  return el("span", { class: "arrow" }, "→");
}

function renderTimeline(m) {
  const box = $("timeline");
  if (!m.failures.length) {
    box.replaceChildren(el("p", { class: "empty" }, "no failure so far"));
    return;
  }
  box.replaceChildren();
  for (const f of [...m.failures].reverse()) {
    const t0 = f.detected_ns;
    const phases = el("div", { class: "phases" },
      phase("phase-detected", "detected " + clock(t0) + " by " + f.detected_by));
    phases.append(arrow());
    if (f.monitors_fired > 0)
      phases.append(phase("phase-monitors", f.monitors_fired + " monitor(s) fired +" + ms(f.monitors_ns - t0)));
    else if (f.removed_ns)
      phases.append(phase("phase-monitors", "fail-stop notified +" + ms(f.removed_ns - t0)));
    else
      phases.append(phase("phase-monitors pending", "notification pending"));
    if (!f.restarts.length) {
      phases.append(arrow(), phase("phase-restart pending", "no persistent actor to restart"));
    }
    for (const r of f.restarts) {
      phases.append(arrow(),
        phase("phase-restart", "restarted " + r.actor + " on " + r.node + " +" + ms(r.restarted_ns - t0)),
        arrow(),
        r.recovered_ns
          ? phase("phase-recovered", "recovery " + (r.outcome || "done") + " +" + ms(r.recovered_ns - t0)
                  + " (" + ms(r.recovered_ns - r.restarted_ns) + ")")
          : phase("phase-recovered pending", "recovery running"));
    }
    box.append(el("div", { class: "failure", "data-member": f.member },
      el("span", { class: "title" }, "node " + f.member + " failed"),
      el("span", { class: "detail" }, " — " + f.reason),
      el("a", { class: "trace-link", onclick: () => showTrace(f.trace) }, "trace"),
      ...f.restarts.map((r) => el("a", { class: "trace-link", onclick: () => showTrace(r.trace) }, "restart trace")),
      phases));
  }
}

function renderEvents(m) {
  const body = $("events").tBodies[0];
  body.replaceChildren();
  for (const e of m.events.slice(-60).reverse())
    body.append(el("tr", { class: "event-" + e.kind },
      el("td", {}, clock(e.start_ns)), el("td", {}, e.reporter),
      el("td", {}, e.kind), el("td", {}, e.name), el("td", {}, e.detail)));
}

// What each panel showed last: a panel is redrawn only when its part of the
// model changed (the stream sends the model several times a second; redrawing
// unchanged panels would lose the user's clicks and selections).
const shown = {};

function changed(key, value) {
  const text = JSON.stringify(value);
  if (shown[key] === text) return false;
  shown[key] = text;
  return true;
}

function render(m) {
  $("cluster-name").textContent = m.cluster;
  $("view-info").textContent = "view " + m.view + (m.view_source ? " (as " + m.view_source + " sees it)" : "");
  if (changed("nodes", m.nodes)) renderNodes(m);
  if (changed("failures", m.failures)) renderTimeline(m);
  if (changed("groups", m.groups)) renderGroups(m);
  if (changed("actors", m.actors)) renderActors(m);
  if (changed("events", m.events.slice(-60))) renderEvents(m);
}

// -- traces ---------------------------------------------------------------

let selectedTrace = "";

async function loadTraces() {
  const r = await fetch("/api/traces?limit=100");
  if (!r.ok) return;
  const { traces } = await r.json();
  const sel = $("trace-select");
  sel.replaceChildren(el("option", { value: "" }, "— " + traces.length + " traces —"));
  for (const t of traces)
    sel.append(el("option", { value: t.trace },
      clock(t.start_ns) + "  " + t.kind + " " + t.name + "  (" + t.spans + " spans, "
      + t.nodes.join(" ") + (t.failed ? ", failed" : "") + ")"));
  sel.value = selectedTrace;
  // Without a choice yet: the newest trace that crossed nodes, or the newest.
  if (!selectedTrace && traces.length) {
    const multi = traces.find((t) => t.nodes.length > 1);
    showTrace((multi || traces[0]).trace);
  }
}

async function showTrace(id) {
  selectedTrace = id;
  $("trace-select").value = id;
  const r = await fetch("/api/trace?id=" + encodeURIComponent(id));
  const body = await r.json();
  if (!r.ok) {
    $("waterfall").replaceChildren(el("p", { class: "empty" }, body.error));
    return;
  }
  drawWaterfall(body.spans);
  $("export-chrome").href = "/api/export?format=chrome&trace=" + id;
  $("export-otlp").href = "/api/export?format=otlp&trace=" + id;
}

function drawWaterfall(spans) {
  const byId = new Map(spans.map((s) => [s.span, s]));
  const depth = (s) => {
    let d = 0;
    for (let p = byId.get(s.parent); p && d < 32; p = byId.get(p.parent)) d++;
    return d;
  };
  const t0 = Math.min(...spans.map((s) => s.start_ns));
  const t1 = Math.max(...spans.map((s) => Math.max(s.end_ns, s.start_ns)));
  const total = Math.max(t1 - t0, 1);
  const box = $("waterfall");
  box.replaceChildren(el("div", { class: "wf-axis" },
    el("span", {}, clock(t0)), el("span", {}, "+" + ms(total))));
  // Parents before children, then by start.
  const ordered = [...spans].sort((a, b) => a.start_ns - b.start_ns || depth(a) - depth(b));
  for (const s of ordered) {
    const instant = s.end_ns <= s.start_ns;
    const left = ((s.start_ns - t0) / total) * 100;
    const width = instant ? 0 : ((s.end_ns - s.start_ns) / total) * 100;
    const failed = s.failed;
    const bar = el("div", {
      class: "span-bar" + (instant ? " instant" : "") + (failed ? " failed" : ""),
      title: s.kind + " " + s.name + " on " + s.node + (s.detail ? " — " + s.detail : "")
        + (s.group_view ? " (view " + s.group_view + ")" : "")
        + (instant ? "" : " (" + ms(s.end_ns - s.start_ns) + ")"),
    });
    bar.style.left = Math.min(left, 99.5) + "%";
    if (!instant) bar.style.width = Math.max(width, 0.3) + "%";
    box.append(el("div", { class: "wf-row", "data-kind": s.kind },
      el("div", { class: "wf-label" }, "\u00a0".repeat(2 * depth(s)) + s.kind + " " + s.name + " @" + s.node),
      el("div", { class: "wf-track" }, bar)));
  }
}

$("trace-select").addEventListener("change", (e) => { if (e.target.value) showTrace(e.target.value); });
$("trace-refresh").addEventListener("click", loadTraces);

// -- live updates -----------------------------------------------------------

function connect() {
  const live = $("live");
  const es = new EventSource("/api/stream");
  es.addEventListener("model", (e) => {
    live.className = "live-on";
    live.textContent = "live";
    render(JSON.parse(e.data));
  });
  es.onerror = () => {
    live.className = "live-off";
    live.textContent = "reconnecting…";
  };
}

fetch("/api/cluster").then((r) => r.json()).then(render).catch(() => {});
connect();
loadTraces();
setInterval(loadTraces, 5000);
