#!/usr/bin/env node
// The CLI bundled into one module (scripts/bundle.mjs) starts faster than dist/src's module graph;
// the graph is used when there is no bundle or it is older than the build.
import { statSync } from "node:fs";

const bundle = new URL("../dist/src/cli/tsbpf.bundle.js", import.meta.url);
const graph = new URL("../dist/src/cli/main.js", import.meta.url);
let entry = graph;
try {
  if (statSync(bundle).mtimeMs >= statSync(graph).mtimeMs) entry = bundle;
} catch {
  // No bundle: the module graph.
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
