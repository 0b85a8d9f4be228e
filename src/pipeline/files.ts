/** Small helpers for the files a pipeline is made of (not re-exported: the package root does not need them). */
import { readFile } from "node:fs";
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

/**
 * Reads a whole file, as `node:fs/promises`' readFile does, through `node:fs`'s callback API:
 * loading `node:fs/promises` loads 12 of Node's modules (about 3 ms of a command's start-up,
 * issue 14's cold start), and the commands that read an object need nothing else of it.
 */
export function readFileAsync(path: string): Promise<Buffer>;
export function readFileAsync(path: string, encoding: "utf8"): Promise<string>;
export function readFileAsync(path: string, encoding?: "utf8"): Promise<Buffer | string> {
  return new Promise((resolvePromise, reject) => {
    const done = (e: NodeJS.ErrnoException | null, data: Buffer | string): void =>
      e === null ? resolvePromise(data) : reject(e);
    if (encoding === undefined) readFile(path, done);
    else readFile(path, encoding, done);
  });
}
