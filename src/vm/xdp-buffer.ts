import { Errno } from "../abi/errno.js";
import { PAGE_SIZE } from "../abi/page-size.js";
import { UsageError } from "../errors.js";
import { type Memory, REGION_LO_BASE, type Region } from "./memory.js";

/**
 * An XDP frame laid out the way `BPF_PROG_TEST_RUN` lays it out on Linux (net/bpf/test_run.c,
 * checked against this machine's kernel 6.18 by test/kernel/vm-vs-kernel tests):
 *
 *   one 4096-byte page: [xdp_frame 40 B][headroom ... 256 B][packet][tailroom, skb_shared_info 320 B]
 *
 * - `data` starts at 256 and `data_meta == data` at entry; the input must be at least 14 bytes.
 * - At most 4096 - 256 - 320 = 3520 bytes are linear; the rest of a larger packet is kept as
 *   fragments the program cannot address directly, and comes back in the output.
 * - `bpf_xdp_adjust_head` may move `data` down to 40 (past the xdp_frame) and up while 14 bytes
 *   remain; `bpf_xdp_adjust_meta` moves `data_meta` within [40, data] in steps of 4;
 *   `bpf_xdp_adjust_tail` keeps at least 14 bytes and may grow up to 3776 (page minus tailroom).
 * - The output is the bytes from `data_meta` to `data_end`.
 */
export const XDP_PAGE_SIZE = PAGE_SIZE;
/** `XDP_PACKET_HEADROOM`. */
export const XDP_HEADROOM = 256;
/** `sizeof(struct xdp_frame)` on x86-64: the lowest `data`/`data_meta` may go. */
export const XDP_FRAME_SIZE = 40;
/** `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64. */
export const XDP_TAILROOM = 320;
/** Most linear bytes test_run gives an XDP program. */
export const XDP_MAX_LINEAR = XDP_PAGE_SIZE - XDP_HEADROOM - XDP_TAILROOM;
/** `ETH_HLEN`: the smallest packet test_run accepts, and the least adjust_head/tail leave. */
export const ETH_HLEN = 14;
/** Largest input the VM accepts (linear part plus 17 page-sized fragments, as MAX_SKB_FRAGS). */
export const XDP_MAX_INPUT = XDP_MAX_LINEAR + 17 * XDP_PAGE_SIZE;

const EINVAL = -Errno.EINVAL;
/** No fragments: one shared empty array, so laying out a small packet allocates nothing. */
const NO_FRAGS = new Uint8Array(0);
const EACCES = -Errno.EACCES;

/** Offsets of `struct xdp_md`. */
const XDP_MD = { data: 0, dataEnd: 4, dataMeta: 8, ingressIfindex: 12, rxQueueIndex: 16, egressIfindex: 20 };

/** One XDP packet in VM memory, with its context; re-used across runs of a program. */
export class XdpBuffer {
  /** The page; moved only by {@link relocate}. */
  page: Uint8Array = new Uint8Array(XDP_PAGE_SIZE);
  readonly packet: Region;
  readonly ctx: Region;
  meta = XDP_HEADROOM;
  data = XDP_HEADROOM;
  end = XDP_HEADROOM;
  /** Bytes past the linear part (a packet longer than 3520 bytes). */
  frags: Uint8Array = NO_FRAGS;
  ingressIfindex = 1;
  rxQueueIndex = 0;
  /** Lowest and highest page index the program could have written since the last reset. */
  private dirtyLo = 0;
  private dirtyHi = XDP_PAGE_SIZE;
  // Context loads hand out cached bigints, recomputed only when the index they were made for
  // changes, so a run on a same-sized packet as the last one allocates nothing here.
  private dataAddr = 0n;
  private dataAt = -1;
  private endAddr = 0n;
  private endAt = -1;
  private metaAddr = 0n;
  private metaAt = -1;

  constructor(readonly memory: Memory) {
    this.packet = memory.map(this.page, { writable: true, name: "packet", start: 0, end: 0 });
    this.ctx = memory.map(new Uint8Array(24), {
      writable: false,
      name: "xdp_md context",
      onLoad: (index, size) => this.loadCtx(index, size),
    });
    this.ctx.loadWords = this.ctxWords;
  }

  /** What {@link loadCtx} gives for each 4-byte field, as words (see `Region.loadWords`). */
  private ctxWords: Int32Array = new Int32Array(12);

  /**
   * Moves the page and the context's words into the given arrays (the wasm tier's linear memory,
   * src/vm/wasm/runtime.ts), keeping the packet region's id and addresses.
   */
  relocate(page: Uint8Array, words: Int32Array): void {
    page.set(this.page);
    words.set(this.ctxWords);
    this.page = page;
    this.ctxWords = words;
    this.ctx.loadWords = words;
    this.memory.rebind(this.packet, page, this.packet.start, this.packet.end);
    // rebind marks the whole page unknown; what test_run may have left is the dirty window.
    this.dirtyLo = 0;
    this.dirtyHi = XDP_PAGE_SIZE;
  }

  /** Lays out `input` for a fresh run, as test_run does. */
  reset(input: Uint8Array, ingressIfindex: number, rxQueueIndex: number): void {
    this.resetFrom(input, 0, input.length, ingressIfindex, rxQueueIndex);
  }

  /** As {@link reset}, for the `len` bytes of `src` at `off` (a packet of a packed batch). */
  resetFrom(src: Uint8Array, off: number, len: number, ingressIfindex: number, rxQueueIndex: number): void {
    if (len < ETH_HLEN) {
      throw new UsageError(`packet of ${len} bytes is shorter than the 14 bytes XDP test runs need`, {
        hint: "the kernel refuses it with EINVAL too",
      });
    }
    if (len > XDP_MAX_INPUT) {
      throw new UsageError(`packet of ${len} bytes is larger than ${XDP_MAX_INPUT} bytes`);
    }
    const linear = Math.min(len, XDP_MAX_LINEAR);
    const page = this.page;
    // test_run gives a zeroed page: only what a program could have written needs clearing.
    if (this.dirtyHi > this.dirtyLo) page.fill(0, this.dirtyLo, this.dirtyHi);
    if (off === 0 && linear === src.length) page.set(src, XDP_HEADROOM);
    else if (linear <= 128) for (let i = 0; i < linear; i++) page[XDP_HEADROOM + i] = src[off + i] as number;
    else page.set(src.subarray(off, off + linear), XDP_HEADROOM);
    this.frags = len > linear ? src.slice(off + linear, off + len) : NO_FRAGS;
    this.meta = this.data = XDP_HEADROOM;
    this.end = XDP_HEADROOM + linear;
    this.dirtyLo = this.meta;
    this.dirtyHi = this.end;
    this.ingressIfindex = ingressIfindex;
    this.rxQueueIndex = rxQueueIndex;
    this.ctxWords[XDP_MD.ingressIfindex >> 1] = ingressIfindex | 0;
    this.ctxWords[XDP_MD.rxQueueIndex >> 1] = rxQueueIndex | 0;
    this.sync();
  }

  /** The bytes test_run hands back: `data_meta` to `data_end`, then any fragments. */
  output(): Uint8Array {
    const linear = this.page.subarray(this.meta, this.end);
    if (this.frags.length === 0) return linear.slice();
    const out = new Uint8Array(linear.length + this.frags.length);
    out.set(linear);
    out.set(this.frags, linear.length);
    return out;
  }

  /** The 64-bit address of `data`. */
  get ctxAddress(): bigint {
    return this.ctx.address();
  }

  /** Told the packet region's new window whenever it moves (the wasm tier mirrors it). */
  onBounds: ((start: number, end: number) => void) | undefined = undefined;

  private sync(): void {
    if (this.meta < this.dirtyLo) this.dirtyLo = this.meta;
    if (this.end > this.dirtyHi) this.dirtyHi = this.end;
    this.memory.setBounds(this.packet, this.meta, this.end);
    if (this.onBounds !== undefined) this.onBounds(this.meta, this.end);
    const w = this.ctxWords;
    const hi = this.packet.hi;
    w[XDP_MD.data >> 1] = REGION_LO_BASE + this.data;
    w[(XDP_MD.data >> 1) + 1] = hi;
    w[XDP_MD.dataEnd >> 1] = REGION_LO_BASE + this.end;
    w[(XDP_MD.dataEnd >> 1) + 1] = hi;
    w[XDP_MD.dataMeta >> 1] = REGION_LO_BASE + this.meta;
    w[(XDP_MD.dataMeta >> 1) + 1] = hi;
  }

  private loadCtx(index: number, size: number): bigint | undefined {
    // The verifier accepts only full 4-byte loads of the pointer fields and rewrites them into
    // 64-bit pointer loads; other fields read as the u32 they are.
    if (size !== 4) return undefined;
    switch (index) {
      case XDP_MD.data:
        if (this.dataAt !== this.data) {
          this.dataAt = this.data;
          this.dataAddr = this.packet.address(this.data);
        }
        return this.dataAddr;
      case XDP_MD.dataEnd:
        if (this.endAt !== this.end) {
          this.endAt = this.end;
          this.endAddr = this.packet.address(this.end);
        }
        return this.endAddr;
      case XDP_MD.dataMeta:
        if (this.metaAt !== this.meta) {
          this.metaAt = this.meta;
          this.metaAddr = this.packet.address(this.meta);
        }
        return this.metaAddr;
      case XDP_MD.ingressIfindex:
        return BigInt(this.ingressIfindex >>> 0);
      case XDP_MD.rxQueueIndex:
        return BigInt(this.rxQueueIndex >>> 0);
      case XDP_MD.egressIfindex:
        return 0n;
      default:
        return undefined;
    }
  }

  /** `bpf_xdp_adjust_head(ctx, delta)`. */
  adjustHead(delta: number): number {
    const data = this.data + delta;
    const metaLen = this.data - this.meta;
    if (data < XDP_FRAME_SIZE + metaLen || data > this.end - ETH_HLEN) return EINVAL;
    if (metaLen > 0) this.page.copyWithin(this.meta + delta, this.meta, this.data);
    this.meta += delta;
    this.data = data;
    this.sync();
    return 0;
  }

  /** `bpf_xdp_adjust_meta(ctx, delta)`. */
  adjustMeta(delta: number): number {
    const meta = this.meta + delta;
    if (meta < XDP_FRAME_SIZE || meta > this.data) return EINVAL;
    // Whole words only. Kernel 6.18 no longer caps metadata at 32 bytes (checked against the
    // kernel: 116 bytes are accepted); the xdp_frame floor is the only bound test_run reaches.
    if ((this.data - meta) & 3) return EACCES;
    this.meta = meta;
    this.sync();
    return 0;
  }

  /**
   * `bpf_xdp_adjust_tail(ctx, delta)`; growth is zero-filled. With fragments, as the kernel:
   * growth goes into the last fragment's page (4096 bytes each), shrinking frees fragments from
   * the end and, once none is left, goes on into the linear part.
   */
  adjustTail(delta: number): number {
    if (this.frags.length > 0) return delta < 0 ? this.shrinkFrags(-delta) : this.growFrags(delta);
    const end = this.end + delta;
    if (end < this.data + ETH_HLEN || end > XDP_PAGE_SIZE - XDP_TAILROOM) return EINVAL;
    if (delta > 0) this.page.fill(0, this.end, end);
    this.end = end;
    this.sync();
    return 0;
  }

  private growFrags(n: number): number {
    const last = ((this.frags.length - 1) % XDP_PAGE_SIZE) + 1;
    if (n > XDP_PAGE_SIZE - last) return EINVAL;
    if (n > 0) {
      const grown = new Uint8Array(this.frags.length + n);
      grown.set(this.frags);
      this.frags = grown;
    }
    return 0;
  }

  private shrinkFrags(n: number): number {
    if (n > this.end - this.data + this.frags.length - ETH_HLEN) return EINVAL;
    const fromFrags = Math.min(n, this.frags.length);
    this.frags = this.frags.slice(0, this.frags.length - fromFrags);
    if (this.frags.length === 0) {
      this.end -= n - fromFrags;
      this.sync();
    }
    return 0;
  }
}
