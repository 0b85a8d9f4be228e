/**
 * The CLI writes its output with write(2) (src/cli/io.ts, issue 14's cold start). A full
 * non-blocking pipe makes write(2) fail with EAGAIN: the rest must then go through
 * process.stdout, complete and in order, as it did when every write went there.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const IO = resolve("dist/src/cli/io.js");

/** A line numbered `i`, so a lost, repeated or reordered chunk shows. */
const line = (i: number): string => `${String(i).padStart(6, "0")} ${"x".repeat(120)}\n`;
const LINES = 8000; // about 1 MB: far more than a pipe holds (64 KiB)

test("output to a full non-blocking pipe goes on through process.stdout, complete and in order", async () => {
  // The child's standard output is a FIFO, which it opens again non-blocking (a parent or a shell
  // may hand a command such a pipe; Node makes its own descriptors 0-2 blocking) and writes
  // through that descriptor.
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-io-"));
  const fifo = join(dir, "fifo");
  let rfd: number | undefined;
  let wfd: number | undefined;
  try {
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
    rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    wfd = openSync(fifo, constants.O_WRONLY);
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { directWriter } = await import(${JSON.stringify(IO)});
         const { constants, openSync } = await import("node:fs");
         const fd = openSync("/proc/self/fd/1", constants.O_WRONLY | constants.O_NONBLOCK);
         const out = directWriter(fd, () => process.stdout);
         for (let i = 0; i < ${LINES}; i++) out((${line.toString()})(i));
         process.stderr.write("done\\n");`,
      ],
      { stdio: ["ignore", wfd, "pipe"] },
    );
    closeSync(wfd);
    wfd = undefined;
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    // Nothing is read for a while, so the pipe fills and write(2) says EAGAIN.
    await new Promise((r) => setTimeout(r, 300));
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(64 * 1024);
    const deadline = Date.now() + 20_000;
    for (;;) {
      let n = -1;
      try {
        n = readSync(rfd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      }
      if (n === 0) break; // no writer left: the child is gone
      if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
      else await new Promise((r) => setTimeout(r, 2));
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        assert.fail("the child did not write everything within 20 s");
      }
    }
    assert.equal(await exited, 0, err);
    assert.equal(err, "done\n");
    const text = Buffer.concat(chunks).toString("utf8");
    const want = Array.from({ length: LINES }, (_, i) => line(i)).join("");
    assert.equal(text.length, want.length, "every byte arrived");
    assert.ok(text === want, "in order, none repeated");
  } finally {
    if (rfd !== undefined) closeSync(rfd);
    if (wfd !== undefined) closeSync(wfd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("output to a pipe that blocks is written whole by write(2)", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { processIo } = await import(${JSON.stringify(IO)});
       const io = processIo();
       for (let i = 0; i < ${LINES}; i++) io.stdout((${line.toString()})(i));
       io.stderr("done\\n");`,
    ],
    { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, Array.from({ length: LINES }, (_, i) => line(i)).join(""));
  assert.equal(r.stderr, "done\n");
});
