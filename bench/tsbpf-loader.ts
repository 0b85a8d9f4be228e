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
  // The package's root, as a user's program imports it (and as the package entry starts every
  // module it holds): what the job runs starts here, not inside the phases.
  const { Collection, kernel, loadCollectionSpec } = await import("../src/index.js");
  // The kernel engine loads koffi's native binary and libc on its first syscall; load them here
  // so that their cost shows up as "import" and not as "load": the counterpart of what the
  // dynamic linker does for the C loader (mapping libbpf, libelf and libc) before its main() and
  // first clock reading. No bpf() call is made: the engine's first call, and the native memory
  // it makes for it, stay in the timed phases, as libbpf's first calls are in the C loader's.
  kernel.loadNativeLayer();
  await runElfJob({ Collection, loadCollectionSpec }, args, new LoaderPhases(t0));
}

main().catch((e: unknown) => {
  console.error(`tsbpf-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
