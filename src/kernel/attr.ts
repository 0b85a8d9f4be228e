/**
 * `union bpf_attr` layouts, one builder per command, written from include/uapi/linux/bpf.h.
 * Each builder returns the attr bytes plus the list of pointer fields; {@link Sys.bpf} fills the
 * addresses in. Pointer fields are left zero here so the bytes are deterministic and testable.
 */
import { OBJ_NAME_LEN } from "../abi/index.js";
import { UsageError } from "../errors.js";
import { putU32 } from "../internal/bytes.js";
import type { PtrArg } from "./sys.js";

/** An attr ready for {@link Sys.bpf}. */
export interface AttrCall {
  attr: Uint8Array;
  ptrs: PtrArg[];
}

/**
 * Little helper over a zeroed attr; all fields are host-endian, which is little on every target we
 * run on. Fields are stored byte by byte: a DataView would make V8 move the attr's bytes into an
 * ArrayBuffer of their own, on every call of a load that runs cold.
 */
class AttrWriter {
  readonly bytes: Uint8Array;
  readonly ptrs: PtrArg[] = [];
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  u32(off: number, v: number): this {
    putU32(this.bytes, off, v, true);
    return this;
  }
  u64(off: number, v: bigint): this {
    if (v === 0n) return this;
    const u = BigInt.asUintN(64, v);
    return this.u32(off, Number(u & 0xffff_ffffn)).u32(off + 4, Number(u >> 32n));
  }
  /** A pointer field; a missing or empty buffer leaves the field NULL. */
  ptr(off: number, buf: Uint8Array | undefined, out = false): this {
    if (buf !== undefined && buf.byteLength > 0)
      this.ptrs.push(out ? { offset: off, buf, out } : { offset: off, buf });
    return this;
  }
  name(off: number, name: string | undefined): this {
    if (name !== undefined) this.bytes.set(objName(name), off);
    return this;
  }
  done(): AttrCall {
    return { attr: this.bytes, ptrs: this.ptrs };
  }
}

/**
 * `s` with every character the kernel refuses in an object name (anything but alphanumerics,
 * `_` and `.`) replaced by `replacement`. A loop rather than a regular expression: V8 compiles
 * each regular expression on its first use, which every load pays cold; a clean name is
 * returned as it is.
 */
export function objNameChars(s: string, replacement: string): string {
  let out: string | undefined;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x5f ||
      c === 0x2e;
    if (ok) continue;
    out = (out ?? "") + s.slice(from, i) + replacement;
    from = i + 1;
  }
  return out === undefined ? s : out + s.slice(from);
}

/**
 * Encodes an object name for `map_name`/`prog_name`: at most 15 bytes, and only the characters
 * the kernel accepts (alphanumerics, `_` and `.`); others are dropped, as libbpf does, so that an
 * ELF section-derived name never makes a load fail.
 */
export function objName(name: string): Uint8Array {
  const clean = objNameChars(name, "").slice(0, OBJ_NAME_LEN - 1);
  const out = new Uint8Array(OBJ_NAME_LEN);
  for (let i = 0; i < clean.length; i++) out[i] = clean.charCodeAt(i);
  return out;
}

/** A NUL-terminated copy of `s` (UTF-8) for path arguments. */
export function cString(s: string): Uint8Array {
  // ASCII (licenses, most paths) is copied as is: a TextEncoder and a typed-array search are
  // each tens of microseconds on their first use in a process, which every load pays.
  const ascii = new Uint8Array(s.length + 1);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return utf8CString(s);
    ascii[i] = c;
  }
  return ascii;
}

function utf8CString(s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  if (enc.includes(0)) throw new UsageError(`path ${JSON.stringify(s)} contains a NUL byte`);
  const out = new Uint8Array(enc.byteLength + 1);
  out.set(enc);
  return out;
}

/** Parameters of BPF_MAP_CREATE. */
export interface MapCreateAttr {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
  innerMapFd?: number;
  numaNode?: number;
  ifindex?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  mapExtra?: bigint;
}

/** BPF_MAP_CREATE: 72 bytes, up to `map_extra`. */
export function mapCreateAttr(a: MapCreateAttr): AttrCall {
  return new AttrWriter(72)
    .u32(0, a.type)
    .u32(4, a.keySize)
    .u32(8, a.valueSize)
    .u32(12, a.maxEntries)
    .u32(16, a.flags ?? 0)
    .u32(20, a.innerMapFd ?? 0)
    .u32(24, a.numaNode ?? 0)
    .name(28, a.name)
    .u32(44, a.ifindex ?? 0)
    .u32(48, a.btfFd ?? 0)
    .u32(52, a.btfKeyTypeId ?? 0)
    .u32(56, a.btfValueTypeId ?? 0)
    .u32(60, a.btfVmlinuxValueTypeId ?? 0)
    .u64(64, a.mapExtra ?? 0n)
    .done();
}

/**
 * BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM and GET_NEXT_KEY: map_fd @0, key @8, value/next_key @16,
 * flags @24. `valueOut` marks the value buffer as written by the kernel (lookup, next key).
 */
export function mapElemAttr(
  mapFd: number,
  key: Uint8Array | undefined,
  value: Uint8Array | undefined,
  flags: bigint,
  valueOut: boolean,
): AttrCall {
  return new AttrWriter(32).u32(0, mapFd).ptr(8, key).ptr(16, value, valueOut).u64(24, flags).done();
}

/** BPF_MAP_FREEZE: map_fd @0. */
export function mapFdAttr(mapFd: number): AttrCall {
  return new AttrWriter(8).u32(0, mapFd).done();
}

/** Parameters of BPF_PROG_LOAD. */
export interface ProgLoadAttr {
  type: number;
  /** Raw instructions, 8 bytes each. */
  insns: Uint8Array;
  license: string;
  logLevel?: number;
  /** Buffer the kernel writes the verifier log into. */
  logBuf?: Uint8Array;
  kernVersion?: number;
  flags?: number;
  name?: string;
  ifindex?: number;
  expectedAttachType?: number;
  btfFd?: number;
  funcInfoRecSize?: number;
  funcInfo?: Uint8Array;
  lineInfoRecSize?: number;
  lineInfo?: Uint8Array;
  attachBtfId?: number;
  attachProgFd?: number;
}

/** Size of the PROG_LOAD attr tsbpf sends: up to and including `log_true_size` (6.4+). */
export const PROG_LOAD_ATTR_SIZE = 144;
/** Offset of `log_true_size`, where 6.4+ kernels report the log size they needed. */
export const PROG_LOAD_LOG_TRUE_SIZE = 140;

/** BPF_PROG_LOAD. func_info/line_info counts are derived from the buffers and record sizes. */
export function progLoadAttr(a: ProgLoadAttr): AttrCall {
  const funcRec = a.funcInfoRecSize ?? 8;
  const lineRec = a.lineInfoRecSize ?? 16;
  const w = new AttrWriter(PROG_LOAD_ATTR_SIZE)
    .u32(0, a.type)
    .u32(4, a.insns.byteLength / 8)
    .ptr(8, a.insns)
    .ptr(16, cString(a.license))
    .u32(24, a.logBuf === undefined ? 0 : (a.logLevel ?? 1))
    .u32(28, a.logBuf?.byteLength ?? 0)
    .ptr(32, a.logBuf, true)
    .u32(40, a.kernVersion ?? 0)
    .u32(44, a.flags ?? 0)
    .name(48, a.name)
    .u32(64, a.ifindex ?? 0)
    .u32(68, a.expectedAttachType ?? 0)
    .u32(72, a.btfFd ?? 0);
  if (a.funcInfo !== undefined && a.funcInfo.byteLength > 0) {
    w.u32(76, funcRec)
      .ptr(80, a.funcInfo)
      .u32(88, a.funcInfo.byteLength / funcRec);
  }
  if (a.lineInfo !== undefined && a.lineInfo.byteLength > 0) {
    w.u32(92, lineRec)
      .ptr(96, a.lineInfo)
      .u32(104, a.lineInfo.byteLength / lineRec);
  }
  return w
    .u32(108, a.attachBtfId ?? 0)
    .u32(112, a.attachProgFd ?? 0)
    .done();
}

/** BPF_OBJ_PIN / BPF_OBJ_GET: pathname @0, bpf_fd @8, file_flags @12. */
export function objAttr(path: string, fd: number, fileFlags = 0): AttrCall {
  return new AttrWriter(16).ptr(0, cString(path)).u32(8, fd).u32(12, fileFlags).done();
}

/** Parameters of BPF_PROG_TEST_RUN. */
export interface TestRunAttr {
  progFd: number;
  dataIn?: Uint8Array;
  dataOut?: Uint8Array;
  repeat?: number;
  ctxIn?: Uint8Array;
  ctxOut?: Uint8Array;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

/** Offsets of the fields BPF_PROG_TEST_RUN writes back. */
export const TestRunOut = { retval: 4, dataSizeOut: 12, duration: 36, ctxSizeOut: 44 } as const;

/** BPF_PROG_TEST_RUN (`attr.test`): 80 bytes, up to `batch_size` plus padding. */
export function testRunAttr(a: TestRunAttr): AttrCall {
  return new AttrWriter(80)
    .u32(0, a.progFd)
    .u32(8, a.dataIn?.byteLength ?? 0)
    .u32(12, a.dataOut?.byteLength ?? 0)
    .ptr(16, a.dataIn)
    .ptr(24, a.dataOut, true)
    .u32(32, a.repeat ?? 0)
    .u32(40, a.ctxIn?.byteLength ?? 0)
    .u32(44, a.ctxOut?.byteLength ?? 0)
    .ptr(48, a.ctxIn)
    .ptr(56, a.ctxOut, true)
    .u32(64, a.flags ?? 0)
    .u32(68, a.cpu ?? 0)
    .u32(72, a.batchSize ?? 0)
    .done();
}

/** BPF_*_GET_FD_BY_ID: id @0, open_flags @8. */
export function getFdByIdAttr(id: number, openFlags = 0): AttrCall {
  return new AttrWriter(12).u32(0, id).u32(8, openFlags).done();
}

/** BPF_OBJ_GET_INFO_BY_FD (`attr.info`): bpf_fd @0, info_len @4 (in/out), info @8. */
export function objInfoAttr(fd: number, info: Uint8Array): AttrCall {
  return new AttrWriter(16).u32(0, fd).u32(4, info.byteLength).ptr(8, info, true).done();
}

/** BPF_BTF_LOAD: btf @0, btf_log_buf @8, btf_size @16, btf_log_size @20, btf_log_level @24, btf_log_true_size @28. */
export function btfLoadAttr(btf: Uint8Array, logBuf?: Uint8Array, logLevel = 1): AttrCall {
  return new AttrWriter(32)
    .ptr(0, btf)
    .ptr(8, logBuf, true)
    .u32(16, btf.byteLength)
    .u32(20, logBuf?.byteLength ?? 0)
    .u32(24, logBuf === undefined ? 0 : logLevel)
    .done();
}

/** Offset of `btf_log_true_size` in the BTF_LOAD attr (6.4+). */
export const BTF_LOAD_LOG_TRUE_SIZE = 28;

/** BPF_LINK_CREATE (`attr.link_create`) for targets addressed by fd or ifindex: prog_fd @0, target @4, attach_type @8, flags @12. */
export function linkCreateAttr(progFd: number, target: number, attachType: number, flags = 0): AttrCall {
  return new AttrWriter(16).u32(0, progFd).u32(4, target).u32(8, attachType).u32(12, flags).done();
}

/** BPF_LINK_UPDATE (`attr.link_update`): link_fd @0, new_prog_fd @4, flags @8, old_prog_fd @12. */
export function linkUpdateAttr(linkFd: number, newProgFd: number, flags = 0, oldProgFd = 0): AttrCall {
  return new AttrWriter(16).u32(0, linkFd).u32(4, newProgFd).u32(8, flags).u32(12, oldProgFd).done();
}

/**
 * BPF_PROG_QUERY (`attr.query`) of an interface's hook: target_ifindex @0, attach_type @4,
 * prog_ids @16 (out), prog_cnt @24 (in: room, out: count), link_ids @40 (out).
 */
export function progQueryAttr(
  ifindex: number,
  attachType: number,
  progIds: Uint32Array,
  linkIds: Uint32Array,
): AttrCall {
  return new AttrWriter(64)
    .u32(0, ifindex)
    .u32(4, attachType)
    .ptr(16, new Uint8Array(progIds.buffer), true)
    .u32(24, progIds.length)
    .ptr(40, new Uint8Array(linkIds.buffer), true)
    .done();
}

/** BPF_LINK_DETACH: link_fd @0. */
export function linkDetachAttr(linkFd: number): AttrCall {
  return new AttrWriter(8).u32(0, linkFd).done();
}

/** BPF_PROG_BIND_MAP (`attr.prog_bind_map`): prog_fd @0, map_fd @4, flags @8. */
export function progBindMapAttr(progFd: number, mapFd: number, flags = 0): AttrCall {
  return new AttrWriter(12).u32(0, progFd).u32(4, mapFd).u32(8, flags).done();
}
