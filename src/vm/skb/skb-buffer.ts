import { Errno } from "../../abi/errno.js";
import { PAGE_SIZE } from "../../abi/page-size.js";
import { AdjRoom, SK_BUFF_SIZE, SKB_MAX_ALLOC } from "../../abi/tc.js";
import { UsageError } from "../../errors.js";
import { vmFault } from "../fault.js";
import type { Memory, Region } from "../memory.js";

/**
 * A socket buffer laid out the way `BPF_PROG_TEST_RUN` lays one out for a tc (`sched_cls`)
 * program on Linux (net/bpf/test_run.c, bpf_prog_test_run_skb; checked against this machine's
 * kernel 6.18 by test/kernel/vm-vs-kernel-tc.test.ts):
 *
 *   one 4096-byte page: [headroom NET_SKB_PAD 64 B][packet][tailroom, skb_shared_info 320 B]
 *
 * - the input is 14 to 3712 bytes, and holds a whole IPv4 (20 B) or IPv6 (40 B) header after the
 *   Ethernet one when its EtherType says it is one; `data` is the Ethernet header (tc is L2);
 * - `data_meta == data` (test_run gives no metadata);
 * - the device is the namespace's loopback (ifindex 1) unless `ctx_in` names another one, so
 *   `pkt_type` is what eth_type_trans gives against lo's all-zero address, and `protocol` is the
 *   EtherType (802.3/802.2 below 0x600) as the big-endian 16 bits it is in the skb;
 * - `ctx_in` may set only mark, priority, ingress_ifindex, ifindex, cb[0..4], tstamp, wire_len,
 *   gso_segs, gso_size and hwtstamp (anything else non-zero is EINVAL); `ctx_out` gives the same
 *   fields back, as the program left them.
 *
 * The packet-resizing helpers (bpf_skb_change_head/change_tail/pull_data/adjust_room, see
 * {@link SkbBuffer.changeHead} and the others) move `data` and `data_end` within a larger buffer:
 * the kernel reallocates the skb's head when it needs room (skb_cow), so the VM keeps room for
 * the largest skb those helpers allow ({@link SKB_MAX_ALLOC}) on either side.
 */
export const SKB_HEADROOM = 64;
/** `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64. */
export const SKB_TAILROOM = 320;
/** Most bytes test_run takes for an skb program. */
export const SKB_MAX_INPUT = PAGE_SIZE - SKB_HEADROOM - SKB_TAILROOM;
/** `ETH_HLEN`. */
const ETH_HLEN = 14;
/** `GSO_MAX_SEGS`. */
const GSO_MAX_SEGS = 65535;
/** `GSO_LEGACY_MAX_SIZE`. */
const GSO_LEGACY_MAX_SIZE = 65536;
/** Where a run's headroom starts in the VM's buffer: room below it for a packet grown to the limit. */
const HEAD0 = 4 * PAGE_SIZE;
/** The VM's skb buffer: the start of a run's headroom at {@link HEAD0}, then room for growth both ways. */
const SKB_BUFFER_SIZE = HEAD0 + SKB_HEADROOM + SKB_MAX_INPUT + SKB_MAX_ALLOC + PAGE_SIZE;
const EINVAL = -Errno.EINVAL;
const EFAULT = -Errno.EFAULT;
const ENOMEM = -Errno.ENOMEM;
const ENOTSUPP = -Errno.ENOTSUPP;
const EALREADY = -Errno.EALREADY;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ENCAP_L3 = AdjRoom.ENCAP_L3_IPV4 | AdjRoom.ENCAP_L3_IPV6;
const DECAP_L3 = AdjRoom.DECAP_L3_IPV4 | AdjRoom.DECAP_L3_IPV6;
/** `BPF_F_ADJ_ROOM_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET`: every flag bpf_skb_adjust_room knows. */
const ADJ_ROOM_FLAGS =
  AdjRoom.FIXED_GSO |
  ENCAP_L3 |
  AdjRoom.ENCAP_L4_GRE |
  AdjRoom.ENCAP_L4_UDP |
  AdjRoom.ENCAP_L2_ETH |
  (AdjRoom.ENCAP_L2_MASK << AdjRoom.ENCAP_L2_SHIFT) |
  DECAP_L3 |
  AdjRoom.NO_CSUM_RESET;
/** What bpf_skb_net_shrink accepts. */
const SHRINK_FLAGS = AdjRoom.FIXED_GSO | DECAP_L3 | AdjRoom.NO_CSUM_RESET;
/** The region name a packet pointer read before a resizing helper faults with. */
const STALE =
  "stale packet pointer (read before a helper that may change the packet; the kernel's verifier requires data/data_end to be read again after it)";

/** Offsets of `struct __sk_buff` (include/uapi/linux/bpf.h). */
export const SK_BUFF = {
  len: 0,
  pktType: 4,
  mark: 8,
  queueMapping: 12,
  protocol: 16,
  vlanPresent: 20,
  vlanTci: 24,
  vlanProto: 28,
  priority: 32,
  ingressIfindex: 36,
  ifindex: 40,
  tcIndex: 44,
  cb: 48,
  hash: 68,
  tcClassid: 72,
  data: 76,
  dataEnd: 80,
  napiId: 84,
  dataMeta: 140,
  tstamp: 152,
  wireLen: 160,
  gsoSegs: 164,
  gsoSize: 176,
  hwtstamp: 184,
} as const;

/** Byte ranges of `__sk_buff` test_run's ctx_in may set (convert___skb_to_skb); the rest must be zero. */
const CTX_IN_ALLOWED: readonly [number, number][] = [
  [SK_BUFF.mark, 4],
  [SK_BUFF.priority, 4],
  [SK_BUFF.ingressIfindex, 4],
  [SK_BUFF.ifindex, 4],
  [SK_BUFF.cb, 20],
  [SK_BUFF.tstamp, 8],
  [SK_BUFF.wireLen, 4],
  [SK_BUFF.gsoSegs, 4],
  [SK_BUFF.gsoSize, 4],
  [SK_BUFF.hwtstamp, 8],
];
/** The fields ctx_out gives back as the skb has them (convert_skb_to___skb): ctx_in's, but gso_size stays ctx_in's. */
const CTX_OUT = CTX_IN_ALLOWED.filter(([off]) => off !== SK_BUFF.gsoSize);

/** One skb in VM memory with its `__sk_buff` context; re-used across runs of tc programs. */
export class SkbBuffer {
  /** The skb's bytes; the packet is `page[data..end)`. */
  readonly page = new Uint8Array(SKB_BUFFER_SIZE);
  /** The region packet pointers point into (one of two; see {@link invalidatePointers}). */
  packet: Region;
  private readonly regions: [Region, Region];
  readonly ctx: Region;
  readonly fields = new Uint8Array(SK_BUFF_SIZE);
  private readonly view = new DataView(this.fields.buffer);
  data = HEAD0 + SKB_HEADROOM;
  end = HEAD0 + SKB_HEADROOM;
  /**
   * `skb->network_header - skb->data`. The MAC header is always at `data` (test_run puts it
   * there, change_head resets it there, adjust_room moves both with `data`).
   */
  netOff = ETH_HLEN;
  /** `skb->transport_header - skb->data`, once adjust_room's L4 encapsulation set it. */
  transOff: number | undefined = undefined;
  /** `skb->encapsulation`, set by adjust_room's L3 encapsulation. */
  encapsulation = false;
  /** Lowest and highest index a run may have written, zeroed by the next reset. */
  private dirtyLo = 0;
  private dirtyHi = 0;
  /** Whether the run was given a context (ctx_out is then returned). */
  hasCtx = false;
  /** ctx_in's gso_size, which ctx_out gives back unchanged. */
  private ctxInGsoSize = 0;

  constructor(readonly memory: Memory) {
    this.regions = [
      memory.map(this.page, { writable: true, name: "packet", start: 0, end: 0 }),
      memory.map(this.page, { writable: true, name: STALE, start: 0, end: 0 }),
    ];
    this.packet = this.regions[0];
    this.ctx = memory.map(this.fields, {
      writable: true,
      name: "__sk_buff context",
      onLoad: (index, size) => this.loadCtx(index, size),
    });
  }

  /** Lays out `input` (and `ctxIn`) for a fresh run, as test_run does; bad input is EINVAL there. */
  reset(input: Uint8Array, ctxIn: Uint8Array | undefined): void {
    if (input.length < ETH_HLEN || input.length > SKB_MAX_INPUT) {
      throw new UsageError(
        `packet of ${input.length} bytes: tc test runs take ${ETH_HLEN} to ${SKB_MAX_INPUT} bytes`,
        { hint: "the kernel refuses it with EINVAL too" },
      );
    }
    const t = input.length >= ETH_HLEN ? ((input[12] as number) << 8) | (input[13] as number) : 0;
    const l3 = t === 0x0800 ? 20 : t === 0x86dd ? 40 : 0;
    if (input.length < ETH_HLEN + l3) {
      throw new UsageError(
        `packet of ${input.length} bytes is too short for the ${l3 === 20 ? "IPv4" : "IPv6"} header its EtherType announces`,
        { hint: "the kernel refuses it with EINVAL too" },
      );
    }
    this.page.fill(0, this.dirtyLo, this.dirtyHi);
    this.data = HEAD0 + SKB_HEADROOM;
    this.end = this.data + input.length;
    this.page.set(input, this.data);
    this.dirtyLo = this.data;
    this.dirtyHi = this.end;
    this.netOff = ETH_HLEN;
    this.transOff = undefined;
    this.encapsulation = false;
    if (this.packet !== this.regions[0]) this.swapRegions();
    this.fields.fill(0);
    this.hasCtx = ctxIn !== undefined;
    const v = this.view;
    if (ctxIn !== undefined) this.applyCtxIn(ctxIn, input.length);
    const ifindex = v.getUint32(SK_BUFF.ifindex, true);
    if (ifindex > 1) {
      throw new UsageError(`ctx_in names ifindex ${ifindex}: the VM has only the loopback device (1)`, {
        hint: "leave ifindex 0 or 1 in the context, or run with --backend kernel",
      });
    }
    v.setUint32(SK_BUFF.ifindex, 1, true);
    v.setUint32(SK_BUFF.pktType, pktType(input), true);
    this.protocol = ethProtocol(input);
    this.sync();
  }

  private applyCtxIn(ctxIn: Uint8Array, len: number): void {
    const c = new Uint8Array(SK_BUFF_SIZE);
    if (ctxIn.length > SK_BUFF_SIZE) {
      if (ctxIn.subarray(SK_BUFF_SIZE).some((b) => b !== 0))
        throw ctxError(
          `ctx_in is ${ctxIn.length} bytes, past the ${SK_BUFF_SIZE} of __sk_buff, and not zero there`,
        );
      c.set(ctxIn.subarray(0, SK_BUFF_SIZE));
    } else c.set(ctxIn);
    const allowed = new Uint8Array(SK_BUFF_SIZE);
    for (const [o, n] of CTX_IN_ALLOWED) allowed.fill(1, o, o + n);
    for (let i = 0; i < SK_BUFF_SIZE; i++) {
      if (c[i] !== 0 && allowed[i] === 0)
        throw ctxError(`ctx_in sets byte ${i} of __sk_buff, which test_run does not take`);
    }
    const cv = new DataView(c.buffer);
    const wire = cv.getUint32(SK_BUFF.wireLen, true);
    if (wire !== 0 && (wire < len || wire > GSO_LEGACY_MAX_SIZE))
      throw ctxError(
        `ctx_in wire_len ${wire} is below the packet's ${len} bytes or above ${GSO_LEGACY_MAX_SIZE}`,
      );
    if (cv.getUint32(SK_BUFF.gsoSegs, true) > GSO_MAX_SEGS)
      throw ctxError(`ctx_in gso_segs is above ${GSO_MAX_SEGS}`);
    this.fields.set(c);
    this.ctxInGsoSize = cv.getUint32(SK_BUFF.gsoSize, true);
    if (wire === 0) this.view.setUint32(SK_BUFF.wireLen, len, true);
  }

  /** The bytes test_run hands back: `data` to `data_end`. */
  output(): Uint8Array {
    return this.page.slice(this.data, this.end);
  }

  /** The `__sk_buff` test_run's ctx_out gives back, when the run was given ctx_in; else undefined. */
  ctxOut(): Uint8Array | undefined {
    if (!this.hasCtx) return undefined;
    const out = new Uint8Array(SK_BUFF_SIZE);
    for (const [o, n] of CTX_OUT) out.set(this.fields.subarray(o, o + n), o);
    // convert_skb_to___skb does not copy gso_size back: ctx_out keeps ctx_in's, whatever
    // bpf_skb_change_tail's skb_gso_reset made of it.
    new DataView(out.buffer).setUint32(SK_BUFF.gsoSize, this.ctxInGsoSize, true);
    return out;
  }

  /** `skb->len`. */
  get len(): number {
    return this.end - this.data;
  }

  /** `skb->protocol`, host order. */
  get protocol(): number {
    return this.view.getUint16(SK_BUFF.protocol, false);
  }

  set protocol(p: number) {
    this.view.setUint16(SK_BUFF.protocol, p, false);
  }

  /** `skb_is_gso`: test_run's skb is GSO when ctx_in gave it a gso_size (its gso_type is 0). */
  private get gso(): boolean {
    return this.view.getUint32(SK_BUFF.gsoSize, true) !== 0;
  }

  /** After the packet moved: the context's `len` and the packet region's bounds. */
  private sync(): void {
    if (this.data < this.dirtyLo) this.dirtyLo = this.data;
    if (this.end > this.dirtyHi) this.dirtyHi = this.end;
    this.view.setUint32(SK_BUFF.len, this.len, true);
    this.memory.setBounds(this.packet, this.data, this.end);
  }

  private swapRegions(): void {
    const [a, b] = this.regions;
    const stale = this.packet;
    this.packet = stale === a ? b : a;
    this.packet.name = "packet";
    stale.name = STALE;
    this.memory.setBounds(stale, 0, 0);
  }

  /**
   * What the verifier's invalidation of packet pointers after a helper that may change the packet
   * (bpf_helper_changes_pkt_data: the resizing ones, skb_store_bytes, l3/l4_csum_replace) means here: the
   * packet moves to the other of two regions over the same bytes and the old one is emptied, so
   * a pointer kept across the call faults, naming why (the kernel refuses such a program at
   * load). A pointer kept across two such calls is valid again: not caught.
   */
  invalidatePointers(): void {
    this.swapRegions();
    this.sync();
  }

  /**
   * skb_cow: makes at least `room` bytes of headroom. The kernel reallocates the head when it
   * must; where the VM's buffer has no room below `data`, the packet moves back to its start
   * position ({@link relocate}).
   */
  private cow(room: number): void {
    if (this.data - room >= 0) return;
    this.relocate();
    if (this.data - room < 0) {
      throw vmFault("helper", `the skb would need ${room} bytes of headroom, more than the VM models`, {
        hint: "a GSO skb (ctx_in gso_size) grown past 16064 bytes by bpf_skb_change_head is not modelled; run it with --backend kernel",
      });
    }
  }

  /**
   * Moves the packet back to where a run starts it, as the kernel's reallocation of the head
   * would give it room, when a program that keeps shrinking and growing it reaches an end of the
   * VM's buffer. Where a packet sits is not visible to the program: packet pointers must be read
   * again after these helpers, and LD_ABS offsets reach only forward from the MAC or network
   * header, never into the headroom.
   */
  private relocate(): void {
    const to = HEAD0 + SKB_HEADROOM;
    this.page.copyWithin(to, this.data, this.end);
    this.end += to - this.data;
    this.data = to;
    this.dirtyLo = Math.min(this.dirtyLo, this.data);
    this.dirtyHi = Math.max(this.dirtyHi, this.end);
  }

  /** `bpf_skb_change_head(skb, head_room, flags)`: zeroed bytes in front of the MAC header. */
  changeHead(headRoom: number, flags: bigint): number {
    const newLen = (this.len + headRoom) >>> 0;
    let r = 0;
    if (flags !== 0n || headRoom > 0x7fffffff || (!this.gso && newLen > SKB_MAX_ALLOC) || newLen < this.len)
      r = EINVAL;
    else {
      this.cow(headRoom);
      this.data -= headRoom;
      this.page.fill(0, this.data, this.data + headRoom);
      // skb_reset_mac_header: the network (and transport) header stay where they were.
      this.netOff += headRoom;
      if (this.transOff !== undefined) this.transOff += headRoom;
    }
    this.invalidatePointers();
    return r;
  }

  /** `bpf_skb_change_tail(skb, new_len, flags)`: trims, or grows with zeros. */
  changeTail(newLen: number, flags: bigint): number {
    // __bpf_skb_min_len: the network header, or the transport header once set, must stay.
    let min = Math.max(this.netOff, 0);
    if (this.transOff !== undefined && this.transOff > 0) min = this.transOff;
    let r = 0;
    if (flags !== 0n || newLen > SKB_MAX_ALLOC || newLen < min) r = EINVAL;
    else if (this.encapsulation) r = ENOTSUPP;
    else {
      if (this.data + newLen > this.page.length) this.relocate();
      const end = this.data + newLen;
      if (end > this.end) this.page.fill(0, this.end, end);
      this.end = end;
      // skb_gso_reset.
      if (this.gso) {
        this.view.setUint32(SK_BUFF.gsoSize, 0, true);
        this.view.setUint32(SK_BUFF.gsoSegs, 0, true);
      }
    }
    this.invalidatePointers();
    return r;
  }

  /**
   * `bpf_skb_pull_data(skb, len)`: a test_run skb is linear and writable, so all it can do is
   * refuse a length past the packet (pskb_may_pull fails: -ENOMEM); 0 means the whole head.
   */
  pullData(len: number): number {
    const r = len > this.len ? ENOMEM : 0;
    this.invalidatePointers();
    return r;
  }

  /** `bpf_skb_adjust_room(skb, len_diff, mode, flags)`. */
  adjustRoom(lenDiff: number, mode: number, flags: bigint): number {
    const r = this.adjustRoomInner(lenDiff, mode, flags);
    this.invalidatePointers();
    return r;
  }

  private adjustRoomInner(lenDiff: number, mode: number, flags: bigint): number {
    const abs = Math.abs(lenDiff);
    const shrink = lenDiff < 0;
    const proto = this.protocol;
    if ((flags & ~ADJ_ROOM_FLAGS) !== 0n) return EINVAL;
    if (abs > 0xfff) return EFAULT;
    if (proto !== ETH_P_IP && proto !== ETH_P_IPV6) return ENOTSUPP;
    const base = proto === ETH_P_IP ? 20 : 40;
    // skb_mac_header_len: the MAC header is at data, so it is the network header's offset.
    const macLen = this.netOff;
    let off = macLen;
    if (mode === AdjRoom.MODE_NET) off += base;
    else if (mode !== AdjRoom.MODE_MAC) return ENOTSUPP;
    let min = base;
    if ((flags & DECAP_L3) !== 0n) {
      if (!shrink) return EINVAL;
      const d = flags & DECAP_L3;
      if (d === AdjRoom.DECAP_L3_IPV4) min = 20;
      else if (d === AdjRoom.DECAP_L3_IPV6) min = 40;
      else return EINVAL;
    }
    const cur = this.len - this.netOff;
    if (shrink ? abs >= cur || cur - abs < min : this.len + abs > SKB_MAX_ALLOC && !this.gso) return ENOTSUPP;
    return shrink ? this.netShrink(off, abs, flags) : this.netGrow(off, abs, macLen, flags);
  }

  /** bpf_skb_net_grow: `len` zeroed bytes at `off`, and the encapsulation flags' bookkeeping. */
  private netGrow(off: number, len: number, macLen: number, flags: bigint): number {
    // A GSO test_run skb has gso_type 0: neither TCP nor UDP_L4.
    if (this.gso) return ENOTSUPP;
    this.cow(len);
    const encap = (flags & ENCAP_L3) !== 0n;
    if (encap) {
      const innerMacLen = Number((flags >> AdjRoom.ENCAP_L2_SHIFT) & AdjRoom.ENCAP_L2_MASK);
      if ((flags & ENCAP_L3) === ENCAP_L3) return EINVAL;
      if ((flags & AdjRoom.ENCAP_L4_GRE) !== 0n && (flags & AdjRoom.ENCAP_L4_UDP) !== 0n) return EINVAL;
      if ((flags & AdjRoom.ENCAP_L2_ETH) !== 0n && innerMacLen < ETH_HLEN) return EINVAL;
      if (this.encapsulation) return EALREADY;
      if (innerMacLen > len) return EINVAL;
    }
    // bpf_skb_generic_push: the first `off` bytes move down, zeros fill the gap. The MAC and
    // network headers move with them; a transport header apart from the network one stays.
    this.data -= len;
    if (this.transOff !== undefined && this.transOff !== this.netOff) this.transOff += len;
    this.page.copyWithin(this.data, this.data + len, this.data + len + off);
    this.page.fill(0, this.data + off, this.data + off + len);
    if (encap) {
      this.encapsulation = true;
      this.netOff = macLen;
      if ((flags & (AdjRoom.ENCAP_L4_GRE | AdjRoom.ENCAP_L4_UDP)) !== 0n)
        this.transOff = macLen + ((flags & AdjRoom.ENCAP_L3_IPV6) !== 0n ? 40 : 20);
      const proto = this.protocol;
      if (proto === ETH_P_IP && (flags & AdjRoom.ENCAP_L3_IPV6) !== 0n) this.protocol = ETH_P_IPV6;
      else if (proto === ETH_P_IPV6 && (flags & AdjRoom.ENCAP_L3_IPV4) !== 0n) this.protocol = ETH_P_IP;
    }
    return 0;
  }

  /** bpf_skb_net_shrink: removes `len` bytes at `off`. */
  private netShrink(off: number, len: number, flags: bigint): number {
    if ((flags & ~SHRINK_FLAGS) !== 0n) return EINVAL;
    if (this.gso) return ENOTSUPP;
    // bpf_skb_generic_pop: the first `off` bytes move up over the removed ones.
    this.page.copyWithin(this.data + len, this.data, this.data + off);
    this.data += len;
    if (this.transOff !== undefined && this.transOff !== this.netOff) this.transOff -= len;
    const proto = this.protocol;
    if (proto === ETH_P_IP && (flags & AdjRoom.DECAP_L3_IPV6) !== 0n) this.protocol = ETH_P_IPV6;
    else if (proto === ETH_P_IPV6 && (flags & AdjRoom.DECAP_L3_IPV4) !== 0n) this.protocol = ETH_P_IP;
    return 0;
  }

  /** `skb->hash` (0 until a helper computes it). */
  get hash(): number {
    return this.view.getUint32(SK_BUFF.hash, true);
  }

  set hash(h: number) {
    this.view.setUint32(SK_BUFF.hash, h >>> 0, true);
  }

  private loadCtx(index: number, size: number): bigint | undefined {
    if (size === 4) {
      if (index === SK_BUFF.data || index === SK_BUFF.dataMeta) return this.packet.address(this.data);
      if (index === SK_BUFF.dataEnd) return this.packet.address(this.end);
      // 16-bit fields of the skb: a store keeps only their low half.
      if (index === SK_BUFF.queueMapping || index === SK_BUFF.tcIndex)
        return BigInt(this.view.getUint16(index, true));
    }
    return undefined;
  }
}

function ctxError(msg: string): UsageError {
  return new UsageError(msg, { hint: `the kernel refuses it with EINVAL (errno ${Errno.EINVAL})` });
}

/**
 * eth_type_trans's `pkt_type` on the loopback device: its address and its broadcast address are
 * both all-zero, so any group address (ff:ff:ff:ff:ff:ff included) is PACKET_MULTICAST.
 */
function pktType(p: Uint8Array): number {
  const d = p.subarray(0, 6);
  if (((d[0] as number) & 1) !== 0) return 2; // PACKET_MULTICAST
  return d.every((b) => b === 0) ? 0 : 3; // PACKET_HOST : PACKET_OTHERHOST
}

/** eth_type_trans's protocol: the EtherType, or 802.3 (raw, 0xffff payload) / 802.2 below 0x600. */
function ethProtocol(p: Uint8Array): number {
  const t = ((p[12] as number) << 8) | (p[13] as number);
  if (t >= 0x600) return t;
  if (p.length >= 16 && p[14] === 0xff && p[15] === 0xff) return 0x0001;
  return 0x0004;
}
