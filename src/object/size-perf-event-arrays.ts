import { MapType } from "../abi/index.js";
import type { CollectionSpec } from "./types.js";

/**
 * `spec` with every perf event array that declares no `max_entries` sized to `cpus` slots, as
 * libbpf does (the kernel refuses 0, and a reader needs a slot per CPU); `spec` itself when none.
 * Both engines apply it when they load, so a collection loaded through either engine's own entry
 * point (not only `Collection.load`) gets the same sizes. `cpus` may be a function, called only
 * when some array needs it: a load that has none reads no CPU list.
 */
export function sizePerfEventArrays(spec: CollectionSpec, cpus: number | (() => number)): CollectionSpec {
  const unsized = Object.values(spec.maps).filter(
    (m) => m.type === MapType.perf_event_array && m.maxEntries === 0,
  );
  if (unsized.length === 0) return spec;
  const n = typeof cpus === "number" ? cpus : cpus();
  const maps = { ...spec.maps };
  for (const m of unsized) maps[m.name] = { ...m, maxEntries: n };
  return { ...spec, maps };
}
