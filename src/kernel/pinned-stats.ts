/**
 * The counters of a pipeline that runs pinned (`tsbpf up` or `attach --pin` with stats): where
 * each count is comes from the layout recorded in the pipeline's description (`DIR/meta`), the
 * counts from each object's pinned stats map (`DIR/<alias>/maps/<stats map>`). No object file is
 * needed, so the counts stay readable when the file has changed since.
 */
import { statSync } from "node:fs";
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

/** The stats map of one object, open, with where its counts are. */
interface OpenMap {
  map: KernelMap;
  layout: StatsLayout;
  fd: Fd;
  /** The map's kernel id: another id after an upgrade (new counters), the same after a swap. */
  id: number;
}

/** One version of the pipeline under a directory, open: its description, stats maps and entry. */
interface OpenVersion {
  meta: PinnedPipelineMeta;
  maps: Record<string, OpenMap>;
  /** The entry program, held for its kernel run stats. */
  entry: Fd;
  /** The inode of `DIR/meta` it was opened from: another one once DIR holds another version. */
  metaIno: bigint | undefined;
}

/** The inode of the description pinned under `dir`, undefined when there is none. */
function metaInode(dir: string): bigint | undefined {
  return statSync(join(dir, META_PIN), { bigint: true, throwIfNoEntry: false })?.ino;
}

/** Blocks the thread `ms` milliseconds (a refresh is synchronous, and waits only out an upgrade's rename). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * How long a refresh waits for `DIR/meta` to come back before taking the pipeline as taken down:
 * an upgrade moves the old version aside and the new one into DIR in two renames, and a reader
 * can look in between.
 */
const GONE_WAIT_MS = 200;

/** Opens the version of the pipeline pinned under `dir` now (see {@link PinnedStats.open}). */
function openVersion(dir: string, sys: Sys): OpenVersion {
  if (!readPinDir(dir).includes(META_PIN)) {
    throw new LoadError(`${dir} holds a pinned link but no description: its stats cannot be found`, {
      hint: `it was pinned by an older tsbpf; take it down with tsbpf down --pin ${dir}`,
    });
  }
  const metaIno = metaInode(dir);
  const meta = readMeta(sys, join(dir, META_PIN));
  const layouts = meta.stats ?? {};
  if (Object.keys(layouts).length === 0) {
    throw new LoadError(`pipeline ${meta.name} under ${dir} was put up without stats`, {
      hint: "add stats: true to its pipeline file (or pass --stats) and put it up again",
    });
  }
  const maps: Record<string, OpenMap> = {};
  const held: Fd[] = [];
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
      held.push(fd);
      const info = getMapInfo(sys, fd.value);
      if (info.type !== MapType.percpu_array || info.valueSize !== layout.valueSize) {
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
      maps[alias] = { map, layout, fd, id: info.id };
    }
    const { object, program } = meta.entry;
    const pin = meta.pins.find((p) => p.object === object && p.kind === "program" && p.name === program);
    if (pin === undefined) throw new LoadError(`the entry ${program} of ${meta.name} is not pinned`);
    const entry = getPinned(sys, join(dir, pin.path));
    return { meta, maps, entry, metaIno };
  } catch (e) {
    for (const fd of held) fd.close();
    throw e;
  }
}

function closeVersion(v: OpenVersion): void {
  for (const m of Object.values(v.maps)) m.fd.close();
  v.entry.close();
}

/**
 * The pinned counters of one pipeline, open for reading again and again (`tsbpf top`): the stats
 * maps and the entry program stay open for the reader's life, so a refresh reads through the fds
 * it has (one `stat` of `DIR/meta` to see whether DIR still holds the version it opened). When it
 * holds another (an upgrade, which brings new counters and a new entry, or `down` then `up`), the
 * reader lets the old version go and opens the new one, and {@link generation} counts it.
 */
export class PinnedStats {
  #v: OpenVersion;
  #generation = 0;

  private constructor(
    /** The pipeline's pin directory. */
    readonly dir: string,
    v: OpenVersion,
    private readonly sys: Sys,
  ) {
    this.#v = v;
  }

  /**
   * Opens the counters of the pipeline pinned under `dir`. A LoadError when nothing is pinned
   * there, or when it was put up without stats.
   */
  static open(dir: string, sys: Sys = defaultSys()): PinnedStats {
    return new PinnedStats(dir, openVersion(dir, sys), sys);
  }

  /** The description of the version read now. */
  get meta(): PinnedPipelineMeta {
    return this.#v.meta;
  }

  /**
   * How many times the counters started again since open: each time DIR held a version with other
   * stats maps (an upgrade, or `down` then `up`). Counts of two generations are not comparable.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Follows DIR to the version pinned there now: nothing to do while `DIR/meta` is the one
   * opened; else the new version is opened and the old one closed. A LoadError when the
   * pipeline was taken down (or put up again without stats).
   */
  #follow(): OpenVersion {
    let ino = metaInode(this.dir);
    if (ino !== undefined && ino === this.#v.metaIno) return this.#v;
    for (let waited = 0; ino === undefined && waited < GONE_WAIT_MS; waited += 5) {
      pause(5);
      ino = metaInode(this.dir);
    }
    if (ino === undefined) {
      throw new LoadError(`pipeline ${this.#v.meta.name} under ${this.dir} was taken down`, {
        hint: "put it up again, then read its counts",
      });
    }
    if (ino === this.#v.metaIno) return this.#v;
    const next = openVersion(this.dir, this.sys);
    const ids = (v: OpenVersion): string =>
      Object.entries(v.maps)
        .map(([alias, m]) => `${alias}:${m.id}`)
        .join(",");
    if (ids(next) !== ids(this.#v)) this.#generation++;
    closeVersion(this.#v);
    this.#v = next;
    return next;
  }

  /** The counts now, summed over CPUs; program names are `alias:name` with several objects. */
  read(): StatsReport {
    const { maps } = this.#follow();
    return mergeStats(
      Object.fromEntries(
        Object.entries(maps).map(([alias, { map, layout }]) => [alias, readStatsMap(map, layout)]),
      ),
    );
  }

  /**
   * The kernel's run count and run time of the entry program: the whole chain's, since stages
   * that are tail-called run inside the entry's time. The kernel counts only while some process
   * holds BPF_ENABLE_STATS ({@link enableRunTime}).
   */
  entryRunStats(): ProgramRunStats {
    return getProgramRunStats(this.sys, this.#follow().entry.value);
  }

  /** Makes the kernel count run time (BPF_ENABLE_STATS) until the returned handle is closed. */
  enableRunTime(): { close(): void } {
    return enableRunTimeStats(this.sys);
  }

  /** Releases the maps and the entry program (the pins stay). */
  close(): void {
    closeVersion(this.#v);
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
