/** Small helpers for the files a pipeline is made of (not re-exported: the package root does not need them). */
import { createRequire } from "node:module";

let crypto: typeof import("node:crypto") | undefined;

/**
 * The SHA-256 of `bytes`, hex. node:crypto is loaded on the first call (about 10 ms), not when
 * a command that never hashes imports this module.
 */
export function sha256Hex(bytes: Uint8Array | string): string {
  crypto ??= createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  return crypto.createHash("sha256").update(bytes).digest("hex");
}

/** Why a file could not be read, in a few words (`no such file`). */
export function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? String(e));
}
