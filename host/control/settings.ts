// The values of the director's own settings (interfaces, routes, neighbours, table size,
// metrics, on/off switches), checked once for both syntaxes: keepalived.conf's director
// block and the rules format only differ in where the words stand. Each function takes
// the word as written and returns the value, or throws a SettingError saying what is
// wrong; the parser turns that into a ConfigError at the word's position.

import { AddressError, ipToWire, parseCidr, parseMac } from "../engine/index.js";

export class SettingError extends Error {}

/** A whole number in [min, max]. */
export function wholeNumber(text: string, min: number, max: number, what: string): number {
  if (!(min < 0 ? /^-?\d+$/ : /^\d+$/).test(text) || Number(text) < min || Number(text) > max) throw new SettingError(`${what} must be a whole number from ${min} to ${max}`);
  return Number(text);
}

export function ipv4Address(text: string, what: string): string {
  if (text.includes(":")) throw new SettingError("IPv6 is not supported by wasmvs yet");
  try {
    ipToWire(text);
  } catch (e) {
    throw new SettingError(e instanceof AddressError && e.message.startsWith("ambiguous") ? e.message : `${what} must be an IPv4 address, got "${text}"`);
  }
  return text;
}

export function macAddress(text: string): string {
  try {
    parseMac(text);
  } catch {
    throw new SettingError(`not a MAC address: "${text}"`);
  }
  return text.toLowerCase();
}

/** A TAP or bridge name, as Linux takes it. */
export function deviceName(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text)) throw new SettingError("not a device name (1 to 15 letters, digits, '_', '.', '-')");
  return text;
}

/** An interface address: ADDRESS[/PREFIX] (a bare address is /32). */
export function interfaceAddress(text: string): string {
  try {
    parseCidr(text);
  } catch (e) {
    throw new SettingError((e as Error).message);
  }
  return text.includes("/") ? text : `${text}/32`;
}

export const mtu = (text: string) => wholeNumber(text, 68, 65535, "mtu");
export const tableSize = (text: string) => wholeNumber(text, 1, 67108864, "connection table size");

/** A route's destination: CIDR, or default. */
export function routeDestination(text: string): string {
  if (text === "default") return "0.0.0.0/0";
  try {
    parseCidr(text);
  } catch (e) {
    throw new SettingError((e as Error).message);
  }
  return text;
}

/** [ADDRESS:]PORT for the metrics endpoint (loopback unless an address is given). */
export function metricsEndpoint(text: string): { host: string; port: number } {
  const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+)$/.exec(text);
  if (!m) throw new SettingError("expected [ADDRESS:]PORT, e.g. 9100 or 127.0.0.1:9100");
  return { host: m[1] ? ipv4Address(m[1], "the metrics address") : "127.0.0.1", port: wholeNumber(m[2], 1, 65535, "metrics port") };
}

export function onOff(text: string): boolean {
  if (text !== "on" && text !== "off") throw new SettingError("expected on or off");
  return text === "on";
}
