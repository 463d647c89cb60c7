// An ipvsadm -R as the director holds it until its last part: the text of each part as the
// client sent it, each command line checked once on arrival (so that a wrong line refuses the
// whole -R before anything is applied, as before), and applied later in order through the
// ServiceTable. The lines ipvsadm-save writes (`-A -t ADDRESS:PORT -s SCHEDULER`, then its
// `-a ... -r ADDRESS:PORT -m -w WEIGHT` lines) are not turned into Parsed commands at all: they
// are read from the text by scanSaveLine on arrival and built straight into the service records
// ServiceTable.apply would have made (the common `ipvsadm-save | ipvsadm -R` of 10,000 services is
// 110,000 such lines). Every other line, and any line the table would refuse (a service that is
// there already, a server twice), goes through parseArgs and ServiceTable.apply, which word it.

import { IpvsadmError, parseArgs, parseCommon, Parsed, saveLine, scanSaveLine, TextNames, wordsOf } from "../config/ipvsadm.js";
import type { ServiceConfig } from "../config/director.js";
import type { ServiceTable } from "../config/model.js";

/** The words of one command line at most, and of one word (the control socket's bound). */
export const MAX_WORDS = 64;
export const MAX_WORD = 256;

/** The commands that change the table (what apply and -R take). */
export const CHANGES = new Set(["add-service", "edit-service", "delete-service", "flush", "add-server", "edit-server", "delete-server", "set"]);

/** Steps are four numbers each: the part's index (or -1 - the index of a Parsed command), the
 *  line's start and end in that part's text, and its line number. */
const STEP = 4;

export class RestoreScript {
  private readonly texts: string[] = [];
  private readonly parsed: Parsed[] = [];
  private readonly steps: number[] = [];
  /** One string per address (a 10,000-service -R names ten servers a thousand times each). */
  private readonly names = new TextNames();

  /** The commands held. */
  get count(): number {
    return this.steps.length / STEP;
  }

  /** Some command carries its line number (an -R's do): engine refusals then name the line. */
  lined = false;

  /** Commands already parsed (the control socket's "apply", {argv, line}). */
  addParsed(commands: readonly Parsed[]): void {
    for (const c of commands) {
      this.steps.push(-1 - this.parsed.length, 0, 0, c.line ?? 0);
      if (c.line) this.lined = true;
      this.parsed.push(c);
    }
  }

  /** The lines of text, the first being line `first` of the -R: each checked now (a wrong one
   *  throws IpvsadmError "line N: ..." and nothing of the text is kept); blank lines and
   *  comments are skipped. A CR before an LF is not the line's (split(/\r?\n/)). */
  addText(text: string, first: number): void {
    const part = this.texts.length;
    const steps: number[] = [];
    const parsed: Parsed[] = [];
    const n = text.length;
    let lineNo = first - 1;
    for (let start = 0; start < n;) {
      let nl = text.indexOf("\n", start);
      if (nl < 0) nl = n;
      const end = nl < n && nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      lineNo++;
      const from = start;
      start = nl + 1;
      if (scanSaveLine(text, from, end) !== 0) {
        steps.push(part, from, end, lineNo);
        continue;
      }
      const words = wordsOf(text.slice(from, end));
      if (words.length === 0 || words[0].startsWith("#")) continue;
      const p = parseLine(words, lineNo);
      steps.push(-1 - (this.parsed.length + parsed.length), 0, 0, lineNo);
      parsed.push(p);
    }
    this.texts.push(text);
    if (steps.length) this.lined = true;
    for (const p of parsed) this.parsed.push(p);
    for (const s of steps) this.steps.push(s);
  }

  /** other's commands after this one's (other is left empty of meaning: do not use it again). */
  append(other: RestoreScript): void {
    const texts = this.texts.length;
    const parsed = this.parsed.length;
    for (const t of other.texts) this.texts.push(t);
    for (const p of other.parsed) this.parsed.push(p);
    const s = other.steps;
    for (let i = 0; i < s.length; i += STEP) {
      this.steps.push(s[i] < 0 ? s[i] - parsed : s[i] + texts, s[i + 1], s[i + 2], s[i + 3]);
    }
    if (other.lined) this.lined = true;
  }

  /** Every command as parseArgs gives it (for a host without applyRestore, and tests). */
  commands(): Parsed[] {
    const out: Parsed[] = [];
    const s = this.steps;
    for (let i = 0; i < s.length; i += STEP) {
      if (s[i] < 0) out.push(this.parsed[-1 - s[i]]);
      else out.push({ ...parseArgs(wordsOf(this.texts[s[i]].slice(s[i + 1], s[i + 2]))), line: s[i + 3] });
    }
    return out;
  }

  /** Apply every command to table in order, as ServiceTable.apply does one by one; a refusal
   *  throws IpvsadmError "line N: ...". */
  applyTo(table: ServiceTable): void {
    const s = this.steps;
    const names = this.names;
    // The service the last -A line made here, which the -a lines after it add to: its record is
    // the table's own (made by this -R), found without a lookup.
    let block: ServiceConfig | undefined;
    let blockWire = 0;
    for (let i = 0; i < s.length; i += STEP) {
      const part = s[i];
      const lineNo = s[i + 3];
      if (part >= 0) {
        const text = this.texts[part];
        const from = s[i + 1];
        const kind = scanSaveLine(text, from, s[i + 2]);
        const l = saveLine;
        if (kind === 2 && block && block.port === l.vipPort && block.protocol === l.protocol && blockWire === l.vipWire) {
          // (scanned holds the server's address: scanSaveLine read it last.)
          const address = names.address(text, l.ripFrom);
          const port = l.ripPort;
          const servers = block.realServers;
          let there = false;
          for (let j = 0; j < servers.length; j++) if (servers[j].address === address && servers[j].port === port) there = true;
          if (!there) {
            // As ServiceTable.apply makes it, field for field and in that order.
            servers.push({ address, port, method: l.method, weight: l.weight, uthreshold: 0, lthreshold: 0, line: lineNo });
            continue;
          }
        } else if (kind === 1) {
          const protocol = l.protocol;
          const port = l.vipPort;
          const wire = l.vipWire;
          const scheduler = l.scheduler as ServiceConfig["scheduler"];
          const timeout = l.persistence;
          // (scanned holds the service's address: the only one scanSaveLine read.)
          const address = names.address(text, l.vipFrom);
          const k = `${protocol} ${address}:${port}`;
          if (!table.get(k)) {
            const made: ServiceConfig = timeout
              ? { protocol, address, port, scheduler, realServers: [], line: lineNo, persistence: { timeout, netmask: "255.255.255.255" } }
              : { protocol, address, port, scheduler, realServers: [], line: lineNo };
            table.insert(made, k);
            block = made;
            blockWire = wire;
            continue;
          }
        }
      }
      // Any other command, or one the table refuses: ServiceTable.apply, in its words.
      block = undefined;
      const c = part < 0 ? this.parsed[-1 - part] : { ...parseCommon(wordsOf(this.texts[part].slice(s[i + 1], s[i + 2])), names)!, line: lineNo };
      try {
        table.apply(c);
      } catch (e) {
        if (e instanceof IpvsadmError && c.line) throw new IpvsadmError(`line ${c.line}: ${e.message}`, e.status);
        throw e;
      }
    }
  }
}

/** One command line of an -R read by ipvsadm's grammar (the director trusts no client's check):
 *  a change command, or IpvsadmError "line N: ...". */
function parseLine(words: string[], lineNo: number): Parsed {
  const where = `line ${lineNo}: `;
  if (words.length > MAX_WORDS || words.some((w) => w.length > MAX_WORD)) {
    throw new IpvsadmError(`${where}a command is {"argv": [up to ${MAX_WORDS} words of up to ${MAX_WORD} characters], "line": N}`, 2);
  }
  let p: Parsed;
  try {
    p = parseArgs(words);
  } catch (e) {
    if (e instanceof IpvsadmError) throw new IpvsadmError(`${where}${e.message}`, e.status);
    throw e;
  }
  if (!CHANGES.has(p.command)) throw new IpvsadmError(`${where}'${p.command}' is not a change`, 2);
  p.line = lineNo;
  return p;
}
