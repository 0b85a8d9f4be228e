/**
 * Changing a pinned pipeline while packets run through it, the way Cilium does: the new version
 * is loaded with fresh prog arrays and every slot filled, pinned beside the old one, then the
 * entry is switched on the existing link (XDP or tcx) in one atomic step (BPF_LINK_UPDATE with
 * BPF_F_REPLACE and the old entry, so a concurrent change is detected, not overwritten). Every
 * packet runs the old chain or the new chain entirely: the old entry only ever tail-calls
 * through the old prog arrays, the new entry through the new ones. The old objects are released
 * only after a grace period (grace-period.ts): a prog array is emptied when its last reference
 * goes, and packets already inside the old entry still tail-call through it. Then the pins move:
 * `DIR_tsbpf_next` (the new version) becomes DIR, the link pin moves with it.
 *
 * A pipeline attached as a cls_bpf filter has no link: its filter's program is replaced in place
 * instead (tc-netlink.ts, replaceTcFilterProgram: cls_bpf swaps the filter entry under RCU), with
 * the same grace period and pin moves.
 *
 * Anything that fails before the switch leaves the old pipeline untouched. One slot can also be
 * changed in place ({@link swapSlot}): a single prog array update is atomic in the kernel.
 */
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Errno } from "../abi/index.js";
import { encodeScalar } from "../backend/scalar.js";
import { LoadError, MapError, UsageError } from "../errors.js";
import type { Fd } from "./fd.js";
import { waitForRunningPrograms } from "./grace-period.js";
import { updateElem } from "./map-ops.js";
import { getLinkInfo, getPinned, getProgramInfo } from "./object-ops.js";
import { filterDescriptionOf } from "./pipeline-filter.js";
import { filterOf, type PinnedPipelineMeta, readMeta, type TcFilterAttachment } from "./pipeline-meta.js";
import { LINK_PIN, META_PIN, type PipelinePins, pinPipeline } from "./pipeline-pins.js";
import { pinName } from "./pinning.js";
import type { Sys } from "./sys.js";
import { filterNamePrefix, replaceTcFilterProgram } from "./tc-netlink.js";
import { updateLink } from "./xdp-link.js";

/** Where an upgrade pins the new version before the switch. */
export const nextDirOf = (dir: string): string => `${dir.replace(/\/+$/, "")}_tsbpf_next`;
/** Where the old version's pins wait out the grace period after the switch. */
export const oldDirOf = (dir: string): string => `${dir.replace(/\/+$/, "")}_tsbpf_old`;

/** What {@link upgradePinnedPipeline} pins: the new version, and its entry program's fd. */
export interface UpgradeParts extends Omit<PipelinePins, "link"> {
  /** The new entry program (loaded, not attached). */
  entryFd: number;
}

/** What {@link upgradePinnedPipeline} did. */
export interface UpgradeResult {
  /** The new version's description, as pinned. */
  meta: PinnedPipelineMeta;
  /** The old version's description. */
  previous: PinnedPipelineMeta;
  /** How long the grace period took (ms). */
  graceMs: number;
}

/** The pinned path of `object`'s program or map `name` in `meta`. */
function pinOf(
  dir: string,
  meta: PinnedPipelineMeta,
  object: string,
  kind: "map" | "program",
  name: string,
): string {
  const p = meta.pins.find((x) => x.object === object && x.kind === kind && x.name === name);
  return join(dir, p?.path ?? join(object, kind === "map" ? "maps" : "progs", pinName(name)));
}

/** Opens every pin of `meta` (what keeps the old version's prog arrays full while packets drain). */
function holdAll(sys: Sys, dir: string, meta: PinnedPipelineMeta): Fd[] {
  const held: Fd[] = [];
  for (const p of meta.pins) {
    try {
      held.push(getPinned(sys, join(dir, p.path)));
    } catch {
      // A pin removed by hand holds nothing to drain.
    }
  }
  return held;
}

/**
 * Upgrades the pipeline pinned under `dir` to the new version `parts` (loaded, every slot filled):
 * pins it beside the old one, switches the link atomically, waits out the grace period, moves the
 * pins, then calls `beforeRelease` with the old version's directory (its counters are final now)
 * and releases it. If anything fails before the switch, the new pins go and the old pipeline is
 * untouched; the error says what failed.
 */
export function upgradePinnedPipeline(
  dir: string,
  parts: UpgradeParts,
  sys: Sys,
  beforeRelease?: (oldDir: string, previous: PinnedPipelineMeta) => void,
): UpgradeResult {
  const previous = readMeta(sys, join(dir, META_PIN));
  const next = nextDirOf(dir);
  const old = oldDirOf(dir);
  // Left by an upgrade that died half-way: never live (the link pin is only ever in DIR).
  rmSync(next, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
  const filter = filterOf(previous.attach);
  if (filter !== undefined) return upgradeFilter(dir, parts, sys, previous, filter, beforeRelease);
  const link = getPinned(sys, join(dir, LINK_PIN));
  const held: Fd[] = [];
  try {
    const info = getLinkInfo(sys, link.value);
    if (info.ifindex === 0) {
      throw new UsageError(
        `the pipeline pinned at ${dir} is detached (its interface is gone): nothing to upgrade`,
        {
          hint: `take it down (tsbpf down --pin ${dir}), then put it up again`,
        },
      );
    }
    const oldEntry = getPinned(
      sys,
      pinOf(dir, previous, previous.entry.object, "program", previous.entry.program),
    );
    held.push(oldEntry);
    if (getProgramInfo(sys, oldEntry.value).id !== info.progId) {
      throw new UsageError(
        `the link pinned at ${dir} runs program id ${info.progId}, not the pipeline's entry ${previous.entry.program}: someone changed it; nothing was switched`,
        { hint: `look with tsbpf status --pin ${dir}` },
      );
    }
    held.push(...holdAll(sys, dir, previous));
    const { meta } = pinPipeline(next, { ...parts, link: undefined }, sys, { as: dir, previous });
    try {
      updateLink(sys, link.value, parts.entryFd, oldEntry.value);
    } catch (e) {
      rmSync(next, { recursive: true, force: true });
      throw e;
    }
    renameSync(join(dir, LINK_PIN), join(next, LINK_PIN));
    return { meta, previous, graceMs: afterSwitch(dir, next, sys, previous, beforeRelease) };
  } finally {
    for (const fd of held) fd.close();
    link.close();
  }
}

/**
 * After the switch the new version runs; the old one is released once no packet can still be
 * inside it (an RCU grace period), and the new pins take the pipeline's directory. Returns the
 * grace period's length in ms.
 */
function afterSwitch(
  dir: string,
  next: string,
  sys: Sys,
  previous: PinnedPipelineMeta,
  beforeRelease?: (oldDir: string, previous: PinnedPipelineMeta) => void,
): number {
  const old = oldDirOf(dir);
  const t0 = performance.now();
  waitForRunningPrograms(sys);
  const graceMs = performance.now() - t0;
  renameSync(dir, old);
  renameSync(next, dir);
  try {
    beforeRelease?.(old, previous);
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
  return graceMs;
}

/**
 * {@link upgradePinnedPipeline} for a pipeline whose entry is a cls_bpf filter: the same steps,
 * with the filter's program replaced in place (same priority and handle, NLM_F_REPLACE, after
 * checking it still runs the old entry) where a link would be updated. The new description
 * records the new entry's program id.
 */
function upgradeFilter(
  dir: string,
  parts: UpgradeParts,
  sys: Sys,
  previous: PinnedPipelineMeta,
  filter: TcFilterAttachment,
  beforeRelease?: (oldDir: string, previous: PinnedPipelineMeta) => void,
): UpgradeResult {
  const next = nextDirOf(dir);
  const held: Fd[] = [];
  try {
    const oldEntry = getPinned(
      sys,
      pinOf(dir, previous, previous.entry.object, "program", previous.entry.program),
    );
    held.push(oldEntry);
    const oldId = getProgramInfo(sys, oldEntry.value).id;
    if (oldId !== filter.progId) {
      throw new UsageError(
        `the pipeline pinned at ${dir} records its filter as running program id ${filter.progId}, but its entry ${previous.entry.program} is id ${oldId}: nothing was switched`,
        { hint: `look with tsbpf status --pin ${dir}` },
      );
    }
    held.push(...holdAll(sys, dir, previous));
    const entry = parts.description.entry.program;
    const attachment: TcFilterAttachment = {
      ...filter,
      progId: getProgramInfo(sys, parts.entryFd).id,
      name: `${filterNamePrefix(filter.name)}${entry}`,
    };
    const description = { ...parts.description, attach: { ...parts.description.attach, attachment } };
    const { meta } = pinPipeline(next, { ...parts, description, link: undefined }, sys, {
      as: dir,
      previous,
    });
    try {
      replaceTcFilterProgram(filterDescriptionOf(previous, filter), parts.entryFd, entry, sys);
    } catch (e) {
      rmSync(next, { recursive: true, force: true });
      throw e;
    }
    return { meta, previous, graceMs: afterSwitch(dir, next, sys, previous, beforeRelease) };
  } finally {
    for (const fd of held) fd.close();
  }
}

/**
 * Puts program `progFd` into slot `key` of the prog array pinned at `mapPath`: one map update,
 * atomic in the kernel (a packet tail-calls the old program or the new one). The prog array
 * keeps the program alive.
 */
export function swapSlot(sys: Sys, mapPath: string, key: number, progFd: number): void {
  const map = getPinned(sys, mapPath);
  try {
    updateElem(sys, map.value, encodeScalar(key, 4, true, "key"), encodeScalar(progFd, 4, true, "value"));
  } catch (e) {
    if (e instanceof MapError && e.errno === Errno.EINVAL) {
      throw new LoadError(`cannot put the program into ${mapPath}[${key}]: the kernel refused it (EINVAL)`, {
        cause: e,
        hint: "the program must be of the prog array's type (and attach type), and the key below max_entries",
      });
    }
    throw e;
  } finally {
    map.close();
  }
}
