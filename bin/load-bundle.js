// Loads one of tsbpf's bundles (scripts/bundle.mjs: the CLI's, dist/src/cli/tsbpf.bundle.cjs, which
// bin/tsbpf.js runs, and the library's, dist/src/tsbpf.lib.bundle.cjs, which the package entry
// dist/src/package-entry.js returns) compiled through vm.Script with V8's code cache (cachedData),
// which Node 20 offers for no module: the one home of that logic (docs/code-cache.md).
//
// A cache file is kept next to the bundle or, when that directory is not writable (a read-only
// install, another user), in $XDG_CACHE_HOME/tsbpf (~/.cache/tsbpf); TSBPF_CODE_CACHE_DIR chooses
// the directory instead, and TSBPF_CODE_CACHE=0 turns it off. A file starts with a key line (the
// SHA-1 of the bundle's content, which scripts/bundle.mjs writes on its first line, its length,
// Node's version and the architecture; padded with spaces so that the data after it is 8-byte
// aligned, which V8 would otherwise copy): a file for another bundle or Node is stale and ignored,
// and V8 itself rejects data it cannot use. A bundle without the SHA-1 line gets no cache. A
// missing, stale, rejected or unwritable cache only costs the compile; the file is (re)written
// when the process exits, after the program compiled what it uses, and writing it never fails the
// program. A run that the caller calls partial (the CLI: one that fails or prints help) compiles
// little, so its cache is marked partial and replaced by the next full run. A full cache is never
// rewritten. TSBPF_CODE_CACHE_TRACE=1 says on stderr what happened.
//
// CommonJS (bin/package.json says so), so bin/tsbpf.js starts without Node's ES module loader.
"use strict";
const { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname, join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { Script } = require("node:vm");

/** What follows the key of a cache written by a partial run. */
const PARTIAL = " partial";
/** How scripts/bundle.mjs starts a bundle (after its SHA-1 line): the function called below. */
const HEAD = "(function (exports, require, module, __filename, __dirname, __tsbpfMetaUrl, __tsbpfImport) {";

/**
 * Whether `bundle` exists and is not stale: older than `buildInfo`, the record tsc rewrites each
 * time it emits (a working tree where tsc ran after the bundle was made). An install has none
 * (npm pack leaves it out) and its files' times say nothing: npm writes them in any order. Errors
 * other than a missing file are thrown.
 */
function bundleIsFresh(bundle, buildInfo) {
  const mtime = (file) => {
    try {
      return statSync(file).mtimeMs;
    } catch (e) {
      if (e?.code !== "ENOENT") throw e;
      return undefined;
    }
  };
  const at = mtime(bundle);
  if (at === undefined) return false;
  const built = mtime(buildInfo);
  return built === undefined || at >= built;
}

/**
 * Compiles and runs `file` with the code cache `name` and returns its exports. `importer` serves
 * the bundle's dynamic imports of external modules (a script restored from a code cache has lost
 * its importer in Node 20); `isPartial(exitCode)` says whether a run's cache is partial.
 */
function loadBundle(file, { name, importer, isPartial }) {
  const source = readFileSync(file, "utf8");
  const trace =
    process.env.TSBPF_CODE_CACHE_TRACE === "1" ? (m) => process.stderr.write(`code cache: ${m}\n`) : () => {};
  const sha1 = /^\/\/ tsbpf-bundle sha1=([0-9a-f]{40})\n/.exec(source)?.[1];
  const enabled = process.env.TSBPF_CODE_CACHE !== "0" && sha1 !== undefined;
  const base = `${sha1} ${source.length} ${process.version} ${process.arch}`;
  // The home directory only when the first directory has no cache (node:os is not loaded).
  const dirAt = (i) =>
    process.env.TSBPF_CODE_CACHE_DIR
      ? [process.env.TSBPF_CODE_CACHE_DIR][i]
      : i === 0
        ? dirname(file)
        : i === 1
          ? join(
              process.env.XDG_CACHE_HOME || join(process.env.HOME || require("node:os").homedir(), ".cache"),
              "tsbpf",
            )
          : undefined;

  // A partial cache (a typo, `attach --help`) is used, and the first full run writes over it.
  let cachedData;
  let partial = false;
  let state = "missing";
  for (let i = 0; enabled && dirAt(i) !== undefined; i++) {
    const dir = dirAt(i);
    let bytes;
    try {
      bytes = readFileSync(join(dir, name));
    } catch {
      continue;
    }
    const end = bytes.indexOf(10, 0);
    const line = end < 0 ? "" : bytes.toString("latin1", 0, end).trimEnd();
    if (line === base || line === base + PARTIAL) {
      partial = line !== base;
      cachedData = bytes.subarray(end + 1);
      state = `hit ${join(dir, name)}${partial ? " (partial)" : ""}`;
      break;
    }
    state = `stale ${join(dir, name)}`;
  }
  // The bundle is the function to call; another script (not made by scripts/bundle.mjs) is wrapped.
  const wrapped = source.startsWith(HEAD, sha1 === undefined ? 0 : source.indexOf("\n") + 1);
  const script = new Script(wrapped ? source : `${HEAD}${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  if (cachedData !== undefined && script.cachedDataRejected) state = "rejected by V8";
  trace(state);
  if (enabled && (cachedData === undefined || script.cachedDataRejected || partial)) {
    process.once("exit", (code) => {
      // Whatever happens here, the program's exit stays as it was.
      try {
        const thisPartial = isPartial(code);
        // A partial cache is replaced by a full one only.
        if (partial && !script.cachedDataRejected && thisPartial) return;
        const dirs = [];
        for (let i = 0; dirAt(i) !== undefined; i++) dirs.push(dirAt(i));
        const header = headerLine(thisPartial ? base + PARTIAL : base);
        trace(
          `${writeCache(script.createCachedData(), header, dirs, name)}${thisPartial ? " (partial)" : ""}`,
        );
      } catch (e) {
        trace(`not written (${e?.code ?? e?.message ?? e})`);
      }
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
    importer,
  );
  return module.exports;
}

/** A cache file's first line: `key`, then spaces up to a multiple of 8 bytes with the newline. */
function headerLine(key) {
  return `${key.padEnd(Math.ceil((key.length + 1) / 8) * 8 - 1)}\n`;
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

module.exports = { bundleIsFresh, loadBundle };
