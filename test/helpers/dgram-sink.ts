// A Unix datagram socket for the tests: Node binds none, so python3 does (dgram-sink.py).

import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../host/sandbox/sandbox.js";

/** A datagram socket at path (python3: Node binds none) and the datagrams it has received. */
export async function datagramSink(path: string, seconds = 60): Promise<{ path: string; proc: ChildProcess; got: () => string[]; stop: () => void }> {
  const proc = spawn("python3", [join(ROOT, "test", "helpers", "dgram-sink.py"), path, String(seconds)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout!.on("data", (d) => { out += d; });
  const deadline = Date.now() + 10000;
  while (!out.startsWith("ready\n")) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error("the datagram sink did not start");
    await new Promise((r) => setTimeout(r, 20));
  }
  return { path, proc, got: () => out.split("\n").slice(1).filter(Boolean).map((l) => JSON.parse(l) as string), stop: () => proc.kill() };
}

