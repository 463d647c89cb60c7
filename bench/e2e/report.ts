// The end-to-end benchmark's report: one HTML file with its charts drawn as inline SVG (no
// script, no external file: it opens offline, anywhere), from the results bench:e2e saves.
// Three pictures: requests/s for each path, the forwarder's CPU per request for each path,
// and how the director's CPU per request grows with the response size in NAT (every reply
// byte crosses the director) but not in DR and TUN (replies go straight to the client) —
// the trade-off every LVS article describes, measured.

export interface PathResult {
  path: string;
  udpPps?: number;
  tcpGbps?: number;
  httpRps?: number;
  httpP50Ms?: number;
  httpP99Ms?: number;
  /** CPU of the forwarding process (the director, the C forwarder, HAProxy) per HTTP request. */
  cpuUsPerRequest?: number;
  note?: string;
  /** With more than one run (WASMVS_E2E_RUNS): how many, and each metric's lowest and highest
   *  (the metrics above are then the medians). */
  runs?: number;
  spread?: Partial<Record<Metric, [number, number]>>;
}

export type Metric = "udpPps" | "tcpGbps" | "httpRps" | "httpP50Ms" | "httpP99Ms" | "cpuUsPerRequest";
const METRICS: Metric[] = ["udpPps", "tcpGbps", "httpRps", "httpP50Ms", "httpP99Ms", "cpuUsPerRequest"];

/** The median of the finite values (the mean of the middle two for an even count). */
export function median(values: number[]): number | undefined {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** One path's runs (one per run it was measured in; holes for runs it was not) as one result:
 *  each metric's median, and with more than one run the spread and the count. */
export function summarize(runs: (PathResult | undefined)[]): PathResult {
  const got = runs.filter((r): r is PathResult => r !== undefined);
  const out: PathResult = { path: got[0].path, ...(got[0].note ? { note: got[0].note } : {}) };
  for (const m of METRICS) {
    const values = got.map((r) => r[m]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const mid = median(values);
    if (mid === undefined) continue;
    out[m] = mid;
    if (got.length > 1) (out.spread ??= {})[m] = [Math.min(...values), Math.max(...values)];
  }
  if (got.length > 1) out.runs = got.length;
  return out;
}

/** A target of issue 18 (and the TAP backend's of issue 8): subject's metric over reference's. */
export interface Target {
  subject: string;
  reference: string;
  metric: "httpRps" | "httpP99Ms" | "cpuUsPerRequest";
  /** at least (>=), at most (<=) or below (<) this ratio */
  bound: ">=" | "<=" | "<";
  ratio: number;
}

export const NAT_RINGS = "wasmvs NAT (rings)";
export const NAT_TAP = "wasmvs NAT (TAP)";
/** The same director with its data-path thread real-time, as it runs where VRRP does (bench:e2e, realTimePath). */
export const NAT_RINGS_REALTIME = "wasmvs NAT (rings, SCHED_RR)";
export const PKTFWD = "pktfwd (C, AF_PACKET rings)";
export const TAPFWD_DRAINING = "tapfwd (C, draining)";

/** Issue 18's targets for wasmvs NAT on rings, against the C ring forwarder and the draining C TAP forwarder. */
const ringTargets = (subject: string): Target[] => [
  { subject, reference: PKTFWD, metric: "cpuUsPerRequest", bound: "<=", ratio: 1.1 },
  { subject, reference: PKTFWD, metric: "httpRps", bound: ">=", ratio: 0.95 },
  { subject, reference: PKTFWD, metric: "httpP99Ms", bound: "<=", ratio: 1.25 },
  { subject, reference: TAPFWD_DRAINING, metric: "cpuUsPerRequest", bound: "<", ratio: 1.0 },
  { subject, reference: TAPFWD_DRAINING, metric: "httpRps", bound: ">=", ratio: 1.0 },
  { subject, reference: TAPFWD_DRAINING, metric: "httpP99Ms", bound: "<=", ratio: 1.25 },
];

export const TARGETS: Target[] = [
  ...ringTargets(NAT_RINGS),
  // The TAP backend keeps its figures (issue 8's target).
  { subject: NAT_TAP, reference: TAPFWD_DRAINING, metric: "httpRps", bound: ">=", ratio: 0.95 },
  { subject: NAT_TAP, reference: TAPFWD_DRAINING, metric: "httpP99Ms", bound: "<=", ratio: 1.25 },
  // Not what wasmvs runs (its data-path thread is real-time): what the same targets say without that.
  ...ringTargets(NAT_RINGS_REALTIME),
];

const METRIC_NAMES: Record<Target["metric"], string> = { httpRps: "requests/s", httpP99Ms: "p99 latency", cpuUsPerRequest: "CPU per HTTP request" };

export interface TargetLine extends Target {
  /** The ratio of the medians; undefined when either path was not measured. */
  measured?: number;
  /** The lowest and highest of the per-run ratios (each run's subject over the same run's reference). */
  perRun?: [number, number];
  pass?: boolean;
  text: string;
}

/** Each target against the medians, with the per-run ratios' spread beside it. */
export function targetLines(byPath: Map<string, (PathResult | undefined)[]>, targets = TARGETS): TargetLine[] {
  return targets.map((t) => {
    const subject = byPath.get(t.subject) ?? [], reference = byPath.get(t.reference) ?? [];
    const mid = (runs: (PathResult | undefined)[]) => median(runs.map((r) => r?.[t.metric] ?? NaN));
    const s = mid(subject), r = mid(reference);
    const measured = s !== undefined && r !== undefined && r > 0 ? s / r : undefined;
    const paired = subject.map((x, k) => (x?.[t.metric] ?? NaN) / (reference[k]?.[t.metric] ?? NaN)).filter(Number.isFinite);
    const perRun: [number, number] | undefined = paired.length > 1 ? [Math.min(...paired), Math.max(...paired)] : undefined;
    const pass = measured === undefined ? undefined : t.bound === ">=" ? measured >= t.ratio : t.bound === "<=" ? measured <= t.ratio : measured < t.ratio;
    const runs = Math.min(subject.filter(Boolean).length, reference.filter(Boolean).length);
    const text = `${t.subject} vs ${t.reference}: ${METRIC_NAMES[t.metric]} ` +
      (measured === undefined ? "not measured" : `${measured.toFixed(2)}x (target ${t.bound} ${t.ratio.toFixed(2)}x) ${pass ? "PASS" : "MISS"}`) +
      (perRun ? `; median of ${runs} runs, per-run ratios ${perRun[0].toFixed(2)}–${perRun[1].toFixed(2)}x` : measured === undefined ? "" : "; one run");
    return { ...t, ...(measured !== undefined ? { measured } : {}), ...(perRun ? { perRun } : {}), ...(pass !== undefined ? { pass } : {}), text };
  });
}

export interface SizePoint { mode: string; bytes: number; rps: number; cpuUsPerRequest: number; mbytesPerSecond: number }

export interface SavedResults {
  date: string;
  machine: string;
  seconds: number;
  quick: boolean;
  results: PathResult[];
  sizes?: SizePoint[];
  idle?: string;
  lateness?: string;
  /** Runs of the paths the targets compare (WASMVS_E2E_RUNS); results then hold medians. */
  runs?: number;
  targets?: TargetLine[];
  /** The machine's load average (1, 5, 15 min) before the first run and after each. */
  loads?: string[];
}

const COLOURS: Record<string, string> = {
  NAT: "#d9480f", DR: "#2b8a3e", TUN: "#0b6bcb",
  "NAT rings": "#f59f00", "DR rings": "#74b816", "TUN rings": "#4dabf7",
};
/** A path's colour: wasmvs's by mode and backend ("wasmvs NAT (rings)": "NAT rings"), grey for the rest. */
const pathColour = (label: string) => {
  const mode = label.split(" ")[1] ?? "";
  return COLOURS[label.includes("(rings") ? `${mode} rings` : mode] ?? "#868e96";
};
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (v: number) => (v >= 100 ? Math.round(v).toLocaleString("en-US") : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const sizeLabel = (b: number) => (b >= 1e6 ? `${b / 1e6} MB` : b >= 1e3 ? `${b / 1e3} KB` : `${b} B`);

/** Horizontal bars, one per labelled value. */
export function barChart(title: string, unit: string, rows: { label: string; value: number }[]): string {
  const w = 760, barH = 22, left = 230, top = 34;
  const h = top + rows.length * (barH + 8) + 20;
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  const bars = rows.map((r, i) => {
    const y = top + i * (barH + 8);
    const len = Math.max(1, ((w - left - 110) * r.value) / max);
    const colour = pathColour(r.label);
    return `<text x="${left - 8}" y="${y + barH * 0.7}" text-anchor="end">${esc(r.label)}</text>` +
      `<rect class="bar" x="${left}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="${colour}"><title>${esc(r.label)}: ${fmt(r.value)} ${esc(unit)}</title></rect>` +
      `<text x="${(left + len + 6).toFixed(1)}" y="${y + barH * 0.7}">${fmt(r.value)}</text>`;
  }).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="13">` +
    `<text x="0" y="18" font-weight="bold" font-size="15">${esc(title)}</text><text x="${w}" y="18" text-anchor="end" fill="#5b6670">${esc(unit)}</text>${bars}</svg>`;
}

/** Lines over a logarithmic x axis (response sizes), one per mode. */
export function lineChart(title: string, unit: string, points: SizePoint[], y: (p: SizePoint) => number): string {
  const w = 760, h = 340, left = 70, right = 120, top = 40, bottom = 50;
  const modes = [...new Set(points.map((p) => p.mode))];
  const xs = [...new Set(points.map((p) => p.bytes))].sort((a, b) => a - b);
  const lx = (b: number) => Math.log10(b);
  const x0 = lx(xs[0] ?? 1), x1 = lx(xs[xs.length - 1] ?? 10);
  const X = (b: number) => left + ((lx(b) - x0) / Math.max(1e-9, x1 - x0)) * (w - left - right);
  const maxY = Math.max(1e-9, ...points.map(y)) * 1.1;
  const Y = (v: number) => top + (1 - v / maxY) * (h - top - bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = maxY * f;
    return `<line x1="${left}" x2="${w - right}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e9ecef"/><text x="${left - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`;
  }).join("");
  const ticks = xs.map((b) => `<text x="${X(b).toFixed(1)}" y="${h - bottom + 18}" text-anchor="middle">${sizeLabel(b)}</text>`).join("");
  const lines = modes.map((m, i) => {
    const ps = points.filter((p) => p.mode === m).sort((a, b) => a.bytes - b.bytes);
    const colour = COLOURS[m] ?? "#868e96";
    const path = ps.map((p) => `${X(p.bytes).toFixed(1)},${Y(y(p)).toFixed(1)}`).join(" ");
    const dots = ps.map((p) => `<circle cx="${X(p.bytes).toFixed(1)}" cy="${Y(y(p)).toFixed(1)}" r="3.5" fill="${colour}"><title>${esc(m)} ${sizeLabel(p.bytes)}: ${fmt(y(p))} ${esc(unit)}</title></circle>`).join("");
    const dashed = m.endsWith(" rings") ? ` stroke-dasharray="6 4"` : "";
    return `<polyline class="series" data-mode="${esc(m)}" points="${path}" fill="none" stroke="${colour}" stroke-width="2.5"${dashed}/>${dots}` +
      `<text x="${w - right + 10}" y="${top + 16 + i * 20}" fill="${colour}" font-weight="bold">${esc(m)}</text>`;
  }).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="13">` +
    `<text x="0" y="18" font-weight="bold" font-size="15">${esc(title)}</text>${grid}${ticks}` +
    `<text x="${(left + (w - right)) / 2}" y="${h - 8}" text-anchor="middle" fill="#5b6670">response size (log scale)</text>` +
    `<text x="14" y="${top - 10}" fill="#5b6670">${esc(unit)}</text>${lines}</svg>`;
}

export function renderReport(s: SavedResults): string {
  const http = s.results.filter((r) => r.httpRps !== undefined && Number.isFinite(r.httpRps)).map((r) => ({ label: r.path, value: r.httpRps! }));
  const cpu = s.results.filter((r) => r.cpuUsPerRequest !== undefined && Number.isFinite(r.cpuUsPerRequest)).map((r) => ({ label: r.path, value: r.cpuUsPerRequest! }));
  const sizes = s.sizes ?? [];
  // With runs: each cell the median, its spread (min–max) under it.
  const cell = (r: PathResult, m: Metric, scale = 1) => {
    const v = r[m];
    if (v === undefined || !Number.isFinite(v) || (v === 0 && m !== "cpuUsPerRequest")) return "<td>-</td>";
    const sp = r.spread?.[m];
    return `<td>${fmt(v / scale)}${sp ? `<br><small>${fmt(sp[0] / scale)}–${fmt(sp[1] / scale)}</small>` : ""}</td>`;
  };
  const rows = s.results.map((r) => `<tr><td>${esc(r.path)}</td>${cell(r, "udpPps", 1000)}${cell(r, "tcpGbps")}` +
    `${cell(r, "httpRps")}${cell(r, "httpP99Ms")}${cell(r, "cpuUsPerRequest")}<td>${r.runs ?? 1}</td><td>${esc(r.note ?? "")}</td></tr>`).join("");
  const targets = (s.targets ?? []).map((t) => `<li>${esc(t.text)}</li>`).join("");
  const sizeRows = sizes.map((p) => `<tr><td>${esc(p.mode)}</td><td>${sizeLabel(p.bytes)}</td><td>${fmt(p.rps)}</td><td>${fmt(p.mbytesPerSecond)}</td><td>${fmt(p.cpuUsPerRequest)}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wasmvs end-to-end benchmark, ${esc(s.date)}</title>
<style>body{font:14px/1.45 sans-serif;margin:24px;max-width:820px;color:#1d232a}table{border-collapse:collapse;margin:8px 0 24px}
th,td{padding:3px 10px;border-bottom:1px solid #d8dee4;text-align:right}th:first-child,td:first-child{text-align:left}figure{margin:18px 0}p.note{color:#5b6670}</style></head>
<body>
<h1>wasmvs end-to-end benchmark</h1>
<p>${esc(s.date)} on ${esc(s.machine)}; ${s.seconds} s per measurement${s.quick ? " (quick run: fewer paths)" : ""}${(s.runs ?? 1) > 1 ? `; ${s.runs} interleaved runs of the paths the targets compare, medians shown, their spread (min–max) in the table` : ""}. Every figure was measured in this run, in network namespaces on this machine; compare the ratios between paths rather than the absolute numbers across machines.${s.loads?.length ? ` Load average before and after each run: ${esc(s.loads.join(" → "))}.` : ""}</p>
${targets ? `<h2>Targets</h2><ul>${targets}</ul>` : ""}
<figure>${barChart("HTTP requests per second (wrk, 50 connections, small responses)", "requests/s", http)}</figure>
<figure>${barChart("CPU of the forwarder per HTTP request", "µs of CPU per request", cpu)}</figure>
<p class="note">The forwarder is the process between client and servers: the wasmvs director, the C forwarders, HAProxy. The direct path has none (the kernel routes in softirq). "(TAP)": the director on its TAPs in the bridges; "(rings)": the same director on AF_XDP rings on veths whose peers sit in the bridges, the hop the AF_PACKET forwarder crosses.</p>
${sizes.length ? `<figure>${lineChart("Director CPU per request as responses grow", "µs of director CPU per request", sizes, (p) => p.cpuUsPerRequest)}</figure>
<p class="note">In NAT every byte of every response crosses the director, so its work per request grows with the response; in DR and TUN the servers answer the client directly and the director sees only the client's side: its request and its ACKs, which also grow with the response, but one small packet per one or two segments instead of the segments themselves.</p>
<p class="note">Dashed: the director on AF_XDP rings.</p>
<figure>${lineChart("Requests per second as responses grow", "requests/s", sizes, (p) => p.rps)}</figure>
<table><thead><tr><th>mode</th><th>response</th><th>requests/s</th><th>MB/s</th><th>director µs CPU/request</th></tr></thead><tbody>${sizeRows}</tbody></table>` : ""}
<h2>All paths</h2>
<table><thead><tr><th>path</th><th>UDP kpps</th><th>TCP Gbit/s</th><th>HTTP req/s</th><th>p99 ms</th><th>µs CPU/request</th><th>runs</th><th></th></tr></thead><tbody>${rows}</tbody></table>
${s.idle ? `<p>Idle director CPU: ${esc(s.idle)}.</p>` : ""}${s.lateness ? `<p>Control-plane timer under load: ${esc(s.lateness)}.</p>` : ""}
</body></html>
`;
}
