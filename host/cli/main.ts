// The wasmvs command.

import { replay } from "./replay.js";
import { runDirector } from "../daemon/director.js";
import { runDecap } from "../dataplane/decap.js";
import { ipvsadm } from "./ipvsadm.js";
import { ConfigError } from "../config/rules.js";
import { PcapError } from "../engine/pcap.js";
import { tunnelAddress } from "../engine/decap.js";
import { IpvsadmError } from "../config/ipvsadm.js";
import { defaultSocket } from "../io/control-socket.js";
import { tapAddon } from "../io/tap.js";
import { readFileSync } from "node:fs";
import { printable } from "../config/printable.js";
import { journalStream, Logger, makeLogger, parseFacility, parseLevel } from "../io/log.js";

export const USAGE = `usage: wasmvs <command> [options]

commands:
  replay --config FILE [--director FILE] --in CAPTURE.pcap --out OUTPUT.pcap [--clock capture|fixed] [--per-interface] [--batch N]
         run the engine over a capture with the configuration in FILE (keepalived.conf
         with a director block, or ipvsadm-save rules plus interface/route/neighbour
         lines) and write every frame it emits
  -A|-E|-D|-C|-a|-e|-d|-L|-l|-Z|-S|-R|--set ...
         ipvsadm's command line against the running director (wasmvs -h lists it;
         the socket is WASMVS_SOCKET, by default this network namespace's
         /run/wasmvs/net-INODE.sock)
  check FILE [--director FILE] [--strict]   (or check --config FILE ..., as run takes it)
         validate a configuration (keepalived.conf with a director block, or ipvsadm
         rules) without running anything, and say what it would set up; --director:
         keepalived.conf's director block is in a file of its own, so that keepalived.conf
         stays the same as a keepalived peer's; --strict: what keepalived warns about
         and carries on after (an unknown keyword ignored, a default taken) is an error
  reload [--socket PATH]
         make the running director re-read its configuration file (as SIGHUP), and its
         --director file (strict if the director was started with --strict)
  run --config FILE [--director FILE] [--strict] [--status FILE] [--socket PATH] [--table-file PATH|none] [--batch N]
      [--log console|syslog] [--log-level LEVEL] [--log-facility daemon|local0-7] [--log-socket PATH]
         run the director on TAP devices (as root): one TAP per 'interface' line
         ('tap NAME', 'bridge BR'); SIGHUP reloads FILE, SIGINT/SIGTERM stop it and
         leave the connection table in the table file (default: the socket's path
         with .table), which the next run takes over: a restart loses no connection;
         while it runs the file is rewritten every 500 ms, so a crash or kill -9
         loses none older than that (none: neither). Logs go to stdout (journald's
         priorities under systemd), or with --log syslog to /dev/log (--log-socket) as
         daemon (--log-facility); --log-level error|warning|notice|info|debug (info)
  decap --uplink TAP --stack TAP --address ADDR [--address ADDR ...] [--uplink-bridge BR]
         unwrap IPIP for ADDR between a real server's uplink and its stack (TUN mode
         where the kernel has no ipip module); an IPv6 ADDR unwraps ip6ip6 and 4in6,
         an IPv4 one also 6in4
  demo   the live demo: a sandbox of network namespaces, NAT, DR and TUN in turn
  top [--socket PATH] [--interval SECONDS] [--once]
         the running director live in the terminal: per service and real server the
         connections, statistics and rates, the table's occupancy, drops, VRRP and health,
         refreshed every second (--interval) until q; --once prints one screen
  playground [--listen [ADDRESS:]PORT]
         serve the playground, the engine in a web page showing LVS at work (default
         127.0.0.1:8080; the page, dist/playground/index.html, also opens from disk)
  help   show this text; wasmvs COMMAND --help shows one command's
  --version  wasmvs's version (wasmvs -v: ipvsadm's version line, as ipvsadm)
`;

/** Each command's own usage, for COMMAND --help and its usage errors. */
const COMMAND_USAGE: Record<string, string> = Object.fromEntries(
  USAGE.split("\ncommands:\n")[1].split(/\n(?=  \S)/).map((block) => [block.trim().split(/\s/)[0], `usage: wasmvs ${block.trim()}\n`]));

/** wasmvs's own version, from its package.json. */
export function version(): string {
  try {
    return JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version;
  } catch {
    return "unknown";
  }
}

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

type Flags = Record<string, string | boolean>;

/** Parse --name value / --flag arguments against the allowed set. */
export function parseFlags(args: string[], valued: string[], boolean: string[]): Flags {
  const out: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.replace(/^--/, "");
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    if (boolean.includes(name)) out[name] = true;
    else if (valued.includes(name)) {
      // An empty value is no value (not "ENOENT, open ''"); a second one is refused rather
      // than the last silently taken: `--director a --director b` is a mistake either way.
      if (i + 1 >= args.length || args[i + 1].startsWith("--") || args[i + 1] === "") throw new UsageError(`${a} needs a value`);
      if (name in out) throw new UsageError(`${a} given twice`);
      out[name] = args[++i];
    } else throw new UsageError(`unknown option ${a}`);
  }
  return out;
}

async function cmdReplay(args: string[]): Promise<number> {
  const f = parseFlags(args, ["config", "director", "in", "out", "clock", "batch"], ["per-interface"]);
  for (const k of ["config", "in", "out"]) if (!f[k]) throw new UsageError(`replay needs --${k}`);
  const clock = (f.clock as string) ?? "capture";
  if (clock !== "capture" && clock !== "fixed") throw new UsageError(`--clock must be capture or fixed, not "${clock}"`);
  const batch = f.batch ? Number(f.batch) : 64;
  if (!Number.isInteger(batch) || batch < 1 || batch > 4096) throw new UsageError(`--batch must be a whole number from 1 to 4096`);
  const r = await replay({
    config: f.config as string, director: f.director as string | undefined, input: f.in as string, output: f.out as string, clock, perInterface: !!f["per-interface"], batch,
  });
  process.stdout.write(r.report + "\n");
  return 0;
}

/** The log of the command running (run's options set it; console otherwise). */
let log: Logger = makeLogger({ to: "console" });

/** run's --log options: where the log goes, from which level. */
function logOptions(f: Flags): Logger {
  const to = (f.log as string) ?? "console";
  if (to !== "console" && to !== "syslog") throw new UsageError(`--log must be console or syslog, not "${to}"`, "run");
  const level = f["log-level"] === undefined ? 6 : parseLevel(f["log-level"] as string);
  if (level === undefined) throw new UsageError(`--log-level must be error, warning, notice, info or debug, not "${f["log-level"]}"`, "run");
  const facility = f["log-facility"] === undefined ? 3 : parseFacility(f["log-facility"] as string);
  if (facility === undefined) throw new UsageError(`--log-facility must be daemon, local0 to local7 or 0 to 7, not "${f["log-facility"]}"`, "run");
  if (f["log-socket"] !== undefined && to !== "syslog") throw new UsageError("--log-socket is for --log syslog", "run");
  const socket = (f["log-socket"] as string) ?? "/dev/log";
  if (Buffer.byteLength(socket) > 106) throw new UsageError("--log-socket: a path of at most 106 bytes (a Unix socket address)", "run");
  return makeLogger({ to, level, facility, socket }, undefined, to === "syslog" ? (p, b) => tapAddon().sendDatagram(p, b) : undefined);
}

/** An error line on stderr: with journald's error prefix when stderr is its stream. */
function errorLine(text: string): string {
  text = printable(text, true);
  log.fatal(text.replace(/^wasmvs: /, "").trimEnd());
  return journalStream(2) ? text.split("\n").map((l) => (l ? `<3>${l}` : l)).join("\n") : text;
}

function batchFlag(f: Flags): number {
  const batch = f.batch ? Number(f.batch) : 256;
  if (!Number.isInteger(batch) || batch < 1 || batch > 4096) throw new UsageError(`--batch must be a whole number from 1 to 4096`);
  return batch;
}

async function cmdRun(args: string[]): Promise<number> {
  const f = parseFlags(args, ["config", "director", "status", "batch", "socket", "table-file", "log", "log-level", "log-facility", "log-socket"], ["strict"]);
  if (!f.config) throw new UsageError("run needs --config");
  log = logOptions(f);
  await runDirector({ config: f.config as string, director: f.director as string | undefined, strict: !!f.strict, status: f.status as string | undefined, socket: f.socket as string | undefined,
    tableFile: f["table-file"] as string | undefined, batch: batchFlag(f), log });
  return 0;
}

async function cmdDecap(args: string[]): Promise<number> {
  const addresses: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--address") {
      if (i + 1 >= args.length) throw new UsageError("--address needs a value");
      addresses.push(args[++i]);
    } else rest.push(args[i]);
  }
  const f = parseFlags(rest, ["uplink", "stack", "uplink-bridge"], []);
  if (!f.uplink || !f.stack) throw new UsageError("decap needs --uplink TAP and --stack TAP");
  if (addresses.length === 0) throw new UsageError("decap needs at least one --address (the server's tunnel address)");
  for (const a of addresses) {
    try {
      tunnelAddress(a);
    } catch (e) {
      // An IPv6 tunnel address (ip6ip6, 4in6) is read as parseIp6 reads it, with its reason.
      throw new UsageError(a.includes(":") ? `--address: ${(e as Error).message}` : `--address: not an IPv4 address: "${a}"`);
    }
  }
  await runDecap({ uplink: f.uplink as string, stack: f.stack as string, addresses, uplinkBridge: f["uplink-bridge"] as string | undefined, log });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "--version" || cmd === "version") {
    process.stdout.write(`wasmvs ${version()}\n`);
    return 0;
  }
  // ipvsadm's command line: every option starts with a dash (wasmvs -L -n, wasmvs -A -t ...).
  if (cmd !== undefined && cmd.startsWith("-") && !["--help"].includes(cmd)) return ipvsadm(argv);
  if (cmd !== undefined && COMMAND_USAGE[cmd] && (rest.includes("--help") || rest.includes("-h"))) {
    process.stdout.write(COMMAND_USAGE[cmd]);
    return 0;
  }
  try {
    switch (cmd) {
      case "replay":
        return await cmdReplay(rest);
      case "run":
        return await cmdRun(rest);
      case "ipvsadm":
        return await ipvsadm(rest);
      case "check": {
        // FILE and --director FILE, in either order; --config FILE as `run` takes it (an operator
        // checks the very command line they run).
        const at = rest.map((a, i) => (!a.startsWith("--") && rest[i - 1] !== "--director" && rest[i - 1] !== "--config" ? i : -1)).filter((i) => i >= 0);
        const f = parseFlags(rest.filter((_, i) => !at.includes(i)), ["director", "config"], ["strict"]);
        if (at.length + (f.config !== undefined ? 1 : 0) !== 1 || (at.length === 1 && rest[at[0]] === "")) {
          throw new UsageError("check needs exactly one FILE (or --config FILE)", "check");
        }
        const file = at.length === 1 ? rest[at[0]] : (f.config as string);
        // What the file says (words in warnings, errors) cannot drive the terminal: control characters escaped.
        process.stdout.write(printable(await (await import("./check.js")).check(file, f.director as string | undefined, !!f.strict), true));
        return 0;
      }
      case "reload": {
        const f = parseFlags(rest, ["socket"], []);
        const { request } = await import("./ipvsadm.js");
        const r = await request((f.socket as string) ?? process.env.WASMVS_SOCKET ?? defaultSocket(), { op: "reload" }) as { ok: boolean; error?: string; changes?: string[]; more?: number; warnings?: string[] };
        if (!r.ok) {
          process.stderr.write(errorLine(`wasmvs: reload refused, the running configuration stays: ${r.error}\n`));
          return 1;
        }
        // What the new file got past with a warning (as check prints them): not only in the log.
        for (const w of (r.warnings ?? []).slice(0, 101)) process.stderr.write(printable(`warning: ${w}`) + "\n");
        // The reply words the first changes of a large reload and counts the rest (control/server.ts repliedChanges).
        const more = r.more ? `\n... and ${r.more} more changes (${(r.changes?.length ?? 0) + r.more} in all)` : "";
        process.stdout.write((r.changes?.length ? r.changes.join("\n") + more : "no change") + "\n");
        return 0;
      }
      case "decap":
        return await cmdDecap(rest);
      case "demo":
        return await (await import("../demo/demo.js")).demo(rest);
      case "top": {
        const f = parseFlags(rest, ["socket", "interval"], ["once"]);
        const interval = f.interval === undefined ? 1 : Number(f.interval);
        if (!(interval >= 0.2 && interval <= 60)) throw new UsageError(`--interval must be from 0.2 to 60 seconds, not "${f.interval}"`, "top");
        const { top } = await import("./top.js");
        return await top({ socket: (f.socket as string) ?? process.env.WASMVS_SOCKET ?? defaultSocket(), intervalMs: interval * 1000, once: !!f.once });
      }
      case "playground": {
        const f = parseFlags(rest, ["listen"], []);
        const { playground } = await import("./playground.js");
        return await playground(f.listen as string | undefined, (line) => process.stdout.write(`wasmvs: ${line}\n`));
      }
      case "help": case "--help": case "-h": case undefined:
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`wasmvs: ${e.message}\n\n${COMMAND_USAGE[e.command ?? cmd ?? ""] ?? USAGE}`);
      return 2;
    }
    if (e instanceof IpvsadmError) {
      process.stderr.write(errorLine(`wasmvs: ${e.message}\n`));
      return e.status === 0 ? 1 : e.status;
    }
    if (e instanceof ConfigError || e instanceof PcapError) {
      process.stderr.write(errorLine(`wasmvs: ${e.message}\n`));
      return 1;
    }
    // System errors (no such file, no permission, device busy, a missing bridge): the
    // message says it, on one line; the stack only when asked for (WASMVS_DEBUG=1).
    const detail = process.env.WASMVS_DEBUG ? (e as Error).stack : (e as Error).message ?? String(e);
    process.stderr.write(errorLine(`wasmvs: ${detail}\n`));
    return 1;
  }
}
