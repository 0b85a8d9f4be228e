import { Errno, HelperId, TcAction } from "../../abi/index.js";
import type { RedirectTarget } from "../../backend/types.js";
import { vmFault } from "../fault.js";
import type { HelperFn, Interpreter } from "../interpreter.js";
import { LEGACY_LOAD_HELPER } from "./legacy-loads.js";
import type { SkbBuffer } from "./skb-buffer.js";

/**
 * The helpers of tc (`sched_cls`) programs, with the kernel's semantics on a test_run skb
 * (net/core/filter.c, kernel/bpf/helpers.c; each checked against kernel 6.18 by
 * test/kernel/vm-vs-kernel-tc.test.ts). A test_run skb is linear, not cloned, and has
 * `ip_summed == CHECKSUM_NONE`, so the checksum helpers only rewrite the packet's field. The
 * packet-resizing helpers are the buffer's (skb-buffer.ts).
 */
export const SKB_HELPERS: readonly string[] = [
  "skb_store_bytes",
  "l3_csum_replace",
  "l4_csum_replace",
  "skb_load_bytes",
  "get_hash_recalc",
  "strtol",
  "strtoul",
  "probe_read_kernel",
  "skb_change_head",
  "skb_change_tail",
  "skb_pull_data",
  "skb_adjust_room",
];

const EINVAL = -Errno.EINVAL;
const EFAULT = -Errno.EFAULT;
const ERANGE = -Errno.ERANGE;
const INT_MAX = 0x7fffffff;
const BPF_F_RECOMPUTE_CSUM = 1n;
const BPF_F_INVALIDATE_HASH = 2n;
const BPF_F_HDR_FIELD_MASK = 0xfn;
const BPF_F_PSEUDO_HDR = 0x10n;
const BPF_F_MARK_MANGLED_0 = 0x20n;
const BPF_F_MARK_ENFORCE = 0x40n;
const BPF_F_IPV6 = 0x80n;
const BPF_F_INGRESS = 1n;
/** TASK_SIZE_MAX + PAGE_SIZE on x86-64 (4-level paging): below it is user space. */
const USER_HALF_END = 0x0000800000000000n;
const SKF_NET_OFF = -0x100000;
const SKF_LL_OFF = -0x200000;

/** What the tc helpers need from the run: its skb and where a redirect is recorded. */
export interface SkbHelperEnvironment {
  skb(): SkbBuffer | undefined;
  setRedirect(t: RedirectTarget): void;
  /** Seed of the VM's flow hash (the kernel's is random per boot). */
  hashSeed: number;
}

/** Ones'-complement 32-bit addition (end-around carry), as csum_add. */
function csumAdd(a: number, b: number): number {
  const s = (a >>> 0) + (b >>> 0);
  return s > 0xffffffff ? s - 0xffffffff : s;
}
/** csum_fold: folds to 16 bits and complements. */
function csumFold(x: number): number {
  let s = (x & 0xffff) + (x >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
/** csum_replace4 / inet_proto_csum_replace4 on CHECKSUM_NONE: the field's new value. */
function csumReplace(sum: number, from: number, to: number): number {
  return csumFold(csumAdd(csumAdd(~sum & 0xffff, ~from >>> 0), to));
}
/** csum_replace_by_diff. */
function csumReplaceByDiff(sum: number, diff: number): number {
  return csumFold(csumAdd(diff, ~sum & 0xffff));
}

/** The kernel's isspace (lib/ctype.c marks 0xa0 too). */
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0;
function digitOf(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return 99;
}

/** __bpf_strtoull: `[consumed, value, negative]` or a negative errno. */
function strtoull(buf: Uint8Array, flags: bigint): [number, bigint, boolean] | number {
  let base = Number(flags & 0x1fn);
  if (buf.length === 0) return EINVAL;
  if (base !== 0 && base !== 8 && base !== 10 && base !== 16) return EINVAL;
  if ((flags & ~0x1fn) !== 0n) return EINVAL;
  let i = 0;
  while (i < buf.length && isSpace(buf[i] as number)) i++;
  const negative = i < buf.length && buf[i] === 45;
  if (negative) i++;
  const consumed = i;
  if (buf.length - consumed === 0) return EINVAL;
  // The kernel copies at most 63 bytes into a NUL-terminated string.
  const s = new Uint8Array(64);
  s.set(buf.subarray(consumed, consumed + Math.min(buf.length - consumed, 63)));
  let j = 0;
  if (base === 0) {
    if (s[0] === 48)
      base = (s[1] as number | 0) === 120 || s[1] === 88 ? (digitOf(s[2] as number) < 16 ? 16 : 8) : 8;
    else base = 10;
  }
  if (base === 16 && s[0] === 48 && ((s[1] as number) | 0x20) === 120) j = 2;
  let v = 0n;
  let n = 0;
  let overflow = false;
  const b = BigInt(base);
  for (; ; j++, n++) {
    const d = digitOf(s[j] as number);
    if (d >= base) break;
    const nv = v * b + BigInt(d);
    if (nv > 0xffffffffffffffffn) overflow = true;
    v = nv & 0xffffffffffffffffn;
  }
  if (overflow) return ERANGE;
  if (n === 0) return EINVAL;
  return [consumed + j, v, negative];
}

/** A deterministic stand-in for the kernel's flow hash (jhash with a per-boot random seed). */
function flowHash(p: Uint8Array, seed: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (const b of p.subarray(0, Math.min(p.length, 54))) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h === 0 ? 1 : h;
}

/** Adds the tc helpers to a collection's helper table. */
export function addSkbHelpers(table: Map<number, HelperFn>, env: SkbHelperEnvironment): void {
  const skbOf = (vm: Interpreter): SkbBuffer => {
    const s = env.skb();
    if (s === undefined)
      throw vmFault("helper", `the helper called at instruction ${vm.pc} needs an skb (a tc program)`, {
        hint: "the kernel verifier refuses it for this program type",
      });
    return s;
  };

  table.set(HelperId.skb_load_bytes, (vm) => {
    const skb = skbOf(vm);
    const off = vm.argU32(2);
    const len = vm.argU32(4);
    const to = vm.memory.view(vm.arg(3), len, true);
    if (off > INT_MAX || off + len > skb.len) {
      to.fill(0);
      return EFAULT;
    }
    to.set(skb.page.subarray(skb.data + off, skb.data + off + len));
    return 0;
  });
  const storeBytes = (skb: SkbBuffer, vm: Interpreter, off: number, len: number, flags: bigint): number => {
    if ((flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) !== 0n) return EINVAL;
    if (off > INT_MAX || off + len > skb.len) return EFAULT;
    skb.page.set(vm.memory.readBytes(vm.arg(3), len), skb.data + off);
    if ((flags & BPF_F_INVALIDATE_HASH) !== 0n) skb.hash = 0;
    return 0;
  };
  table.set(HelperId.skb_store_bytes, (vm) => {
    const skb = skbOf(vm);
    const off = vm.argU32(2);
    const len = vm.argU32(4);
    const flags = vm.arg(5);
    const r = storeBytes(skb, vm, off, len, flags);
    skb.invalidatePointers();
    return r;
  });
  const field = (skb: SkbBuffer, off: number): number => skb.data + off;
  const get16 = (skb: SkbBuffer, at: number): number =>
    (skb.page[at] as number) | ((skb.page[at + 1] as number) << 8);
  const set16 = (skb: SkbBuffer, at: number, v: number): void => {
    skb.page[at] = v & 0xff;
    skb.page[at + 1] = (v >>> 8) & 0xff;
  };
  // The checksum helpers and skb_store_bytes may change the packet: pointers into it are stale after them.
  const invalidating =
    (fn: (vm: Interpreter) => number) =>
    (vm: Interpreter): number => {
      const r = fn(vm);
      skbOf(vm).invalidatePointers();
      return r;
    };
  table.set(
    HelperId.l3_csum_replace,
    invalidating((vm) => {
      const skb = skbOf(vm);
      const off = vm.argU32(2);
      const from = Number(vm.arg(3) & 0xffffffffn);
      const to = Number(vm.arg(4) & 0xffffffffn);
      const flags = vm.arg(5);
      if ((flags & ~BPF_F_HDR_FIELD_MASK) !== 0n) return EINVAL;
      if (off > 0xffff || off & 1) return EFAULT;
      if (off + 2 > skb.len) return EFAULT;
      const at = field(skb, off);
      const sum = get16(skb, at);
      switch (flags & BPF_F_HDR_FIELD_MASK) {
        case 0n:
          if (from !== 0) return EINVAL;
          set16(skb, at, csumReplaceByDiff(sum, to));
          return 0;
        case 2n:
          set16(skb, at, csumReplace(sum, from & 0xffff, to & 0xffff));
          return 0;
        case 4n:
          set16(skb, at, csumReplace(sum, from, to));
          return 0;
        default:
          return EINVAL;
      }
    }),
  );
  table.set(
    HelperId.l4_csum_replace,
    invalidating((vm) => {
      const skb = skbOf(vm);
      const off = vm.argU32(2);
      const from = Number(vm.arg(3) & 0xffffffffn);
      const to = Number(vm.arg(4) & 0xffffffffn);
      const flags = vm.arg(5);
      const known =
        BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6;
      if ((flags & ~known) !== 0n) return EINVAL;
      if (off > 0xffff || off & 1) return EFAULT;
      if (off + 2 > skb.len) return EFAULT;
      const at = field(skb, off);
      const sum = get16(skb, at);
      const mangled0 = (flags & BPF_F_MARK_MANGLED_0) !== 0n;
      if (mangled0 && (flags & BPF_F_MARK_ENFORCE) === 0n && sum === 0) return 0;
      let next: number;
      switch (flags & BPF_F_HDR_FIELD_MASK) {
        case 0n:
          if (from !== 0) return EINVAL;
          next = csumReplaceByDiff(sum, to);
          break;
        case 2n:
          next = csumReplace(sum, from & 0xffff, to & 0xffff);
          break;
        case 4n:
          next = csumReplace(sum, from, to);
          break;
        default:
          return EINVAL;
      }
      set16(skb, at, mangled0 && next === 0 ? 0xffff : next);
      return 0;
    }),
  );
  table.set(HelperId.get_hash_recalc, (vm) => {
    const skb = skbOf(vm);
    if (skb.hash === 0) skb.hash = flowHash(skb.output(), env.hashSeed);
    return skb.hash;
  });
  const strto = (signed: boolean) => (vm: Interpreter) => {
    const len = Number(vm.arg(2) & 0xffffffffffffffffn);
    const buf = len === 0 ? new Uint8Array(0) : vm.memory.readBytes(vm.arg(1), len);
    const r = strtoull(buf, vm.arg(3));
    if (typeof r === "number") return r;
    const [consumed, v, negative] = r;
    let out: bigint;
    if (signed) {
      if (negative) {
        const n = -v & 0xffffffffffffffffn;
        if (BigInt.asIntN(64, n) > 0n) return ERANGE;
        out = n;
      } else {
        if (BigInt.asIntN(64, v) < 0n) return ERANGE;
        out = v;
      }
    } else {
      if (negative) return EINVAL;
      out = v;
    }
    vm.memory.writeUint(vm.arg(4), 8, out);
    return consumed;
  };
  // The VM's memory is all there is to read. As copy_from_kernel_nofault on x86-64, a user-half
  // address is -ERANGE and any other address outside the VM's memory -EFAULT (an unmapped kernel
  // address), the buffer zeroed either way. The selftests use it to put data on the stack.
  table.set(HelperId.probe_read_kernel, (vm) => {
    const size = vm.argU32(2);
    const dst = vm.memory.view(vm.arg(1), size, true);
    const src = vm.arg(3);
    try {
      dst.set(vm.memory.readBytes(src, size));
      return 0;
    } catch {
      dst.fill(0);
      return src < USER_HALF_END ? ERANGE : EFAULT;
    }
  });
  table.set(HelperId.strtol, strto(true));
  table.set(HelperId.strtoul, strto(false));

  // bpf_skb_load_helper_8/16/32 behind LD_ABS/LD_IND (see legacy-loads.ts): r2 is the offset,
  // an int. Negative offsets are SKF_NET_OFF / SKF_LL_OFF relative: the network header (past
  // the Ethernet one) or the MAC header, anywhere from the buffer's head (the headroom reads as
  // zeros) to its tail.
  for (const width of [1, 2, 4]) {
    table.set(LEGACY_LOAD_HELPER + width, (vm) => {
      const skb = skbOf(vm);
      const k = vm.lo[2] as number;
      let at: number;
      if (k >= 0) {
        if (k > skb.len - width) return EFAULT;
        at = skb.data + k;
      } else if (k >= SKF_NET_OFF) at = skb.data + skb.netOff + (k - SKF_NET_OFF);
      else if (k >= SKF_LL_OFF) at = skb.data + (k - SKF_LL_OFF);
      else return EFAULT;
      if (at < 0 || at + width > skb.end) return EFAULT;
      let v = 0;
      for (let i = 0; i < width; i++) v = v * 256 + (skb.page[at + i] as number);
      return v;
    });
  }

  table.set(HelperId.skb_change_head, (vm) => skbOf(vm).changeHead(vm.argU32(2), vm.arg(3)));
  table.set(HelperId.skb_change_tail, (vm) => skbOf(vm).changeTail(vm.argU32(2), vm.arg(3)));
  table.set(HelperId.skb_pull_data, (vm) => skbOf(vm).pullData(vm.argU32(2)));
  table.set(HelperId.skb_adjust_room, (vm) =>
    skbOf(vm).adjustRoom(vm.lo[2] as number, vm.argU32(3), vm.arg(4)),
  );

  const xdpRedirect = table.get(HelperId.redirect);
  table.set(HelperId.redirect, (vm) => {
    if (env.skb() === undefined) return xdpRedirect?.(vm);
    const flags = vm.arg(2);
    if ((flags & ~BPF_F_INGRESS) !== 0n) return TcAction.SHOT;
    env.setRedirect({ kind: "ifindex", ifindex: vm.argU32(1), flags });
    return TcAction.REDIRECT;
  });
}
