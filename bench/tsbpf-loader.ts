/**
 * tsbpf's side of the loader benchmark: the same job as bench/c/loader.c on libbpf. It loads an
 * object into the kernel, fills two prog-array slots, attaches the dispatcher as XDP through a
 * bpf_link, prints its own timings as one JSON line, detaches and exits.
 *
 *   node dist/bench/tsbpf-loader.js OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 *
 * tsbpf is imported dynamically after the first clock reading, so the import cost (the library's
 * modules, and koffi's native binary with libc) is measured rather than hidden before `main`. Times are from
 * process.hrtime (CLOCK_MONOTONIC), comparable with the C loader's and the parent's.
 */
import { elfJobArgs, LoaderPhases, runElfJob } from "./loader-job.js";

const t0 = process.hrtime.bigint();

async function main(): Promise<void> {
  const args = elfJobArgs("tsbpf-loader");
  const { Collection } = await import("../src/collection.js");
  const { loadCollectionSpec } = await import("../src/object/load-collection-spec.js");
  // The kernel engine is imported on first use by Collection.load, and it loads koffi's native
  // binary and libc on its first syscall; do both here so that their cost shows up as "import"
  // and not as "load". They are the counterpart of what the dynamic linker does for the C loader
  // (mapping libbpf, libelf and libc) before its main() and first clock reading.
  const { defaultSys } = await import("../src/kernel/sys.js");
  await import("../src/kernel/kernel-collection.js");
  defaultSys();
  await runElfJob({ Collection, loadCollectionSpec }, args, new LoaderPhases(t0));
}

main().catch((e: unknown) => {
  console.error(`tsbpf-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
