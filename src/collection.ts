import { availableParallelism } from "node:os";
import type { BackendName, LoadedCollection } from "./backend/types.js";
import { UsageError } from "./errors.js";
import type { CollectionSpec } from "./object/types.js";
import { loadVmCollection, type VmCollectionOptions } from "./vm/vm-collection.js";

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
}

const DEFAULTS: CollectionOptions = Object.freeze({
  backend: "vm",
  pinDir: undefined,
  logLevel: 0,
  netns: undefined,
  vm: {},
  onWarning: undefined,
});

/**
 * Live maps and programs of one object, on either engine. `Collection.load` is the entry point;
 * the kernel engine is imported only when asked for, so the VM path never loads native code.
 */
export const Collection = {
  /** Loads `spec` into the chosen engine, with the object's static prog-array slots filled. */
  async load(spec: CollectionSpec, opts: Partial<CollectionOptions> = {}): Promise<LoadedCollection> {
    const o: CollectionOptions = { ...DEFAULTS, ...opts };
    if (o.backend === "vm") {
      return loadVmCollection(spec, { possibleCpus: availableParallelism(), ...o.vm });
    }
    if (o.backend === "kernel") {
      const { loadKernelCollection } = await import("./kernel/kernel-collection.js");
      return loadKernelCollection(spec, {
        ...(o.pinDir === undefined ? {} : { pinDir: o.pinDir }),
        ...(o.onWarning === undefined ? {} : { onWarning: o.onWarning }),
        ...(o.netns === undefined ? {} : { netns: o.netns }),
        logLevel: o.logLevel,
      });
    }
    throw new UsageError(`unknown backend '${String(o.backend)}'`, { hint: "use vm or kernel" });
  },
};
