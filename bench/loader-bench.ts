/**
 * Part 3 (issue 4): time from command start to "dispatcher attached with its prog-array slots
 * filled", tsbpf against a small C loader on libbpf (bench/c/loader.c), both loading the seed
 * object and attaching to a veth inside a namespace the bench creates. Each loader reports its
 * own phases; the parent measures spawn -> attached (from the loader's CLOCK_MONOTONIC stamp)
 * and spawn -> exit. Both are started through `ip netns exec`, whose own cost is measured too,
 * as is Node's bare start-up (`node -e 0`).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns } from "./netns.js";
import { median, nowNs } from "./stats.js";

const OBJECT = "examples/tail-call/tail_call.bpf.o";
/** bench/cli-style-loader.ts (the job as a CLI command imports) bundled by scripts/bundle.mjs (npm run build). */
const BUNDLE = "dist/bench/cli-style-loader.bundle.cjs";
/** bench/tsbpf-skel-loader.ts bundled with the library (scripts/bundle.mjs). */
const SKEL_BUNDLE = "dist/bench/tsbpf-skel-loader.bundle.cjs";
const ARGS = ["main_prog", "prog_array", "port8080_prog", "port22_prog"];

/** Medians (ms) of one loader's runs. */
export interface LoaderFigures {
  runs: number;
  /** Spawn (by the parent) to attached (stamped by the loader). */
  spawnToAttachedMs: number;
  /** Spawn to exit, teardown included. */
  spawnToExitMs: number;
  /** The loader's own first clock reading to attached. */
  mainToAttachedMs: number;
  /** The loader's own phases, ms. */
  phases: Record<string, number>;
}

/** Part 3's result; `skipped` says why when it could not run. */
export interface LoaderResult {
  skipped?: string;
  tsbpf?: LoaderFigures;
  /**
   * The same loader bundled as the CLI is (scripts/bundle.mjs) and run through V8's code cache
   * (bench/code-cache-run.cts), as bin/tsbpf.js runs the CLI: tsbpf's code with no lazy
   * compilation left. Absent in results written before it existed, or without the bundle.
   */
  tsbpfCached?: LoaderFigures;
  /**
   * The same job imported as a user's program does, `import("tsbpf")` through package.json's
   * "exports": the package entry's bundle and code cache (bench/package-entry-loader.ts).
   * Absent in results written before it existed.
   */
  tsbpfEntry?: LoaderFigures;
  /**
   * The package entry with the object cache off (TSBPF_OBJECT_CACHE=0): the object parsed in every
   * process, as a program's first open of an object is (informative). Absent in results written
   * before the object cache existed.
   */
  tsbpfEntryParsed?: LoaderFigures;
  libbpf?: LoaderFigures;
  /**
   * The C loader's code as a shared library called from a Node process
   * (bench/libbpf-in-node.cts): libbpf's calls with Node around them (informative). Absent in
   * results written before it existed, or when the library could not be built.
   */
  libbpfInNode?: LoaderFigures;
  /**
   * What each timed loader run started after: ms of idling, then ms of the bench spinning on a CPU
   * (QUIET_MS, BUSY_MS). Absent in results written before there was any: their C loader ran about
   * 5 ms after the run before it.
   */
  settle?: { quietMs: number; busyMs: number };
  /** Median ms of `ip netns exec NS true`: the launcher cost both loaders pay. */
  netnsExecMs?: number;
  /** Median ms of `node -e 0` (inside the namespace launcher, minus nothing). */
  nodeStartupMs?: number;
  /**
   * Median ms from spawning `tsbpf attach OBJ --prog main_prog --iface IF --tail ... --tail ...`
   * (through `ip netns exec`) to its line saying it attached with the slots filled (issue 14).
   */
  cliAttachMs?: number;
  /**
   * The cold start over Node's own: the median over the rounds of that round's CLI start minus
   * its launcher and its `node -e 0`, measured back to back; steadier than the difference of the
   * three medians when the machine drifts between rounds.
   */
  coldStartMs?: number;
  /**
   * The skeleton path (table 3b): bench/tsbpf-skel-loader.ts through the seed's generated
   * skeleton, which imports "tsbpf": the package entry (`tsbpfEntry`, as a user's loader runs)
   * the module graph (`tsbpf`, TSBPF_BUNDLE=0) and the loader bundled with the library as the
   * CLI is (`tsbpfCached`), the last two informative, against bench/c/loader_skel.c on
   * bpftool's skeleton of the same object.
   */
  skel?: {
    tsbpf?: LoaderFigures;
    tsbpfEntry?: LoaderFigures;
    tsbpfCached?: LoaderFigures;
    libbpf?: LoaderFigures;
    skipped?: string;
  };
  /** tsbpf spawn->attached / libbpf spawn->attached. */
  ratioSpawnToAttached?: number;
  /** tsbpf main->attached / libbpf main->attached (in-process, without Node's start-up). */
  ratioMainToAttached?: number;
}

function buildCLoader(dir: string): string {
  const out = join(dir, "loader");
  const cc = ["cc", "clang"].find((c) => {
    try {
      execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  if (cc === undefined) throw new Error("no C compiler (cc or clang)");
  execFileSync(cc, ["-O2", "bench/c/loader.c", "-lbpf", "-lelf", "-lz", "-o", out], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  // The same code as a library for bench/libbpf-in-node.cts, its main renamed; left out (and
  // its row with it) when it does not build.
  try {
    execFileSync(
      cc,
      ["-O2", "-shared", "-fPIC", "-Dmain=loader_main", "bench/c/loader.c", "-lbpf", "-lelf", "-lz"].concat([
        "-o",
        `${out}.so`,
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  } catch {
    // existsSync below tells.
  }
  return out;
}

/** bench/c/loader_skel.c on `bpftool gen skeleton` of the object, built in `dir`. */
function buildCSkelLoader(dir: string): string {
  const header = execFileSync("bpftool", ["gen", "skeleton", OBJECT, "name", "tail_call"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  writeFileSync(join(dir, "tail_call.skel.h"), header);
  const out = join(dir, "loader_skel");
  execFileSync("cc", ["-O2", `-I${dir}`, "bench/c/loader_skel.c", "-lbpf", "-lelf", "-lz", "-o", out], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return out;
}

/**
 * The environment every timed process gets: this one's without NODE_EXTRA_CA_CERTS. Where it is
 * set (it is on this workplace's machines), Node parses that file's certificates at each start,
 * 40–90 ms that vary more from run to run than the figures measured here; tsbpf and the C loaders
 * make no TLS connection, and `node -e 0`, which the cold start is measured over, gets the same.
 */
const BENCH_ENV: NodeJS.ProcessEnv = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

/**
 * What each timed loader run of tables 3 and 3b starts after: QUIET_MS of idling, then BUSY_MS of
 * this process spinning on a CPU. Where the kernel's XDP attach waits for an RCU grace period (the
 * BPF dispatcher's update: 6–25 ms on some machine kinds, in steps of the 4 ms tick), the wait
 * depends on what the machine did just before: right after another loader tore its attachment
 * down it is 2–4 ms shorter, and after 100 ms or more of idling it is longer unless the process
 * itself has been busy, as a Node loader is for the 40–60 ms before its attach and a C loader,
 * 7 ms old at its attach, is not (docs/benchmarks.md, "The XDP attach's grace period"). The quiet
 * lets the run before settle; the spin puts every loader on a machine that has just been busy.
 */
const QUIET_MS = 150;
const BUSY_MS = 50;

/** Idles for QUIET_MS, then keeps a CPU busy for BUSY_MS; synchronous, as the runs are spawned. */
function settle(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, QUIET_MS);
  const end = nowNs() + BUSY_MS * 1e6;
  while (nowNs() < end) {
    // Spin: the machine state a Node loader creates for itself by starting.
  }
}

function timeCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = BENCH_ENV,
): { ms: number; stdout: string; startNs: number } {
  const startNs = nowNs();
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", env });
  const ms = (nowNs() - startNs) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${argv.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr ?? "").trim()}`);
  }
  return { ms, stdout: r.stdout, startNs };
}

function figures(
  samples: { spawnNs: number; exitMs: number; report: Record<string, number> }[],
): LoaderFigures {
  const phaseNames = Object.keys(samples[0]?.report ?? {}).filter((k) => k !== "attached_at_ns");
  const phases: Record<string, number> = {};
  for (const k of phaseNames)
    phases[k.replace(/_ns$/, "_ms")] = median(samples.map((s) => (s.report[k] ?? 0) / 1e6));
  return {
    runs: samples.length,
    spawnToAttachedMs: median(samples.map((s) => ((s.report.attached_at_ns ?? 0) - s.spawnNs) / 1e6)),
    spawnToExitMs: median(samples.map((s) => s.exitMs)),
    mainToAttachedMs: median(samples.map((s) => (s.report.main_to_attached_ns ?? 0) / 1e6)),
    phases,
  };
}

/**
 * Spawns `argv` and resolves with the ms until its standard output shows `marker`; then stops it
 * with SIGINT (as Ctrl+C) and waits for it to exit. Rejects if it exits first or takes 20 s.
 */
function timeUntilOutput(argv: readonly string[], marker: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const start = nowNs();
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: BENCH_ENV,
    });
    let out = "";
    let err = "";
    let ms: number | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (ms === undefined && out.includes(marker)) {
        ms = (nowNs() - start) / 1e6;
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (ms !== undefined) resolvePromise(ms);
      else reject(new Error(`${argv.join(" ")} exited (${code}) before '${marker}': ${err.trim()}`));
    });
  });
}

/** Runs part 3 `runs` times per loader, alternating them so drift hits both alike. */
export async function benchLoader(opts: { runs: number }): Promise<LoaderResult> {
  if (!existsSync("dist/bench/tsbpf-loader.js"))
    return { skipped: "dist/bench/tsbpf-loader.js missing: build first" };
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-"));
  let cLoader: string | undefined;
  let cSkip: string | undefined;
  try {
    cLoader = buildCLoader(dir);
  } catch (e) {
    cSkip = `C loader not built: ${e instanceof Error ? e.message.split("\n")[0] : String(e)} (needs cc and libbpf-dev)`;
  }
  // The skeleton path (table 3b): each side is left out, with the reason, when it cannot be built.
  const skelSkips: string[] = [];
  const skelTry = async <T>(what: string, fn: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      skelSkips.push(`${what}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
      return undefined;
    }
  };
  const cSkel = await skelTry("libbpf skeleton loader not built (needs bpftool, cc, libbpf-dev)", () =>
    buildCSkelLoader(dir),
  );
  const ns = createNetns();
  try {
    const ts: Parameters<typeof figures>[0] = [];
    const tsCached: Parameters<typeof figures>[0] = [];
    const tsEntry: Parameters<typeof figures>[0] = [];
    const tsEntryParsed: Parameters<typeof figures>[0] = [];
    const c: Parameters<typeof figures>[0] = [];
    const cInNode: Parameters<typeof figures>[0] = [];
    const launcher: number[] = [];
    const nodeUp: number[] = [];
    const cliAttach: number[] = [];
    const cliArgv = [
      ...ns.exec,
      process.execPath,
      "bin/tsbpf.js",
      "attach",
      OBJECT,
      "--prog",
      "main_prog",
      "--iface",
      ns.iface,
      "--tail",
      "prog_array:0=port8080_prog",
      "--tail",
      "prog_array:1=port22_prog",
    ];
    await timeUntilOutput(cliArgv, "attached main_prog");
    const run = (argv: string[], into: typeof ts, env?: NodeJS.ProcessEnv): void => {
      settle();
      const r = timeCommand([...ns.exec, ...argv], env);
      const line = r.stdout.trim().split("\n").pop() ?? "";
      into.push({ spawnNs: r.startNs, exitMs: r.ms, report: JSON.parse(line) as Record<string, number> });
    };
    // One untimed run of each warms the page cache (node, koffi, libbpf, the object).
    const tsArgv = [process.execPath, "dist/bench/tsbpf-loader.js", OBJECT, ns.iface, ...ARGS];
    const cArgv = cLoader === undefined ? undefined : [cLoader, OBJECT, ns.iface, ...ARGS];
    const cInNodeArgv =
      cLoader === undefined || !existsSync(`${cLoader}.so`)
        ? undefined
        : [process.execPath, "dist/bench/libbpf-in-node.cjs", `${cLoader}.so`, OBJECT, ns.iface, ...ARGS];
    // Through bin/tsbpf.js's loading, with the cache in this run's directory (as the entry's).
    const cachedArgv = existsSync(BUNDLE)
      ? [process.execPath, "dist/bench/code-cache-run.cjs", BUNDLE, OBJECT, ns.iface, ...ARGS]
      : undefined;
    // The package entry keeps its code cache in this run's directory (the untimed run writes it).
    const entryArgv = [process.execPath, "dist/bench/package-entry-loader.js", OBJECT, ns.iface, ...ARGS];
    const entryEnv: NodeJS.ProcessEnv = { ...BENCH_ENV, TSBPF_CODE_CACHE_DIR: dir };
    delete entryEnv.TSBPF_BUNDLE;
    delete entryEnv.TSBPF_CODE_CACHE;
    delete entryEnv.TSBPF_OBJECT_CACHE;
    const parsedEnv: NodeJS.ProcessEnv = { ...entryEnv, TSBPF_OBJECT_CACHE: "0" };
    timeCommand([...ns.exec, ...tsArgv]);
    timeCommand([...ns.exec, ...entryArgv], entryEnv);
    // The untimed run of the bundle also writes its code cache.
    if (cachedArgv !== undefined) timeCommand([...ns.exec, ...cachedArgv], entryEnv);
    if (cArgv !== undefined) timeCommand([...ns.exec, ...cArgv]);
    if (cInNodeArgv !== undefined) timeCommand([...ns.exec, ...cInNodeArgv]);
    const skelArgv = existsSync("dist/bench/tsbpf-skel-loader.js")
      ? [process.execPath, "dist/bench/tsbpf-skel-loader.js", ns.iface]
      : undefined;
    // The skeleton imports "tsbpf": the package entry as a user's loader gets it, and the module
    // graph (TSBPF_BUNDLE=0) for comparison.
    const modulesEnv: NodeJS.ProcessEnv = { ...BENCH_ENV, TSBPF_BUNDLE: "0" };
    const cSkelArgv = cSkel === undefined ? undefined : [cSkel, ns.iface];
    const skelCachedArgv = existsSync(SKEL_BUNDLE)
      ? [process.execPath, "dist/bench/code-cache-run.cjs", SKEL_BUNDLE, ns.iface]
      : undefined;
    if (skelCachedArgv !== undefined) timeCommand([...ns.exec, ...skelCachedArgv], entryEnv);
    if (skelArgv !== undefined) {
      timeCommand([...ns.exec, ...skelArgv], modulesEnv);
      timeCommand([...ns.exec, ...skelArgv], entryEnv);
    }
    if (cSkelArgv !== undefined) timeCommand([...ns.exec, ...cSkelArgv]);
    const skelTs: typeof ts = [];
    const skelEntry: typeof ts = [];
    const skelCached: typeof ts = [];
    const skelC: typeof ts = [];
    for (let i = 0; i < opts.runs; i++) {
      run(tsArgv, ts);
      run(entryArgv, tsEntry, entryEnv);
      run(entryArgv, tsEntryParsed, parsedEnv);
      if (cachedArgv !== undefined) run(cachedArgv, tsCached, entryEnv);
      if (cArgv !== undefined) run(cArgv, c);
      if (cInNodeArgv !== undefined) run(cInNodeArgv, cInNode);
      // The cold start's three figures twice per round (42 samples each): its bound is tight
      // next to how much one start of Node varies here.
      for (let k = 0; k < 2; k++) {
        launcher.push(timeCommand([...ns.exec, "true"]).ms);
        nodeUp.push(timeCommand([process.execPath, "-e", "0"]).ms);
        cliAttach.push(await timeUntilOutput(cliArgv, "attached main_prog"));
      }
      if (skelArgv !== undefined) {
        run(skelArgv, skelTs, modulesEnv);
        run(skelArgv, skelEntry, entryEnv);
      }
      if (skelCachedArgv !== undefined) run(skelCachedArgv, skelCached, entryEnv);
      if (cSkelArgv !== undefined) run(cSkelArgv, skelC);
    }
    const result: LoaderResult = {
      settle: { quietMs: QUIET_MS, busyMs: BUSY_MS },
      tsbpf: figures(ts),
      ...(tsCached.length > 0 ? { tsbpfCached: figures(tsCached) } : {}),
      tsbpfEntry: figures(tsEntry),
      tsbpfEntryParsed: figures(tsEntryParsed),
      netnsExecMs: median(launcher),
      nodeStartupMs: median(nodeUp),
      cliAttachMs: median(cliAttach),
      coldStartMs: median(cliAttach.map((c, i) => c - (launcher[i] ?? 0) - (nodeUp[i] ?? 0))),
      skel: {
        ...(skelTs.length > 0 ? { tsbpf: figures(skelTs) } : {}),
        ...(skelEntry.length > 0 ? { tsbpfEntry: figures(skelEntry) } : {}),
        ...(skelCached.length > 0 ? { tsbpfCached: figures(skelCached) } : {}),
        ...(skelC.length > 0 ? { libbpf: figures(skelC) } : {}),
        ...(skelSkips.length > 0 ? { skipped: skelSkips.join("; ") } : {}),
      },
    };
    if (c.length > 0 && result.tsbpf !== undefined) {
      result.libbpf = figures(c);
      if (cInNode.length > 0) result.libbpfInNode = figures(cInNode);
      result.ratioSpawnToAttached = result.tsbpf.spawnToAttachedMs / result.libbpf.spawnToAttachedMs;
      result.ratioMainToAttached = result.tsbpf.mainToAttachedMs / result.libbpf.mainToAttachedMs;
    } else if (cSkip !== undefined) result.skipped = cSkip;
    return result;
  } finally {
    ns.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
