// ipvsadm's listings as the daemon streams them over the control socket: -L (with --stats,
// --rate, --thresholds, --persistent-conn, --exact, --nosort), -S and -c, written a slice of
// the table at a time as the data path gives it (EngineAdapter.serviceSlices, connectionSlices)
// so that a listing of 65,536 services neither holds the data path nor the whole text at once.
// The same formatter as the whole-table listings (ipvsadm.ts), so the text is byte for byte
// what formatList/formatSave/formatConnections make of the same table.

import { EngineAdapter } from "../dataplane/adapter.js";
import { Estimator } from "./estimator.js";
import {
  CONNECTIONS_HEAD, Format, formatConnectionLines, formatListHead, formatListService, formatSaveService, formatTimeouts, IpvsadmError,
  sameService, ServiceKey,
} from "../config/ipvsadm.js";
import { serviceView } from "./table.js";

/** What a listing request asks for: ipvsadm's -L (list), -S (save) or -c (connections). */
export interface ListingRequest {
  command: "list" | "save";
  format: Format;
  service?: ServiceKey;
}

/** The listing's text, a piece at a time (each piece whole lines). Throws IpvsadmError ("No such
 *  service") before the first piece when the one service asked for is not there. */
export async function* listing(engine: EngineAdapter, estimator: Estimator | undefined, req: ListingRequest): AsyncGenerator<string> {
  const f = req.format;
  if (req.command === "list" && f.connections) {
    yield CONNECTIONS_HEAD;
    for await (const slice of engine.connectionSlices()) yield formatConnectionLines(slice);
    return;
  }
  if (req.command === "list" && f.timeout) {
    yield formatTimeouts({ ...(await engine.summary()), size: engine.sizes.connCapacity, services: [] });
    return;
  }
  const sorted = !f.nosort;
  if (req.command === "save") {
    for await (const slice of engine.serviceSlices(sorted)) yield slice.map((s) => formatSaveService(serviceView(s, estimator), f)).join("");
    return;
  }
  const head = formatListHead(engine.sizes.connCapacity, f);
  if (req.service) {
    // One service: found before anything is said (ipvsadm says "No such service" and nothing else).
    for await (const slice of engine.serviceSlices(false)) {
      const s = slice.find((x) => sameService(x, req.service!));
      if (s) {
        yield head + formatListService(serviceView(s, estimator), f);
        return;
      }
    }
    throw new IpvsadmError("No such service", 255);
  }
  yield head;
  for await (const slice of engine.serviceSlices(sorted)) yield slice.map((s) => formatListService(serviceView(s, estimator), f)).join("");
}
