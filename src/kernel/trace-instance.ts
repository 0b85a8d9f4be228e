/**
 * Private tracefs instances: `instances/tsbpf-<pid>-<tag>-ns<pid namespace>` with only the
 * `bpf_trace/bpf_trace_printk` event enabled. An instance has a ring buffer and a trace_pipe of
 * its own, so it holds exactly the lines printed since it was made, and reading it consumes
 * nothing from the global trace_pipe or from anyone else's instance. The global trace_pipe still
 * receives every line, as it would with any loader.
 *
 * Instances are removed when closed and at process exit; ones left by a process that was killed
 * are removed by the next tsbpf process that makes one.
 */
import { mkdir, mkdirSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { TsbpfError } from "../errors.js";
import { namespaceInode } from "./host.js";
import { ensureTracefs } from "./mounts.js";
import { defaultSys, type Sys } from "./sys.js";

const live = new Set<TraceInstance>();
/** How long {@link TraceInstance.create} waits for the event files of a premade instance. */
const PREMADE_WAIT_MS = 2000;
/** What `Atomics.wait` sleeps on: nothing ever wakes it before its timeout. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
/** A directory {@link TraceInstance.premake} asked the thread pool to make. */
interface Making {
  dir: string;
  /** Settles once the pool's mkdir is done (and the removal it may owe, in premake). */
  done: Promise<void>;
}
/** Directories premake started making that no instance took yet. */
const premade = new Map<string, Making>();
/** Makings whose mkdir has not run yet, taken by an instance or not. */
const unsettled = new Set<Making>();
let exitHook = false;

/** Removes, at process exit, the instances still live and the premade directories never used. */
function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const i of [...live]) i.remove();
    for (const d of [...premade.keys(), ...[...unsettled].map((m) => m.dir)]) {
      try {
        rmdirSync(d);
      } catch {
        // Never made, or already gone.
      }
    }
  });
}

let pidNs: { id: number | undefined } | undefined;

/**
 * This process's pid namespace (see {@link namespaceInode}), read once. tracefs is shared by every
 * pid namespace that mounts it, and in each of them pids start at 1: an instance's name carries
 * the namespace, so that two processes of the same pid in two containers do not take one
 * instance, and a sweep only judges the instances of its own namespace.
 */
export function pidNamespace(): number | undefined {
  pidNs ??= { id: namespaceInode("/proc/self/ns/pid") };
  return pidNs.id;
}

/** The directory of this process's instance `tag` under tracefs `root`. */
function instanceDir(root: string, tag: string): string {
  const ns = pidNamespace();
  return `${root}/instances/tsbpf-${process.pid}-${tag}${ns === undefined ? "" : `-ns${ns}`}`;
}

/** Options of {@link TraceInstance.create}. */
export interface TraceInstanceOptions {
  /** The syscall layer, used to mount tracefs when it is missing; the real one by default. */
  sys?: Sys;
  /**
   * A tracefs event filter, such as `common_pid == 1234`; or a function of the instance's
   * directory that returns one, called after the instance is made and before anything in it is
   * enabled (for a filter that needs the instance to be worked out).
   */
  filter?: string | ((dir: string) => string);
}

/** One private tracefs instance recording bpf_trace_printk lines (needs root). */
export class TraceInstance {
  /** The instance directory; its `trace_pipe` yields the recorded lines. */
  readonly dir: string;
  #removed = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Makes the instance `tsbpf-<pid>-<tag>-ns<pid namespace>` (tracefs is mounted first when
   * missing) and enables bpf_trace_printk in it. Throws a TsbpfError saying why when tracefs is
   * unusable.
   */
  static create(tag: string, opts: TraceInstanceOptions = {}): TraceInstance {
    const root = ensureTracefs(opts.sys ?? defaultSys());
    removeStaleInstances(`${root}/instances`);
    const dir = instanceDir(root, tag);
    const wasPremade = premade.delete(dir);
    try {
      let madeHere = true;
      try {
        mkdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        madeHere = false;
      }
      const ev = `${dir}/events/bpf_trace/bpf_trace_printk`;
      // Premade, or still being made by premake's thread: tracefs makes an instance's directory
      // before its event files, without holding its parent locked, so this process's mkdir can
      // find the directory while the files are not there yet (ENOENT, about 1 in 150 here when
      // create follows premake within a few milliseconds). Wait for them, a millisecond at a time.
      const waitFiles = wasPremade && !madeHere ? Date.now() + PREMADE_WAIT_MS : 0;
      for (;;) {
        try {
          if (opts.filter !== undefined)
            writeFileSync(`${ev}/filter`, typeof opts.filter === "string" ? opts.filter : opts.filter(dir));
          writeFileSync(`${ev}/enable`, "1");
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT" || Date.now() >= waitFiles) throw e;
          Atomics.wait(SLEEPER, 0, 0, 1);
        }
      }
    } catch (cause) {
      try {
        rmdirSync(dir);
      } catch {
        // It may not exist; nothing else to undo.
      }
      // A filter function's own error already says what it could not work out.
      if (cause instanceof TsbpfError) throw cause;
      const code = (cause as NodeJS.ErrnoException).code;
      throw new TsbpfError(
        `cannot set up the trace instance ${dir}${code === undefined ? "" : `: ${code}`}`,
        { cause, hint: instanceHint(code) },
      );
    }
    const inst = new TraceInstance(dir);
    live.add(inst);
    hookExit();
    return inst;
  }

  /**
   * Starts making the directory of instance `tag` on libuv's thread pool, so that a later
   * {@link create} of the same tag finds it made: the kernel takes about 10 ms to make an
   * instance (its ring buffer and event files), which `tsbpf attach` spends while it loads
   * instead. Nothing is recorded before {@link create} enables bpf_trace_printk in it. A
   * directory no instance takes is removed at exit. tracefs is mounted first when missing (as
   * create would); when that or the directory fails, nothing is premade and create says why.
   */
  static premake(tag: string, opts: Pick<TraceInstanceOptions, "sys"> = {}): void {
    let root: string;
    try {
      root = ensureTracefs(opts.sys ?? defaultSys());
    } catch {
      return;
    }
    const dir = instanceDir(root, tag);
    if (premade.has(dir)) return;
    hookExit();
    // node:fs's callback, not node:fs/promises (12 more of Node's modules at start-up).
    const making: Making = { dir, done: Promise.resolve() };
    making.done = new Promise<void>((done) =>
      mkdir(dir, (e) => {
        unsettled.delete(making);
        if (premade.get(dir) === making) {
          if (e !== null) premade.delete(dir);
        } else if (e === null && ![...live].some((i) => i.dir === dir)) {
          // create() took the directory and no instance holds it now: either this mkdir made it
          // again after create()'s own won the race and remove() ran (found by
          // trace-premake.test.ts, 2 in 300), or remove() already took it (ENOENT, below).
          try {
            rmdirSync(dir);
          } catch {
            // Already gone, or taken meanwhile by a reader: the exit handler or the next
            // process's sweep removes it.
          }
        }
        done();
      }),
    );
    unsettled.add(making);
    premade.set(dir, making);
  }

  /**
   * Removes the directories {@link premake} made that no instance took (once their making is
   * done), as when the load they were made for failed; also waits for every premake's mkdir to
   * have run, taken ones included, so that none makes a directory after this.
   */
  static async dropPremade(): Promise<void> {
    for (const m of [...unsettled]) await m.done;
    for (const [dir, making] of [...premade]) {
      await making.done;
      premade.delete(dir);
      try {
        rmdirSync(dir);
      } catch {
        // Never made, or already gone.
      }
    }
  }

  /**
   * Removes the instance. While its trace_pipe is still open the kernel refuses (EBUSY); it is
   * tried again on the next call and at exit. Idempotent.
   */
  remove(): void {
    if (this.#removed) return;
    try {
      rmdirSync(this.dir);
    } catch (e) {
      // Busy: left for a later call; an instance left behind holds no BPF objects, only a buffer.
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") return;
    }
    this.#removed = true;
    live.delete(this);
  }
}

/**
 * Removes instances left by tsbpf processes that died without their exit handler (SIGKILL):
 * those of this pid namespace whose pid is gone. Another namespace's pids mean nothing here (its
 * live process may have a pid no process has in this one), so its instances are left alone; a
 * name without a namespace (an older tsbpf's) is judged as before, by its pid here.
 */
function removeStaleInstances(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const ours = pidNamespace();
  for (const n of names) {
    const m = /^tsbpf-(\d+)-.*?(?:-ns(\d+))?$/.exec(n);
    if (m?.[1] === undefined) continue;
    const ns = m[2] === undefined ? ours : Number(m[2]);
    if (ns !== ours || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") continue;
      try {
        rmdirSync(`${dir}/${n}`);
      } catch {
        // Still open somewhere, or already gone.
      }
    }
  }
}

/** Why an instance could not be made, by errno: only a refusal is about privilege. */
function instanceHint(code: string | undefined): string {
  switch (code) {
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return "reading trace lines needs root (tracefs is writable by root only)";
    case "ENOENT":
      return "this kernel has no bpf_trace_printk event in trace instances (CONFIG_BPF_EVENTS), or the instance was removed while it was being set up";
    case "ENOSPC":
    case "ENOMEM":
      return "the kernel could not allocate the instance's ring buffer; remove unused instances under tracefs's instances/";
    default:
      return "see the cause; tracefs's instances/ directory must be writable and support bpf_trace_printk";
  }
}
