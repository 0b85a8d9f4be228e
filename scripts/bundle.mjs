// Bundles the CLI and the library it uses into one CommonJS script, dist/src/cli/tsbpf.bundle.cjs,
// which bin/tsbpf.js loads (when present) instead of ~180 separate modules: Node resolves, reads and
// compiles each module of an ES module graph apart, which cost about 150 ms of every command's
// start-up. It is a script, not a module, so that bin/tsbpf.js can compile it through vm.Script
// with V8's code cache (Node 20 has none for modules). The bundle sits next to main.js so its
// relative URLs (package.json, the demo's object) still resolve; `import.meta.url` becomes
// `__tsbpfMetaUrl`, which bin/tsbpf.js passes in. Native and WebAssembly dependencies stay
// external. See docs/dependencies.md.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

let build;
try {
  ({ build } = await import("esbuild"));
} catch {
  // Without the dev dependency (an install with --omit=dev) the CLI runs from dist/src's modules.
  console.warn("bundle: esbuild is not installed; bin/tsbpf.js will load dist/src (slower start-up)");
  process.exit(0);
}

/**
 * How the bundle starts: a function of what a CommonJS module gets, plus `import.meta.url` and
 * `import()` (below), which bin/tsbpf.js and bench/code-cache-run.cts call.
 */
const WRAPPER_HEAD =
  "(function (exports, require, module, __filename, __dirname, __tsbpfMetaUrl, __tsbpfImport) {";

/**
 * Bundles `entry` into the CommonJS script `out`, with the SHA-1 line bin/tsbpf.js keys its code
 * cache on; `external` lists `[module, file]` pairs left out and required from `./file` instead.
 */
async function bundle(entry, out, external = []) {
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["koffi", "@hpcc-js/wasm-graphviz", ...external.map(([name]) => name)],
    logLevel: "warning",
    legalComments: "none",
    // Less source for V8 to read and compile at start-up. Functions and classes keep no names:
    // esbuild's keepNames sets each one's `name` when the bundle starts (a defineProperty per
    // function, about 140 KB of heap and a garbage collection before attach is done: issue 14).
    // Error classes, which are told apart by name, set their `name` themselves (src/errors.ts).
    minify: true,
    define: { "import.meta.url": "__tsbpfMetaUrl" },
  });
  // A dynamic import() inside a script compiled with a code cache fails in Node 20 (the cached code
  // has lost its importer), so the external ones call bin/tsbpf.js's `__tsbpfImport` instead.
  let code = readFileSync(out, "utf8").replace(/\bimport\((?="[^"]+"\))/g, "__tsbpfImport(");
  // Each external of ours is a script next to the bundle (`[name, file]`).
  for (const [name, file] of external) {
    if (!code.includes(`require("${name}")`))
      throw new Error(`bundle: no require("${name}") to point at ./${file}`);
    code = code.replaceAll(`require("${name}")`, `require("./${file}")`);
  }
  const left = code.match(/\bimport\(/g)?.length ?? 0;
  if (left > 0)
    throw new Error(
      `bundle: ${left} dynamic import() of a computed name left; bin/tsbpf.js cannot serve them`,
    );
  // The script is the function bin/tsbpf.js calls, so that it compiles the file's text as read:
  // wrapping it at start-up made V8 copy and flatten a second 500 KB string.
  code = `${WRAPPER_HEAD}${code}\n})`;
  // The first line names the content's SHA-1: bin/tsbpf.js keys its code cache on it without
  // loading node:crypto (about 10 ms) and hashing 500 KB on every start.
  writeFileSync(out, `// tsbpf-bundle sha1=${createHash("sha1").update(code).digest("hex")}\n${code}`);
}

// The YAML parser (120 of the bundle's 570 KB) is a script of its own next to the bundle, which
// the bundle requires when a pipeline file is first parsed: commands given an object (attach,
// run, inspect...) neither read nor compile it (issue 14's cold start).
await build({
  entryPoints: [createRequire(import.meta.url).resolve("yaml")],
  outfile: "dist/src/cli/tsbpf.yaml.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
  legalComments: "none",
  minify: true,
});
await bundle("dist/src/cli/main.js", "dist/src/cli/tsbpf.bundle.cjs", [["yaml", "tsbpf.yaml.cjs"]]);
// The loader benchmark's tsbpf side, bundled the same way: bench/loader-bench.ts times it through
// the code cache as well as from dist/src's modules (docs/benchmarks.md).
if (existsSync("dist/bench/tsbpf-loader.js"))
  await bundle("dist/bench/tsbpf-loader.js", "dist/bench/tsbpf-loader.bundle.cjs");
// The ES module bundle of earlier builds; its code caches are for another bundle.
rmSync("dist/src/cli/tsbpf.bundle.js", { force: true });
