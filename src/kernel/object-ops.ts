/** Pinning in bpffs, reopening objects by id, and reading their info (BPF_OBJ_GET_INFO_BY_FD). */
import { BpfCmd } from "../abi/index.js";
import { getFdByIdAttr, objAttr, objInfoAttr } from "./attr.js";
import { Fd } from "./fd.js";
import type { Sys } from "./sys.js";
import { throwLoadError } from "./wrap-error.js";

/** Pins the object behind `fd` at `path` (which must be inside a mounted bpffs). */
export function pinObject(sys: Sys, fd: number, path: string): void {
  const { attr, ptrs } = objAttr(path, fd);
  try {
    sys.bpf(BpfCmd.OBJ_PIN, attr, ptrs);
  } catch (e) {
    throwLoadError(e, `pin at ${path}`);
  }
}

/** Opens the object pinned at `path`; `fileFlags` may be BPF_F_RDONLY (1 << 3) or BPF_F_WRONLY (1 << 4). */
export function getPinned(sys: Sys, path: string, fileFlags = 0): Fd {
  const { attr, ptrs } = objAttr(path, 0, fileFlags);
  try {
    return new Fd(sys, sys.bpf(BpfCmd.OBJ_GET, attr, ptrs), `pinned ${path}`);
  } catch (e) {
    throwLoadError(e, `open pinned ${path}`);
  }
}

function byId(sys: Sys, cmd: number, id: number, what: string): Fd {
  const { attr, ptrs } = getFdByIdAttr(id);
  try {
    return new Fd(sys, sys.bpf(cmd, attr, ptrs), `${what} id ${id}`);
  } catch (e) {
    throwLoadError(e, `open ${what} id ${id}`);
  }
}

/** Opens a map by its kernel id. */
export const mapFdById = (sys: Sys, id: number): Fd => byId(sys, BpfCmd.MAP_GET_FD_BY_ID, id, "map");

/** Opens a program by its kernel id (to name one a prog array holds). */
export const progFdById = (sys: Sys, id: number): Fd => byId(sys, BpfCmd.PROG_GET_FD_BY_ID, id, "program");

function objInfo(sys: Sys, fd: number, size: number): DataView {
  const info = new Uint8Array(size);
  const { attr, ptrs } = objInfoAttr(fd, info);
  try {
    sys.bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr, ptrs);
  } catch (e) {
    throwLoadError(e, `get info of fd ${fd}`);
  }
  return new DataView(info.buffer);
}

function nameAt(v: DataView, off: number): string {
  const bytes = new Uint8Array(v.buffer, off, 16);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? 16 : end));
}

/** The parts of `struct bpf_prog_info` tsbpf reads. */
export interface ProgramInfo {
  type: number;
  id: number;
  /** The 8-byte program tag as hex (what bpftool shows). */
  tag: string;
  name: string;
  /** Number of maps the program uses. */
  mapCount: number;
  gplCompatible: boolean;
  /** Size of the translated (post-verifier) program in bytes. */
  xlatedSize: number;
  /** Size of the JIT image in bytes; 0 when not JITed. */
  jitedSize: number;
}

/** Reads program info: type @0, id @4, tag @8, jited_prog_len @16, xlated_prog_len @20, nr_map_ids @52, name @64, gpl bit @84. */
export function getProgramInfo(sys: Sys, progFd: number): ProgramInfo {
  const v = objInfo(sys, progFd, 88);
  const tag = Array.from(new Uint8Array(v.buffer, 8, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return {
    type: v.getUint32(0, true),
    id: v.getUint32(4, true),
    tag,
    jitedSize: v.getUint32(16, true),
    xlatedSize: v.getUint32(20, true),
    mapCount: v.getUint32(52, true),
    name: nameAt(v, 64),
    gplCompatible: (v.getUint32(84, true) & 1) === 1,
  };
}

/** The parts of `struct bpf_map_info` tsbpf reads. */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  btfId: number;
  mapExtra: bigint;
}

/** Reads map info (all 88 bytes of `struct bpf_map_info`). */
export function getMapInfo(sys: Sys, mapFd: number): MapInfo {
  const v = objInfo(sys, mapFd, 88);
  return {
    type: v.getUint32(0, true),
    id: v.getUint32(4, true),
    keySize: v.getUint32(8, true),
    valueSize: v.getUint32(12, true),
    maxEntries: v.getUint32(16, true),
    flags: v.getUint32(20, true),
    name: nameAt(v, 24),
    btfId: v.getUint32(64, true),
    mapExtra: v.getBigUint64(80, true),
  };
}

/** The parts of `struct bpf_link_info` tsbpf reads (type @0, id @4, prog_id @8; XDP/tcx ifindex @16, tcx attach_type @20). */
export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  /** For XDP and tcx links, the interface index. */
  ifindex: number;
  /** For tcx links, the attach type (tcx_ingress or tcx_egress). */
  attachType: number;
}

/** Reads link info. */
export function getLinkInfo(sys: Sys, linkFd: number): LinkInfo {
  const v = objInfo(sys, linkFd, 24);
  return {
    type: v.getUint32(0, true),
    id: v.getUint32(4, true),
    progId: v.getUint32(8, true),
    ifindex: v.getUint32(16, true),
    attachType: v.getUint32(20, true),
  };
}
