// Real-world keepalived.conf files (issue 17), collected from unrelated public repositories
// (test/fixtures/keepalived-corpus/, sources in its README), each judged by Debian's
// keepalived 2.2.7 (`keepalived -t`, in a network namespace of its own holding the interfaces
// the file names) and by `wasmvs check FILE --director FILE.director`, the file unchanged.
// wasmvs must accept every file keepalived accepts, except the differences listed in the
// corpus's manifest.json, each with its reason — the table README's "Real-world files"
// shows. A difference that is not listed fails, and so does a listed one that went away.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { check } from "../host/cli/check.js";
import { ConfigError } from "../host/control/rules.js";
import { gatedDescribe } from "./e2e/e2e.js";

const CORPUS = join(import.meta.dirname, "fixtures", "keepalived-corpus");
const README = join(import.meta.dirname, "..", "README.md");
const KEEPALIVED = "/usr/sbin/keepalived";

interface Difference { file: string; line: number; keyword: string; group: Group; keepalived: string; why: string }
interface Silent { file: string; keepalived: string; group: "pending" | "silent"; wasmvs: string; why: string }
type Group = "pending" | "stricter" | "differs" | "cascade";
const manifest = JSON.parse(readFileSync(join(CORPUS, "manifest.json"), "utf8")) as {
  files: { file: string; repo: string; path: string; commit: string; kind: string; what: string }[];
  differences: Difference[];
  silent: Silent[];
};

const key = (file: string, line: number, keyword: string) => `${file}:${line} '${keyword}'`;

/** What wasmvs refuses in a file (its errors' positions), and its warnings. */
async function wasmvs(file: string): Promise<{ errors: string[]; files: string[]; out?: string }> {
  const conf = join(CORPUS, `${file}.conf`);
  try {
    return { errors: [], files: [], out: await check(conf, join(CORPUS, `${file}.director`)) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { errors: e.errors.map((x) => key(`${basename(x.file, ".conf")}.conf`, x.line, x.keyword)), files: e.errors.map((x) => x.file) };
  }
}

const names = manifest.files.map((f) => f.file.replace(/\.conf$/, ""));

/** The README row of a difference (README's table is this list, rendered). */
export const row = (d: Difference) => `| ${d.file}:${d.line} | \`${d.keyword}\` | ${d.keepalived} | ${d.why} |`;
export const silentRow = (s: Silent) => `| ${s.file} | ${s.keepalived} | ${s.wasmvs} | ${s.why} |`;

describe("the keepalived.conf corpus", () => {
  it("is what its manifest says: every file with its director file, from as many repositories", () => {
    const onDisk = (ext: string) => readdirSync(CORPUS).filter((f) => f.endsWith(ext)).map((f) => f.slice(0, -ext.length));
    expect(onDisk(".conf").sort()).toEqual([...names].sort());
    expect(onDisk(".director").sort()).toEqual([...names].sort());
    expect(new Set(manifest.files.map((f) => f.repo)).size).toBe(manifest.files.length);
    for (const d of manifest.differences) expect(names, d.file).toContain(d.file.replace(/\.conf$/, ""));
    // Each file's source, in the corpus's README as in its manifest.
    const sources = readFileSync(join(CORPUS, "README.md"), "utf8");
    for (const f of manifest.files) expect(sources).toContain(`| ${f.file} | ${f.repo} | ${f.path} | ${f.commit.slice(0, 12)} | ${f.kind} |`);
  });

  it("wasmvs refuses exactly the listed differences, at their lines in the corpus file (never the director file)", async () => {
    const actual: Record<string, string[]> = {};
    const listed: Record<string, string[]> = {};
    let accepted = 0;
    for (const f of names) {
      const r = await wasmvs(f);
      if (!r.errors.length) accepted++;
      for (const p of r.files) expect(p).toBe(join(CORPUS, `${f}.conf`));
      actual[f] = r.errors.sort();
      listed[f] = manifest.differences.filter((d) => d.file === `${f}.conf`).map((d) => key(d.file, d.line, d.keyword)).sort();
    }
    // One comparison for the whole corpus: the diff shows every unlisted and every vanished difference.
    expect(actual).toEqual(listed);
    const refused = names.length - accepted;
    const groups = (g: Group) => manifest.differences.filter((d) => d.group === g).length;
    console.log(`keepalived corpus: ${names.length} files; wasmvs accepts ${accepted}, refuses ${refused} (${manifest.differences.length} differences: ` +
      `${groups("pending")} pending wt-kw, ${groups("stricter")} stricter, ${groups("differs")} differ, ${groups("cascade")} cascade; ${manifest.silent.length} silent)`);
  });

  it("README's table is the manifest's", () => {
    const text = readFileSync(README, "utf8");
    const section = text.slice(text.indexOf("### Real-world files"));
    for (const d of manifest.differences) expect(section, d.file).toContain(row(d));
    for (const s of manifest.silent) expect(section, s.file).toContain(silentRow(s));
    expect(section).toContain(`${names.length} keepalived.conf files`);
    // The first test makes the listed differences wasmvs's refusals: the files without one are those it accepts.
    expect(section).toContain(`wasmvs accepts ${names.length - new Set(manifest.differences.map((d) => d.file)).size}.`);
  });
});

/** keepalived's messages after which it carries on (the line ignored, a default taken, a
 *  script disabled): anything else counts as keepalived refusing the file. */
const CARRIES_ON = [/Unknown keyword/, /outside range/, /invalid$/, /Disabling track script .* since not found\/accessible/, /Warning - /,
  /Ignoring track_interface .* since own interface/, /Truncating auth_pass to 8 characters/, /SECURITY VIOLATION - scripts are being executed but script_security not enabled/,
  /Invalid smtp server/, /unknown \[\w+\] routing method/, /no forwarding method set, setting default NAT/, /this probably isn't what you want/, /is deprecated/,
  /Please use global lvs_sync_daemon/, /invalid number/, /Using default/, /- ignoring/, /ignoring\.\.\.$/, /defaulting to/, /\. Ignoring$/];

function keepalivedUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "keepalived -t runs in a network namespace of its own, which needs root";
  if (!existsSync(KEEPALIVED)) return `${KEEPALIVED} is not installed (Debian: apt-get install keepalived)`;
  if (spawnSync("unshare", ["-n", "true"]).status !== 0) return "unshare -n does not work here";
  return undefined;
}

/** keepalived -t on a corpus file, in a new network namespace holding the director file's
 *  interfaces as TAPs with their addresses (keepalived takes the host's interfaces; the
 *  namespace ends with the command, and nothing here touches the host's network). */
function keepalived(file: string, pids: string): { rc: number | null; messages: string[] } {
  const dir = readFileSync(join(CORPUS, `${file}.director`), "utf8");
  const setup = [...dir.matchAll(/interface (\S+) \{\s*address (\S+)/g)]
    .map(([, n, a]) => `ip tuntap add dev ${n} mode tap && ip addr add ${a} dev ${n} && ip link set ${n} up`);
  const conf = join(CORPUS, `${file}.conf`);
  const r = spawnSync("unshare", ["-n", "sh", "-c", `${setup.join(" && ")} && exec ${KEEPALIVED} -t -f "$1" -l -G -n -p "$2/k.pid" -r "$2/v.pid" -c "$2/c.pid"`, "sh", conf, pids],
    { encoding: "utf8", timeout: 20000 });
  const messages = `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").filter((l) => l.trim()).map((l) => l.replace(`${conf}: `, ""));
  return { rc: r.status, messages };
}

gatedDescribe("the keepalived.conf corpus judged by keepalived -t", keepalivedUnavailable(), () => {
  it("keepalived accepts every file (carrying on after each message), and says what the table says it says", () => {
    const pids = mkdtempSync(join(tmpdir(), "wasmvs-kcorpus-"));
    try {
      let clean = 0;
      for (const f of names) {
        const k = keepalived(f, pids);
        // 0: nothing to say; 5: config problems reported (keepalived -t's exit for any message);
        // 6: scripts without script_security (keepalived runs them, as root, and warns).
        expect([0, 5, 6], `${f}: ${k.messages.join("\n")}`).toContain(k.rc);
        if (k.rc === 0) clean++;
        const refusing = k.messages.filter((m) => !CARRIES_ON.some((re) => re.test(m)));
        expect(refusing, `${f}: keepalived says something it does not carry on after`).toEqual([]);
        const at = (line: number) => k.messages.filter((m) => m.includes(`Line ${line})`));
        for (const d of manifest.differences.filter((x) => x.file === `${f}.conf`)) {
          // "stricter": keepalived warns about the line (and carries on); "differs": it says nothing there.
          if (d.group === "stricter") expect([...at(d.line), ...k.messages.filter((m) => m.includes(d.keyword))], `${d.file}:${d.line}`).not.toEqual([]);
          if (d.group === "differs") expect(at(d.line), `${d.file}:${d.line}`).toEqual([]);
        }
        for (const s of manifest.silent.filter((x) => x.file === `${f}.conf`)) {
          expect(k.messages.some((m) => m.includes(s.keepalived)), `${s.file}: ${s.keepalived}`).toBe(true);
        }
      }
      console.log(`keepalived -t: accepts all ${names.length} (${clean} without a message)`);
      expect(readFileSync(README, "utf8")).toContain(`keepalived accepts all ${names.length} (${clean} without a message`);
    } finally {
      rmSync(pids, { recursive: true, force: true });
    }
  });
});
