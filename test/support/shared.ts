import { existsSync } from "node:fs";
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
