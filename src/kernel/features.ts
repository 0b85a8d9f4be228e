/**
 * Probes of what the running kernel supports, by trying the smallest possible object. Results
 * are cached per {@link Sys}, because they cannot change while the kernel runs.
 */
import { Errno, MapFlag, MapType } from "../abi/index.js";
import { isLoadError, UsageError } from "../errors.js";
import { type CreateMapOptions, createMap } from "./map-ops.js";
import { loadProgram } from "./program-ops.js";
import type { Sys } from "./sys.js";

const mapCache = new WeakMap<Sys, Map<number, boolean>>();
const progCache = new WeakMap<Sys, Map<number, boolean>>();

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
