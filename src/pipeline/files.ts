/** Small helpers for the files a pipeline is made of (not re-exported: the package root does not need them). */
import { createHash } from "node:crypto";

/** The SHA-256 of `bytes`, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Why a file could not be read, in a few words (`no such file`). */
export function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? String(e));
}
