/**
 * bpf_trace_printk / bpf_trace_vprintk formatting, byte for byte as Linux writes it to the trace
 * buffer. The kernel does it in two passes: bpf_bprintf_prepare() validates the format and copies
 * strings and IP addresses into a 512-byte argument buffer, then bstr_printf() renders at most
 * 1023 bytes. The trace event copies the result with strlen(), so a `%c` of 0 ends the message.
 * Both passes are modelled here, including their limits, so the VM returns the kernel's errno.
 *
 * What the VM cannot know, and prints instead:
 * - `%p` and `%pK` (kptr_restrict=0) print a siphash of the address; the VM prints
 *   {@link PrintkOptions.hashPointer}(address) (default: the address itself, as with the kernel's
 *   `no_hash_pointers`). NULL and error pointers are printed as-is, exactly like the kernel.
 * - `%ps %pS %pB` print a kallsyms symbol; the VM asks {@link PrintkOptions.symbolize} and otherwise
 *   prints `0x<hex>`, which is what the kernel prints for an address that is not a symbol.
 */
import { Errno } from "../abi/errno.js";

/** Memory the formatter may read for `%s`, `%pks`, `%pus`, `%pI4`, `%pI6`. */
export interface PrintkMemory {
  /**
   * The bytes of the NUL-terminated string at `addr`, without the NUL, reading at most `max` bytes;
   * `undefined` when the address (or any byte before the NUL) is unreadable.
   */
  readString(addr: bigint, max: number): Uint8Array | undefined;
  /** Exactly `len` bytes at `addr`, or `undefined` when any of them is unreadable. */
  readBytes(addr: bigint, len: number): Uint8Array | undefined;
}

/** Knobs for what the kernel prints from state the VM does not have. */
export interface PrintkOptions {
  /** What `%p`/`%pK` print for a non-NULL, non-error pointer (the kernel prints a hash). */
  hashPointer?: (addr: bigint) => bigint;
  /** The symbol text for `%ps` (`mode` "s"), `%pS` ("S") and `%pB` ("B"), or undefined for `0x<hex>`. */
  symbolize?: (addr: bigint, mode: "s" | "S" | "B") => string | undefined;
}

/** The outcome of one printk call: the message bytes written to the trace buffer, or the errno. */
export type PrintkResult =
  | {
      ok: true;
      /** The message as the trace buffer holds it (UTF-8 decoded; see `bytes` for the raw form). */
      text: string;
      /** The raw message bytes, at most 1023, cut at the first NUL. */
      bytes: Uint8Array;
      /** The helper's return value: the untruncated length bstr_printf computed. */
      ret: number;
    }
  | { ok: false; errno: number; reason: string };

/** Most u64 arguments bpf_trace_vprintk accepts (MAX_BPRINTF_VARARGS). */
export const TRACE_VPRINTK_MAX_ARGS = 12;
/** Size of the kernel's output buffer (MAX_BPRINTF_BUF); the message holds at most one byte less. */
export const PRINTK_BUF_SIZE = 1024;
const BIN_ARGS_SIZE = 512;
const M64 = (1n << 64n) - 1n;

type Arg =
  | { kind: "int"; size: 4 | 8; value: bigint }
  | { kind: "ptr"; value: bigint }
  | { kind: "str"; bytes: Uint8Array }
  | { kind: "char"; value: number };

const isAscii = (c: number): boolean => c < 0x80;
const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isPrint = (c: number): boolean => c >= 0x20 && c < 0x7f;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isAlpha(c) || isDigit(c);
const isPunct = (c: number): boolean => isPrint(c) && !isAlnum(c) && c !== 0x20;
const ch = (s: string): number => s.charCodeAt(0);

function toFormatBytes(fmt: Uint8Array | string): Uint8Array {
  if (typeof fmt !== "string") return fmt;
  const b = new TextEncoder().encode(fmt);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/**
 * Formats like bpf_trace_printk (pass exactly 3 args: r3..r5) or bpf_trace_vprintk (pass the
 * data array, at most 12). `fmt` as bytes is the helper's (fmt, fmt_size) memory and must contain a
 * NUL; as a string it is taken as NUL-terminated.
 */
export function formatTracePrintk(
  fmt: Uint8Array | string,
  args: readonly bigint[],
  mem: PrintkMemory,
  opts: PrintkOptions = {},
): PrintkResult {
  const fb = toFormatBytes(fmt);
  const nul = fb.indexOf(0);
  if (nul < 0) return fail(Errno.EINVAL, "format string is not NUL-terminated within its size");
  if (args.length > TRACE_VPRINTK_MAX_ARGS) {
    return fail(Errno.EINVAL, `${args.length} arguments; at most ${TRACE_VPRINTK_MAX_ARGS}`);
  }
  const f = fb.subarray(0, nul + 1); // keeps the NUL so f[i + 1] is always defined, like the kernel
  const at = (i: number): number => f[i] ?? 0;
  const prepared = prepare(nul, args, mem, at);
  if (!prepared.ok) return prepared;
  return render(prepared.args, opts, at);
}

function fail(errno: number, reason: string): { ok: false; errno: number; reason: string } {
  return { ok: false, errno, reason };
}

/** Pass 1, after bpf_bprintf_prepare(): validate, count, and capture argument values. */
function prepare(
  size: number,
  raw: readonly bigint[],
  mem: PrintkMemory,
  at: (i: number) => number,
): { ok: true; args: Arg[] } | { ok: false; errno: number; reason: string } {
  const out: Arg[] = [];
  let used = 0; // bytes of the 512-byte bin_args buffer consumed (it may overshoot, as in the kernel)
  let spec = 0;
  const num = raw.length;
  const argAt = (k: number): bigint => BigInt.asUintN(64, raw[k] ?? 0n);
  for (let i = 0; i < size; i++) {
    const c = at(i);
    if ((!isPrint(c) && !isSpace(c)) || !isAscii(c)) {
      return fail(Errno.EINVAL, `byte 0x${c.toString(16)} at offset ${i} is not printable ASCII`);
    }
    if (c !== ch("%")) continue;
    if (at(i + 1) === ch("%")) {
      i++;
      continue;
    }
    if (spec >= num) return fail(Errno.EINVAL, `more conversions than the ${num} arguments (offset ${i})`);
    const start = i;
    i++;
    while (at(i) === ch("0") || at(i) === ch("+") || at(i) === ch("-") || at(i) === ch(" ")) i++;
    if (at(i) >= ch("1") && at(i) <= ch("9")) {
      i++;
      while (isDigit(at(i))) i++;
    }
    const conv = at(i);
    let strKind = false;
    if (conv === ch("p")) {
      const n1 = at(i + 1);
      const n2 = at(i + 2);
      if ((n1 === ch("k") || n1 === ch("u")) && n2 === ch("s")) {
        i += 2;
        strKind = true;
      } else if (
        n1 === 0 ||
        isSpace(n1) ||
        isPunct(n1) ||
        n1 === ch("K") ||
        n1 === ch("x") ||
        n1 === ch("s") ||
        n1 === ch("S")
      ) {
        // The kernel skips the character after %p here, even when it is punctuation.
        used = align4(used);
        if (BIN_ARGS_SIZE - used < 8) return fail(Errno.ENOSPC, "argument buffer full");
        used += 8;
        out.push({ kind: "ptr", value: argAt(spec) });
        i++;
        spec++;
        continue;
      } else if (n1 === ch("B")) {
        out.push({ kind: "ptr", value: argAt(spec) });
        i++;
        spec++;
        continue;
      } else {
        if ((n1 !== ch("i") && n1 !== ch("I")) || (n2 !== ch("4") && n2 !== ch("6"))) {
          return fail(Errno.EINVAL, `unsupported %p extension at offset ${start}`);
        }
        i += 2;
        const len = n2 === ch("4") ? 4 : 16;
        if (BIN_ARGS_SIZE - used < len) return fail(Errno.ENOSPC, "argument buffer full");
        const bytes = mem.readBytes(argAt(spec), len) ?? new Uint8Array(len);
        const text = formatIp(bytes.length === len ? bytes : new Uint8Array(len), n1 === ch("I"));
        used += text.length + 1;
        out.push({ kind: "str", bytes: ascii(text) });
        spec++;
        continue;
      }
    } else if (conv === ch("s")) {
      strKind = true;
    }
    if (strKind) {
      const next = at(i + 1);
      if (next !== 0 && !isSpace(next) && !isPunct(next)) {
        return fail(Errno.EINVAL, `%s must be followed by a space, punctuation or the end (offset ${start})`);
      }
      if (used >= BIN_ARGS_SIZE) return fail(Errno.ENOSPC, "argument buffer full");
      const room = BIN_ARGS_SIZE - used;
      let s = mem.readString(argAt(spec), room);
      if (s === undefined) s = new Uint8Array(0);
      else if (s.length >= room) s = s.subarray(0, room - 1);
      else {
        const z = s.indexOf(0);
        if (z >= 0) s = s.subarray(0, z);
      }
      used += s.length + 1;
      out.push({ kind: "str", bytes: s });
      spec++;
      continue;
    }
    if (conv === ch("c")) {
      if (used >= BIN_ARGS_SIZE) return fail(Errno.ENOSPC, "argument buffer full");
      used++;
      out.push({ kind: "char", value: Number(argAt(spec) & 0xffn) });
      spec++;
      continue;
    }
    let sz: 4 | 8 = 4;
    if (at(i) === ch("l")) {
      sz = 8;
      i++;
    }
    if (at(i) === ch("l")) i++;
    const t = at(i);
    if (t !== ch("i") && t !== ch("d") && t !== ch("u") && t !== ch("x") && t !== ch("X")) {
      return fail(Errno.EINVAL, `unsupported conversion at offset ${start}`);
    }
    used = align4(used);
    if (BIN_ARGS_SIZE - used < sz) return fail(Errno.ENOSPC, "argument buffer full");
    used += sz;
    out.push({ kind: "int", size: sz, value: argAt(spec) });
    spec++;
  }
  return { ok: true, args: out };
}

const align4 = (n: number): number => (n + 3) & ~3;

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function formatIp(b: Uint8Array, upper: boolean): string {
  if (b.length === 4) {
    const parts = Array.from(b, (x) => (upper ? String(x) : String(x).padStart(3, "0")));
    return parts.join(".");
  }
  const groups: string[] = [];
  for (let k = 0; k < 16; k += 2) groups.push(toHex2(b[k] ?? 0) + toHex2(b[k + 1] ?? 0));
  return groups.join(upper ? ":" : "");
}
const toHex2 = (x: number): string => x.toString(16).padStart(2, "0");

interface Spec {
  left: boolean;
  plus: boolean;
  space: boolean;
  zero: boolean;
  width: number;
}

/** Pass 2, after bstr_printf(): render into at most 1023 bytes. */
function render(args: Arg[], opts: PrintkOptions, at: (i: number) => number): PrintkResult {
  const out: number[] = [];
  const put = (b: ArrayLike<number>): void => {
    for (let k = 0; k < b.length; k++) out.push(b[k] as number);
  };
  let ai = 0;
  // An argument bstr_printf reads but pass 1 never stored (see the %p skip above) is zero here.
  const next = (): Arg | undefined => args[ai++];
  let i = 0;
  while (at(i) !== 0) {
    const c = at(i);
    if (c !== ch("%")) {
      out.push(c);
      i++;
      continue;
    }
    if (at(i + 1) === ch("%")) {
      out.push(c);
      i += 2;
      continue;
    }
    i++;
    const spec: Spec = { left: false, plus: false, space: false, zero: false, width: -1 };
    for (;;) {
      const fl = at(i);
      if (fl === ch("-")) spec.left = true;
      else if (fl === ch("+")) spec.plus = true;
      else if (fl === ch(" ")) spec.space = true;
      else if (fl === ch("0")) spec.zero = true;
      else break;
      i++;
    }
    if (isDigit(at(i))) {
      let w = 0;
      while (isDigit(at(i))) {
        w = Math.min(w * 10 + (at(i) - 0x30), 1 << 23);
        i++;
      }
      spec.width = w;
    }
    const conv = at(i);
    if (conv === ch("c")) {
      const a = next();
      const v = a?.kind === "char" ? a.value : 0;
      const pad = Math.max(0, spec.width - 1);
      if (!spec.left) put(spaces(pad));
      out.push(v);
      if (spec.left) put(spaces(pad));
      i++;
      continue;
    }
    if (conv === ch("s")) {
      const a = next();
      widen(put, a?.kind === "str" ? a.bytes : new Uint8Array(0), spec);
      i++;
      continue;
    }
    if (conv === ch("p")) {
      const ext = at(i + 1);
      const a = next();
      if (isAlnum(ext) && ext !== ch("S") && ext !== ch("s") && ext !== ch("x") && ext !== ch("K")) {
        if (ext === ch("B")) {
          const v = a?.kind === "ptr" ? a.value : 0n;
          put(ascii(opts.symbolize?.(v, "B") ?? `0x${v.toString(16)}`));
        } else if (a?.kind === "str") put(a.bytes);
      } else {
        const v = a?.kind === "ptr" ? a.value : 0n;
        put(ascii(pointer(ext, v, spec, opts)));
      }
      i++;
      while (isAlnum(at(i))) i++;
      continue;
    }
    let sz = 4;
    if (at(i) === ch("l")) {
      sz = 8;
      i++;
    }
    if (at(i) === ch("l")) i++;
    const t = at(i);
    i++;
    const a = next();
    let v = a?.kind === "int" ? a.value : 0n;
    const signed = t === ch("d") || t === ch("i");
    v =
      sz === 4 ? (signed ? BigInt.asIntN(32, v) : BigInt.asUintN(32, v)) : signed ? BigInt.asIntN(64, v) : v;
    const base = t === ch("x") || t === ch("X") ? 16 : 10;
    put(ascii(number(v, base, t === ch("X"), signed, spec)));
  }
  const ret = out.length;
  let bytes = Uint8Array.from(out.slice(0, PRINTK_BUF_SIZE - 1));
  const z = bytes.indexOf(0);
  if (z >= 0) bytes = bytes.subarray(0, z);
  return { ok: true, text: new TextDecoder().decode(bytes), bytes, ret };
}

const spaces = (n: number): number[] => new Array<number>(Math.max(0, n)).fill(0x20);

function widen(put: (b: ArrayLike<number>) => void, s: Uint8Array, spec: Spec): void {
  const pad = Math.max(0, spec.width - s.length);
  if (!spec.left) put(spaces(pad));
  put(s);
  if (spec.left) put(spaces(pad));
}

/** The kernel's number(): sign, zero padding after the sign, and `-` overriding `0`. */
function number(v: bigint, base: number, upper: boolean, signed: boolean, spec: Spec): string {
  let sign = "";
  if (signed) {
    if (v < 0n) {
      sign = "-";
      v = -v;
    } else if (spec.plus) sign = "+";
    else if (spec.space) sign = " ";
  }
  let digits = v.toString(base);
  if (upper) digits = digits.toUpperCase();
  const pad = Math.max(0, spec.width - sign.length - digits.length);
  if (spec.left) return sign + digits + " ".repeat(pad);
  if (spec.zero) return sign + "0".repeat(pad) + digits;
  return " ".repeat(pad) + sign + digits;
}

/** The kernel's pointer() for the forms bstr_printf renders itself: plain, K, x, s, S. */
function pointer(ext: number, v: bigint, spec: Spec, opts: PrintkOptions): string {
  v &= M64;
  if (ext === ch("s") || ext === ch("S")) {
    return opts.symbolize?.(v, ext === ch("s") ? "s" : "S") ?? `0x${v.toString(16)}`;
  }
  const isErrOrNull = v === 0n || v >= M64 - 4094n;
  let shown = v;
  if (ext !== ch("x") && !isErrOrNull) shown = BigInt.asUintN(64, (opts.hashPointer ?? ((p) => p))(v));
  // pointer_string(): 16 zero-padded hex digits unless a width was given.
  const s: Spec = spec.width === -1 ? { ...spec, width: 16, zero: true } : spec;
  return number(shown, 16, false, false, s);
}
