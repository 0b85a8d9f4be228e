/**
 * tracefs and bpffs: where they are mounted, and mounting them when they are missing, as bpftool
 * does. A fresh /sys (what `ip netns exec` mounts in the private mount namespace it makes) has
 * neither, so tsbpf mounts what it needs there itself (as root). This is the one finder of both
 * filesystems: trace readers (attach, program.run) and pinning use it.
 *
 * A bpffs mounted inside a private mount namespace is a new, empty instance that lives only as long
 * as that namespace: pins made there vanish with it. {@link mountNamespaceOfHost} tells whether
 * this process shares the host's mount namespace, so pinning can refuse to pin where nothing lasts.
 */
import { existsSync, statSync } from "node:fs";
import { readFileSync } from "node:fs";
import { InitNamespaceInode } from "../abi/index.js";
import { TsbpfError } from "../errors.js";
import { namespaceInode } from "./host.js";
import { defaultSys, isSysError, type Sys } from "./sys.js";

/** One mount, from /proc/self/mounts. */
export interface MountEntry {
  /** What was mounted ("tracefs", a device, or for `ip netns exec`'s sysfs the namespace name). */
  source: string;
  /** The mount point. */
  target: string;
  /** The filesystem type ("tracefs", "bpf", "sysfs"...). */
  fstype: string;
}

/** Where tracefs is normally mounted, newest first. */
export const TRACEFS_MOUNT_POINTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] as const;

/** Where bpffs is mounted by convention, and where tsbpf mounts it when it is missing. */
export const BPFFS_MOUNT_POINT = "/sys/fs/bpf";

/** Where `ip netns add` keeps the names of network namespaces. */
export const NETNS_RUN_DIR = "/var/run/netns";

const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;

/** Decodes the octal escapes (`\040` for a space) the kernel writes in mount table fields. */
function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Parses the text of /proc/self/mounts. */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const [source, target, fstype] = line.split(" ");
    if (source === undefined || target === undefined || fstype === undefined) continue;
    out.push({ source: unescapeField(source), target: unescapeField(target), fstype });
  }
  return out;
}

/** This process's mounts, in mount order; empty when /proc is not readable. */
export function readMounts(): MountEntry[] {
  try {
    return parseMounts(readFileSync("/proc/self/mounts", "utf8"));
  } catch {
    return [];
  }
}

/** The mount holding `path` (absolute): the deepest mount point containing it, the last one mounted there. */
export function mountOf(path: string, mounts: readonly MountEntry[] = readMounts()): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.target === "/" || path === m.target || path.startsWith(`${m.target}/`);
    if (inside && (best === undefined || m.target.length >= best.target.length)) best = m;
  }
  return best;
}

/**
 * The mounted tracefs directory (one that has trace_pipe), or undefined when none is mounted. The
 * usual places are looked at first: the mount table (`mounts`, read from /proc/self/mounts when
 * not given) is read only when tracefs is elsewhere or missing, which spares `tsbpf attach` two
 * reads and parses of it on its way to attached (issue 14's cold start).
 */
export function findTracefs(mounts?: readonly MountEntry[]): string | undefined {
  // debugfs's tracing/ is an automount: it has trace_pipe before it shows up as a mount.
  const usual = (dirs: readonly string[]) => dirs.find((dir) => existsSync(`${dir}/trace_pipe`));
  if (mounts === undefined) {
    const found = usual(TRACEFS_MOUNT_POINTS);
    if (found !== undefined) return found;
  }
  const points = (mounts ?? readMounts()).filter((m) => m.fstype === "tracefs").map((m) => m.target);
  return usual([...TRACEFS_MOUNT_POINTS, ...points]);
}

/** Whether looking up `path` is refused to this user (not missing: covered mounts look missing). */
function deniedToMe(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EACCES";
  }
}

/** Where this process mounted tracefs itself ({@link ensureTracefs}), until {@link unmountOwnTracefs}. */
let ownTracefs: string | undefined;

/**
 * The tracefs directory, mounting tracefs on /sys/kernel/tracing first when it is not mounted
 * (as bpftool does; needs root). Throws a TsbpfError saying why when there is none to be had.
 */
export function ensureTracefs(sys: Sys = defaultSys()): string {
  const found = findTracefs();
  if (found !== undefined) return found;
  // tracefs is mode 0700: to anyone but root a mounted one looks absent, and mounting is refused.
  const hidden = readMounts().find((m) => m.fstype === "tracefs" && deniedToMe(`${m.target}/trace_pipe`));
  if (hidden !== undefined) {
    throw new TsbpfError(`tracefs is mounted on ${hidden.target}, but this user cannot look inside it`, {
      hint: "reading trace lines needs root (tracefs is root's only)",
    });
  }
  const dir = TRACEFS_MOUNT_POINTS[0];
  const manual = `mount -t tracefs tracefs ${dir}`;
  if (!existsSync(dir)) {
    throw new TsbpfError(`tracefs is not mounted, and ${dir} does not exist to mount it on`, {
      hint: `this kernel may lack tracefs (CONFIG_TRACING); otherwise create the directory and ${manual}`,
    });
  }
  try {
    sys.mount("tracefs", dir, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  } catch (cause) {
    const why = isSysError(cause) ? cause.code : String(cause);
    throw new TsbpfError(`tracefs is not mounted, and mounting it on ${dir} failed: ${why}`, {
      cause,
      hint: `mounting needs root (CAP_SYS_ADMIN); or mount it yourself: ${manual}`,
    });
  }
  ownTracefs = dir;
  if (!existsSync(`${dir}/trace_pipe`)) {
    throw new TsbpfError(`tracefs mounted on ${dir} has no trace_pipe`, {
      hint: "this kernel may be built without tracing support (CONFIG_TRACING)",
    });
  }
  return dir;
}

/**
 * Unmounts the tracefs this process mounted ({@link ensureTracefs}), so a command that failed
 * leaves no mount it made (in the private mount namespace of `ip netns exec`, say). Returns
 * whether it did; a mount still in use (EBUSY) or made by someone else stays.
 */
export function unmountOwnTracefs(sys: Sys = defaultSys()): boolean {
  const dir = ownTracefs;
  if (dir === undefined) return false;
  try {
    sys.umount(dir);
  } catch {
    return false;
  }
  ownTracefs = undefined;
  return true;
}

/** Whether `path` (absolute) lies inside a mounted bpffs. */
export function onBpffs(path: string, mounts: readonly MountEntry[] = readMounts()): boolean {
  return mountOf(path, mounts)?.fstype === "bpf";
}

/**
 * Mounts a bpffs on /sys/fs/bpf (mode 0700, as bpftool does; needs root). Callers check first
 * that none is mounted there and that a mount made now outlives the process
 * ({@link mountNamespaceOfHost}).
 */
export function mountBpffs(sys: Sys = defaultSys()): void {
  const dir = BPFFS_MOUNT_POINT;
  try {
    sys.mount("bpf", dir, "bpf", 0, "mode=0700");
  } catch (cause) {
    const why = isSysError(cause) ? cause.code : String(cause);
    throw new TsbpfError(`no bpffs is mounted on ${dir}, and mounting one failed: ${why}`, {
      cause,
      hint: `mounting needs root (CAP_SYS_ADMIN); or mount it yourself: mount -t bpf bpf ${dir}`,
    });
  }
}

/** What tsbpf can tell about the mount namespace it runs in. */
export interface MountNamespaceView {
  /**
   * Whether this process shares the host's (PID 1's) mount namespace: mounts made here then
   * last after it exits. `undefined` when it cannot be told (PID 1's namespace unreadable).
   */
  host: boolean | undefined;
  /** The network namespace name, when /sys is the sysfs `ip netns exec NAME` mounted. */
  ipNetnsExec?: string;
}

/**
 * Whether this process runs in the host's mount namespace. `ip netns exec NAME` gives its
 * command a private one with a sysfs named NAME on /sys; otherwise the namespace is compared
 * with PID 1's (readable as root on most hosts) and with the fixed number the kernel gives the
 * initial one (6.18+).
 */
export function mountNamespaceOfHost(mounts: readonly MountEntry[] = readMounts()): MountNamespaceView {
  const sys = mounts.filter((m) => m.target === "/sys").at(-1);
  if (
    sys?.fstype === "sysfs" &&
    sys.source !== "sysfs" &&
    !sys.source.includes("/") &&
    existsSync(`${NETNS_RUN_DIR}/${sys.source}`)
  ) {
    return { host: false, ipNetnsExec: sys.source };
  }
  const own = namespaceInode("/proc/self/ns/mnt");
  if (own === undefined) return { host: undefined };
  if (own === InitNamespaceInode.mnt) return { host: true };
  const init = namespaceInode("/proc/1/ns/mnt");
  return { host: init === undefined ? undefined : own === init };
}
