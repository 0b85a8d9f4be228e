/**
 * Runs a bundle made by scripts/bundle.mjs through bin/tsbpf.js's own loading (`loadBundle`: the
 * bundle compiled through vm.Script with V8's code cache, the cache written at exit when missing),
 * so the loader benchmark times tsbpf's library code as the CLI ships and starts it, next to the
 * same code as ES modules (which Node 20 compiles afresh in every process).
 *
 *   TSBPF_CODE_CACHE_DIR=DIR node dist/bench/code-cache-run.cjs BUNDLE [ARGS...]
 *
 * The cache is DIR/<bundle's file name>.cache, and the object cache DIR/<bundle's file name>.objects;
 * ARGS become the bundle's process.argv.slice(2).
 */
// CommonJS, as bin/tsbpf.js is: an ES module entry point starts Node's ES module loader, whose
// allocations (about 150 KB of young generation) the CLI never makes, and which moved V8's first
// scavenge (about 3 ms here) into the loader's timed open.
import path = require("node:path");

/** What bin/tsbpf.js exports for the package entry (and this runner). */
interface BinLoader {
  loadBundle(
    file: string,
    opts: {
      name: string;
      importer: (specifier: string) => Promise<unknown>;
      isPartial: (exitCode: number) => boolean;
      objects?: boolean;
    },
  ): unknown;
}

const bundle = process.argv[2];
if (bundle === undefined || process.env.TSBPF_CODE_CACHE_DIR === undefined) {
  console.error("usage: TSBPF_CODE_CACHE_DIR=DIR code-cache-run BUNDLE [ARGS...]");
  process.exit(2);
}
process.argv.splice(2, 1);
// dist/bench/ → the package's bin/ (a path computed at run time: tsc does not copy bin/).
const bin = require(path.join(__dirname, "..", "..", "bin", "tsbpf.js")) as BinLoader;
bin.loadBundle(path.resolve(bundle), {
  name: `${path.basename(bundle)}.cache`,
  importer: (specifier) => import(specifier),
  isPartial: (code) => code !== 0,
  // With the object cache in the same file, as the CLI's commands have theirs.
  objects: true,
});
