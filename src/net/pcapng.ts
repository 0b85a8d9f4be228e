import { ParseError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";
import { type CapturedPacket, LINKTYPE_NAMES, readPcap } from "./pcap.js";

/** One interface description block. */
export interface PcapngInterface {
  /** Index of the section it belongs to (0 for the first SHB). */
  section: number;
  linktype: number;
  linktypeName: string;
  snaplen: number;
  /** if_name option, when present. */
  name?: string;
  /** Timestamp units per second (from if_tsresol; default 10^6). */
  unitsPerSecond: bigint;
}

/** A pcapng file: interfaces of all sections, and packets in file order. */
export interface PcapngFile {
  format: "pcapng";
  /** Byte order of each section, in order. */
  sections: { littleEndian: boolean; version: [number, number] }[];
  interfaces: PcapngInterface[];
  /** Packets; `interfaceId` is the index within its section, `iface` the index into `interfaces`. */
  packets: (CapturedPacket & { iface: number })[];
  /** Blocks skipped because their type is not one tsbpf reads (type → count). */
  skippedBlocks: Record<number, number>;
}

const SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;

/** Whether `bytes` starts with a pcapng section header block. */
export function isPcapng(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x0a && bytes[1] === 0x0d && bytes[2] === 0x0d && bytes[3] === 0x0a
  );
}

/**
 * Reads pcapng: SHB (either byte order, several sections), IDB, EPB, SPB and the obsolete PB;
 * other blocks are skipped. Any malformation raises a ParseError naming the offset; every loop
 * advances by a checked, positive block length, so a hostile file cannot hang it.
 */
export function readPcapng(bytes: Uint8Array, file?: string): PcapngFile {
  const ctx = file === undefined ? {} : { file };
  const out: PcapngFile = { format: "pcapng", sections: [], interfaces: [], packets: [], skippedBlocks: {} };
  let r: ByteReader | undefined;
  let sectionIfaces: number[] = []; // section-local id → index in out.interfaces
  let off = 0;
  while (off < bytes.length) {
    const err = (msg: string, at = off): ParseError => new ParseError(msg, { ...ctx, offset: at });
    if (bytes.length - off < 12) throw err(`truncated block header: ${bytes.length - off} bytes left`);
    const raw = new DataView(bytes.buffer, bytes.byteOffset + off, 12);
    if (raw.getUint32(0) === SHB) {
      const bom = raw.getUint32(8, true);
      if (bom === BOM) r = new ByteReader(bytes, true, ctx);
      else if (raw.getUint32(8, false) === BOM) r = new ByteReader(bytes, false, ctx);
      else
        throw err(
          `bad byte-order magic 0x${raw.getUint32(8, false).toString(16)} in section header`,
          off + 8,
        );
    } else if (!r) {
      throw err("file does not start with a section header block (0a0d0d0a)");
    }
    const type = r.u32(off);
    const len = r.u32(off + 4);
    if (len < 12 || len % 4 !== 0)
      throw err(`block length ${len} is not a multiple of 4 of at least 12`, off + 4);
    if (off + len > bytes.length) throw err(`block of ${len} bytes runs past the end of the file`, off + 4);
    if (r.u32(off + len - 4) !== len) {
      throw err(`trailing block length ${r.u32(off + len - 4)} differs from ${len}`, off + len - 4);
    }
    const body = off + 8;
    const bodyEnd = off + len - 4;
    const needBody = (n: number, what: string): void => {
      if (bodyEnd - body < n) throw err(`${what} block needs ${n} body bytes, has ${bodyEnd - body}`);
    };
    switch (type) {
      case SHB: {
        needBody(16, "section header");
        out.sections.push({ littleEndian: r.littleEndian, version: [r.u16(body + 4), r.u16(body + 6)] });
        sectionIfaces = [];
        break;
      }
      case 1: {
        needBody(8, "interface description");
        const linktype = r.u16(body);
        const iface: PcapngInterface = {
          section: out.sections.length - 1,
          linktype,
          linktypeName: LINKTYPE_NAMES[linktype] ?? `LINKTYPE_${linktype}`,
          snaplen: r.u32(body + 4),
          unitsPerSecond: 1_000_000n,
        };
        for (const o of options(r, body + 8, bodyEnd, ctx)) {
          if (o.code === 9 && o.value.length >= 1) {
            const v = o.value[0] as number;
            const exp = BigInt(v & 0x7f);
            if ((v & 0x80 ? exp : exp * 4n) > 63n)
              throw err(`if_tsresol 0x${v.toString(16)} is out of range`, o.offset);
            iface.unitsPerSecond = v & 0x80 ? 1n << exp : 10n ** exp;
          } else if (o.code === 2) {
            iface.name = new TextDecoder().decode(o.value).replace(/\0+$/, "");
          }
        }
        sectionIfaces.push(out.interfaces.length);
        out.interfaces.push(iface);
        break;
      }
      case 6:
      case 2: {
        needBody(20, type === 6 ? "enhanced packet" : "packet");
        const id = type === 6 ? r.u32(body) : r.u16(body);
        const ifIndex = sectionIfaces[id];
        if (ifIndex === undefined)
          throw err(`packet names interface ${id}, but the section has ${sectionIfaces.length}`, body);
        const iface = out.interfaces[ifIndex] as PcapngInterface;
        const ts = (BigInt(r.u32(body + 4)) << 32n) | BigInt(r.u32(body + 8));
        const cap = r.u32(body + 12);
        const orig = r.u32(body + 16);
        if (cap > bodyEnd - body - 20) throw err(`captured length ${cap} exceeds the block body`, body + 12);
        out.packets.push({
          timestampNs: (ts * 1_000_000_000n) / iface.unitsPerSecond,
          origLen: orig,
          data: bytes.slice(body + 20, body + 20 + cap),
          linktype: iface.linktype,
          interfaceId: id,
          iface: ifIndex,
        });
        break;
      }
      case 3: {
        needBody(4, "simple packet");
        const ifIndex = sectionIfaces[0];
        if (ifIndex === undefined) throw err("simple packet block before any interface description", off);
        const iface = out.interfaces[ifIndex] as PcapngInterface;
        const orig = r.u32(body);
        let cap = Math.min(orig, bodyEnd - body - 4);
        if (iface.snaplen > 0) cap = Math.min(cap, iface.snaplen);
        out.packets.push({
          timestampNs: 0n,
          origLen: orig,
          data: bytes.slice(body + 4, body + 4 + cap),
          linktype: iface.linktype,
          interfaceId: 0,
          iface: ifIndex,
        });
        break;
      }
      default:
        out.skippedBlocks[type] = (out.skippedBlocks[type] ?? 0) + 1;
    }
    off += len;
  }
  return out;
}

function options(
  r: ByteReader,
  start: number,
  end: number,
  ctx: { file?: string },
): { code: number; value: Uint8Array; offset: number }[] {
  const out: { code: number; value: Uint8Array; offset: number }[] = [];
  let o = start;
  while (o + 4 <= end) {
    const code = r.u16(o);
    const len = r.u16(o + 2);
    if (code === 0) break;
    if (o + 4 + len > end)
      throw new ParseError(`option ${code} of ${len} bytes runs past its block`, { ...ctx, offset: o });
    out.push({ code, value: r.bytes.subarray(o + 4, o + 4 + len), offset: o });
    o += 4 + ((len + 3) & ~3);
  }
  return out;
}

/** Reads pcap or pcapng, whichever `bytes` is. */
export function readCapture(
  bytes: Uint8Array,
  file?: string,
): { linktypes: number[]; packets: CapturedPacket[] } {
  if (isPcapng(bytes)) {
    const f = readPcapng(bytes, file);
    return { linktypes: f.interfaces.map((i) => i.linktype), packets: f.packets };
  }
  // readPcap names the magic it found when neither format matches.
  const f = readPcap(bytes, file);
  return { linktypes: [f.linktype], packets: f.packets };
}
