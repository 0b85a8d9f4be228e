/**
 * A pipeline pinned in bpffs so that it keeps running after the process exits, in the one layout
 * `tsbpf up` and `tsbpf attach --pin` share:
 *
 * ```
 * DIR/link                          the entry program's link, XDP or tcx (pinned last); none
 *                                   for a cls_bpf filter, which stays on its hook by itself
 * DIR/meta                          what `status` shows (pipeline-meta.ts)
 * DIR/<object alias>/maps/<map>     every map of the object; a prog array's pin keeps its slots
 * DIR/<object alias>/progs/<prog>   every program of the object
 * ```
 *
 * Each object has a directory of its own, so two objects' `.rodata` or same-named programs do not
 * collide. Pinning is all or nothing. Unpinning (`down`, `detach --pin`) detaches the link first,
 * so no packet meets a half-removed pipeline, then removes every pin and the directory.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { LoadError, UsageError } from "../errors.js";
import { BPFFS_MOUNT_POINT, mountNamespaceOfHost, onBpffs } from "./mounts.js";
import { queryXdp } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { getLinkInfo, getMapInfo, getPinned } from "./object-ops.js";
import { readPipelineFilter, removePipelineFilter } from "./pipeline-filter.js";
import {
  type ByNamePin,
  filterOf,
  hookOf,
  tcHookOf,
  type ObjectPin,
  PIPELINE_META_FORMAT,
  type PinnedPipelineMeta,
  type PipelineHook,
  type PipelineDescription,
  pinMeta,
  readMeta,
} from "./pipeline-meta.js";
import type { StatsLayout } from "../stats/layout.js";
import { pinName } from "./pinning.js";
import { defaultSys, type Sys } from "./sys.js";
import { queryTcx } from "./tc-link.js";
import { detachLink } from "./xdp-link.js";

/** The pin of the entry's link (XDP or tcx) under a pipeline's directory. */
export const LINK_PIN = "link";
/** The pin of the pipeline's description under its directory. */
export const META_PIN = "meta";

/** Anything with a name that can be pinned: a program, a map, a link. */
export interface Pinnable {
  readonly name: string;
  pin(path: string): void;
}

/** A map to pin: also where the loader pinned it already (`pinning: by_name`), if it did. */
export interface PinnableMap extends Pinnable {
  readonly fd: number;
  readonly pinnedAt: string | undefined;
  /** Whether the loader reused an existing by_name pin rather than making it. */
  readonly reused: boolean;
}

/** What {@link pinPipeline} pins. */
export interface PipelinePins {
  /** The entry's link (XDP or tcx), attached; undefined when an upgrade pins the new version beside the old. */
  link: { pin(path: string): void } | undefined;
  /** Each object's maps and programs, by alias. */
  objects: Record<
    string,
    { maps: readonly PinnableMap[]; programs: readonly Pinnable[]; stats?: StatsLayout | undefined }
  >;
  description: PipelineDescription;
}

/** What {@link pinPipeline} pinned. */
export interface PinnedPipeline {
  dir: string;
  link: string;
  meta: PinnedPipelineMeta;
}

/** The error for a pin directory this process may not read. */
function unreadable(dir: string, e: unknown): LoadError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  return new LoadError(
    `cannot read ${dir}: ${code}`,
    code === "EACCES" || code === "EPERM"
      ? { cause: e, hint: `the pins in ${BPFFS_MOUNT_POINT} are root's: run tsbpf as root` }
      : { cause: e },
  );
}

/** Whether `dir` holds a pinned pipeline (its link or its description). */
export function holdsPipeline(dir: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw unreadable(dir, e);
  }
  return entries.includes(LINK_PIN) || entries.includes(META_PIN);
}

/**
 * Checks, before anything is loaded, that `dir` can take a pipeline: it does not exist yet, or
 * is an empty directory. Anything else is a UsageError saying what is there.
 */
export function checkPinDirFree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") throw new UsageError(`${dir} exists and is not a directory`);
    throw unreadable(dir, e);
  }
  if (entries.includes(LINK_PIN) || entries.includes(META_PIN)) {
    throw new UsageError(`${dir} already holds a pinned pipeline`, {
      hint: `take it down first: tsbpf down --pin ${dir}`,
    });
  }
  if (entries.length > 0) {
    throw new UsageError(`${dir} is not empty (it holds ${entries.slice(0, 3).join(", ")})`, {
      hint: "pin the pipeline under a directory of its own",
    });
  }
}

/** Options of {@link pinPipeline} for an upgrade, which pins the new version beside the old one. */
export interface PinAsOptions {
  /** The directory the pipeline will live in once moved (recorded as `pinDir`); default `dir`. */
  as?: string;
  /** The version it replaces: its by_name pins and the directories it made stay owned. */
  previous?: PinnedPipelineMeta;
}

/**
 * Pins a pipeline whose entry is attached under `dir` (created; inside a bpffs mount, see
 * preparePinDir): every object's maps and programs, the description as `meta`, and the link
 * last (an upgrade pins none: it moves the running link's pin after the switch): from then on
 * the pipeline runs on its own. `dir` must not hold anything yet. If any pin
 * fails, every pin made is removed again and the error is thrown: pins left behind would keep
 * programs and maps alive with no owner.
 */
export function pinPipeline(
  dir: string,
  parts: PipelinePins,
  sys: Sys = defaultSys(),
  opts: PinAsOptions = {},
): PinnedPipeline {
  for (const alias of Object.keys(parts.objects)) {
    if (alias === LINK_PIN || alias === META_PIN) {
      throw new UsageError(
        `an object alias cannot be '${alias}': ${dir}/${alias} holds the pipeline's ${alias}`,
        {
          hint: "rename the object in objects:",
        },
      );
    }
  }
  checkPinDirFree(dir);
  // Where the loader already pinned by_name maps (pinning below moves pinnedAt to DIR).
  const byName: ByNamePin[] = [];
  for (const { maps } of Object.values(parts.objects)) {
    for (const m of maps) {
      if (m.pinnedAt === undefined) continue;
      const mapId = getMapInfo(sys, m.fd).id;
      const before = opts.previous?.byName.find((b) => b.path === m.pinnedAt && b.mapId === mapId);
      byName.push({ path: m.pinnedAt, mapId, created: !m.reused || before?.created === true });
    }
  }
  const first = mkdirSync(dir, { recursive: true });
  const madeDirs: string[] = [];
  if (first !== undefined) {
    for (let d = dirname(dir); d.length >= first.length && d !== dirname(d); d = dirname(d)) madeDirs.push(d);
  }
  const pins: ObjectPin[] = [];
  try {
    for (const [alias, { maps, programs }] of Object.entries(parts.objects)) {
      for (const [kind, sub, list] of [
        ["map", "maps", maps],
        ["program", "progs", programs],
      ] as const) {
        if (list.length === 0) continue;
        mkdirSync(join(dir, alias, sub), { recursive: true });
        for (const o of list) {
          const path = join(alias, sub, pinName(o.name));
          o.pin(join(dir, path));
          pins.push({ object: alias, kind, name: o.name, path });
        }
      }
    }
    const stats: Record<string, StatsLayout> = {};
    for (const [alias, o] of Object.entries(parts.objects)) if (o.stats !== undefined) stats[alias] = o.stats;
    const meta: PinnedPipelineMeta = {
      format: PIPELINE_META_FORMAT,
      ...parts.description,
      ...(Object.keys(stats).length > 0 ? { stats } : {}),
      pinDir: opts.as ?? dir,
      upAt: new Date().toISOString(),
      pins,
      byName,
      madeDirs: opts.previous?.madeDirs ?? madeDirs,
    };
    pinMeta(sys, meta, join(dir, META_PIN));
    // The link last: once it is pinned the pipeline is live on its own.
    parts.link?.pin(join(dir, LINK_PIN));
    return { dir, link: join(dir, LINK_PIN), meta };
  } catch (e) {
    if (first !== undefined) rmSync(dir, { recursive: true, force: true });
    else for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
    removeEmptyDirs(madeDirs);
    throw e;
  }
}

/** Removes each directory of `dirs` (deepest first) that is empty; never throws. */
function removeEmptyDirs(dirs: readonly string[]): void {
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty (another pipeline lives there) or gone: leave it.
    }
  }
}

/**
 * The entries of a pipeline's directory; a UsageError saying why there is none to read (and,
 * under `ip netns exec`, that the host's bpffs is hidden there).
 */
export function readPinDir(dir: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw unreadable(dir, e);
    const ns = onBpffs(dir) ? undefined : mountNamespaceOfHost();
    throw new UsageError(
      `no pinned pipeline at ${dir}: no such directory`,
      ns?.host === false
        ? {
            hint: `this process sees no bpffs there: it runs in ${ns.ipNetnsExec === undefined ? "a private mount namespace" : `the private mount namespace of 'ip netns exec ${ns.ipNetnsExec}'`}, which hides the host's ${BPFFS_MOUNT_POINT}; run tsbpf from the host (with --netns NAME if you like)`,
          }
        : {},
    );
  }
  if (!isDir) throw new UsageError(`no pinned pipeline at ${dir}: not a directory`);
  const entries = readdirSync(dir);
  if (!entries.includes(LINK_PIN) && !entries.includes(META_PIN)) {
    throw new UsageError(
      `${dir} is not a pinned tsbpf pipeline (it has no '${LINK_PIN}' or '${META_PIN}' pin)`,
      {
        hint: "give the directory of tsbpf up or tsbpf attach --pin DIR",
      },
    );
  }
  return entries;
}

/** Options of {@link unpinPipeline}. */
export interface UnpinOptions {
  /**
   * The network namespace the pipeline's interface is in (as given when attaching). Detaching
   * needs none; with it, a pipeline that is not attached there is refused before anything is
   * removed.
   */
  netns?: string;
}

/** What {@link unpinPipeline} did. */
export interface UnpinResult {
  /** The pipeline's name, from its description. */
  name: string | undefined;
  /** Whether the link was detached (false if it was already, or its interface is gone). */
  detached: boolean;
  /** Every pin removed. */
  removed: string[];
  /** by_name pins left in place: there before the pipeline went up, or now another map's. */
  kept: string[];
  /** The interface the link was attached to (0 when it no longer exists). */
  ifindex: number;
  /** Its name, when known. */
  iface?: string;
  /** Its network namespace, when not the caller's. */
  netns?: string;
  /**
   * For a pipeline attached as a cls_bpf filter: whether the clsact qdisc went too (`up` made
   * it and nothing else was on it), and why the filter was left, when it ran another program.
   */
  filter?: { qdiscRemoved: boolean; left?: string };
}

/**
 * Names the interface `ifindex` in `netns` and checks that the pipeline's link (`linkId`, running
 * `progId`) is attached to it there: as its XDP program, or on its tc `hook` through tcx.
 */
function checkAttachedIn(
  sys: Sys,
  netns: string,
  at: { ifindex: number; progId: number; linkId: number; hook: PipelineHook },
  dir: string,
): string {
  const { ifindex, progId, linkId, hook } = at;
  const { name, attached } = inNetns(sys, netns, () => {
    const name = ifindex === 0 ? undefined : sys.ifIndexToName(ifindex);
    if (name === undefined) return { name, attached: false };
    if (hook !== "xdp") {
      const on = queryTcx(sys, ifindex, tcHookOf(hook) ?? "ingress");
      return { name, attached: on.some((e) => e.linkId === linkId) };
    }
    const a = queryXdp(sys, ifindex);
    return { name, attached: [a.progId, a.nativeProgId, a.genericProgId, a.offloadProgId].includes(progId) };
  });
  if (name === undefined || !attached) {
    const there =
      name === undefined
        ? "which does not exist there"
        : hook === "xdp"
          ? `which there is ${name}, running another program`
          : `which there is ${name}, whose ${hook} hook does not hold the link`;
    throw new UsageError(
      `the pipeline pinned at ${dir} is not attached in network namespace '${netns}' (its link is on ifindex ${ifindex}, ${there})`,
      { hint: "give the namespace it was attached in, or leave the namespace out: detaching needs none" },
    );
  }
  return name;
}

/** Every file under `dir`, depth first. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/**
 * Takes down a pipeline pinned by {@link pinPipeline} (`tsbpf down`, `tsbpf detach --pin`):
 * detaches the link first, then removes every pin, the directory, the by_name pins the pipeline
 * made (while they still hold its maps) and the directories pinning made above it, when empty.
 * A directory holding a description but no link (pinning was interrupted) is removed too.
 */
export function unpinPipeline(dir: string, opts: UnpinOptions = {}, sys: Sys = defaultSys()): UnpinResult {
  const entries = readPinDir(dir);
  let meta: PinnedPipelineMeta | undefined;
  if (entries.includes(META_PIN)) {
    try {
      meta = readMeta(sys, join(dir, META_PIN));
    } catch (e) {
      // Without a link nothing says this directory is ours.
      if (!entries.includes(LINK_PIN)) throw e;
    }
  }
  let detached = false;
  let ifindex = 0;
  let iface: string | undefined;
  let netns = meta?.attach.netns ?? undefined;
  let filter: UnpinResult["filter"];
  const tcFilter = meta === undefined ? undefined : filterOf(meta.attach);
  if (meta !== undefined && tcFilter !== undefined) {
    // A filter, not a link: removed first (only while it runs the pipeline's entry), so no
    // packet meets a half-removed pipeline.
    ifindex = tcFilter.ifindex;
    const ns = opts.netns ?? netns;
    let name: string | undefined;
    try {
      name = inNetns(sys, ns, () => sys.ifIndexToName(tcFilter.ifindex));
    } catch (e) {
      // The namespace is gone, and its interfaces and their filters with it.
      if (opts.netns !== undefined) throw e;
    }
    if (opts.netns !== undefined) {
      const on = name === undefined ? undefined : readPipelineFilter(sys, tcFilter, tcFilter.progId, ns);
      if (on?.runs !== true) {
        const there =
          name === undefined
            ? "which does not exist there"
            : `which there is ${name}, whose ${hookOf(meta.attach)} hook has no filter of the pipeline at priority ${tcFilter.prio} handle 0x${tcFilter.handle.toString(16)}`;
        throw new UsageError(
          `the pipeline pinned at ${dir} is not attached in network namespace '${opts.netns}' (its filter is on ifindex ${tcFilter.ifindex}, ${there})`,
          { hint: "give the namespace it was attached in, or leave the namespace out" },
        );
      }
      netns = opts.netns;
    }
    if (name !== undefined) {
      const r = removePipelineFilter(sys, meta, tcFilter, ns);
      detached = r.removed;
      iface = name;
      filter = { qdiscRemoved: r.qdiscRemoved, ...(r.left === undefined ? {} : { left: r.left }) };
    } else {
      ifindex = 0;
    }
  } else if (entries.includes(LINK_PIN)) {
    const link = getPinned(sys, join(dir, LINK_PIN));
    try {
      const info = getLinkInfo(sys, link.value);
      ifindex = info.ifindex;
      if (opts.netns !== undefined) {
        const hook = meta === undefined ? "xdp" : hookOf(meta.attach);
        iface = checkAttachedIn(
          sys,
          opts.netns,
          { ifindex, progId: info.progId, linkId: info.id, hook },
          dir,
        );
        netns = opts.netns;
      } else if (meta !== undefined && meta.attach.ifindex === ifindex && ifindex !== 0) {
        iface = meta.attach.iface;
      }
      detachLink(sys, link.value);
      detached = ifindex !== 0;
    } finally {
      link.close();
    }
  }
  const removed = filesUnder(dir);
  const kept: string[] = [];
  for (const b of meta?.byName ?? []) {
    if (!b.created || !stillHolds(sys, b.path, b.mapId)) {
      if (existsSync(b.path)) kept.push(b.path);
      continue;
    }
    rmSync(b.path, { force: true });
    removed.push(b.path);
  }
  rmSync(dir, { recursive: true });
  removeEmptyDirs(meta?.madeDirs ?? []);
  return {
    name: meta?.name,
    detached,
    removed,
    kept,
    ifindex,
    ...(iface === undefined ? {} : { iface }),
    ...(netns === undefined ? {} : { netns }),
    ...(filter === undefined ? {} : { filter }),
  };
}

/** Whether the pin at `path` is still map `mapId`. */
function stillHolds(sys: Sys, path: string, mapId: number): boolean {
  try {
    const fd = getPinned(sys, path);
    try {
      return getMapInfo(sys, fd.value).id === mapId;
    } finally {
      fd.close();
    }
  } catch {
    return false;
  }
}
