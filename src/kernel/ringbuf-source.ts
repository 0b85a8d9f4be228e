/**
 * Reading a `BPF_MAP_TYPE_RINGBUF` map from its memory, as the kernel lays it out for user space
 * (kernel/bpf/ringbuf.c, Documentation/bpf/ringbuf.rst):
 *
 * - offset 0 of the map fd: the consumer page, mapped read-write; its first u64 is the consumer
 *   position, which only user space writes;
 * - offset PAGE_SIZE: the producer page (first u64: producer position) followed by the data
 *   area, mapped read-only. The kernel maps the data pages twice in a row, so a record that runs
 *   past the ring's end is still contiguous in the mapping: no record is ever copied to be read.
 *
 * Positions grow without bound; `pos % size` is where a record starts. Each record has an 8-byte
 * header: u32 length with the busy bit (still being written) and the discard bit (skip it), and
 * u32 page offset; the record takes `round_up(len + 8, 8)` bytes.
 *
 * Ordering. The producer writes a record, then stores its header length with release semantics
 * (clearing the busy bit), and it publishes the producer position with release too; the consumer
 * must read the producer position and each header with acquire, and write its own position with
 * release after it is done with the records, so the producer never reuses space still being read.
 * From JavaScript the mapping is an ArrayBuffer (koffi's view of the memory), and `Atomics.load` /
 * `Atomics.store` on it are sequentially consistent: on x86-64 a plain `mov` for the load (x86
 * loads are acquire already) and `xchg` for the store (a full barrier, stronger than release); on
 * arm64 `ldar`/`stlr`, which are exactly acquire and release. Plain typed-array reads are used
 * only for bytes that an acquire load made visible (the record's body after its header).
 */
import { PAGE_SIZE, RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RINGBUF_HDR_SZ, Mmap } from "../abi/index.js";
import type { EventSource, RawRecordFn } from "../backend/event-reader.js";
import type { EventSys, MappedMemory } from "./sys.js";
import { EventWaiter } from "./event-waiter.js";

/** Length bits of a record header (the busy and discard bits cleared). */
const LEN_MASK = ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT) >>> 0;
/** Store the consumer position at least every this many bytes of a long batch, so producers get room back early. */
const RELEASE_EVERY = 1 << 16;

/** A ring buffer map read through its mmap()ed pages (see the file comment). */
export class KernelRingbufSource implements EventSource {
  readonly #consumer: MappedMemory;
  readonly #producer: MappedMemory;
  /** The consumer position, the only word user space writes. */
  readonly #cons64: BigUint64Array;
  /** The producer position. */
  readonly #prod64: BigUint64Array;
  /** Record headers as 32-bit words over the (double-mapped) data area. */
  readonly #hdr32: Int32Array;
  /** The data area, twice the ring size. */
  readonly #data: Uint8Array;
  readonly #size: number;
  readonly #waiter: EventWaiter;
  #cons: number;

  constructor(sys: EventSys, mapFd: number, size: number) {
    this.#size = size;
    this.#consumer = sys.mmap(mapFd, PAGE_SIZE, Mmap.PROT_READ | Mmap.PROT_WRITE, 0);
    try {
      this.#producer = sys.mmap(mapFd, PAGE_SIZE + 2 * size, Mmap.PROT_READ, PAGE_SIZE);
    } catch (e) {
      this.#consumer.unmap();
      throw e;
    }
    this.#cons64 = new BigUint64Array(this.#consumer.buffer, 0, 1);
    this.#prod64 = new BigUint64Array(this.#producer.buffer, 0, 1);
    this.#hdr32 = new Int32Array(this.#producer.buffer, PAGE_SIZE, (2 * size) / 4);
    this.#data = new Uint8Array(this.#producer.buffer, PAGE_SIZE, 2 * size);
    this.#cons = Number(Atomics.load(this.#cons64, 0));
    try {
      this.#waiter = new EventWaiter(sys, [mapFd]);
    } catch (e) {
      this.#producer.unmap();
      this.#consumer.unmap();
      throw e;
    }
  }

  consume(fn: RawRecordFn, max: number): number {
    const size = this.#size;
    const hdr32 = this.#hdr32;
    const data = this.#data;
    let cons = this.#cons;
    let released = cons;
    let n = 0;
    // Acquire: every record up to here is reserved (its header written, busy bit set or not).
    const prod = Number(Atomics.load(this.#prod64, 0));
    while (cons < prod && n < max) {
      const off = cons % size;
      // Acquire: the record's body is visible once its header shows the busy bit cleared.
      const hdr = Atomics.load(hdr32, off >> 2) >>> 0;
      if ((hdr & RINGBUF_BUSY_BIT) !== 0) break;
      const len = hdr & LEN_MASK;
      const next = cons + ((len + RINGBUF_HDR_SZ + 7) & ~7);
      if ((hdr & RINGBUF_DISCARD_BIT) === 0) {
        const start = off + RINGBUF_HDR_SZ;
        try {
          fn(data, start, len);
        } catch (e) {
          // The record was handed over: it counts as consumed, as libbpf's does when a callback fails.
          this.#release(next);
          throw e;
        }
        n++;
      }
      cons = next;
      if (cons - released >= RELEASE_EVERY) {
        this.#release(cons);
        released = cons;
      }
    }
    if (cons !== released) this.#release(cons);
    return n;
  }

  /** Release: the producer may reuse everything before `pos` once it sees this store. */
  #release(pos: number): void {
    this.#cons = pos;
    Atomics.store(this.#cons64, 0, BigInt(pos));
  }

  wait(timeoutMs: number): Promise<void> {
    return this.#waiter.wait(timeoutMs);
  }

  wake(): void {
    this.#waiter.wake();
  }

  lost(): number {
    return 0;
  }

  close(): void {
    this.#waiter.close();
    this.#producer.unmap();
    this.#consumer.unmap();
  }
}
