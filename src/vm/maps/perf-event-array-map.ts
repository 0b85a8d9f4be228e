import { Errno, PAGE_SIZE, PERF_EVENT_HEADER_SZ } from "../../abi/index.js";
import { mapErrnoError } from "../../backend/map-error.js";
import type { MapSpec } from "../../object/types.js";
import { NoElementsMap } from "./base.js";
import type { VmMapOptions } from "./types.js";

/** Bytes of a `PERF_RECORD_LOST` record: header, id, lost. */
const LOST_RECORD_SZ = PERF_EVENT_HEADER_SZ + 16;

/** One CPU's perf buffer as the VM models it: records in order and the bytes they take. */
interface VmPerfBuffer {
  capacity: number;
  used: number;
  /** Raw samples (padded as the kernel pads them) and lost counts, in order. */
  records: (Uint8Array | number)[];
  /** Samples dropped since the last lost record was written. */
  pendingLost: number;
}

/**
 * `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (kernel/bpf/arraymap.c, kernel/events/ring_buffer.c): one perf
 * buffer per CPU, present only while a reader has one open for that slot, as the kernel's slots
 * hold a perf event fd only while a reader put one there. `bpf_perf_event_output` appends a raw
 * sample to the slot's buffer (the kernel pads the sample so `u32 size + data` is a multiple of
 * 8; the VM hands out the same padded bytes); an empty slot gives -ENOENT, a full buffer drops
 * the sample (-ENOSPC) and counts it, and, as the kernel does, the count is written as a lost
 * record before the next sample that fits.
 *
 * From user space the map has no elements to read: the reader opens and closes buffers.
 */
export class PerfEventArrayMap extends NoElementsMap {
  readonly #buffers = new Map<number, VmPerfBuffer>();

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts);
    if (spec.keySize !== 4 || spec.valueSize !== 4)
      throw mapErrnoError(spec.name, "create", Errno.EINVAL, { hint: "key and value size must be 4" });
  }

  /** Called after a sample is written: how a VM event reader learns that data came. */
  onOutput: (() => void) | undefined;

  /** Opens slot `cpu`'s buffer of `pages` data pages (what a reader's perf_event_open + update does). */
  open(cpu: number, pages: number): void {
    this.#buffers.set(cpu, { capacity: pages * PAGE_SIZE, used: 0, records: [], pendingLost: 0 });
  }

  /** Empties slot `cpu` (the reader closed). */
  closeSlot(cpu: number): void {
    this.#buffers.delete(cpu);
  }

  /** `bpf_perf_event_output` into slot `cpu`: 0, -E2BIG (no such slot), -ENOENT (no reader) or -ENOSPC (full). */
  output(cpu: number, sample: Uint8Array): number {
    if (cpu >= this.spec.maxEntries) return -Errno.E2BIG;
    const b = this.#buffers.get(cpu);
    if (b === undefined) return -Errno.ENOENT;
    const raw = ((sample.length + 4 + 7) & ~7) - 4;
    const size = PERF_EVENT_HEADER_SZ + 4 + raw;
    const need = size + (b.pendingLost > 0 ? LOST_RECORD_SZ : 0);
    if (b.used + need > b.capacity) {
      b.pendingLost++;
      return -Errno.ENOSPC;
    }
    if (b.pendingLost > 0) {
      b.records.push(b.pendingLost);
      b.used += LOST_RECORD_SZ;
      b.pendingLost = 0;
    }
    const padded = new Uint8Array(raw);
    padded.set(sample);
    b.records.push(padded);
    b.used += size;
    this.onOutput?.();
    return 0;
  }

  /**
   * Hands samples (up to `max`) to `fn` in CPU order and frees their room; lost records found on
   * the way are added up and given to `lost`. Returns how many samples were handed over.
   */
  consume(
    fn: (buf: Uint8Array, offset: number, length: number) => void,
    max: number,
    lost: (n: number) => void,
  ): number {
    let n = 0;
    for (const cpu of [...this.#buffers.keys()].sort((a, b) => a - b)) {
      const b = this.#buffers.get(cpu) as VmPerfBuffer;
      while (b.records.length > 0 && n < max) {
        const r = b.records.shift() as Uint8Array | number;
        if (typeof r === "number") {
          b.used -= LOST_RECORD_SZ;
          lost(r);
          continue;
        }
        b.used -= PERF_EVENT_HEADER_SZ + 4 + r.length;
        n++;
        fn(r, 0, r.length);
      }
    }
    return n;
  }

  protected noElements(op: string): string {
    return `a perf event array's slots are opened by its reader${op === "update" ? " (coll.events)" : ""}`;
  }
}
