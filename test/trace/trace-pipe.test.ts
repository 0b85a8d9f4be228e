import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeSync, closeSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { findTracefs } from "../../src/kernel/mounts.js";
import { TracePipeReader } from "../../src/trace/trace-pipe.js";
import type { TraceLine } from "../../src/trace/trace-line.js";

test("TracePipeReader yields parsed lines from a pipe and stops promptly while it is quiet", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tracefs-"));
  try {
    try {
      execFileSync("mkfifo", [join(dir, "trace_pipe")]);
    } catch {
      return t.skip("mkfifo not available");
    }
    const reader = new TracePipeReader({ dir, pollMs: 5 });
    const got: TraceLine[] = [];
    const done = (async () => {
      for await (const l of reader) got.push(l);
    })();
    await new Promise((r) => setTimeout(r, 50));
    const w = openSync(join(dir, "trace_pipe"), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(
      w,
      "  bpftool-1 [000] b..11 1.000001: bpf_trace_printk: one\n  bpftool-1 [000] b..11 1.000002: other_event: skipped\n  bp",
    );
    await new Promise((r) => setTimeout(r, 30));
    writeSync(w, "ftool-1 [001] b..11 1.000003: bpf_trace_printk: two split across reads\n");
    const until = Date.now() + 2000;
    while (got.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      got.map((l) => l.message),
      ["one", "two split across reads"],
    );
    const t0 = Date.now();
    await reader.stop();
    await done;
    assert.ok(Date.now() - t0 < 500, "stop() returned quickly");
    closeSync(w);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an AbortSignal stops the reader", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-tracefs-"));
  try {
    try {
      execFileSync("mkfifo", [join(dir, "trace_pipe")]);
    } catch {
      return t.skip("mkfifo not available");
    }
    const ac = new AbortController();
    const it = new TracePipeReader({ dir, signal: ac.signal, pollMs: 5 });
    setTimeout(() => ac.abort(), 30);
    const lines: TraceLine[] = [];
    for await (const l of it) lines.push(l);
    assert.equal(lines.length, 0);
    assert.equal(it.stopped, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("on the real trace_pipe, stop() ends a quiet reader without hanging the process", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root: reads /sys/kernel/tracing/trace_pipe");
  const dir = findTracefs();
  if (!dir) return t.skip("tracefs is not mounted");
  // Hold the shared lock: reading trace_pipe consumes other tests' lines.
  const lock = spawn("flock", ["/tmp/tsbpf-trace.lock", "-c", "echo locked; read _"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const ok = await new Promise<boolean>((resolve) => {
    lock.stdout.once("data", () => resolve(true));
    lock.once("error", () => resolve(false));
  });
  if (!ok) return t.skip("flock not available");
  try {
    const reader = new TracePipeReader({ dir, fn: null });
    const done = (async () => {
      for await (const _ of reader) {
        // Lines from elsewhere are fine; only termination matters here.
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await reader.stop();
    await done;
    assert.ok(Date.now() - t0 < 500);
  } finally {
    lock.stdin.end();
  }
});
