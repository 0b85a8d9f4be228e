import { NotSupportedError } from "../errors.js";
import { asciiText } from "../internal/bytes.js";
import { BTF_MAGIC } from "./parse-btf.js";
import { type Btf, BtfKind, type BtfType } from "./types.js";

const HEADER_LEN = 24;
const encoder = new TextEncoder();

/** Builds a string section that starts with `base`, appending strings it lacks. */
class StringTable {
  /** Offsets of the strings looked up so far (and of those appended). */
  private readonly index = new Map<string, number>();
  private readonly extra: Uint8Array[] = [];
  private length: number;
  /**
   * `base` as text when it is plain ASCII (what clang writes): a string is then looked up with
   * one native search of the text, not by first indexing every string of the section, which
   * cold code (every load's first) pays string by string.
   */
  private readonly text: string | null;
  constructor(private readonly base: Uint8Array) {
    this.text = asciiText(base);
    if (this.text === null) {
      const decoder = new TextDecoder();
      let start = 0;
      for (let i = 0; i < base.length; i++) {
        if (base[i] !== 0) continue;
        const s = decoder.decode(base.subarray(start, i));
        if (!this.index.has(s)) this.index.set(s, start);
        start = i + 1;
      }
    }
    this.length = base.length;
    if (base.length === 0) this.add("");
  }
  /** Offset of the first whole NUL-terminated string `s` of an ASCII base, or -1. */
  private inBase(s: string): number {
    const t = this.text;
    if (t === null || s.includes("\0")) return -1;
    if (t.startsWith(s) && t.charCodeAt(s.length) === 0) return 0;
    const at = t.indexOf(`\0${s}\0`);
    return at < 0 ? -1 : at + 1;
  }
  add(s: string): number {
    const known = this.index.get(s);
    if (known !== undefined) return known;
    const found = this.inBase(s);
    if (found >= 0) {
      this.index.set(s, found);
      return found;
    }
    const off = this.length;
    const b = encoder.encode(s);
    const withNul = new Uint8Array(b.length + 1);
    withNul.set(b);
    this.extra.push(withNul);
    this.length += withNul.length;
    this.index.set(s, off);
    return off;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    out.set(this.base);
    let o = this.base.length;
    for (const e of this.extra) {
      out.set(e, o);
      o += e.length;
    }
    return out;
  }
}

/** Size in bytes of a record's encoding. */
function recordSize(t: BtfType): number {
  switch (t.kind) {
    case "VOID":
      return 0;
    case "INT":
    case "VAR":
    case "DECL_TAG":
      return 16;
    case "ARRAY":
      return 24;
    case "STRUCT":
    case "UNION":
      return 12 + 12 * t.members.length;
    case "ENUM":
      return 12 + 8 * t.values.length;
    case "ENUM64":
      return 12 + 12 * t.values.length;
    case "FUNC_PROTO":
      return 12 + 8 * t.params.length;
    case "DATASEC":
      return 12 + 12 * t.vars.length;
    default:
      return 12;
  }
}

/**
 * Encodes `btf` as the bytes `BPF_BTF_LOAD` takes (header, types, strings) in `btf`'s byte order.
 * The original string section is kept as a prefix so existing string offsets stay valid.
 */
export function marshalBtf(btf: Btf): Uint8Array {
  const strs = new StringTable(btf.strings);
  const le = btf.littleEndian;
  let typeLen = 0;
  for (let i = 1; i < btf.types.length; i++) typeLen += recordSize(btf.types[i] as BtfType);
  const typeBuf = new Uint8Array(typeLen);
  const v = new DataView(typeBuf.buffer);
  let o = 0;
  const u32 = (x: number) => {
    v.setUint32(o, x >>> 0, le);
    o += 4;
  };
  const head = (t: BtfType, kind: number, vlen: number, sizeOrType: number) => {
    if (vlen > 0xffff)
      throw new NotSupportedError(`BTF ${t.kind} '${t.name}' has ${vlen} entries (max 65535)`);
    u32(strs.add(t.name));
    u32(((t.kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen);
    u32(sizeOrType);
  };
  for (let i = 1; i < btf.types.length; i++) {
    const t = btf.types[i] as BtfType;
    switch (t.kind) {
      case "VOID":
        throw new NotSupportedError(`BTF type ${i} is VOID; only id 0 may be void`);
      case "INT":
        head(t, BtfKind.INT, 0, t.size);
        u32(((t.encoding & 0xf) << 24) | ((t.bitsOffset & 0xff) << 16) | (t.bits & 0xff));
        break;
      case "PTR":
      case "TYPEDEF":
      case "VOLATILE":
      case "CONST":
      case "RESTRICT":
      case "TYPE_TAG":
        head(t, BtfKind[t.kind], 0, t.type);
        break;
      case "ARRAY":
        head(t, BtfKind.ARRAY, 0, 0);
        u32(t.type);
        u32(t.indexType);
        u32(t.nelems);
        break;
      case "STRUCT":
      case "UNION":
        head(t, BtfKind[t.kind], t.members.length, t.size);
        for (const m of t.members) {
          u32(strs.add(m.name));
          u32(m.type);
          u32(t.kindFlag ? ((m.bitfieldSize & 0xff) << 24) | (m.bitOffset & 0xffffff) : m.bitOffset);
        }
        break;
      case "ENUM":
        head(t, BtfKind.ENUM, t.values.length, t.size);
        for (const e of t.values) {
          u32(strs.add(e.name));
          u32(e.value);
        }
        break;
      case "ENUM64":
        head(t, BtfKind.ENUM64, t.values.length, t.size);
        for (const e of t.values) {
          const x = BigInt.asUintN(64, e.value);
          u32(strs.add(e.name));
          u32(Number(x & 0xffffffffn));
          u32(Number(x >> 32n));
        }
        break;
      case "FWD":
        head(t, BtfKind.FWD, 0, 0);
        break;
      case "FUNC":
        head(t, BtfKind.FUNC, t.linkage, t.type);
        break;
      case "FUNC_PROTO":
        head(t, BtfKind.FUNC_PROTO, t.params.length, t.returnType);
        for (const p of t.params) {
          u32(strs.add(p.name));
          u32(p.type);
        }
        break;
      case "VAR":
        head(t, BtfKind.VAR, 0, t.type);
        u32(t.linkage);
        break;
      case "DATASEC":
        head(t, BtfKind.DATASEC, t.vars.length, t.size);
        for (const s of t.vars) {
          u32(s.type);
          u32(s.offset);
          u32(s.size);
        }
        break;
      case "FLOAT":
        head(t, BtfKind.FLOAT, 0, t.size);
        break;
      case "DECL_TAG":
        head(t, BtfKind.DECL_TAG, 0, t.type);
        u32(t.componentIdx);
        break;
    }
  }
  const strBytes = strs.bytes();
  const out = new Uint8Array(HEADER_LEN + typeLen + strBytes.length);
  const hv = new DataView(out.buffer);
  hv.setUint16(0, BTF_MAGIC, le);
  hv.setUint8(2, 1);
  hv.setUint8(3, 0);
  hv.setUint32(4, HEADER_LEN, le);
  hv.setUint32(8, 0, le);
  hv.setUint32(12, typeLen, le);
  hv.setUint32(16, typeLen, le);
  hv.setUint32(20, strBytes.length, le);
  out.set(typeBuf, HEADER_LEN);
  out.set(strBytes, HEADER_LEN + typeLen);
  return out;
}
