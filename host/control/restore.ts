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
import { persistence } from "../engine/index.js";
import type { ServiceTable } from "../config/model.js";

/** The words of one command line at most, and of one word (the control socket's bound). */
export const MAX_WORDS = 64;
export const MAX_WORD = 256;

/** The commands that change the table (what apply and -R take). */
export const CHANGES = new Set(["add-service", "edit-service", "delete-service", "flush", "add-server", "edit-server", "delete-server", "set"]);

/** Steps are four numbers each: what (a part's index for one line of its text, -1 - the index of
 *  a Parsed command, or BLOCK - the index of a block), the text's start and end (of the line, or
 *  of the block's lines), and the line number (the block's first). */
const STEP = 4;
const BLOCK = -(2 ** 30);

/** An -A line as ipvsadm-save writes it and the -a lines right after it that add to its service
 *  (as written: the same ADDRESS:PORT), built on arrival into the record ServiceTable.apply would
 *  make of them, field for field and in that order. */
interface Block {
  service: ServiceConfig;
  key: string;
  part: number;
  /** Its lines: the commands they are. */
  lines: number;
}

export class RestoreScript {
  private readonly texts: string[] = [];
  private readonly parsed: Parsed[] = [];
  private readonly blocks: Block[] = [];
  private readonly steps: number[] = [];
  /** One string per address (a 10,000-service -R names ten servers a thousand times each). */
  private readonly names = new TextNames();
  private held = 0;

  /** The commands held. */
  get count(): number {
    return this.held;
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
    this.held += commands.length;
  }

  /** The lines of text, the first being line `first` of the -R: each checked now (a wrong one
   *  throws IpvsadmError "line N: ..." and nothing of the text is kept); blank lines and
   *  comments are skipped. A CR before an LF is not the line's (split(/\r?\n/)). */
  addText(text: string, first: number): void {
    const part = this.texts.length;
    const steps: number[] = [];
    const parsed: Parsed[] = [];
    const blocks: Block[] = [];
    const names = this.names;
    const n = text.length;
    let lineNo = first - 1;
    let commands = 0;
    // The block being read (its step's index in steps), and its service's ADDRESS:PORT.
    let block: Block | undefined;
    let blockStep = 0;
    let blockWire = 0;
    for (let start = 0; start < n;) {
      let nl = text.indexOf("\n", start);
      if (nl < 0) nl = n;
      const end = nl < n && nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      lineNo++;
      const from = start;
      start = nl + 1;
      const kind = scanSaveLine(text, from, end);
      const l = saveLine;
      if (kind === 2 && block) {
        const s = block.service;
        if (s.port === l.vipPort && s.protocol === l.protocol && blockWire === l.vipWire) {
          // (scanned holds the server's address: scanSaveLine read it last.)
          const address = names.address(text, l.ripFrom);
          const port = l.ripPort;
          const servers = s.realServers;
          let there = false;
          for (let j = 0; j < servers.length; j++) if (servers[j].address === address && servers[j].port === port) there = true;
          if (!there) {
            servers.push({ address, daddr: l.ripWire | 0, port, method: l.method, weight: l.weight, uthreshold: 0, lthreshold: 0, line: lineNo });
            block.lines++;
            steps[blockStep + 2] = end;
            commands++;
            continue;
          }
        }
      }
      block = undefined;
      if (kind === 1) {
        const { protocol, vipPort: port, persistence: timeout } = l;
        const scheduler = l.scheduler as ServiceConfig["scheduler"];
        // (scanned holds the service's address: the only one scanSaveLine read.)
        const address = names.address(text, l.vipFrom);
        const service: ServiceConfig = timeout
          ? { protocol, address, vaddr: l.vipWire | 0, port, scheduler, realServers: [], line: lineNo, persistence: persistence(timeout) }
          : { protocol, address, vaddr: l.vipWire | 0, port, scheduler, realServers: [], line: lineNo };
        block = { service, key: `${protocol} ${address}:${port}`, part, lines: 1 };
        blockWire = l.vipWire;
        blockStep = steps.length;
        steps.push(BLOCK - (this.blocks.length + blocks.length), from, end, lineNo);
        blocks.push(block);
      } else if (kind === 2) {
        steps.push(part, from, end, lineNo);
      } else {
        const words = wordsOf(text.slice(from, end));
        if (words.length === 0 || words[0].startsWith("#")) continue;
        const p = parseLine(words, lineNo);
        steps.push(-1 - (this.parsed.length + parsed.length), 0, 0, lineNo);
        parsed.push(p);
      }
      commands++;
    }
    this.texts.push(text);
    if (commands) this.lined = true;
    this.held += commands;
    for (const p of parsed) this.parsed.push(p);
    for (const b of blocks) this.blocks.push(b);
    for (const s of steps) this.steps.push(s);
  }

  /** other's commands after this one's (other is not to be used again). */
  append(other: RestoreScript): void {
    const texts = this.texts.length;
    const parsed = this.parsed.length;
    const blocks = this.blocks.length;
    for (const t of other.texts) this.texts.push(t);
    for (const p of other.parsed) this.parsed.push(p);
    for (const b of other.blocks) this.blocks.push({ ...b, part: b.part + texts });
    const s = other.steps;
    for (let i = 0; i < s.length; i += STEP) {
      const what = s[i];
      this.steps.push(what >= 0 ? what + texts : what > BLOCK ? what - parsed : what - blocks, s[i + 1], s[i + 2], s[i + 3]);
    }
    if (other.lined) this.lined = true;
    this.held += other.held;
  }

  /** Every command, each as parseArgs gives it (for a host without applyRestore, and tests). */
  commands(): Parsed[] {
    const out: Parsed[] = [];
    this.each((c) => out.push(c));
    return out;
  }

  /** Each command as parseArgs gives it, in order. */
  private each(f: (c: Parsed) => void): void {
    const s = this.steps;
    for (let i = 0; i < s.length; i += STEP) {
      const what = s[i];
      if (what >= 0 || what <= BLOCK) this.linesOf(what >= 0 ? what : this.blocks[BLOCK - what].part, s[i + 1], s[i + 2], s[i + 3], f);
      else f(this.parsed[-1 - what]);
    }
  }

  /** The commands of text[from, to) of a part (ipvsadm-save's lines, one after the other), the
   *  first at line lineNo. */
  private linesOf(part: number, from: number, to: number, lineNo: number, f: (c: Parsed) => void): void {
    const text = this.texts[part];
    for (let start = from; start < to; lineNo++) {
      let nl = text.indexOf("\n", start);
      if (nl < 0 || nl > to) nl = to;
      const end = nl < text.length && nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      f({ ...parseCommon(wordsOf(text.slice(start, end)), this.names)!, line: lineNo });
      start = nl + 1;
    }
  }

  /** Apply every command to table in order, as ServiceTable.apply does one by one; a refusal
   *  throws IpvsadmError "line N: ...". */
  applyTo(table: ServiceTable): void {
    const s = this.steps;
    const apply = (c: Parsed) => {
      try {
        table.apply(c);
      } catch (e) {
        if (e instanceof IpvsadmError && c.line) throw new IpvsadmError(`line ${c.line}: ${e.message}`, e.status);
        throw e;
      }
    };
    for (let i = 0; i < s.length; i += STEP) {
      const what = s[i];
      if (what <= BLOCK) {
        const b = this.blocks[BLOCK - what];
        // A new service: the block's record as it is (each record is inserted once: a script is
        // applied once). One there already: line by line, refused in ServiceTable's words.
        if (!table.get(b.key)) table.insert(b.service, b.key);
        else this.linesOf(b.part, s[i + 1], s[i + 2], s[i + 3], apply);
      } else if (what >= 0) this.linesOf(what, s[i + 1], s[i + 2], s[i + 3], apply);
      else apply(this.parsed[-1 - what]);
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
