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
   * Hands the bytes of up to `max` available records to `fn`, in order, and frees their space.
   * Each view is valid only during its call (the engine's memory is reused at once).
   * Returns how many records were handed over.
   */
  consume(fn: (record: Uint8Array) => void, max: number): number;
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
    return this.#source.consume(fn, max);
  }

  /** Every available record (up to `max`), copied and decoded, without waiting. */
  poll(max = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = [];
    this.consume((r) => out.push(this.#decode(r.slice())), max);
    return out;
  }

  /**
   * Waits for records and returns every available one (up to `max`): at least one, or `[]`
   * when `timeoutMs` passed or the reader closed. The wait runs off the main thread.
   */
  async read(opts: Partial<EventReadOptions> = {}): Promise<T[]> {
    const max = opts.max ?? Number.POSITIVE_INFINITY;
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
      next: async (): Promise<IteratorResult<T>> => {
        if (at < queue.length) return { done: false, value: queue[at++] as T };
        queue = await this.read();
        at = 0;
        if (queue.length === 0) return done;
        return { done: false, value: queue[at++] as T };
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
