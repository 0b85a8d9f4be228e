/**
 * The CLI writes its output with write(2) (src/cli/io.ts, issue 14's cold start). A full
 * non-blocking pipe makes write(2) fail with EAGAIN: the rest must then go through
 * process.stdout, complete and in order, as it did when every write went there.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";

const IO = resolve("dist/src/cli/io.js");

/** A line numbered `i`, so a lost, repeated or reordered chunk shows. */
const line = (i: number): string => `${String(i).padStart(6, "0")} ${"x".repeat(120)}\n`;
const LINES = 8000; // about 1 MB: far more than a pipe holds (64 KiB)

test("output to a full non-blocking pipe goes on through process.stdout, complete and in order", async () => {
  // The child writes through a non-blocking descriptor of its standard output (a parent or a
  // shell may hand a command such a pipe; Node makes its own descriptors 0-2 blocking).
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
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  // Nothing is read for a while, so the pipe fills and write(2) says EAGAIN.
  await new Promise((r) => setTimeout(r, 300));
  const chunks: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => chunks.push(d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    assert.equal(await exited, 0, err);
  } finally {
    clearTimeout(timer);
  }
  assert.equal(err, "done\n");
  const text = Buffer.concat(chunks).toString("utf8");
  const want = Array.from({ length: LINES }, (_, i) => line(i)).join("");
  assert.equal(text.length, want.length, "every byte arrived");
  assert.ok(text === want, "in order, none repeated");
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
