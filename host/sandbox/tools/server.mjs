// A real server for the end-to-end tests: HTTP answering with its own name on each
// port given, a UDP echo that prefixes its name, and for the health-check tests an HTTPS
// server, a server that accepts connections and never answers, and an SMTP sink that
// prints each mail it receives. Prints "ready" when everything listens.
// usage: node server.mjs NAME [--http PORT]... [--udp PORT]... [--https PORT:CERT:KEY]
//        [--hang PORT] [--smtp PORT] [--host ADDR]
// --host: the address every listener binds (0.0.0.0 unless given; "::" for the sandbox's
// IPv6 plan: one dual-stack socket, IPv4 clients seen as ::ffff:a.b.c.d).
import http from "node:http";
import https from "node:https";
import net from "node:net";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";

const [name, ...args] = process.argv.slice(2);
const opts = { http: [], udp: [], https: [], hang: [], smtp: [], host: [] };
for (let i = 0; i < args.length; i += 2) opts[args[i].slice(2)].push(args[i + 1]);
const host = opts.host.pop() ?? "0.0.0.0";
let pending = Object.values(opts).reduce((n, l) => n + l.length, 0);
const ready = () => { if (--pending === 0) console.log("ready"); };
const answer = (req, res) => {
  // The body is drained so keep-alive connections stay usable.
  req.resume();
  req.on("end", () => {
    const body = req.url === "/big" ? name + "\n" + "x".repeat(200000) : req.url === "/missing" ? "no such page" : name;
    res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
};
for (const port of opts.http) {
  const server = http.createServer(answer);
  server.keepAliveTimeout = 60000;
  server.listen(Number(port), host, ready);
}
for (const spec of opts.https) {
  const [port, cert, key] = spec.split(":");
  https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, answer).listen(Number(port), host, ready);
}
for (const port of opts.hang) {
  // Accepts, reads, never answers: a server that hangs.
  const held = [];
  net.createServer((s) => { held.push(s); s.on("error", () => {}); }).listen(Number(port), host, ready);
}
for (const port of opts.udp) {
  const sock = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  // A reply that cannot be sent (a flood from made-up sources) is not this server's problem.
  sock.on("error", () => {});
  sock.on("message", (msg, from) => sock.send(Buffer.concat([Buffer.from(name + ":"), msg]), from.port, from.address));
  sock.bind(Number(port), host, ready);
}
if (opts.smtp.length) {
  const { SMTPServer } = await import("smtp-server");
  for (const port of opts.smtp) {
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ["STARTTLS"], logger: false, disableReverseLookup: true,
      onData(stream, session, done) {
        const chunks = [];
        stream.on("data", (c) => chunks.push(c));
        stream.on("end", () => {
          console.log(`mail ${JSON.stringify({ from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString() })}`);
          done();
        });
      },
    });
    server.on("error", () => {});
    server.listen(Number(port), host, ready);
  }
}
process.on("SIGTERM", () => process.exit(0));
