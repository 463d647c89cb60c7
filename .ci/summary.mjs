// Reads vitest's JSON report: prints "N passed, N failed, N skipped" and fails when any
// test was skipped (end-to-end tests must run in CI, which is root) or none ran.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "test-results.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`summary: cannot read ${file}: ${e.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const skippedNames = [];
for (const f of report.testResults ?? []) {
  for (const t of f.assertionResults ?? []) {
    if (t.status === "pending" || t.status === "skipped" || t.status === "todo") skippedNames.push(`${f.name}: ${t.fullName}`);
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (skippedNames.length) {
  console.error("skipped tests (not allowed in CI):\n  " + skippedNames.join("\n  "));
  process.exit(1);
}
if (passed === 0 || failed > 0) process.exit(1);
