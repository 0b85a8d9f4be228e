// Bundles the CLI and the library it uses into one module, dist/src/cli/tsbpf.bundle.js, which
// bin/tsbpf.js loads (when present) instead of ~180 separate modules: Node resolves, reads and
// compiles each module of an ES module graph apart, which cost about 150 ms of every command's
// start-up. The bundle sits next to main.js so its relative URLs (package.json, the demo's
// object) still resolve. Native and WebAssembly dependencies stay external. See docs/dependencies.md.
let build;
try {
  ({ build } = await import("esbuild"));
} catch {
  // Without the dev dependency (an install with --omit=dev) the CLI runs from dist/src's modules.
  console.warn("bundle: esbuild is not installed; bin/tsbpf.js will load dist/src (slower start-up)");
  process.exit(0);
}

await build({
  entryPoints: ["dist/src/cli/main.js"],
  outfile: "dist/src/cli/tsbpf.bundle.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["koffi", "@hpcc-js/wasm-graphviz"],
  logLevel: "warning",
  legalComments: "none",
  // Less source for V8 to parse at start-up; names kept (error classes are told apart by name).
  minify: true,
  keepNames: true,
  // CommonJS dependencies (yaml) call require(); an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __tsbpfRequire } from "node:module"; const require = __tsbpfRequire(import.meta.url);',
  },
});
