// The floor plan holds: no import circle in host/, and no room imports from its own floor or
// above (FLOORS in test/helpers/house.ts). The configuration model imports nothing that runs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { drawHouse, floorOf, FLOORS, roomOf, type House } from "./helpers/house.js";

describe("the house's imports", () => {
  let house: House;
  beforeAll(async () => { house = await drawHouse(); });

  it("has no import circle and no arrow running up", () => {
    expect(Object.keys(house.imports).length).toBeGreaterThan(80);
    expect(house.circles).toEqual([]);
    expect(house.arrowsUp).toEqual([]);
  });

  it("keeps the configuration model pure: host/config/ imports only the engine and itself", () => {
    const out = Object.entries(house.imports)
      .filter(([from]) => roomOf(from) === "config")
      .flatMap(([from, to]) => to.filter((t) => !["config", "engine"].includes(roomOf(t))).map((t) => `${from} -> ${t}`));
    expect(out).toEqual([]);
  });

  it("puts every room of host/ on a floor", () => {
    const rooms = new Set(Object.keys(house.imports).map(roomOf));
    for (const room of rooms) expect(() => floorOf(room), room).not.toThrow();
    expect(FLOORS.flat().filter((room) => !rooms.has(room))).toEqual([]);
  });

  it("finds a circle and an arrow up in a made-up house", async () => {
    // The checker checked: config importing the daemon, which imports config back.
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-house-"));
    try {
      mkdirSync(join(dir, "config")); mkdirSync(join(dir, "daemon"));
      writeFileSync(join(dir, "config", "rules.ts"), 'import { start } from "../daemon/director.js";\nexport const rules = start;\n');
      writeFileSync(join(dir, "daemon", "director.ts"), 'import type { rules } from "../config/rules.js";\nexport const start = 1;\nexport type R = typeof rules;\n');
      const house = await drawHouse(dir);
      expect(house.circles).toEqual([["config/rules.ts", "daemon/director.ts"]]);
      expect(house.arrowsUp).toEqual(["config/rules.ts -> daemon/director.ts"]);
      expect(roomOf("../assembly/abi.ts")).toBe("engine");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
