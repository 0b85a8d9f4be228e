/**
 * Converts between the bytes of a BTF-described C value and natural JS values, so map keys,
 * map values and global variables read as objects instead of byte arrays.
 *
 * The mapping, chosen once for the whole project:
 * - integers up to 32 bits → `number`; wider integers (u64, __int128) → `bigint`, because u64 is
 *   a bigint at every tsbpf API edge. A bitfield takes the JS type of its declared base type.
 * - `_Bool` → `boolean`.
 * - `char[N]` (element named `char`, or with the BTF char encoding) → `string`: the UTF-8 text up
 *   to the first NUL. Other byte arrays (`__u8[6]`, `unsigned char[4]`) stay arrays of numbers.
 * - other arrays → JS arrays; structs and unions → plain objects keyed by member name, anonymous
 *   struct/union members flattened into their parent as C does. A union decodes every member.
 * - enums → their numeric value (a `bigint` when 64 bits wide), never the enumerator name: the
 *   value round-trips even when it matches no enumerator (flag sets). Encoding also takes names.
 * - pointers → `bigint`; `float`/`double` → `number`; typedefs and qualifiers are transparent.
 *
 * Encoding is strict: unspecified struct members and array tails are zero, but unknown member
 * names, out-of-range integers and wrong JS types throw a {@link UsageError} whose message starts
 * with the member path (`value.stats.bytes: 18446744073709551616 does not fit u32`). A
 * `Uint8Array` of exactly the type's size is accepted anywhere as the raw bytes.
 *
 * Hostile BTF (cycles, members outside their struct, billions of zero-sized elements) ends in a
 * {@link ParseError}: nesting depth and the number of values produced are both limited.
 */
import { NotSupportedError, ParseError, UsageError, isTsbpfError } from "../errors.js";
import { btfSizeof, btfTypeById, resolveBtfTypeId } from "./type-helpers.js";
import type { Btf, BtfComposite, BtfEnum, BtfEnum64, BtfInt, BtfType } from "./types.js";

/** A decoded C value. Encoding accepts the same shapes (plus enumerator names and raw bytes). */
export type BtfValue = number | bigint | boolean | string | Uint8Array | BtfValue[] | BtfObject;

/** A decoded struct or union: members by name. */
export interface BtfObject {
  [member: string]: BtfValue;
}

/** Bounds that keep hostile BTF from recursing or allocating without end. */
export interface BtfCodecLimits {
  /** Deepest nesting of structs, unions and arrays. */
  maxDepth: number;
  /** Most scalar and aggregate values one call may produce or consume. */
  maxValues: number;
  /** Largest type size, in bytes, one call will convert. */
  maxBytes: number;
}

/** Options of {@link decodeBtfValue} and {@link encodeBtfValue}. */
export interface BtfCodecOptions {
  /** Name of the root in error messages (`key`, `value`, a variable name). Default `value`. */
  path: string;
  limits: Partial<BtfCodecLimits>;
}

/** The limits used when none are given: far beyond any real map value. */
export const DEFAULT_CODEC_LIMITS: Readonly<BtfCodecLimits> = Object.freeze({
  maxDepth: 32,
  maxValues: 1 << 20,
  maxBytes: 1 << 26,
});

const BTF_INT_SIGNED = 1;
const BTF_INT_CHAR = 2;
const BTF_INT_BOOL = 4;

/** Decodes `bytes` (exactly the size of type `typeId`) to a JS value. */
export function decodeBtfValue(
  btf: Btf,
  typeId: number,
  bytes: Uint8Array,
  littleEndian: boolean,
  opts: Partial<BtfCodecOptions> = {},
): BtfValue {
  const c = new Codec(btf, littleEndian, opts);
  const path = opts.path ?? "value";
  const size = c.sizeOf(typeId, path);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== size) {
    const got = bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : typeof bytes;
    throw new UsageError(`${path}: got ${got}, type ${c.label(typeId)} is ${size} bytes`);
  }
  return c.decode(typeId, bytes, 0, path, 0);
}

/** Encodes `value` as type `typeId`; returns exactly the type's size in bytes. */
export function encodeBtfValue(
  btf: Btf,
  typeId: number,
  value: BtfValue,
  littleEndian: boolean,
  opts: Partial<BtfCodecOptions> = {},
): Uint8Array {
  const c = new Codec(btf, littleEndian, opts);
  const path = opts.path ?? "value";
  const out = new Uint8Array(c.sizeOf(typeId, path));
  c.encode(typeId, value, out, 0, path, 0);
  return out;
}

/** Whether type `typeId` decodes to a string (`char[N]`). */
export function isBtfCharArray(btf: Btf, typeId: number): boolean {
  const t = btfTypeById(btf, resolveBtfTypeId(btf, typeId));
  return t.kind === "ARRAY" && isCharType(btf, t.type);
}

function isCharType(btf: Btf, id: number): boolean {
  const t = btfTypeById(btf, resolveBtfTypeId(btf, id));
  return t.kind === "INT" && t.size === 1 && ((t.encoding & BTF_INT_CHAR) !== 0 || t.name === "char");
}

/** A member with its absolute bit position, after anonymous members were looked through. */
interface Slot {
  name: string;
  type: number;
  /** Bit position from the start of the buffer. */
  bitPos: number;
  /** Bitfield width; 0 for a whole member. */
  bits: number;
}

class Codec {
  readonly #btf: Btf;
  readonly #le: boolean;
  readonly #limits: BtfCodecLimits;
  #values = 0;
  readonly #text = new TextDecoder();

  constructor(btf: Btf, littleEndian: boolean, opts: Partial<BtfCodecOptions>) {
    this.#btf = btf;
    this.#le = littleEndian;
    this.#limits = { ...DEFAULT_CODEC_LIMITS, ...opts.limits };
  }

  // ---- type plumbing ----

  /** The resolved type, with BTF errors re-thrown naming the value path. */
  #resolve(id: number, path: string): { id: number; t: BtfType } {
    return this.#wrap(path, () => {
      const rid = resolveBtfTypeId(this.#btf, id);
      return { id: rid, t: btfTypeById(this.#btf, rid) };
    });
  }

  sizeOf(id: number, path: string): number {
    const size = this.#wrap(path, () => btfSizeof(this.#btf, id));
    if (!Number.isSafeInteger(size) || size < 0) throw new ParseError(`${path}: type ${id} has size ${size}`);
    if (size > this.#limits.maxBytes) {
      throw new ParseError(
        `${path}: type ${id} is ${size} bytes, more than the ${this.#limits.maxBytes} converted at once`,
      );
    }
    return size;
  }

  #wrap<T>(path: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isTsbpfError(e) && e.name === "ParseError")
        throw new ParseError(`${path}: ${e.detail}`, { cause: e });
      throw e;
    }
  }

  /** A short C-ish name of a type for messages (`struct flow_key`, `u32`). */
  label(id: number, depth = 0): string {
    if (depth > 8) return "…";
    try {
      const rid = resolveBtfTypeId(this.#btf, id);
      const t = btfTypeById(this.#btf, rid);
      switch (t.kind) {
        case "INT":
          return intLabel(t, t.size * 8);
        case "STRUCT":
        case "UNION":
          return `${t.kind.toLowerCase()} ${t.name || "(anon)"}`;
        case "ENUM":
        case "ENUM64":
          return `enum ${t.name || "(anon)"}`;
        case "ARRAY":
          return `${this.label(t.type, depth + 1)}[${t.nelems}]`;
        case "PTR":
          return "pointer";
        default:
          return t.name || t.kind.toLowerCase();
      }
    } catch {
      return `type ${id}`;
    }
  }

  #enter(path: string, depth: number): void {
    if (depth > this.#limits.maxDepth) {
      throw new ParseError(`${path}: types nest deeper than ${this.#limits.maxDepth} levels`, {
        hint: "the BTF is cyclic or hostile",
      });
    }
    if (++this.#values > this.#limits.maxValues) {
      throw new ParseError(`${path}: more than ${this.#limits.maxValues} values in one conversion`, {
        hint: "the BTF describes an implausibly large value",
      });
    }
  }

  /** Members of a composite with absolute positions, anonymous struct/union members expanded. */
  #slots(t: BtfComposite, baseBit: number, path: string, depth: number, out: Slot[] = []): Slot[] {
    for (const m of t.members) {
      const bitPos = baseBit + m.bitOffset;
      if (m.name === "") {
        const r = this.#resolve(m.type, path);
        if (r.t.kind === "STRUCT" || r.t.kind === "UNION") {
          this.#enter(path, depth + 1);
          this.#checkWithin(r.id, m.bitOffset, 0, t, path);
          this.#slots(r.t, bitPos, path, depth + 1, out);
        }
        // Unnamed non-composite members are padding bitfields: nothing to show or set.
        continue;
      }
      this.#checkWithin(m.type, m.bitOffset, m.bitfieldSize, t, `${path}.${m.name}`);
      out.push({ name: m.name, type: m.type, bitPos, bits: m.bitfieldSize });
    }
    return out;
  }

  /** Hostile BTF may place a member outside its struct; that must not read a neighbour's bytes. */
  #checkWithin(type: number, bitOffset: number, bits: number, parent: BtfComposite, path: string): void {
    const width = bits > 0 ? bits : this.sizeOf(type, path) * 8;
    if (bits === 0 && bitOffset % 8 !== 0) {
      throw new ParseError(`${path}: member at bit ${bitOffset} is not byte-aligned and not a bitfield`);
    }
    if (bitOffset + width > parent.size * 8) {
      throw new ParseError(
        `${path}: member at bit ${bitOffset} (${width} bits) lies outside its ${parent.size}-byte ${parent.kind.toLowerCase()}`,
      );
    }
  }

  // ---- decoding ----

  decode(id: number, b: Uint8Array, off: number, path: string, depth: number): BtfValue {
    this.#enter(path, depth);
    const { id: rid, t } = this.#resolve(id, path);
    switch (t.kind) {
      case "INT":
        checkIntLayout(t, path);
        return this.#decodeInt(t, b, off * 8 + t.bitsOffset, t.bits, path);
      case "ENUM":
      case "ENUM64":
        return this.#decodeEnum(t, b, off * 8, t.size * 8);
      case "PTR":
        return readBits(b, off * 8, 64, this.#le);
      case "FLOAT":
        return this.#decodeFloat(t.size, b, off, path);
      case "ARRAY": {
        if (isCharType(this.#btf, t.type)) {
          const raw = b.subarray(off, off + t.nelems);
          const nul = raw.indexOf(0);
          return this.#text.decode(nul < 0 ? raw : raw.subarray(0, nul));
        }
        const esize = this.sizeOf(t.type, path);
        const out: BtfValue[] = [];
        for (let i = 0; i < t.nelems; i++)
          out.push(this.decode(t.type, b, off + i * esize, `${path}[${i}]`, depth + 1));
        return out;
      }
      case "STRUCT":
      case "UNION": {
        const obj: BtfObject = {};
        for (const s of this.#slots(t, off * 8, path, depth)) {
          const mpath = `${path}.${s.name}`;
          const v =
            s.bits > 0 || s.bitPos % 8 !== 0
              ? this.#decodeBitfield(s, b, mpath, depth + 1)
              : this.decode(s.type, b, s.bitPos / 8, mpath, depth + 1);
          // defineProperty, so a member called `__proto__` stays a member.
          Object.defineProperty(obj, s.name, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return obj;
      }
      case "VAR":
        return this.decode(t.type, b, off, path, depth + 1);
      case "DATASEC": {
        const obj: BtfObject = {};
        for (const v of t.vars) {
          const vt = btfTypeById(this.#btf, v.type);
          const name = vt.name || `var${v.type}`;
          const vpath = `${path}.${name}`;
          if (v.offset + this.sizeOf(v.type, vpath) > t.size) {
            throw new ParseError(`${vpath}: variable lies outside its ${t.size}-byte section`);
          }
          const value = this.decode(v.type, b, off + v.offset, vpath, depth + 1);
          Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
        }
        return obj;
      }
      default:
        throw new NotSupportedError(`${path}: type ${rid} (${t.kind}) has no value to convert`);
    }
  }

  #decodeBitfield(s: Slot, b: Uint8Array, path: string, depth: number): BtfValue {
    this.#enter(path, depth);
    const { t } = this.#resolve(s.type, path);
    if (t.kind === "INT") {
      const bits = s.bits > 0 ? s.bits : t.bits;
      return this.#decodeInt(t, b, s.bitPos + (s.bits > 0 ? 0 : t.bitsOffset), bits, path);
    }
    if (t.kind === "ENUM" || t.kind === "ENUM64")
      return this.#decodeEnum(t, b, s.bitPos, s.bits || t.size * 8);
    throw new ParseError(`${path}: a ${t.kind} cannot be a bitfield`);
  }

  #decodeInt(t: BtfInt, b: Uint8Array, bitPos: number, bits: number, path: string): BtfValue {
    if (bits <= 0 || bits > 128) throw new ParseError(`${path}: integer of ${bits} bits`);
    const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
    const raw = readBits(b, bitPos, bits, this.#le);
    if ((t.encoding & BTF_INT_BOOL) !== 0) return raw !== 0n;
    const v = signed ? BigInt.asIntN(bits, raw) : raw;
    return t.size <= 4 ? Number(v) : v;
  }

  #decodeEnum(t: BtfEnum | BtfEnum64, b: Uint8Array, bitPos: number, bits: number): BtfValue {
    const raw = readBits(b, bitPos, bits, this.#le);
    const v = t.kindFlag ? BigInt.asIntN(bits, raw) : raw;
    return t.size <= 4 ? Number(v) : v;
  }

  #decodeFloat(size: number, b: Uint8Array, off: number, path: string): number {
    const dv = new DataView(b.buffer, b.byteOffset + off, size);
    if (size === 4) return dv.getFloat32(0, this.#le);
    if (size === 8) return dv.getFloat64(0, this.#le);
    throw new NotSupportedError(`${path}: ${size}-byte floating point is not supported`, {
      hint: "read the raw bytes instead",
    });
  }

  // ---- encoding ----

  encode(id: number, v: BtfValue, out: Uint8Array, off: number, path: string, depth: number): void {
    this.#enter(path, depth);
    const { id: rid, t } = this.#resolve(id, path);
    if (v instanceof Uint8Array) {
      const size = this.sizeOf(rid, path);
      const char = t.kind === "ARRAY" && isCharType(this.#btf, t.type);
      if (v.byteLength === size || (char && v.byteLength < size)) {
        out.set(v, off);
        return;
      }
      throw new UsageError(`${path}: ${v.byteLength} bytes given, ${this.label(rid)} is ${size} bytes`);
    }
    switch (t.kind) {
      case "INT":
        checkIntLayout(t, path);
        this.#encodeInt(t, v, out, off * 8 + t.bitsOffset, t.bits, path, false);
        return;
      case "ENUM":
      case "ENUM64":
        this.#encodeEnum(t, v, out, off * 8, t.size * 8, path);
        return;
      case "PTR": {
        const n = toBigInt(v, path, "pointer");
        if (n < 0n || n >= 1n << 64n) throw new UsageError(`${path}: ${v} does not fit a pointer`);
        writeBits(out, off * 8, 64, n, this.#le);
        return;
      }
      case "FLOAT": {
        if (typeof v !== "number")
          throw new UsageError(`${path}: expected a number for ${t.name}, got ${describe(v)}`);
        const dv = new DataView(out.buffer, out.byteOffset + off, t.size);
        if (t.size === 4) dv.setFloat32(0, v, this.#le);
        else if (t.size === 8) dv.setFloat64(0, v, this.#le);
        else throw new NotSupportedError(`${path}: ${t.size}-byte floating point is not supported`);
        return;
      }
      case "ARRAY": {
        if (typeof v === "string" && isCharType(this.#btf, t.type)) {
          const bytes = new TextEncoder().encode(v);
          if (bytes.includes(0)) throw new UsageError(`${path}: the string contains a NUL character`);
          if (bytes.byteLength > t.nelems) {
            throw new UsageError(
              `${path}: "${v}" is ${bytes.byteLength} bytes, char[${t.nelems}] holds ${t.nelems}`,
            );
          }
          out.set(bytes, off);
          return;
        }
        if (!Array.isArray(v)) {
          throw new UsageError(`${path}: expected an array for ${this.label(rid)}, got ${describe(v)}`);
        }
        if (v.length > t.nelems) {
          throw new UsageError(`${path}: ${v.length} elements given, ${this.label(rid)} holds ${t.nelems}`);
        }
        const esize = this.sizeOf(t.type, path);
        v.forEach((e: BtfValue | undefined, i) => {
          if (e !== undefined) this.encode(t.type, e, out, off + i * esize, `${path}[${i}]`, depth + 1);
        });
        return;
      }
      case "STRUCT":
      case "UNION": {
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          throw new UsageError(`${path}: expected an object for ${this.label(rid)}, got ${describe(v)}`);
        }
        const slots = this.#slots(t, off * 8, path, depth);
        const byName = new Map(slots.map((s) => [s.name, s] as const));
        const given: Slot[] = [];
        for (const [name, mv] of Object.entries(v)) {
          if (mv === undefined) continue;
          const s = byName.get(name);
          if (s === undefined) {
            const names = slots.map((x) => x.name);
            throw new UsageError(`${path}: ${this.label(rid)} has no member '${name}'`, {
              hint: names.length ? `members: ${names.slice(0, 20).join(", ")}` : "it has no members",
            });
          }
          given.push(s);
        }
        // Overlapping members (unions) are written smallest first, so the widest wins and a
        // decoded union (which lists every member) re-encodes to the same bytes.
        if (slots.some((_s, i) => i > 0 && overlaps(slots, i))) {
          given.sort((a, b) => this.#rank(a, path) - this.#rank(b, path));
        }
        for (const s of given) {
          const mpath = `${path}.${s.name}`;
          const mv = (v as BtfObject)[s.name] as BtfValue;
          if (s.bits > 0 || s.bitPos % 8 !== 0) this.#encodeBitfield(s, mv, out, mpath, depth + 1);
          else this.encode(s.type, mv, out, s.bitPos / 8, mpath, depth + 1);
        }
        return;
      }
      case "VAR":
        this.encode(t.type, v, out, off, path, depth + 1);
        return;
      case "DATASEC": {
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          throw new UsageError(`${path}: expected an object of variables, got ${describe(v)}`);
        }
        const vars = new Map(t.vars.map((x) => [btfTypeById(this.#btf, x.type).name, x] as const));
        for (const [name, vv] of Object.entries(v)) {
          if (vv === undefined) continue;
          const x = vars.get(name);
          if (x === undefined) throw new UsageError(`${path}: section ${t.name} has no variable '${name}'`);
          const vpath = `${path}.${name}`;
          if (x.offset + this.sizeOf(x.type, vpath) > t.size) {
            throw new ParseError(`${vpath}: variable lies outside its ${t.size}-byte section`);
          }
          this.encode(x.type, vv, out, off + x.offset, vpath, depth + 1);
        }
        return;
      }
      default:
        throw new NotSupportedError(`${path}: type ${rid} (${t.kind}) has no value to convert`);
    }
  }

  /** Write order inside a union: by size, and among equals lossy strings first. */
  #rank(s: Slot, path: string): number {
    const size = s.bits > 0 ? s.bits / 8 : this.sizeOf(s.type, path);
    return size * 2 + (isBtfCharArray(this.#btf, s.type) ? 0 : 1);
  }

  #encodeBitfield(s: Slot, v: BtfValue, out: Uint8Array, path: string, depth: number): void {
    this.#enter(path, depth);
    const { t } = this.#resolve(s.type, path);
    if (t.kind === "INT") {
      const bits = s.bits > 0 ? s.bits : t.bits;
      this.#encodeInt(t, v, out, s.bitPos + (s.bits > 0 ? 0 : t.bitsOffset), bits, path, s.bits > 0);
      return;
    }
    if (t.kind === "ENUM" || t.kind === "ENUM64") {
      this.#encodeEnum(t, v, out, s.bitPos, s.bits || t.size * 8, path);
      return;
    }
    throw new ParseError(`${path}: a ${t.kind} cannot be a bitfield`);
  }

  #encodeInt(
    t: BtfInt,
    v: BtfValue,
    out: Uint8Array,
    bitPos: number,
    bits: number,
    path: string,
    field: boolean,
  ) {
    if (bits <= 0 || bits > 128) throw new ParseError(`${path}: integer of ${bits} bits`);
    const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
    const label = field ? `a ${bits}-bit ${signed ? "signed" : "unsigned"} bitfield` : intLabel(t, bits);
    let n: bigint;
    if (typeof v === "boolean") n = v ? 1n : 0n;
    else n = toBigInt(v, path, label);
    if ((t.encoding & BTF_INT_BOOL) !== 0 && n !== 0n && n !== 1n) {
      throw new UsageError(`${path}: ${v} is not a boolean (true, false, 0 or 1)`);
    }
    const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (n < lo || n > hi) throw new UsageError(`${path}: ${v} does not fit ${label}`);
    writeBits(out, bitPos, bits, BigInt.asUintN(bits, n), this.#le);
  }

  #encodeEnum(
    t: BtfEnum | BtfEnum64,
    v: BtfValue,
    out: Uint8Array,
    bitPos: number,
    bits: number,
    path: string,
  ) {
    let n: bigint;
    if (typeof v === "string") {
      const e = t.values.find((x) => x.name === v);
      if (e === undefined) {
        throw new UsageError(`${path}: enum ${t.name || "(anon)"} has no enumerator '${v}'`, {
          hint: `enumerators: ${t.values
            .slice(0, 20)
            .map((x) => x.name)
            .join(", ")}`,
        });
      }
      n = BigInt(e.value);
    } else {
      n = toBigInt(v, path, `enum ${t.name || "(anon)"}`);
    }
    // Both signed and unsigned spellings are accepted: clang before 15 never marks enums signed.
    if (n < -(1n << BigInt(bits - 1)) || n >= 1n << BigInt(bits)) {
      throw new UsageError(`${path}: ${v} does not fit enum ${t.name || "(anon)"} (${bits} bits)`);
    }
    writeBits(out, bitPos, bits, BigInt.asUintN(bits, n), this.#le);
  }
}

/** An INT's bits must lie inside its own bytes, or it would read its neighbours. */
function checkIntLayout(t: BtfInt, path: string): void {
  if (t.bits <= 0 || t.bitsOffset + t.bits > t.size * 8) {
    throw new ParseError(
      `${path}: int ${t.name} has ${t.bits} bits at offset ${t.bitsOffset} in ${t.size} bytes`,
    );
  }
}

function overlaps(slots: Slot[], i: number): boolean {
  const s = slots[i] as Slot;
  const prev = slots[i - 1] as Slot;
  return s.bitPos < prev.bitPos + Math.max(prev.bits, 1);
}

function intLabel(t: BtfInt, bits: number): string {
  if ((t.encoding & BTF_INT_BOOL) !== 0) return "bool";
  return `${(t.encoding & BTF_INT_SIGNED) !== 0 ? "s" : "u"}${bits}`;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function toBigInt(v: BtfValue, path: string, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new UsageError(`${path}: ${v} is not an integer (${what})`);
    if (!Number.isSafeInteger(v)) {
      throw new UsageError(`${path}: ${v} is beyond 2^53 and lost precision`, { hint: "pass a bigint" });
    }
    return BigInt(v);
  }
  throw new UsageError(`${path}: expected an integer for ${what}, got ${describe(v)}`);
}

/**
 * Reads `bits` bits starting at bit `bitPos` as an unsigned integer. Little-endian bit numbering
 * starts at a byte's least significant bit; big-endian at its most significant, as clang lays
 * out bitfields for each byte order.
 */
function readBits(b: Uint8Array, bitPos: number, bits: number, le: boolean): bigint {
  const first = bitPos >> 3;
  const shiftIn = bitPos & 7;
  const nbytes = (shiftIn + bits + 7) >> 3;
  if (first < 0 || first + nbytes > b.byteLength) {
    throw new ParseError(`bits ${bitPos}..${bitPos + bits} lie outside the ${b.byteLength}-byte value`);
  }
  if (shiftIn === 0 && (bits === 8 || bits === 16 || bits === 32 || bits === 64)) {
    const dv = new DataView(b.buffer, b.byteOffset + first, nbytes);
    if (bits === 8) return BigInt(dv.getUint8(0));
    if (bits === 16) return BigInt(dv.getUint16(0, le));
    if (bits === 32) return BigInt(dv.getUint32(0, le));
    return dv.getBigUint64(0, le);
  }
  let acc = 0n;
  for (let i = 0; i < nbytes; i++) {
    const byte = BigInt(b[first + (le ? nbytes - 1 - i : i)] as number);
    acc = (acc << 8n) | byte;
  }
  const shift = le ? shiftIn : nbytes * 8 - shiftIn - bits;
  return (acc >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
}

/** Writes the low `bits` bits of `v` at bit `bitPos`, keeping the neighbouring bits. */
function writeBits(b: Uint8Array, bitPos: number, bits: number, v: bigint, le: boolean): void {
  const first = bitPos >> 3;
  const shiftIn = bitPos & 7;
  const nbytes = (shiftIn + bits + 7) >> 3;
  if (first < 0 || first + nbytes > b.byteLength) {
    throw new ParseError(`bits ${bitPos}..${bitPos + bits} lie outside the ${b.byteLength}-byte value`);
  }
  let acc = 0n;
  for (let i = 0; i < nbytes; i++) acc = (acc << 8n) | BigInt(b[first + (le ? nbytes - 1 - i : i)] as number);
  const shift = BigInt(le ? shiftIn : nbytes * 8 - shiftIn - bits);
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  acc = (acc & ~mask) | ((v << shift) & mask);
  for (let i = nbytes - 1; i >= 0; i--) {
    b[first + (le ? nbytes - 1 - i : i)] = Number(acc & 0xffn);
    acc >>= 8n;
  }
}
