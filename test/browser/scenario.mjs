// One run of the embedded engine, written once and run unchanged in Node, in a page and in
// a Web Worker (test/e2e/browser.test.ts compares the three, byte for byte). Plain
// JavaScript with no imports: `m` is the wasmvs/engine module wherever it was loaded, `wasm`
// the engine's bytes the caller fetched. Everything else comes in `input`, made in Node.
//
// input: { setup: { interfaces, route, neighbours, services }, fixtures: [{ name, setup,
//   before: [{ ifindex, hex }], input: { ifindex, hex } }], pcap: Uint8Array }

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));

async function director(m, wasm, setup) {
  const e = await m.Engine.create(wasm, { batch: 64, connCapacity: 4096 });
  for (const i of setup.interfaces) e.setInterface(i);
  e.addRoute(setup.route.destination, setup.route.gateway, setup.route.ifindex);
  for (const n of setup.neighbours) e.setNeighbour(n.address, n.mac, n.ifindex);
  for (const s of setup.services) {
    const svc = e.addService(s.service);
    for (const r of s.servers) e.addRealServer(svc, r);
  }
  return e;
}

/** Counters as decimal strings (structured clone and JSON both carry them). */
function counters(e) {
  return Object.fromEntries(Object.entries(e.counters()).filter(([, v]) => v !== 0n).map(([k, v]) => [k, v.toString()]));
}

export async function runScenario(m, wasm, input) {
  // The packet fixtures, each on a fresh engine, as test/packets.test.ts runs them.
  const fixtures = [];
  for (const f of input.fixtures) {
    const e = await director(m, wasm, f.setup);
    let t = 1000;
    for (const b of f.before) {
      e.loadFrame(0, bytes(b.hex), b.ifindex);
      e.process(1, t++);
    }
    e.loadFrame(0, bytes(f.input.hex), f.input.ifindex);
    const out = e.txFrames(e.process(1, t)).map((o) => ({ ifindex: o.ifindex, hex: hex(o.frame) }));
    fixtures.push({ name: f.name, out, counters: counters(e) });
  }
  // The capture, through replayFrames as `wasmvs replay` runs it, written back as a pcap.
  const e = await director(m, wasm, input.setup);
  const { linkType, packets } = m.readPcap(input.pcap, "capture");
  const out = m.replayFrames(e, packets, input.setup.interfaces);
  const services = e.services().map((s) => ({
    service: `${s.protocol} ${s.address}:${s.port} ${s.scheduler}`,
    servers: s.realServers.map((r) => `${r.address}:${r.port} ${r.method} conns ${r.stats.conns} in ${r.stats.inpkts}`),
  }));
  return { linkType, framesIn: packets.length, fixtures, pcap: m.writePcap(out), counters: counters(e), services };
}
