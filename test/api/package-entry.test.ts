/**
 * The package entry (`import ... from "tsbpf"`, dist/src/package-entry.js): the library bundled
 * and compiled through V8's code cache (bin/tsbpf.js, docs/code-cache.md), with the module
 * graph's exports; one instance of every class for a generated skeleton and the user's own
 * import; the bundle's dynamic imports (kernel engine, koffi, YAML, Graphviz); the module graph
 * when the bundle is missing or stale; a cache that cannot be written never failing the program,
 * as root, as uid 65534 and on a full disk. The packed package (test/support/packed-project.ts) is
 * what users install. The test runner sets TSBPF_BUNDLE=0 (scripts/run-tests.mjs); these children
 * run without it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { AS_NOBODY } from "../kernel/attach-support.js";
import { packedProject } from "../support/packed-project.js";

const CACHE = "tsbpf.lib.cache";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `code cache:` lines of stderr. */
  trace: string;
}

/** Runs `node ARGS` in `cwd` with the code cache traced; `env` adds (or, undefined, removes) variables. */
function node(
  args: string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
  prefix: readonly string[] = [],
): Run {
  const full: NodeJS.ProcessEnv = { ...process.env, TSBPF_CODE_CACHE_TRACE: "1" };
  delete full.TSBPF_BUNDLE;
  delete full.TSBPF_CODE_CACHE;
  delete full.TSBPF_CODE_CACHE_DIR;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete full[k];
    else full[k] = v;
  }
  const [cmd, ...rest] = [...prefix, process.execPath, ...args] as [string, ...string[]];
  const r = spawnSync(cmd, rest, { cwd, env: full, encoding: "utf8", timeout: 60_000 });
  const trace = r.stderr
    .split("\n")
    .filter((l) => l.startsWith("code cache: "))
    .join("\n");
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, trace };
}

function withDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-entry-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the entry's names, and whether each class is the module graph's own (it is not, from the bundle). */
const NAMES = `
const entry = await import("tsbpf");
const graph = await import(${JSON.stringify(pathToFileURL(resolve("dist/src/index.js")).href)});
console.log(JSON.stringify({
  names: Object.keys(entry).sort(),
  graphNames: Object.keys(graph).sort(),
  sameClasses: entry.VmCollection === graph.VmCollection && entry.TsbpfError === graph.TsbpfError,
}));
`;

test('import "tsbpf" in this repository: the bundle through the code cache (missing, written, hit), with the module graph\'s names; TSBPF_BUNDLE=0 gives the module graph', () => {
  withDir((dir) => {
    const args = ["--input-type=module", "-e", NAMES];
    const first = node(args, ".", { TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(first.code, 0, first.stderr);
    const got = JSON.parse(first.stdout) as { names: string[]; graphNames: string[]; sameClasses: boolean };
    assert.ok(got.names.length > 100, `${got.names.length} names`);
    assert.deepEqual(got.names, got.graphNames, "the entry exports what dist/src/index.js exports");
    assert.equal(got.sameClasses, false, "the classes come from the bundle");
    assert.equal(first.trace, `code cache: missing\ncode cache: written ${join(dir, CACHE)}`);
    const second = node(args, ".", { TSBPF_CODE_CACHE_DIR: dir });
    assert.equal(second.stdout, first.stdout);
    assert.equal(second.trace, `code cache: hit ${join(dir, CACHE)}`);

    const graph = node(args, ".", { TSBPF_CODE_CACHE_DIR: dir, TSBPF_BUNDLE: "0" });
    assert.equal(graph.code, 0, graph.stderr);
    assert.deepEqual(JSON.parse(graph.stdout), { ...got, sameClasses: true });
    assert.equal(graph.trace, "", "no bundle, no code cache");
  });
});

/**
 * A user's program: the generated skeleton and its own `import ... from "tsbpf"` share every
 * class (instanceof, prog-array slots taking the other's programs, errors caught by class with
 * their fields), and the bundle's dynamic imports work (the VM, the YAML parser, Graphviz's
 * WebAssembly; the kernel engine and koffi as root).
 */
const USER = `import { readFileSync } from "node:fs";
import {
  Collection, kernel, loadCollectionSpec, MapError, net, parsePipelineDefinition, PipelineError, toSvg,
  TsbpfError, UsageError, VmCollection, VmProgram,
} from "tsbpf";
import { TailCall } from "./tail_call.skel.js";

const out = {};
const skel = await TailCall.openAndLoad({ backend: "vm" });
out.instances = [skel.collection instanceof VmCollection, skel.progs.main_prog instanceof VmProgram];
// A program of the user's own collection in the skeleton's prog array, and the skeleton's own.
const spec = loadCollectionSpec(readFileSync("tail_call.bpf.o"), { file: "tail_call.bpf.o" });
const mine = await Collection.load(spec);
const caught = (f) => { try { f(); return "no error"; } catch (e) { return e; } };
const slot = caught(() => skel.maps.prog_array.set(1, mine.programs.port22_prog));
out.slot = slot === "no error" ? slot : slot.message;
skel.maps.prog_array.set(1, skel.progs.port22_prog);
const packet = net.buildPacket([net.eth({}), net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), net.tcp({ sport: 40000, dport: 22, flags: "S" })]);
const r = await skel.progs.main_prog.run(packet);
out.run = [r.retval, r.trace];
const usage = caught(() => skel.maps.prog_array.set(0, skel.maps.prog_array));
out.usage = [usage instanceof UsageError, usage instanceof TsbpfError, usage.name, usage.context];
const range = caught(() => skel.maps.prog_array.set(9, skel.progs.port22_prog));
out.range = [range instanceof MapError, range.code, range.context];
const yaml = caught(() => parsePipelineDefinition("name: x\\nversion: 1\\nobjects: [\\n", "p.yaml"));
out.pipeline = [yaml instanceof PipelineError, yaml.field, yaml.line];
out.svg = (await toSvg({ nodes: [{ name: "only_prog", object: "o", type: "xdp", entry: true }], edges: [] })).includes("only_prog");
if (process.argv[2] === "kernel") {
  const k = await TailCall.openAndLoad({ backend: "kernel" });
  const own = await Collection.load(spec, { backend: "kernel" });
  try {
    k.maps.prog_array.set(0, own.programs.port8080_prog);
    out.kernel = [k.collection instanceof kernel.KernelCollection, own instanceof kernel.KernelCollection, own.maps.prog_array instanceof kernel.KernelMap];
  } finally {
    own.close();
    k.collection.close();
  }
}
mine.close();
skel.collection.close();
console.log(JSON.stringify(out));
`;

/** What USER prints. */
const WANT = {
  instances: [true, true],
  slot: "no error",
  run: [2, ["Packet to port 22 processed"]],
  usage: [true, true, "UsageError", { map: "prog_array" }],
  range: [true, "E2BIG", { map: "prog_array" }],
  pipeline: [true, "", 4],
  svg: true,
};

test("the packed package: a skeleton and the user's import share one instance; dynamic imports; the module graph when the bundle is missing or stale; the cache as root, as nobody and on a full disk", async (t) => {
  const project = packedProject();
  try {
    const dir = project.dir;
    const pkg = join(dir, "node_modules", "tsbpf");
    const skeleton = readFileSync("examples/tail-call/tail_call.skel.ts", "utf8");
    project.write({
      "tail_call.skel.js": ts.transpileModule(skeleton, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText,
      "user.mjs": USER,
    });
    writeFileSync(join(dir, "tail_call.bpf.o"), readFileSync("examples/tail-call/tail_call.bpf.o"));
    // The library cache of the user's program (each program has its own).
    const installed = join(pkg, "dist", "src", libCache(join(dir, "user.mjs")));
    // Its object cache is in the same file, after V8's data: the user's program opens tail_call.bpf.o.
    const objectBytes = readFileSync("examples/tail-call/tail_call.bpf.o").byteLength;
    const hitTrace = (cache: string) =>
      `code cache: hit ${cache}\ncode cache: objects: hit (${objectBytes} bytes)`;
    const root = process.getuid?.() === 0;

    await t.test(
      "one instance of every class; errors by class with their fields; the VM, YAML and Graphviz from the bundle",
      () => {
        const first = node(["user.mjs"], dir);
        assert.equal(first.code, 0, first.stderr);
        assert.deepEqual(JSON.parse(first.stdout), WANT);
        // Root writes next to the bundle, in the install.
        assert.equal(first.trace, `code cache: missing\ncode cache: written ${installed} (objects)`);
        const second = node(["user.mjs"], dir);
        assert.deepEqual(JSON.parse(second.stdout), WANT);
        assert.equal(second.trace, hitTrace(installed));
      },
    );

    await t.test(
      'require("tsbpf") (the "require" condition) gets the same instance as the skeleton\'s import',
      () => {
        project.write({
          "user.cjs": `const tsbpf = require("tsbpf");
import("./tail_call.skel.js").then(async ({ TailCall }) => {
  const skel = await TailCall.openAndLoad({ backend: "vm" });
  const e = (() => { try { skel.maps.prog_array.set(0, skel.maps.prog_array); } catch (e) { return e; } })();
  console.log(JSON.stringify([skel.collection instanceof tsbpf.VmCollection, e instanceof tsbpf.UsageError, (await import("tsbpf")).Collection === tsbpf.Collection]));
  skel.collection.close();
});
`,
        });
        const r = node(["user.cjs"], dir);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), [true, true, true]);
        const cache = join(pkg, "dist", "src", libCache(join(dir, "user.cjs")));
        assert.equal(r.trace, `code cache: missing\ncode cache: written ${cache}`, "one bundle, loaded once");
      },
    );

    await t.test("the kernel engine and koffi from the bundle, with the same classes", (tt) => {
      if (!root) return tt.skip("needs root to load programs into the kernel");
      const r = node(["user.mjs", "kernel"], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { ...WANT, kernel: [true, true, true] });
    });

    await t.test(
      "no bundle, or tsc built after it (a working tree): the module graph, with the same results",
      () => {
        const bundle = join(pkg, "dist", "src", "tsbpf.lib.bundle.cjs");
        renameSync(bundle, `${bundle}.away`);
        try {
          const r = node(["user.mjs"], dir);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(JSON.parse(r.stdout), WANT);
          assert.equal(r.trace, "", "no bundle, so no code cache");
        } finally {
          renameSync(`${bundle}.away`, bundle);
        }
        // npm writes an install's files in any order (the bundle may be older than index.js); only
        // tsc's build info, which an install has not, says a build came after the bundle.
        const buildInfo = join(pkg, "dist", "tsconfig.tsbuildinfo");
        writeFileSync(buildInfo, "{}");
        const later = new Date(Date.now() + 60_000);
        utimesSync(buildInfo, later, later);
        try {
          const r = node(["user.mjs"], dir);
          assert.equal(r.code, 0, r.stderr);
          assert.deepEqual(JSON.parse(r.stdout), WANT);
          assert.equal(r.trace, "", "a stale bundle is not loaded");
        } finally {
          rmSync(buildInfo);
        }
        assert.equal(node(["user.mjs"], dir).trace, hitTrace(installed), "the bundle again");
      },
    );

    await t.test(
      'a bundler resolves the package to the module graph (the "module" condition), Node to the entry',
      async () => {
        const { build } = await import("esbuild");
        const r = await build({
          entryPoints: [join(dir, "user.mjs")],
          bundle: true,
          platform: "node",
          format: "esm",
          write: false,
          metafile: true,
          logLevel: "silent",
          external: ["koffi", "@hpcc-js/wasm-graphviz", "yaml"],
        });
        const inputs = Object.keys(r.metafile.inputs);
        assert.ok(
          inputs.some((f) => f.endsWith("node_modules/tsbpf/dist/src/index.js")),
          "the bundler takes dist/src/index.js",
        );
        assert.ok(!inputs.some((f) => f.includes("package-entry")), "and not the package entry");
        const node = spawnSync(
          process.execPath,
          ["--input-type=module", "-e", 'console.log(import.meta.resolve("tsbpf"))'],
          { cwd: dir, encoding: "utf8" },
        );
        assert.match(node.stdout, /node_modules\/tsbpf\/dist\/src\/package-entry\.js$/m, node.stderr);
      },
    );

    await t.test("the installed CLI runs its bundle too", () => {
      const r = node([join(dir, "node_modules", ".bin", "tsbpf"), "inspect", "tail_call.bpf.o"], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^tail_call\.bpf\.o: little-endian/);
      const cache = join(pkg, "dist", "src", "cli", "tsbpf.bundle.inspect.cache");
      assert.equal(r.trace, `code cache: missing\ncode cache: written ${cache} (objects)`);
      const again = node([join(dir, "node_modules", ".bin", "tsbpf"), "inspect", "tail_call.bpf.o"], dir);
      assert.equal(again.stdout, r.stdout, "the same inspection from the object cache");
      assert.equal(again.trace, hitTrace(cache));
    });

    await t.test(
      "a cache that cannot be written leaves the program's output and exit code as they were",
      () => {
        withDir((tmp) => {
          writeFileSync(join(tmp, "file"), "");
          const exitCode = join(dir, "exit-code.mjs");
          writeFileSync(
            exitCode,
            `import { VmCollection } from "tsbpf";\nconsole.log(typeof VmCollection);\nprocess.exitCode = 3;\n`,
          );
          const r = node([exitCode], dir, { TSBPF_CODE_CACHE_DIR: join(tmp, "file", "cache") });
          assert.equal(r.code, 3, r.stderr);
          assert.equal(r.stdout, "function\n");
          assert.match(r.trace, /^code cache: missing\ncode cache: not written \(.*: ENOTDIR\) \(partial\)$/);
          const user = node(["user.mjs"], dir, { TSBPF_CODE_CACHE_DIR: join(tmp, "file", "cache") });
          assert.equal(user.code, 0, user.stderr);
          assert.deepEqual(JSON.parse(user.stdout), WANT);
        });
      },
    );

    await t.test(
      "a full disk: what does not fit is not written and leaves nothing, the program unaffected",
      (tt) => {
        if (!root) return tt.skip("needs root to mount a small tmpfs");
        withDir((tmp) => {
          const full = join(tmp, "full");
          mkdirSync(full);
          const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tsbpf-entry-full", full]);
          if (m.status !== 0) return tt.skip(`cannot mount a tmpfs: ${m.stderr}`);
          try {
            const r = node(["user.mjs"], dir, { TSBPF_CODE_CACHE_DIR: full });
            assert.equal(r.code, 0, r.stderr);
            assert.deepEqual(JSON.parse(r.stdout), WANT);
            // The cache file (440 KB of code, then the objects) does not fit in the 64 KB.
            assert.match(
              r.trace,
              /^code cache: missing\ncode cache: not written \(.*: ENOSPC\) \(objects\)$/,
            );
            assert.equal(
              spawnSync("ls", ["-A", full], { encoding: "utf8" }).stdout,
              "",
              "no temporary file left",
            );
          } finally {
            spawnSync("umount", [full]);
          }
        });
      },
    );

    await t.test(
      "uid 65534: a read-only install and no home costs only the compile; their own cache directory is used",
      (tt) => {
        if (!root) return tt.skip("needs root to run a program as uid 65534");
        if (spawnSync("setpriv", ["--version"]).status !== 0)
          return tt.skip("setpriv (util-linux) is not installed");
        rmSync(installed, { force: true });
        // The project is root's, readable by all (mkdtemp made its parent 0700).
        chmodSync(join(dir, ".."), 0o755);
        const home = join(dir, "..", "home");
        mkdirSync(home);
        chownSync(home, 65534, 65534);
        const none = node(["user.mjs"], dir, { HOME: "/nonexistent", XDG_CACHE_HOME: undefined }, AS_NOBODY);
        assert.equal(none.code, 0, none.stderr);
        assert.deepEqual(JSON.parse(none.stdout), WANT);
        const unwritable =
          "\\(.*node_modules\\/tsbpf\\/dist\\/src: EACCES; \\/nonexistent\\/\\.cache\\/tsbpf: EACCES\\)";
        assert.match(
          none.trace,
          new RegExp(`^code cache: missing\ncode cache: not written ${unwritable} \\(objects\\)$`),
        );
        assert.ok(!existsSync(installed), "nothing written into the install");
        const cache = join(home, ".cache", "tsbpf", libCache(join(dir, "user.mjs")));
        const first = node(["user.mjs"], dir, { HOME: home, XDG_CACHE_HOME: undefined }, AS_NOBODY);
        assert.deepEqual(JSON.parse(first.stdout), WANT);
        assert.equal(first.trace, `code cache: missing\ncode cache: written ${cache} (objects)`);
        const second = node(["user.mjs"], dir, { HOME: home, XDG_CACHE_HOME: undefined }, AS_NOBODY);
        assert.deepEqual(JSON.parse(second.stdout), WANT);
        assert.equal(second.trace, hitTrace(cache));
      },
    );
  } finally {
    project.remove();
  }
});

test("through the bundle, importing the package and running a VM collection loads no native code (and the watch sees koffi once the kernel is asked for, or kernel.loadNativeLayer() is called)", () => {
  withDir((dir) => {
    const log = join(dir, "log");
    const watch = pathToFileURL(resolve("dist/test/api/native-watch.js")).href;
    const code = (kernel: boolean) => `
import { readFileSync } from "node:fs";
import { Collection, loadCollectionSpec } from "tsbpf";
const spec = loadCollectionSpec(readFileSync("examples/tail-call/tail_call.bpf.o"), { file: "tail_call.bpf.o" });
(await Collection.load(spec)).close();
${kernel ? 'await Collection.load(spec, { backend: "kernel", onWarning: () => {} }).then((c) => c.close(), () => {});' : ""}
`;
    const loaded = (kernel: boolean): string[] => {
      rmSync(log, { force: true });
      const r = node(["--import", watch, "--input-type=module", "-e", code(kernel)], ".", {
        TSBPF_NATIVE_WATCH: log,
        TSBPF_CODE_CACHE_DIR: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.trace, /^code cache: (missing|hit)/, "the bundle was loaded");
      return existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter((l) => l !== "")
        : [];
    };
    assert.deepEqual(loaded(false), [], "no native addon and no koffi module on the VM path");
    const kernel = loaded(true);
    assert.ok(
      kernel.some((l) => l.startsWith("dlopen ") && l.includes("koffi")),
      `koffi's binary seen: ${kernel.join("; ")}`,
    );
    // kernel.loadNativeLayer() loads it up front, with no kernel call.
    rmSync(log, { force: true });
    const preload = node(
      [
        "--import",
        watch,
        "--input-type=module",
        "-e",
        'import { kernel } from "tsbpf"; kernel.loadNativeLayer();',
      ],
      ".",
      { TSBPF_NATIVE_WATCH: log, TSBPF_CODE_CACHE_DIR: dir },
    );
    assert.equal(preload.code, 0, preload.stderr);
    const seen = existsSync(log) ? readFileSync(log, "utf8") : "";
    assert.match(seen, /^dlopen .*koffi/m, `kernel.loadNativeLayer(): ${seen}`);
  });
});

test("through the bundle, the YAML parser is read and compiled when a pipeline is first parsed, not at import", () => {
  withDir((dir) => {
    const r = node(
      [
        "--input-type=module",
        "-e",
        `import { createRequire } from "node:module";
import { parsePipelineDefinition } from "tsbpf";
const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.endsWith("tsbpf.yaml.cjs"));
const before = loaded();
const def = parsePipelineDefinition("name: p\\nobject: a.bpf.o\\nentry: main_prog\\n", "p.yaml");
console.log(JSON.stringify([before, loaded(), def.name]));`,
      ],
      ".",
      { TSBPF_CODE_CACHE_DIR: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.trace, /^code cache: missing/, "the bundle was loaded");
    assert.deepEqual(JSON.parse(r.stdout), [false, true, "p"]);
  });
});

/** FNV-1a, 32 bits, of `text`'s UTF-8 bytes, as 8 hex digits: the library cache's name hash. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) h = Math.imul(h ^ byte, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The library's cache file for the main program at the absolute path `main`. */
function libCache(main: string): string {
  const base = (main.split("/").pop() ?? "").replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 32);
  return `tsbpf.lib.${base}-${fnv1a(main)}.cache`;
}

/** The V8 data of the cache file `file`, whose first line ends with `| code LENGTH`. */
function codeIn(file: string): Buffer {
  const bytes = readFileSync(file);
  const end = bytes.indexOf(10);
  const length = Number(/\| code (\d+) *$/.exec(bytes.toString("latin1", 0, end))?.[1]);
  assert.ok(Number.isSafeInteger(length), `${file}: no code length on its first line`);
  return bytes.subarray(end + 1, end + 1 + length);
}

/** What the cache file `file` holds after its V8 data: the object cache's content. */
function objectsIn(file: string): Buffer {
  const bytes = readFileSync(file);
  const code = codeIn(file);
  return bytes.subarray(code.byteOffset - bytes.byteOffset + code.byteLength);
}

/**
 * A project directory whose programs import "tsbpf" from this repository (node_modules/tsbpf is
 * a link to it), and a cache directory `caches` in it (TSBPF_CODE_CACHE_DIR).
 */
function withProject(f: (dir: string, caches: string) => void): void {
  withDir((dir) => {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(resolve("."), join(dir, "node_modules", "tsbpf"));
    const caches = join(dir, "caches");
    mkdirSync(caches);
    f(dir, caches);
  });
}

/** A program importing the library the ES module way; it exits with its first argument's code. */
const PROGRAM_ESM = `import { VmCollection, loadCollectionSpec } from "tsbpf";
console.log(typeof VmCollection, typeof loadCollectionSpec);
process.exitCode = Number(process.argv[2] ?? 0);
`;
/** The same with require("tsbpf"). */
const PROGRAM_CJS = `const { VmCollection, loadCollectionSpec } = require("tsbpf");
console.log(typeof VmCollection, typeof loadCollectionSpec);
process.exitCode = Number(process.argv[2] ?? 0);
`;

test("each program gets its own library cache: two programs write theirs on the first run and hit it on the second", () => {
  // The test's own FNV-1a, on known vectors.
  assert.deepEqual([fnv1a(""), fnv1a("a"), fnv1a("foobar")], ["811c9dc5", "e40c292c", "bf9cf968"]);
  withProject((dir, caches) => {
    const a = join(dir, "loader.mjs");
    const b = join(dir, "tests of (b).cjs");
    writeFileSync(a, PROGRAM_ESM);
    writeFileSync(b, PROGRAM_CJS);
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    const aCache = join(caches, libCache(a));
    const bCache = join(caches, libCache(b));
    assert.match(libCache(b), /^tsbpf\.lib\.tests_of__b_\.cjs-[0-9a-f]{8}\.cache$/);
    for (const [file, cache] of [
      [a, aCache],
      [b, bCache],
    ] as const) {
      const first = node([file], dir, env);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "function function\n");
      assert.equal(first.trace, `code cache: missing\ncode cache: written ${cache}`);
    }
    for (const [file, cache] of [
      [a, aCache],
      [b, bCache],
    ] as const) {
      const again = node([file], dir, env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.trace, `code cache: hit ${cache}`);
    }
    assert.deepEqual(readdirSync(caches).sort(), [libCache(a), libCache(b)].sort());
  });
});

test("the same program from another directory (a relative path) hits its cache; another file of the same name does not", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    mkdirSync(join(dir, "sub"));
    const main = join(dir, "loader.mjs");
    writeFileSync(main, PROGRAM_ESM);
    writeFileSync(join(dir, "sub", "loader.mjs"), PROGRAM_ESM);
    const cache = join(caches, libCache(main));
    assert.equal(node(["loader.mjs"], dir, env).trace, `code cache: missing\ncode cache: written ${cache}`);
    const fromSub = node(["../loader.mjs"], join(dir, "sub"), env);
    assert.equal(fromSub.code, 0, fromSub.stderr);
    assert.equal(fromSub.trace, `code cache: hit ${cache}`);
    const other = node(["loader.mjs"], join(dir, "sub"), env);
    const otherCache = join(caches, libCache(join(dir, "sub", "loader.mjs")));
    assert.notEqual(otherCache, cache);
    assert.equal(other.trace, `code cache: missing\ncode cache: written ${otherCache}`);
  });
});

test("no main program file (node -e with arguments, node -p, stdin): tsbpf.lib.cache, which a program file does not use", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    writeFileSync(join(dir, "loader.mjs"), PROGRAM_ESM);
    assert.match(
      node(["loader.mjs"], dir, env).trace,
      /written .*tsbpf\.lib\.loader\.mjs-[0-9a-f]{8}\.cache$/,
    );
    const shared = join(caches, CACHE);
    // `node -e CODE ARG`: ARG is process.argv[1], not a program.
    const e = node(["--input-type=module", "-e", PROGRAM_ESM, "0"], dir, env);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, "function function\n");
    assert.equal(e.trace, `code cache: missing\ncode cache: written ${shared}`);
    const p = node(["-p", 'typeof require("tsbpf").VmCollection', "loader.mjs"], dir, env);
    assert.equal(p.stdout, "function\n", p.stderr);
    assert.equal(p.trace, `code cache: hit ${shared}`);
    const stdin = spawnSync(process.execPath, ["-", "0"], {
      cwd: dir,
      input: PROGRAM_CJS,
      encoding: "utf8",
      timeout: 60_000,
      env: {
        ...process.env,
        TSBPF_BUNDLE: undefined,
        TSBPF_CODE_CACHE: undefined,
        TSBPF_CODE_CACHE_TRACE: "1",
        ...env,
      },
    });
    assert.equal(stdin.stdout, "function function\n", stdin.stderr);
    assert.match(stdin.stderr, new RegExp(`^code cache: hit ${shared}$`, "m"));
  });
});

test("writing a library cache keeps the 8 newest library caches of its directory and never removes the CLI's; a hit removes nothing", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    const now = Date.now() / 1000;
    // Ten other programs' caches, cache 0 the oldest, the shared one older still, and the CLI's
    // caches and another file older than all.
    const others = Array.from({ length: 10 }, (_, i) => `tsbpf.lib.t${i}.test.js-0000000${i}.cache`);
    const age = (file: string, secondsAgo: number) => {
      writeFileSync(join(caches, file), "not a cache\n");
      utimesSync(join(caches, file), now - secondsAgo, now - secondsAgo);
    };
    for (const [i, f] of others.entries()) age(f, 100 - i);
    age(CACHE, 200);
    const untouched = [
      "tsbpf.bundle.attach.cache",
      "tsbpf.bundle.other.cache",
      "notes.txt",
      "tsbpf.lib.x.tmp",
    ];
    for (const f of untouched) age(f, 1000);
    const main = join(dir, "loader.mjs");
    writeFileSync(main, PROGRAM_ESM);
    const first = node([main], dir, env);
    assert.equal(first.code, 0, first.stderr);
    // Eleven others: the newest seven stay with the new one.
    const removed = [CACHE, ...others.slice(0, 3)].map((f) => `code cache: removed ${join(caches, f)}`);
    assert.deepEqual(
      first.trace.split("\n").sort(),
      [...removed, "code cache: missing", `code cache: written ${join(caches, libCache(main))}`].sort(),
    );
    const kept = [libCache(main), ...others.slice(3)];
    assert.equal(kept.length, 8);
    assert.deepEqual(readdirSync(caches).sort(), [...kept, ...untouched].sort());
    // A hit writes nothing, so it removes nothing.
    age("tsbpf.lib.late.js-00000000.cache", 2000);
    const hit = node([main], dir, env);
    assert.equal(hit.trace, `code cache: hit ${join(caches, libCache(main))}`);
    assert.equal(readdirSync(caches).length, kept.length + untouched.length + 1);
  });
});

test("a program whose first run fails writes a partial cache of its own, used and replaced by its next clean run", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    const main = join(dir, "loader.mjs");
    writeFileSync(main, PROGRAM_ESM);
    const cache = join(caches, libCache(main));
    const failed = node([main, "3"], dir, env);
    assert.equal(failed.code, 3, failed.stderr);
    assert.equal(failed.trace, `code cache: missing\ncode cache: written ${cache} (partial)`);
    assert.match(readFileSync(cache, "latin1").split("\n")[0] ?? "", / partial \| code \d+ *$/);
    const again = node([main, "4"], dir, env);
    assert.equal(again.code, 4);
    assert.equal(again.trace, `code cache: hit ${cache} (partial)`, "a failing run keeps the partial cache");
    const clean = node([main], dir, env);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.trace, `code cache: hit ${cache} (partial)\ncode cache: written ${cache}`);
    assert.doesNotMatch(readFileSync(cache, "latin1").split("\n")[0] ?? "", /partial/);
    assert.equal(node([main], dir, env).trace, `code cache: hit ${cache}`);
  });
});

/**
 * Opens the object at its first argument, loads it into the VM and prints what the spec says, with
 * whether its programs were opened from a prepared spec (their instructions not yet decoded).
 */
const OPENER = `import { readFileSync } from "node:fs";
import { Collection, loadCollectionSpec } from "tsbpf";
const file = process.argv[2];
const spec = loadCollectionSpec(readFileSync(file), { file });
const lazy = Object.values(spec.programs).every((p) => Object.getOwnPropertyDescriptor(p, "instructions")?.get !== undefined);
const coll = await Collection.load(spec);
const said = {
  file: spec.file,
  programs: Object.fromEntries(Object.values(spec.programs).map((p) => [p.name, [p.section, p.instructions.length, p.references.length, p.lineInfo.length]])),
  maps: Object.fromEntries(Object.values(spec.maps).map((m) => [m.name, [m.type, m.keySize, m.valueSize, m.maxEntries, m.initialData?.length ?? 0]])),
  loaded: Object.keys(coll.programs).sort(),
};
console.log(JSON.stringify({ lazy, said }));
`;

test("a program's objects: its next run opens each from the object cache, with the same spec; other bytes are parsed; TSBPF_OBJECT_CACHE=0 keeps none", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    const main = join(dir, "opener.mjs");
    writeFileSync(main, OPENER);
    const cache = join(caches, libCache(main));
    const object = join(dir, "tail_call.bpf.o");
    writeFileSync(object, readFileSync("examples/tail-call/tail_call.bpf.o"));
    const first = node([main, object], dir, env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.trace, `code cache: missing\ncode cache: written ${cache} (objects)`);
    const parsed = JSON.parse(first.stdout);
    assert.equal(parsed.lazy, false);
    assert.ok(
      objectsIn(cache).byteLength > readFileSync(object).byteLength,
      "the object and its text follow the code",
    );
    const again = node([main, object], dir, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.trace,
      `code cache: hit ${cache}\ncode cache: objects: hit (${readFileSync(object).byteLength} bytes)`,
    );
    assert.deepEqual(JSON.parse(again.stdout), { ...parsed, lazy: true });
    // Rebuilt in place: another object under the same name is parsed, and kept beside the first;
    // the code is kept as it was.
    const code = codeIn(cache);
    writeFileSync(object, readFileSync("test/bpf/fixtures/globals.bpf.o"));
    const rebuilt = node([main, object], dir, env);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.equal(JSON.parse(rebuilt.stdout).lazy, false);
    assert.equal(rebuilt.trace, `code cache: hit ${cache}\ncode cache: written ${cache} (objects)`);
    assert.deepEqual(codeIn(cache), code, "the code cache itself is not rewritten");
    assert.equal(JSON.parse(node([main, object], dir, env).stdout).lazy, true);
    writeFileSync(object, readFileSync("examples/tail-call/tail_call.bpf.o"));
    assert.equal(JSON.parse(node([main, object], dir, env).stdout).lazy, true, "both are kept");
    // Switched off: neither read nor written (the code cache is).
    rmSync(cache);
    const off = node([main, object], dir, { ...env, TSBPF_OBJECT_CACHE: "0" });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(JSON.parse(off.stdout).lazy, false);
    assert.equal(off.trace, `code cache: missing\ncode cache: written ${cache}`);
    assert.equal(objectsIn(cache).byteLength, 0);
  });
});

test("an object cache that cannot be read or written never fails the program", () => {
  withProject((dir, caches) => {
    const env = { TSBPF_CODE_CACHE_DIR: caches };
    const main = join(dir, "opener.mjs");
    writeFileSync(main, OPENER);
    const cache = join(caches, libCache(main));
    const object = join(dir, "tail_call.bpf.o");
    writeFileSync(object, readFileSync("examples/tail-call/tail_call.bpf.o"));
    assert.equal(node([main, object], dir, env).code, 0);
    // Damaged after the code: parsed, and written anew.
    const whole = readFileSync(cache);
    const cut = whole.byteLength - objectsIn(cache).byteLength;
    writeFileSync(cache, Buffer.concat([whole.subarray(0, cut), Buffer.from("[[5,5]]\nshort")]));
    const damaged = node([main, object], dir, env);
    assert.equal(damaged.code, 0, damaged.stderr);
    assert.equal(JSON.parse(damaged.stdout).lazy, false);
    assert.equal(
      damaged.trace,
      `code cache: hit ${cache}\ncode cache: objects: unreadable: parsing\ncode cache: written ${cache} (objects)`,
    );
    assert.equal(JSON.parse(node([main, object], dir, env).stdout).lazy, true);
    // A file cut short within the code: stale, and written anew.
    writeFileSync(cache, whole.subarray(0, cut - 1));
    const short = node([main, object], dir, env);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.trace, `code cache: stale ${cache}\ncode cache: written ${cache} (objects)`);
    // Nowhere to write (the cache directory is a file): the program runs as before.
    const nowhere = node([main, object], dir, { TSBPF_CODE_CACHE_DIR: object });
    assert.equal(nowhere.code, 0, nowhere.stderr);
    assert.equal(JSON.parse(nowhere.stdout).lazy, false);
    assert.match(
      nowhere.trace,
      /^code cache: missing\ncode cache: not written \(.*tail_call.bpf.o: EEXIST\) \(objects\)$/,
    );
  });
});
