/**
 * Probes of what the running kernel supports, by trying the smallest possible object. Results
 * are cached per {@link Sys}, because they cannot change while the kernel runs.
 */
import { AttachType, BpfCmd, Errno, MapFlag, MapType } from "../abi/index.js";
import { isLoadError, UsageError } from "../errors.js";
import { progQueryAttr } from "./attr.js";
import { type CreateMapOptions, createMap } from "./map-ops.js";
import { loadProgram } from "./program-ops.js";
import { isSysError, type Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";

const mapCache = new WeakMap<Sys, Map<number, boolean>>();
const progCache = new WeakMap<Sys, Map<number, boolean>>();
const attachCache = new WeakMap<Sys, Map<number, boolean>>();

/** Errnos that mean "this kernel does not have it", as opposed to "you may not". */
const ABSENT: ReadonlySet<number> = new Set([Errno.EINVAL, Errno.EOPNOTSUPP, Errno.ENOTSUPP, Errno.E2BIG]);

function probeShape(type: number): CreateMapOptions {
  switch (type) {
    case MapType.ringbuf:
      return { type, keySize: 0, valueSize: 0, maxEntries: 64 * 1024 };
    case MapType.queue:
    case MapType.stack:
    case MapType.bloom_filter:
      return { type, keySize: 0, valueSize: 4, maxEntries: 1 };
    case MapType.lpm_trie:
      return { type, keySize: 8, valueSize: 4, maxEntries: 1, flags: MapFlag.NO_PREALLOC };
    case MapType.array_of_maps:
    case MapType.hash_of_maps:
      throw new UsageError(
        `map type ${type}: probe its inner map type instead; outer maps need an inner map fd`,
      );
    default:
      return { type, keySize: 4, valueSize: 4, maxEntries: 1 };
  }
}

function probe(
  cache: WeakMap<Sys, Map<number, boolean>>,
  sys: Sys,
  type: number,
  attempt: () => void,
): boolean {
  let m = cache.get(sys);
  if (m === undefined) {
    m = new Map();
    cache.set(sys, m);
  }
  const known = m.get(type);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    attempt();
    ok = true;
  } catch (e) {
    // EPERM and the like are not answers about the kernel: let them through.
    if (!isLoadError(e) || e.errno === undefined || !ABSENT.has(e.errno)) throw e;
    ok = false;
  }
  m.set(type, ok);
  return ok;
}

/** Whether this kernel can create maps of `type` (an `enum bpf_map_type` value). */
export function probeMapType(sys: Sys, type: number): boolean {
  return probe(mapCache, sys, type, () =>
    createMap(sys, { ...probeShape(type), name: "tsbpf_probe" }).close(),
  );
}

/** `r0 = 0; exit` */
const RETURN_ZERO = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

/** Whether this kernel can load programs of `type` (an `enum bpf_prog_type` value) that need no attach target. */
export function probeProgramType(sys: Sys, type: number): boolean {
  return probe(progCache, sys, type, () =>
    loadProgram(sys, { type, insns: RETURN_ZERO, license: "GPL", name: "tsbpf_probe" }).fd.close(),
  );
}

/**
 * Whether this kernel has tcx (Linux 6.6+), which tc attachment prefers over a netlink cls_bpf
 * filter: asked without side effects, by BPF_PROG_QUERY of the loopback interface's tcx ingress
 * hook (every namespace has `lo` at ifindex 1), which older kernels refuse with EINVAL as an
 * unknown attach type. Needs CAP_NET_ADMIN (EPERM is thrown, not answered).
 */
export function probeTcx(sys: Sys): boolean {
  return probe(attachCache, sys, AttachType.tcx_ingress, () => {
    const { attr, ptrs } = progQueryAttr(1, AttachType.tcx_ingress, new Uint32Array(8), new Uint32Array(8));
    try {
      sys.bpf(BpfCmd.PROG_QUERY, attr, ptrs);
    } catch (e) {
      // ENOSPC: more programs on lo's tcx ingress than the room given; tcx is there.
      if (isSysError(e) && e.errno === Errno.ENOSPC) return;
      throw loadErrorFrom(e, "probe tcx: query the tcx ingress hook of lo");
    }
  });
}
