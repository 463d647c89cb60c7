// `npm test` runs this first. The end-to-end tests build network namespaces and use real
// tools on both ends; on a fresh Debian machine some are missing (ping, tcpdump, tshark,
// hping3, ...). As root with apt-get, it installs them, saying so; otherwise it says
// exactly what to install. Not as root, the end-to-end tests skip themselves (they need
// root), so nothing is required.
import { spawnSync } from "node:child_process";

const TOOLS = [
  ["ip", "iproute2"], ["ping", "iputils-ping"], ["tcpdump", "tcpdump"], ["tshark", "tshark"], ["hping3", "hping3"],
  ["curl", "curl"], ["setpriv", "util-linux"], ["dnsmasq", "dnsmasq-base"], ["openssl", "openssl"],
  ["keepalived", "keepalived"], ["chromium", "chromium"], ["tmux", "tmux"], ["promtool", "prometheus"],
  // The systemd unit's check (systemd-analyze verify) and the tests' Unix datagram sockets (Node binds none).
  ["systemd-analyze", "systemd"], ["python3", "python3"],
];
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = TOOLS.filter(([cmd]) => !has(cmd));
if (missing.length === 0 || process.getuid?.() !== 0) process.exit(0);

const packages = [...new Set(missing.map(([, pkg]) => pkg))];
const command = `apt-get install -y --no-install-recommends ${packages.join(" ")}`;
if (!has("apt-get")) {
  console.error(`npm test: the end-to-end tests need ${missing.map(([c]) => c).join(", ")}; install them (Debian: ${command})`);
  process.exit(1);
}
console.log(`npm test: installing what the end-to-end tests use: ${packages.join(" ")} (apt-get)`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const run = (args) => spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env }).status === 0;
if (!run(["update", "-qq"]) || !run(["install", "-y", "-qq", "--no-install-recommends", ...packages])) {
  console.error(`npm test: could not install them; run: apt-get update && ${command}`);
  process.exit(1);
}
const still = TOOLS.filter(([cmd]) => !has(cmd));
if (still.length) {
  console.error(`npm test: still missing after the install: ${still.map(([c]) => c).join(", ")}`);
  process.exit(1);
}
