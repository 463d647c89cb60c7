// What the playground's bundle gets for Node's built-in modules. The configuration parsers
// it shares with `wasmvs run` import them for what a browser has no use for (reading files,
// running scripts, sockets); the playground reads its configuration through
// setConfigSource, so these are only reached by a configuration asking for something a page
// cannot do (an include, a script's owner), and then say so. The path helpers are real.

class Unavailable extends Error {
  code = "ENOENT";
  constructor(what: string) { super(`${what} is not available in the playground`); }
}
const no = (what: string) => (): never => { throw new Unavailable(what); };

export const statSync = no("reading files");
export const lstatSync = no("reading files");
export const fstatSync = no("reading files");
export const openSync = no("reading files");
export const readSync = no("reading files");
export const readFileSync = no("reading files");
export const readdirSync = no("reading files");
export const realpathSync = no("reading files");
export const existsSync = () => false;
export const accessSync = no("running scripts");
export const writeSync = no("writing files");
export const closeSync = () => undefined;
export const mkdirSync = no("writing files");
export const unlinkSync = no("writing files");
export const constants = { R_OK: 4, W_OK: 2, X_OK: 1, F_OK: 0, O_RDONLY: 0, O_WRONLY: 1, O_NONBLOCK: 2048 };
export const promises = {};
export const readFile = no("reading files");
export const writeFile = no("writing files");
export const rename = no("writing files");
export const spawn = no("running scripts");
export const spawnSync = no("running scripts");
export const execFile = no("running scripts");
export const execFileSync = no("running programs");
export class ChildProcess {}
export const createHash = no("hashing");
export const hostname = () => "playground";
export const createRequire = no("require");
export class Worker { constructor() { throw new Unavailable("threads"); } }
export const createServer = no("sockets");
export const connect = no("sockets");
export class Server {}
export class Socket {}
export const createSocket = no("sockets");
export const request = no("HTTP");
export class IncomingMessage {}
export const fileURLToPath = (u: string) => new URL(u).pathname;

/** POSIX paths, as node:path's. */
function normalise(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out;
}
export function resolve(...paths: string[]): string {
  let joined = "/";
  for (const p of paths) joined = p.startsWith("/") ? p : `${joined}/${p}`;
  return "/" + normalise(joined.split("/")).join("/");
}
export function join(...paths: string[]): string {
  const abs = paths[0]?.startsWith("/");
  const n = normalise(paths.join("/").split("/")).join("/");
  return (abs ? "/" : "") + (n || (abs ? "" : "."));
}
export function dirname(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}
export function basename(p: string): string {
  return p.replace(/\/+$/, "").split("/").pop() ?? "";
}
export const sep = "/";
export default { resolve, join, dirname, basename, sep };
