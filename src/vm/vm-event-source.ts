/**
 * The VM's event sources: its ring buffer and perf event array maps read in place, with the same
 * behaviour as the kernel's readers (records in order, discarded ones skipped, lost samples
 * counted). Waiting needs no thread: programs run on the main thread, so a submitted record
 * resolves a waiting read from the map's own notification.
 */
import type { EventSource, RawRecordFn } from "../backend/event-reader.js";
import type { PerfEventArrayMap, RingbufMap } from "./maps/index.js";

/** Resolves waits when `subscribe`'s callback fires, a timeout passes, or wake() is called. */
class Waiters {
  #resolve: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  wait(timeoutMs: number, ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#resolve = resolve;
      if (timeoutMs >= 0) this.#timer = setTimeout(() => this.fire(), timeoutMs);
    });
  }

  fire(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const r = this.#resolve;
    this.#resolve = undefined;
    r?.();
  }
}

/** A VM ring buffer read as the kernel's is. */
export class VmRingbufSource implements EventSource {
  readonly #map: RingbufMap;
  readonly #waiters = new Waiters();

  constructor(map: RingbufMap) {
    this.#map = map;
    map.onSubmit = () => this.#waiters.fire();
  }

  consume(fn: RawRecordFn, max: number): number {
    return this.#map.consume(fn, max);
  }

  wait(timeoutMs: number): Promise<void> {
    return this.#waiters.wait(timeoutMs, () => false);
  }

  wake(): void {
    this.#waiters.fire();
  }

  lost(): number {
    return 0;
  }

  close(): void {
    this.#map.onSubmit = undefined;
  }
}

/** A VM perf event array: a buffer opened on each of `cpus` slots while the reader lives. */
export class VmPerfSource implements EventSource {
  readonly #map: PerfEventArrayMap;
  readonly #cpus: number;
  readonly #waiters = new Waiters();
  #lost = 0;

  constructor(map: PerfEventArrayMap, cpus: number, pages: number) {
    this.#map = map;
    this.#cpus = cpus;
    for (let cpu = 0; cpu < cpus; cpu++) map.open(cpu, pages);
    map.onOutput = () => this.#waiters.fire();
  }

  consume(fn: RawRecordFn, max: number): number {
    return this.#map.consume(fn, max, (n) => {
      this.#lost += n;
    });
  }

  wait(timeoutMs: number): Promise<void> {
    return this.#waiters.wait(timeoutMs, () => false);
  }

  wake(): void {
    this.#waiters.fire();
  }

  lost(): number {
    return this.#lost;
  }

  close(): void {
    this.#map.onOutput = undefined;
    for (let cpu = 0; cpu < this.#cpus; cpu++) this.#map.closeSlot(cpu);
  }
}
