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
import { getMapInfo, getPinned, pinObject } from "./object-ops.js";
import { defaultSys, type Sys } from "./sys.js";
import { detachLink } from "./xdp-link.js";

/** Where `pinning: by_name` maps go when no directory is given (libbpf's default). */
export const DEFAULT_PIN_ROOT = "/sys/fs/bpf";

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

/**
 * Removes a pipeline pinned by {@link pinPipeline} (or `tsbpf attach --pin DIR`): detaches the
 * link first (so no packet meets a half-removed pipeline), then removes every pin and the directory.
 */
export function unpinPipeline(
  dir: string,
  sys: Sys = defaultSys(),
): { detached: boolean; removed: string[] } {
  const linkPath = join(dir, "link");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`no pinned pipeline at ${dir}: no such directory`);
  }
  if (!existsSync(linkPath)) {
    throw new UsageError(`${dir} is not a pinned tsbpf pipeline (it has no 'link' pin)`, {
      hint: "give the directory that was passed to `tsbpf attach --pin`",
    });
  }
  const link = getPinned(sys, linkPath);
  let detached = false;
  try {
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
  return { detached, removed };
}
