/**
 * Reading a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map: one perf event per CPU (software event
 * `PERF_COUNT_SW_BPF_OUTPUT`, raw samples), its fd stored in the map's slot for that CPU, its
 * ring buffer mmap()ed read-write. `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)`
 * writes a `PERF_RECORD_SAMPLE` into the buffer of the CPU the program runs on; when the buffer is
 * full the kernel drops the sample and later writes a `PERF_RECORD_LOST` with how many it dropped,
 * which the reader counts ({@link KernelPerfSource.lost}).
 *
 * Unlike a ring buffer's, the data area is mapped once, so a record that runs past its end is
 * copied together into a scratch buffer. Ordering is a ring buffer's: `data_head` read with
 * acquire, `data_tail` written with release once the records before it are read (see
 * ringbuf-source.ts for how Atomics gives both on x86-64 and arm64).
 */
import {
  Errno,
  Mmap,
  PAGE_SIZE,
  PERF_ATTR_SIZE,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_EVENT_HEADER_SZ,
  PERF_EVENT_IOC_DISABLE,
  PERF_EVENT_IOC_ENABLE,
  PERF_FLAG_FD_CLOEXEC,
  PERF_SAMPLE_RAW,
  PERF_TYPE_SOFTWARE,
  PerfAttrOffset,
  PerfMmapPage,
  PerfRecordType,
} from "../abi/index.js";
import type { EventSource, RawRecordFn } from "../backend/event-reader.js";
import { UsageError } from "../errors.js";
import { EventWaiter } from "./event-waiter.js";
import { isSysError, type EventSys, type MappedMemory } from "./sys.js";

/** One CPU's perf event and its mapped buffer. */
interface CpuBuffer {
  cpu: number;
  fd: number;
  mem: MappedMemory;
  head64: BigUint64Array;
  tail64: BigUint64Array;
  data: Uint8Array;
  view: DataView;
  tail: number;
}

/** The map slots the reader fills: set a CPU's fd, and empty it again on close. */
export interface PerfSlots {
  set(cpu: number, fd: number): void;
  clear(cpu: number): void;
}

/** The `perf_event_attr` of a BPF output event that wakes its reader at every sample. */
function outputEventAttr(): Uint8Array {
  const a = new Uint8Array(PERF_ATTR_SIZE);
  const v = new DataView(a.buffer);
  v.setUint32(PerfAttrOffset.type, PERF_TYPE_SOFTWARE, true);
  v.setUint32(PerfAttrOffset.size, PERF_ATTR_SIZE, true);
  v.setBigUint64(PerfAttrOffset.config, BigInt(PERF_COUNT_SW_BPF_OUTPUT), true);
  v.setBigUint64(PerfAttrOffset.samplePeriod, 1n, true);
  v.setBigUint64(PerfAttrOffset.sampleType, BigInt(PERF_SAMPLE_RAW), true);
  v.setUint32(PerfAttrOffset.wakeupEvents, 1, true);
  return a;
}

/** A perf event array read through one mmap()ed perf buffer per CPU (see the file comment). */
export class KernelPerfSource implements EventSource {
  readonly #sys: EventSys;
  readonly #slots: PerfSlots;
  readonly #cpus: CpuBuffer[] = [];
  readonly #waiter: EventWaiter;
  #scratch = new Uint8Array(0);
  #lost = 0;

  /**
   * Opens a buffer of `pages` data pages on each of `cpus` CPUs (skipping offline ones, as
   * libbpf does) and puts each event's fd into the map.
   */
  constructor(sys: EventSys, slots: PerfSlots, cpus: number, pages: number, mapName: string) {
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new UsageError(`perf buffer pages must be a power of 2, not ${pages}`, { map: mapName });
    }
    this.#sys = sys;
    this.#slots = slots;
    const attr = outputEventAttr();
    try {
      for (let cpu = 0; cpu < cpus; cpu++) {
        let fd: number;
        try {
          fd = sys.perfEventOpen(attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        } catch (e) {
          if (isSysError(e) && e.errno === Errno.ENODEV) continue; // offline CPU
          throw e;
        }
        let mem: MappedMemory;
        try {
          mem = sys.mmap(fd, PAGE_SIZE * (1 + pages), Mmap.PROT_READ | Mmap.PROT_WRITE, 0);
        } catch (e) {
          sys.close(fd);
          throw e;
        }
        const b: CpuBuffer = {
          cpu,
          fd,
          mem,
          head64: new BigUint64Array(mem.buffer, PerfMmapPage.dataHead, 1),
          tail64: new BigUint64Array(mem.buffer, PerfMmapPage.dataTail, 1),
          data: new Uint8Array(mem.buffer, PAGE_SIZE, PAGE_SIZE * pages),
          view: new DataView(mem.buffer, PAGE_SIZE, PAGE_SIZE * pages),
          tail: 0,
        };
        b.tail = Number(Atomics.load(b.tail64, 0));
        this.#cpus.push(b);
        slots.set(cpu, fd);
        sys.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
      }
      this.#waiter = new EventWaiter(
        sys,
        this.#cpus.map((b) => b.fd),
      );
    } catch (e) {
      this.#release();
      throw e;
    }
  }

  consume(fn: RawRecordFn, max: number): number {
    let n = 0;
    for (const b of this.#cpus) {
      if (n >= max) break;
      n += this.#consumeCpu(b, fn, max - n);
    }
    return n;
  }

  #consumeCpu(b: CpuBuffer, fn: RawRecordFn, max: number): number {
    const size = b.data.byteLength;
    let tail = b.tail;
    let n = 0;
    // Acquire: records up to data_head are written.
    const head = Number(Atomics.load(b.head64, 0));
    try {
      while (tail < head && n < max) {
        const off = tail % size;
        // Records are 8-byte aligned and the area is whole pages, so a header never wraps.
        const type = b.view.getUint32(off, true);
        const recSize = b.view.getUint16(off + 6, true);
        if (recSize < PERF_EVENT_HEADER_SZ) break; // never written by the kernel; stop rather than spin
        // A record that runs past the end is copied together into the scratch buffer.
        const wraps = off + recSize > size;
        const buf = wraps ? this.#wrapped(b, off, recSize, size) : b.data;
        const at = wraps ? 0 : off;
        const view = wraps ? new DataView(buf.buffer, buf.byteOffset, recSize) : b.view;
        tail += recSize;
        if (type === PerfRecordType.SAMPLE) {
          const raw = view.getUint32(at + PERF_EVENT_HEADER_SZ, true);
          n++;
          fn(buf, at + PERF_EVENT_HEADER_SZ + 4, Math.min(raw, recSize - PERF_EVENT_HEADER_SZ - 4));
        } else if (type === PerfRecordType.LOST) {
          this.#lost += Number(view.getBigUint64(at + 16, true));
        }
      }
    } finally {
      if (tail !== b.tail) {
        b.tail = tail;
        // Release: the kernel may write over everything before data_tail.
        Atomics.store(b.tail64, 0, BigInt(tail));
      }
    }
    return n;
  }

  /** `len` bytes from `off`, continuing at the start of the data area, in the scratch buffer. */
  #wrapped(b: CpuBuffer, off: number, len: number, size: number): Uint8Array {
    if (this.#scratch.byteLength < len)
      this.#scratch = new Uint8Array(Math.max(len, 2 * this.#scratch.byteLength));
    const first = Math.min(len, size - off);
    this.#scratch.set(b.data.subarray(off, off + first), 0);
    this.#scratch.set(b.data.subarray(0, len - first), first);
    return this.#scratch.subarray(0, len);
  }

  wait(timeoutMs: number): Promise<void> {
    return this.#waiter.wait(timeoutMs);
  }

  wake(): void {
    this.#waiter.wake();
  }

  lost(): number {
    return this.#lost;
  }

  close(): void {
    this.#waiter.close();
    this.#release();
  }

  #release(): void {
    for (const b of this.#cpus.splice(0)) {
      try {
        this.#slots.clear(b.cpu);
      } catch {
        // The map may be gone with its collection already; the perf event goes with its fd.
      }
      try {
        this.#sys.ioctl(b.fd, PERF_EVENT_IOC_DISABLE, 0);
      } catch {
        // Closing the fd below disables it too.
      }
      b.mem.unmap();
      this.#sys.close(b.fd);
    }
  }
}
