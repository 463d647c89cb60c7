// The dashboard page of `wasmvs run`: the live view arrives every second as a server-sent
// event; the tables show it as it is (the services' statistics are the numbers
// `wasmvs -L -n --stats --exact` prints; the rates are the estimator's, as --rate's), and the
// charts show the last hour of rates: the director's own history (/api/history, a point per
// estimator tick) drawn as the page opens, then rates computed from successive views.

import uPlot from "uplot";
import type { LiveView } from "../host/control/live.js";
import type { ServiceView } from "../host/config/ipvsadm.js";
import { serviceLabel, type HistoryView } from "../host/dashboard/history.js";

/** Seconds the charts span (the server's history is as long). */
const WINDOW_S = 3600;
const $ = (id: string) => document.getElementById(id)!;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}
/** Named as the director's history names them: its series and the live ones are one. */
const serviceName = (s: ServiceView) => serviceLabel(s);
const FORWARD: Record<string, string> = { nat: "Masq", dr: "Route", tun: "Tunnel" };
const int = (n: number | bigint) => String(typeof n === "bigint" ? n : Math.round(n));
/** Statistics arrive as JSON numbers (the type also allows the engine's bigints). */
const num = (n: number | bigint) => Number(n);

// ---- charts -----------------------------------------------------------------------------

interface Series { label: string; values: (number | null)[] }
class Chart {
  private plot?: uPlot;
  private labels = "";
  readonly times: number[] = [];
  readonly series = new Map<string, Series>();
  constructor(private host: HTMLElement, private title: string, private unit: string) {
    // The card's width, not the width it had when the chart was made (a page drawing its
    // history as it opens may measure before its layout settles; windows are resized).
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: 200 })).observe(this.host);
  }

  private width(): number {
    return Math.max(320, this.host.clientWidth - 8);
  }

  push(at: number, values: Record<string, number | null>, draw = true): void {
    this.times.push(at / 1000);
    for (const [k, v] of Object.entries(values)) {
      if (v !== null && !this.series.has(k)) this.series.set(k, { label: k, values: this.times.slice(0, -1).map(() => null) });
    }
    for (const [k, s] of this.series) s.values.push(values[k] ?? null);
    while (this.times.length && this.times[0] < at / 1000 - WINDOW_S) {
      this.times.shift();
      for (const s of this.series.values()) s.values.shift();
    }
    if (draw) this.draw();
  }

  /** The server's history of this chart, drawn once. */
  seed(at: number[], series: Record<string, (number | null)[]>): void {
    at.forEach((t, i) => this.push(t, Object.fromEntries(Object.entries(series).map(([k, v]) => [k, v[i]])), false));
    if (at.length) this.draw();
  }

  private draw(): void {
    const labels = [...this.series.keys()].join("|");
    const data = [this.times, ...[...this.series.values()].map((s) => s.values)] as uPlot.AlignedData;
    if (!this.plot || labels !== this.labels) {
      this.plot?.destroy();
      this.labels = labels;
      const colours = ["#0b6bcb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#1098ad", "#c2255c", "#5c940d"];
      this.plot = new uPlot({
        title: this.title, width: this.width(), height: 200,
        scales: { x: { time: true } },
        axes: [{}, { label: this.unit, size: 60 }],
        series: [{}, ...[...this.series.values()].map((s, i) => ({ label: s.label, stroke: colours[i % colours.length], width: 1.5, spanGaps: true }))],
      }, data, this.host);
    } else {
      this.plot.setData(data);
    }
  }
}

const charts = {
  cps: new Chart($("chart-cps"), "new connections per second, per service", "conn/s"),
  pps: new Chart($("chart-pps"), "packets per second through the director", "pkt/s"),
  active: new Chart($("chart-active"), "active connections per real server", "connections"),
};

// ---- tables -----------------------------------------------------------------------------

function servicesTable(v: LiveView): HTMLTableElement {
  const health = new Map(v.health.map((h) => [`${h.service} ${h.server}`, h]));
  const head = ["", "forward", "weight", "active", "inactive", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS", "health"];
  const rows: HTMLTableRowElement[] = [];
  for (const s of v.table.services) {
    const key = serviceName(s);
    const stats = s.stats;
    rows.push(el("tr", { class: "service", "data-service": key },
      el("th", { colspan: "5" }, `${key} ${s.scheduler}${s.persistence ? ` persistent ${s.persistence.timeout}` : ""}`),
      ...[stats.conns, stats.inpkts, stats.outpkts, stats.inbytes, stats.outbytes].map((x, i) => el("td", { "data-col": ["conns", "inpkts", "outpkts", "inbytes", "outbytes"][i] }, int(x))),
      ...[s.rates.cps, s.rates.inpps, s.rates.outpps, s.rates.inbps, s.rates.outbps].map((x) => el("td", {}, int(x))), el("td")));
    const hkey = s.fwmark !== undefined ? `fwm ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`;
    for (const r of s.realServers) {
      const h = health.get(`${hkey} ${r.address}:${r.port}`);
      rows.push(el("tr", { class: "server", "data-server": `${key} ${r.address}:${r.port}` },
        el("td", {}, `→ ${r.address}:${r.port}`), el("td", {}, FORWARD[r.method] ?? r.method), el("td", { "data-col": "weight" }, String(r.weight)),
        el("td", { "data-col": "active" }, String(r.active)), el("td", { "data-col": "inactive" }, String(r.inactive)),
        ...[r.stats.conns, r.stats.inpkts, r.stats.outpkts, r.stats.inbytes, r.stats.outbytes].map((x, i) => el("td", { "data-col": ["conns", "inpkts", "outpkts", "inbytes", "outbytes"][i] }, int(x))),
        ...[r.rates.cps, r.rates.inpps, r.rates.outpps, r.rates.inbps, r.rates.outbps].map((x) => el("td", {}, int(x))),
        el("td", { class: h ? (h.alive ? "up" : "down") : "" }, h ? `${h.alive ? "up" : "down"}${h.alive ? "" : `: ${h.reason}`}` : "")));
    }
    // Servers health checking took out of the table (keepalived removes a failed server
    // unless inhibit_on_failure): still listed, so that a failure does not just vanish.
    const listed = new Set(s.realServers.map((r) => `${r.address}:${r.port}`));
    for (const h of v.health.filter((x) => x.service === hkey && !listed.has(x.server))) {
      rows.push(el("tr", { class: "server removed", "data-server": `${key} ${h.server}` },
        el("td", {}, `→ ${h.server}`), el("td", { colspan: "14", class: "hint" }, "not in the table (taken out by its health check)"),
        el("td", { class: h.alive ? "up" : "down" }, h.alive ? "up" : `down: ${h.reason}`)));
    }
  }
  // A table larger than the view's share (host/control/live.ts LIVE_VIEW_LIMITS): said, not hidden.
  if (v.omitted) {
    rows.push(el("tr", { class: "omitted" }, el("td", { colspan: "16", class: "hint" },
      `… and ${v.omitted.services} more services (${v.omitted.realServers} real servers) not shown: wasmvs -L -n lists them all`)));
  }
  return el("table", { id: "services-table" }, el("thead", {}, el("tr", {}, ...head.map((x) => el("th", {}, x)))), el("tbody", {}, ...rows));
}

function pairs(id: string, head: [string, string], entries: [string, string][], empty: string): HTMLElement {
  if (!entries.length) return el("p", { class: "hint", id }, empty);
  return el("table", { id }, el("thead", {}, el("tr", {}, el("th", {}, head[0]), el("th", {}, head[1]))),
    el("tbody", {}, ...entries.map(([k, x]) => el("tr", { "data-key": k }, el("td", {}, k), el("td", {}, x)))));
}

// ---- updates ----------------------------------------------------------------------------

let previous: LiveView | undefined;
let received = 0;

function show(v: LiveView): void {
  received++;
  document.body.dataset.updates = String(received);
  $("updated").textContent = `updated ${new Date(v.at).toLocaleTimeString()}`;
  const used = v.connections.count / Math.max(1, v.connections.capacity);
  $("occupancy").textContent = `${v.connections.count} of ${v.connections.capacity} (${(used * 100).toFixed(used < 0.01 ? 3 : 1)}%)`;
  ($("occupancy-bar") as HTMLElement).style.width = `${Math.min(100, used * 100)}%`;
  $("frames").textContent = `${v.counters.rxFrames} in, ${v.counters.txFrames} out, ${v.counters.forwarded} forwarded`;
  const dropTotal = Object.values(v.drops).reduce((a, b) => a + b, 0);
  $("drop-total").textContent = String(dropTotal);
  $("services").replaceChildren(servicesTable(v));
  $("drops").replaceChildren(pairs("drop-table", ["dropped because", "frames"], Object.entries(v.drops).map(([k, x]) => [k, String(x)]), "No drops."));
  $("neighbours").replaceChildren(pairs("neighbour-table", ["state", "entries"], Object.entries(v.neighbours).filter(([, x]) => x > 0).map(([k, x]) => [k, String(x)]), "No neighbour entries."));
  $("vrrp").replaceChildren(v.vrrp.length
    ? el("table", { id: "vrrp-table" }, el("thead", {}, el("tr", {}, ...["instance", "state", "priority", "interface", "addresses", "master"].map((x) => el("th", x === "addresses" ? { class: "addresses" } : {}, x)))),
      el("tbody", {}, ...v.vrrp.map((i) => el("tr", { "data-instance": i.name }, el("td", {}, i.name), el("td", { class: i.state.toLowerCase() }, i.state), el("td", {}, String(i.priority)),
        el("td", {}, i.interface), el("td", { class: "addresses" }, i.addresses.join(" ")), el("td", {}, i.master ?? "")))))
    : el("p", { class: "hint" }, "No VRRP instances."));
  // Rates over time, from this view and the one before.
  if (previous && v.at > previous.at) {
    const dt = (v.at - previous.at) / 1000;
    const before = new Map(previous.table.services.map((s) => [serviceName(s), s]));
    const cps: Record<string, number> = {};
    let inp = 0, outp = 0;
    for (const s of v.table.services) {
      const p = before.get(serviceName(s));
      if (!p) continue;
      cps[serviceName(s)] = Math.max(0, (num(s.stats.conns) - num(p.stats.conns)) / dt);
      inp += Math.max(0, num(s.stats.inpkts) - num(p.stats.inpkts));
      outp += Math.max(0, num(s.stats.outpkts) - num(p.stats.outpkts));
    }
    charts.cps.push(v.at, cps);
    charts.pps.push(v.at, { in: inp / dt, out: outp / dt });
    const active: Record<string, number> = {};
    for (const s of v.table.services) for (const r of s.realServers) active[`${r.address}:${r.port}`] = (active[`${r.address}:${r.port}`] ?? 0) + r.active;
    charts.active.push(v.at, active);
  }
  previous = v;
}

let seeded = 0;
/** The last hour as the director kept it, then the live view. */
async function start(): Promise<void> {
  try {
    const r = await fetch("/api/history", { cache: "no-store" });
    if (r.ok) {
      const h = (await r.json()) as HistoryView;
      for (const k of ["cps", "pps", "active"] as const) charts[k].seed(h.at, h.charts[k]);
      seeded = h.at.length;
    }
  } catch { /* no history: the charts start empty */ }
  document.body.dataset.seeded = String(seeded);
  connect();
}

function connect(): void {
  const events = new EventSource("/events");
  events.addEventListener("view", (m) => { $("live").className = "live"; $("live").textContent = "live"; show(JSON.parse((m as MessageEvent).data)); });
  events.onerror = () => { $("live").className = "down"; $("live").textContent = "reconnecting"; };
}
void start();

// For tests and the curious: the charts' data.
(window as unknown as { wasmvsDashboard: unknown }).wasmvsDashboard = {
  series: (chart: keyof typeof charts) => Object.fromEntries([...charts[chart].series].map(([k, s]) => [k, s.values])),
  times: (chart: keyof typeof charts) => [...charts[chart].times],
  seeded: () => seeded,
};
