// The house's floor plan, drawn from its imports (madge reads them, type-only imports
// included: a type is a dependency on what the other room decides). Each room is a folder of
// host/; a room may import from its own files and from rooms on lower floors, never from a
// room on its floor or above, and no file may reach itself through its imports.
//
//   npx tsx test/helpers/house.ts [host-dir]   prints the figures (files, arrows, circles, arrows up)
import madge from "madge";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** The floors, lowest first: what each room stands on is below it. */
export const FLOORS: readonly (readonly string[])[] = [
  ["engine"],              // the WASM engine and its typed access (with assembly/ and wasm/'s declarations)
  ["config"],              // the configuration model, its checks and its three syntaxes: pure
  ["io"],                  // the outside: TAP, rings, files, logs, the clock
  ["health"],              // checkers and their service
  ["vrrp"],                // VRRP's machines (run in the data-path thread) and its service
  ["dataplane"],           // the data-path thread, the engine adapter that talks to it
  ["metrics"],             // Prometheus exposition
  ["control"],             // the running director's services: control socket, change queue, listings
  ["dashboard", "sandbox"],
  ["daemon", "demo"],      // the composition root: the director's start
  ["cli"],                 // the wasmvs command
];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function roomOf(file: string): string {
  // madge names files relative to host/; assembly/ and wasm/ sit outside it, under the engine.
  if (file.startsWith("../")) return "engine";
  const slash = file.indexOf("/");
  return slash < 0 ? "." : file.slice(0, slash);
}

export function floorOf(room: string): number {
  const floor = FLOORS.findIndex((rooms) => rooms.includes(room));
  if (floor < 0) throw new Error(`host/${room}/ stands on no floor: add it to FLOORS in test/helpers/house.ts`);
  return floor;
}

export interface House {
  /** file -> the files it imports (paths relative to host/). */
  imports: Record<string, string[]>;
  arrows: number;
  /** Import circles: the strongly connected sets of two or more files. */
  circles: string[][];
  /** Arrows from a room to one on its own floor or above. */
  arrowsUp: string[];
}

export async function drawHouse(hostDir = join(ROOT, "host")): Promise<House> {
  const graph = await madge(hostDir, {
    fileExtensions: ["ts"],
    tsConfig: join(ROOT, "tsconfig.json"),
    detectiveOptions: { ts: { skipTypeImports: false } },
  });
  const imports = graph.obj();
  const arrows = Object.values(imports).reduce((n, to) => n + to.length, 0);
  const arrowsUp: string[] = [];
  for (const [from, tos] of Object.entries(imports)) {
    for (const to of tos) {
      const a = roomOf(from), b = roomOf(to);
      if (a !== b && floorOf(b) >= floorOf(a)) arrowsUp.push(`${from} -> ${to}`);
    }
  }
  return { imports, arrows, circles: stronglyConnected(imports).filter((set) => set.length > 1), arrowsUp };
}

/** Tarjan's strongly connected components: every file of a circle is in the same set. */
function stronglyConnected(graph: Record<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], sets: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph[v] ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const set: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); set.push(w); } while (w !== v);
      sets.push(set.sort());
    }
  };
  for (const v of Object.keys(graph)) if (!index.has(v)) visit(v);
  return sets;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const house = await drawHouse(process.argv[2]);
  const rooms = new Set(Object.keys(house.imports).map(roomOf));
  console.log(`${Object.keys(house.imports).length} files in ${rooms.size} rooms, ${house.arrows} arrows`);
  console.log(`${house.circles.length} import circles${house.circles.map((c) => `\n  (${c.length}) ${c.join(" ")}`).join("")}`);
  const roomArrows = new Set(Object.entries(house.imports).flatMap(([f, to]) => to.map((t) => `${roomOf(f)} -> ${roomOf(t)}`)).filter((a) => !/^(\S+) -> \1$/.test(a)));
  const mutual = [...roomArrows].filter((a) => { const [x, y] = a.split(" -> "); return x < y && roomArrows.has(`${y} -> ${x}`); });
  console.log(`${roomArrows.size} arrows between rooms, ${mutual.length} pairs of rooms importing each other${mutual.length ? ": " + mutual.join(", ") : ""}`);
  console.log(`${house.arrowsUp.length} arrows up or across a floor${house.arrowsUp.map((a) => `\n  ${a}`).join("")}`);
}
