/**
 * bench/tsbpf-loader.ts's job written as one of the CLI's commands is (src/cli/attach.ts): static
 * imports of the modules it uses, not the package's root. Bundled by scripts/bundle.mjs and run
 * through bin/tsbpf.js's code-cache loading (bench/code-cache-run.cts), it is the "as the CLI runs"
 * column of table 3: a command's bundle holds the modules it imports and starts them, where the
 * root's namespace starts every layer and builds a getter per export (about 500 KB more young
 * generation by attached than `tsbpf attach` itself, enough to put V8's first scavenge, which
 * `tsbpf attach` never reaches before attaching, inside the timed open).
 *
 *   TSBPF_CODE_CACHE_DIR=DIR node dist/bench/code-cache-run.cjs dist/bench/cli-style-loader.bundle.cjs \
 *     OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 */
// First: its clock reading is the job's start, before the library's modules (see clock-start.ts).
import { t0 } from "./clock-start.js";
import { Collection } from "../src/collection.js";
// The kernel engine, which Collection.load imports on first use: started here with the other
// modules, as the package entry starts every module at import and as attach.ts imports the
// kernel modules it uses, so that its start counts as import and not as load.
import "../src/kernel/kernel-collection.js";
import { loadNativeLayer } from "../src/kernel/sys.js";
import { loadCollectionSpec } from "../src/object/load-collection-spec.js";
import { elfJobArgs, LoaderPhases, runElfJob } from "./loader-job.js";

async function main(): Promise<void> {
  const args = elfJobArgs("cli-style-loader");
  // As in bench/tsbpf-loader.ts: koffi and libc count as import, no bpf() call is made.
  loadNativeLayer();
  await runElfJob({ Collection, loadCollectionSpec }, args, new LoaderPhases(t0));
}

main().catch((e: unknown) => {
  console.error(`cli-style-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
