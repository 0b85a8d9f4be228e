/**
 * bpffs pins: libbpf's `pinning: by_name` maps (reuse a compatible pinned map, else create and
 * pin it), pin names, and the check that a pin directory will outlive the process. Whole
 * pipelines are pinned by pipeline-pins.ts.
 */
import { Errno, MapFlag } from "../abi/index.js";
import { existsSync, mkdirSync, rmSync } from "node:fs";
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
import { getMapInfo, getPinned, pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";

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
    // Whether global data is mmap()able changes nothing a program sees: a .bss kept as a
    // pipeline's state by an older tsbpf, which made every data section mmap()able where libbpf
    // does so only for sections with a global variable, is still the same map.
    const loose = spec.origin === "global-data" ? MapFlag.MMAPABLE : 0;
    cmp("flags", info.flags & ~loose, spec.flags & ~loose);
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

/**
 * Makes sure pins under `dir` (absolute) will outlive this process, before anything is loaded.
 * `dir` must lie in a bpffs. When none is mounted on /sys/fs/bpf and `dir` is under it, one is
 * mounted (as bpftool does; root) and `mounted` is true. Not in a private mount namespace,
 * though (`ip netns exec` makes one): a bpffs mounted there is a new, empty instance that
 * vanishes when the command exits, taking the pins, and so the pipeline, with it; that is
 * refused with a UsageError pointing at the `netns` option. A bpffs that is already mounted in
 * such a namespace (by the user, perhaps a bind mount of the host's) is used, with a warning
 * through `warn`. `command` (`attach`, `up`) names the command in the advice.
 */
export function preparePinDir(
  sys: Sys,
  dir: string,
  warn: (message: string) => void,
  command = "attach",
): { mounted: boolean } {
  const mounts = readMounts();
  const ns = mountNamespaceOfHost(mounts);
  const where =
    ns.ipNetnsExec === undefined
      ? "a private mount namespace"
      : `the private mount namespace of 'ip netns exec ${ns.ipNetnsExec}'`;
  const instead =
    ns.ipNetnsExec === undefined
      ? `run tsbpf ${command} from the host's mount namespace, with --netns NAME (the netns option) for the interface's network namespace`
      : `run 'tsbpf ${command} --netns ${ns.ipNetnsExec} ...' from the host instead of 'ip netns exec ${ns.ipNetnsExec} tsbpf ${command} ...': interfaces are then found in ${ns.ipNetnsExec} and pins go to the host's ${BPFFS_MOUNT_POINT}`;
  if (onBpffs(dir, mounts)) {
    if (ns.host === false) {
      warn(
        `${dir} is in a bpffs mounted inside ${where}: unless that is a bind mount of the host's, the pins last only as long as that mount, and 'tsbpf down' or 'tsbpf detach' from the host will not find them; to pin on the host, ${instead}`,
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
