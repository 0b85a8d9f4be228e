#!/usr/bin/env node
// Starts the CLI, and is the one home of loading tsbpf's bundles (scripts/bundle.mjs) through V8's
// code cache: the CLI's, dist/src/cli/tsbpf.bundle.cjs, run from here, and the library's,
// dist/src/tsbpf.lib.bundle.cjs, which the package entry dist/src/package-entry.js requires this
// file for (it starts the CLI only as the main program). docs/code-cache.md says more.
//
// The CLI bundled into one CommonJS script starts faster than dist/src's ~180 modules, and faster
// again when V8 need not parse and compile its 500 KB: the script is compiled through vm.Script
// with V8's code cache (cachedData), which Node 20 offers for no module, one cache file per
// command (and, for the library, per main program: loadLibrary). The module graph is used when
// there is no bundle or tsc built after it.
//
// A cache file is kept next to the bundle or, when that directory is not writable (a read-only
// install, another user), in $XDG_CACHE_HOME/tsbpf (~/.cache/tsbpf); TSBPF_CODE_CACHE_DIR chooses
// the directory instead, and TSBPF_CODE_CACHE=0 turns it off. A file starts with a key line (the
// SHA-1 of the bundle's content, which scripts/bundle.mjs writes on its first line, its length,
// Node's version and the architecture, then the length of V8's data; padded with spaces so that
// the data after it is 8-byte aligned, which V8 would otherwise copy): a file for another bundle
// or Node is stale and ignored, and V8 itself rejects data it cannot use. A bundle without the
// SHA-1 line gets no cache. A missing, stale, rejected or unwritable cache only costs the
// compile; the file is (re)written when the process exits, after the program compiled what it
// uses, and writing it never fails the program. A run that is partial (the CLI: one that fails or
// prints help) compiles little, so its cache is marked partial and replaced by the next full run;
// a full cache's code is never rewritten. After V8's data the same file holds the library's object
// cache (src/object/object-cache.ts: the prepared specs of the objects the program parsed), read
// with the code at start-up and rewritten at exit when the program parsed an object it did not
// hold; TSBPF_OBJECT_CACHE=0 turns it off. TSBPF_CODE_CACHE_TRACE=1 says on stderr what happened.
//
// This file is CommonJS (bin/package.json says so): an ES module entry point makes Node load
// and run its ES module loader first, about 8 ms of every command's start-up. The loading lives
// here rather than in a module of its own, which would cost every command about 1 ms more to
// resolve, read and compile.
"use strict";
const {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} = require("node:fs");
const { createRequire } = require("node:module");
const { basename, dirname, join, resolve } = require("node:path");
const { pathToFileURL } = require("node:url");
const { Script } = require("node:vm");

/** The exports of each bundle loaded in this process, by file. */
const bundles = new Map();
/** What follows the key of a cache written by a partial run. */
const PARTIAL = " partial";
/** How scripts/bundle.mjs starts a bundle (after its SHA-1 line): the function called below. */
const HEAD =
  "(function (exports, require, module, __filename, __dirname, __tsbpfMetaUrl, __tsbpfImport, __tsbpfObjectCache) {";

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

/** How many of the library's caches (`tsbpf.lib.*.cache`, one per program) a directory keeps. */
const LIB_CACHES_KEPT = 8;
/** The library's cache files: `tsbpf.lib.cache` and `tsbpf.lib.<base>-<hash>.cache`. */
const LIB_CACHE = /^tsbpf\.lib\.(?:[A-Za-z0-9._-]+\.)?cache$/;

/**
 * The library's code cache file for this process: each program gets its own, holding the functions
 * that program runs (one shared file held only the first program's, and every other program
 * compiled the rest inside its timed work). Named from the main program's absolute path,
 * `tsbpf.lib.<base>-<hash>.cache` (<base> its file name made safe and cut to 32 characters,
 * <hash> the FNV-1a 32-bit hash of the path: node:crypto would cost about 10 ms), so the same
 * program from another directory gets the same file; `tsbpf.lib.cache` when there is no main
 * program file (`node -e`, `node -p`, the REPL, a program on stdin).
 */
function libraryCacheName(argv = process.argv, evaluated = process._eval != null) {
  const main = argv[1];
  if (evaluated || main === undefined || main === "" || main === "-") return "tsbpf.lib.cache";
  const path = resolve(main);
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(path, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193);
  const base = basename(path)
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .slice(0, 32);
  return `tsbpf.lib.${base}-${(hash >>> 0).toString(16).padStart(8, "0")}.cache`;
}

/**
 * Loads the library's bundle (the package entries, dist/src/package-entry.js and .cjs, call this)
 * with the cache of this program (`libraryCacheName`), partial when the program exits non-zero.
 * A directory keeps the newest `LIB_CACHES_KEPT` library caches: a test runner spawning 100 test
 * files must not leave 100 caches of 440 KB.
 */
function loadLibrary(file, importer) {
  const name = libraryCacheName();
  return loadBundle(file, {
    name,
    importer,
    isPartial: (code) => code !== 0,
    bound: { match: LIB_CACHE, keep: LIB_CACHES_KEPT },
    objects: true,
  }).default;
}

/**
 * Compiles and runs `file` with the code cache `name` and returns its exports. `importer` serves
 * the bundle's dynamic imports of external modules (a script restored from a code cache has lost
 * its importer in Node 20); `isPartial(exitCode)` says whether a run's cache is partial. With
 * `bound`, writing the cache removes the oldest other files of its directory whose names
 * `bound.match` matches, so that `bound.keep` are left with it. With `objects`, the bundle gets
 * an object cache (`objectCacheHost`), kept in the same file after the code, unless
 * TSBPF_OBJECT_CACHE=0.
 */
function loadBundle(file, { name, importer, isPartial, bound, objects }) {
  // Once per process: the package's ES module and CommonJS entries share one instance.
  const loaded = bundles.get(file);
  if (loaded !== undefined) return loaded;
  // scripts/bundle.mjs makes bundles ASCII only (esbuild escapes the rest and the build checks),
  // so Latin-1 decodes them exactly, in about 2 ms less than UTF-8 for the CLI's 500 KB.
  const source = readFileSync(file).latin1Slice();
  const tracing = process.env.TSBPF_CODE_CACHE_TRACE === "1";
  const trace = tracing ? (m) => process.stderr.write(`code cache: ${m}\n`) : () => {};
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
  const found = enabled ? readKeyed(dirAt, name, [base, base + PARTIAL]) : { state: "missing" };
  const cachedData = found.code;
  const partial = found.key === base + PARTIAL;
  let state = found.state + (partial ? " (partial)" : "");
  // The bundle is the function to call; another script (not made by scripts/bundle.mjs) is wrapped.
  const wrapped = source.startsWith(HEAD, sha1 === undefined ? 0 : source.indexOf("\n") + 1);
  const script = new Script(wrapped ? source : `${HEAD}${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  if (cachedData !== undefined && script.cachedDataRejected) state = "rejected by V8";
  trace(state);
  // The object cache's work at exit runs first: it runs the library's code that makes and opens
  // each text, which the code cache then holds, and gives the content to write with it.
  const atExit = [];
  let objectsToWrite;
  const host =
    enabled && objects === true && process.env.TSBPF_OBJECT_CACHE !== "0"
      ? objectCacheHost(found.objects, tracing ? trace : undefined, atExit, (data) => {
          objectsToWrite = data;
        })
      : undefined;
  const canWriteCode = enabled && (cachedData === undefined || script.cachedDataRejected || partial);
  if (host !== undefined || canWriteCode) {
    process.once("exit", (code) => {
      // Whatever happens here, the program's exit stays as it was.
      for (const fn of atExit) {
        try {
          fn();
        } catch (e) {
          trace(`objects: not written (${e?.code ?? e?.message ?? e})`);
        }
      }
      try {
        const thisPartial = isPartial(code);
        // The code is written when there is none that V8 takes, or over a partial one by a full
        // run; a full cache's code is kept as it is (the file is rewritten for its objects only).
        const newCode = cachedData === undefined || script.cachedDataRejected || (partial && !thisPartial);
        if (!newCode && objectsToWrite === undefined) return;
        const codeData = newCode ? script.createCachedData() : cachedData;
        const codeKey = (newCode ? thisPartial : partial) ? base + PARTIAL : base;
        const dirs = [];
        for (let i = 0; dirAt(i) !== undefined; i++) dirs.push(dirAt(i));
        const kept = objectsToWrite ?? found.objects;
        const written = writeCache(codeKey, codeData, kept, dirs, name);
        // "(objects)": with the object cache's new content.
        trace(
          `${written.says}${newCode && thisPartial ? " (partial)" : ""}${objectsToWrite === undefined ? "" : " (objects)"}`,
        );
        if (bound !== undefined && written.dir !== undefined) pruneCaches(written.dir, name, bound, trace);
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
    host,
  );
  bundles.set(file, module.exports);
  return module.exports;
}

/**
 * The first of `name` in the directories `dirAt` gives whose key is one of `keys`: `code` (the V8
 * data), `objects` (what follows it, the object cache's content; undefined when empty), `key` and
 * `state` (`hit FILE`); `state` alone (`missing`, `stale FILE`) when there is none. A file's first
 * line is `KEY | code LENGTH`, padded (`headerLine`).
 */
function readKeyed(dirAt, name, keys) {
  let state = "missing";
  for (let i = 0; dirAt(i) !== undefined; i++) {
    const path = join(dirAt(i), name);
    let bytes;
    try {
      bytes = readFileSync(path);
    } catch {
      continue;
    }
    const end = bytes.indexOf(10, 0);
    const line = end < 0 ? "" : bytes.latin1Slice(0, end).trimEnd();
    const at = line.lastIndexOf(CODE_LENGTH);
    const key = at < 0 ? "" : line.slice(0, at);
    const length = at < 0 ? Number.NaN : Number(line.slice(at + CODE_LENGTH.length));
    if (
      keys.includes(key) &&
      Number.isSafeInteger(length) &&
      length > 0 &&
      end + 1 + length <= bytes.length
    ) {
      const objects = bytes.subarray(end + 1 + length);
      return {
        code: bytes.subarray(end + 1, end + 1 + length),
        objects: objects.length === 0 ? undefined : objects,
        key,
        state: `hit ${path}`,
      };
    }
    state = `stale ${path}`;
  }
  return { state };
}

/**
 * The host side of the library's object cache (src/object/object-cache.ts): `content`, what the
 * cache file held after the code, read with it; `write` hands the new content for the file's
 * rewrite at exit; `atExit` collects what the library runs at exit, before the file is written.
 * `trace` is undefined unless TSBPF_CODE_CACHE_TRACE=1: nothing of this file runs in a program's
 * open but reading `content` (this file is compiled afresh in each process, unlike the bundle).
 */
function objectCacheHost(content, trace, atExit, write) {
  return {
    content,
    write,
    atExit: (fn) => atExit.push(fn),
    trace: trace === undefined ? undefined : (m) => trace(`objects: ${m}`),
  };
}

/** A cache file's first line: `key`, then spaces up to a multiple of 8 bytes with the newline. */
function headerLine(key) {
  return `${key.padEnd(Math.ceil((key.length + 1) / 8) * 8 - 1)}\n`;
}

/**
 * Removes the oldest (by mtime) files of `dir` that `match` matches, other than `name`, so that
 * `keep` are left counting `name`; errors are ignored (another process may remove them too).
 */
function pruneCaches(dir, name, { match, keep }, trace) {
  let others;
  try {
    others = readdirSync(dir).filter((f) => f !== name && match.test(f));
  } catch {
    return;
  }
  if (others.length < keep) return;
  const aged = [];
  for (const f of others) {
    try {
      aged.push({ f, at: statSync(join(dir, f)).mtimeMs });
    } catch {
      // Gone meanwhile.
    }
  }
  aged.sort((a, b) => b.at - a.at);
  for (const { f } of aged.slice(keep - 1)) {
    try {
      unlinkSync(join(dir, f));
      trace(`removed ${join(dir, f)}`);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
}

/** What separates a cache file's key from the length of its V8 data, on its first line. */
const CODE_LENGTH = " | code ";

/**
 * Writes the cache file `name` (key line, V8 data `code`, then `objects` if any) to the first
 * directory that takes it (atomically); says where (`dir`), or why not.
 */
function writeCache(key, code, objects, dirs, name) {
  const header = Buffer.from(headerLine(`${key}${CODE_LENGTH}${code.length}`), "latin1");
  const parts = objects === undefined ? [header, code] : [header, code, objects];
  const reasons = [];
  for (const dir of dirs) {
    const tmp = join(dir, `${name}.${process.pid}.tmp`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, Buffer.concat(parts));
      renameSync(tmp, join(dir, name));
      return { says: `written ${join(dir, name)}`, dir };
    } catch (e) {
      reasons.push(`${dir}: ${e?.code ?? e}`);
      try {
        unlinkSync(tmp);
      } catch {
        // Never written.
      }
    }
  }
  return { says: `not written (${reasons.join("; ")})`, dir: undefined };
}

module.exports = { bundleIsFresh, libraryCacheName, loadBundle, loadLibrary };

/**
 * The CLI bundle that runs `command`, and the name its code cache goes by: the bundle
 * scripts/bundle.mjs lists for it in tsbpf.bundles.json (each of the kernel's commands has a
 * smaller one of its own), else the bundle of every command. A name the list lacks (a typo, help)
 * shares the cache of `other`, so typos leave no cache files of their own.
 */
function cliBundleFor(dir, command) {
  let listed;
  try {
    listed = JSON.parse(readFileSync(join(dir, "tsbpf.bundles.json"), "utf8"));
  } catch {
    // No list (a build without esbuild, or an older one): the bundle of every command.
    return { bundle: join(dir, "tsbpf.bundle.cjs"), cache: `tsbpf.bundle.${command}.cache` };
  }
  const file = Object.hasOwn(listed, command) ? listed[command] : undefined;
  if (typeof file === "string" && /^tsbpf\.([a-z-]+\.)?bundle\.cjs$/.test(file))
    return { bundle: join(dir, file), cache: `${basename(file, ".cjs")}.${command}.cache` };
  return { bundle: join(dir, "tsbpf.bundle.cjs"), cache: "tsbpf.bundle.other.cache" };
}

if (require.main === module) {
  const dir = join(__dirname, "..", "dist", "src", "cli");
  const graph = join(dir, "main.js");
  const buildInfo = join(__dirname, "..", "dist", "tsconfig.tsbuildinfo");
  (async () => {
    let main;
    const command = /^[a-z][a-z-]{0,23}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
    const { bundle, cache } = cliBundleFor(dir, command);
    if (bundleIsFresh(bundle, buildInfo)) {
      main = loadBundle(bundle, {
        // tsbpf.bundle.demo.cache, tsbpf.attach.bundle.attach.cache, tsbpf.bundle.other.cache...
        name: cache,
        importer: (specifier) => import(specifier),
        objects: true,
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
}
