import { type ErrorContext, ParseError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";
import { BTF_MAGIC, btfString } from "./parse-btf.js";
import type { BtfExt } from "./types.js";

/** Options of {@link parseBtfExt}. */
export interface ParseBtfExtOptions {
  file?: string;
  littleEndian: boolean;
}

/**
 * Parses `.BTF.ext`: func_info, line_info and CO-RE relocation records, grouped by the section
 * they describe. Section names come from `btfStrings` (the `.BTF` string section).
 */
export function parseBtfExt(bytes: Uint8Array, btfStrings: Uint8Array, opts: ParseBtfExtOptions): BtfExt {
  const ctx: ErrorContext = { section: ".BTF.ext", ...(opts.file === undefined ? {} : { file: opts.file }) };
  const le = opts.littleEndian;
  const r = new ByteReader(bytes, le, ctx);
  r.check(0, 24, ".BTF.ext header");
  const magic = r.u16(0);
  if (magic !== BTF_MAGIC)
    throw new ParseError(`bad .BTF.ext magic 0x${magic.toString(16)}`, { ...ctx, offset: 0 });
  const version = r.u8(2);
  if (version !== 1) throw new ParseError(`unsupported .BTF.ext version ${version}`, { ...ctx, offset: 2 });
  const hdrLen = r.u32(4);
  r.check(0, hdrLen, ".BTF.ext header");
  const sr = new ByteReader(btfStrings, le, { ...ctx, section: ".BTF" });

  /** Walks one info area: a record size, then per-section {name, count, records}. */
  const readArea = (
    off: number,
    len: number,
    minRec: number,
    what: string,
    each: (sec: string, rec: ByteReader, at: number) => void,
  ): number => {
    if (len === 0) return 0;
    const base = hdrLen + off;
    const a = new ByteReader(r.slice(base, len, what), le, ctx, base);
    const recSize = a.u32(0, `${what} record size`);
    if (recSize < minRec || recSize % 4 !== 0) {
      throw new ParseError(`${what}: record size ${recSize} is invalid`, { ...ctx, offset: base });
    }
    let o = 4;
    while (o < len) {
      const sec = btfString(sr, a.u32(o, `${what} section name`), `${what} section name`);
      const n = a.u32(o + 4, `${what} record count`);
      o += 8;
      a.check(o, n * recSize, `${what} records of ${sec}`);
      for (let i = 0; i < n; i++, o += recSize) each(sec, a, o);
    }
    return recSize;
  };
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [v]);
    else l.push(v);
  };

  const ext: BtfExt = {
    funcInfo: new Map(),
    lineInfo: new Map(),
    coreRelos: new Map(),
    funcInfoRecSize: 0,
    lineInfoRecSize: 0,
    coreReloRecSize: 0,
  };
  ext.funcInfoRecSize = readArea(r.u32(8), r.u32(12), 8, "func_info", (sec, a, o) =>
    push(ext.funcInfo, sec, { insnOff: a.u32(o), typeId: a.u32(o + 4) }),
  );
  ext.lineInfoRecSize = readArea(r.u32(16), r.u32(20), 16, "line_info", (sec, a, o) => {
    const col = a.u32(o + 12);
    push(ext.lineInfo, sec, {
      insnOff: a.u32(o),
      fileNameOff: a.u32(o + 4),
      lineOff: a.u32(o + 8),
      lineNumber: col >>> 10,
      column: col & 0x3ff,
    });
  });
  if (hdrLen >= 32) {
    ext.coreReloRecSize = readArea(r.u32(24), r.u32(28), 16, "core_relo", (sec, a, o) =>
      push(ext.coreRelos, sec, {
        insnOff: a.u32(o),
        typeId: a.u32(o + 4),
        accessStrOff: a.u32(o + 8),
        kind: a.u32(o + 12),
      }),
    );
  }
  return ext;
}
