import { writeSync } from "node:fs";

/** Where a command writes; injectable so tests can capture output without spawning a process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads all of standard input (the conformance plugin takes its program there). */
  readStdin(): Promise<string>;
  /** Working directory for relative paths. */
  cwd: string;
}

/** The process's own standard output and error (see {@link directWriter}). */
export function processIo(): CliIo {
  return {
    stdout: directWriter(1, () => process.stdout),
    stderr: directWriter(2, () => process.stderr),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    cwd: process.cwd(),
  };
}

/**
 * Writes to file descriptor `fd` with write(2), as Node's `process.stdout` and `stderr` do on
 * Linux for files, pipes and terminals (synchronously), but without making those streams: the
 * first use of either loads 20–28 of Node's modules, about 5 ms of every command's start-up
 * (issue 14's cold start). When a write would block (a non-blocking pipe that is full) or fails
 * (EPIPE...), the rest of the text and every later write go through `stream()` instead, which
 * queues and reports errors as before.
 */
export function directWriter(fd: number, stream: () => NodeJS.WriteStream): (text: string) => void {
  let fallback: NodeJS.WriteStream | undefined;
  return (text) => {
    if (fallback !== undefined) {
      fallback.write(text);
      return;
    }
    const bytes = Buffer.from(text, "utf8");
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(fd, bytes, done);
    } catch {
      fallback = stream();
      fallback.write(bytes.subarray(done));
    }
  };
}
