/**
 * Work in another network namespace without `ip netns exec`: the calling thread enters the
 * namespace with setns(CLONE_NEWNET), runs a synchronous piece of work (interface lookup,
 * BPF_LINK_CREATE, netlink, BPF_PROG_TEST_RUN: all resolve interfaces in the caller's namespace)
 * and returns to where it was. Only the network namespace changes, so paths, and bpffs pins
 * in particular, stay the host's. A socket opened inside stays bound to that namespace. (Node opens
 * every file with O_CLOEXEC.)
 */
import { closeSync, constants, openSync } from "node:fs";
import { LoadError, TsbpfError, UsageError } from "../errors.js";
import { Errno } from "../abi/index.js";
import { NETNS_RUN_DIR } from "./mounts.js";
import { isSysError, type Sys } from "./sys.js";

const CLONE_NEWNET = 0x40000000;

/** The file of network namespace `netns`: a name given to `ip netns add`, or a path such as /proc/PID/ns/net. */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `${NETNS_RUN_DIR}/${netns}`;
}

/**
 * Opens network namespace `netns` and returns its fd (close it with closeSync). A name that is
 * not there is a UsageError naming it, so a typo fails before anything is loaded.
 */
export function openNetns(netns: string): number {
  if (netns === "" || netns === "." || netns === "..") {
    throw new UsageError(`'${netns}' is not a network namespace name`, {
      hint: "give a name from `ip netns list`, or a path such as /proc/PID/ns/net",
    });
  }
  const path = netnsPath(netns);
  try {
    return openSync(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new UsageError(`no network namespace named '${netns}' (${path} does not exist)`, {
        hint: `\`ip netns list\` shows the names; create one with \`ip netns add ${netns.includes("/") ? "NAME" : netns}\``,
      });
    }
    throw new UsageError(`cannot open network namespace '${netns}' (${path}): ${code ?? String(e)}`, {
      cause: e,
    });
  }
}

/** Checks that `netns` names a network namespace this process can open (a typo is a UsageError). */
export function checkNetns(netns: string): void {
  closeSync(openNetns(netns));
}

function enter(sys: Sys, fd: number, netns: string): void {
  try {
    sys.setns(fd, CLONE_NEWNET);
  } catch (e) {
    if (!isSysError(e)) throw e;
    if (e.errno === Errno.EINVAL) {
      throw new UsageError(`${netnsPath(netns)} is not a network namespace`, { cause: e });
    }
    const err = new LoadError(`enter network namespace '${netns}': ${e.code}`, {
      cause: e,
      ...(e.errno === Errno.EPERM
        ? { hint: "entering another network namespace needs root (CAP_SYS_ADMIN)" }
        : {}),
    });
    err.errno = e.errno;
    throw err;
  }
}

/**
 * Runs `fn` with the calling thread in network namespace `netns` (see {@link netnsPath}) and
 * moves it back afterwards, whether `fn` returned or threw; with `netns` undefined, just runs
 * `fn`. `fn` must be synchronous: nothing else of this thread may run in the namespace.
 */
export function inNetns<T>(sys: Sys, netns: string | undefined, fn: () => T): T {
  if (netns === undefined) return fn();
  const target = openNetns(netns);
  let home: number;
  try {
    home = openSync("/proc/thread-self/ns/net", constants.O_RDONLY);
  } catch (e) {
    closeSync(target);
    throw new TsbpfError("cannot open this thread's network namespace (/proc/thread-self/ns/net)", {
      cause: e,
      hint: "working in another network namespace needs /proc mounted",
    });
  }
  try {
    enter(sys, target, netns);
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: fn() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // Failing to go back would leave every later socket of this thread in the wrong namespace.
    try {
      sys.setns(home, CLONE_NEWNET);
    } catch (e) {
      throw new TsbpfError("cannot return to the original network namespace", { cause: e });
    }
    if (!outcome.ok) throw outcome.error;
    if (outcome.value instanceof Promise) throw new TsbpfError("inNetns: the work must be synchronous");
    return outcome.value;
  } finally {
    closeSync(home);
    closeSync(target);
  }
}
