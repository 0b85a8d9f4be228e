/**
 * The differential runner: every repository object, the conformance suite and generated programs
 * run on both engines (the built-in VM and the kernel), compared on verdict, output packet, map
 * contents and trace messages. Needs root (the kernel engine).
 *
 *   node dist/test/differential/run.js [--seed N] [--count N] [--programs N] [--quick] [--details N]
 *
 * --count: random packets beside the crafted ones (default 200; quick 40); --programs: generated
 * programs (default 2000, or 10 × --count when only --count is given; quick 300); --details:
 * mismatches printed in full (default 3). Exit status: 0 when every mismatch is a listed open
 * issue, 1 otherwise, 2 on usage errors or when not root. TSBPF_DIFF_TIER=js (or wasm, interpreter)
 * compares that VM tier with the kernel instead of the default (compiled: wasm over the JS tier).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { disassembleProgram } from "../../src/asm/disasm.js";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import type { TailSlot } from "../../src/tailcall/wiring.js";
import {
  type EnginePair,
  diffOutcomes,
  eventsCompared,
  loadPair,
  type Outcome,
  rawMaps,
  runOnce,
  vmInstructionTrace,
  withoutMaps,
  xdpPrograms,
} from "./compare.js";
import { STATS_MAP, ZERO_MAP } from "../../src/stats/layout.js";
import { runConformanceOnKernel } from "./conformance-kernel.js";
import { type CorpusPacket, craftedPackets, describe, randomPacket } from "./corpus.js";
import { generateCollection } from "./generate.js";
import { repositoryObjects } from "./objects.js";
import { Rng } from "./rng.js";

interface Options {
  seed: number;
  count: number;
  quick: boolean;
  details: number;
  programs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seed: 1, count: 200, quick: false, details: 3, programs: 2000 };
  let programsGiven = false;
  let countGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === "--seed") o.seed = num();
    else if (a === "--count") {
      o.count = num();
      countGiven = true;
    } else if (a === "--programs") {
      o.programs = num();
      programsGiven = true;
    } else if (a === "--details") o.details = num();
    else if (a === "--quick") o.quick = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick) {
    if (!countGiven) o.count = 40;
    if (!programsGiven) o.programs = 300;
  } else if (!programsGiven && countGiven) o.programs = o.count * 10;
  return o;
}

/** Totals the runner prints and docs/differential.md records. */
export interface Figures {
  objects: number;
  skipped: { object: string; reason: string }[];
  packets: number;
  comparisons: number;
  mismatches: number;
  /** Ring-buffer and perf event array records compared (each run's, VM against kernel). */
  eventRecords: number;
  conformance: {
    total: number;
    candidates: number;
    kernelAccepted: number;
    compared: number;
    mismatches: number;
  };
  generated: { made: number; rejected: number; ran: number; comparisons: number; mismatches: number };
  /**
   * Loaded with stats too (objects and generated programs): instrumented runs compared across
   * engines (stats map included) and with the plain run of each engine (stats map left out).
   */
  instrumented: { objects: number; generated: number; comparisons: number; mismatches: number };
  /** Mismatches matching a diagnosed open issue, by issue. */
  knownOpen?: { id: string; count: number }[];
  /** Mismatches matching none: these fail the run. */
  newMismatches?: number;
}

/**
 * Differences already diagnosed and reported as open VM issues (docs/differential.md). They are
 * still counted and printed, but do not fail the run; anything else does.
 */
const KNOWN_OPEN: { id: string; matches: (m: Mismatch) => boolean }[] = [];

interface Mismatch {
  /** The VM's fault message, when it faulted. */
  vmFault?: string | undefined;
  where: string;
  program: string;
  packet: CorpusPacket;
  diffs: string[];
  chain: string[] | undefined;
  spec: CollectionSpec;
  wiring: readonly TailSlot[];
  before: ReturnType<typeof rawMaps>;
}

const firstLine = (e: unknown): string => ((e as Error)?.message ?? String(e)).split("\n")[0] as string;

/** The maps stats add to a collection. */
const ADDED = [STATS_MAP, ZERO_MAP];

/**
 * The differences of the instrumented runs: between engines (counts included), and against each
 * engine's plain run (the stats map left out, everything else the same).
 */
function instrumentedDiffs(v: Outcome, k: Outcome, vs: Outcome, ks: Outcome): string[] {
  const tag = (what: string, d: string[]) => d.map((x) => `${what}: ${x}`);
  return [
    ...tag("stats vm vs stats kernel", diffOutcomes(vs, ks)),
    ...tag("stats vm vs plain vm", diffOutcomes(withoutMaps(vs, ADDED), v)),
    ...tag("stats kernel vs plain kernel", diffOutcomes(withoutMaps(ks, ADDED), k)),
  ];
}

/**
 * Runs every XDP program of a loaded pair on every packet; returns comparisons made. With
 * `stats`, a pair of the same spec loaded with stats runs each packet too (see
 * {@link instrumentedDiffs}); its comparisons count in `statsComparisons`.
 */
async function comparePair(
  where: string,
  spec: CollectionSpec,
  wiring: readonly TailSlot[],
  pair: EnginePair,
  packets: readonly CorpusPacket[],
  found: Mismatch[],
  stats?: EnginePair,
): Promise<{ comparisons: number; mismatches: number; statsComparisons: number; statsMismatches: number }> {
  let comparisons = 0;
  let mismatches = 0;
  let statsComparisons = 0;
  let statsMismatches = 0;
  for (const prog of xdpPrograms(spec)) {
    for (const pkt of packets) {
      const before = found.length < 10 ? rawMaps(pair.vm) : {};
      const k = await runOnce(pair.kernel, prog, pkt.bytes);
      const v = await runOnce(pair.vm, prog, pkt.bytes);
      comparisons++;
      const diffs = diffOutcomes(v, k);
      if (stats !== undefined) {
        const ks = await runOnce(stats.kernel, prog, pkt.bytes);
        const vs = await runOnce(stats.vm, prog, pkt.bytes);
        statsComparisons++;
        const sd = instrumentedDiffs(v, k, vs, ks);
        if (sd.length > 0) statsMismatches++;
        diffs.push(...sd);
      }
      if (diffs.length > 0) {
        mismatches++;
        found.push({
          where,
          program: prog,
          packet: pkt,
          diffs,
          chain: v.chain,
          spec,
          wiring,
          before,
          vmFault: v.fault,
        });
      }
    }
  }
  return { comparisons, mismatches, statsComparisons, statsMismatches };
}

/** Loads the instrumented pair; a load failure is a mismatch (stats must load whatever loads plain). */
async function loadStatsPair(
  where: string,
  spec: CollectionSpec,
  wiring: readonly TailSlot[],
  found: Mismatch[],
): Promise<EnginePair | undefined> {
  try {
    return await loadPair(spec, wiring, true);
  } catch (e) {
    found.push({
      where,
      program: "(load with stats)",
      packet: { label: "(none)", bytes: new Uint8Array(0) },
      diffs: [`load with stats: ${(e as Error)?.name}: ${firstLine(e)}`],
      chain: undefined,
      spec,
      wiring,
      before: {},
    });
    return undefined;
  }
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`differential: ${firstLine(e)}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error("differential: needs root (the kernel engine loads maps and programs)");
    return 2;
  }
  const t0 = Date.now();
  const rng = new Rng(opts.seed);
  const crafted = craftedPackets();
  const random: CorpusPacket[] = [];
  for (let i = 0; i < opts.count; i++) random.push(randomPacket(rng));
  const corpus = [...crafted, ...random];
  const found: Mismatch[] = [];
  const fig: Figures = {
    objects: 0,
    skipped: [],
    packets: corpus.length,
    comparisons: 0,
    eventRecords: 0,
    mismatches: 0,
    conformance: { total: 0, candidates: 0, kernelAccepted: 0, compared: 0, mismatches: 0 },
    generated: { made: 0, rejected: 0, ran: 0, comparisons: 0, mismatches: 0 },
    instrumented: { objects: 0, generated: 0, comparisons: 0, mismatches: 0 },
  };

  // 1. Repository objects.
  for (const obj of repositoryObjects()) {
    let spec: CollectionSpec;
    try {
      spec = loadCollectionSpec(new Uint8Array(readFileSync(obj.path)), { file: obj.path });
    } catch (e) {
      fig.skipped.push({ object: obj.path, reason: `does not parse: ${firstLine(e)}` });
      continue;
    }
    if (xdpPrograms(spec).length === 0) {
      fig.skipped.push({ object: obj.path, reason: "no XDP or tc programs" });
      continue;
    }
    let pair: EnginePair;
    try {
      pair = await loadPair(spec, obj.wiring);
    } catch (e) {
      fig.skipped.push({ object: obj.path, reason: firstLine(e) });
      continue;
    }
    const stats = await loadStatsPair(obj.path, spec, obj.wiring, found);
    if (stats === undefined) {
      fig.instrumented.mismatches++;
      fig.mismatches++;
    }
    try {
      fig.objects++;
      if (stats !== undefined) fig.instrumented.objects++;
      const r = await comparePair(obj.path, spec, obj.wiring, pair, corpus, found, stats);
      fig.comparisons += r.comparisons + r.statsComparisons;
      fig.mismatches += r.mismatches;
      fig.instrumented.comparisons += r.statsComparisons;
      fig.instrumented.mismatches += r.statsMismatches;
    } finally {
      pair.close();
      stats?.close();
    }
  }

  // 2. The conformance suite, wrapped in XDP for the kernel.
  const conf = await runConformanceOnKernel();
  fig.conformance = {
    total: conf.total,
    candidates: conf.candidates,
    kernelAccepted: conf.accepted,
    compared: conf.compared,
    mismatches: conf.mismatches.length,
  };
  fig.mismatches += conf.mismatches.length;
  fig.comparisons += conf.compared;

  // 3. Generated programs, each on a few packets of the corpus.
  const genRng = new Rng(opts.seed ^ 0x51ed);
  const perProgram = opts.quick ? 3 : 6;
  for (let i = 0; i < opts.programs; i++) {
    const spec = generateCollection(genRng, `gen${i}`);
    fig.generated.made++;
    let pair: EnginePair;
    try {
      pair = await loadPair(spec, []);
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === "VerifierError") {
        fig.generated.rejected++;
        continue;
      }
      // The kernel took it and the VM refused it (or the reverse): that is a mismatch too.
      fig.generated.mismatches++;
      fig.mismatches++;
      found.push({
        where: `generated ${spec.file}`,
        program: "(load)",
        packet: { label: "(none)", bytes: new Uint8Array(0) },
        diffs: [`load: ${name}: ${firstLine(e)}`],
        chain: undefined,
        spec,
        wiring: [],
        before: {},
      });
      continue;
    }
    const stats = await loadStatsPair(`generated ${spec.file}`, spec, [], found);
    if (stats === undefined) {
      fig.instrumented.mismatches++;
      fig.mismatches++;
    } else fig.instrumented.generated++;
    try {
      fig.generated.ran++;
      const pkts: CorpusPacket[] = [];
      for (let j = 0; j < perProgram; j++) {
        pkts.push(genRng.chance(0.3) ? genRng.pick(crafted) : randomPacket(genRng));
      }
      const r = await comparePair(`generated ${spec.file}`, spec, [], pair, pkts, found, stats);
      fig.generated.comparisons += r.comparisons;
      fig.generated.mismatches += r.mismatches;
      fig.comparisons += r.comparisons + r.statsComparisons;
      fig.mismatches += r.mismatches;
      fig.instrumented.comparisons += r.statsComparisons;
      fig.instrumented.mismatches += r.statsMismatches;
    } finally {
      pair.close();
      stats?.close();
    }
  }

  // Report.
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`differential (seed ${opts.seed}${opts.quick ? ", quick" : ""}, ${secs} s)`);
  console.log(`  objects compared: ${fig.objects}, skipped: ${fig.skipped.length}`);
  for (const s of fig.skipped) console.log(`    skipped ${s.object}: ${s.reason}`);
  console.log(`  packets: ${fig.packets} (${crafted.length} crafted, ${random.length} random)`);
  console.log(
    `  conformance: ${fig.conformance.total} programs, ${fig.conformance.candidates} without uBPF test helpers, kernel accepted ${fig.conformance.kernelAccepted}, compared ${fig.conformance.compared}, mismatches ${fig.conformance.mismatches}`,
  );
  for (const m of conf.mismatches.slice(0, opts.details)) console.log(`    conformance mismatch ${m}`);
  const g = fig.generated;
  const rate = g.made === 0 ? 0 : (100 * g.rejected) / g.made;
  console.log(
    `  generated programs: ${g.made}, verifier rejected ${g.rejected} (${rate.toFixed(1)}%), ran ${g.ran}, comparisons ${g.comparisons}, mismatches ${g.mismatches}`,
  );
  const ins = fig.instrumented;
  console.log(
    `  with stats: ${ins.objects} objects, ${ins.generated} generated programs, comparisons ${ins.comparisons}, mismatches ${ins.mismatches}`,
  );
  const known = new Map<string, number>();
  const fresh: Mismatch[] = [];
  for (const m of found) {
    const k = KNOWN_OPEN.find((x) => x.matches(m));
    if (k === undefined) fresh.push(m);
    else known.set(k.id, (known.get(k.id) ?? 0) + 1);
  }
  fig.knownOpen = [...known].map(([id, count]) => ({ id, count }));
  fig.newMismatches = fresh.length;
  fig.eventRecords = eventsCompared.records;
  console.log(
    `  comparisons: ${fig.comparisons}, mismatches: ${fig.mismatches} (${fresh.length} new, ${fig.mismatches - fresh.length} known open); event records compared: ${fig.eventRecords}`,
  );
  for (const [id, n] of known) console.log(`    known open (${n}): ${id}`);
  for (const m of [...fresh, ...found.filter((x) => !fresh.includes(x))].slice(0, opts.details)) {
    console.log(`\nMISMATCH in ${m.where}, program ${m.program}`);
    console.log(`  packet: ${m.packet.label} — ${describe(m.packet.bytes)}`);
    console.log(
      `  hex (${m.packet.bytes.length} B): ${Buffer.from(m.packet.bytes.subarray(0, 256)).toString("hex")}`,
    );
    for (const d of m.diffs) console.log(`  ${d}`);
    if (m.chain !== undefined) console.log(`  vm chain: ${m.chain.join(" -> ")}`);
    if (m.where.startsWith("generated")) {
      // A generated program exists nowhere else: print it whole so the report is a reproducer.
      for (const p of Object.values(m.spec.programs)) {
        console.log(
          `  program ${p.name} (hex ${Buffer.from(encodeInstructions(p.instructions)).toString("hex")}):`,
        );
        for (const line of disassembleProgram(p.instructions)) console.log(`    ${line}`);
      }
      console.log(
        `  maps: ${Object.values(m.spec.maps)
          .map(
            (x) =>
              `${x.name} ${x.typeName} ${x.keySize}/${x.valueSize}/${x.maxEntries}${x.contents.length ? ` ${JSON.stringify(x.contents)}` : ""}`,
          )
          .join("; ")}`,
      );
    }
    if (m.program !== "(load)" && m.packet.bytes.length >= 14) {
      const steps = await vmInstructionTrace(m.spec, m.wiring, m.program, m.packet.bytes, m.before);
      console.log(`  vm instruction trace (last 40 of ${steps.length}):`);
      for (const s of steps.slice(-40)) console.log(`    ${s}`);
    }
  }
  console.log(`\nRESULT ${JSON.stringify(fig)}`);
  return fresh.length === 0 && conf.mismatches.length === 0 ? 0 : 1;
}

/**
 * Re-executes the runner pinned to CPU 0 so kernel test runs and the VM use the same per-CPU
 * slot; returns the child's exit status, or undefined to run here (already pinned, or no taskset).
 */
function pinned(): number | undefined {
  if (process.env.TSBPF_DIFF_CPU !== undefined) return undefined;
  const r = spawnSync(
    "taskset",
    ["-c", "0", process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: "inherit",
      env: { ...process.env, TSBPF_DIFF_CPU: "0" },
    },
  );
  if (r.error !== undefined) {
    console.error("differential: taskset not found; per-CPU maps compare as sorted non-zero slots");
    process.env.TSBPF_DIFF_CPU = "";
    return undefined;
  }
  return r.status ?? 1;
}

process.exitCode = pinned() ?? (await main());
