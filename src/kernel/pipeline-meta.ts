/**
 * What a pinned pipeline is, kept where its pins are. bpffs holds only pins and directories, so
 * the description `tsbpf status` shows (name, file, objects, entry, slots, interface, when it went
 * up, a content hash) lives as JSON in a small map pinned as `DIR/meta`: a frozen one-entry array
 * whose value is a 4-byte little-endian length and the UTF-8 JSON. It lasts exactly as long as
 * the other pins of the pipeline.
 */
import { MapType } from "../abi/index.js";
import type { StatsLayout } from "../stats/layout.js";
import { encodeScalar } from "../backend/scalar.js";
import { LoadError } from "../errors.js";
import { createMap, freezeMap, lookupElem, updateElem } from "./map-ops.js";
import { getMapInfo, getPinned, pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";
import type { TcHook } from "./tc-link.js";
import type { TcFilterDescription } from "./tc-netlink.js";

/** The `format` of the description this tsbpf writes and reads. */
export const PIPELINE_META_FORMAT = "tsbpf-pipeline/1";

/** The kernel name of the description map (bpftool shows it). */
export const PIPELINE_META_MAP_NAME = "tsbpf_meta";

/** A program of a pipeline, by object alias and name. */
export interface DescribedProgram {
  object: string;
  program: string;
}

/** Where on its interface a pipeline's entry runs. */
export type PipelineHook = "xdp" | "tc-ingress" | "tc-egress";

/**
 * A tc pipeline's entry attached as a netlink cls_bpf filter (no link: the filter itself outlives
 * the process). Everything needed to find it again and remove exactly it: where it is, the
 * program it must run (updated by each upgrade) and whether `up` created the clsact qdisc.
 */
export type TcFilterAttachment = { kind: "tc-filter" } & Omit<TcFilterDescription, "method" | "iface">;

/**
 * How the entry is attached, as recorded in the description. A tagged object so that other kinds
 * can be recorded later without a new format: `status`, `down` and upgrades refuse a kind they do
 * not know rather than guess.
 */
export type AttachmentKind = { kind: "xdp-link" } | { kind: "tcx" } | TcFilterAttachment;

/** The cls_bpf filter of a description, when its entry is attached as one. */
export function filterOf(attach: PipelineDescription["attach"]): TcFilterAttachment | undefined {
  const a = attach.attachment;
  return a?.kind === "tc-filter" ? a : undefined;
}

/** The hook of a description (descriptions written before tc pipelines have none: XDP). */
export function hookOf(attach: PipelineDescription["attach"]): PipelineHook {
  return attach.hook ?? "xdp";
}

/** The tcx hook of a tc pipeline hook (`tc-ingress` is `ingress`); undefined for XDP. */
export function tcHookOf(hook: PipelineHook): TcHook | undefined {
  return hook === "tc-ingress" ? "ingress" : hook === "tc-egress" ? "egress" : undefined;
}

/** The attachment kind of a description (absent: an XDP link, as before tc pipelines). */
export function attachmentKindOf(attach: PipelineDescription["attach"]): AttachmentKind {
  return attach.attachment ?? { kind: "xdp-link" };
}

/** What the caller knows of a pipeline when it pins it: everything `status` shows that pins cannot tell. */
export interface PipelineDescription {
  name: string;
  /** The pipeline file (absolute), or for `attach --pin` the object file. */
  file: string | undefined;
  /** The command that put it up (`up`, `attach`), or the library. */
  by: string;
  /** Each object by alias: its file (absolute) and the SHA-256 of its bytes. */
  objects: Record<string, { file: string | undefined; sha256: string | undefined }>;
  entry: DescribedProgram;
  /** The slots the pipeline fills (static `.values` included). */
  slots: { object: string; map: string; key: number; program: DescribedProgram }[];
  attach: {
    iface: string;
    ifindex: number;
    /** The network namespace of the interface; `null` for the caller's. */
    netns: string | null;
    /** The mode asked for. */
    mode: string;
    /** The mode the kernel reports the program attached in (for tc: the hook). */
    attachedMode: string;
    /** Where the entry runs; absent for XDP (descriptions older than tc pipelines have none). */
    hook?: PipelineHook;
    /** How it is attached; absent for an XDP link. */
    attachment?: AttachmentKind;
  };
  /** SHA-256 over the objects' bytes and the resolved wiring and attach point. */
  hash: string;
  /**
   * Where each object's counters are, for objects loaded with stats (by alias): `tsbpf stats`
   * reads them from the pins with no object file at hand, as they were when it went up.
   */
  stats?: Record<string, StatsLayout>;
}

/** A `pinning: by_name` map of the pipeline: pinned outside DIR, shared by name. */
export interface ByNamePin {
  path: string;
  /** The map's kernel id when the pipeline went up. */
  mapId: number;
  /** Whether this pipeline created the pin (`down` removes only those, and only if still that map). */
  created: boolean;
}

/** One pin of an object's map or program under the pipeline's directory. */
export interface ObjectPin {
  object: string;
  kind: "map" | "program";
  /** The map's or program's name in the object. */
  name: string;
  /** The pin's path relative to the pipeline's directory (`main/maps/prog_array`). */
  path: string;
}

/** The description as pinned: what the caller gave, and what pinning added. */
export interface PinnedPipelineMeta extends PipelineDescription {
  format: typeof PIPELINE_META_FORMAT;
  /** The directory the pipeline is pinned under. */
  pinDir: string;
  /** Every map and program pin under `pinDir`, by object. */
  pins: ObjectPin[];
  /** When it went up (ISO 8601). */
  upAt: string;
  byName: ByNamePin[];
  /** Directories above `pinDir` that pinning created (`down` removes them when empty). */
  madeDirs: string[];
}

const KEY0 = encodeScalar(0, 4, true, "key");

/**
 * Creates the frozen description map holding `meta`, pins it at `path` and closes this process's
 * fd (the pin keeps it).
 */
export function pinMeta(sys: Sys, meta: PinnedPipelineMeta, path: string): void {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const value = new Uint8Array(4 + json.byteLength);
  new DataView(value.buffer).setUint32(0, json.byteLength, true);
  value.set(json, 4);
  const fd = createMap(sys, {
    type: MapType.array,
    keySize: 4,
    valueSize: value.byteLength,
    maxEntries: 1,
    name: PIPELINE_META_MAP_NAME,
  });
  try {
    updateElem(sys, fd.value, KEY0, value);
    freezeMap(sys, fd.value);
    pinObject(sys, fd.value, path);
  } finally {
    fd.close();
  }
}

/** Reads the description pinned at `path`; a LoadError saying why when it is not one. */
export function readMeta(sys: Sys, path: string): PinnedPipelineMeta {
  const fd = getPinned(sys, path);
  try {
    const info = getMapInfo(sys, fd.value);
    const notOurs = (why: string): LoadError =>
      new LoadError(`${path} is not a tsbpf pipeline description: ${why}`, {
        hint: "it was not pinned by tsbpf up or tsbpf attach --pin",
      });
    if (info.type !== MapType.array || info.keySize !== 4 || info.maxEntries !== 1 || info.valueSize < 4) {
      throw notOurs(`a map of type ${info.type}, ${info.keySize}-byte keys, ${info.maxEntries} entries`);
    }
    const value = lookupElem(sys, fd.value, KEY0, info.valueSize);
    if (value === undefined) throw notOurs("it is empty");
    const len = new DataView(value.buffer, value.byteOffset).getUint32(0, true);
    if (len > value.byteLength - 4) throw notOurs(`its length ${len} is past its ${value.byteLength} bytes`);
    let meta: unknown;
    try {
      meta = JSON.parse(new TextDecoder().decode(value.subarray(4, 4 + len)));
    } catch (e) {
      throw notOurs(`its JSON does not parse (${e instanceof Error ? e.message : String(e)})`);
    }
    const m = meta as Partial<PinnedPipelineMeta> | null;
    if (m === null || typeof m !== "object" || m.format !== PIPELINE_META_FORMAT) {
      throw notOurs(`its format is ${JSON.stringify(m?.format)}, this tsbpf reads ${PIPELINE_META_FORMAT}`);
    }
    return m as PinnedPipelineMeta;
  } finally {
    fd.close();
  }
}
