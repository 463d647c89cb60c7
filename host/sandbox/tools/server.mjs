// A real server for the end-to-end tests: HTTP answering with its own name on each
// port given, and a UDP echo that prefixes its name. Prints "ready" when listening.
// usage: node server.mjs NAME --http PORT [--http PORT] [--udp PORT]
import http from "node:http";
import dgram from "node:dgram";

const [name, ...args] = process.argv.slice(2);
const httpPorts = [];
const udpPorts = [];
for (let i = 0; i < args.length; i += 2) (args[i] === "--udp" ? udpPorts : httpPorts).push(Number(args[i + 1]));
let pending = httpPorts.length + udpPorts.length;
const ready = () => { if (--pending === 0) console.log("ready"); };
for (const port of httpPorts) {
  const server = http.createServer((req, res) => {
    // The body is drained so keep-alive connections stay usable.
    req.resume();
    req.on("end", () => {
      const body = req.url === "/big" ? name + "\n" + "x".repeat(200000) : name;
      res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, "0.0.0.0", ready);
}
for (const port of udpPorts) {
  const sock = dgram.createSocket("udp4");
  // A reply that cannot be sent (a flood from made-up sources) is not this server's problem.
  sock.on("error", () => {});
  sock.on("message", (msg, from) => sock.send(Buffer.concat([Buffer.from(name + ":"), msg]), from.port, from.address));
  sock.bind(port, "0.0.0.0", ready);
}
process.on("SIGTERM", () => process.exit(0));
