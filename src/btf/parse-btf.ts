import { type ErrorContext, ParseError } from "../errors.js";
import { StringTable } from "../internal/string-table.js";
import { ByteReader } from "../internal/bytes.js";
import { type Btf, BtfKind, type BtfKindName, type BtfType } from "./types.js";

/** `BTF_MAGIC` as a u16 in the file's byte order. */
export const BTF_MAGIC = 0xeb9f;
const HEADER_MIN = 24;
const KIND_NAMES: readonly (BtfKindName | undefined)[] = (() => {
  const a: (BtfKindName | undefined)[] = [];
  for (const [k, v] of Object.entries(BtfKind)) if (k !== "UNKNOWN") a[v] = k as BtfKindName;
  return a;
})();

/** Options of {@link parseBtf}. */
export interface ParseBtfOptions {
  /** File name for error messages. */
  file?: string;
  /** Byte order of the containing object; when omitted it is taken from the magic. */
  littleEndian?: boolean;
}

/** Reads a string from a BTF string section; offset 0 is the empty name. */
export function btfString(strings: ByteReader, off: number, what: string): string {
  if (off === 0) return "";
  if (off >= strings.length) {
    throw new ParseError(
      `${what}: string offset ${off} is outside the string section (${strings.length} bytes)`,
      {
        ...strings.context,
      },
    );
  }
  return strings.cstring(off, what);
}

/** Reads the BTF header, returning the type and string areas as separate slices. */
function readHeader(bytes: Uint8Array, littleEndian: boolean, ctx: ErrorContext) {
  const r = new ByteReader(bytes, littleEndian, ctx);
  r.check(0, HEADER_MIN, "BTF header");
  const magic = r.u16(0);
  if (magic !== BTF_MAGIC)
    throw new ParseError(`bad BTF magic 0x${magic.toString(16)}`, { ...ctx, offset: 0 });
  const version = r.u8(2);
  if (version !== 1) throw new ParseError(`unsupported BTF version ${version}`, { ...ctx, offset: 2 });
  const hdrLen = r.u32(4);
  if (hdrLen < HEADER_MIN)
    throw new ParseError(`BTF header length ${hdrLen} is too small`, { ...ctx, offset: 4 });
  r.check(0, hdrLen, "BTF header");
  const typeOff = r.u32(8);
  const typeLen = r.u32(12);
  const strOff = r.u32(16);
  const strLen = r.u32(20);
  const types = r.slice(hdrLen + typeOff, typeLen, "BTF type section");
  const strings = r.slice(hdrLen + strOff, strLen, "BTF string section");
  if (strLen > 0 && strings[0] !== 0) {
    throw new ParseError("BTF string section does not start with an empty string", {
      ...ctx,
      offset: hdrLen + strOff,
    });
  }
  if (strLen > 0 && strings[strLen - 1] !== 0) {
    throw new ParseError("BTF string section is not NUL-terminated", {
      ...ctx,
      offset: hdrLen + strOff + strLen - 1,
    });
  }
  return { types, strings, typesBase: hdrLen + typeOff, stringsBase: hdrLen + strOff };
}

/**
 * Parses a `.BTF` section. Each record is checked against the type area's bounds and every name
 * against the string area, so corrupt BTF fails with a {@link ParseError} rather than garbage.
 */
export function parseBtf(bytes: Uint8Array, opts: ParseBtfOptions = {}): Btf {
  const ctx: ErrorContext = { section: ".BTF", ...(opts.file === undefined ? {} : { file: opts.file }) };
  let le = opts.littleEndian;
  if (le === undefined) le = bytes.byteLength >= 2 && bytes[0] === 0x9f && bytes[1] === 0xeb;
  const { types: tbytes, strings, typesBase, stringsBase } = readHeader(bytes, le, ctx);
  const r = new ByteReader(tbytes, le, ctx, typesBase);
  const sr = new ByteReader(strings, le, ctx, stringsBase);
  const table = new StringTable(strings, ctx, stringsBase);
  // btfString's checks, with the strings read through one decoded table.
  const str = (off: number, what: string) =>
    off === 0 ? "" : off >= strings.length ? btfString(sr, off, what) : table.at(off, what);

  // Records are read straight from the view once their bounds are checked, and the texts that
  // name a record in errors are only built when one is raised: no string per record or member
  // on the path every load takes (where Node runs cold). A record that runs past the end takes
  // the checked reads, which raise the same errors.
  const v = r.view;
  const len = tbytes.byteLength;
  const u32 = (off: number) => v.getUint32(off, le);
  // The texts naming a record are built only when the fast read fails (and str may raise).
  const fast = (off: number) => (off < strings.length ? table.tryAt(off) : undefined);
  const nameOf = (off: number, id: number) => (off === 0 ? "" : (fast(off) ?? str(off, `type ${id} name`)));
  const memberName = (off: number, id: number, kind: string, part: string, i: number) =>
    off === 0 ? "" : (fast(off) ?? str(off, `type ${id} (${kind}) ${part} ${i}`));
  /** Checks that `n` more bytes at `at` are in the type area, with the message of record `id`. */
  const need = (at: number, n: number, id: number, kind: string) => {
    if (at + n > len) r.check(at, n, `type ${id} (${kind})`);
  };

  const types: BtfType[] = [{ kind: "VOID", name: "", kindFlag: false }];
  let o = 0;
  while (o < len) {
    const id = types.length;
    const at = o;
    let nameOff: number;
    let info: number;
    let sizeOrType: number;
    if (o + 12 <= len) {
      nameOff = u32(o);
      info = u32(o + 4);
      sizeOrType = u32(o + 8);
    } else {
      nameOff = r.u32(o, `type ${id} name`);
      info = r.u32(o + 4, `type ${id} info`);
      sizeOrType = r.u32(o + 8, `type ${id} size/type`);
    }
    o += 12;
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kindFlag = (info & 0x80000000) !== 0;
    const kind = KIND_NAMES[kindNum];
    if (kind === undefined) {
      throw new ParseError(`type ${id} has unknown kind ${kindNum}`, { ...ctx, offset: typesBase + at });
    }
    const name = nameOf(nameOff, id);
    switch (kind) {
      case "INT": {
        need(o, 4, id, kind);
        const enc = u32(o);
        o += 4;
        types.push({
          kind,
          name,
          kindFlag,
          size: sizeOrType,
          encoding: (enc >>> 24) & 0x0f,
          bitsOffset: (enc >>> 16) & 0xff,
          bits: enc & 0xff,
        });
        break;
      }
      case "PTR":
      case "TYPEDEF":
      case "VOLATILE":
      case "CONST":
      case "RESTRICT":
      case "TYPE_TAG":
        types.push({ kind, name, kindFlag, type: sizeOrType });
        break;
      case "ARRAY":
        need(o, 12, id, kind);
        types.push({
          kind,
          name,
          kindFlag,
          type: u32(o),
          indexType: u32(o + 4),
          nelems: u32(o + 8),
        });
        o += 12;
        break;
      case "STRUCT":
      case "UNION": {
        need(o, vlen * 12, id, kind);
        const members = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = u32(o + 8);
          members.push({
            name: memberName(u32(o), id, kind, "member", i),
            type: u32(o + 4),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitfieldSize: kindFlag ? off >>> 24 : 0,
          });
        }
        types.push({ kind, name, kindFlag, size: sizeOrType, members });
        break;
      }
      case "ENUM": {
        need(o, vlen * 8, id, kind);
        const values = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          values.push({
            name: memberName(u32(o), id, kind, "value", i),
            value: kindFlag ? v.getInt32(o + 4, le) : u32(o + 4),
          });
        }
        types.push({ kind, name, kindFlag, size: sizeOrType, values });
        break;
      }
      case "ENUM64": {
        need(o, vlen * 12, id, kind);
        const values = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const lo = u32(o + 4);
          const hi = u32(o + 8);
          values.push({
            name: memberName(u32(o), id, kind, "value", i),
            value: (BigInt(hi) << 32n) | BigInt(lo),
          });
        }
        types.push({ kind, name, kindFlag, size: sizeOrType, values });
        break;
      }
      case "FWD":
        types.push({ kind, name, kindFlag });
        break;
      case "FUNC":
        types.push({ kind, name, kindFlag, type: sizeOrType, linkage: vlen });
        break;
      case "FUNC_PROTO": {
        need(o, vlen * 8, id, kind);
        const params = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          params.push({ name: memberName(u32(o), id, kind, "param", i), type: u32(o + 4) });
        }
        types.push({ kind, name, kindFlag, returnType: sizeOrType, params });
        break;
      }
      case "VAR":
        need(o, 4, id, kind);
        types.push({ kind, name, kindFlag, type: sizeOrType, linkage: u32(o) });
        o += 4;
        break;
      case "DATASEC": {
        need(o, vlen * 12, id, kind);
        const vars = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          vars.push({ type: u32(o), offset: u32(o + 4), size: u32(o + 8) });
        }
        types.push({ kind, name, kindFlag, size: sizeOrType, vars });
        break;
      }
      case "FLOAT":
        types.push({ kind, name, kindFlag, size: sizeOrType });
        break;
      case "DECL_TAG":
        need(o, 4, id, kind);
        types.push({ kind, name, kindFlag, type: sizeOrType, componentIdx: v.getInt32(o, le) });
        o += 4;
        break;
    }
  }
  // A private copy: the Btf must not alias (or keep alive) the caller's file buffer.
  return { littleEndian: le, types, strings: new Uint8Array(strings) };
}
