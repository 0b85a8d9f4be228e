#!/usr/bin/env node
// Starts the CLI. The CLI bundled into one CommonJS script (scripts/bundle.mjs) starts faster than
// dist/src's ~180 modules, and faster again when V8 need not parse and compile its 500 KB: the
// script is compiled through vm.Script with V8's code cache (cachedData), which Node 20 offers for
// no module. The module graph is used when there is no bundle or it is older than the build.
//
// The code cache (issue 14's cold start; docs/benchmarks.md) is one file per command, kept next to
// the bundle or, when that directory is not writable (a read-only install, another user), in
// $XDG_CACHE_HOME/tsbpf (~/.cache/tsbpf); TSBPF_CODE_CACHE_DIR chooses the directory instead,
// and TSBPF_CODE_CACHE=0 turns it off. A file starts with a key line (the SHA-1 of the bundle's
// content, which scripts/bundle.mjs writes on its first line, its length, Node's version and the
// architecture): a file for another bundle or Node is stale and ignored, and V8 itself rejects
// data it cannot use. A bundle without the SHA-1 line gets no cache. A missing, stale, rejected or unwritable cache only costs
// the compile; the file is (re)written when the process exits, after the command compiled what
// it uses. A run that fails or prints help compiles little of its command, so its cache is
// marked partial and replaced by the next run that succeeds. TSBPF_CODE_CACHE_TRACE=1 says on
// stderr what happened.
//
// This file is CommonJS (bin/package.json says so): an ES module entry point makes Node load
// and run its ES module loader first, about 8 ms of every command's start-up.
"use strict";
const { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { homedir } = require("node:os");
const { dirname, join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { Script } = require("node:vm");

const bundle = join(__dirname, "..", "dist", "src", "cli", "tsbpf.bundle.cjs");
const graph = join(__dirname, "..", "dist", "src", "cli", "main.js");
/** What follows the key of a cache written by a run that failed or printed help. */
const PARTIAL = " partial\n";

(async () => {
  let main;
  try {
    if (statSync(bundle).mtimeMs >= statSync(graph).mtimeMs) main = loadBundle(bundle);
  } catch (e) {
    if (e?.code !== "ENOENT") throw e;
    // No bundle: the module graph.
  }
  main ??= (await import(pathToFileURL(graph).href)).main;
  process.exitCode = await main(process.argv.slice(2));
})().catch((e) => {
  // main() reports its own errors; this is a broken install (no dist/src).
  process.stderr.write(`tsbpf: cannot start: ${e?.message ?? e}\n`);
  process.exitCode = 1;
});

/** Compiles and runs the bundle with the code cache; returns its `main`. */
function loadBundle(file) {
  const source = readFileSync(file, "utf8");
  const trace =
    process.env.TSBPF_CODE_CACHE_TRACE === "1" ? (m) => process.stderr.write(`code cache: ${m}\n`) : () => {};
  const sha1 = /^\/\/ tsbpf-bundle sha1=([0-9a-f]{40})\n/.exec(source)?.[1];
  const enabled = process.env.TSBPF_CODE_CACHE !== "0" && sha1 !== undefined;
  const key = `${sha1} ${source.length} ${process.version} ${process.arch}\n`;
  const command = /^[a-z][a-z-]{0,23}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
  const name = `tsbpf.bundle.${command}.cache`;
  const dirs = process.env.TSBPF_CODE_CACHE_DIR
    ? [process.env.TSBPF_CODE_CACHE_DIR]
    : [dirname(file), join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "tsbpf")];

  // A cache written by a run that failed or only printed help holds little of the command's code
  // (a typo, `attach --help`): it is used, but marked partial, and the first run that succeeds
  // writes a full one over it. A full cache is never rewritten.
  const base = key.slice(0, -1);
  let cachedData;
  let partial = false;
  let state = "missing";
  for (const dir of enabled ? dirs : []) {
    let bytes;
    try {
      bytes = readFileSync(join(dir, name));
    } catch {
      continue;
    }
    const head = bytes.toString("latin1", 0, base.length + PARTIAL.length);
    if (head.startsWith(key) || head === base + PARTIAL) {
      partial = !head.startsWith(key);
      cachedData = bytes.subarray(partial ? base.length + PARTIAL.length : key.length);
      state = `hit ${join(dir, name)}${partial ? " (partial)" : ""}`;
      break;
    }
    state = `stale ${join(dir, name)}`;
  }
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname, __tsbpfMetaUrl, __tsbpfImport) {${source}\n})`,
    {
      filename: file,
      ...(cachedData === undefined ? {} : { cachedData }),
    },
  );
  if (cachedData !== undefined && script.cachedDataRejected) state = "rejected by V8";
  trace(state);
  if (enabled && (cachedData === undefined || script.cachedDataRejected || partial)) {
    process.once("exit", (code) => {
      const thisPartial = code !== 0 || process.argv.includes("--help") || process.argv.includes("-h");
      // A partial cache is replaced by a full one only.
      if (partial && !script.cachedDataRejected && thisPartial) return;
      const header = thisPartial ? base + PARTIAL : key;
      trace(`${writeCache(script.createCachedData(), header, dirs, name)}${thisPartial ? " (partial)" : ""}`);
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
    pathToFileURL(file).href,
    (specifier) => import(specifier),
  );
  return module.exports.main;
}

/** Writes the cache to the first directory that takes it (atomically); says where, or why not. */
function writeCache(data, key, dirs, name) {
  const reasons = [];
  for (const dir of dirs) {
    const tmp = join(dir, `${name}.${process.pid}.tmp`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, Buffer.concat([Buffer.from(key, "latin1"), data]));
      renameSync(tmp, join(dir, name));
      return `written ${join(dir, name)}`;
    } catch (e) {
      reasons.push(`${dir}: ${e?.code ?? e}`);
      try {
        unlinkSync(tmp);
      } catch {
        // Never written.
      }
    }
  }
  return `not written (${reasons.join("; ")})`;
}
