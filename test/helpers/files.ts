// Configuration files for the tests: the smallest director block, and a temporary folder
// to write files into (removed after the test file).

import { afterAll, beforeAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** keepalived.conf's director block for the engine tests' network plan (10 lines). */
export const DIRECTOR = `director {
  interface outside {
    mac 02:00:00:00:00:01
    address 10.0.0.1/24
  }
  interface inside {
    mac 02:00:00:00:01:01
    address 10.1.0.1/24
  }
}
`;

/** The same director block in six lines, for the tests whose expected line numbers count from it. */
export const DIRECTOR_COMPACT = `director {
  interface outside { mac 02:00:00:00:00:01
    address 10.0.0.1/24 }
  interface inside { mac 02:00:00:00:01:01
    address 10.1.0.1/24 }
}
`;

/** Each call a keepalived.conf of DIRECTOR_COMPACT then text, in a folder of its own inside
 *  folder (so messages still name "keepalived.conf"); its path. */
export function keepalivedFile(folder: { write(name: string, text: string): string }): (text: string) => string {
  let made = 0;
  return (text) => folder.write(`${made++}/keepalived.conf`, DIRECTOR_COMPACT + text);
}

/** A temporary folder for this test file: path() is its path, write() puts a file in it. */
export function tempFolder(prefix: string): { path(): string; write(name: string, text: string): string } {
  let dir = "";
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), prefix)); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    path: () => dir,
    write(name, text) {
      // Before beforeAll (at collection time) dir is "" and the file would land in the work tree.
      if (dir === "") throw new Error(`tempFolder(${prefix}).write(${name}) called before its beforeAll ran`);
      const p = join(dir, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
  };
}
