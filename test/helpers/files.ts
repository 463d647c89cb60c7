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

/** A temporary folder for this test file: path() is its path, write() puts a file in it. */
export function tempFolder(prefix: string): { path(): string; write(name: string, text: string): string } {
  let dir = "";
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), prefix)); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    path: () => dir,
    write(name, text) {
      const p = join(dir, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
  };
}
