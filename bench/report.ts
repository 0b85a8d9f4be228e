/** Renders the benchmark's results as plain-text tables (stdout) and Markdown (latest.md). */
import type { DispatchRow } from "./dispatch-bench.js";
import type { InterpRow } from "./interp-bench.js";
import type { LoaderResult } from "./loader-bench.js";
import type { ReplayResult } from "./replay-bench.js";
import { fmt, ratio } from "./stats.js";
import type { EventsResult } from "./events-bench.js";

/** Everything one benchmark run measured. */
export interface BenchResults {
  date: string;
  host: { kernel: string; cpu: string; cpus: number; node: string; loadavg: number[] };
  kernelSkipped?: string;
  interpreter: InterpRow[];
  /**
   * The interpreter's ns per insn on the aim's programs in fresh processes started later in the
   * run (absent in results written before they existed); the aim takes the best of these and part 1's.
   */
  interpreterProcesses?: Record<string, number>[];
  dispatch: DispatchRow[];
  loader: LoaderResult;
  /** Part 4: ring-buffer readers against libbpf (absent in results written before it existed). */
  events?: EventsResult;
  /** `run --pcap` of a 1M-packet capture through the seed's pipeline (issue 14), when measured. */
  replay?: ReplayResult;
  elapsedS: number;
}

type Table = { title: string; head: string[]; rows: string[][]; notes: string[] };

/** The interpreter's ns/insn on `x`'s program in each process: table 1's, then the fresh ones. */
function interpreterFigures(r: BenchResults, x: InterpRow): (number | undefined)[] {
  return [x.vmNsPerInsn, ...(r.interpreterProcesses ?? []).map((p) => p[x.program])];
}

/** Each process's interpreter figures, for the aims' note: "sum_bytes 6.41 / 3.70 / 3.65, ...". */
function interpreterSpread(r: BenchResults): string {
  return r.interpreter
    .filter((x) => x.program !== "map_lookups")
    .map(
      (x) =>
        `${x.program} ${interpreterFigures(r, x)
          .map((v) => (v === undefined ? "-" : v.toFixed(2)))
          .join(" / ")}`,
    )
    .join(", ");
}

function tables(r: BenchResults): Table[] {
  const out: Table[] = [];
  out.push({
    title: "1. Reference interpreter: loop-heavy programs (test/bpf/bench/loops.bpf.o, 1142-byte UDP packet)",
    head: ["program", "insns/run", "VM ns/run", "VM ns/insn", "kernel ns/run", "kernel ns/insn", "VM/kernel"],
    rows: r.interpreter.map((x) => [
      x.program,
      String(x.insns),
      fmt(x.vmNsPerRun),
      fmt(x.vmNsPerInsn),
      fmt(x.kernelNsPerRun),
      fmt(x.kernelNsPerInsn),
      ratio(x.vmNsPerRun, x.kernelNsPerRun),
    ]),
    notes: [
      ...r.interpreter.map((x) => `${x.program}: ${x.what}.`),
      "VM ns/run is the interpreter's time (RunResult.durationNs); insns is its executed count for one run.",
      "Reference: uBPF's C interpreter, about 4.2 ns/insn on this machine.",
      ...(r.interpreter.some((x) => x.sameRetval === false)
        ? ["WARNING: VM and kernel returned different actions."]
        : []),
    ],
  });
  out.push({
    title:
      "2. Tail-call dispatcher on the reference interpreter, per packet (kernel: BPF_PROG_TEST_RUN, repeat 1e6)",
    head: [
      "object",
      "packet",
      "insns",
      "VM exec ns",
      "VM wall ns",
      "kernel ns",
      "exec/kernel",
      "wall/kernel",
    ],
    rows: r.dispatch.map((x) => [
      x.object.replace(/^.*\//, ""),
      x.packet,
      String(x.insns),
      fmt(x.vmExecNs),
      fmt(x.vmWallNs),
      fmt(x.kernelNs),
      ratio(x.vmExecNs, x.kernelNs),
      ratio(x.vmWallNs, x.kernelNs),
    ]),
    notes: [
      "VM exec: the VM's time per run (durationNs). VM wall: the whole program.run(pkt, {repeat}) call / repeat (also lays out the packet and builds the result once).",
      ...r.dispatch
        .filter((x) => x.counterChecked !== undefined)
        .map(
          (x) =>
            `${x.packet}: kernel per-CPU counter ${x.counterChecked ? "moved once per run (tail call verified)" : "DID NOT match the runs"}.`,
        ),
    ],
  });
  const jitRows: string[][] = [
    ...r.interpreter
      .filter((x) => x.compiledNsPerInsn !== undefined)
      .map((x) => [
        `${x.program} (per insn)`,
        fmt(x.vmNsPerInsn),
        fmt(x.compiledNsPerInsn),
        ratio(x.vmNsPerInsn, x.compiledNsPerInsn),
        x.compiledSame ? "yes" : "NO",
        fmt(x.wasmNsPerInsn),
        ratio(x.vmNsPerInsn, x.wasmNsPerInsn),
        x.wasmSame === undefined ? "-" : x.wasmSame ? "yes" : "NO",
      ]),
    ...r.dispatch
      .filter((x) => x.compiledExecNs !== undefined)
      .map((x) => [
        `${x.object.replace(/^.*\//, "")} ${x.packet} (per packet)`,
        fmt(x.vmExecNs),
        fmt(x.compiledExecNs),
        ratio(x.vmExecNs, x.compiledExecNs),
        x.compiledSame ? "yes" : "NO",
        fmt(x.wasmExecNs),
        ratio(x.vmExecNs, x.wasmExecNs),
        x.wasmSame === undefined ? "-" : x.wasmSame ? "yes" : "NO",
      ]),
  ];
  if (jitRows.length > 0) {
    out.push({
      title:
        "2b. The VM's JS tier and its wasm tier (the default compiled engine) against the interpreter, ns",
      head: ["case", "interpreter", "js", "speed-up", "same result", "wasm", "speed-up", "same result"],
      rows: jitRows,
      notes: [
        "Same objects and packets as tables 1 and 2. Same result: action, chain and executed instruction count agree.",
        'js: tier "js" (src/vm/compiler.ts), BPF translated to JavaScript. wasm: the default tier "compiled" (src/vm/wasm/), BPF translated to WebAssembly over the JS tier; see docs/vm-semantics.md.',
      ],
    });
  }
  const statsRows = r.dispatch
    .filter((x) => x.kernelStatsNs !== undefined)
    .map((x) => [
      `${x.object.replace(/^.*\//, "")} ${x.packet}`,
      String(x.chain.length),
      fmt(x.kernelNs),
      fmt(x.kernelStatsNs),
      fmt(x.statsNsPerStage),
    ]);
  if (statsRows.length > 0) {
    out.push({
      title: "2c. Stats instrumentation (--stats) on the kernel: BPF_PROG_TEST_RUN ns per packet, same run",
      head: ["case", "stages", "without", "with stats", "added ns per stage"],
      rows: statsRows,
      notes: [
        "Stages: programs the packet enters (the entry, then each tail-call target). Added per stage: (with - without) / stages; each stage counts its run and verdict, each tail-call site its call (and a miss when it falls through), one per-CPU map lookup each.",
      ],
    });
  }
  const aims = aimRows(r);
  if (aims.length > 0) {
    out.push({
      title: "2d. Speed aims (issue 14), each against what it is measured with in this run",
      head: ["aim", "figure", "bound", "met"],
      rows: aims,
      notes: [
        "compiled: the VM's default compiled engine, the wasm tier (table 2b's wasm column); js: the JS tier, informative. Ratios divide the tier's durationNs by the kernel's BPF_PROG_TEST_RUN duration for the same object and packet (tables 1, 2, 2b).",
        "Array lookup: the tier's map_lookups time per run / its 256 lookups (an upper bound: each also runs the loop's other instructions).",
        `Interpreter: the best of table 1's process and ${r.interpreterProcesses?.length ?? 0} fresh ones started after part 2 and at the end of the run (each the median of its trials): ${interpreterSpread(r)}. A process runs the interpreter at one of two speeds on this kind of machine, about 3.7 or 6.4 ns/insn, with the same code (docs/benchmarks.md).`,
        `Cold start: the CLI itself (tsbpf attach with two --tail slots, through ip netns exec) until it prints that it attached, minus the launcher and Node's bare start-up measured right before it (the median over ${2 * (r.loader.tsbpf?.runs ?? 11)} such triples; table 3's note gives the three medians); in-process: table 3's open + load + slots + attach, import excluded.`,
      ],
    });
  }
  if (r.replay !== undefined) {
    const x = r.replay;
    out.push({
      title: `4. Replay: run --pcap --summary of a ${x.packets}-packet capture through the seed's dispatcher with counter stages`,
      head: ["figure", "value"],
      rows: [
        ["whole command, spawn to exit (s)", fmt(x.commandS)],
        ["  of which Node's bare start-up, node -e 0 (s)", fmt(x.nodeStartupS)],
        ["VmProgram.runBatch in-process, ns per packet", fmt(x.batchNsPerPacket)],
      ],
      notes: [
        `Median of ${x.runs} runs. Packets: TCP SYN to 8080, 22 and 443, UDP, ARP in turn (2 of 5 tail-call into a counter stage).`,
        ...(x.skipped === undefined ? [] : [`The command could not be timed: ${x.skipped}`]),
      ],
    });
  }
  const l = r.loader;
  const lrows: string[][] = [];
  const cached = l.tsbpfCached;
  // The package entry (import "tsbpf"); absent from results written before it was measured.
  const entry = l.tsbpfEntry;
  // libbpf's loader called inside a Node process; absent from results written before it was.
  const inNode = l.libbpfInNode;
  const phaseRow = (name: string, pick: (f: NonNullable<LoaderResult["tsbpf"]>) => number | undefined) => {
    const a = l.tsbpf === undefined ? undefined : pick(l.tsbpf);
    const b = l.libbpf === undefined ? undefined : pick(l.libbpf);
    const c = cached === undefined ? undefined : pick(cached);
    const e = entry === undefined ? undefined : pick(entry);
    const n = inNode === undefined ? undefined : pick(inNode);
    lrows.push([
      name,
      fmt(a),
      ...(entry === undefined ? [] : [fmt(e)]),
      ...(cached === undefined ? [] : [fmt(c)]),
      fmt(b),
      ...(inNode === undefined ? [] : [fmt(n)]),
      ratio(a, b),
      ...(entry === undefined ? [] : [ratio(e, b)]),
      ...(cached === undefined ? [] : [ratio(c, b)]),
    ]);
  };
  if (l.tsbpf !== undefined) {
    phaseRow("spawn → attached", (f) => f.spawnToAttachedMs);
    phaseRow("spawn → exit", (f) => f.spawnToExitMs);
    phaseRow("main → attached (in-process)", (f) => f.mainToAttachedMs);
    for (const k of ["import_ms", "open_ms", "load_ms", "slots_ms", "attach_ms"])
      phaseRow(`  ${k.replace(/_ms$/, "")}`, (f) => f.phases[k]);
    phaseRow("  open+load+slots+attach", inProcessMs);
    // Absent from results written before the loader reported it.
    if (l.tsbpf.phases.gc_ms !== undefined)
      phaseRow("    of which V8 garbage collection", (f) => f.phases.gc_ms);
  }
  out.push({
    title: "3. Loader: start to attached with slots filled (tail_call.bpf.o on a veth in a netns), ms",
    head:
      cached === undefined && entry === undefined
        ? ["phase", "tsbpf", "libbpf (C)", "tsbpf/libbpf"]
        : [
            "phase",
            "tsbpf (ES modules)",
            ...(entry === undefined ? [] : ["tsbpf (package entry)"]),
            ...(cached === undefined ? [] : ["tsbpf (bundle, code cache)"]),
            "libbpf (C)",
            ...(inNode === undefined ? [] : ["libbpf (C) inside Node"]),
            "modules/libbpf",
            ...(entry === undefined ? [] : ["entry/libbpf"]),
            ...(cached === undefined ? [] : ["cached/libbpf"]),
          ],
    rows: lrows,
    notes: [
      ...(l.skipped === undefined ? [] : [`Skipped: ${l.skipped}`]),
      ...(l.netnsExecMs === undefined
        ? []
        : [
            `Both are started through 'ip netns exec' (alone: ${fmt(l.netnsExecMs)} ms); Node's bare start-up ('node -e 0'): ${fmt(l.nodeStartupMs)} ms; every process timed here runs without NODE_EXTRA_CA_CERTS (its certificates cost each Node start 40–90 ms of noise); the CLI, 'tsbpf attach' with the same slots, to its 'attached' line: ${fmt(l.cliAttachMs)} ms.`,
          ]),
      ...(l.tsbpf === undefined
        ? []
        : [
            `Median of ${l.tsbpf.runs} runs each, alternating (the launcher, node -e 0 and the CLI: of ${2 * l.tsbpf.runs})${l.settle === undefined ? "" : `; each timed loader run, of this table and 3b, starts after ${l.settle.quietMs} ms of idling and then ${l.settle.busyMs} ms of the bench spinning on a CPU (the kernel's XDP attach can wait for an RCU grace period whose length depends on what the machine did just before; docs/benchmarks.md)`}. Aim (issue 4): load-to-attached within 1.2× libbpf.`,
          ]),
      ...(l.tsbpf === undefined
        ? []
        : [
            "import: tsbpf's modules and its native layer (kernel.loadNativeLayer(): koffi's binary, libc and the syscall() binding, as the dynamic linker maps and binds libbpf and libc before the C loader's main; no bpf() call: the first is in load, as libbpf's are); open: parse the ELF (libbpf: bpf_object__open); load: BTF, maps, verifier. Of which V8 garbage collection: the GC pauses from the import's end to attached (perf_hooks 'gc' entries), already counted in the phases above.",
          ]),
      ...(cached === undefined
        ? []
        : [
            "ES modules: bench/tsbpf-loader.ts importing dist/src/index.js, the package's root (informative: Node 20 compiles every function afresh in each process). Bundle, code cache: the same job written as a CLI command is (bench/cli-style-loader.ts: static imports of the modules it uses, not the package's root), bundled by scripts/bundle.mjs and compiled with V8's code cache (bench/code-cache-run.cts), as bin/tsbpf.js runs the CLI; its import excludes the cache's deserialization (spawn → attached includes it).",
          ]),
      ...(entry === undefined
        ? []
        : [
            `Package entry: the same job importing "tsbpf" as a user's program does (bench/package-entry-loader.ts; package.json "exports" → dist/src/package-entry.js, the library's bundle through V8's code cache); its import includes the cache's deserialization.`,
          ]),
      ...(inNode === undefined
        ? []
        : [
            "libbpf (C) inside Node: bench/c/loader.c built as a shared library and called from a Node process through koffi (bench/libbpf-in-node.cts), timed by the same C code: the same libbpf calls with Node around them. Informative: it tells what the host process adds (the kernel takes longer over the same calls made from a Node process on this kind of machine, docs/benchmarks.md); the aims divide by the C loader.",
          ]),
      ...(l.tsbpfEntryParsed === undefined
        ? []
        : [
            `Open, in the bundle and package entry columns: the object's prepared spec from the object cache of the program's earlier runs (docs/code-cache.md, "The object cache"), read and checked byte for byte inside the timed open. With the cache off (TSBPF_OBJECT_CACHE=0, the object parsed, as on a program's first open of an object), the package entry's open is ${fmt(l.tsbpfEntryParsed.phases.open_ms)} ms and its load ${fmt(l.tsbpfEntryParsed.phases.load_ms)} ms (median of ${l.tsbpfEntryParsed.runs}, alternating with the others).`,
          ]),
    ],
  });
  const sk = l.skel;
  if (sk !== undefined && (sk.tsbpf ?? sk.tsbpfEntry ?? sk.tsbpfCached ?? sk.libbpf) !== undefined) {
    const srows: string[][] = [];
    const srow = (name: string, pick: (f: NonNullable<LoaderResult["tsbpf"]>) => number | undefined) => {
      const [a, c, d, b] = [sk.tsbpf, sk.tsbpfEntry, sk.tsbpfCached, sk.libbpf].map((f) =>
        f === undefined ? undefined : pick(f),
      );
      srows.push([name, fmt(a), fmt(c), fmt(d), fmt(b), ratio(a, b), ratio(c, b), ratio(d, b)]);
    };
    srow("main → attached (in-process)", (f) => f.mainToAttachedMs);
    for (const k of ["import_ms", "open_ms", "load_ms", "slots_ms", "attach_ms"])
      srow(`  ${k.replace(/_ms$/, "")}`, (f) => f.phases[k]);
    srow("  open+load+slots+attach", inProcessMs);
    srow("    of which V8 garbage collection", (f) => f.phases.gc_ms);
    out.push({
      title: "3b. Loader through a generated skeleton (the same job, tail_call.bpf.o embedded), ms",
      head: [
        "phase",
        "tsbpf skeleton (module graph)",
        "tsbpf skeleton (package entry)",
        "tsbpf skeleton (bundle, code cache)",
        "libbpf skeleton (C)",
        "modules/libbpf",
        "entry/libbpf",
        "cached/libbpf",
      ],
      rows: srows,
      notes: [
        ...(sk.skipped === undefined ? [] : [`Left out: ${sk.skipped}`]),
        "tsbpf: bench/tsbpf-skel-loader.ts through examples/tail-call/tail_call.skel.ts (TailCall.open(), load, slots, attach), which carries what open and load's JavaScript make of the object (object/prepared-spec.ts). The skeleton imports `tsbpf`: package entry, the library's bundle through V8's code cache as a user's loader gets it (docs/code-cache.md); module graph, the same with TSBPF_BUNDLE=0 (dist/src's ES modules, compiled afresh; informative); bundle, code cache: the loader, its skeleton and the library in one script through bin/tsbpf.js's loading, as the CLI runs (informative: a user's loader is not bundled with tsbpf). libbpf: bench/c/loader_skel.c on `bpftool gen skeleton` of the same object (tail_call__open, tail_call__load). Runs alternate with table 3's.",
      ],
    });
  }
  const ev = r.events;
  if (ev !== undefined) {
    const rate = (ns: number | undefined): string => (ns === undefined ? "-" : `${fmt(1000 / ns)} M/s`);
    const rows = "rows" in ev ? ev.rows : [];
    const c = "rows" in ev ? ev.concurrent : undefined;
    out.push({
      title:
        "4. Ring-buffer reader: records/s draining a filled kernel ring (test/bpf/events/events.bpf.o, 64 MiB ring)",
      head: [
        "record",
        "consumeRaw",
        "read() copies",
        "async iterator",
        "libbpf (C)",
        "consumeRaw/libbpf time",
        "seq errors",
        "drops",
      ],
      rows: rows.map((x) => [
        `${x.size} B`,
        rate(x.consumeNsPerRecord),
        rate(x.readNsPerRecord),
        rate(x.iteratorNsPerRecord),
        rate(x.libbpfNsPerRecord),
        x.libbpfNsPerRecord === undefined ? "-" : ratio(x.consumeNsPerRecord, x.libbpfNsPerRecord),
        String(x.seqErrors),
        String(x.drops),
      ]),
      notes: [
        ...("skipped" in ev ? [`Skipped: ${ev.skipped}`] : []),
        ...("libbpfSkipped" in ev && ev.libbpfSkipped !== undefined ? [ev.libbpfSkipped] : []),
        "Each trial fills the ring with BPF_PROG_TEST_RUN, then times one drain of every record; median of the trials.",
        "consumeRaw: zero-copy batch (no object per record); read(): batches of 4096 copied records; iterator: for await, one record at a time.",
        "libbpf: ring_buffer__consume (bench/c/ringbuf_consumer.c) on the same pinned ring and producer, in the same run. Aim (issue 13): batch ≥ 5 M/s and iterator ≥ 1 M/s at 128 B.",
        ...(c === undefined
          ? []
          : [
              `Concurrent: a C producer in another process wrote ${c.produced} records of ${c.size} B into a 1 MiB ring in ${fmt(c.seconds)} s while tsbpf read them: ${c.received} received, ${c.missing} missing, ${c.duplicated} duplicated; the producer's own drop counter says ${c.drops}${c.missing === c.drops ? " (every missing record is a counted drop)" : " (MISMATCH)"}.`,
            ]),
      ],
    });
  }
  return out;
}

/** One aim: what, the figure, its bound, whether it is met (lower is better). */
function aimRow(what: string, figure: number | undefined, bound: number, unit: string): string[] {
  const f = figure === undefined ? "-" : `${fmt(figure)}${unit}`;
  const met = figure === undefined ? "not measured" : figure <= bound ? "yes" : "no";
  return [what, f, `≤ ${fmt(bound)}${unit}`, met];
}

/** A figure shown beside the aims, not one: the JS tier's, below the default engine. */
function infoRow(what: string, figure: number | undefined, unit: string): string[] {
  return [what, figure === undefined ? "-" : `${fmt(figure)}${unit}`, "-", "informative"];
}

function aimRows(r: BenchResults): string[][] {
  const rows: string[][] = [];
  // The default compiled engine is the wasm tier (table 2b's wasm column).
  for (const x of r.dispatch) {
    if (x.wasmExecNs === undefined || x.kernelNs === undefined) continue;
    rows.push(
      aimRow(
        `compiled / kernel: ${x.object.replace(/^.*\//, "")} ${x.packet}`,
        x.wasmExecNs / x.kernelNs,
        3,
        "×",
      ),
    );
  }
  for (const x of r.dispatch) {
    if (x.compiledExecNs === undefined || x.kernelNs === undefined) continue;
    rows.push(
      infoRow(
        `js tier / kernel: ${x.object.replace(/^.*\//, "")} ${x.packet}`,
        x.compiledExecNs / x.kernelNs,
        "×",
      ),
    );
  }
  for (const x of r.interpreter) {
    if (x.program === "map_lookups") {
      if (x.wasmNsPerRun !== undefined)
        rows.push(aimRow("compiled: one array-map lookup, ns", x.wasmNsPerRun / 256, 10, ""));
      if (x.compiledNsPerRun !== undefined)
        rows.push(infoRow("js tier: one array-map lookup, ns", x.compiledNsPerRun / 256, ""));
      continue;
    }
    rows.push(aimRow(`compiled: ${x.program}, ns per insn`, x.wasmNsPerInsn, 0.2, ""));
    rows.push(infoRow(`js tier: ${x.program}, ns per insn`, x.compiledNsPerInsn, ""));
    const processes = interpreterFigures(r, x).filter((v): v is number => v !== undefined);
    rows.push(
      aimRow(
        `interpreter: ${x.program}, ns per insn (best of ${processes.length} processes)`,
        Math.min(...processes),
        4.2,
        "",
      ),
    );
  }
  if (r.replay?.commandS !== undefined)
    rows.push(aimRow(`run --pcap, ${r.replay.packets} packets, whole command, s`, r.replay.commandS, 2, ""));
  const l = r.loader;
  if (l.cliAttachMs !== undefined && l.nodeStartupMs !== undefined)
    rows.push(
      aimRow(
        "cold start: tsbpf attach, spawn → attached − ip netns exec − node -e 0, ms",
        l.coldStartMs ?? l.cliAttachMs - (l.netnsExecMs ?? 0) - l.nodeStartupMs,
        25,
        "",
      ),
    );
  // In-process open+load+fill+attach of each tsbpf loader over its libbpf counterpart.
  const inProcessRow = (
    what: string,
    f: LoaderResult["tsbpf"],
    ref: NonNullable<LoaderResult["tsbpf"]>,
    aim: boolean,
  ): void => {
    if (f === undefined) return;
    const x = inProcessMs(f) / inProcessMs(ref);
    rows.push(aim ? aimRow(what, x, 1.5, "×") : infoRow(what, x, "×"));
  };
  if (l.tsbpf !== undefined && l.libbpf !== undefined) {
    const lib = "in-process open+load+fill+attach / libbpf";
    inProcessRow(`${lib} (as the CLI runs: bundle, code cache)`, l.tsbpfCached, l.libbpf, true);
    inProcessRow(`${lib} (package entry: import "tsbpf")`, l.tsbpfEntry, l.libbpf, true);
    inProcessRow(
      `${lib} (package entry, object cache off: a program's first open of an object)`,
      l.tsbpfEntryParsed,
      l.libbpf,
      false,
    );
    // The aim's row until the package entry was measured; its modules are now informative.
    inProcessRow(`${lib} (ES modules, compiled afresh)`, l.tsbpf, l.libbpf, l.tsbpfEntry === undefined);
    // What the host process adds: libbpf's own loader inside Node, and the package entry over it.
    inProcessRow(`${lib} (libbpf's C loader itself, called inside Node)`, l.libbpfInNode, l.libbpf, false);
    if (l.libbpfInNode !== undefined)
      inProcessRow(
        'in-process open+load+fill+attach / libbpf inside Node (package entry: import "tsbpf")',
        l.tsbpfEntry,
        l.libbpfInNode,
        false,
      );
  }
  const sk = l.skel;
  if (sk?.libbpf !== undefined) {
    const skel = "skeleton: in-process open+load+fill+attach / libbpf's skeleton";
    inProcessRow(`${skel} (package entry, as the seed's loader)`, sk.tsbpfEntry, sk.libbpf, true);
    inProcessRow(`${skel} (module graph)`, sk.tsbpf, sk.libbpf, false);
    inProcessRow(`${skel} (loader and library bundled, code cache)`, sk.tsbpfCached, sk.libbpf, false);
  }
  return rows;
}

/** A loader's open + load + slots + attach, ms: in-process, import excluded (issue 14). */
function inProcessMs(f: NonNullable<LoaderResult["tsbpf"]>): number {
  return ["open_ms", "load_ms", "slots_ms", "attach_ms"].reduce((a, k) => a + (f.phases[k] ?? 0), 0);
}

function loadText(r: BenchResults): string {
  return r.host.loadavg.map((x) => x.toFixed(2)).join(" ");
}

function pad(s: string, n: number, right: boolean): string {
  const len = [...s].length;
  return right ? " ".repeat(Math.max(0, n - len)) + s : s + " ".repeat(Math.max(0, n - len));
}

/** Plain-text tables for a terminal. */
export function renderText(r: BenchResults): string {
  const lines: string[] = [
    `tsbpf bench — ${r.date} — Linux ${r.host.kernel}, ${r.host.cpu} (${r.host.cpus} CPUs), Node ${r.host.node}, load ${loadText(r)}`,
  ];
  if (r.kernelSkipped !== undefined) lines.push(`Kernel parts skipped: ${r.kernelSkipped}`);
  for (const t of tables(r)) {
    lines.push("", t.title);
    const w = t.head.map((h, i) =>
      Math.max([...h].length, ...t.rows.map((row) => [...(row[i] ?? "")].length)),
    );
    const line = (cells: string[]) =>
      cells.map((c, i) => pad(c, w[i] ?? 0, i > 0 && /^[\d.×-]/.test(c))).join("  ");
    lines.push(line(t.head), w.map((n) => "-".repeat(n)).join("  "));
    for (const row of t.rows) lines.push(line(row));
    for (const n of t.notes) lines.push(`  ${n}`);
  }
  lines.push("", `Elapsed: ${r.elapsedS.toFixed(1)} s`);
  return lines.join("\n");
}

/** Markdown, for bench/results/latest.md. */
export function renderMarkdown(r: BenchResults): string {
  const lines: string[] = [
    "# tsbpf benchmark results",
    "",
    `${r.date} — Linux ${r.host.kernel}, ${r.host.cpu} (${r.host.cpus} CPUs), Node ${r.host.node}, load average at start ${loadText(r)}. ` +
      "Produced by `npm run bench` (see docs/benchmarks.md).",
  ];
  if (r.kernelSkipped !== undefined) lines.push("", `**Kernel parts skipped:** ${r.kernelSkipped}`);
  for (const t of tables(r)) {
    lines.push(
      "",
      `## ${t.title}`,
      "",
      `| ${t.head.join(" | ")} |`,
      `|${t.head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    );
    for (const row of t.rows) lines.push(`| ${row.join(" | ")} |`);
    if (t.notes.length > 0) lines.push("", ...t.notes.map((n) => `- ${n.trim()}`));
  }
  lines.push("", `Whole bench: ${r.elapsedS.toFixed(1)} s.`, "");
  return lines.join("\n");
}
