/**
 * Collects the bpf_trace_printk messages one BPF_PROG_TEST_RUN prints, for `program.run()`.
 *
 * trace_pipe is global and reading it consumes lines, so reading it here would steal lines from
 * anyone else (`tsbpf attach`, `cat trace_pipe`, a parallel test). Instead tsbpf creates its own
 * tracefs instance, `instances/tsbpf-<pid>-<tid>-ns<pid namespace>` (trace-instance.ts), enables
 * only the `bpf_trace/bpf_trace_printk` event there with the filter `common_pid == <tid>` (the
 * thread's id as the kernel records it, which in a pid namespace of its own, a container's, is
 * not the one /proc shows), and drains that instance's private pipe before and after the run.
 * The global trace_pipe still receives every line, as it would with any loader. The drain and the
 * run are synchronous on the calling thread, so no other JavaScript of this process can
 * interleave.
 *
 * Caveat: the filter is by thread. A program that runs in softirq context on the same CPU while
 * this thread is inside the bpf() call (an attached XDP program receiving a packet then) is
 * recorded under this thread too, and its lines would be counted as the run's.
 */
import { closeSync, constants, openSync, readFileSync, readlinkSync, readSync, writeFileSync } from "node:fs";
import { InitNamespaceInode } from "../abi/index.js";
import { TsbpfError } from "../errors.js";
import { parseTraceLine } from "../trace/trace-line.js";
import { pidNamespace, TraceInstance } from "./trace-instance.js";

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

/**
 * The id tracefs records for this thread (`common_pid`), found through the instance at `dir`. In
 * the initial pid namespace it is `tid`. In another one (a container's) tracefs records the
 * kernel's own id, which /proc there does not show: the thread writes a marker into the
 * instance's trace_marker (nothing is enabled in it yet, and no one else writes there), reads
 * back the id the kernel recorded with it, and empties the instance again.
 */
function kernelThreadId(dir: string, tid: number): number {
  const ns = pidNamespace();
  if (ns === InitNamespaceInode.pid) return tid;
  const marker = `tsbpf: thread ${tid} of pid namespace ${ns ?? "?"}`;
  try {
    writeFileSync(`${dir}/trace_marker`, marker);
    for (const line of readFileSync(`${dir}/trace`, "utf8").split("\n")) {
      const p = parseTraceLine(line);
      if (p?.fn === "tracing_mark_write" && p.message === marker) return p.pid;
    }
  } finally {
    // Truncating `trace` empties the instance's buffer: the marker is not a line of the run.
    writeFileSync(`${dir}/trace`, "");
  }
  throw new TsbpfError(
    `cannot tell which id the kernel records for this thread: ${dir}/trace lacks its marker`,
    {
      hint: "this process is in a pid namespace of its own; tracefs's trace_marker must be writable (options/markers set)",
    },
  );
}

/** A private tracefs instance recording this thread's printk lines. */
export class TraceCapture {
  readonly dir: string;
  readonly #instance: TraceInstance;
  #fd: number;
  #pending = "";
  readonly #buf = Buffer.alloc(64 * 1024);

  private constructor(instance: TraceInstance, fd: number) {
    this.#instance = instance;
    this.dir = instance.dir;
    this.#fd = fd;
  }

  /**
   * Creates the instance (needs root; tracefs is mounted first when missing). Throws TsbpfError
   * with a hint when tracefs is unusable.
   */
  static open(): TraceCapture {
    const tid = threadId();
    const instance = TraceInstance.create(String(tid), {
      filter: (dir) => `common_pid == ${kernelThreadId(dir, tid)}`,
    });
    try {
      const fd = openSync(`${instance.dir}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK);
      const capture = new TraceCapture(instance, fd);
      if (!exitHook) {
        exitHook = true;
        // Pipes are closed before the instances' own exit hook removes the instances.
        process.prependOnceListener("exit", () => {
          for (const c of [...live]) c.close();
        });
      }
      live.add(capture);
      return capture;
    } catch (e) {
      instance.remove();
      throw e;
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
    this.#instance.remove();
  }
}

const live = new Set<TraceCapture>();
let exitHook = false;
let shared: TraceCapture | undefined;

/** The process-wide capture of this thread, created on first use and removed at exit. */
export function sharedTraceCapture(): TraceCapture {
  shared ??= TraceCapture.open();
  return shared;
}
