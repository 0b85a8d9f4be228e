import { join } from "node:path";
import { hostPossibleCpus } from "../backend/possible-cpus.js";
import { LoadError } from "../errors.js";
import type { CollectionSpec } from "../object/types.js";
import { instrumentCollection } from "../stats/instrument.js";
import { type StatsReport, readStatsMap } from "../stats/read-stats.js";
import { KernelMap } from "./kernel-map.js";
import { getMapInfo, getPinned } from "./object-ops.js";
import { pinName } from "./pinning.js";
import { defaultSys, type Sys } from "./sys.js";

/**
 * The counts of a pipeline pinned under `dir` by `tsbpf attach --stats --pin DIR` (its stats
 * map is `DIR/maps/tsbpf_stats`), for the object `spec` it was loaded from: where each count
 * lives is a pure function of the object, so the object tells the layout. A map whose size does
 * not match the object's layout is refused (another object, or loaded without stats).
 */
export function readPinnedStats(dir: string, spec: CollectionSpec, sys: Sys = defaultSys()): StatsReport {
  const { spec: instrumented, layout } = instrumentCollection(spec);
  const mapSpec = instrumented.maps[layout.map];
  const path = join(dir, "maps", pinName(layout.map));
  let fd: ReturnType<typeof getPinned>;
  try {
    fd = getPinned(sys, path);
  } catch (e) {
    throw new LoadError(`no stats pinned at ${path}`, {
      cause: e,
      hint: "attach the pipeline with --stats --pin DIR",
    });
  }
  const info = getMapInfo(sys, fd.value);
  if (mapSpec === undefined || info.type !== mapSpec.type || info.valueSize !== layout.valueSize) {
    fd.close();
    throw new LoadError(`the stats map pinned at ${path} does not match ${spec.file ?? "the object"}`, {
      hint: "give the object the pipeline was attached with",
    });
  }
  const map = new KernelMap(sys, fd, mapSpec, {
    order: spec.byteOrder,
    possibleCpus: hostPossibleCpus(),
    kernelName: layout.map,
    pinnedAt: path,
    reused: true,
  });
  try {
    return readStatsMap(map, layout);
  } finally {
    fd.close();
  }
}
