// Direct routing end to end: the servers hold the VIP on loopback (arp_ignore=1,
// arp_announce=2) and answer through the router; the director only rewrites MACs. With TAP
// offloads: tap-backend.test.ts.
import { e2eDescribe } from "./e2e.js";
import { directModeTests } from "./direct.js";

e2eDescribe("DR through wasmvs", () => directModeTests("dr"));
