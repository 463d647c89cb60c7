// Real-world keepalived.conf files (issue 17), collected from unrelated public repositories
// (test/fixtures/keepalived-corpus/, sources in its README), each judged by Debian's
// keepalived 2.2.7 (`keepalived -t`, in a network namespace of its own holding the interfaces
// the file names) and by `wasmvs check FILE --director FILE.director`, the file unchanged.
// wasmvs must accept every file keepalived accepts, except the differences listed in the
// corpus's manifest.json, each with its reason — the table README's "Real-world files"
// shows. Where keepalived warns and carries on ("warns") or silently does something
// ("silent"), wasmvs does the same with a warning at the line, and `--strict` refuses the
// line; "differs": wasmvs refuses it either way. A difference that is not listed fails,
// and so does a listed one that went away.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { check } from "../host/cli/check.js";
import { ConfigError } from "../host/config/rules.js";
import { readConfig } from "../host/control/load.js";
import { gatedDescribe } from "./e2e/e2e.js";

const CORPUS = join(import.meta.dirname, "fixtures", "keepalived-corpus");
const README = join(import.meta.dirname, "..", "README.md");
const KEEPALIVED = "/usr/sbin/keepalived";

interface Difference { file: string; line: number; keyword: string; group: Group; keepalived: string; why: string }
type Group = "warns" | "silent" | "differs";
const manifest = JSON.parse(readFileSync(join(CORPUS, "manifest.json"), "utf8")) as {
  files: { file: string; repo: string; path: string; commit: string; kind: string; what: string }[];
  differences: Difference[];
};

const key = (file: string, line: number, keyword: string) => `${file}:${line} '${keyword}'`;

/** What wasmvs refuses in a file (its errors' positions), and its warnings. */
async function wasmvs(file: string, strict = false): Promise<{ errors: string[]; files: string[]; out?: string }> {
  const conf = join(CORPUS, `${file}.conf`);
  try {
    return { errors: [], files: [], out: await check(conf, join(CORPUS, `${file}.director`), strict) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { errors: e.errors.map((x) => key(`${basename(x.file, ".conf")}.conf`, x.line, x.keyword)), files: e.errors.map((x) => x.file) };
  }
}

const names = manifest.files.map((f) => f.file.replace(/\.conf$/, ""));

/** The README row of a difference (README's table is this list, rendered). */
export const row = (d: Difference) => `| ${d.file}:${d.line} | \`${d.keyword}\` | ${d.keepalived} | ${d.why} |`;
const refusedBy = (strict: boolean) => manifest.differences.filter((d) => strict || d.group === "differs");
const acceptedBy = (strict: boolean) => names.length - new Set(refusedBy(strict).map((d) => d.file)).size;

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

  for (const strict of [false, true]) {
    it(`${strict ? "with --strict" : "by default"}, wasmvs refuses exactly the listed differences${strict ? "" : " that differ"}, at their lines in the corpus file (never the director file)`, async () => {
      const actual: Record<string, string[]> = {};
      const listed: Record<string, string[]> = {};
      let accepted = 0;
      for (const f of names) {
        const r = await wasmvs(f, strict);
        if (!r.errors.length) accepted++;
        for (const p of r.files) expect(p).toBe(join(CORPUS, `${f}.conf`));
        actual[f] = r.errors.sort();
        listed[f] = refusedBy(strict).filter((d) => d.file === `${f}.conf`).map((d) => key(d.file, d.line, d.keyword)).sort();
        // By default each line keepalived carries on after (or silently reads its own way) is a warning at that line.
        if (!strict) {
          const warnings = readConfig(join(CORPUS, `${f}.conf`), join(CORPUS, `${f}.director`)).cfg.warnings ?? [];
          for (const d of manifest.differences.filter((x) => x.file === `${f}.conf` && x.group !== "differs")) {
            expect(warnings.filter((w) => w.startsWith(`${join(CORPUS, d.file)}:${d.line}:`)), `${d.file}:${d.line}`).not.toEqual([]);
          }
        }
      }
      // One comparison for the whole corpus: the diff shows every unlisted and every vanished difference.
      expect(actual).toEqual(listed);
      expect(accepted).toBe(acceptedBy(strict));
      const groups = (g: Group) => manifest.differences.filter((d) => d.group === g).length;
      console.log(`keepalived corpus${strict ? " (--strict)" : ""}: ${names.length} files; wasmvs accepts ${accepted}, refuses ${names.length - accepted} ` +
        `(${refusedBy(strict).length} lines; listed: ${groups("warns")} keepalived warns, ${groups("silent")} keepalived silent, ${groups("differs")} differ)`);
    });
  }

  it("README's table is the manifest's", () => {
    const text = readFileSync(README, "utf8");
    const section = text.slice(text.indexOf("### Real-world files"));
    for (const d of manifest.differences) expect(section, d.file).toContain(row(d));
    expect(section).toContain(`${names.length} keepalived.conf files`);
    // The tests above make the listed differences wasmvs's refusals: the files without one are those it accepts.
    expect(section).toContain(`wasmvs accepts ${acceptedBy(false)} by default and ${acceptedBy(true)} with \`--strict\``);
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
          // "warns": keepalived warns about the line (and carries on), in the words the table gives;
          // "silent" and "differs": it says nothing there.
          if (d.group === "warns") {
            const words = d.keepalived.split(/;|\(/)[0].trim();
            expect(words, `${d.file}:${d.line}: what keepalived says`).not.toBe("");
            expect([...at(d.line), ...k.messages.filter((m) => m.includes(d.keyword) || m.includes(words))], `${d.file}:${d.line}`).not.toEqual([]);
            if (!/^Unknown keyword/.test(words)) expect(k.messages.some((m) => m.includes(words)), `${d.file}:${d.line}: ${words}`).toBe(true);
          } else expect(at(d.line), `${d.file}:${d.line}`).toEqual([]);
        }
      }
      console.log(`keepalived -t: accepts all ${names.length} (${clean} without a message)`);
      expect(readFileSync(README, "utf8")).toContain(`keepalived accepts all ${names.length} (${clean} without a message`);
    } finally {
      rmSync(pids, { recursive: true, force: true });
    }
  });
});
