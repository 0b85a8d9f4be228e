import { ParseError, UsageError } from "../errors.js";
import { ByteReader } from "../internal/bytes.js";

/** Link types by number, for messages (pcap LINKTYPE_* values). */
export const LINKTYPE_NAMES: Record<number, string> = {
  0: "NULL",
  1: "ETHERNET",
  101: "RAW",
  113: "LINUX_SLL",
  127: "IEEE802_11_RADIOTAP",
  276: "LINUX_SLL2",
};

/** One captured packet. */
export interface CapturedPacket {
  /** Capture time in nanoseconds since the Unix epoch. */
  timestampNs: bigint;
  /** Length on the wire (may exceed `data.length` when the capture was cut at the snap length). */
  origLen: number;
  data: Uint8Array;
  /** The link type of the interface it was captured on (1 = Ethernet). */
  linktype: number;
  /** pcapng only: the interface index within its section. */
  interfaceId?: number;
}

/** A classic pcap file. */
export interface PcapFile {
  format: "pcap";
  littleEndian: boolean;
  /** Whether timestamps have nanosecond resolution (magic 0xa1b23c4d). */
  nanos: boolean;
  version: [number, number];
  snaplen: number;
  linktype: number;
  /** A name for `linktype`; packets of link types other than Ethernet are returned but not dissected. */
  linktypeName: string;
  /** FCS bytes per packet announced in the link-type field (0 when none). */
  fcsLength: number;
  packets: CapturedPacket[];
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
/** Refuses records larger than this so a corrupt length cannot ask for gigabytes. */
const MAX_RECORD = 256 * 1024 * 1024;

/**
 * A pcap record: its time is kept as the two numbers the file holds and made a bigint only when
 * read, so reading a capture of a million packets does not make millions of bigints.
 */
class PcapRecord implements CapturedPacket {
  constructor(
    private readonly sec: number,
    private readonly nsec: number,
    readonly origLen: number,
    readonly data: Uint8Array,
    readonly linktype: number,
  ) {}

  get timestampNs(): bigint {
    return BigInt(this.sec) * 1_000_000_000n + BigInt(this.nsec);
  }
}

/** Reads a pcap file; any malformation raises a ParseError naming the byte offset. */
export function readPcap(bytes: Uint8Array, file?: string): PcapFile {
  const packets: CapturedPacket[] = [];
  const header = walkPcap(bytes, file, (off, incl, orig, sec, nsec, linktype) => {
    // A view, not a copy: a million packets would otherwise be a million buffers.
    packets.push(new PcapRecord(sec, nsec, orig, bytes.subarray(off, off + incl), linktype));
  });
  return { ...header, packets };
}

/**
 * Packets packed in one buffer: packet `i` is `bytes.subarray(offsets[i], offsets[i] + lengths[i])`.
 * What a batch run takes (VmProgram.runBatch) without an object per packet.
 */
export interface PacketBatch {
  bytes: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** Packets in the batch (the arrays may be longer). */
  count: number;
}

/**
 * Reads a pcap file's packets as a {@link PacketBatch} over `bytes` itself: no copy and no object
 * per packet, for replaying large captures. Checks what {@link readPcap} checks; returns the
 * file's link type with it.
 */
export function readPcapBatch(bytes: Uint8Array, file?: string): { linktype: number; batch: PacketBatch } {
  let offsets = new Uint32Array(1024);
  let lengths = new Uint32Array(1024);
  let count = 0;
  const header = walkPcap(bytes, file, (off, incl) => {
    if (count === offsets.length) {
      const o = new Uint32Array(count * 2);
      o.set(offsets);
      offsets = o;
      const l = new Uint32Array(count * 2);
      l.set(lengths);
      lengths = l;
    }
    offsets[count] = off;
    lengths[count] = incl;
    count++;
  });
  return { linktype: header.linktype, batch: { bytes, offsets, lengths, count } };
}

/**
 * Checks a pcap file's header and records and calls `onRecord` with each record's data offset,
 * captured and wire lengths and time; returns what the header says.
 */
function walkPcap(
  bytes: Uint8Array,
  file: string | undefined,
  onRecord: (off: number, incl: number, orig: number, sec: number, nsec: number, linktype: number) => void,
): Omit<PcapFile, "packets"> {
  const ctx = file === undefined ? {} : { file };
  if (bytes.length < 24) {
    throw new ParseError(`pcap header needs 24 bytes, file has ${bytes.length}`, { ...ctx, offset: 0 });
  }
  const le = new ByteReader(bytes, true, ctx);
  const be = new ByteReader(bytes, false, ctx);
  let r: ByteReader;
  if (le.u32(0) === MAGIC_US || le.u32(0) === MAGIC_NS) r = le;
  else if (be.u32(0) === MAGIC_US || be.u32(0) === MAGIC_NS) r = be;
  else {
    throw new ParseError(`not a pcap file: magic 0x${be.u32(0).toString(16).padStart(8, "0")}`, {
      ...ctx,
      offset: 0,
      hint: "pcapng files start with 0a0d0d0a; use readPcapng or readCapture",
    });
  }
  const nanos = r.u32(0) === MAGIC_NS;
  const ltField = r.u32(20);
  const linktype = ltField & 0xffff;
  const out: Omit<PcapFile, "packets"> = {
    format: "pcap",
    littleEndian: r.littleEndian,
    nanos,
    version: [r.u16(4), r.u16(6)],
    snaplen: r.u32(16),
    linktype,
    linktypeName: LINKTYPE_NAMES[linktype] ?? `LINKTYPE_${linktype}`,
    fcsLength: ltField & 0x04000000 ? ((ltField >>> 28) & 0xf) * 2 : 0,
  };
  let off = 24;
  while (off < bytes.length) {
    if (bytes.length - off < 16) {
      throw new ParseError(`truncated record header: ${bytes.length - off} of 16 bytes`, {
        ...ctx,
        offset: off,
      });
    }
    const sec = r.u32(off);
    const frac = r.u32(off + 4);
    const incl = r.u32(off + 8);
    const orig = r.u32(off + 12);
    if (incl > MAX_RECORD)
      throw new ParseError(`record length ${incl} is implausible`, { ...ctx, offset: off + 8 });
    if (frac >= (nanos ? 1e9 : 1e6)) {
      throw new ParseError(`timestamp fraction ${frac} is out of range`, { ...ctx, offset: off + 4 });
    }
    if (off + 16 + incl > bytes.length) {
      throw new ParseError(
        `record of ${incl} bytes runs past the end of the file (${bytes.length - off - 16} left)`,
        {
          ...ctx,
          offset: off + 8,
        },
      );
    }
    onRecord(off + 16, incl, orig, sec, nanos ? frac : frac * 1000, linktype);
    off += 16 + incl;
  }
  return out;
}

/** Options for {@link writePcap}. */
export interface WritePcapOptions {
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds. */
  nanos?: boolean;
  /** Default true (the byte order most tools write on x86). */
  littleEndian?: boolean;
  /** Default 262144. */
  snaplen?: number;
  /** Default 1 (Ethernet). */
  linktype?: number;
}

/** A packet to write: bytes, and optionally its time and wire length. */
export interface PacketToWrite {
  data: Uint8Array;
  /** Nanoseconds since the epoch; default 0. */
  timestampNs?: bigint;
  /** Default `data.length`. */
  origLen?: number;
}

/** Writes a classic pcap file. Microsecond files round timestamps down to the microsecond. */
export function writePcap(
  packets: readonly (PacketToWrite | Uint8Array)[],
  opts: WritePcapOptions = {},
): Uint8Array {
  const le = opts.littleEndian ?? true;
  const nanos = opts.nanos ?? false;
  const list = packets.map((p) => (p instanceof Uint8Array ? { data: p } : p));
  const size = 24 + list.reduce((a, p) => a + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nanos ? MAGIC_NS : MAGIC_US, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, opts.snaplen ?? 262144, le);
  dv.setUint32(20, opts.linktype ?? 1, le);
  let off = 24;
  for (const p of list) {
    const ts = p.timestampNs ?? 0n;
    if (ts < 0n || ts / 1_000_000_000n > 0xffffffffn)
      throw new UsageError(`timestamp ${ts} ns does not fit a pcap record`);
    const rem = ts % 1_000_000_000n;
    dv.setUint32(off, Number(ts / 1_000_000_000n), le);
    dv.setUint32(off + 4, Number(nanos ? rem : rem / 1000n), le);
    dv.setUint32(off + 8, p.data.length, le);
    dv.setUint32(off + 12, p.origLen ?? p.data.length, le);
    out.set(p.data, off + 16);
    off += 16 + p.data.length;
  }
  return out;
}
