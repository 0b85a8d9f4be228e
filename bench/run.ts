/**
 * `npm run bench`: the interpreter's cost per instruction, the seed dispatcher per packet (VM
 * against the kernel's BPF_PROG_TEST_RUN), and the loader's time to attached (tsbpf against a C
 * loader on libbpf). Prints tables and writes bench/results/<date>-<kernel>.json and
 * bench/results/latest.md. Run from the repository root; kernel parts need root.
 *
 *   npm run bench [-- --vm-only] [-- --quick] [-- --no-loader] [-- --loader-only] [-- --no-events] [-- --no-replay]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { benchDispatch } from "./dispatch-bench.js";
import { benchInterpreter, interpreterInFreshProcess } from "./interp-bench.js";
import { benchLoader, type LoaderResult } from "./loader-bench.js";
import { benchEvents, type EventsResult } from "./events-bench.js";
import { benchReplay, type ReplayResult } from "./replay-bench.js";
import { type BenchResults, renderMarkdown, renderText } from "./report.js";
import { nowNs } from "./stats.js";

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/** Why kernel parts cannot run here, or undefined when they can. */
async function kernelUnavailable(vmOnly: boolean): Promise<string | undefined> {
  if (vmOnly) return "--vm-only was given";
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0)
    return "not root: BPF_PROG_TEST_RUN, loading and XDP attach need CAP_BPF/CAP_NET_ADMIN (run with sudo)";
  try {
    const { loadKernel, readSpec } = await import("./engines.js");
    (await loadKernel(readSpec("test/bpf/bench/loops.bpf.o"))).close();
  } catch (e) {
    return `the kernel refused a test load: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const quick = args.has("--quick");
  const t0 = nowNs();
  const load = loadavg();
  const skip = await kernelUnavailable(args.has("--vm-only"));
  const kernel = skip === undefined;
  const timing = { kernel, trialMs: quick ? 100 : 300, trials: quick ? 3 : 5 };

  // --loader-only: part 3 alone, printed but not written over the day's full results.
  const loaderOnly = args.has("--loader-only");
  let interpreter: BenchResults["interpreter"] = [];
  let dispatch: BenchResults["dispatch"] = [];
  // The interpreter's aim figures from fresh processes, one after part 2 and one at the end.
  const interpreterProcesses: Record<string, number>[] = [];
  if (!loaderOnly) {
    process.stderr.write("bench: 1/4 interpreter...\n");
    interpreter = await benchInterpreter(timing);
    process.stderr.write("bench: 2/4 dispatcher...\n");
    dispatch = await benchDispatch(timing);
    interpreterProcesses.push(interpreterInFreshProcess(timing));
  }
  let replay: ReplayResult | undefined;
  if (!loaderOnly && !args.has("--no-replay")) {
    process.stderr.write("bench: replay of a large capture...\n");
    replay = await benchReplay({ packets: quick ? 200_000 : 1_000_000, runs: quick ? 1 : 3 });
  }
  let loader: LoaderResult;
  if (!kernel) loader = { skipped: `needs the kernel: ${skip}` };
  else if (args.has("--no-loader")) loader = { skipped: "--no-loader was given" };
  else {
    process.stderr.write("bench: 3/4 loader...\n");
    try {
      loader = await benchLoader({ runs: quick ? 5 : 21 });
    } catch (e) {
      loader = { skipped: e instanceof Error ? e.message : String(e) };
    }
  }

  let events: EventsResult;
  if (!kernel) events = { skipped: `needs the kernel: ${skip}` };
  else if (loaderOnly || args.has("--no-events")) events = { skipped: "not asked for" };
  else {
    process.stderr.write("bench: 4/4 ring-buffer readers...\n");
    try {
      events = await benchEvents({ trials: quick ? 2 : 5 });
    } catch (e) {
      events = { skipped: e instanceof Error ? e.message : String(e) };
    }
  }

  if (!loaderOnly) {
    process.stderr.write("bench: the interpreter once more, in a fresh process...\n");
    interpreterProcesses.push(interpreterInFreshProcess(timing));
  }

  const date = new Date().toISOString().slice(0, 10);
  const results: BenchResults = {
    date,
    host: {
      kernel: release(),
      cpu: cpuModel(),
      cpus: availableParallelism(),
      node: process.version,
      loadavg: load,
    },
    ...(skip === undefined ? {} : { kernelSkipped: skip }),
    interpreter,
    interpreterProcesses,
    dispatch,
    loader,
    events,
    ...(replay === undefined ? {} : { replay }),
    elapsedS: (nowNs() - t0) / 1e9,
  };
  console.log(renderText(results));
  if (loaderOnly) return;
  mkdirSync("bench/results", { recursive: true });
  // A VM-only run must not overwrite the day's full results.
  const json = `bench/results/${date}-${release()}${kernel ? "" : "-vm-only"}.json`;
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync("bench/results/latest.md", renderMarkdown(results));
  console.log(`\nWrote ${json} and bench/results/latest.md`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
