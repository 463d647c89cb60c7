// The client side of the end-to-end tests. Prints one JSON line with what it saw.
//   http URL --requests N --concurrency C [--keepalive] [--post BYTES] [--interval MS] [--timeout MS] [--times] [--duration MS] [--source ADDR] [--first-port P]
//     N requests, each on its own TCP connection unless --keepalive (then one
//     connection per concurrent worker); reports the body of every response, and with
//     --times when each was answered (Date.now(), ms); --duration stops starting new
//     requests after MS (whichever of N and MS comes first), as does SIGTERM; --first-port:
//     the Nth new connection comes from source port P+N-1 (else the kernel picks).
//   udp HOST PORT --count N [--timeout MS]
//     N datagrams, each from its own socket (so its own source port); reports replies.
import http from "node:http";
import dgram from "node:dgram";
import net from "node:net";

const [mode, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i < 0 ? dflt : rest[i + 1];
};
const flag = (name) => rest.includes(`--${name}`);
const timeout = Number(opt("timeout", 10000));

async function httpMode() {
  const url = new URL(rest[0]);
  const n = Number(opt("requests", 1));
  const c = Number(opt("concurrency", 1));
  const keep = flag("keepalive");
  const post = Number(opt("post", 0));
  const interval = Number(opt("interval", 0));
  const firstPort = opt("first-port", undefined) === undefined ? undefined : Number(opt("first-port", undefined));
  let socketsMade = 0;
  let until = Date.now() + Number(opt("duration", 1e12));
  // SIGTERM: start no more requests, report what was seen.
  process.on("SIGTERM", () => { until = 0; });
  const payload = post ? Buffer.alloc(post, 0x61) : undefined;
  const bodies = [];
  const errors = [];
  const ports = [];
  const times = [];
  let next = 0;
  const worker = async () => {
    // Without --keepalive every request must open its own connection (the tests count
    // connections per server). An agent with a finite maxSockets sends "Connection:
    // keep-alive" even when keepAlive is false, and hands its socket to a request queued
    // before the socket was freed: the next request, issued as the previous response
    // ended, then rode the same connection now and then. Unlimited sockets and keepAlive
    // false send "Connection: close" and never reuse one.
    const agent = new http.Agent({ keepAlive: keep, maxSockets: keep ? 1 : Infinity });
    // Each new connection takes the next port (an agent given localPort per request would
    // keep the first one for all its sockets).
    if (firstPort !== undefined) agent.createConnection = (options, cb) => net.createConnection({ ...options, localPort: firstPort + socketsMade++ }, cb);
    while (next < n && Date.now() < until) {
      const k = next++;
      if (interval && k > 0) await new Promise((r) => setTimeout(r, interval));
      await new Promise((resolve) => {
        const req = http.request(url, { agent, timeout, method: payload ? "POST" : "GET", localAddress: opt("source", undefined) }, (res) => {
          const chunks = [];
          res.on("data", (d) => chunks.push(d));
          res.on("end", () => {
            if (!keep && req.reusedSocket) errors.push(`${k}: rode an earlier request's connection (the client must open one per request)`);
            bodies[k] = Buffer.concat(chunks).toString();
            times[k] = Date.now();
            ports[k] = req.socket?.localPort;
            resolve();
          });
          res.on("error", (e) => { errors.push(`${k}: ${e.message}`); resolve(); });
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => { errors.push(`${k}: ${e.message}`); resolve(); });
        req.end(payload);
      });
    }
    agent.destroy();
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
  console.log(JSON.stringify(flag("times") ? { bodies, errors, ports, times } : { bodies, errors, ports }));
}

async function udpMode() {
  const [host, port] = rest;
  const n = Number(opt("count", 1));
  const replies = [];
  const errors = [];
  await Promise.all(Array.from({ length: n }, (_, k) => new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    const t = setTimeout(() => { errors.push(`${k}: timeout`); s.close(); resolve(); }, timeout);
    s.on("message", (m) => { replies[k] = m.toString(); clearTimeout(t); s.close(); resolve(); });
    s.send(Buffer.from(`hello ${k}`), Number(port), host, (e) => { if (e) { errors.push(`${k}: ${e.message}`); clearTimeout(t); s.close(); resolve(); } });
  })));
  console.log(JSON.stringify({ replies, errors }));
}

(mode === "udp" ? udpMode() : httpMode()).catch((e) => { console.error(e); process.exit(1); });
