import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { AS_NOBODY } from "../kernel/attach-support.js";

// bin/tsbpf.js compiles the CLI bundle with V8's code cache (issue 14's cold start). A missing,
// stale, corrupt or unwritable cache, a user who cannot write next to the install, and a missing
// bundle must all still give the right output; the cache is written where it can be and used.

const ARGS = ["inspect", "examples/tail-call/tail_call.bpf.o", "--json"];
const NAME = "tsbpf.bundle.inspect.cache";
const BUNDLE = "dist/src/cli/tsbpf.bundle.cjs";

interface Run {
  code: number | null;
  stdout: string;
  trace: string;
}

function run(
  env: Record<string, string | undefined>,
  prefix: string[] = [],
  bin = "bin/tsbpf.js",
  args: readonly string[] = ARGS,
): Run {
  const [cmd, ...pre] = [...prefix, process.execPath, bin, ...args] as [string, ...string[]];
  const r = spawnSync(cmd, pre, {
    encoding: "utf8",
    // The object cache, which `inspect` would also use, has tests of its own
    // (test/api/package-entry.test.ts); here it stays off so the traces are the code cache's.
    env: { ...process.env, TSBPF_CODE_CACHE_TRACE: "1", TSBPF_OBJECT_CACHE: "0", ...env },
    timeout: 30_000,
  });
  const trace = r.stderr
    .split("\n")
    .filter((l) => l.startsWith("code cache: "))
    .join("\n");
  return { code: r.status, stdout: r.stdout, trace };
}

/** What the module graph prints, with no bundle and no cache involved. */
function expected(): string {
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { main } = await import(${JSON.stringify(resolve("dist/src/cli/main.js"))}); process.exitCode = await main(${JSON.stringify(ARGS)});`,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/**
 * An install in DIR/install made of links to this build (root's, mode 755: read-only to others),
 * with its own copy of the bundle, or none; returns its bin/tsbpf.js.
 */
function makeInstall(dir: string, withBundle: boolean): string {
  const root = join(dir, "install");
  mkdirSync(join(root, "bin"), { recursive: true });
  // bin/tsbpf.js and bin/package.json, which says it is CommonJS (the package's own type is module).
  for (const e of readdirSync("bin")) copyFileSync(join("bin", e), join(root, "bin", e));
  for (const e of ["package.json", "node_modules", "examples"]) symlinkSync(resolve(e), join(root, e));
  mkdirSync(join(root, "dist", "src", "cli"), { recursive: true });
  for (const e of readdirSync("dist/src")) {
    if (e !== "cli") symlinkSync(resolve("dist/src", e), join(root, "dist", "src", e));
  }
  for (const e of readdirSync("dist/src/cli")) {
    if (!e.startsWith("tsbpf.bundle"))
      symlinkSync(resolve("dist/src/cli", e), join(root, "dist", "src", "cli", e));
  }
  if (withBundle) copyFileSync(BUNDLE, join(root, BUNDLE));
  return join(root, "bin", "tsbpf.js");
}

function withDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-cc-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a missing cache is written at exit, then used; the output is the module graph's", () => {
  const want = expected();
  withDir((dir) => {
    const first = run({ TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(first.code, 0);
    assert.equal(first.stdout, want);
    assert.equal(first.trace, `code cache: missing\ncode cache: written ${join(dir, NAME)}`);
    // The data after the key line starts 8-byte aligned: V8 copies data that does not.
    const bytes = readFileSync(join(dir, NAME));
    assert.equal((bytes.indexOf(10) + 1) % 8, 0, "key line padded to a multiple of 8 bytes");
    const second = run({ TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(second.code, 0);
    assert.equal(second.stdout, want);
    assert.equal(second.trace, `code cache: hit ${join(dir, NAME)}`);
    assert.deepEqual(readdirSync(dir), [NAME], "one file per command, no temporary file left");
  });
});

test("a cache written by a --help or failed run is partial: used, then replaced once by the first run that succeeds", () => {
  const want = expected();
  withDir((dir) => {
    const file = join(dir, NAME);
    const help = run({ TSBPF_CODE_CACHE_DIR: dir }, [], "bin/tsbpf.js", ["inspect", "--help"]);
    assert.equal(help.code, 0);
    assert.equal(help.trace, `code cache: missing\ncode cache: written ${file} (partial)`);
    const helpSize = readFileSync(file).length;
    // A failed run neither makes a partial cache full nor writes it again.
    const failed = run({ TSBPF_CODE_CACHE_DIR: dir }, [], "bin/tsbpf.js", ["inspect", "no-such.bpf.o"]);
    assert.notEqual(failed.code, 0);
    assert.equal(failed.trace, `code cache: hit ${file} (partial)`);
    const ok = run({ TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, want);
    assert.equal(ok.trace, `code cache: hit ${file} (partial)\ncode cache: written ${file}`);
    assert.ok(readFileSync(file).length > helpSize, "the full cache holds the code inspect ran");
    assert.equal(run({ TSBPF_CODE_CACHE_DIR: dir }).trace, `code cache: hit ${file}`);
    // A full cache stays as it is after a failed run.
    const after = run({ TSBPF_CODE_CACHE_DIR: dir }, [], "bin/tsbpf.js", ["inspect", "no-such.bpf.o"]);
    assert.equal(after.trace, `code cache: hit ${file}`);
  });
});

test("a cache for another bundle (stale key) is ignored and replaced", () => {
  const want = expected();
  withDir((dir) => {
    run({ TSBPF_CODE_CACHE_DIR: dir });
    const file = join(dir, NAME);
    const bytes = readFileSync(file);
    // Another bundle's SHA-1: same length, so only the key tells them apart.
    bytes.write("0".repeat(40), 0, "latin1");
    writeFileSync(file, bytes);
    const stale = run({ TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(stale.code, 0);
    assert.equal(stale.stdout, want);
    assert.equal(stale.trace, `code cache: stale ${file}\ncode cache: written ${file}`);
    assert.equal(run({ TSBPF_CODE_CACHE_DIR: dir }).trace, `code cache: hit ${file}`);
  });
});

test("a cache with the right key but data V8 cannot use is rejected, and the output is right", () => {
  const want = expected();
  withDir((dir) => {
    run({ TSBPF_CODE_CACHE_DIR: dir });
    const file = join(dir, NAME);
    const bytes = readFileSync(file);
    const key = bytes.subarray(0, bytes.indexOf(10) + 1);
    // As long as the key line says V8's data is, so that it is V8 that refuses it.
    const length = Number(/\| code (\d+) *\n$/.exec(key.toString("latin1"))?.[1]);
    assert.ok(Number.isSafeInteger(length), key.toString("latin1"));
    writeFileSync(file, Buffer.concat([key, Buffer.alloc(length, 0x5a)]));
    const bad = run({ TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(bad.code, 0);
    assert.equal(bad.stdout, want);
    assert.equal(bad.trace, `code cache: rejected by V8\ncode cache: written ${file}`);
    assert.equal(run({ TSBPF_CODE_CACHE_DIR: dir }).trace, `code cache: hit ${file}`);
  });
});

test("an unwritable cache directory costs only the compile", () => {
  const want = expected();
  withDir((dir) => {
    // Root writes anywhere a mode allows nothing, so the directory is under a regular file.
    writeFileSync(join(dir, "file"), "");
    const r = run({ TSBPF_CODE_CACHE_DIR: join(dir, "file", "cache") });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, want);
    assert.match(r.trace, /^code cache: missing\ncode cache: not written \(.*: ENOTDIR\)$/);
  });
});

test("TSBPF_CODE_CACHE=0 neither reads nor writes a cache", () => {
  withDir((dir) => {
    const r = run({ TSBPF_CODE_CACHE_DIR: dir, TSBPF_CODE_CACHE: "0" });
    assert.equal(r.code, 0);
    assert.equal(r.trace, "code cache: missing");
    assert.deepEqual(readdirSync(dir), []);
  });
});

test("a user who cannot write the install uses their own cache directory, or none", (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to run a command as uid 65534");
  if (spawnSync("setpriv", ["--version"]).status !== 0)
    return t.skip("setpriv (util-linux) is not installed");
  const want = expected();
  withDir((dir) => {
    chmodSync(dir, 0o755);
    const bin = makeInstall(dir, true);
    const home = join(dir, "home");
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    // No home and no XDG_CACHE_HOME: nowhere to write, and the command still works.
    const none = run(
      { HOME: "/nonexistent", XDG_CACHE_HOME: undefined, TSBPF_CODE_CACHE_DIR: undefined },
      [...AS_NOBODY],
      bin,
    );
    assert.equal(none.code, 0, none.trace);
    assert.equal(none.stdout, want);
    assert.match(
      none.trace,
      /^code cache: missing\ncode cache: not written \(.*install\/dist\/src\/cli: EACCES; \/nonexistent\/\.cache\/tsbpf: EACCES\)$/,
    );
    // Their own cache directory: written there, then used.
    const cache = join(home, "tsbpf");
    const first = run({ XDG_CACHE_HOME: home, TSBPF_CODE_CACHE_DIR: undefined }, [...AS_NOBODY], bin);
    assert.equal(first.stdout, want);
    assert.equal(first.trace, `code cache: missing\ncode cache: written ${join(cache, NAME)}`);
    const second = run({ XDG_CACHE_HOME: home, TSBPF_CODE_CACHE_DIR: undefined }, [...AS_NOBODY], bin);
    assert.equal(second.stdout, want);
    assert.equal(second.trace, `code cache: hit ${join(cache, NAME)}`);
  });
});

test("a bundle without its SHA-1 line (not made by scripts/bundle.mjs) gets no cache", () => {
  const want = expected();
  withDir((dir) => {
    const bin = makeInstall(dir, true);
    const copy = join(dir, "install", BUNDLE);
    const text = readFileSync(copy, "utf8");
    assert.match(text, /^\/\/ tsbpf-bundle sha1=[0-9a-f]{40}\n/);
    writeFileSync(copy, text.slice(text.indexOf("\n") + 1));
    const cache = join(dir, "cache");
    const r = run({ TSBPF_CODE_CACHE_DIR: cache }, [], bin);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, want);
    assert.equal(r.trace, "code cache: missing");
    assert.ok(!existsSync(cache), "nothing written");
  });
});

test("without the bundle, bin/tsbpf.js runs the module graph", () => {
  const want = expected();
  withDir((dir) => {
    // An install whose build could not bundle (esbuild omitted): no tsbpf.bundle.cjs.
    const bin = makeInstall(dir, false);
    const r = run({ TSBPF_CODE_CACHE_DIR: dir }, [], bin);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, want);
    assert.equal(r.trace, "", "no bundle, so no code cache");
  });
});
