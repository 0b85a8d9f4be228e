import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * The bpf_conformance suite lives in the workplace's shared folder, which sits beside the
 * repository (CI lays a copy of it beside the clone). Returns its path, or undefined.
 */
export function conformanceDir(): string | undefined {
  const candidates = [
    process.env.TSBPF_CONFORMANCE,
    resolve(process.cwd(), "..", "shared", "conformance"),
    "/work/shared/conformance",
  ];
  return candidates.find((c): c is string => c !== undefined && existsSync(join(c, "tests.json")));
}

/** One test of the suite's tests.json: the program and memory as hex, and the expected r0. */
export interface ConformanceCase {
  name: string;
  min_cpu: string;
  program_hex: string;
  mem_hex: string;
  result: string;
}

/** The suite's tests.json, parsed; undefined when the suite is not beside the repository. */
export function conformanceCases(): ConformanceCase[] | undefined {
  const dir = conformanceDir();
  return dir === undefined
    ? undefined
    : (JSON.parse(readFileSync(join(dir, "tests.json"), "utf8")) as ConformanceCase[]);
}
