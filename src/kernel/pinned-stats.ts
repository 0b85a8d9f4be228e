/**
 * The counters of a pipeline that runs pinned (`tsbpf up` or `attach --pin` with stats): where
 * each count is comes from the layout recorded in the pipeline's description (`DIR/meta`), the
 * counts from each object's pinned stats map (`DIR/<alias>/maps/<stats map>`). No object file is
 * needed, so the counts stay readable when the file has changed since.
 */
import { join } from "node:path";
import { hostPossibleCpus } from "../backend/possible-cpus.js";
import { LoadError } from "../errors.js";
import { statsMapSpec } from "../stats/instrument.js";
import type { StatsLayout } from "../stats/layout.js";
import { mergeStats, readStatsMap, type StatsReport } from "../stats/read-stats.js";
import { MapType } from "../abi/index.js";
import { KernelMap } from "./kernel-map.js";
import { getMapInfo, getPinned } from "./object-ops.js";
import { type PinnedPipelineMeta, readMeta } from "./pipeline-meta.js";
import { META_PIN, readPinDir } from "./pipeline-pins.js";
import { enableRunTimeStats, getProgramRunStats, type ProgramRunStats } from "./run-stats.js";
import type { Fd } from "./fd.js";
import { defaultSys, type Sys } from "./sys.js";

/** The pinned counters of one pipeline, open for reading again and again (`tsbpf top`). */
export class PinnedStats {
  private constructor(
    /** The pipeline's pin directory. */
    readonly dir: string,
    /** Its description. */
    readonly meta: PinnedPipelineMeta,
    private readonly maps: Record<string, { map: KernelMap; layout: StatsLayout; fd: Fd }>,
    private readonly sys: Sys,
  ) {}

  /**
   * Opens the counters of the pipeline pinned under `dir`. A LoadError when nothing is pinned
   * there, or when it was put up without stats.
   */
  static open(dir: string, sys: Sys = defaultSys()): PinnedStats {
    if (!readPinDir(dir).includes(META_PIN)) {
      throw new LoadError(`${dir} holds a pinned link but no description: its stats cannot be found`, {
        hint: `it was pinned by an older tsbpf; take it down with tsbpf down --pin ${dir}`,
      });
    }
    const meta = readMeta(sys, join(dir, META_PIN));
    const layouts = meta.stats ?? {};
    if (Object.keys(layouts).length === 0) {
      throw new LoadError(`pipeline ${meta.name} under ${dir} was put up without stats`, {
        hint: "add stats: true to its pipeline file (or pass --stats) and put it up again",
      });
    }
    const maps: Record<string, { map: KernelMap; layout: StatsLayout; fd: Fd }> = {};
    try {
      for (const [alias, layout] of Object.entries(layouts)) {
        const pin = meta.pins.find((p) => p.object === alias && p.kind === "map" && p.name === layout.map);
        const path = join(dir, pin?.path ?? join(alias, "maps", layout.map));
        let fd: Fd;
        try {
          fd = getPinned(sys, path);
        } catch (e) {
          throw new LoadError(`the stats map of ${meta.name} is not pinned at ${path}`, {
            cause: e,
            hint: `the pipeline's pins were changed by hand; take it down and up again`,
          });
        }
        const info = getMapInfo(sys, fd.value);
        if (info.type !== MapType.percpu_array || info.valueSize !== layout.valueSize) {
          fd.close();
          throw new LoadError(`${path} is not the stats map ${meta.name} went up with`, {
            hint: "the pipeline's pins were changed by hand; take it down and up again",
          });
        }
        const map = new KernelMap(sys, fd, statsMapSpec(layout), {
          order: "little",
          possibleCpus: hostPossibleCpus(),
          kernelName: layout.map,
          pinnedAt: path,
          reused: true,
        });
        maps[alias] = { map, layout, fd };
      }
    } catch (e) {
      for (const m of Object.values(maps)) m.fd.close();
      throw e;
    }
    return new PinnedStats(dir, meta, maps, sys);
  }

  /** The counts now, summed over CPUs; program names are `alias:name` with several objects. */
  read(): StatsReport {
    return mergeStats(
      Object.fromEntries(
        Object.entries(this.maps).map(([alias, { map, layout }]) => [alias, readStatsMap(map, layout)]),
      ),
    );
  }

  /**
   * The kernel's run count and run time of the entry program: the whole chain's, since stages
   * that are tail-called run inside the entry's time. The kernel counts only while some process
   * holds BPF_ENABLE_STATS ({@link enableRunTime}).
   */
  entryRunStats(): ProgramRunStats {
    const { object, program } = this.meta.entry;
    const pin = this.meta.pins.find((p) => p.object === object && p.kind === "program" && p.name === program);
    if (pin === undefined) throw new LoadError(`the entry ${program} of ${this.meta.name} is not pinned`);
    const fd = getPinned(this.sys, join(this.dir, pin.path));
    try {
      return getProgramRunStats(this.sys, fd.value);
    } finally {
      fd.close();
    }
  }

  /** Makes the kernel count run time (BPF_ENABLE_STATS) until the returned handle is closed. */
  enableRunTime(): { close(): void } {
    return enableRunTimeStats(this.sys);
  }

  /** Releases the maps (the pins stay). */
  close(): void {
    for (const m of Object.values(this.maps)) m.fd.close();
  }
}

/** The counts of the pipeline pinned under `dir`, once (`tsbpf stats`). */
export function readPinnedStats(dir: string, sys: Sys = defaultSys()): StatsReport {
  const s = PinnedStats.open(dir, sys);
  try {
    return s.read();
  } finally {
    s.close();
  }
}
