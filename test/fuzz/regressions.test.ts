import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REGRESSION_DIR, readRegressions } from "./fixtures.js";

// Every input the fuzzers ever found stays a test. Each runs in its own capped process: some
// crashed the whole process when found. Fixtures whose note says OPEN are known, reported
// defects (docs/differential.md): they run as todo tests until the fix lands.
const cases = readRegressions();

test("the regression fixtures are readable", () => {
  assert.ok(cases.length > 0, `no fixtures in ${REGRESSION_DIR}`);
  for (const c of cases) assert.ok(c.input.length > 0 && c.packet.length >= 14, c.file);
});

for (const c of cases) {
  const open = c.note.includes("OPEN");
  test(`fuzz regression ${c.file}`, open ? { todo: c.note } : {}, () => {
    const r = spawnSync(
      process.execPath,
      ["--max-old-space-size=256", "dist/test/fuzz/check-one.js", join(REGRESSION_DIR, c.file)],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    assert.equal(r.stdout.trim(), "ok", `${c.note}\n${r.stdout}${(r.stderr ?? "").slice(0, 500)}`);
    assert.equal(r.status, 0);
  });
}
