/**
 * bpffs pins: libbpf's `pinning: by_name` maps (reuse a compatible pinned map, else create and
 * pin it), and whole pipelines that must outlive the process: the XDP link, the prog arrays
 * (so the kernel does not empty them) and the programs.
 */
import { Errno } from "../abi/index.js";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoadError, UsageError, isLoadError } from "../errors.js";
import type { MapSpec } from "../object/types.js";
import type { Fd } from "./fd.js";
import {
  BPFFS_MOUNT_POINT,
  mountBpffs,
  mountNamespaceOfHost,
  mountOf,
  onBpffs,
  readMounts,
} from "./mounts.js";
import { queryXdp } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { getLinkInfo, getMapInfo, getPinned, pinObject } from "./object-ops.js";
import { defaultSys, type Sys } from "./sys.js";
import { detachLink } from "./xdp-link.js";

/** Where `pinning: by_name` maps go when no directory is given (libbpf's default). */
export const DEFAULT_PIN_ROOT = BPFFS_MOUNT_POINT;

/** A name bpffs accepts: no `/`, and no `.` (bpffs reserves dotted names). */
export function pinName(name: string): string {
  const n = name.replace(/[/.]/g, "_").replace(/^_+(?=.)/, "");
  return n === "" ? "_" : n;
}

/**
 * Opens the map pinned at `path` if there is one and it matches `spec` (type, sizes, entries,
 * flags); creates and pins it otherwise. A pinned map that differs is an error: silently using
 * or replacing it would break whichever program owns it.
 */
export function openOrCreatePinnedMap(
  sys: Sys,
  spec: MapSpec,
  path: string,
  create: () => Fd,
): { fd: Fd; reused: boolean } {
  let fd: Fd | undefined;
  try {
    fd = getPinned(sys, path);
  } catch (e) {
    if (!isLoadError(e) || e.errno !== Errno.ENOENT) throw e;
  }
  if (fd !== undefined) {
    let info: ReturnType<typeof getMapInfo>;
    try {
      info = getMapInfo(sys, fd.value);
    } catch (e) {
      // Not a map (a pinned program or link at that path) or unreadable: refuse, and keep no fd.
      fd.close();
      throw e;
    }
    const diffs: string[] = [];
    const cmp = (what: string, have: number, want: number) => {
      if (have !== want) diffs.push(`${what} ${have} (object wants ${want})`);
    };
    cmp("type", info.type, spec.type);
    cmp("key size", info.keySize, spec.keySize);
    cmp("value size", info.valueSize, spec.valueSize);
    cmp("max entries", info.maxEntries, spec.maxEntries);
    cmp("flags", info.flags, spec.flags);
    if (diffs.length > 0) {
      fd.close();
      throw new LoadError(
        `map ${spec.name}: the map pinned at ${path} is not compatible: ${diffs.join(", ")}`,
        {
          map: spec.name,
          hint: `remove the old pin (rm ${path}) if nothing uses it any more, or pin under another directory`,
        },
      );
    }
    return { fd, reused: true };
  }
  const dir = path.replace(/\/[^/]*$/, "");
  if (dir !== "" && !existsSync(dir)) mkdirSync(dir, { recursive: true });
  const created = create();
  try {
    pinObject(sys, created.value, path);
  } catch (e) {
    created.close();
    throw e;
  }
  return { fd: created, reused: false };
}

/** Removes one pin, if it is still there; never throws (used on error paths). */
export function removePin(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Best effort: the error being reported matters more than a pin we could not remove.
  }
}

/** What {@link pinPipeline} pinned, path by path. */
export interface PinnedPipeline {
  dir: string;
  link: string;
  maps: string[];
  programs: string[];
}

/** Anything with an fd and a name that can be pinned. */
export interface Pinnable {
  readonly name: string;
  pin(path: string): void;
}

/**
 * Makes sure pins under `dir` (absolute) will outlive this process, before anything is loaded.
 * `dir` must lie in a bpffs. When none is mounted on /sys/fs/bpf and `dir` is under it, one is
 * mounted (as bpftool does; root) and `mounted` is true. Not in a private mount namespace,
 * though (`ip netns exec` makes one): a bpffs mounted there is a new, empty instance that
 * vanishes when the command exits, taking the pins, and so the pipeline, with it; that is
 * refused with a UsageError pointing at the `netns` option. A bpffs that is already mounted in
 * such a namespace (by the user, perhaps a bind mount of the host's) is used, with a warning
 * through `warn`.
 */
export function preparePinDir(sys: Sys, dir: string, warn: (message: string) => void): { mounted: boolean } {
  const mounts = readMounts();
  const ns = mountNamespaceOfHost(mounts);
  const where =
    ns.ipNetnsExec === undefined
      ? "a private mount namespace"
      : `the private mount namespace of 'ip netns exec ${ns.ipNetnsExec}'`;
  const instead =
    ns.ipNetnsExec === undefined
      ? "attach from the host's mount namespace, with --netns NAME (the netns option) for the interface's network namespace"
      : `run 'tsbpf attach --netns ${ns.ipNetnsExec} ...' from the host instead of 'ip netns exec ${ns.ipNetnsExec} tsbpf attach ...': interfaces are then found in ${ns.ipNetnsExec} and pins go to the host's ${BPFFS_MOUNT_POINT}`;
  if (onBpffs(dir, mounts)) {
    if (ns.host === false) {
      warn(
        `${dir} is in a bpffs mounted inside ${where}: unless that is a bind mount of the host's, the pins last only as long as that mount, and 'tsbpf detach' from the host will not find them; to pin on the host, ${instead}`,
      );
    }
    return { mounted: false };
  }
  const underRoot = dir === BPFFS_MOUNT_POINT || dir.startsWith(`${BPFFS_MOUNT_POINT}/`);
  const fs = mountOf(dir, mounts)?.fstype;
  if (!underRoot || onBpffs(BPFFS_MOUNT_POINT, mounts)) {
    throw new UsageError(`${dir} is not inside a bpffs mount (it is on ${fs ?? "an unknown filesystem"})`, {
      hint: `use a directory under ${BPFFS_MOUNT_POINT}, e.g. ${BPFFS_MOUNT_POINT}/my-pipeline`,
    });
  }
  if (ns.host === false) {
    throw new UsageError(
      `no bpffs is mounted on ${BPFFS_MOUNT_POINT} in ${where}, and one mounted now would vanish when this command exits, taking the pins under ${dir} and the pipeline with it`,
      { hint: instead },
    );
  }
  mountBpffs(sys);
  return { mounted: true };
}

/**
 * Pins a pipeline under `dir` (created; must be inside a bpffs mount): `link`, `maps/<name>`,
 * `progs/<name>`. The prog arrays' pins are what keep their slots filled after the process exits.
 */
export function pinPipeline(
  dir: string,
  link: { pin(path: string): void },
  maps: readonly Pinnable[],
  programs: readonly Pinnable[],
): PinnedPipeline {
  if (existsSync(join(dir, "link"))) {
    throw new UsageError(`${dir} already holds a pinned pipeline`, {
      hint: `remove it first: tsbpf detach --pin ${dir}`,
    });
  }
  mkdirSync(join(dir, "maps"), { recursive: true });
  mkdirSync(join(dir, "progs"), { recursive: true });
  const out: PinnedPipeline = { dir, link: join(dir, "link"), maps: [], programs: [] };
  try {
    for (const m of maps) {
      const p = join(dir, "maps", pinName(m.name));
      m.pin(p);
      out.maps.push(p);
    }
    for (const p of programs) {
      const path = join(dir, "progs", pinName(p.name));
      p.pin(path);
      out.programs.push(path);
    }
    // The link last: once it is pinned the pipeline is live on its own.
    link.pin(out.link);
  } catch (e) {
    // All or nothing: pins left behind would keep programs and maps alive with no owner.
    for (const p of [...out.maps, ...out.programs]) rmSync(p, { force: true });
    throw e;
  }
  return out;
}

/** Options of {@link unpinPipeline}. */
export interface UnpinOptions {
  /**
   * The network namespace the pipeline's interface is in (as given when attaching). Detaching
   * needs none; with it, the interface is named, and a pipeline that is not attached there is
   * refused before anything is removed.
   */
  netns?: string;
}

/** What {@link unpinPipeline} did. */
export interface UnpinResult {
  /** Whether the link was detached (false if it was already). */
  detached: boolean;
  /** Every pin removed. */
  removed: string[];
  /** The interface the link was attached to (0 when it no longer exists). */
  ifindex: number;
  /** Its name in `netns`, when one was given. */
  iface?: string;
}

/** Names the interface `ifindex` in `netns` and checks that program `progId` is attached to it there. */
function checkAttachedIn(sys: Sys, netns: string, ifindex: number, progId: number, dir: string): string {
  const { name, ids } = inNetns(sys, netns, () => {
    const name = ifindex === 0 ? undefined : sys.ifIndexToName(ifindex);
    if (name === undefined) return { name, ids: [] as number[] };
    const a = queryXdp(sys, ifindex);
    return { name, ids: [a.progId, a.nativeProgId, a.genericProgId, a.offloadProgId] };
  });
  if (name === undefined || !ids.includes(progId)) {
    const there =
      name === undefined ? "which does not exist there" : `which there is ${name}, running another program`;
    throw new UsageError(
      `the pipeline pinned at ${dir} is not attached in network namespace '${netns}' (its link is on ifindex ${ifindex}, ${there})`,
      { hint: "give the namespace it was attached in, or leave the namespace out: detaching needs none" },
    );
  }
  return name;
}

/**
 * Removes a pipeline pinned by {@link pinPipeline} (or `tsbpf attach --pin DIR`): detaches the
 * link first (so no packet meets a half-removed pipeline), then removes every pin and the directory.
 */
export function unpinPipeline(dir: string, opts: UnpinOptions = {}, sys: Sys = defaultSys()): UnpinResult {
  const linkPath = join(dir, "link");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    const ns = onBpffs(dir) ? undefined : mountNamespaceOfHost();
    throw new UsageError(
      `no pinned pipeline at ${dir}: no such directory`,
      ns?.host === false
        ? {
            hint: `this process sees no bpffs there: it runs in ${ns.ipNetnsExec === undefined ? "a private mount namespace" : `the private mount namespace of 'ip netns exec ${ns.ipNetnsExec}'`}, which hides the host's ${BPFFS_MOUNT_POINT}; run 'tsbpf detach' from the host (with --netns NAME if you like)`,
          }
        : {},
    );
  }
  if (!existsSync(linkPath)) {
    throw new UsageError(`${dir} is not a pinned tsbpf pipeline (it has no 'link' pin)`, {
      hint: "give the directory that was passed to `tsbpf attach --pin`",
    });
  }
  const link = getPinned(sys, linkPath);
  let detached = false;
  let ifindex = 0;
  let iface: string | undefined;
  try {
    const info = getLinkInfo(sys, link.value);
    ifindex = info.ifindex;
    if (opts.netns !== undefined) iface = checkAttachedIn(sys, opts.netns, ifindex, info.progId, dir);
    detachLink(sys, link.value);
    detached = true;
  } finally {
    link.close();
  }
  const removed: string[] = [];
  for (const sub of ["maps", "progs"]) {
    const d = join(dir, sub);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) removed.push(join(d, f));
  }
  removed.push(linkPath);
  rmSync(dir, { recursive: true });
  return { detached, removed, ifindex, ...(iface === undefined ? {} : { iface }) };
}
