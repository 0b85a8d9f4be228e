/**
 * Collects the bpf_trace_printk messages one BPF_PROG_TEST_RUN prints, for `program.run()`.
 *
 * trace_pipe is global and reading it consumes lines, so reading it here would steal lines from
 * anyone else (`tsbpf attach`, `cat trace_pipe`, a parallel test). Instead tsbpf creates its own
 * tracefs instance, `instances/tsbpf-<pid>`, enables only the `bpf_trace/bpf_trace_printk`
 * event there with the filter `common_pid == <tid>`, and drains that instance's private pipe
 * before and after the run. The global trace_pipe still receives every line, as it would with
 * any loader. The drain and the run are synchronous on the calling thread, so no other
 * JavaScript of this process can interleave.
 *
 * Caveat: the filter is by thread. A program that runs in softirq context on the same CPU while
 * this thread is inside the bpf() call (an attached XDP program receiving a packet then) is
 * recorded under this thread too, and its lines would be counted as the run's.
 */
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { TsbpfError } from "../errors.js";
import { parseTraceLine } from "../trace/trace-line.js";
import { TRACEFS_CANDIDATES } from "../trace/trace-pipe.js";

/** Finds tracefs synchronously (the common mount points); undefined when not mounted. */
function tracefsDir(): string | undefined {
  let mounts = "";
  try {
    mounts = readFileSync("/proc/mounts", "utf8");
  } catch {
    return undefined;
  }
  const points = mounts
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "tracefs")
    .map((f) => f[1] ?? "");
  return [...TRACEFS_CANDIDATES].find((c) => points.includes(c)) ?? points[0];
}

/** The calling thread's id (differs from the pid inside worker threads). */
function threadId(): number {
  try {
    const m = /\/task\/(\d+)$/.exec(readlinkSync("/proc/thread-self"));
    if (m?.[1] !== undefined) return Number(m[1]);
  } catch {
    // No /proc: the main thread's id is the pid.
  }
  return process.pid;
}

/** A private tracefs instance recording this thread's printk lines. */
export class TraceCapture {
  readonly dir: string;
  #fd: number;
  #pending = "";
  readonly #buf = Buffer.alloc(64 * 1024);

  private constructor(dir: string, fd: number) {
    this.dir = dir;
    this.#fd = fd;
  }

  /** Creates the instance (needs root). Throws TsbpfError with a hint when tracefs is unusable. */
  static open(): TraceCapture {
    const root = tracefsDir();
    if (root === undefined) {
      throw new TsbpfError("tracefs is not mounted, so trace lines of a run cannot be collected", {
        hint: "mount -t tracefs nodev /sys/kernel/tracing (needs root)",
      });
    }
    const tid = threadId();
    removeStaleInstances(`${root}/instances`);
    const dir = `${root}/instances/tsbpf-${process.pid}-${tid}`;
    try {
      try {
        mkdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const ev = `${dir}/events/bpf_trace/bpf_trace_printk`;
      writeFileSync(`${ev}/filter`, `common_pid == ${tid}`);
      writeFileSync(`${ev}/enable`, "1");
      const fd = openSync(`${dir}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK);
      const cap = new TraceCapture(dir, fd);
      live.add(cap);
      return cap;
    } catch (cause) {
      try {
        rmdirSync(dir);
      } catch {
        // It may not exist; nothing else to undo.
      }
      throw new TsbpfError(`cannot set up the trace instance ${dir}`, {
        cause,
        hint: "collecting trace lines of a run needs root (tracefs is writable by root only)",
      });
    }
  }

  /** Discards whatever the instance holds (lines printed before the run). */
  discard(): void {
    this.drain();
  }

  /** Reads every message recorded so far, in order; a message with newlines comes back whole. */
  drain(): string[] {
    if (this.#fd < 0) return [];
    const out: string[] = [];
    for (;;) {
      let n = 0;
      try {
        n = readSync(this.#fd, this.#buf, 0, this.#buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
        throw e;
      }
      if (n === 0) break;
      this.#pending += this.#buf.toString("utf8", 0, n);
    }
    const lines = this.#pending.split("\n");
    this.#pending = lines.pop() ?? "";
    let cur: string | undefined;
    for (const line of lines) {
      const p = parseTraceLine(line);
      if (p !== undefined && p.fn === "bpf_trace_printk") {
        if (cur !== undefined) out.push(cur);
        cur = p.message;
      } else if (p === undefined && cur !== undefined) {
        // The kernel ends every event with "\n": an unparsable line continues the message.
        cur += `\n${line}`;
      }
    }
    if (cur !== undefined) out.push(cur);
    return out;
  }

  /** Closes the pipe and removes the instance. */
  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
    live.delete(this);
    try {
      rmdirSync(this.dir);
    } catch {
      // Busy or already gone: an instance left behind holds no BPF objects, only a small buffer.
    }
  }
}

/** Removes instances left by tsbpf processes that died without their exit handler (SIGKILL). */
function removeStaleInstances(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^tsbpf-(\d+)-\d+$/.exec(n);
    if (m?.[1] === undefined || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") continue;
      try {
        rmdirSync(`${dir}/${n}`);
      } catch {
        // Still open somewhere, or already gone.
      }
    }
  }
}

const live = new Set<TraceCapture>();
let shared: TraceCapture | undefined;

/** The process-wide capture of this thread, created on first use and removed at exit. */
export function sharedTraceCapture(): TraceCapture {
  if (shared === undefined) {
    shared = TraceCapture.open();
    process.once("exit", () => {
      for (const c of [...live]) c.close();
    });
  }
  return shared;
}
