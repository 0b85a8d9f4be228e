import { Errno } from "../../abi/errno.js";
import { PAGE_SIZE } from "../../abi/page-size.js";
import { SK_BUFF_SIZE } from "../../abi/tc.js";
import { UsageError } from "../../errors.js";
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
/** The fields ctx_out gives back (convert_skb_to___skb). */
const CTX_OUT: readonly [number, number][] = [
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

/** One skb in VM memory with its `__sk_buff` context; re-used across runs of tc programs. */
export class SkbBuffer {
  readonly page = new Uint8Array(PAGE_SIZE);
  readonly packet: Region;
  readonly ctx: Region;
  readonly fields = new Uint8Array(SK_BUFF_SIZE);
  private readonly view = new DataView(this.fields.buffer);
  data = SKB_HEADROOM;
  end = SKB_HEADROOM;
  /** Whether the run was given a context (ctx_out is then returned). */
  hasCtx = false;

  constructor(readonly memory: Memory) {
    this.packet = memory.map(this.page, { writable: true, name: "packet", start: 0, end: 0 });
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
    this.page.fill(0);
    this.page.set(input, SKB_HEADROOM);
    this.data = SKB_HEADROOM;
    this.end = SKB_HEADROOM + input.length;
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
    v.setUint32(SK_BUFF.len, input.length, true);
    v.setUint32(SK_BUFF.pktType, pktType(input), true);
    v.setUint16(SK_BUFF.protocol, ethProtocol(input), false);
    this.memory.setBounds(this.packet, this.data, this.end);
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
    return out;
  }

  /** `skb->len`. */
  get len(): number {
    return this.end - this.data;
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
