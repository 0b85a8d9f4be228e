import { Errno } from "../../abi/index.js";
import type { MapSpec } from "../../object/types.js";
import { NoElementsMap } from "./base.js";
import {
  MapFlag,
  PAGE_SIZE,
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RINGBUF_HDR_SZ,
  RingbufFlags,
  RingbufQuery,
} from "../../abi/index.js";
import { mapErrnoError } from "../../backend/map-error.js";
import type { ValueRef, VmMapOptions } from "./types.js";

/** Pages of `struct bpf_ringbuf` before its data area (bookkeeping, consumer and producer pages). */
const DATA_PAGE_OFFSET = 3;
/** The largest record the kernel accepts (`RINGBUF_MAX_RECORD_SZ`). */
const MAX_RECORD = Math.floor(0xffffffff / 4);

/**
 * `BPF_MAP_TYPE_RINGBUF` (kernel/bpf/ringbuf.c). Records are laid out exactly as in the kernel:
 * an 8-byte header (length with busy/discard bits, page offset) followed by the sample, the
 * whole rounded up to 8 bytes, at positions that grow without bound and are masked into the
 * ring. Space is refused (reserve gives NULL, output -EAGAIN) when the producer would get a
 * whole ring ahead of the consumer or of the oldest record still reserved.
 *
 * The kernel maps the data pages twice so a record that wraps is contiguous; the VM keeps a
 * ring of twice the size and, when a wrapping record is committed, copies the part past the end
 * to the start, so a program's sample pointer is contiguous too.
 *
 * From user space the map has no elements: lookup, update, delete and GET_NEXT_KEY fail with
 * ENOTSUPP (524) as the kernel's do. User space reads records with {@link drain}.
 */
export class RingbufMap extends NoElementsMap {
  /** The data area, twice the ring size (see the class comment). */
  readonly data: Uint8Array;
  readonly #view: DataView;
  readonly #size: number;
  #cons = 0;
  #prod = 0;
  #pend = 0;

  constructor(spec: MapSpec, opts: VmMapOptions) {
    super(spec, opts);
    const n = spec.maxEntries;
    const why =
      spec.keySize !== 0 || spec.valueSize !== 0
        ? "key and value size must be 0"
        : n <= 0 || (n & (n - 1)) !== 0 || n % PAGE_SIZE !== 0
          ? `max_entries ${n} is not a power of 2 multiple of the page size (${PAGE_SIZE})`
          : (spec.flags & ~MapFlag.NUMA_NODE) !== 0
            ? `flags ${spec.flags} are not allowed`
            : undefined;
    if (why !== undefined) throw mapErrnoError(spec.name, "create", Errno.EINVAL, { hint: why });
    this.#size = n;
    this.data = new Uint8Array(2 * n);
    this.#view = new DataView(this.data.buffer);
  }

  /** Bytes of the ring (max_entries). */
  get ringSize(): number {
    return this.#size;
  }

  protected noElements(): string {
    return "ring buffers have no elements";
  }

  /**
   * `bpf_ringbuf_reserve`: room for a `size`-byte sample, or `undefined` (NULL) when flags are
   * not 0 or the ring has no room. The sample is `data[offset .. offset+size)`.
   */
  reserve(size: number, flags = 0n): ValueRef | undefined {
    if (flags !== 0n || !Number.isInteger(size) || size < 0 || size > MAX_RECORD) return undefined;
    const len = (size + RINGBUF_HDR_SZ + 7) & ~7;
    if (len > this.#size) return undefined;
    const mask = this.#size - 1;
    // Advance the pending position past records already committed.
    while (this.#pend < this.#prod) {
      const hdrLen = this.#view.getUint32(this.#pend & mask, true);
      if ((hdrLen & RINGBUF_BUSY_BIT) !== 0) break;
      this.#pend += ((hdrLen & ~RINGBUF_DISCARD_BIT) + RINGBUF_HDR_SZ + 7) & ~7;
    }
    const newProd = this.#prod + len;
    if (newProd - this.#cons > mask || newProd - this.#pend > mask) return undefined;
    const hdr = this.#prod & mask;
    this.#view.setUint32(hdr, (size | RINGBUF_BUSY_BIT) >>> 0, true);
    this.#view.setUint32(hdr + 4, DATA_PAGE_OFFSET + Math.floor(hdr / PAGE_SIZE), true);
    this.#prod = newProd;
    const offset = hdr + RINGBUF_HDR_SZ;
    return { bytes: this.data, offset, size, view: this.data.subarray(offset, offset + size) };
  }

  /** `bpf_ringbuf_submit`: commits the sample at `offset`; -EINVAL if no reserved sample is there. */
  submit(offset: number, _flags = 0n): number {
    return this.commit(offset, false);
  }

  /** `bpf_ringbuf_discard`: releases the sample at `offset`; consumers will skip it. */
  discard(offset: number, _flags = 0n): number {
    return this.commit(offset, true);
  }

  /** `bpf_ringbuf_output`: copies `sample` in as one record; 0, -EINVAL (flags) or -EAGAIN (full). */
  output(sample: Uint8Array, flags = 0n): number {
    if ((flags & ~(RingbufFlags.NO_WAKEUP | RingbufFlags.FORCE_WAKEUP)) !== 0n) return -Errno.EINVAL;
    const r = this.reserve(sample.length);
    if (r === undefined) return -Errno.EAGAIN;
    r.view.set(sample);
    return this.commit(r.offset, false);
  }

  /** `bpf_ringbuf_query`: available bytes, ring size, consumer or producer position; 0 otherwise. */
  query(flags: bigint): bigint {
    switch (flags) {
      case RingbufQuery.AVAIL_DATA:
        return BigInt(this.#prod - this.#cons);
      case RingbufQuery.RING_SIZE:
        return BigInt(this.#size);
      case RingbufQuery.CONS_POS:
        return BigInt(this.#cons);
      case RingbufQuery.PROD_POS:
        return BigInt(this.#prod);
      default:
        return 0n;
    }
  }

  /**
   * The consumer (what libbpf's `ring_buffer__consume` does): returns a copy of every submitted
   * sample in order and frees their space, skipping discarded ones and stopping at the first
   * record still reserved.
   */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.consume((buf, off, len) => out.push(buf.slice(off, off + len)), Number.POSITIVE_INFINITY);
    return out;
  }

  /**
   * Hands each submitted sample (up to `max`) to `fn` in place, skipping discarded ones and
   * stopping at the first record still reserved, then frees their space. A sample is contiguous
   * in {@link data} (see the class comment); its view is valid only during the call.
   */
  consume(fn: (buf: Uint8Array, offset: number, length: number) => void, max: number): number {
    const mask = this.#size - 1;
    let n = 0;
    while (this.#cons < this.#prod && n < max) {
      const hdr = this.#cons & mask;
      const hdrLen = this.#view.getUint32(hdr, true);
      if ((hdrLen & RINGBUF_BUSY_BIT) !== 0) break;
      const len = hdrLen & ~RINGBUF_DISCARD_BIT;
      this.#cons += (len + RINGBUF_HDR_SZ + 7) & ~7;
      if ((hdrLen & RINGBUF_DISCARD_BIT) === 0) {
        n++;
        fn(this.data, hdr + RINGBUF_HDR_SZ, len);
      }
    }
    return n;
  }

  /** Called after each record is submitted: how a VM event reader learns that data came. */
  onSubmit: (() => void) | undefined;

  private commit(offset: number, discard: boolean): number {
    const hdr = offset - RINGBUF_HDR_SZ;
    if (!Number.isInteger(hdr) || hdr < 0 || hdr >= this.#size || hdr % 8 !== 0) return -Errno.EINVAL;
    const hdrLen = this.#view.getUint32(hdr, true);
    if ((hdrLen & RINGBUF_BUSY_BIT) === 0) return -Errno.EINVAL;
    const len = hdrLen & ~RINGBUF_BUSY_BIT;
    const end = offset + len;
    // A sample that ran past the ring's end lives in the mirror half; move it to the start.
    if (end > this.#size)
      this.data.copyWithin(Math.max(0, offset - this.#size), Math.max(offset, this.#size), end);
    this.#view.setUint32(hdr, (len | (discard ? RINGBUF_DISCARD_BIT : 0)) >>> 0, true);
    this.onSubmit?.();
    return 0;
  }
}
