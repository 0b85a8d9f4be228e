import { execFile } from "node:child_process";
import { constants, promises as fsp } from "node:fs";
import { TsbpfError } from "../errors.js";
import { parseTraceLine, type TraceLine } from "./trace-line.js";

/** Where tracefs is normally mounted, newest first. */
export const TRACEFS_CANDIDATES = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] as const;

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** The mounted tracefs directory (one that has trace_pipe), or undefined when none is mounted. */
export async function findTracefs(): Promise<string | undefined> {
  let mounts = "";
  try {
    mounts = await fsp.readFile("/proc/mounts", "utf8");
  } catch {
    // No /proc: fall back to probing the usual places.
  }
  const points = mounts
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "tracefs")
    .map((f) => (f[1] ?? "").replace(/\\040/g, " "));
  for (const c of [...TRACEFS_CANDIDATES, ...points]) {
    if ((points.length === 0 || points.includes(c)) && (await exists(`${c}/trace_pipe`))) return c;
  }
  return undefined;
}

/** Finds tracefs, mounting it on /sys/kernel/tracing when it is not mounted (needs root). */
export async function ensureTracefs(): Promise<string> {
  const found = await findTracefs();
  if (found) return found;
  const dir = TRACEFS_CANDIDATES[0];
  await new Promise<void>((resolve, reject) => {
    execFile("mount", ["-t", "tracefs", "nodev", dir], (err) => (err ? reject(err) : resolve()));
  }).catch((cause: unknown) => {
    throw new TsbpfError(`cannot mount tracefs on ${dir}`, {
      cause,
      hint: "run as root, or mount it yourself: mount -t tracefs nodev /sys/kernel/tracing",
    });
  });
  if (!(await exists(`${dir}/trace_pipe`))) throw new TsbpfError(`tracefs on ${dir} has no trace_pipe`);
  return dir;
}

/** Empties the trace ring buffer (what `echo > trace` does). */
export async function clearTrace(dir?: string): Promise<void> {
  const d = dir ?? (await ensureTracefs());
  await fsp.writeFile(`${d}/trace`, "");
}

/** Options for {@link TracePipeReader}. */
export interface TracePipeOptions {
  /** The tracefs directory; found (not mounted) when omitted. */
  dir?: string;
  /** How long to sleep when the pipe is empty, in ms (default 20). */
  pollMs?: number;
  /** Stops the reader when aborted. */
  signal?: AbortSignal;
  /** Only yield lines of this event (default `bpf_trace_printk`); `null` for every event. */
  fn?: string | null;
}

/**
 * Reads trace_pipe as an async iterator of parsed lines. A message with newlines comes back whole
 * (`message` then holds them, a trailing one included), so it equals formatTracePrintk()'s text.
 * The pipe is opened O_NONBLOCK and polled:
 * a blocking read would pin a libuv threadpool thread until the next trace line, so neither
 * stop() nor process exit could complete while the trace is quiet. Reading consumes lines, and
 * the pipe is global, so only one reader should run at a time.
 */
export class TracePipeReader implements AsyncIterable<TraceLine> {
  #stopped = false;
  #fh: fsp.FileHandle | undefined;
  #wake: (() => void) | undefined;
  readonly #opts: TracePipeOptions;

  constructor(opts: TracePipeOptions = {}) {
    this.#opts = opts;
    opts.signal?.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** Ends iteration soon (within one poll interval) and closes the pipe. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** Whether stop() was called (or the signal aborted). */
  get stopped(): boolean {
    return this.#stopped;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TraceLine> {
    if (this.#opts.signal?.aborted) this.#stopped = true;
    if (this.#stopped) return;
    const dir = this.#opts.dir ?? (await findTracefs());
    if (!dir) {
      throw new TsbpfError("tracefs is not mounted", {
        hint: "mount -t tracefs nodev /sys/kernel/tracing (needs root)",
      });
    }
    const fn = this.#opts.fn === undefined ? "bpf_trace_printk" : this.#opts.fn;
    const pollMs = this.#opts.pollMs ?? 20;
    const fh = await fsp.open(`${dir}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK);
    if (this.#stopped) {
      await fh.close();
      return;
    }
    this.#fh = fh;
    const buf = Buffer.alloc(64 * 1024);
    const dec = new TextDecoder();
    const wanted = (l: TraceLine): boolean => fn === null || l.fn === fn;
    let pending = "";
    // A line is held until the next one (or a quiet pipe) shows whether the message went on: the
    // kernel ends every event with "\n", so lines that do not parse continue the previous message.
    let held: TraceLine | undefined;
    try {
      while (!this.#stopped) {
        let n = 0;
        try {
          n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (e) {
          if (this.#stopped) break;
          if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        }
        if (n === 0) {
          if (held) {
            const out = held;
            held = undefined;
            if (wanted(out)) yield out;
            continue;
          }
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, pollMs);
            this.#wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          this.#wake = undefined;
          continue;
        }
        pending += dec.decode(buf.subarray(0, n), { stream: true });
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          nl = pending.indexOf("\n");
          const parsed = parseTraceLine(line);
          if (parsed) {
            const out = held;
            held = parsed;
            if (out && wanted(out)) yield out;
          } else if (held) held.message += `\n${line}`;
          if (this.#stopped) return;
        }
      }
    } finally {
      await this.stop();
    }
  }
}
