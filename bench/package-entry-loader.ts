/**
 * bench/tsbpf-loader.ts's job with tsbpf imported as a user's program imports it: `import("tsbpf")`
 * resolves through package.json's "exports" to the package entry (dist/src/package-entry.js: the
 * library bundled and compiled through V8's code cache, docs/code-cache.md), as it does from an
 * installed or linked package. Same arguments, phases and JSON line as bench/tsbpf-loader.ts.
 *
 *   node dist/bench/package-entry-loader.js OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 */
import { elfJobArgs, LoaderPhases, runElfJob } from "./loader-job.js";

const t0 = process.hrtime.bigint();

async function main(): Promise<void> {
  const args = elfJobArgs("package-entry-loader");
  const { Collection, kernel, loadCollectionSpec } = await import("tsbpf");
  // The native layer counts as import, as the dynamic linker's work does for the C loader
  // (see bench/tsbpf-loader.ts).
  kernel.loadNativeLayer();
  await runElfJob({ Collection, loadCollectionSpec }, args, new LoaderPhases(t0));
}

main().catch((e: unknown) => {
  console.error(`package-entry-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
