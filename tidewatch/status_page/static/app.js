// Tidewatch status page: polls api/status and renders it. No dependencies, no CDN.
"use strict";

const REFRESH_MS = 2000;
const SHOWN_WINDOWS = ["5m", "1h", "6h", "3d"];
let previous = null; // last payload, for per-second rates

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "title") node.title = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text, kind) { return el("span", { class: `badge ${kind}` }, text); }

function fmtNum(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fmtPct(ratio, digits = 2) {
  return ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(digits)}%`;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "—";
  if (s > 10 * 365 * 86400) return "∞";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function statusKind(status) {
  return { OK: "ok", WARN: "warn", REWIND: "warn", STALL: "bad", STOP: "bad" }[status] || "none";
}

function table(headers, rows) {
  const head = el("tr", {}, ...headers.map((h) => el("th", { class: h.text ? "text" : "" }, h.label || h)));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function fill(id, content) {
  const target = document.getElementById(id);
  target.replaceChildren();
  if (!content || (Array.isArray(content) && content.length === 0)) {
    if (target.dataset.empty) target.append(el("div", { class: "empty" }, target.dataset.empty));
    return;
  }
  target.append(...(Array.isArray(content) ? content : [content]));
}

function card(label, value, kind) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    el("div", { class: `value ${kind ? "" : ""}` }, kind ? badge(value, kind) : value));
}

function renderCards(data) {
  const cards = [];
  const slos = data.slos || [];
  const burning = slos.filter((s) => s.page.firing || s.ticket.firing).length;
  cards.push(card("SLOs", slos.length ? `${slos.length - burning}/${slos.length} healthy` : "none",
    burning ? "bad" : slos.length ? "ok" : null));
  const probe = (data.probes && data.probes.targets) || [];
  if (probe.length) {
    const availability = probe.map((t) => t.produce_availability_ratio).filter((v) => v !== null && v !== undefined);
    const worst = availability.length ? Math.min(...availability) : null;
    cards.push(card("Probe availability", fmtPct(worst), worst === null ? null : worst >= 0.999 ? "ok" : "bad"));
    const p99 = probe.map((t) => t.end_to_end_p99_seconds).filter((v) => v !== null && v !== undefined);
    cards.push(card("End-to-end p99", p99.length ? fmtSeconds(Math.max(...p99)) : "—"));
  }
  if (data.cluster) {
    const brokers = data.cluster.brokers;
    const alive = brokers.filter((b) => b.state === "alive").length;
    cards.push(card("Brokers alive", `${alive}/${brokers.length}`, alive === brokers.length ? "ok" : "bad"));
    const under = data.cluster.under_replicated_partitions + data.cluster.offline_partitions;
    cards.push(card("Under-replicated partitions", String(under), under ? "bad" : "ok"));
  }
  const groups = data.groups || [];
  const worstLag = groups.reduce((m, g) => Math.max(m, g.max_lag_seconds || 0), 0);
  cards.push(card("Worst consumer lag", groups.length ? fmtSeconds(worstLag) : "no groups"));
  const alerts = data.alerts || [];
  cards.push(card("Alerts firing", String(alerts.length), alerts.length ? "bad" : "ok"));
  fill("cards", cards);
}

function renderSlos(data) {
  const rows = (data.slos || []).map((s) => {
    const windows = Object.keys(s.burn_rate || {});
    const budget = s.error_budget_remaining_ratio;
    const width = Math.max(0, Math.min(1, budget)) * 100;
    const color = budget > 0.5 ? "var(--ok)" : budget > 0.1 ? "var(--warn)" : "var(--bad)";
    const bar = el("span", { class: "bar", title: fmtPct(budget) });
    bar.append(el("span", { style: `width:${width}%;background:${color}` }));
    const alert = s.page.firing ? badge("PAGE", "bad") : s.ticket.firing ? badge("TICKET", "warn") : badge("ok", "ok");
    return el("tr", {},
      el("td", { class: "text" }, `${s.service}/${s.slo}`),
      el("td", {}, `${s.objective_percent}%`),
      el("td", {}, fmtPct(s.sli_ratio, 3)),
      el("td", {}, bar, " ", fmtPct(budget, 1)),
      el("td", { class: "reason" }, windows.filter((w) => SHOWN_WINDOWS.includes(w))
        .map((w) => `${w} ${fmtNum(s.burn_rate[w], 2)}`).join(" · ")),
      el("td", {}, s.time_to_exhaustion_seconds === null ? "∞" : fmtSeconds(s.time_to_exhaustion_seconds)),
      el("td", {}, alert),
      el("td", {}, s.no_data ? badge("no data", "warn") : badge("data", "ok")));
  });
  fill("slos", rows.length ? table(["SLO", "objective", "SLI (period)", "budget left", { label: "burn rate (5m · 1h · 6h · 3d)", text: true }, "exhausted in", "alert", "data"], rows) : null);
  renderCharts(data);
}

const PALETTE = ["#2b6cb0", "#1f8a4c", "#b7791f", "#805ad5", "#c53030", "#2c7a7b", "#d53f8c", "#4a5568"];

function svgChart(series, { min = 0, max = null, percent = false, threshold = null }) {
  // series: [{label, points: [[t, v], ...]}]; draws one line per series.
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 400 140");
  svg.setAttribute("preserveAspectRatio", "none");
  const all = series.flatMap((s) => s.points).filter((p) => p[1] !== null && p[1] !== undefined);
  if (all.length < 2) {
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", "10"); text.setAttribute("y", "70"); text.setAttribute("fill", "#6b7385");
    text.textContent = "collecting history…";
    svg.append(text);
    return svg;
  }
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const values = all.map((p) => p[1]);
  const hi = max !== null ? max : Math.max(...values, threshold || 0, 1e-9) * 1.1;
  const x = (t) => 34 + ((t - t0) / Math.max(t1 - t0, 1)) * 360;
  const y = (v) => 125 - ((v - min) / Math.max(hi - min, 1e-9)) * 115;
  series.forEach((s, k) => {
    const pts = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
    if (pts.length < 2) return;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", PALETTE[k % PALETTE.length]);
    line.setAttribute("stroke-width", "2");
    const title = document.createElementNS(ns, "title");
    title.textContent = s.label;
    line.append(title);
    svg.append(line);
  });
  if (threshold !== null) {
    const rule = document.createElementNS(ns, "line");
    rule.setAttribute("x1", "34"); rule.setAttribute("x2", "395");
    rule.setAttribute("y1", y(threshold)); rule.setAttribute("y2", y(threshold));
    rule.setAttribute("stroke", "#c53030"); rule.setAttribute("stroke-dasharray", "4 3");
    svg.append(rule);
  }
  for (const value of [hi, min]) {
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", "0"); text.setAttribute("y", String(Math.min(135, Math.max(10, y(value) + 4))));
    text.setAttribute("font-size", "10"); text.setAttribute("fill", "#6b7385");
    text.textContent = percent ? fmtPct(value, 0) : fmtNum(value, 1);
    svg.append(text);
  }
  return svg;
}

function legend(series) {
  return el("div", { class: "legend" }, ...series.map((s, k) =>
    el("span", {}, el("i", { style: `background:${PALETTE[k % PALETTE.length]}` }), s.label)));
}

function renderCharts(data) {
  const history = data.slo_history || {};
  const slos = data.slos || [];
  if (!slos.length) { fill("slo-charts", null); return; }
  const budget = slos.map((s) => ({ label: s.slo, points: (history[s.id] || []).map((p) => [p[0], p[1]]) }));
  const burn = slos.map((s) => ({ label: s.slo, points: (history[s.id] || []).map((p) => [p[0], p[2]]) }));
  const lowest = Math.min(0, ...budget.flatMap((s) => s.points.map((p) => p[1])));
  fill("slo-charts", [
    el("div", { class: "chart" }, el("h3", {}, "Error budget remaining (last hours)"),
      svgChart(budget, { min: lowest, max: 1, percent: true }), legend(budget)),
    el("div", { class: "chart" }, el("h3", {}, "Burn rate over 1 h (dashed: page threshold 14.4)"),
      svgChart(burn, { threshold: 14.4 }), legend(burn)),
  ]);
}

function renderAlerts(data) {
  const rows = (data.alerts || []).map((a) => el("tr", {},
    el("td", { class: "text" }, a.name),
    el("td", {}, badge(a.severity, a.severity === "page" ? "bad" : "warn")),
    el("td", { class: "reason" }, a.summary || "")));
  fill("alerts", rows.length ? table(["alert", "severity", { label: "summary", text: true }], rows) : null);
}

function renderProbes(data) {
  const targets = (data.probes && data.probes.targets) || [];
  const rows = targets.map((t) => el("tr", {},
    el("td", { class: "text" }, t.name),
    el("td", {}, t.healthy ? badge("healthy", "ok") : badge("unhealthy", "bad")),
    el("td", {}, fmtPct(t.produce_availability_ratio, 3)),
    el("td", {}, fmtSeconds(t.ack_p99_seconds)),
    el("td", {}, fmtSeconds(t.end_to_end_p99_seconds)),
    el("td", {}, fmtNum(t.produced)),
    el("td", {}, fmtNum(t.consumed)),
    el("td", {}, fmtNum(t.lost)),
    el("td", {}, fmtNum(t.duplicated)),
    el("td", {}, fmtNum(t.reordered)),
    el("td", {}, fmtNum(t.corrupted)),
    el("td", { class: "reason" }, t.reason || "")));
  fill("probes", rows.length ? table(["target", "health", "produce availability", "ack p99", "end-to-end p99",
    "produced", "consumed", "lost", "duplicates", "reordered", "corrupted", { label: "notes", text: true }], rows) : null);
}

function renderGroups(data) {
  const rows = [];
  for (const g of data.groups || []) {
    rows.push(el("tr", {},
      el("td", { class: "text" }, g.group),
      el("td", {}, g.state),
      el("td", {}, fmtNum(g.members)),
      el("td", {}, badge(g.status, statusKind(g.status))),
      el("td", {}, fmtNum(g.lag_records)),
      el("td", {}, fmtSeconds(g.max_lag_seconds)),
      el("td", { class: "reason" }, g.reason)));
    for (const p of g.partitions || []) {
      rows.push(el("tr", { class: "muted" },
        el("td", { class: "text" }, `  ${p.topic}[${p.partition}]`),
        el("td", {}, p.client_id || ""),
        el("td", {}, `@${fmtNum(p.committed_offset)}`),
        el("td", {}, badge(p.status, statusKind(p.status))),
        el("td", {}, fmtNum(p.lag_records)),
        el("td", {}, fmtSeconds(p.lag_seconds)),
        el("td", { class: "reason" }, p.retention_headroom_seconds === null ? p.reason :
          `${p.reason}; retention deletes it in ${fmtSeconds(p.retention_headroom_seconds)}`)));
    }
  }
  fill("groups", rows.length ? table(["group / partition", "state / client", "members / offset", "status",
    "lag (records)", "lag (time)", { label: "why", text: true }], rows) : null);
}

const BROKER_STATE_KIND = { alive: "ok", "shutting down": "warn", fenced: "bad", unreachable: "bad" };
const PARTITION_STATUS_KIND = { "in sync": "ok", "under-replicated": "warn", offline: "bad" };

function nodes(ids) { return (ids || []).join(", "); }

// The cluster section (tidewatch up --brokers N): brokers, the active controller, and
// every partition's leader, replicas and ISR; under-replicated and offline rows flagged.
function renderCluster(data) {
  const cluster = data.cluster;
  const section = document.getElementById("cluster-section");
  section.hidden = !cluster;
  if (!cluster) return;
  const controller = cluster.controller_id === null ? "none elected" : `broker ${cluster.controller_id}`;
  const flagged = cluster.under_replicated_partitions + cluster.offline_partitions;
  document.getElementById("cluster-summary").replaceChildren(
    `Active controller: ${controller} · ${cluster.brokers.length} brokers · `,
    flagged ? badge(`${cluster.under_replicated_partitions} under-replicated · ${cluster.offline_partitions} offline`, "bad")
      : badge("all partitions in sync", "ok"),
    cluster.seen_by === null ? "" : ` · as broker ${cluster.seen_by} sees it (metadata offset ${cluster.metadata_offset})`);
  const brokers = cluster.brokers.map((b) => el("tr", {},
    el("td", { class: "text" }, `broker ${b.node_id}`),
    el("td", { class: "text" }, b.address || "—"),
    el("td", {}, badge(b.state, BROKER_STATE_KIND[b.state] || "none")),
    el("td", { class: "text" }, [b.controller ? "active controller" : null, b.voter ? "voter" : "observer"]
      .filter((x) => x).join(" · "))));
  fill("cluster-brokers", brokers.length ? table(["broker", { label: "address", text: true }, "state",
    { label: "role", text: true }], brokers) : null);
  const partitions = cluster.partitions.map((p) => el("tr",
    { class: p.status === "in sync" ? "" : `flagged ${p.status === "offline" ? "offline" : ""}` },
    el("td", { class: "text" }, `${p.topic}[${p.partition}]`),
    el("td", {}, p.leader < 0 ? "none" : String(p.leader)),
    el("td", {}, nodes(p.replicas)),
    el("td", {}, nodes(p.isr)),
    el("td", {}, badge(p.status, PARTITION_STATUS_KIND[p.status] || "none"))));
  fill("cluster-partitions", partitions.length ? table(["partition", "leader", "replicas", "ISR", "status"],
    partitions) : null);
}

function rate(now, key, field, seconds) {
  if (!previous || seconds <= 0) return null;
  const before = (previous.partitions || []).find((p) => `${p.topic}/${p.partition}` === key);
  return before ? Math.max(0, (now[field] - before[field]) / seconds) : null;
}

function renderPartitions(data) {
  const seconds = previous ? data.generated_at - previous.generated_at : 0;
  const rows = (data.partitions || []).map((p) => {
    const key = `${p.topic}/${p.partition}`;
    return el("tr", {},
      el("td", { class: "text" }, `${p.topic}[${p.partition}]`),
      el("td", {}, fmtNum(p.log_start_offset)),
      el("td", {}, fmtNum(p.high_watermark)),
      el("td", {}, fmtNum(p.log_end_offset)),
      el("td", {}, fmtBytes(p.size_bytes)),
      el("td", {}, fmtNum(p.segments)),
      el("td", {}, fmtNum(rate(p, key, "records_appended", seconds), 1)),
      el("td", {}, fmtNum(rate(p, key, "records_fetched", seconds), 1)));
  });
  fill("partitions", rows.length ? table(["partition", "log start", "high watermark", "log end", "size",
    "segments", "in (records/s)", "out (records/s)"], rows) : null);
}

function render(data) {
  const b = data.broker || {};
  document.getElementById("broker").textContent =
    `Kafka bootstrap ${b.bootstrap || "?"} · ${b.ready ? "ready" : "not ready"} · flush ${b.flush_policy || "?"} · up ${fmtSeconds(b.uptime_seconds)}`;
  document.getElementById("refreshed").textContent = `updated ${new Date(data.generated_at * 1000).toLocaleTimeString()}`;
  renderCards(data);
  renderCluster(data);
  renderSlos(data);
  renderAlerts(data);
  renderProbes(data);
  renderGroups(data);
  renderPartitions(data);
  previous = data;
}

async function refresh() {
  try {
    const response = await fetch("api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    document.getElementById("refreshed").textContent = `refresh failed: ${error.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
