/**
 * Checks one stored fuzzing fixture in its own process, so an input that crashes the process
 * (heap exhaustion) fails only its own test:  node dist/test/fuzz/check-one.js FIXTURE.hex
 * Prints `ok` or `FINDING stage: error`; exits 0 or 1.
 */
import { basename, dirname } from "node:path";
import { readRegressions } from "./fixtures.js";
import { checkBytecode, checkObject } from "./harness.js";

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: check-one FIXTURE.hex");
  process.exit(2);
}
const c = readRegressions(dirname(file)).find((x) => x.file === basename(file));
if (c === undefined) {
  console.error(`check-one: ${file}: not a fixture`);
  process.exit(2);
}
const f =
  c.kind === "object"
    ? await checkObject(c.input, c.packet, false)
    : await checkBytecode(c.input, c.packet, false);
console.log(f === undefined ? "ok" : `FINDING ${f.stage}: ${f.error}`);
process.exitCode = f === undefined ? 0 : 1;
