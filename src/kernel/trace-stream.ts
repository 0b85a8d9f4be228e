/**
 * The bpf_printk lines printed from a point on, as they come: what `tsbpf attach` prints and
 * what `KernelCollection.trace()` yields. The stream reads a private tracefs instance made when
 * it is opened (trace-instance.ts), so lines already waiting in the global trace_pipe (printed by
 * an earlier, unrelated run) never show up, and no other reader of trace_pipe loses lines to it.
 * Open it just before attaching: everything it yields was printed after that point.
 */
import { UsageError } from "../errors.js";
import type { TraceLine } from "../trace/trace-line.js";
import { TracePipeReader } from "../trace/trace-pipe.js";
import { unmountOwnTracefs } from "./mounts.js";
import type { Sys } from "./sys.js";
import { TraceInstance } from "./trace-instance.js";

/** Options of {@link TraceStream.open}. */
export interface TraceStreamOptions {
  /** Stops the stream when aborted. */
  signal?: AbortSignal;
  /** Keeps only the lines this returns true for (e.g. an object's own formats). */
  accept?: (line: TraceLine) => boolean;
  /** The syscall layer, used to mount tracefs when it is missing. */
  sys?: Sys;
  /** How long to sleep when nothing is printed, in ms (default 20). */
  pollMs?: number;
}

let streams = 0;

/** bpf_trace_printk lines printed since {@link TraceStream.open}, as an async iterable. */
export class TraceStream implements AsyncIterable<TraceLine> {
  readonly #instance: TraceInstance;
  readonly #reader: TracePipeReader;
  readonly #accept: ((line: TraceLine) => boolean) | undefined;
  #iterated = false;

  private constructor(instance: TraceInstance, opts: TraceStreamOptions) {
    this.#instance = instance;
    this.#accept = opts.accept;
    this.#reader = new TracePipeReader({
      dir: instance.dir,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
    });
  }

  /**
   * Starts recording now: makes the private instance (mounting tracefs first when it is missing;
   * needs root). Throws a TsbpfError saying why when trace lines cannot be had.
   */
  static open(opts: TraceStreamOptions = {}): TraceStream {
    streams += 1;
    const instance = TraceInstance.create(`s${streams}`, opts.sys === undefined ? {} : { sys: opts.sys });
    return new TraceStream(instance, opts);
  }

  /**
   * Lets the next {@link open} be quicker: its tracefs instance starts being made now, on a
   * worker thread (about 10 ms of kernel time), while the caller loads its programs. Nothing is
   * recorded until `open`.
   */
  static prepare(opts: Pick<TraceStreamOptions, "sys"> = {}): void {
    TraceInstance.premake(`s${streams + 1}`, opts);
  }

  /**
   * Undoes {@link prepare} when no stream will be opened (the load it was for failed): removes
   * the premade instance and unmounts tracefs when this process mounted it, so nothing it made
   * stays. Instances already open keep tracefs busy, and it stays mounted.
   */
  static async unprepare(opts: Pick<TraceStreamOptions, "sys"> = {}): Promise<void> {
    await TraceInstance.dropPremade();
    unmountOwnTracefs(opts.sys);
  }

  /** Where the lines are read from (the instance directory). */
  get dir(): string {
    return this.#instance.dir;
  }

  /** Yields lines until the signal aborts or {@link close} is called; then removes the instance. */
  async *[Symbol.asyncIterator](): AsyncIterator<TraceLine> {
    if (this.#iterated) throw new UsageError("a TraceStream can be iterated once; open another");
    this.#iterated = true;
    try {
      for await (const line of this.#reader) {
        if (this.#accept === undefined || this.#accept(line)) yield line;
      }
    } finally {
      await this.close();
    }
  }

  /** Stops reading and removes the instance. Idempotent. */
  async close(): Promise<void> {
    await this.#reader.stop();
    this.#instance.remove();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
