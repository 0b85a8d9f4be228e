/**
 * Records a BPF program sends to user space through a ring buffer or a perf event array, read
 * the same way on both engines. An engine provides an {@link EventSource} (the kernel's over the
 * map's mmap()ed pages, the VM's over its in-memory ring); {@link EventReader} is everything a
 * user calls, written once: batch reads, zero-copy consumption, the async iterator, typed
 * records, closing.
 */
import { UsageError } from "../errors.js";

/** What an engine implements under an {@link EventReader}. */
export interface EventSource {
  /**
   * Hands up to `max` available records to `fn`, in order, as `buf[offset .. offset+length)`,
   * and frees their space. `buf` is the engine's memory (the same object from call to call, so
   * nothing is allocated per record) and is valid only during the call.
   * Returns how many records were handed over.
   */
  consume(fn: RawRecordFn, max: number): number;
  /**
   * Resolves when records may have arrived, `timeoutMs` passed (-1: no limit), or the source
   * was woken by {@link wake}. It never holds Node's main thread.
   */
  wait(timeoutMs: number): Promise<void>;
  /** Makes a pending {@link wait} resolve now (close calls it). */
  wake(): void;
  /** Records the producer could not write (perf event arrays: the kernel's lost-sample count). */
  lost(): number;
  /** Releases what the source holds; called once, after any pending wait has been woken. */
  close(): Promise<void> | void;
}

/** Receives one record as `buf[offset .. offset+length)`; `buf` is valid only during the call. */
export type RawRecordFn = (buf: Uint8Array, offset: number, length: number) => void;

/** Which kind of map an {@link EventReader} reads. */
export type EventMapKind = "ringbuf" | "perf_event_array";

/** Options of `coll.events(map, options)` on either engine. */
export interface EventReaderOptions {
  /**
   * Decode each record as this C struct or union from the object's BTF (`event`,
   * `struct event`, or a typedef of one), as typed maps do; records stay bytes without it.
   */
  type: string | undefined;
  /** Perf event arrays: pages of each CPU's buffer (a power of 2; default 64). */
  pages: number;
}

/** Turns a record's bytes (a copy the reader owns) into what the reader yields. */
export type RecordDecoder<T> = (bytes: Uint8Array) => T;

/** Bytes of each buffer {@link EventReader.poll} copies records into. */
export const COPY_CHUNK = 1 << 20;

/** Records the async iterator reads at a time (a bounded batch keeps its copies short-lived). */
export const ITERATOR_BATCH = 1024;

/** Options of {@link EventReader.read}. */
export interface EventReadOptions {
  /** Most milliseconds to wait for a first record; -1 (default) waits until one comes or the reader closes. */
  timeoutMs: number;
  /** Most records to return (default: all available). */
  max: number;
}

/**
 * A reader of a ring buffer or perf event array, on either engine. Three ways to read:
 *
 * - `for await (const rec of reader)`: one record at a time (a copy, decoded when a type was
 *   named); the loop ends when the reader or its collection closes.
 * - `await reader.read()`: every available record at once (waiting for the first).
 * - `reader.consume(fn)`: the fastest, no copy: `fn` sees each record's bytes in place, valid
 *   only during the call.
 *
 * `close()` (or `await using`) ends a waiting `read` with `[]` and the iterator with `done`.
 */
export class EventReader<T = Uint8Array> implements AsyncIterable<T>, AsyncDisposable {
  /** The map read. */
  readonly map: string;
  /** Ring buffer or perf event array. */
  readonly kind: EventMapKind;
  readonly #source: EventSource;
  readonly #decode: RecordDecoder<T>;
  readonly #onClose: (() => void) | undefined;
  #closed = false;
  #waiting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    map: string,
    kind: EventMapKind,
    source: EventSource,
    decode: RecordDecoder<T>,
    onClose?: () => void,
  ) {
    this.map = map;
    this.kind = kind;
    this.#source = source;
    this.#decode = decode;
    this.#onClose = onClose;
  }

  /** Whether {@link close} was called (by the user or the collection). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Records lost by the producer for lack of room: a perf event array's lost-sample records,
   * summed over CPUs. Ring buffers report none here (a full ring fails the program's
   * `bpf_ringbuf_output`/`reserve`, which the program must count itself).
   */
  get lost(): number {
    return this.#closed ? this.#lostAtClose : this.#source.lost();
  }
  #lostAtClose = 0;

  /**
   * Zero-copy batch read: calls `fn` with each available record's bytes, in order, and returns
   * how many. The view is the engine's memory and valid only during the call: copy
   * (`rec.slice()`) what must outlive it. Does not wait; 0 when nothing is there or closed.
   */
  consume(fn: (record: Uint8Array) => void, max = Number.POSITIVE_INFINITY): number {
    if (this.#closed) return 0;
    return this.#source.consume((buf, off, len) => fn(buf.subarray(off, off + len)), max);
  }

  /**
   * The fastest read: like {@link consume}, but each record is `buf[offset .. offset+length)`
   * of the engine's memory, `buf` the same object from record to record, so no object is made
   * per record (read a sequence number with a DataView made once over `buf.buffer`).
   */
  consumeRaw(fn: RawRecordFn, max = Number.POSITIVE_INFINITY): number {
    if (this.#closed) return 0;
    return this.#source.consume(fn, max);
  }

  /**
   * Every available record (up to `max`), copied and decoded, without waiting. The copies share
   * a few large buffers (one allocation per {@link COPY_CHUNK} bytes, not one per record).
   */
  poll(max = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = [];
    if (this.#closed) return out;
    let chunk = new Uint8Array(0);
    let at = 0;
    this.#source.consume((buf, off, len) => {
      if (at + len > chunk.byteLength) {
        chunk = new Uint8Array(Math.max(COPY_CHUNK, len));
        at = 0;
      }
      chunk.set(buf.subarray(off, off + len), at);
      out.push(this.#decode(chunk.subarray(at, at + len)));
      // Keep copies 8-byte aligned, so a DataView or BigUint64Array over a record is aligned too.
      at += (len + 7) & ~7;
    }, max);
    return out;
  }

  /**
   * Waits for records and returns every available one (up to `max`): at least one, or `[]`
   * when `timeoutMs` passed or the reader closed. The wait runs off the main thread.
   */
  async read(opts: Partial<EventReadOptions> = {}): Promise<T[]> {
    const max = opts.max ?? Number.POSITIVE_INFINITY;
    if (!(max >= 1)) throw new UsageError(`max must be at least 1, not ${max}`);
    const timeout = opts.timeoutMs ?? -1;
    if (!Number.isInteger(timeout) || timeout < -1)
      throw new UsageError(`timeoutMs must be -1 or a whole number of milliseconds, not ${timeout}`);
    const deadline = timeout < 0 ? Number.POSITIVE_INFINITY : Date.now() + timeout;
    for (;;) {
      if (this.#closed) return [];
      const got = this.poll(max);
      if (got.length > 0) return got;
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.#wait(left === Number.POSITIVE_INFINITY ? -1 : Math.ceil(left));
    }
  }

  /**
   * Waits until records may be available (or `timeoutMs` passes, -1: no limit, or the reader
   * closes), without reading any: for a loop that drains with {@link consume} as records come.
   */
  async wait(timeoutMs = -1): Promise<void> {
    if (!Number.isInteger(timeoutMs) || timeoutMs < -1)
      throw new UsageError(`timeoutMs must be -1 or a whole number of milliseconds, not ${timeoutMs}`);
    if (!this.#closed) await this.#wait(timeoutMs);
  }

  /** One wait at a time on the source; concurrent callers share it. */
  #wait(timeoutMs: number): Promise<void> {
    if (this.#waiting === undefined) {
      this.#waiting = this.#source.wait(timeoutMs).finally(() => {
        this.#waiting = undefined;
      });
    }
    return this.#waiting;
  }

  /** Records one at a time; ends when the reader (or its collection) closes. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    let queue: T[] = [];
    let at = 0;
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    return {
      next: (): Promise<IteratorResult<T>> => {
        // Records already read are handed out without another await inside.
        if (at < queue.length) return Promise.resolve({ done: false, value: queue[at++] as T });
        return this.read({ max: ITERATOR_BATCH }).then((got) => {
          queue = got;
          at = 0;
          if (queue.length === 0) return done;
          return { done: false, value: queue[at++] as T };
        });
      },
      return: async (): Promise<IteratorResult<T>> => {
        await this.close();
        return done;
      },
    };
  }

  /**
   * Stops reading and releases the engine's resources (mappings, fds). A pending `read` returns
   * `[]` and the iterator ends. Idempotent; the returned promise settles once everything is freed.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#lostAtClose = this.#source.lost();
    this.#closed = true;
    this.#source.wake();
    const waiting = this.#waiting ?? Promise.resolve();
    this.#closing = waiting
      .catch(() => undefined)
      .then(() => this.#source.close())
      .finally(() => this.#onClose?.());
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
