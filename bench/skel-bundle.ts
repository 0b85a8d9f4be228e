/**
 * Bundles bench/tsbpf-skel-loader.ts the way scripts/bundle.mjs bundles the CLI and
 * bench/tsbpf-loader.ts (one minified CommonJS script that is the function
 * bench/code-cache-run.cts calls), so table 3 can time the skeleton path as the CLI's code runs
 * too. The skeleton imports the package by name (`tsbpf`): here that is dist/src/index.js.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

/** The head scripts/bundle.mjs gives a bundle: what code-cache-run.cts calls it with. */
const WRAPPER_HEAD =
  "(function (exports, require, module, __filename, __dirname, __tsbpfMetaUrl, __tsbpfImport) {";

/** Writes the skeleton loader's bundle to `out`; throws when esbuild is not installed. */
export async function bundleSkelLoader(out: string): Promise<void> {
  const { build } = await import("esbuild");
  await build({
    entryPoints: ["dist/bench/tsbpf-skel-loader.js"],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["koffi", "@hpcc-js/wasm-graphviz"],
    alias: { tsbpf: resolve("dist/src/index.js") },
    logLevel: "warning",
    legalComments: "none",
    minify: true,
    define: { "import.meta.url": "__tsbpfMetaUrl" },
  });
  const code = readFileSync(out, "utf8").replace(/\bimport\((?="[^"]+"\))/g, "__tsbpfImport(");
  writeFileSync(out, `${WRAPPER_HEAD}${code}\n})`);
}
