/**
 * Reading a tracefs trace_pipe (the global one or an instance's). Finding and mounting tracefs
 * is the kernel engine's business (kernel/mounts.ts); this file only reads the directory it is given.
 */
import { constants, promises as fsp } from "node:fs";
import { parseTraceLine, type TraceLine } from "./trace-line.js";

/** Options for {@link TracePipeReader}. */
export interface TracePipeOptions {
  /** The tracefs directory or instance directory whose `trace_pipe` is read. */
  dir: string;
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
 * stop() nor process exit could complete while the trace is quiet. Reading consumes lines: on the
 * global trace_pipe only one reader should run at a time (tsbpf itself reads instances of its own).
 */
export class TracePipeReader implements AsyncIterable<TraceLine> {
  #stopped = false;
  #fh: fsp.FileHandle | undefined;
  #wake: (() => void) | undefined;
  readonly #opts: TracePipeOptions;

  constructor(opts: TracePipeOptions) {
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
    const { dir } = this.#opts;
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
