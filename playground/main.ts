// The playground: the real engine (the same WebAssembly `wasmvs run` drives) in a page, a
// director between made-up clients and real servers. The form writes a configuration in
// ipvsadm's rules format; the configuration, edited or loaded (keepalived.conf too), goes
// through the parsers `wasmvs run` uses and into a fresh engine. Every frame a client or
// server sends goes through engine.process(), and the page shows what came out, field by
// field, with the scheduler's state when it chose, the connection table and the counters.

import { Engine, EngineError, SCHEDULERS, type ConnectionInfo, type Method, type SchedulerName, type ServiceInfo } from "../host/engine/index.js";
import { ipToNumber, numberToIp } from "../host/engine/addr.js";
import { readPcap, writePcap } from "../host/engine/pcap.js";
import { replayFrames } from "../host/engine/replay.js";
import { applyConfig, ConfigError, configSlotSize, schedulerSizing, setConfigSource, type DirectorConfig } from "../host/config/rules.js";
import { loadConfig } from "../host/control/load.js";
import { changedFields, frameFields, summary, type Field } from "./fields.js";
import { ACK, arpRequest, echoRequest, FIN, PSH, SYN, tcpFrame, udpFrame, type Ends } from "./craft.js";

declare global { interface Window { WASMVS_ENGINE?: string; wasmvsPlayground?: unknown } }

// ---- the world around the director ------------------------------------------------------

const VIP = "10.0.0.100";
const SERVER_BASE = ipToNumber("10.1.0.11");
const MODES: Record<Method, { flag: string; name: string; port: number }> = {
  nat: { flag: "-m", name: "NAT (masquerading)", port: 8080 },
  dr: { flag: "-g", name: "DR (direct routing)", port: 80 },
  tun: { flag: "-i", name: "TUN (IP-in-IP)", port: 80 },
};
const RULES: Record<SchedulerName, string> = {
  rr: "round robin: each new connection goes to the next server in turn",
  wrr: "weighted round robin: servers take turns in proportion to their weights",
  lc: "least connections: the lowest active × 256 + inactive",
  wlc: "weighted least connections: the lowest (active × 256 + inactive) / weight",
  sed: "shortest expected delay: the lowest (active + 1) / weight",
  nq: "never queue: a server with no connection first, else the shortest expected delay",
  fo: "weighted failover: the highest weight that is not overloaded",
  ovf: "overflow: the highest weight until its active connections reach its weight",
  twos: "power of two choices: the less loaded of two servers drawn by weight",
  lblc: "locality-based least connections: the destination's last server unless it is overloaded",
  lblcr: "locality-based with replication: the least loaded of the destination's set of servers",
  sh: "source hashing: the client's address picks one of 256 buckets",
  dh: "destination hashing: the destination's address picks one of 256 buckets",
  mh: "Maglev hashing as the kernel's mh: the client's address picks one of 4,093 slots",
  maglev: "Maglev as Katran's: a hash of the 5-tuple picks one of 65,537 slots",
};

interface Form { mode: Method; scheduler: SchedulerName; weights: number[] }
const form: Form = { mode: "nat", scheduler: "wlc", weights: [1, 2, 3] };

/** The configuration the form stands for, in ipvsadm's rules with wasmvs's director lines. */
function rulesFor(f: Form): string {
  const m = MODES[f.mode];
  const servers = f.weights.map((w, i) => ({ address: numberToIp(SERVER_BASE + i), mac: `02:aa:00:00:00:${(0x11 + i).toString(16)}`, weight: w }));
  return [
    "# wasmvs playground: clients reach the VIP through a router on the outside; real servers",
    "# sit on the inside. Edit freely, or load an ipvsadm rules file or a keepalived.conf.",
    "interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24 mtu 1500",
    "interface 1 name inside  mac 02:00:00:00:01:01 address 10.1.0.1/24 mtu 1500",
    "route default via 10.0.0.254",
    "neighbour 10.0.0.254 02:00:00:00:00:fe",
    ...servers.map((s) => `neighbour ${s.address} ${s.mac}`),
    `-A -t ${VIP}:80 -s ${f.scheduler}`,
    ...servers.map((s) => `-a -t ${VIP}:80 -r ${s.address}:${m.port} ${m.flag} -w ${s.weight}`),
    `-A -u ${VIP}:53 -s ${f.scheduler}`,
    ...servers.map((s) => `-a -u ${VIP}:53 -r ${s.address}:${f.mode === "nat" ? 5353 : 53} ${m.flag} -w ${s.weight}`),
    "",
  ].join("\n");
}

/** A host's MAC: the configuration's neighbour entry, else one made from its address (the
 *  playground answers the director's ARP requests with it). */
function macOf(cfg: DirectorConfig, address: string): string {
  const n = cfg.neighbours.find((x) => x.address === address);
  if (n) return n.mac;
  const v = ipToNumber(address);
  return `02:ee:${[24, 16, 8, 0].map((s) => ((v >>> s) & 255).toString(16).padStart(2, "0")).join(":")}`;
}

// ---- the director ---------------------------------------------------------------------

interface Output { ifindex: number; frame: Uint8Array; note?: string }
interface Step {
  id: number;
  label: string;
  at: number;
  input?: { ifindex: number; frame: Uint8Array };
  outputs: Output[];
  drops: string[];
  flow?: Flow;
}
interface Flow {
  client: string;
  service: string;
  server: string;
  rule: string;
  /** Each server's state when the scheduler chose. */
  state: { server: string; weight: number; active: number; inactive: number; overloaded: boolean }[];
}
interface Conn { ends: Ends; sport: number; dport: number; proto: "tcp" | "udp"; seq: number; server?: ConnectionInfo; serverIfindex?: number }

const wasmBytes = Uint8Array.from(atob(window.WASMVS_ENGINE ?? ""), (c) => c.charCodeAt(0));
let engine: Engine | undefined;
let cfg: DirectorConfig | undefined;
let configText = rulesFor(form);
let configName = "playground.rules";
let now = 1000;
let steps: Step[] = [];
let selected = -1;
let lastConn: Conn | undefined;
let clientCount = 0;
let sessionDownload: string | undefined;

/** Parse the configuration text with `wasmvs run`'s parsers and start a fresh engine with
 *  it. On an error nothing changes: the running engine stays. */
async function applyConfiguration(text: string, name: string): Promise<string | undefined> {
  setConfigSource((path) => (path === name ? text : undefined));
  let next: DirectorConfig;
  try {
    next = loadConfig(name);
  } catch (e) {
    return e instanceof ConfigError || e instanceof Error ? e.message : String(e);
  } finally {
    setConfigSource(undefined);
  }
  try {
    const e = await Engine.create(wasmBytes, {
      batch: 64, slotSize: configSlotSize(next), connCapacity: Math.min(next.connections ?? 65536, 65536), ...schedulerSizing(next),
    });
    applyConfig(e, next);
    engine = e;
    cfg = next;
    configText = text;
    configName = name;
    now = 1000;
    steps = [];
    selected = -1;
    lastConn = undefined;
    clientCount = 0;
    return undefined;
  } catch (e) {
    return e instanceof ConfigError || e instanceof EngineError || e instanceof Error ? e.message : String(e);
  }
}

function counters(): Record<string, bigint> { return engine!.counters(); }

/** One frame into the engine; the ARP requests it sends are answered by the made-up hosts. */
function send(label: string, frame: Uint8Array, ifindex: number, flowOf?: (outs: Output[]) => Flow | undefined): Step {
  const e = engine!;
  const before = counters();
  now += 1;
  const outputs: Output[] = [];
  let pending: { frame: Uint8Array; ifindex: number; note?: string }[] = [{ frame, ifindex }];
  for (let round = 0; round < 4 && pending.length; round++) {
    const next: typeof pending = [];
    for (const p of pending) {
      e.loadFrame(0, p.frame, p.ifindex);
      for (const o of e.txFrames(e.process(1, now))) {
        const out: Output = { ...o };
        if (p.note) out.note = p.note;
        outputs.push(out);
        const f = o.frame;
        if (f.length >= 42 && f[12] === 8 && f[13] === 6 && f[21] === 1) {
          const target = `${f[38]}.${f[39]}.${f[40]}.${f[41]}`;
          const sender = `${f[28]}.${f[29]}.${f[30]}.${f[31]}`;
          const reply = arpReply(macOf(cfg!, target), target, f.slice(6, 12), sender);
          next.push({ frame: reply, ifindex: o.ifindex, note: `after ${target} answered the director's ARP request` });
        }
      }
    }
    pending = next;
  }
  const after = counters();
  const drops = Object.keys(after).filter((k) => k.startsWith("drop_") && after[k] !== before[k]).map((k) => k.slice(5));
  const step: Step = { id: steps.length + 1, label, at: now, input: { ifindex, frame }, outputs, drops };
  step.flow = flowOf?.(outputs);
  steps.push(step);
  selected = steps.length - 1;
  return step;
}

function arpReply(senderMac: string, sender: string, targetMacBytes: Uint8Array, target: string): Uint8Array {
  const req = arpRequest(senderMac, sender, target);
  const f = Uint8Array.from(req);
  f.set(targetMacBytes, 0);
  f[21] = 2;
  f.set(targetMacBytes, 32);
  return f;
}

function serviceOf(target: string): ServiceInfo | undefined {
  return engine!.services().find((s) => `${s.protocol} ${s.address}:${s.port}` === target);
}

/** A new client: through the router when there is a default route, else on interface 0. */
function newClient(): Ends {
  const c = cfg!;
  const out = c.interfaces[0];
  const k = clientCount++ % 200;
  const gw = c.routes.find((r) => r.cidr === "0.0.0.0/0")?.via;
  if (gw) return { src: `192.0.2.${10 + k}`, dst: "", srcMac: macOf(c, gw), dstMac: out.mac };
  const base = ipToNumber(out.address!.split("/")[0]) & ~255;
  const src = numberToIp(base + 100 + (k % 100));
  return { src, dst: "", srcMac: macOf(c, src), dstMac: out.mac };
}

/** Open a connection (TCP SYN) or send a datagram (UDP) from a new client to the service. */
function openFlow(target: string): Step | undefined {
  const svc = serviceOf(target);
  if (!svc) return undefined;
  const ends = { ...newClient(), dst: svc.address };
  const sport = 20000 + ((clientCount * 7919) % 40000);
  const state = svc.realServers.map((r) => ({ server: `${r.address}:${r.port}`, weight: r.weight, active: r.active, inactive: r.inactive, overloaded: r.overloaded }));
  const frame = svc.protocol === "tcp"
    ? tcpFrame(ends, sport, svc.port, SYN, 1000, 0)
    : udpFrame(ends, sport, svc.port, Array.from("wasmvs?", (c) => c.charCodeAt(0)));
  const conn: Conn = { ends, sport, dport: svc.port, proto: svc.protocol, seq: 1001 };
  const step = send(`${svc.protocol === "tcp" ? "SYN" : "datagram"} from ${ends.src}:${sport} to ${svc.address}:${svc.port}`, frame, cfg!.interfaces[0].index, (outs) => {
    const c = engine!.connections(now).find((x) => x.client === ends.src && x.clientPort === sport && !x.template);
    if (!c) return undefined;
    conn.server = c;
    conn.serverIfindex = outs.find((o) => !o.note)?.ifindex;
    return { client: `${ends.src}:${sport}`, service: target, server: `${c.server}:${c.serverPort}`, rule: RULES[svc.scheduler], state };
  });
  lastConn = conn;
  return step;
}

function clientSegment(flags: number, data: number[], label: string): void {
  const c = lastConn;
  if (!c) return;
  const frame = c.proto === "tcp" ? tcpFrame(c.ends, c.sport, c.dport, flags, c.seq, 5001, data) : udpFrame(c.ends, c.sport, c.dport, data);
  if (c.proto === "tcp") c.seq += data.length + (flags & FIN ? 1 : 0);
  send(label, frame, cfg!.interfaces[0].index);
}

/** The last connection's server answers (through the director only in NAT). */
function serverAnswers(): void {
  const c = lastConn;
  if (!c?.server || c.serverIfindex === undefined) return;
  const s = c.server;
  const ifc = cfg!.interfaces.find((i) => i.index === c.serverIfindex)!;
  const ends: Ends = { src: s.server, dst: c.ends.src, srcMac: macOf(cfg!, s.server), dstMac: ifc.mac };
  const frame = c.proto === "tcp" ? tcpFrame(ends, s.serverPort, c.sport, SYN | ACK, 5000, 1001) : udpFrame(ends, s.serverPort, c.sport, Array.from("answer", (x) => x.charCodeAt(0)));
  send(`${c.proto === "tcp" ? "SYN-ACK" : "answer"} from ${s.server}:${s.serverPort} to ${c.ends.src}:${c.sport}`, frame, ifc.index);
}

// ---- the page ---------------------------------------------------------------------------

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}
function table(head: string[], rows: (string | Node)[][], attrs: Record<string, string> = {}): HTMLTableElement {
  return el("table", attrs, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))), el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
}

function renderForm(): void {
  $<HTMLSelectElement>("mode").value = form.mode;
  $<HTMLSelectElement>("scheduler").value = form.scheduler;
  const rows = form.weights.map((w, i) => {
    const input = el("input", { type: "number", min: "0", max: "65535", value: String(w), "data-server": String(i), "aria-label": `weight of server ${i + 1}` });
    input.addEventListener("change", () => { form.weights[i] = Math.max(0, Math.min(65535, Number(input.value) || 0)); void formChanged(); });
    const remove = el("button", { type: "button", title: "remove this server" }, "−");
    remove.addEventListener("click", () => { if (form.weights.length > 1) { form.weights.splice(i, 1); void formChanged(); } });
    return [numberToIp(SERVER_BASE + i), input, remove];
  });
  $("servers").replaceChildren(table(["real server", "weight", ""], rows));
}

async function formChanged(): Promise<void> {
  const error = await applyConfiguration(rulesFor(form), "playground.rules");
  $<HTMLTextAreaElement>("config").value = configText;
  showConfigError(error);
  renderForm();
  render();
}

function showConfigError(error: string | undefined): void {
  const box = $("config-error");
  box.textContent = error ? `Not applied — the running configuration stays:\n${error}` : "";
  box.hidden = !error;
}

function fieldTable(fields: Field[], changed: Set<number> | undefined, caption: string): HTMLTableElement {
  const t = table(["header", "field", "value"], fields.map((f) => [f.layer, f.name, f.value]), { class: "fields" });
  t.prepend(el("caption", {}, caption));
  if (changed) t.querySelectorAll("tbody tr").forEach((tr, i) => { if (changed.has(i)) tr.classList.add("changed"); });
  return t;
}

function ifName(i: number): string {
  return cfg?.interfaces.find((x) => x.index === i)?.name ?? `interface ${i}`;
}

function renderSteps(): void {
  const list = $("steps");
  list.replaceChildren(...steps.map((s, i) => {
    const result = s.outputs.length ? s.outputs.map((o) => `${ifName(o.ifindex)}: ${summary(o.frame)}`).join("; ") : `dropped (${s.drops.join(", ") || "no answer"})`;
    const li = el("li", { "data-step": String(s.id), class: i === selected ? "selected" : "" }, el("b", {}, `#${s.id} `), s.label, el("br"), el("span", { class: "result" }, `→ ${result}`));
    li.addEventListener("click", () => { selected = i; render(); });
    return li;
  }));
  const detail = $("detail");
  const s = steps[selected];
  if (!s || !s.input) { detail.replaceChildren(el("p", { class: "hint" }, "Send something from a client: each frame is shown here before and after the director.")); return; }
  const before = frameFields(s.input.frame);
  const parts: Node[] = [fieldTable(before, undefined, `before: into the director on ${ifName(s.input.ifindex)} (${s.input.frame.length} bytes)`)];
  if (s.outputs.length === 0) parts.push(el("p", { class: "drop" }, `Nothing came out: dropped, counted as ${s.drops.map((d) => `drop_${d}`).join(", ") || "(no counter)"}.`));
  for (const o of s.outputs) {
    const after = frameFields(o.frame);
    parts.push(fieldTable(after, changedFields(before, after), `after: out of ${ifName(o.ifindex)} (${o.frame.length} bytes)${o.note ? `, ${o.note}` : ""}`));
  }
  if (s.flow) {
    const f = s.flow;
    parts.push(el("div", { class: "why", id: "why" },
      el("p", {}, el("b", {}, `${f.client} → ${f.server}`), ` chosen by ${f.rule}. The servers when it chose:`),
      table(["server", "weight", "active", "inactive", "overloaded"], f.state.map((x) => [x.server, String(x.weight), String(x.active), String(x.inactive), x.overloaded ? "yes" : ""]))));
  }
  detail.replaceChildren(...parts);
}

function render(): void {
  const e = engine;
  renderSteps();
  $("clock").textContent = `engine clock ${((now - 1000) / 1000).toFixed(3)} s`;
  if (!e) return;
  const services = e.services();
  const target = $<HTMLSelectElement>("target");
  const keep = target.value;
  target.replaceChildren(...services.filter((s) => s.fwmark === undefined).map((s) => el("option", { value: `${s.protocol} ${s.address}:${s.port}` }, `${s.protocol.toUpperCase()} ${s.address}:${s.port} (${s.scheduler})`)));
  if (Array.from(target.options).some((o) => o.value === keep)) target.value = keep;
  $<HTMLButtonElement>("reply").disabled = !lastConn?.server || lastConn.server.method !== "nat";
  $<HTMLButtonElement>("reply").title = lastConn?.server && lastConn.server.method !== "nat" ? "in DR and TUN the server answers the client directly, not through the director" : "";
  $("services").replaceChildren(...services.map((s) => el("div", {},
    el("h3", {}, `${s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${s.address}:${s.port}`} ${s.scheduler}`),
    table(["real server", "forward", "weight", "active", "inactive", "connections"], s.realServers.map((r) => [`${r.address}:${r.port}`, r.method.toUpperCase(), String(r.weight), String(r.active), String(r.inactive), String(r.stats.conns)])))));
  const conns = e.connections(now);
  $("conns").replaceChildren(conns.length
    ? table(["pro", "client", "virtual", "server", "forward", "state", "expires in"], conns.map((c) => [c.protocol.toUpperCase(), `${c.client}:${c.clientPort}`, `${c.vip}:${c.vport}`, `${c.server}:${c.serverPort}`, c.method.toUpperCase(), c.state, `${(c.expiresInMs / 1000).toFixed(1)} s`]), { id: "conn-table" })
    : el("p", { class: "hint" }, "No connections."));
  const all = e.counters();
  const shown = Object.entries(all).filter(([k, v]) => v !== 0n && !k.startsWith("drop_"));
  const drops = Object.entries(e.drops()).filter(([, v]) => v !== 0n);
  $("counters").replaceChildren(table(["counter", "value"], shown.map(([k, v]) => [k, v.toString()]), { id: "counter-table" }),
    drops.length ? table(["dropped because", "frames"], drops.map(([k, v]) => [k, v.toString()]), { id: "drop-table" }) : el("p", { class: "hint" }, "No drops."));
  // The session as a capture: what went in and what came out, in order.
  if (sessionDownload) URL.revokeObjectURL(sessionDownload);
  const frames = steps.flatMap((s) => [...(s.input ? [{ timeUs: s.at * 1000, data: s.input.frame }] : []), ...s.outputs.map((o) => ({ timeUs: s.at * 1000 + 1, data: o.frame }))]);
  sessionDownload = URL.createObjectURL(new Blob([writePcap(frames) as Uint8Array<ArrayBuffer>], { type: "application/vnd.tcpdump.pcap" }));
  const a = $<HTMLAnchorElement>("session-pcap");
  a.href = sessionDownload;
  a.textContent = `this session as a pcap (${frames.length} frames)`;
}

async function replayFile(file: File): Promise<void> {
  const box = $("replay-result");
  try {
    if (file.size > 64 * 1024 * 1024) throw new Error(`${file.name}: larger than 64 MiB`);
    const { linkType, packets } = readPcap(new Uint8Array(await file.arrayBuffer()), file.name);
    if (linkType !== 1) throw new Error(`${file.name}: link type ${linkType} is not Ethernet (1)`);
    // A fresh engine with the running configuration, as `wasmvs replay` would start.
    const c = cfg!;
    const e = await Engine.create(wasmBytes, { batch: 64, slotSize: configSlotSize(c), connCapacity: Math.min(c.connections ?? 65536, 65536), ...schedulerSizing(c) });
    applyConfig(e, c);
    const out = replayFrames(e, packets, c.interfaces);
    const url = URL.createObjectURL(new Blob([writePcap(out) as Uint8Array<ArrayBuffer>], { type: "application/vnd.tcpdump.pcap" }));
    const drops = Object.entries(e.drops()).filter(([, v]) => v !== 0n).map(([k, v]) => `${k} ${v}`).join(", ");
    box.replaceChildren(
      el("p", { id: "replay-summary" }, `${packets.length} frames in, ${out.length} frames out${drops ? `; dropped: ${drops}` : ""}. `,
        el("a", { href: url, download: file.name.replace(/(\.pcap)?$/, ".out.pcap"), id: "replay-download" }, "download the output")),
      el("ol", { class: "replayed" }, ...out.slice(0, 100).map((o) => el("li", {}, `${ifName(o.ifindex)}: ${summary(o.data)}`))),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err instanceof Error ? err.message : String(err)));
  }
}

function wire(): void {
  const modeSel = $<HTMLSelectElement>("mode");
  modeSel.replaceChildren(...(Object.keys(MODES) as Method[]).map((m) => el("option", { value: m }, MODES[m].name)));
  modeSel.addEventListener("change", () => { form.mode = modeSel.value as Method; void formChanged(); });
  const schedSel = $<HTMLSelectElement>("scheduler");
  schedSel.replaceChildren(...SCHEDULERS.map((s) => el("option", { value: s }, `${s} — ${RULES[s].split(":")[0]}`)));
  schedSel.addEventListener("change", () => { form.scheduler = schedSel.value as SchedulerName; void formChanged(); });
  $("add-server").addEventListener("click", () => { if (form.weights.length < 8) { form.weights.push(1); void formChanged(); } });
  $("apply").addEventListener("click", async () => {
    const error = await applyConfiguration($<HTMLTextAreaElement>("config").value, configName);
    showConfigError(error);
    render();
  });
  $<HTMLInputElement>("config-file").addEventListener("change", async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    if (f.size > 1024 * 1024) { showConfigError(`${f.name}: larger than 1 MiB`); return; }
    const text = await f.text();
    $<HTMLTextAreaElement>("config").value = text;
    showConfigError(await applyConfiguration(text, f.name));
    render();
  });
  $<HTMLInputElement>("pcap-file").addEventListener("change", (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void replayFile(f);
  });
  const target = () => $<HTMLSelectElement>("target").value;
  const on = (id: string, f: () => void) => $(id).addEventListener("click", () => { if (engine) { f(); render(); } });
  on("syn", () => openFlow(target()));
  on("flows", () => { for (let i = 0; i < 20; i++) openFlow(target()); });
  on("data", () => clientSegment(PSH | ACK, Array.from("GET / HTTP/1.1\r\n\r\n", (c) => c.charCodeAt(0)), "data on the last connection"));
  on("fin", () => clientSegment(FIN | ACK, [], "the client closes the last connection (FIN)"));
  on("reply", () => serverAnswers());
  on("ping", () => {
    const svc = serviceOf(target());
    if (!svc) return;
    const ends = { ...newClient(), dst: svc.address };
    send(`ping from ${ends.src} to ${svc.address}`, echoRequest(ends, 7, clientCount), cfg!.interfaces[0].index);
  });
  on("arp", () => {
    const svc = serviceOf(target());
    const c = cfg!;
    const gw = c.routes.find((r) => r.cidr === "0.0.0.0/0")?.via ?? numberToIp((ipToNumber(c.interfaces[0].address!.split("/")[0]) & ~255) + 254);
    if (svc) send(`who has ${svc.address}? (ARP from ${gw})`, arpRequest(macOf(c, gw), gw, svc.address), c.interfaces[0].index);
  });
  on("big", () => {
    const svc = serviceOf(target());
    if (!svc) return;
    const ends = { ...newClient(), dst: svc.address };
    const frame = svc.protocol === "tcp"
      ? tcpFrame(ends, 40000 + clientCount, svc.port, SYN, 1, 0, new Array(1460).fill(0x42))
      : udpFrame(ends, 40000 + clientCount, svc.port, new Array(1472).fill(0x42), true);
    send(`a 1500-byte packet with DF from ${ends.src} to ${svc.address}:${svc.port}`, frame, cfg!.interfaces[0].index);
  });
  const wait = (id: string, ms: number) => on(id, () => { now += ms; engine!.tick(now); });
  wait("wait10", 10_000);
  wait("wait300", 300_000);
}

async function start(): Promise<void> {
  wire();
  const error = await applyConfiguration(configText, configName);
  $<HTMLTextAreaElement>("config").value = configText;
  showConfigError(error);
  renderForm();
  render();
  document.body.dataset.ready = "yes";
}

// For the page's tests and the curious: the engine and the state behind the page.
window.wasmvsPlayground = { get engine() { return engine; }, get steps() { return steps; }, get config() { return cfg; } };
start().catch((err) => {
  document.body.dataset.ready = "failed";
  $("config-error").hidden = false;
  $("config-error").textContent = `The playground could not start: ${err instanceof Error ? err.message : String(err)}`;
});
