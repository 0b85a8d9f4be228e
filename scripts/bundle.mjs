// Bundles the CLI and the library it uses into one CommonJS script, dist/src/cli/tsbpf.bundle.cjs,
// which bin/tsbpf.js loads (when present) instead of ~180 separate modules: Node resolves, reads and
// compiles each module of an ES module graph apart, which cost about 150 ms of every command's
// start-up. It is a script, not a module, so that bin/tsbpf.js can compile it through vm.Script
// with V8's code cache (Node 20 has none for modules). The bundle sits next to main.js so its
// relative URLs (package.json, the demo's object) still resolve; `import.meta.url` becomes
// `__tsbpfMetaUrl`, which bin/tsbpf.js passes in. Native and WebAssembly dependencies stay
// external. See docs/dependencies.md.
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";

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
  outfile: "dist/src/cli/tsbpf.bundle.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["koffi", "@hpcc-js/wasm-graphviz"],
  logLevel: "warning",
  legalComments: "none",
  // Less source for V8 to parse at start-up; names kept (error classes are told apart by name).
  minify: true,
  keepNames: true,
  define: { "import.meta.url": "__tsbpfMetaUrl" },
});
// A dynamic import() inside a script compiled with a code cache fails in Node 20 (the cached code
// has lost its importer), so the external ones call bin/tsbpf.js's `__tsbpfImport` instead.
const out = "dist/src/cli/tsbpf.bundle.cjs";
const code = readFileSync(out, "utf8").replace(/\bimport\((?="[^"]+"\))/g, "__tsbpfImport(");
const left = code.match(/\bimport\(/g)?.length ?? 0;
if (left > 0)
  throw new Error(`bundle: ${left} dynamic import() of a computed name left; bin/tsbpf.js cannot serve them`);
// The first line names the content's SHA-1: bin/tsbpf.js keys its code cache on it without
// loading node:crypto (about 10 ms) and hashing 500 KB on every start.
writeFileSync(out, `// tsbpf-bundle sha1=${createHash("sha1").update(code).digest("hex")}\n${code}`);
// The ES module bundle of earlier builds; its code caches are for another bundle.
rmSync("dist/src/cli/tsbpf.bundle.js", { force: true });
