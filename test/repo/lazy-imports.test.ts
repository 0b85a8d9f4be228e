/**
 * Issue 14's cold start: `tsbpf attach OBJ` (the kernel's path) must not load the YAML parser,
 * the VM or node:crypto, about 200 KB of code and 10 ms of Node's own start-up it never uses.
 * Each case runs the CLI's module graph in a child process under test/api/native-watch.ts, told to
 * record those modules; the counter-cases prove the watch sees each of them when it is used.
 * From bin/tsbpf.js (the bundle), it must not load Node's stream modules (its output is written
 * with write(2)) or node:fs/promises either: 30 of Node's modules, about 8 ms.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const WATCH = pathToFileURL(resolve("dist/test/api/native-watch.js")).href;
const MAIN = resolve("dist/src/cli/main.js");
const OBJ = "examples/tail-call/tail_call.bpf.o";

interface Loads {
  status: number | null;
  stderr: string;
  yaml: boolean;
  vm: boolean;
  crypto: boolean;
}

/** Runs the module graph's `main(args)` and says which of the watched modules it loaded. */
function loads(args: string[]): Loads {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-lazy-watch-"));
  const log = join(dir, "log");
  try {
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        WATCH,
        "--input-type=module",
        "-e",
        `const { main } = await import(${JSON.stringify(MAIN)});
         process.exitCode = await main(${JSON.stringify(args)});
         process.stderr.write("crypto=" + process.moduleLoadList.includes("NativeModule crypto") + "\\n");`,
      ],
      {
        env: {
          ...process.env,
          TSBPF_NATIVE_WATCH: log,
          TSBPF_NATIVE_WATCH_MODULES: "/node_modules/yaml/,/dist/src/vm/",
        },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    let lines: string[] = [];
    try {
      lines = readFileSync(log, "utf8").split("\n");
    } catch {
      // Nothing recorded: the file is created on the first record.
    }
    return {
      status: r.status,
      stderr: r.stderr,
      yaml: lines.some((l) => l.includes("/node_modules/yaml/")),
      vm: lines.some((l) => l.includes("/dist/src/vm/")),
      crypto: r.stderr.includes("crypto=true"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("attach OBJ loads neither the YAML parser, nor the VM, nor node:crypto", () => {
  // Stops at the missing --iface, after attach.ts and everything it imports, and the object, are loaded.
  const r = loads(["attach", OBJ, "--prog", "main_prog", "--tail", "prog_array:0=port8080_prog"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /missing --iface/);
  assert.deepEqual({ yaml: r.yaml, vm: r.vm, crypto: r.crypto }, { yaml: false, vm: false, crypto: false });
});

test("the watch sees each when it is used: a pipeline file's YAML, the VM's run", () => {
  const file = loads(["attach", "examples/tail-call/seed.yaml", "--iface", "lo", "--mode", "nope"]);
  assert.equal(file.status, 2, file.stderr);
  assert.equal(file.yaml, true, "a pipeline file is parsed with yaml");
  const run = loads(["run", OBJ, "--prog", "main_prog", "--data-in", "package.json"]);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.vm, true, "run loads the VM");
});

/** Runs bin/tsbpf.js with `args` and returns Node's modules it had loaded at exit. */
function binLoads(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stderr: string; list: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-lazy-bin-"));
  const out = join(dir, "list");
  const pre = join(dir, "list.cjs");
  try {
    writeFileSync(
      pre,
      `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join("\\n")));`,
    );
    const r = spawnSync(process.execPath, ["-r", pre, "bin/tsbpf.js", ...args], {
      env: { ...process.env, TSBPF_CODE_CACHE: "0", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
    return { status: r.status, stderr: r.stderr, list: readFileSync(out, "utf8").split("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const STREAMS = "NativeModule internal/streams/writable";
const FS_PROMISES = "NativeModule internal/fs/promises";

test("attach OBJ from the bin loads neither Node's stream modules nor node:fs/promises", () => {
  // Its error goes to stderr (a pipe here) after the object was read and parsed.
  const r = binLoads(["attach", OBJ, "--prog", "main_prog", "--tail", "prog_array:0=port8080_prog"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /missing --iface/);
  assert.deepEqual(
    { streams: r.list.includes(STREAMS), fsPromises: r.list.includes(FS_PROMISES) },
    { streams: false, fsPromises: false },
  );
  // The counter-cases: process.stderr (the code cache's trace) and demo's node:fs/promises.
  assert.equal(binLoads(["attach", "--help"], { TSBPF_CODE_CACHE_TRACE: "1" }).list.includes(STREAMS), true);
  assert.equal(binLoads(["demo"]).list.includes(FS_PROMISES), true);
  // --version reads package.json through node:fs: no ES module loader for one file.
  assert.equal(binLoads(["--version"]).list.includes(FS_PROMISES), false);
});

test("the kernel path's module starts load no node:os, and the ABI tables build no reverse map until asked", () => {
  // Every module attach initializes on its way to the kernel (kernel-collection imports them),
  // then the per-CPU count it reads: node:os is only the fallback where /sys has no CPU list.
  const script = `
    const k = await import(${JSON.stringify(pathToFileURL(resolve("dist/src/kernel/kernel-collection.js")).href)});
    const { hostPossibleCpus } = await import(${JSON.stringify(pathToFileURL(resolve("dist/src/backend/possible-cpus.js")).href)});
    const cpus = hostPossibleCpus();
    const { nameLookup } = await import(${JSON.stringify(pathToFileURL(resolve("dist/src/abi/names.js")).href)});
    let reads = 0;
    const table = new Proxy({ a: 1, b: 2 }, { ownKeys: (t) => (reads++, Reflect.ownKeys(t)) });
    const name = nameLookup(table, "X_");
    const before = reads;
    console.log(JSON.stringify({ os: process.moduleLoadList.includes("NativeModule os"), cpus, kernel: typeof k.loadKernelCollection, before, found: name(2), after: reads, again: (name(1), reads) }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(out, {
    os: false,
    cpus: out.cpus,
    kernel: "function",
    before: 0,
    found: "X_b",
    after: 1,
    again: 1,
  });
  assert.ok(typeof out.cpus === "number" && out.cpus >= 1);
});
