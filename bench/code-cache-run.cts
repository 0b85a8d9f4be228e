/**
 * Runs a CommonJS bundle the way bin/tsbpf.js runs the CLI's: compiled through vm.Script with
 * V8's code cache (written at exit when missing), so the loader benchmark can time tsbpf's
 * library code as the CLI ships it, with no lazy compilation left, next to the same code as ES
 * modules (which Node 20 compiles afresh in every process).
 *
 *   node dist/bench/code-cache-run.cjs BUNDLE CACHE AS_FILE [ARGS...]
 *
 * AS_FILE is where the bundle's relative `require`s and `import.meta.url` resolve from (the
 * script it was bundled from); ARGS become its process.argv.slice(2).
 */
// CommonJS, as bin/tsbpf.js is: an ES module entry point starts Node's ES module loader, whose
// allocations (about 150 KB of young generation) the CLI never makes, and which moved V8's first
// scavenge (about 3 ms here) into the loader's timed open.
import fs = require("node:fs");
import nodeModule = require("node:module");
import path = require("node:path");
import url = require("node:url");
import vm = require("node:vm");

const { existsSync, readFileSync, writeFileSync } = fs;
const { createRequire } = nodeModule;
const { dirname } = path;
const { pathToFileURL } = url;
const { Script } = vm;

const [bundle, cache, asFile, ...rest] = process.argv.slice(2);
if (bundle === undefined || cache === undefined || asFile === undefined) {
  console.error("usage: code-cache-run BUNDLE CACHE AS_FILE [ARGS...]");
  process.exit(2);
}
process.argv.splice(2, 3);
void rest;
const source = readFileSync(bundle, "utf8");
const cachedData = existsSync(cache) ? readFileSync(cache) : undefined;
// scripts/bundle.mjs makes the bundle the function called below (as bin/tsbpf.js expects it).
const script = new Script(source, { filename: bundle, ...(cachedData === undefined ? {} : { cachedData }) });
if (cachedData === undefined || script.cachedDataRejected) {
  if (cachedData !== undefined) console.error("code-cache-run: the cache was rejected; rewriting it");
  process.once("exit", () => writeFileSync(cache, script.createCachedData()));
}
const mod = { exports: {} };
(script.runInThisContext() as (...a: unknown[]) => void)(
  mod.exports,
  createRequire(asFile),
  mod,
  asFile,
  dirname(asFile),
  pathToFileURL(asFile).href,
  (specifier: string) => import(specifier),
);
