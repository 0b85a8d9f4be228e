import type { RunResult } from "../backend/types.js";
import { describePacket } from "../net/parse.js";
import { type PacketBatch, readPcapBatch, writePcap } from "../net/pcap.js";
import { isPcapng, readCapture } from "../net/pcapng.js";
import { loadPipeline, Pipeline } from "../pipeline/pipeline.js";
import { MAIN_OBJECT, type ProgramRef } from "../tailcall/plan.js";
import { checkWiring, parseTailArg } from "../tailcall/wiring.js";
import { type Command, intFlag, parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";
import { readInputFile, readObject, writeOutputFile } from "./load-object.js";
import { formatStats } from "../stats/read-stats.js";
import { isPipelineFile, pipelineProgram } from "./target.js";
import { faultJson, runJson, traceText, verdictName } from "./run-report.js";
import { eventsFlag, formatEvent, openEventReaders, recordJson } from "./events.js";
import { formatSummary, summarizeRuns, summaryJson } from "./run-summary.js";
import { VM_TIERS, type VmTierOption, VmProgram } from "../vm/vm-collection.js";
import { checkContextFlags, formatGlobals, jsonValue, readAllGlobals, setGlobalArg } from "./run-globals.js";

const HELP = `usage: tsbpf run (OBJ --prog NAME [--tail MAP:KEY=PROG ...] | PIPELINE.yaml [--prog NAME])
                (--data-in FILE | --pcap FILE)
                [--data-out FILE] [--repeat N] [--ingress-ifindex N] [--rx-queue N]
                [--backend vm|kernel] [--netns NAME] [--tier compiled|wasm|js|interpreter] [--stats] [--json]
                [--events MAP [--type STRUCT]] [--summary]
                [--global SECTION:NAME=VALUE ...] [--show-globals]

Runs a program on one packet (--data-in, raw bytes) or on every packet of a capture (--pcap, pcap
or pcapng), with its tail-call targets wired from the object's static .values and from --tail.
Given a pipeline file, it loads every object of it, fills the slots the file names and runs its
entry (or --prog NAME, OBJECT:NAME with several objects).
Prints the verdict, the output packet, the mean duration per run and the trace messages; with
--json one JSON object per packet. --data-out writes the output packet (a pcap for --pcap).
The duration is the program's execution: on the VM, the one-off preparation before the first
run (the JS engine compiling the VM and the programs) is shown apart ('prepared:', prepareNs
in --json); --repeat N gives a steady mean.
--ingress-ifindex and --rx-queue set what an XDP program reads from struct xdp_md; a tc
(sched_cls) program runs on the skb test_run gives it (device lo) and its verdicts are TC_ACT_*.
--global .bss:count=5 (repeatable; .data, .rodata, any global-data section) sets a global
variable before the object is loaded (a number, or JSON for arrays and structs);
--show-globals prints every global variable of the object after the packets (with --json, a
last line {"globals": {...}}).
The VM is the default backend, on its compiled tier: the programs translated to WebAssembly,
with the JS tier (the programs translated to JavaScript) as the fallback when the process can
have no more WebAssembly memories, and for a single run (one packet, no --repeat), which the JS
tier starts sooner; the tier that ran is printed with the duration. --tier wasm always uses the
wasm tier, and refuses a program it cannot translate instead of running it on the JS tier;
--tier js runs the JS tier; --tier interpreter runs the reference interpreter. --backend kernel uses
BPF_PROG_TEST_RUN (root). With --backend kernel, --netns NAME
runs it in network namespace NAME (ip netns add NAME), where --ingress-ifindex is looked up.
--stats (or stats: true in the pipeline file) loads the programs instrumented and prints, after
the packets, each program's runs and verdicts and each tail-call site's calls and misses per key
(with --json, a last line {"stats": {...}}).
--events MAP prints the records each packet's run sent through ring buffer or perf event array
MAP (OBJECT:MAP with several objects; a pipeline file's events: key does the same): hex, or
with --type STRUCT as that C struct in JSON (--json: a line {"event": {"map", "record"}} per
record, after its packet's line).

--summary prints counts instead of each packet: packets per verdict and per program that gave it,
and faults (with --json, one line {"summary": {...}}); on the VM the capture runs as one batch,
for replaying large captures.`;

/** `tsbpf run`. */
export const runCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("run", args, {
    prog: { type: "string" },
    tail: { type: "string", multiple: true },
    "data-in": { type: "string" },
    pcap: { type: "string" },
    "data-out": { type: "string" },
    repeat: { type: "string" },
    "ingress-ifindex": { type: "string" },
    "rx-queue": { type: "string" },
    backend: { type: "string" },
    netns: { type: "string" },
    tier: { type: "string" },
    json: { type: "boolean" },
    stats: { type: "boolean" },
    events: { type: "string" },
    type: { type: "string" },
    summary: { type: "boolean" },
    global: { type: "string", multiple: true },
    "show-globals": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const backend = values.backend ?? "vm";
  if (backend !== "vm" && backend !== "kernel") usage(`run: --backend is vm or kernel, not '${backend}'`);
  const tier = (values.tier ?? "compiled") as VmTierOption;
  if (!VM_TIERS.includes(tier))
    usage(`run: --tier is ${VM_TIERS.slice(0, -1).join(", ")} or ${VM_TIERS.at(-1)}, not '${tier}'`);
  if (values.tier !== undefined && backend !== "vm") usage("run: --tier applies to --backend vm only");
  if (values.netns !== undefined && backend !== "kernel") {
    usage("run: --netns applies to --backend kernel only", "the VM has no network namespaces");
  }
  if ((values["data-in"] === undefined) === (values.pcap === undefined)) {
    usage("run: give exactly one of --data-in FILE or --pcap FILE");
  }
  if (values.type !== undefined && values.events === undefined) usage("run: --type goes with --events MAP");
  const repeat = intFlag("repeat", values.repeat, 1, 100_000_000);
  if (values.summary === true && (repeat > 1 || values["data-out"] !== undefined)) {
    usage("run: --summary counts each packet's one run; it does not go with --repeat or --data-out");
  }
  if (values.summary === true && values.events !== undefined) {
    usage("run: --summary prints counts, not each packet's records; it does not go with --events");
  }
  // Without these flags test_run gives the loopback device's queue 0, as the kernel does.
  const ctx = {
    ...(values["ingress-ifindex"] === undefined
      ? {}
      : { ingressIfindex: intFlag("ingress-ifindex", values["ingress-ifindex"], 1, 0xffffffff) }),
    ...(values["rx-queue"] === undefined
      ? {}
      : { rxQueueIndex: intFlag("rx-queue", values["rx-queue"], 0, 0xffffffff) }),
  };
  if (positionals.length > 1) usage(`run: one object or pipeline file expected, got ${positionals.length}`);
  const target = positionals[0];
  let pipeline: Pipeline;
  let entry: ProgramRef;
  if (target !== undefined && isPipelineFile(target)) {
    if (values.tail !== undefined)
      usage("run: --tail goes with an object; a pipeline file fills its slots itself");
    if (values.global !== undefined)
      usage("run: --global goes with an object; a pipeline file sets its globals under globals:");
    pipeline = await loadPipeline(target);
    entry = values.prog === undefined ? pipeline.entry() : pipelineProgram(pipeline, values.prog, "run");
  } else {
    if (values.prog === undefined) usage("run: --prog NAME is required");
    const { spec } = await readObject(target, "run");
    if (spec.programs[values.prog] === undefined) {
      usage(
        `run: no program named '${values.prog}'`,
        `programs: ${Object.keys(spec.programs).join(", ") || "(none)"}`,
      );
    }
    for (const g of values.global ?? []) setGlobalArg(spec, g);
    const slots = (values.tail ?? []).map(parseTailArg);
    // Programs of `?` sections load only when asked for: naming one asks for it.
    for (const name of [values.prog, ...slots.map((s) => s.program)]) {
      const p = spec.programs[name];
      if (p?.autoload === false) p.autoload = true;
    }
    checkWiring(spec, slots);
    pipeline = Pipeline.fromObject(spec, { tail: slots, entry: values.prog });
    entry = { object: MAIN_OBJECT, program: values.prog };
  }
  const netns = values.netns ?? pipeline.attach?.netns;

  let packets: Uint8Array[] = [];
  let batch: PacketBatch | undefined;
  if (values["data-in"] !== undefined) packets = [await readInputFile(values["data-in"], "--data-in")];
  else {
    const path = values.pcap as string;
    const bytes = await readInputFile(path, "--pcap");
    // --summary of a classic pcap: the packets stay packed in the file's bytes (no object each).
    if (values.summary === true && !isPcapng(bytes)) batch = readPcapBatch(bytes, path).batch;
    else packets = readCapture(bytes, path).packets.map((p) => p.data);
    if ((batch?.count ?? packets.length) === 0) usage(`--pcap ${path}: the capture holds no packets`);
  }

  // One run in all: the JS tier starts it sooner than the wasm tier, whose WebAssembly engine,
  // translation and compilation cost more than the run saves (docs/benchmarks.md).
  const oneRun = (batch?.count ?? packets.length) * repeat === 1;
  const loaded = await pipeline.load({
    backend,
    vm: { tier: tier === "compiled" && oneRun ? "js" : tier },
    onWarning: (m) => io.stderr(`tsbpf: warning: ${m}\n`),
    ...(netns === undefined ? {} : { netns }),
    ...(values.stats === true ? { stats: true } : {}),
  });
  const withStats = values.stats === true || pipeline.definition?.stats === true;
  // Output goes out in large writes: one write per packet costs more than its run.
  const out = new OutputBuffer(io);
  try {
    const program = loaded.program(entry);
    // The tier that ran, and why it is the JS tier when the wasm tier was asked for.
    const engine = (ran: string | undefined): string => {
      if (backend !== "vm") return "kernel";
      const why = program instanceof VmProgram ? program.tierFallback : undefined;
      return `VM, ${ran ?? tier} tier${why === undefined ? "" : `, the wasm tier's fallback: ${why}`}`;
    };
    // --events, else the pipeline file's events: key.
    const readers = openEventReaders(
      loaded.collections,
      values.events === undefined
        ? (pipeline.definition?.events ?? [])
        : [eventsFlag(values.events, values.type)],
    );
    checkContextFlags(program.spec, ctx);
    const progType = program.spec.type;
    const results: RunResult[] = [];
    if (values.summary === true) {
      const s = await summarizeRuns(program, batch ?? packets, ctx);
      out.write(
        values.json
          ? `${JSON.stringify(summaryJson(s, progType))}\n`
          : formatSummary(s, engine(s.tier), progType),
      );
      packets = [];
    }
    for (const [i, pkt] of packets.entries()) {
      const r = await program.run(pkt, { repeat, ...ctx });
      if (values["data-out"] !== undefined) results.push(r);
      out.write(
        values.json
          ? `${JSON.stringify(runJson(i + 1, r, progType))}\n`
          : formatRun(i + 1, pkt, r, repeat, engine(r.tier), progType),
      );
      for (const reader of readers) {
        for (const rec of reader.poll()) {
          if (values.json)
            out.write(`${JSON.stringify({ event: { map: reader.map, record: recordJson(rec) } })}\n`);
          else out.write(`  ${formatEvent(reader.map, rec)}\n`);
        }
        if (reader.lost > 0 && !values.json) out.write(`  event ${reader.map}: ${reader.lost} lost so far\n`);
      }
    }
    out.flush();
    if (values["data-out"] !== undefined) {
      const out =
        values.pcap !== undefined
          ? writePcap(results.map((r) => r.dataOut))
          : (results[0]?.dataOut ?? new Uint8Array());
      await writeOutputFile(values["data-out"], out, "--data-out");
    }
    if (values["show-globals"] === true) {
      const coll = loaded.collections[entry.object];
      const shown = coll === undefined ? {} : readAllGlobals(coll);
      if (values.json) io.stdout(`${JSON.stringify({ globals: shown }, jsonValue)}\n`);
      else io.stdout(formatGlobals(shown));
    }
    if (withStats) {
      const stats = loaded.readStats();
      if (values.json) io.stdout(`${JSON.stringify({ stats })}\n`);
      else io.stdout(`stats:\n${formatStats(stats).replace(/^/gm, "  ")}\n`);
    }
  } finally {
    out.flush();
    loaded.close();
  }
  return 0;
};

/** Collects text and hands it to `io.stdout` in pieces of about 64 KiB. */
class OutputBuffer {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly io: CliIo) {}
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 65536) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    this.io.stdout(this.parts.join(""));
    this.parts = [];
    this.size = 0;
  }
}

function hexDump(b: Uint8Array, indent: string): string {
  const lines: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = Array.from(b.subarray(o, o + 16), (x) => x.toString(16).padStart(2, "0"));
    lines.push(`${indent}${o.toString(16).padStart(4, "0")}  ${row.join(" ")}`);
  }
  return lines.join("\n");
}

function formatRun(
  n: number,
  input: Uint8Array,
  r: RunResult,
  repeat: number,
  engine: string,
  progType: number,
): string {
  const out = [`packet ${n}: ${describePacket(input)}`];
  out.push(`  verdict:  ${verdictName(r.retval, progType)}`);
  if (r.chain !== undefined && r.chain.length > 1) out.push(`  chain:    ${r.chain.join(" -> ")}`);
  if (r.redirect !== undefined) {
    const t = r.redirect;
    out.push(`  redirect: ${t.kind === "ifindex" ? `ifindex ${t.ifindex}` : `map ${t.map}[${t.key}]`}`);
  }
  if (r.fault !== undefined) {
    const f = faultJson(r.fault);
    out.push(`  fault:    ${r.fault.message}`);
    if (f.instruction !== undefined) out.push(`            ${f.insn ?? "?"}: ${f.instruction}`);
    if (f.sourceLine !== undefined) out.push(`            ${f.sourceLine}`);
  }
  const same = r.dataOut.length === input.length && r.dataOut.every((b, i) => b === input[i]);
  out.push(`  output:   ${r.dataOut.length} bytes${same ? " (unchanged)" : ""}`);
  if (!same) out.push(hexDump(r.dataOut, "    "));
  if (r.prepareNs !== undefined) {
    out.push(`  prepared: ${r.prepareNs} ns before the first run (not in its duration)`);
  }
  const runs = r.runs ?? repeat;
  out.push(`  duration: ${r.durationNs} ns per run (${engine}${runs > 1 ? `; mean of ${runs}` : ""})`);
  // With --repeat every run prints again; show one run's messages and the total.
  const perRun = repeat > 1 && r.trace.length % repeat === 0 ? r.trace.length / repeat : r.trace.length;
  if (r.trace.length === 0) out.push("  trace:    (none)");
  else for (const m of r.trace.slice(0, Math.min(perRun, 20))) out.push(`  trace:    ${traceText(m)}`);
  if (perRun > 20) out.push(`  trace:    ... ${perRun - 20} more`);
  if (repeat > 1 && r.trace.length > 0)
    out.push(`  trace:    (${r.trace.length} messages over ${repeat} runs)`);
  return `${out.join("\n")}\n`;
}
