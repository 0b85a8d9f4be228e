/**
 * A pipeline put up on the kernel so that it keeps running after the process exits (`tsbpf up`),
 * looked at (`status`) and taken down (`down`). Loading, attaching and pinning are the kernel
 * engine's (kernel/pipeline-pins.ts, imported on use so the VM path never loads native code);
 * this layer decides what goes up where, and whether what is up already is the same pipeline:
 * a content hash over the objects' bytes, the resolved wiring and the attach point.
 */
import { readFile } from "node:fs/promises";
import { basename, isAbsolute, resolve } from "node:path";
import { ProgType } from "../abi/index.js";
import { isTsbpfError, NotSupportedError, PipelineError, UsageError } from "../errors.js";
import type { KernelCollection } from "../kernel/kernel-collection.js";
import type { KernelXdpLink } from "../kernel/kernel-link.js";
import type { PipelineDescription } from "../kernel/pipeline-meta.js";
import type { UnpinResult } from "../kernel/pipeline-pins.js";
import type { PinnedPipelineStatus } from "../kernel/pipeline-status.js";
import type { Sys } from "../kernel/sys.js";
import type { CollectionSpec } from "../object/types.js";
import { type StatsReport, statsLayoutOf } from "../stats/read-stats.js";
import type { PinnedStats } from "../kernel/pinned-stats.js";
import { parsePipelineDefinition } from "./definition.js";
import { readFailure, sha256Hex } from "./files.js";
import { type Pipeline, pinDirOf } from "./pipeline.js";

/** Where a pipeline attaches, resolved from its file and the caller's options. */
export interface AttachPoint {
  iface: string;
  mode: "auto" | "native" | "generic" | "offload";
  /** The interface's network namespace; undefined for the caller's. */
  netns: string | undefined;
}

/** Options of {@link upPipeline}. */
export interface UpOptions {
  /** The interface's network namespace, instead of the file's `attach.netns`. */
  netns: string;
  /** The bpffs directory, instead of the file's `pin:` (default /sys/fs/bpf/tsbpf/NAME). */
  pinDir: string;
  /** Where warnings go (default `process.emitWarning`). */
  onWarning: (message: string) => void;
  /** Aborting before the pipeline is pinned undoes everything (Ctrl+C during `tsbpf up`). */
  signal: AbortSignal;
  /** What to record as having put it up (default "library"; the CLI says "tsbpf up"). */
  by: string;
  /** Load with per-stage counters (`--stats`), instead of the file's `stats:`. */
  stats: boolean;
  /** @internal The syscall layer. */
  sys: Sys;
}

/** What {@link upPipeline} did. */
export interface UpResult {
  /** False when the same pipeline was up already: nothing was changed. */
  changed: boolean;
  /** Whether a bpffs had to be mounted on /sys/fs/bpf first. */
  mountedBpffs: boolean;
  /** The pipeline as it runs now. */
  status: PinnedPipelineStatus;
}

/** Options of {@link pipelineStatus} and {@link downPipeline}. */
export interface PinnedOptions {
  /**
   * The network namespace the interface is in. For status, where to look it up (default: where
   * it was attached). For down, a check: a pipeline not attached there is refused.
   */
  netns: string;
  /** @internal The syscall layer. */
  sys: Sys;
}

/** What {@link pipelineStatus} reports about a pipeline given as a {@link Pipeline}. */
export interface PipelineStatus extends PinnedPipelineStatus {
  /** Whether what runs is this pipeline as it is now (same content hash); undefined for a directory. */
  current: boolean | undefined;
}

/** Where `pipeline` attaches: its file's `attach:` with `netns` instead, when given. */
export function attachPointOf(pipeline: Pipeline, netns?: string): AttachPoint {
  const a = pipeline.attach;
  if (a === undefined) {
    const e = new PipelineError(
      `${basename(pipeline.file ?? pipeline.name)}: attach: missing: up attaches the entry program to attach.iface`,
      { hint: "add attach: { iface: IF, mode: auto } to the pipeline file" },
    );
    e.field = "attach";
    throw e;
  }
  return { iface: a.iface, mode: a.mode, netns: netns ?? a.netns };
}

/** Sorted, for a hash that does not depend on the order things were written in. */
const sorted = <T>(xs: T[]): T[] => xs.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

/** A digest of what a spec loads: programs' instructions, maps and their initial data. */
function specDigest(spec: CollectionSpec): string {
  return sha256Hex(
    JSON.stringify(
      {
        programs: Object.values(spec.programs).map((p) => [p.name, p.section, p.instructions]),
        maps: Object.values(spec.maps).map((m) => [
          m.name,
          m.type,
          m.keySize,
          m.valueSize,
          m.maxEntries,
          m.flags,
        ]),
      },
      (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
    ),
  );
}

/**
 * The content hash of `pipeline` attached at `at`: each object's bytes (or, for a pipeline made
 * in code, what its spec loads), its `.rodata` as `globals:` left it, the entry, every slot, and
 * the attach point. Two `up`s with the same hash put up the same thing.
 */
export function pipelineContentHash(
  pipeline: Pipeline,
  at: AttachPoint,
  stats: boolean = pipeline.definition?.stats ?? false,
): string {
  const objects = Object.keys(pipeline.plan.objects)
    .sort()
    .map((alias) => {
      const spec = pipeline.plan.objects[alias] as CollectionSpec;
      const rodata = spec.maps[".rodata"]?.initialData;
      return [
        alias,
        pipeline.sources[alias]?.sha256 ?? specDigest(spec),
        rodata === undefined ? null : sha256Hex(rodata),
      ];
    });
  const slots = sorted(
    pipeline.plan.slots.map((s) => [s.object, s.map, s.key, s.program.object, s.program.program]),
  );
  const entry = pipeline.entry();
  return sha256Hex(
    JSON.stringify({
      v: 1,
      name: pipeline.name,
      objects,
      entry: [entry.object, entry.program],
      slots,
      attach: [at.iface, at.mode, at.netns ?? null],
      // Instrumented programs are other programs: with and without stats are two versions.
      ...(stats ? { stats: true } : {}),
    }),
  );
}

/**
 * What gets pinned with `pipeline` as its description, once its entry is attached (`ifindex`,
 * `attachedMode` from the kernel).
 */
export function describePipeline(
  pipeline: Pipeline,
  at: AttachPoint & { ifindex: number; attachedMode: string; by: string; stats?: boolean },
): PipelineDescription {
  const objects: PipelineDescription["objects"] = {};
  for (const [alias, spec] of Object.entries(pipeline.plan.objects)) {
    const src = pipeline.sources[alias];
    objects[alias] = { file: src?.file ?? spec.file, sha256: src?.sha256 };
  }
  const entry = pipeline.entry();
  return {
    name: pipeline.name,
    file: pipeline.file === undefined ? pipeline.sources.main?.file : resolve(pipeline.file),
    by: at.by,
    objects,
    entry: { object: entry.object, program: entry.program },
    slots: pipeline.plan.slots.map((s) => ({
      object: s.object,
      map: s.map,
      key: s.key,
      program: { object: s.program.object, program: s.program.program },
    })),
    attach: {
      iface: at.iface,
      ifindex: at.ifindex,
      netns: at.netns ?? null,
      mode: at.mode,
      attachedMode: at.attachedMode,
    },
    hash: pipelineContentHash(pipeline, at, at.stats),
  };
}

/** Lets a pending signal handler run, then says whether `signal` aborted. */
async function aborted(signal: AbortSignal | undefined): Promise<boolean> {
  if (signal === undefined) return false;
  await new Promise((r) => setImmediate(r));
  return signal.aborted;
}

/**
 * Puts `pipeline` up on the kernel (root): loads every object, fills every slot, attaches the
 * entry to `attach.iface` in `attach.mode` through a bpf_link (in `attach.netns`), and pins it
 * all under its pin directory, so that it runs on after this process exits. If the same pipeline
 * (same content hash) is up there already, nothing changes (`changed: false`); another pipeline,
 * or another version of this one, is refused: upgrading a running pipeline is not supported yet.
 * If anything fails, nothing is left behind (no pin, no attachment, no fd) and the error says
 * what failed.
 */
export async function upPipeline(pipeline: Pipeline, opts: Partial<UpOptions> = {}): Promise<UpResult> {
  const at = attachPointOf(pipeline, opts.netns);
  const dir = opts.pinDir ?? pipeline.pinDir;
  if (!isAbsolute(dir)) {
    throw new UsageError(`pin directory '${dir}' is not an absolute path`, {
      hint: "pins live in bpffs, e.g. /sys/fs/bpf/tsbpf/NAME",
    });
  }
  const entry = pipeline.entry();
  const entrySpec = pipeline.plan.objects[entry.object]?.programs[entry.program];
  if (entrySpec !== undefined && entrySpec.type !== ProgType.xdp) {
    throw new UsageError(
      `pipeline ${pipeline.name}: the entry ${entry.program} is a ${entrySpec.typeName} program; up attaches XDP programs`,
    );
  }
  const { checkNetns } = await import("../kernel/netns.js");
  const { preparePinDir, removePin } = await import("../kernel/pinning.js");
  const { checkPinDirFree, holdsPipeline, pinPipeline } = await import("../kernel/pipeline-pins.js");
  const { readPinnedPipeline } = await import("../kernel/pipeline-status.js");
  const { defaultSys } = await import("../kernel/sys.js");
  const sys = opts.sys ?? defaultSys();
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, { code: "TSBPF_UP" }));
  // A typo in the namespace, a pin directory that would vanish: said before anything is loaded.
  if (at.netns !== undefined) checkNetns(at.netns);
  const { mounted } = preparePinDir(sys, dir, warn, "up");
  const stats = opts.stats ?? pipeline.definition?.stats ?? false;
  const hash = pipelineContentHash(pipeline, at, stats);
  const statusOpts = at.netns === undefined ? {} : { netns: at.netns };
  if (holdsPipeline(dir)) {
    const now = readPinnedPipeline(dir, statusOpts, sys);
    const from = now.meta.file === undefined ? "" : ` from ${now.meta.file}`;
    if (now.meta.hash !== hash) {
      throw new NotSupportedError(
        `${dir} already runs pipeline ${now.meta.name} (up since ${now.meta.upAt}${from}) with other content; changing a running pipeline is an upgrade, which tsbpf does not do yet: nothing was changed`,
        { hint: `for now, take it down first (tsbpf down --pin ${dir}), then put it up again` },
      );
    }
    if (!now.running) {
      throw new UsageError(
        `pipeline ${now.meta.name} is pinned at ${dir} but does not run: ${now.problems.join("; ") || "its link attaches nothing"}`,
        { hint: `take it down (tsbpf down --pin ${dir}), then put it up again` },
      );
    }
    return { changed: false, mountedBpffs: mounted, status: now };
  }
  checkPinDirFree(dir);
  if (await aborted(opts.signal)) throw interrupted(dir);

  const loaded = await pipeline.load({
    backend: "kernel",
    ...(at.netns === undefined ? {} : { netns: at.netns }),
    ...(opts.onWarning === undefined ? {} : { onWarning: opts.onWarning }),
    stats,
  });
  const collections = loaded.collections as Record<string, KernelCollection>;
  // by_name pins this load made: gone again if the pipeline does not go up.
  const madeByName = Object.values(collections).flatMap((c) =>
    Object.values(c.maps).flatMap((m) => (m.pinnedAt !== undefined && !m.reused ? [m.pinnedAt] : [])),
  );
  let up = false;
  let link: KernelXdpLink | undefined;
  try {
    const program = collections[entry.object]?.programs[entry.program];
    if (program === undefined) throw new UsageError(`pipeline ${pipeline.name}: no program ${entry.program}`);
    if (await aborted(opts.signal)) throw interrupted(dir);
    link = await program.attachXdp({ iface: at.iface, mode: at.mode, method: "link" });
    const now = link.attachment();
    const attachedMode = now.attached === "none" || now.attached === "multi" ? at.mode : now.attached;
    if (await aborted(opts.signal)) throw interrupted(dir);
    pinPipeline(
      dir,
      {
        link,
        objects: Object.fromEntries(
          Object.entries(collections).map(([alias, c]) => [
            alias,
            {
              maps: Object.values(c.maps),
              programs: Object.values(c.programs),
              stats: statsLayoutOf(c.spec),
            },
          ]),
        ),
        description: describePipeline(pipeline, {
          ...at,
          ifindex: link.ifindex,
          attachedMode,
          by: opts.by ?? "library",
          stats,
        }),
      },
      sys,
    );
    up = true;
  } finally {
    // Pinned: only this process's fds go. Not pinned: the link detaches, the maps and programs go.
    try {
      link?.close();
    } finally {
      loaded.close();
      if (!up) for (const p of madeByName) removePin(p);
    }
  }
  return { changed: true, mountedBpffs: mounted, status: readPinnedPipeline(dir, statusOpts, sys) };
}

function interrupted(dir: string): UsageError {
  return new UsageError(`interrupted: nothing was put up at ${dir}, and nothing is left behind`);
}

/**
 * What runs under a pipeline's pin directory (`target` is the directory, or a {@link Pipeline}
 * whose pin directory it is; then `current` says whether what runs is this pipeline as it is
 * now). A UsageError when nothing is up there.
 */
export async function pipelineStatus(
  target: Pipeline | string,
  opts: Partial<PinnedOptions> = {},
): Promise<PipelineStatus> {
  const { readPinnedPipeline } = await import("../kernel/pipeline-status.js");
  const { defaultSys } = await import("../kernel/sys.js");
  const dir = typeof target === "string" ? target : target.pinDir;
  const netns = opts.netns;
  const s = readPinnedPipeline(dir, netns === undefined ? {} : { netns }, opts.sys ?? defaultSys());
  let current: boolean | undefined;
  if (typeof target !== "string") {
    try {
      const at = attachPointOf(target, s.meta.attach.netns ?? undefined);
      current = pipelineContentHash(target, at, s.meta.stats !== undefined) === s.meta.hash;
    } catch (e) {
      if (!isTsbpfError(e)) throw e;
      current = false;
    }
  }
  return { ...s, current };
}

/**
 * Takes the pipeline pinned under `dir` down (`tsbpf down`, `tsbpf detach --pin`): detaches it,
 * then removes every pin it made and the directory.
 */
export async function downPipeline(dir: string, opts: Partial<PinnedOptions> = {}): Promise<UnpinResult> {
  const { unpinPipeline } = await import("../kernel/pipeline-pins.js");
  const { checkNetns } = await import("../kernel/netns.js");
  const { defaultSys } = await import("../kernel/sys.js");
  if (opts.netns !== undefined) checkNetns(opts.netns);
  return unpinPipeline(dir, opts.netns === undefined ? {} : { netns: opts.netns }, opts.sys ?? defaultSys());
}

/**
 * The pin directory of pipeline file `file` from its YAML alone, so that `down` and `status`
 * work even when its objects can no longer be read.
 */
export async function pinDirOfFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new PipelineError(`${file}: cannot read: ${readFailure(e)}`);
  }
  return pinDirOf(parsePipelineDefinition(text, basename(file)));
}

/**
 * The per-stage counts of a pipeline that is up with stats (`tsbpf stats`): `target` is its pin
 * directory or a {@link Pipeline} whose pin directory it is. A LoadError when it went up without.
 */
export async function pipelineStats(
  target: Pipeline | string,
  opts: { sys?: Sys } = {},
): Promise<StatsReport> {
  const { readPinnedStats } = await import("../kernel/pinned-stats.js");
  const { defaultSys } = await import("../kernel/sys.js");
  return readPinnedStats(typeof target === "string" ? target : target.pinDir, opts.sys ?? defaultSys());
}

/**
 * The counters of a pipeline that is up with stats, open for repeated reads (`tsbpf top`); close
 * it when done.
 */
export async function openPipelineStats(
  target: Pipeline | string,
  opts: { sys?: Sys } = {},
): Promise<PinnedStats> {
  const { PinnedStats } = await import("../kernel/pinned-stats.js");
  const { defaultSys } = await import("../kernel/sys.js");
  return PinnedStats.open(typeof target === "string" ? target : target.pinDir, opts.sys ?? defaultSys());
}
