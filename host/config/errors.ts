// The one error of input: an InputError holds the reason (the words a user reads, whatever the
// syntax) and a code (what callers decide by — never the message's words). Each syntax formats
// it its way: a ConfigError names the file, line, column and the keyword or value at fault
// before the reason; an IpvsadmError says it as ipvsadm does (`ipvsadm: ...`, an exit status);
// a SettingError (a value's) or a RegexError (a pattern's) is given its position by the grammar
// that read the word. A check goes on past the first error and reports every one (ErrorList),
// in the order written (sortErrors), warnings bounded alike (boundWarnings).

import type { DirectorConfig } from "./director.js";

/** What kind of refusal: "invalid" unless a caller needs to tell it apart.
 *  repeated: an option given twice (its error names the option, not the value);
 *  netmask: not a netmask (keepalived says it its own way);
 *  server-refused: a real server refused for what it is (a rules file points at its -r word);
 *  the rest: IPVS's refusals of a change to the table (a rules file words them its way). */
export type InputErrorCode = "invalid" | "repeated" | "netmask" | "server-refused" | IpvsRefusal;
export type IpvsRefusal = "service-exists" | "no-service" | "service-undefined" | "no-destination" | "destination-exists";

export class InputError extends Error {
  constructor(readonly reason: string, message = reason, readonly code: InputErrorCode = "invalid") {
    super(message);
  }
}

export class ConfigError extends InputError {
  /** Every error found, when a check went on past the first (this one is errors[0]). */
  errors: ConfigError[] = [this];
  /** A bound was reached: nothing after it was read, so checking stops (ErrorList). */
  fatal = false;
  /** What the file gave despite the errors, for the checks that run on whatever parsed
   *  (load.ts: the engine's, on `wasmvs check` and `reload`). */
  partial?: PartialConfig;

  constructor(readonly file: string, readonly line: number, readonly column: number, readonly keyword: string, reason: string) {
    super(reason, `${file}:${line}:${column}: ${keyword ? `'${keyword.length > 60 ? `${keyword.slice(0, 60)}...` : keyword}': ` : ""}${reason}`);
  }

  /** Mark as fatal (see fatal). */
  stop(): this {
    this.fatal = true;
    return this;
  }

  /** One error standing for several: its message lists them all, one per line. */
  static all(errors: ConfigError[]): ConfigError {
    if (errors.length === 1) return errors[0];
    const first = errors[0];
    const e = new ConfigError(first.file, first.line, first.column, first.keyword, first.reason);
    e.errors = errors;
    e.fatal = errors.some((x) => x.fatal);
    const shown = errors.slice(0, MAX_REPORTED_ERRORS).map((x) => x.message);
    if (errors.length > MAX_REPORTED_ERRORS) shown.push(`... and ${errors.length - MAX_REPORTED_ERRORS} more`);
    e.message = `${errors.length} errors:\n${shown.join("\n")}`;
    return e;
  }
}

/** Collects ConfigErrors so a check reports every one, not only the first. */
export class ErrorList {
  readonly errors: ConfigError[] = [];

  /** Run f; a ConfigError it throws is kept and the caller goes on. */
  attempt(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.errors.push(...e.errors);
      if (e.fatal || this.errors.length > MAX_COLLECTED_ERRORS) throw ConfigError.all(this.errors).stop();
    }
  }

  /** Throw what was collected, if anything. */
  check(): void {
    if (this.errors.length) throw ConfigError.all(this.errors);
  }
}

const MAX_REPORTED_ERRORS = 50;

/** A later stage's errors (the engine's) added to an earlier one's: a value already refused
 *  is not refused again (a real server that is not unicast has no route either). */
export function laterErrors(before: ConfigError[], later: ConfigError[], order: FileOrder): ConfigError[] {
  const at = (e: ConfigError) => `${e.file}:${e.line}:${e.column}`;
  const taken = new Set(before.map(at));
  return sortErrors([...before, ...later.filter((e) => !taken.has(at(e)))], order);
}

/** Errors once each (a group's members repeat their servers' errors), in the order they were
 *  written: a file's errors by line and column, an included file's where its include is. */
export function sortErrors(errors: ConfigError[], order: FileOrder): ConfigError[] {
  const unique = [...new Map(errors.map((e) => [e.message, e])).values()];
  const others = [...new Set(unique.map((e) => e.file).filter((f) => !order.has(f)))].sort();
  const key = (e: ConfigError) => [...(order.get(e.file) ?? [Number.MAX_SAFE_INTEGER, others.indexOf(e.file)]), e.line, 0, e.column];
  const cmp = (a: number[], b: number[]) => {
    for (let k = 0; k < Math.min(a.length, b.length); k++) if (a[k] !== b[k]) return a[k] - b[k];
    return a.length - b.length;
  };
  return unique.map((e) => ({ e, k: key(e) })).sort((a, b) => cmp(a.k, b.k)).map((x) => x.e);
}

const MAX_COLLECTED_ERRORS = 1000;


/** What a file gave despite its errors (ConfigError.partial). */
export interface PartialConfig {
  cfg: DirectorConfig;
  /** Where each file was read (keepalived.conf's includes): errors sort by it. */
  order: FileOrder;
  /** An interface, route or neighbour was refused: whether a real server is on-link or
   *  routed cannot be told, so the engine's verdicts on that are left out (not guessed). */
  routingUnsure: boolean;
}

/** Where each file was read (reading order): the main file [], a file included at line L of
 *  file A as the k-th of its glob [...A's, L, 1, k]. Errors sort by it (rules.ts sortErrors). */
export type FileOrder = Map<string, number[]>;

/** Warnings kept per read (as the errors shown): a file of 60,000 misspelt lines, or of 2,000
 *  DR real servers on another port, is bounded in what check prints and the daemon logs at
 *  each start and reload; the rest are counted. */
export const MAX_WARNINGS = 100;
export const notShown = (n: number) => `${n} more warning${n === 1 ? "" : "s"} not shown (the first ${MAX_WARNINGS} are)`;
const NOT_SHOWN = /^(\d+) more warnings? not shown \(the first \d+ are\)$/;

/** list bounded to MAX_WARNINGS and a count of the rest (a count already in it, from the
 *  grammar's own bound, is added to it): the one bound for every stage's warnings. */
export function boundWarnings(list: string[]): string[] {
  let dropped = 0;
  const kept: string[] = [];
  for (const w of list) {
    const m = NOT_SHOWN.exec(w);
    if (m) dropped += Number(m[1]);
    else if (kept.length < MAX_WARNINGS) kept.push(w);
    else dropped++;
  }
  if (dropped) kept.push(notShown(dropped));
  return kept;
}
