// wasmvs/engine as others embed it: nothing reachable from the entry imports a Node module
// or uses a Node global, and the package `npm pack` makes works when installed into a fresh
// project — in plain Node and in a TypeScript project without Node's types. (The same entry
// in a real browser and a Web Worker: test/e2e/browser.test.ts.)

import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { ROOT } from "../host/sandbox/sandbox.js";

const ENTRY = join(ROOT, "dist/host/engine/embed.js");
const IMPORT = /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\bimport\s*["']([^"']+)["']/g;
/** A use of Node's globals (a method named process, as Engine's, is not one). */
const NODE_GLOBALS = /(?<![.\w$])(?:Buffer|process|global|globalThis\.process|globalThis\.Buffer)\s*\.|(?<![.\w$])(?:require|setImmediate)\s*\(|\b__dirname\b|\b__filename\b|\bnew\s+Buffer\b/;
const withoutComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'])\/\/[^\n]*/g, "$1");

/** Every file the entry reaches, with what each imports. */
function importGraph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const specs = [...withoutComments(readFileSync(file, "utf8")).matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith(".")) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return seen;
}

describe("wasmvs/engine, the entry point for embedders", () => {
  it("reaches only relative modules of its own, none using a Node global; its types need no Node types", () => {
    const graph = importGraph(ENTRY);
    expect(graph.size).toBeGreaterThanOrEqual(6);
    for (const [file, specs] of graph) {
      for (const s of specs) expect(`${file}: ${s}`).toMatch(/: \.\.?\//);
      expect(`${file}: ${withoutComments(readFileSync(file, "utf8")).match(NODE_GLOBALS)?.[0] ?? "none"}`).toBe(`${file}: none`);
      const types = file.replace(/\.js$/, ".d.ts");
      if (existsSync(types)) expect(`${types}: ${withoutComments(readFileSync(types, "utf8")).match(/\b(Buffer|NodeJS)\b|from "node:/)?.[0] ?? "none"}`).toBe(`${types}: none`);
    }
    // The checks find what they look for: the Node loader beside it, and a Node global.
    const node = importGraph(join(ROOT, "dist/host/engine/node.js"));
    expect([...node.values()].flat()).toContain("node:fs/promises");
    expect(["x = Buffer.from(y)", "if (process.env.X)", "require(\"fs\")"].map((t) => NODE_GLOBALS.test(t))).toEqual([true, true, true]);
    expect(["engine.process(n)", "process(n, now) {"].map((t) => NODE_GLOBALS.test(t))).toEqual([false, false]);
  });

  describe("npm pack, installed into a fresh project", () => {
    const work = mkdtempSync(join(tmpdir(), "wasmvs-embed-"));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const run = (cmd: string, args: string[], cwd: string) => {
      const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 180_000 });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout}`);
      return r.stdout;
    };
    let project = "";

    it("installs from the tarball (engine bytes, modules and types included)", () => {
      const packed = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT));
      const tarball = join(work, packed[0].filename);
      const files = packed[0].files.map((f: { path: string }) => f.path);
      expect(files).toEqual(expect.arrayContaining(["dist/host/engine/embed.js", "dist/host/engine/embed.d.ts", "wasm/release.wasm"]));
      project = join(work, "app");
      run("mkdir", ["-p", project], work);
      writeFileSync(join(project, "package.json"), JSON.stringify({ name: "embed-check", version: "1.0.0", private: true, type: "module" }));
      // The host's dependencies come along (from npm's cache when it has them).
      run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock", tarball], project);
      expect(existsSync(join(project, "node_modules/wasmvs/wasm/release.wasm"))).toBe(true);
    }, 240_000);

    it("a script importing wasmvs/engine runs a NAT SYN through the engine: the fixture's bytes", () => {
      const fixture = JSON.parse(readFileSync(join(ROOT, "test/fixtures/packets.json"), "utf8")).find((f: { name: string }) => f.name === "nat-in-syn");
      writeFileSync(join(project, "main.mjs"), `
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Engine } from "wasmvs/engine";
const wasm = readFileSync(createRequire(import.meta.url).resolve("wasmvs/wasm/release.wasm"));
const e = await Engine.create(wasm, { batch: 8, connCapacity: 1024 });
e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.0.0.1/24" });
e.setInterface({ index: 1, mac: "02:00:00:00:01:01", address: "10.1.0.1/24" });
e.setNeighbour("10.0.0.2", "02:cc:00:00:00:02", 0);
e.setNeighbour("10.1.0.11", "02:aa:00:00:00:11", 1);
const s = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 80, scheduler: "rr" });
e.addRealServer(s, { address: "10.1.0.11", port: 8080, method: "nat", weight: 1 });
e.loadFrame(0, Uint8Array.from(${JSON.stringify(fixture.input.hex)}.match(/../g), (x) => parseInt(x, 16)), ${fixture.input.ifindex});
const out = e.txFrames(e.process(1, 1000));
console.log(JSON.stringify(out.map((o) => ({ ifindex: o.ifindex, hex: Buffer.from(o.frame).toString("hex") }))));
`);
      expect(JSON.parse(run("node", ["main.mjs"], project))).toEqual(fixture.output);
    }, 60_000);

    it("a TypeScript project without Node's types compiles against its declarations", () => {
      writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: {
        module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [], strict: true, noEmit: true,
      }, files: ["page.ts"] }));
      writeFileSync(join(project, "page.ts"), `
import { Engine, readPcap, replayFrames, writePcap, type ReplayInterface } from "wasmvs/engine";
export async function replayInPage(wasmUrl: string, capture: Uint8Array, interfaces: ReplayInterface[]): Promise<Uint8Array> {
  const engine = await Engine.create(await (await fetch(wasmUrl)).arrayBuffer(), { batch: 64 });
  for (const i of interfaces) engine.setInterface(i);
  return writePcap(replayFrames(engine, readPcap(capture).packets, interfaces));
}
`);
      run(join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], project);
      // And a misuse is caught, so the compile above checked something.
      writeFileSync(join(project, "page.ts"), `import { Engine } from "wasmvs/engine";\nexport const x: number = Engine.create;\n`);
      expect(() => run(join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], project)).toThrow(/TS2322/);
    }, 60_000);
  });
});
