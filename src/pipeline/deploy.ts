/**
 * A pipeline put up on the kernel so that it keeps running after the process exits (`tsbpf up`),
 * looked at (`status`) and taken down (`down`). Loading, attaching and pinning are the kernel
 * engine's (kernel/pipeline-pins.ts, imported on use so the VM path never loads native code);
 * this layer decides what goes up where, and whether what is up already is the same pipeline:
 * a content hash over the objects' bytes, the resolved wiring and the attach point.
 */
import { basename, isAbsolute, join, resolve } from "node:path";
import { ProgType } from "../abi/index.js";
import { isTsbpfError, PipelineError, UsageError } from "../errors.js";
import type { KernelCollection } from "../kernel/kernel-collection.js";
import type { KernelXdpLink } from "../kernel/kernel-link.js";
import type { KernelTcLink } from "../kernel/tc-link.js";
import type { KernelTcFilter } from "../kernel/tc-netlink.js";
import type { AttachmentKind, PipelineDescription, PipelineHook } from "../kernel/pipeline-meta.js";
import type { UnpinResult } from "../kernel/pipeline-pins.js";
import type { PinnedPipelineStatus } from "../kernel/pipeline-status.js";
import type { Sys } from "../kernel/sys.js";
import type { CollectionSpec } from "../object/types.js";
import { type StatsReport, statsLayoutOf } from "../stats/read-stats.js";
import type { PinnedStats } from "../kernel/pinned-stats.js";
import type { PinnedPipelineMeta } from "../kernel/pipeline-meta.js";
import { readFailure, readFileAsync, sha256Hex } from "./files.js";
import { type Pipeline, pinDirOf } from "./pipeline.js";

/** Where a pipeline attaches, resolved from its file and the caller's options. */
export interface AttachPoint {
  iface: string;
  /** The XDP mode (meaningless for a tc hook, where it stays the file's, default `auto`). */
  mode: "auto" | "native" | "generic" | "offload";
  /** The interface's network namespace; undefined for the caller's. */
  netns: string | undefined;
  /** Where on the interface the entry runs (default xdp). */
  hook: PipelineHook;
  /** tc hooks: a tcx link, a netlink cls_bpf filter, or auto (tcx where the kernel has it); default auto. */
  tcMode?: "auto" | "tcx" | "filter";
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

/** What an upgrade did with one map the file's `state:` names. */
export interface StateMapOutcome {
  object: string;
  map: string;
  /** Whether the new version took the running version's map over (else it starts fresh). */
  carried: boolean;
  /** Why it starts fresh, when it does. */
  why?: string;
}

/** What {@link upPipeline} did when another version was up: an upgrade. */
export interface UpgradeInfo {
  /** When the replaced version went up, and its content hash. */
  previous: { upAt: string; hash: string };
  /** Each map of the file's `state:`: carried over or fresh. */
  state: StateMapOutcome[];
  /** The replaced version's counts, read after the switch and the grace period (it ran with stats). */
  finalStats: StatsReport | undefined;
  /** How long the grace period between the switch and the release took (ms). */
  graceMs: number;
}

/** What {@link upPipeline} did. */
export interface UpResult {
  /** False when the same pipeline was up already: nothing was changed (but see `restored`). */
  changed: boolean;
  /** Set when another version was up and was replaced in place (upgrade). */
  upgraded?: UpgradeInfo;
  /**
   * Slots that did not hold the file's program (a `tsbpf swap` since) and were put back, as
   * `map[key]: was -> now`.
   */
  restored: string[];
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
  return {
    iface: a.iface,
    mode: a.mode,
    netns: netns ?? a.netns,
    hook: a.hook ?? "xdp",
    ...(a.tcMode === undefined ? {} : { tcMode: a.tcMode }),
  };
}

/** The program type a hook runs, as ProgType and as written in messages. */
export function hookProgType(hook: PipelineHook): { type: number; name: string } {
  return hook === "xdp"
    ? { type: ProgType.xdp, name: "XDP" }
    : { type: ProgType.sched_cls, name: "tc (sched_cls)" };
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
      // XDP pipelines hash as they did before tc hooks existed.
      ...(at.hook === "xdp" ? {} : { hook: at.hook }),
      // A tc mode asked for is part of what goes up (auto, the default, hashes as before).
      ...(at.tcMode === undefined || at.tcMode === "auto" ? {} : { tcMode: at.tcMode }),
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
  at: AttachPoint & {
    ifindex: number;
    attachedMode: string;
    by: string;
    stats?: boolean;
    /** How the entry is attached at a tc hook (default a tcx link). */
    attachment?: AttachmentKind;
  },
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
      ...(at.hook === "xdp" ? {} : { hook: at.hook, attachment: at.attachment ?? { kind: "tcx" as const } }),
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
 * entry to `attach.iface` through a bpf_link (in `attach.netns`): XDP in `attach.mode`, or with
 * `attach.hook: tc-ingress|tc-egress` a tcx link appended after what other tools attached there, and pins it
 * all under its pin directory, so that it runs on after this process exits. If the same pipeline
 * (same content hash) is up there already, nothing changes (`changed: false`) except slots a
 * swap changed, which are put back (`restored`). Another version of it (same name and attach
 * point) is upgraded with no packet lost (`upgraded`; see kernel/pipeline-upgrade.ts): `state:`
 * maps carried over, the old version's final counts read after the switch. Another pipeline, or
 * another attach point, is refused. If anything fails, nothing is left behind (no pin, no
 * attachment, no fd; in an upgrade, the old version runs on untouched) and the error says what
 * failed.
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
  const wanted = hookProgType(at.hook);
  if (entrySpec !== undefined && entrySpec.type !== wanted.type) {
    const f = basename(pipeline.file ?? pipeline.name);
    throw new UsageError(
      `${f}: the entry ${entry.program} is a ${entrySpec.typeName} program; attach.hook ${at.hook} runs ${wanted.name} programs`,
      {
        hint:
          at.hook === "xdp"
            ? "for a tc program write attach: {hook: tc-ingress} (or tc-egress)"
            : "for an XDP program leave attach.hook out (or write xdp)",
      },
    );
  }
  const { checkNetns } = await import("../kernel/netns.js");
  const { preparePinDir, removePin } = await import("../kernel/pinning.js");
  const { checkPinDirFree, holdsPipeline, pinPipeline } = await import("../kernel/pipeline-pins.js");
  const { readPinnedPipeline } = await import("../kernel/pipeline-status.js");
  const { hookOf, tcHookOf } = await import("../kernel/pipeline-meta.js");
  const { defaultSys } = await import("../kernel/sys.js");
  const sys = opts.sys ?? defaultSys();
  const warn = warner(opts.onWarning, "TSBPF_UP");
  // A typo in the namespace, a pin directory that would vanish: said before anything is loaded.
  if (at.netns !== undefined) checkNetns(at.netns);
  const { mounted } = preparePinDir(sys, dir, warn, "up");
  const stats = opts.stats ?? pipeline.definition?.stats ?? false;
  const hash = pipelineContentHash(pipeline, at, stats);
  const statusOpts = at.netns === undefined ? {} : { netns: at.netns };
  // The file's state: names are checked on every up, not only when there is a version to carry from.
  stateMaps(pipeline, undefined, dir);
  let previous: PinnedPipelineMeta | undefined;
  if (holdsPipeline(dir)) {
    const now = readPinnedPipeline(dir, statusOpts, sys);
    if (!now.running) {
      throw new UsageError(
        `pipeline ${now.meta.name} is pinned at ${dir} but does not run: ${now.problems.join("; ") || "its link attaches nothing"}`,
        { hint: `take it down (tsbpf down --pin ${dir}), then put it up again` },
      );
    }
    if (now.meta.hash === hash) {
      const restored = await restoreSlots(dir, now, sys);
      return {
        changed: false,
        restored,
        mountedBpffs: mounted,
        status: readPinnedPipeline(dir, statusOpts, sys),
      };
    }
    const a = now.meta.attach;
    if (
      now.meta.name !== pipeline.name ||
      a.iface !== at.iface ||
      (a.netns ?? undefined) !== at.netns ||
      a.mode !== at.mode ||
      hookOf(a) !== at.hook
    ) {
      const from = now.meta.file === undefined ? "" : ` from ${now.meta.file}`;
      const how = (hook: PipelineHook, mode: string): string =>
        hook === "xdp" ? `in mode ${mode}` : `at hook ${hook}`;
      throw new UsageError(
        `${dir} runs pipeline ${now.meta.name} on ${a.iface}${a.netns === null ? "" : ` (netns ${a.netns})`} ${how(hookOf(a), a.mode)}${from}; this one is ${pipeline.name} on ${at.iface}${at.netns === undefined ? "" : ` (netns ${at.netns})`} ${how(at.hook, at.mode)}: an upgrade keeps the name and the attach point, nothing was changed`,
        { hint: `to move it, take it down first (tsbpf down --pin ${dir}), then put it up again` },
      );
    }
    const runsAs = now.meta.attach.attachment?.kind;
    const wants = at.tcMode === "filter" ? "tc-filter" : at.tcMode === "tcx" ? "tcx" : undefined;
    if (wants !== undefined && runsAs !== undefined && runsAs !== wants) {
      const name = (k: string): string => (k === "tc-filter" ? "a cls_bpf filter" : "a tcx link");
      throw new UsageError(
        `${dir} runs pipeline ${now.meta.name} attached as ${name(runsAs)}; this file asks for ${name(wants)} (tc-mode ${at.tcMode}): an upgrade keeps how it is attached, nothing was changed`,
        { hint: `to change it, take it down first (tsbpf down --pin ${dir}), then put it up again` },
      );
    }
    previous = now.meta;
  } else {
    checkPinDirFree(dir);
  }
  if (await aborted(opts.signal)) throw interrupted(dir);
  const state = previous === undefined ? [] : stateMaps(pipeline, previous, dir);
  const reuseMapsOf: Record<string, Record<string, string>> = {};
  for (const m of state) {
    if (!m.carried) continue;
    const maps = reuseMapsOf[m.object] ?? {};
    maps[m.map] = m.path;
    reuseMapsOf[m.object] = maps;
  }

  const loaded = await pipeline.load({
    backend: "kernel",
    ...(at.netns === undefined ? {} : { netns: at.netns }),
    ...(opts.onWarning === undefined ? {} : { onWarning: opts.onWarning }),
    stats,
    reuseMapsOf,
  });
  const collections = loaded.collections as Record<string, KernelCollection>;
  // by_name pins this load made: gone again if the pipeline does not go up.
  const madeByName = Object.values(collections).flatMap((c) =>
    Object.values(c.maps).flatMap((m) => (m.pinnedAt !== undefined && !m.reused ? [m.pinnedAt] : [])),
  );
  let up = false;
  let link: KernelXdpLink | KernelTcLink | KernelTcFilter | undefined;
  let upgraded: UpgradeInfo | undefined;
  try {
    const program = collections[entry.object]?.programs[entry.program];
    if (program === undefined) throw new UsageError(`pipeline ${pipeline.name}: no program ${entry.program}`);
    if (await aborted(opts.signal)) throw interrupted(dir);
    const objects = Object.fromEntries(
      Object.entries(collections).map(([alias, c]) => [
        alias,
        { maps: Object.values(c.maps), programs: Object.values(c.programs), stats: statsLayoutOf(c.spec) },
      ]),
    );
    const by = opts.by ?? "library";
    if (previous !== undefined) {
      const prev = previous;
      const { upgradePinnedPipeline } = await import("../kernel/pipeline-upgrade.js");
      const { readPinnedStats } = await import("../kernel/pinned-stats.js");
      let finalStats: StatsReport | undefined;
      const r = upgradePinnedPipeline(
        dir,
        {
          entryFd: program.fd,
          objects,
          description: describePipeline(pipeline, {
            ...at,
            ifindex: prev.attach.ifindex,
            attachedMode: prev.attach.attachedMode,
            by,
            stats,
            // The upgrade records the new entry's program id in a filter's description.
            ...(prev.attach.attachment === undefined ? {} : { attachment: prev.attach.attachment }),
          }),
        },
        sys,
        (oldDir) => {
          if (prev.stats !== undefined) finalStats = readPinnedStats(oldDir, sys);
        },
      );
      upgraded = {
        previous: { upAt: prev.upAt, hash: prev.hash },
        state: state.map(({ path: _p, ...o }) => o),
        finalStats,
        graceMs: r.graceMs,
      };
    } else {
      let attachedMode: string = at.hook;
      let attachment: AttachmentKind | undefined;
      let filter: KernelTcFilter | undefined;
      // What gets pinned as DIR/link: the link; a filter has none (it stays on its hook once kept).
      let pinnable: KernelXdpLink | KernelTcLink | undefined;
      if (at.hook === "xdp") {
        const xdp = await program.attachXdp({ iface: at.iface, mode: at.mode, method: "link" });
        link = xdp;
        pinnable = xdp;
        if (xdp.method !== "link") {
          throw new UsageError(
            `pipeline ${pipeline.name}: up needs a bpf_link at ${at.hook}, and this kernel attached otherwise`,
          );
        }
        const now = xdp.attachment();
        attachedMode = now.attached === "none" || now.attached === "multi" ? at.mode : now.attached;
      } else {
        // A tcx link appended after what other tools attached to the hook, or a cls_bpf filter
        // at a priority after theirs: never replacing what is there.
        const tc = await program.attachTc({
          iface: at.iface,
          hook: tcHookOf(at.hook) ?? "ingress",
          mode: at.tcMode ?? "auto",
          pinned: true,
        });
        link = tc;
        if (tc.method === "netlink") {
          const { filterAttachmentOf } = await import("../kernel/pipeline-filter.js");
          attachment = filterAttachmentOf(tc.describe());
          filter = tc;
        } else pinnable = tc;
      }
      if (await aborted(opts.signal)) throw interrupted(dir);
      pinPipeline(
        dir,
        {
          link: pinnable,
          objects,
          description: describePipeline(pipeline, {
            ...at,
            ifindex: link.ifindex,
            attachedMode,
            by,
            stats,
            ...(attachment === undefined ? {} : { attachment }),
          }),
        },
        sys,
      );
      filter?.keep();
    }
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
  return {
    changed: true,
    ...(upgraded === undefined ? {} : { upgraded }),
    restored: [],
    mountedBpffs: mounted,
    status: readPinnedPipeline(dir, statusOpts, sys),
  };
}

/** The file's `state:` maps, each with the running version's pin to take over, when it has one. */
function stateMaps(
  pipeline: Pipeline,
  previous: PinnedPipelineMeta | undefined,
  dir: string,
): (StateMapOutcome & { path: string })[] {
  const aliases = Object.keys(pipeline.plan.objects);
  return (pipeline.definition?.state ?? []).map((q) => {
    const object = q.object ?? (aliases.length === 1 ? (aliases[0] as string) : undefined);
    const spec = object === undefined ? undefined : pipeline.plan.objects[object];
    if (object === undefined || spec === undefined) {
      const e = new PipelineError(
        `${basename(pipeline.file ?? pipeline.name)}: ${q.field}: ${q.object === undefined ? `which object's ${q.name}? the pipeline has several` : `no object ${q.object}`}`,
        { hint: `write OBJECT:MAP, OBJECT one of ${aliases.join(", ")}` },
      );
      e.field = q.field;
      throw e;
    }
    if (spec.maps[q.name] === undefined) {
      const e = new PipelineError(
        `${basename(pipeline.file ?? pipeline.name)}: ${q.field}: ${object} has no map ${q.name}`,
        { hint: `its maps: ${Object.keys(spec.maps).join(", ")}` },
      );
      e.field = q.field;
      throw e;
    }
    const pin = previous?.pins.find((p) => p.object === object && p.kind === "map" && p.name === q.name);
    if (pin === undefined) {
      return { object, map: q.name, carried: false, why: "the running version has no such map", path: "" };
    }
    return { object, map: q.name, carried: true, path: join(dir, pin.path) };
  });
}

/**
 * Puts back, in each slot the file fills, the file's program where it holds another (a
 * `tsbpf swap` since `up`): one atomic slot update each. Says which.
 */
async function restoreSlots(dir: string, now: PinnedPipelineStatus, sys: Sys): Promise<string[]> {
  const { swapSlot } = await import("../kernel/pipeline-upgrade.js");
  const { getPinned } = await import("../kernel/object-ops.js");
  const out: string[] = [];
  for (const s of now.meta.slots) {
    const arr = now.progArrays.find((a) => a.object === s.object && a.map === s.map);
    const live = arr?.slots.find((x) => x.key === s.key);
    if (live?.program?.object === s.program.object && live.program.program === s.program.program) continue;
    const mapPin = now.meta.pins.find((p) => p.object === s.object && p.kind === "map" && p.name === s.map);
    const progPin = now.meta.pins.find(
      (p) => p.object === s.program.object && p.kind === "program" && p.name === s.program.program,
    );
    if (mapPin === undefined || progPin === undefined) continue;
    const fd = getPinned(sys, join(dir, progPin.path));
    try {
      swapSlot(sys, join(dir, mapPin.path), s.key, fd.value);
    } finally {
      fd.close();
    }
    const was =
      live === undefined
        ? "empty"
        : live.program !== undefined
          ? live.program.program
          : `${live.kernelName ?? "?"} (id ${live.programId})`;
    out.push(`${s.map}[${s.key}]: ${was} -> ${s.program.program}`);
  }
  return out;
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
    text = await readFileAsync(file, "utf8");
  } catch (e) {
    throw new PipelineError(`${file}: cannot read: ${readFailure(e)}`);
  }
  const { parsePipelineDefinition } = await import("./definition.js");
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

/** What {@link swapStage} puts where. */
export interface SwapRequest {
  /** The prog array (`MAP` or `OBJECT.MAP` with several objects). */
  map: string;
  key: number;
  /** The program: one of the pipeline's, or of `objectFile`. */
  program: string;
  /** A .bpf.o to take the program from; its maps named as the pipeline's are the pipeline's. */
  objectFile?: string;
}

/** What {@link swapStage} did. */
export interface SwapResult {
  /** `main:prog_array[1]`, as written in messages. */
  slot: string;
  /** What the slot held before (a program name, or "empty"). */
  was: string;
  /** The program put in. */
  now: string;
  /** Maps of `objectFile` that are the pipeline's (taken over by name). */
  sharedMaps: string[];
}

/** Where a command's warnings go: the caller's `onWarning`, else `process.emitWarning` with `code`. */
function warner(onWarning: ((m: string) => void) | undefined, code: string): (m: string) => void {
  return onWarning ?? ((m) => process.emitWarning(m, { code }));
}

/**
 * Replaces one stage of the pipeline pinned under `target`'s directory in place (`tsbpf swap`):
 * one prog array update, atomic in the kernel. The program is one the pipeline pinned, or one of
 * `objectFile` (checked first: a program of the entry's type (XDP or tc), no `check` error; its maps with the names of the
 * pipeline's maps are the pipeline's, so it counts into the same state). The pipeline file stays
 * the truth: `up` of the unchanged file puts the file's program back.
 */
export async function swapStage(
  target: Pipeline | string,
  req: SwapRequest,
  opts: Partial<PinnedOptions> & { onWarning?: (m: string) => void } = {},
): Promise<SwapResult> {
  const { readPinnedPipeline } = await import("../kernel/pipeline-status.js");
  const { swapSlot } = await import("../kernel/pipeline-upgrade.js");
  const { getPinned } = await import("../kernel/object-ops.js");
  const { checkNetns } = await import("../kernel/netns.js");
  const { defaultSys } = await import("../kernel/sys.js");
  const sys = opts.sys ?? defaultSys();
  if (opts.netns !== undefined) checkNetns(opts.netns);
  const dir = typeof target === "string" ? target : target.pinDir;
  const s = readPinnedPipeline(dir, opts.netns === undefined ? {} : { netns: opts.netns }, sys);
  const meta = s.meta;
  const [qual, bare] = req.map.includes(".") ? req.map.split(".", 2) : [undefined, req.map];
  const arrays = s.progArrays.filter((a) => a.map === bare && (qual === undefined || a.object === qual));
  if (arrays.length !== 1) {
    const all = s.progArrays.map((a) =>
      Object.keys(meta.objects).length > 1 ? `${a.object}.${a.map}` : a.map,
    );
    throw new UsageError(
      arrays.length === 0
        ? `pipeline ${meta.name} has no prog array ${req.map}`
        : `pipeline ${meta.name} has a prog array ${req.map} in several objects`,
      {
        hint: `its prog arrays: ${all.join(", ") || "none"}${arrays.length > 1 ? " (write OBJECT.MAP)" : ""}`,
      },
    );
  }
  const arr = arrays[0] as (typeof arrays)[number];
  if (req.key >= arr.maxEntries) {
    throw new UsageError(
      `${req.map}[${req.key}]: the prog array has ${arr.maxEntries} slots (0-${arr.maxEntries - 1})`,
    );
  }
  const mapPin = meta.pins.find((p) => p.object === arr.object && p.kind === "map" && p.name === arr.map);
  if (mapPin === undefined) throw new UsageError(`pipeline ${meta.name}: ${req.map} is not pinned`);
  const live = arr.slots.find((x) => x.key === req.key);
  const was =
    live === undefined
      ? "empty"
      : (live.program?.program ?? `${live.kernelName ?? "?"} (id ${live.programId})`);
  const slot = `${req.map}[${req.key}]`;
  if (req.objectFile === undefined) {
    const pin = meta.pins.filter((p) => p.kind === "program" && p.name === req.program);
    if (pin.length !== 1) {
      throw new UsageError(
        `pipeline ${meta.name} has ${pin.length === 0 ? "no" : "several"} programs ${req.program}`,
        {
          hint: `its programs: ${meta.pins
            .filter((p) => p.kind === "program")
            .map((p) => p.name)
            .join(", ")}; or give OBJFILE:PROG`,
        },
      );
    }
    const fd = getPinned(sys, join(dir, (pin[0] as (typeof pin)[number]).path));
    try {
      swapSlot(sys, join(dir, mapPin.path), req.key, fd.value);
    } finally {
      fd.close();
    }
    return { slot, was, now: req.program, sharedMaps: [] };
  }
  // A program from another object: checked as `check` would, before anything is loaded.
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFileAsync(req.objectFile));
  } catch (e) {
    throw new UsageError(`${req.objectFile}: cannot read: ${readFailure(e)}`);
  }
  const { loadCollectionSpec } = await import("../object/load-collection-spec.js");
  const { checkPlan } = await import("../tailcall/check-plan.js");
  const { planFromObject } = await import("../tailcall/plan.js");
  const spec = loadCollectionSpec(bytes, { file: req.objectFile });
  const p = spec.programs[req.program];
  if (p === undefined) {
    throw new UsageError(`${basename(req.objectFile)} has no program ${req.program}`, {
      hint: `its programs: ${Object.keys(spec.programs).join(", ")}`,
    });
  }
  const { hookOf } = await import("../kernel/pipeline-meta.js");
  const holds = hookProgType(hookOf(meta.attach));
  if (p.type !== holds.type) {
    throw new UsageError(
      `${req.program} is a ${p.typeName} program; ${req.map} of pipeline ${meta.name} holds ${holds.name} programs: nothing was changed`,
    );
  }
  const errors = checkPlan(planFromObject(spec)).findings.filter(
    (f) => f.severity === "error" && (f.program === undefined || f.program === req.program),
  );
  if (errors.length > 0) {
    throw new UsageError(
      `${basename(req.objectFile)}: ${req.program}: ${errors.map((f) => `${f.message} [${f.code}]`).join("; ")}: nothing was changed`,
      { hint: `tsbpf check ${req.objectFile} shows the findings` },
    );
  }
  const reuseMaps: Record<string, string> = {};
  for (const m of Object.values(spec.maps)) {
    if (m.name.startsWith(".") || m.name === "tsbpf_stats") continue;
    const same = meta.pins.filter((x) => x.kind === "map" && x.name === m.name);
    const pin = same.find((x) => x.object === arr.object) ?? same[0];
    if (pin !== undefined) reuseMaps[m.name] = join(dir, pin.path);
  }
  const { Collection } = await import("../collection.js");
  const coll = await Collection.load(spec, {
    backend: "kernel",
    reuseMaps,
    ...(meta.attach.netns === null ? {} : { netns: meta.attach.netns }),
    ...(opts.onWarning === undefined ? {} : { onWarning: opts.onWarning }),
  });
  try {
    const prog = coll.programs[req.program];
    if (prog === undefined) throw new UsageError(`${req.objectFile}: no program ${req.program}`);
    swapSlot(sys, join(dir, mapPin.path), req.key, prog.fd);
  } finally {
    coll.close();
  }
  // Its counters would need a place in the pipeline's stats layout, which is the file's objects'
  // (stats/layout.ts): the stage runs uncounted, and the operator hears it now rather than from
  // counts that stop moving.
  if (Object.keys(meta.stats ?? {}).length > 0) {
    warner(
      opts.onWarning,
      "TSBPF_SWAP",
    )(
      `${req.program} from ${basename(req.objectFile)} runs without stats counters: 'tsbpf stats' goes on counting the tail calls into ${slot}, not this stage's runs and verdicts${live === undefined ? "" : ` (${was}'s counts stay where they were)`}; to count it, name it in the pipeline file and run 'tsbpf up'`,
    );
  }
  return { slot, was, now: `${req.program} from ${req.objectFile}`, sharedMaps: Object.keys(reuseMaps) };
}
