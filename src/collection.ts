import type { BackendName } from "./backend/types.js";
import { UsageError } from "./errors.js";
import type { KernelCollection } from "./kernel/kernel-collection.js";
import type { CollectionSpec } from "./object/types.js";
import { instrumentCollection } from "./stats/instrument.js";
import type { VmCollection, VmCollectionOptions } from "./vm/vm-collection.js";

/** Options of {@link Collection.load}. */
export interface CollectionOptions {
  /** Which engine runs the programs: the built-in VM (default) or the Linux kernel. */
  backend: BackendName;
  /** Kernel: where `pinning: by_name` maps are pinned (default /sys/fs/bpf). */
  pinDir: string | undefined;
  /** Kernel: verifier log level kept for successful loads. */
  logLevel: number;
  /** Kernel: the network namespace programs attach and run in (a name from `ip netns add`). */
  netns: string | undefined;
  /** VM: engine options (CPUs, budget, random seed...). */
  vm: Partial<VmCollectionOptions>;
  /** Where warnings go (a prog array about to be emptied, BTF dropped...). */
  onWarning: ((message: string) => void) | undefined;
  /**
   * Count each program's runs and verdicts and each tail-call site's calls and misses per key,
   * which the kernel cannot tell inside a tail-call chain: the programs are rewritten
   * (`instrumentCollection`) before either engine loads them; `readStats(coll)` reads the counts.
   */
  stats: boolean;
  /**
   * Kernel: maps taken over from these pins instead of created, by map name (same type and
   * sizes, checked), so a new version of a pipeline keeps the old one's state (`state:`).
   */
  reuseMaps: Readonly<Record<string, string>> | undefined;
}

/**
 * The collection {@link Collection.load} returns for a backend: a {@link KernelCollection} for
 * `"kernel"` (with `attachXdp`, `pin` and `trace`), a {@link VmCollection} for `"vm"`, and
 * either, told apart by `backend`, when the backend is only known at run time.
 */
export type CollectionFor<B extends BackendName> = B extends "kernel" ? KernelCollection : VmCollection;

const DEFAULTS: CollectionOptions = Object.freeze({
  backend: "vm",
  pinDir: undefined,
  logLevel: 0,
  netns: undefined,
  vm: {},
  onWarning: undefined,
  stats: false,
  reuseMaps: undefined,
});

/** Loads `spec` into the Linux kernel: the live collection can attach, pin and stream trace lines. */
function load(
  spec: CollectionSpec,
  opts: Partial<CollectionOptions> & { backend: "kernel" },
): Promise<KernelCollection>;
/** Loads `spec` into the built-in VM (the default engine). */
function load(
  spec: CollectionSpec,
  opts?: Partial<CollectionOptions> & { backend?: "vm" },
): Promise<VmCollection>;
/** Loads `spec` into an engine chosen at run time; `coll.backend` tells which one it is. */
function load(spec: CollectionSpec, opts?: Partial<CollectionOptions>): Promise<CollectionFor<BackendName>>;
async function load(
  spec: CollectionSpec,
  opts: Partial<CollectionOptions> = {},
): Promise<CollectionFor<BackendName>> {
  const o: CollectionOptions = { ...DEFAULTS, ...opts };
  if (o.stats) spec = instrumentCollection(spec).spec;
  if (o.backend === "vm") {
    // Imported here too: the kernel path (attach, up) need not load and compile the VM.
    const { loadVmCollection } = await import("./vm/vm-collection.js");
    return loadVmCollection(spec, o.vm);
  }
  if (o.backend === "kernel") {
    // Imported here, not above: the VM path must never load the native FFI (koffi).
    const { loadKernelCollection } = await import("./kernel/kernel-collection.js");
    return loadKernelCollection(spec, {
      ...(o.pinDir === undefined ? {} : { pinDir: o.pinDir }),
      ...(o.onWarning === undefined ? {} : { onWarning: o.onWarning }),
      ...(o.netns === undefined ? {} : { netns: o.netns }),
      ...(o.reuseMaps === undefined ? {} : { reuseMaps: o.reuseMaps }),
      logLevel: o.logLevel,
    });
  }
  throw new UsageError(`unknown backend '${String(o.backend)}'`, { hint: "use vm or kernel" });
}

/**
 * Live maps and programs of one object, on either engine. `Collection.load` is the entry point:
 * its result is typed by the backend asked for, and the kernel engine is imported only when
 * asked for, so the VM path never loads native code.
 */
export const Collection = {
  /** Loads `spec` into the chosen engine, with the object's static prog-array slots filled. */
  load,
};
