#!/usr/bin/env node
// Starts the CLI. The CLI bundled into one CommonJS script (scripts/bundle.mjs) starts faster than
// dist/src's ~180 modules, and faster again when V8 need not parse and compile its 500 KB:
// bin/load-bundle.js compiles it through vm.Script with V8's code cache, one cache file per
// command (docs/code-cache.md). The module graph is used when there is no bundle or tsc built
// after it. A run that fails or prints help compiles little of its command, so its cache is
// partial and replaced by the next run that succeeds.
//
// This file is CommonJS (bin/package.json says so): an ES module entry point makes Node load
// and run its ES module loader first, about 8 ms of every command's start-up.
"use strict";
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { bundleIsFresh, loadBundle } = require("./load-bundle.js");

const bundle = join(__dirname, "..", "dist", "src", "cli", "tsbpf.bundle.cjs");
const graph = join(__dirname, "..", "dist", "src", "cli", "main.js");
const buildInfo = join(__dirname, "..", "dist", "tsconfig.tsbuildinfo");

(async () => {
  let main;
  if (bundleIsFresh(bundle, buildInfo)) {
    const command = /^[a-z][a-z-]{0,23}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
    main = loadBundle(bundle, {
      name: `tsbpf.bundle.${command}.cache`,
      importer: (specifier) => import(specifier),
      isPartial: (code) => code !== 0 || process.argv.includes("--help") || process.argv.includes("-h"),
    }).main;
  }
  // No bundle: the module graph.
  main ??= (await import(pathToFileURL(graph).href)).main;
  process.exitCode = await main(process.argv.slice(2));
})().catch((e) => {
  // main() reports its own errors; this is a broken install (no dist/src).
  process.stderr.write(`tsbpf: cannot start: ${e?.message ?? e}\n`);
  process.exitCode = 1;
});
