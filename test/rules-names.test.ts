// The rules parser's shared strings (host/config/ipvsadm.ts TextNames): a file names the same
// real servers in service after service, and each record points at one string per address and
// per ADDRESS:PORT as written. Whatever is shared, every record says what its own line wrote:
// address, port, and the word its position names, also when the table's slots collide (more
// distinct addresses than slots) and when a port is written with leading zeros.
import { describe, expect, it } from "vitest";
import { clearParseCache, readRules } from "../host/config/rules.js";
import { parseArgs, parseCarefully } from "../host/config/ipvsadm.js";

const HEAD = `interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24
interface 1 name inside mac 02:00:00:00:01:01 address 10.1.0.1/24
route default via 10.0.0.254
`;

/** The server word of service i's server j: 9,000 distinct addresses over the file (more than
 *  the table's 4,096 slots), ports with and without leading zeros, some without a port. */
function serverWord(i: number, j: number): string {
  const host = `10.${1 + (i % 7)}.${(i * 3 + j) % 256}.${(i * 11 + j * 5) % 250 + 1}`;
  if (j === 2) return host;
  return `${host}:${j === 1 ? `0${8000 + (i % 50)}` : 8000 + ((i + j) % 90)}`;
}

function rules(n: number): string {
  let out = HEAD;
  for (let i = 0; i < n; i++) {
    out += `-A -t 10.0.${i >> 8}.${i & 255}:80 -s rr\n`;
    for (let j = 0; j < 3; j++) out += `-a -t 10.0.${i >> 8}.${i & 255}:80 -r ${serverWord(i, j)} -m -w 1\n`;
  }
  return out;
}

describe("one string per address and ADDRESS:PORT in a rules file", () => {
  it("every server's address, port and position word are what its line wrote", () => {
    clearParseCache();
    const n = 1500;
    const text = rules(n);
    const r = readRules(text, "names.conf");
    expect(r.errors).toEqual([]);
    expect(r.cfg.services).toHaveLength(n);
    const lines = text.split("\n");
    for (let i = 0; i < n; i++) {
      const s = r.cfg.services[i];
      expect(s.address).toBe(`10.0.${i >> 8}.${i & 255}`);
      expect(s.realServers).toHaveLength(3);
      for (let j = 0; j < 3; j++) {
        const x = s.realServers[j];
        const word = serverWord(i, j);
        const [address, port] = word.split(":");
        expect(x.address).toBe(address);
        expect(x.port).toBe(port === undefined ? 80 : Number(port));
        expect(x.where).toEqual({ file: "names.conf", line: x.line, column: lines[x.line - 1].indexOf(" -r ") + 5, text: word });
        expect(lines[x.line - 1]).toContain(` -r ${word} `);
      }
    }
  });

  it("a reused file's servers as a fresh parse's (the shared strings are per parse)", () => {
    clearParseCache();
    const text = rules(200);
    const a = readRules(text, "again.conf");
    const b = readRules(text.replace("-a -t 10.0.0.5:80 -r", "-a -t 10.0.0.5:80 -r 10.9.9.9:81 -m -w 1\n-a -t 10.0.0.5:80 -r"), "again.conf");
    clearParseCache();
    const c = readRules(text, "fresh.conf");
    expect(b.errors).toEqual([]);
    expect(a.cfg.services.map((s) => s.realServers.map((x) => [x.address, x.port, x.where?.text])))
      .toEqual(c.cfg.services.map((s) => s.realServers.map((x) => [x.address, x.port, x.where?.text])));
    expect(b.cfg.services[5].realServers[0]).toMatchObject({ address: "10.9.9.9", port: 81, where: { text: "10.9.9.9:81" } });
  });

  it("parseCommon's services and servers as the careful parser reads them", () => {
    for (const argv of [
      ["-A", "-t", "10.0.0.100:80", "-s", "wrr"],
      ["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:08080", "-m", "-w", "3"],
      ["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11", "-g", "-w", "0"],
      ["-a", "-t", "10.0.0.100:80", "-r", "192.168.100.200:65535", "-m", "-w", "1"],
    ]) expect(parseArgs(argv)).toEqual(parseCarefully(argv));
  });
});
