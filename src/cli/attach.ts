import { resolve } from "node:path";
import { isTsbpfError, UsageError } from "../errors.js";
import type { KernelXdpLink } from "../kernel/kernel-link.js";
import { TC_HOOKS, TC_MODES, type TcHook, type TcMode } from "../kernel/tc-link.js";
import { type KernelTcAttachment, KernelTcFilter } from "../kernel/tc-netlink.js";
import { filterAttachmentOf } from "../kernel/pipeline-filter.js";
import type { XdpMode } from "../kernel/netlink-xdp.js";
import { checkNetns } from "../kernel/netns.js";
import { preparePinDir } from "../kernel/pinning.js";
import { checkPinDirFree, pinPipeline } from "../kernel/pipeline-pins.js";
import { defaultSys } from "../kernel/sys.js";
import { TraceStream } from "../kernel/trace-stream.js";
import { MapType, ProgType } from "../abi/index.js";
import { describePipeline } from "../pipeline/deploy.js";
import { type LoadedPipeline, loadPipeline, Pipeline } from "../pipeline/pipeline.js";
import { MAIN_OBJECT, type ProgramRef } from "../tailcall/plan.js";
import { checkWiring, parseTailArg, staticSlots, type TailSlot } from "../tailcall/wiring.js";
import type { TraceLine } from "../trace/trace-line.js";
import { formatStats, statsLayoutOf } from "../stats/read-stats.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";
import { emptySlotWarnings } from "./check.js";
import { readObject } from "./load-object.js";
import { isPipelineFile, pipelineProgram } from "./target.js";
import { traceText } from "./run-report.js";
import { type EventsRequest, eventsFlag, formatEvent, openEventReaders } from "./events.js";
import type { EventReader } from "../backend/event-reader.js";

const HELP = `usage: tsbpf attach OBJ --prog NAME --iface IF [--netns NAME] [--tail MAP:KEY=PROG ...] [--mode MODE | --tc HOOK [--tc-mode M]]
                    [--pin DIR] [--all-trace] [--stats] [--events MAP [--type STRUCT]]
       tsbpf attach PIPELINE.yaml [--prog NAME] [--iface IF] [--netns NAME] [--mode MODE] [--pin DIR] [--all-trace]
                    [--stats] [--events MAP [--type STRUCT]]

Loads OBJ into the kernel, fills the prog-array slots the object declares (.values) and every
--tail, attaches program NAME to interface IF as XDP (bpf_link, netlink where links are missing),
then prints the bpf_printk lines printed from then on until Ctrl+C (SIGINT) or SIGTERM.
Given a pipeline file, it loads every object of it, fills the file's slots and attaches its entry
where its attach: says (the flags override the file); 'tsbpf up' does the same and exits.

  --prog NAME       the XDP program to attach
  --iface IF        the network interface
  --netns NAME      IF is in network namespace NAME (ip netns add NAME): the interface lookup,
                    the XDP link and netlink happen there; pins stay in this host's bpffs
  --tail M:K=P      put program P in slot K of prog array M (repeatable)
  --mode MODE       auto (default), native, generic or offload
  --tc HOOK         attach a tc (sched_cls) program to the interface's tc ingress or egress
                    hook, after what other tools attached there: through a tcx link (Linux 6.6+),
                    else as a direct-action cls_bpf filter on the clsact qdisc (netlink)
  --tc-mode M       auto (default: tcx where the kernel has it, a filter otherwise), tcx, or
                    filter. A filter is added with a priority of its own, never replacing one,
                    and removed at exit (with the clsact qdisc if it was created for it and is
                    empty); after a kill -9, 'tsbpf detach --tc HOOK --iface IF' removes it
  --pin DIR         pin the link (XDP or tcx), maps and programs under DIR (inside bpffs, e.g.
                    /sys/fs/bpf/NAME) so the pipeline keeps running after exit, in the layout of 'tsbpf up'
                    (a tc filter has no link: it stays on its hook and DIR/meta records it):
                    'tsbpf status --pin DIR' shows it, 'tsbpf detach --pin DIR' (the same as
                    'tsbpf down --pin DIR') removes it

Without --pin nothing outlives the command: at exit the program is detached and every map and
program is released (the kernel would empty an unpinned prog array anyway).

  --all-trace       print every bpf_printk line of the machine, not only this object's
  --stats           load the programs instrumented: each counts its runs and verdicts, each
                    tail-call site its calls and misses per key (printed at exit; with --pin the
                    counts stay readable in DIR/maps/tsbpf_stats, see readPinnedStats)
  --events MAP      print the records programs send through ring buffer or perf event array MAP
                    (OBJECT:MAP with several objects) as they come: 'event MAP: <hex>', or with
                    --type STRUCT that C struct as JSON; a pipeline file's events: key does the same

tracefs and bpffs are mounted when missing (as bpftool does). Prefer --netns to 'ip netns exec':
the latter runs tsbpf in a private mount namespace, where a bpffs mounted for --pin would vanish
with the command, so --pin is refused there. When trace lines cannot be read at all, the pipeline
stays attached without them until Ctrl+C, and a warning says why.

Only lines printed after the program was attached are shown, read from a tracefs instance of the
command's own (other readers of trace_pipe lose nothing); by default only lines matching one of
this object's printk formats (when every format is a constant string; otherwise all lines).`;

const MODES: readonly XdpMode[] = ["auto", "native", "generic", "offload"];

/** Formats a trace line as `<timestamp> <task>-<pid> [cpu] <message>`. */
export function formatTraceLine(l: TraceLine): string {
  return `${l.timestamp.toFixed(6)} ${l.task}-${l.pid} [${String(l.cpu).padStart(3, "0")}] ${traceText(l.message)}`;
}

/** Resolves when `signal` aborts, keeping the process alive meanwhile (a pending promise does not). */
async function untilAborted(signal: AbortSignal): Promise<void> {
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await new Promise<void>((r) => {
      if (signal.aborted) r();
      else signal.addEventListener("abort", () => r(), { once: true });
    });
  } finally {
    clearInterval(keepAlive);
  }
}

/** `tsbpf attach`'s options. */
const ATTACH_OPTIONS = {
  prog: { type: "string" },
  iface: { type: "string" },
  netns: { type: "string" },
  tail: { type: "string", multiple: true },
  mode: { type: "string" },
  tc: { type: "string" },
  "tc-mode": { type: "string" },
  pin: { type: "string" },
  "all-trace": { type: "boolean" },
  stats: { type: "boolean" },
  events: { type: "string" },
  type: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The parsed flags of `tsbpf attach`. */
type AttachValues = ReturnType<typeof parseCommandArgs<typeof ATTACH_OPTIONS>>["values"];

/** `tsbpf attach OBJ --prog NAME --iface IF [--netns NAME] [--tail M:K=P ...] [--mode M] [--pin DIR]`. */
export const attachCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("attach", args, ATTACH_OPTIONS);
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const { pipeline, entry, progName, iface, mode, netns, pinDir, tcHook, tcMode } = await attachRequest(
    values,
    positionals,
    io,
  );

  // Signals are caught from here on, so Ctrl+C during loading still cleans up. The handlers stay
  // until the cleanup is done: with `once`, a second Ctrl+C during cleanup would hit Node's
  // default and kill the process half-way (a netlink attachment would then stay behind).
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const statsOn = values.stats === true || pipeline.definition?.stats === true;
  // The trace instance is made on a worker thread while the programs load (issue 14). Started
  // before the object is read instead, it measured no faster: in three A/B runs of 21-25 starts
  // each, once 4-8 ms faster, once the same, once 20 ms slower.
  TraceStream.prepare();
  let loaded: LoadedPipeline<"kernel">;
  try {
    loaded = await pipeline.load({
      backend: "kernel",
      onWarning: (m) => io.stderr(`tsbpf: warning: ${m}\n`),
      ...(netns === undefined ? {} : { netns }),
      stats: statsOn,
    });
  } catch (e) {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    // Nothing will be traced: what prepare made (an instance, a tracefs mount) goes.
    await TraceStream.unprepare();
    throw e;
  }
  let link: KernelXdpLink | KernelTcAttachment | undefined;
  let pinned = false;
  let trace: TraceStream | undefined;
  let readers: EventReader<unknown>[] = [];
  let pumps: Promise<void>[] = [];
  const inNs = netns === undefined ? "" : ` in netns ${netns}`;
  // Loading is synchronous work: a Ctrl+C that arrived meanwhile is only seen once the event loop
  // turns. Look before each step that leaves something in the kernel.
  const interrupted = async (): Promise<boolean> => {
    await new Promise((r) => setImmediate(r));
    return stop.signal.aborted;
  };
  try {
    const coll = loaded.collections[entry.object];
    const prog = coll?.programs[progName];
    if (coll === undefined || prog === undefined)
      throw new UsageError(`attach: program ${progName} was not loaded`);
    if (await interrupted()) return 0;
    // Event readers open before attaching: a perf event array's slots must hold a reader's buffer
    // before the program runs, or its samples are refused.
    const eventRequests: EventsRequest[] =
      values.events !== undefined
        ? [eventsFlag(values.events, values.type)]
        : (pipeline.definition?.events ?? []);
    readers = openEventReaders(loaded.collections, eventRequests);
    // Recording starts right before attaching: lines printed earlier (an unrelated run's, still
    // waiting in trace_pipe) are never shown. Without trace lines the pipeline still runs.
    let noTrace: string | undefined;
    try {
      trace = coll.openTrace({
        signal: stop.signal,
        all: values["all-trace"] === true,
        // Stages of other objects print their own formats: those lines are the pipeline's too.
        also: Object.values(pipeline.plan.objects),
      });
    } catch (e) {
      if (!isTsbpfError(e)) throw e;
      noTrace = `${e.message}${e.hint === undefined ? "" : ` (hint: ${e.hint})`}`;
    }
    let shownMode: string = mode;
    if (tcHook !== undefined) {
      const tcLink = await prog.attachTc({ iface, hook: tcHook, mode: tcMode, pinned: pinDir !== undefined });
      link = tcLink;
      shownMode = `tc-${tcHook}`;
      if (tcLink.method === "netlink") {
        shownMode += `, cls_bpf filter pref ${tcLink.prio} handle 0x${tcLink.handle.toString(16)}`;
      }
    } else {
      const xdp = await prog.attachXdp({ iface, mode });
      link = xdp;
      if (mode === "auto") {
        const now = xdp.attachment();
        shownMode = now.attached === "none" || now.attached === "multi" ? "auto" : now.attached;
      }
    }
    const several = Object.keys(pipeline.plan.objects).length > 1;
    const qualify = (object: string, name: string): string => (several ? `${object}:${name}` : name);
    const slots = pipeline.plan.slots.map(
      (s) => `${qualify(s.object, s.map)}[${s.key}]=${qualify(s.program.object, s.program.program)}`,
    );
    const where = netns === undefined ? "" : `netns ${netns}, `;
    io.stdout(
      `attached ${progName} to ${iface} (${where}ifindex ${link.ifindex}, ${tcHook === undefined ? "mode" : "hook"} ${shownMode}); slots: ${slots.length > 0 ? slots.join(", ") : "none"}\n`,
    );
    if (pinDir !== undefined && (await interrupted())) return 0;
    if (pinDir !== undefined) {
      // A cls_bpf filter has no link to pin: it stays on its hook once kept, and the description
      // records where it is.
      const filter = link instanceof KernelTcFilter ? link : undefined;
      if (!(link instanceof KernelTcFilter) && link.method !== "link") {
        throw new UsageError(
          "attach: --pin needs a bpf_link attachment, and this kernel attached through netlink",
        );
      }
      pinPipeline(pinDir, {
        link: link instanceof KernelTcFilter ? undefined : link,
        objects: Object.fromEntries(
          Object.entries(loaded.collections).map(([alias, c]) => [
            alias,
            {
              maps: Object.values(c.maps),
              programs: Object.values(c.programs),
              stats: statsLayoutOf(c.spec),
            },
          ]),
        ),
        description: describePipeline(pipeline, {
          iface,
          mode,
          netns,
          hook: tcHook === undefined ? "xdp" : `tc-${tcHook}`,
          ifindex: link.ifindex,
          attachedMode: shownMode,
          by: "tsbpf attach",
          stats: statsOn,
          ...(filter === undefined ? {} : { attachment: filterAttachmentOf(filter.describe()) }),
        }),
      });
      filter?.keep();
      pinned = true;
      io.stdout(
        `pinned under ${pinDir}: the pipeline keeps running after exit; 'tsbpf status --pin ${pinDir}' shows it, 'tsbpf detach --pin ${pinDir}' removes it\n`,
      );
    } else {
      io.stderr(
        "tsbpf: note: nothing is pinned, so the pipeline ends when this command exits (pass --pin DIR to keep it attached)\n",
      );
    }
    if (readers.length > 0) {
      io.stdout(`printing events of ${readers.map((r) => r.map).join(", ")}\n`);
      pumps = readers.map(async (r) => {
        try {
          for await (const rec of r) io.stdout(`${formatEvent(r.map, rec)}\n`);
        } catch (e) {
          io.stderr(
            `tsbpf: warning: events of ${r.map} stopped: ${e instanceof Error ? e.message : String(e)}\n`,
          );
        }
      });
      stop.signal.addEventListener("abort", () => {
        for (const r of readers) void r.close();
      });
      if (trace === undefined && noTrace === undefined) await untilAborted(stop.signal);
    }
    if (trace !== undefined) {
      io.stdout("printing trace lines; press Ctrl+C to stop\n");
      try {
        for await (const line of trace) io.stdout(`${formatTraceLine(line)}\n`);
      } catch (e) {
        if (stop.signal.aborted) throw e;
        noTrace = `reading them failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (noTrace !== undefined && !stop.signal.aborted) {
      io.stderr(`tsbpf: warning: trace lines are unavailable: ${noTrace}; the pipeline stays attached\n`);
      io.stdout("running without trace lines; press Ctrl+C to stop\n");
      await untilAborted(stop.signal);
    }
  } finally {
    const hasProgArray = Object.values(loaded.collections).some((c) =>
      Object.values(c.maps).some((m) => m.spec.type === MapType.prog_array),
    );
    // The collection is closed even when letting go of the link fails, so no fd outlives us.
    try {
      await trace?.close();
      for (const r of readers) {
        await r.close();
        if (r.lost > 0) io.stdout(`event ${r.map}: ${r.lost} records lost\n`);
      }
      await Promise.allSettled(pumps);
      if (pinned) link?.close();
      else if (link !== undefined && !link.closed) {
        link.detach();
        const qdisc =
          "qdiscRemoved" in link && link.qdiscRemoved ? "; removed the clsact qdisc it added" : "";
        io.stdout(
          `detached ${progName} from ${iface}${inNs}${qdisc}${hasProgArray ? "; prog arrays released" : ""}\n`,
        );
      }
      // The counts so far, before the counters go with the collection (pinned, they stay).
      if (statsOn) io.stdout(`stats:\n${formatStats(loaded.readStats()).replace(/^/gm, "  ")}\n`);
    } finally {
      loaded.close();
      // Only now: a Ctrl+C during the cleanup above finds the handler (a no-op by then), not
      // Node's default, which would end the process before a netlink attachment is removed.
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
    if (pinned) io.stdout(`left the pipeline pinned under ${pinDir}\n`);
  }
  return 0;
};

/** What `tsbpf attach` was asked, checked before anything is loaded; each mistake one usage line. */
interface AttachRequest {
  pipeline: Pipeline;
  entry: ProgramRef;
  progName: string;
  iface: string;
  mode: XdpMode;
  netns: string | undefined;
  pinDir: string | undefined;
  tcHook: TcHook | undefined;
  tcMode: TcMode;
}

/** Reads the object or pipeline file and checks the flags against it. */
async function attachRequest(values: AttachValues, positionals: string[], io: CliIo): Promise<AttachRequest> {
  if (positionals.length > 1)
    usage(`attach: one object or pipeline file expected, got ${positionals.length}`);
  if (values.type !== undefined && values.events === undefined)
    usage("attach: --type goes with --events MAP");
  const target = positionals[0];
  const fromFile = target !== undefined && isPipelineFile(target);
  if (fromFile && values.tail !== undefined) {
    usage("attach: --tail goes with an object; a pipeline file fills its slots itself");
  }
  // A pipeline file gives the entry and the attach point; flags still override them.
  const pipeline: Pipeline = fromFile
    ? await loadPipeline(target)
    : await objectPipeline(target, values.prog, values.tail ?? [], io.cwd);
  const entry = fromFile
    ? values.prog === undefined
      ? pipeline.entry()
      : pipelineProgram(pipeline, values.prog, "attach")
    : { object: MAIN_OBJECT, program: values.prog as string };
  const progName = entry.program;
  const iface = values.iface ?? pipeline.attach?.iface;
  if (iface === undefined) usage("attach: missing --iface IF (the interface to attach to)");
  const mode = (values.mode ?? pipeline.attach?.mode ?? "auto") as XdpMode;
  if (!MODES.includes(mode)) usage(`attach: --mode must be one of ${MODES.join(", ")}, not '${values.mode}'`);
  const netns = values.netns ?? pipeline.attach?.netns;
  // A typo in the namespace name is reported before anything is loaded.
  if (netns !== undefined) checkNetns(netns);
  const pinDir = values.pin === undefined ? undefined : resolve(io.cwd, values.pin);
  const progSpec = pipeline.plan.objects[entry.object]?.programs[progName];
  // A file's `hook: tc-ingress` is the same as --tc ingress; --tc overrides it.
  const fileHook = pipeline.attach?.hook;
  const tc = values.tc ?? (fileHook?.startsWith("tc-") === true ? fileHook.slice(3) : undefined);
  const tcHook = tcHookOf(tc, values.mode, progName, progSpec?.type, progSpec?.typeName);
  const tcMode = tcModeOf(values["tc-mode"] ?? pipeline.attach?.tcMode, tcHook);
  for (const w of emptySlotWarnings(pipeline.plan)) io.stderr(`${w}\n`);
  if (pinDir !== undefined) {
    // Before loading: refuses a pin directory whose pins would not outlive the command.
    const { mounted } = preparePinDir(defaultSys(), pinDir, (m) => io.stderr(`tsbpf: warning: ${m}\n`));
    if (mounted) io.stderr("tsbpf: note: no bpffs was mounted on /sys/fs/bpf; mounted one\n");
    checkPinDirFree(pinDir);
  }
  return { pipeline, entry, progName, iface, mode, netns, pinDir, tcHook, tcMode };
}

/**
 * The tc hook of `attach --tc HOOK`, or undefined for XDP; each mismatch between the flag and the
 * program's type is one usage line.
 */
function tcHookOf(
  tc: string | undefined,
  mode: string | undefined,
  progName: string,
  type: number | undefined,
  typeName: string | undefined,
): TcHook | undefined {
  if (tc !== undefined && !(TC_HOOKS as readonly string[]).includes(tc)) {
    usage(`attach: --tc must be ${TC_HOOKS.join(" or ")}, not '${tc}'`);
  }
  if (tc !== undefined && mode !== undefined) usage("attach: --mode is for XDP; --tc takes no mode");
  if (type === undefined) return tc as TcHook | undefined;
  if (type === ProgType.sched_cls) {
    if (tc === undefined) {
      throw new UsageError(
        `attach: program ${progName} is a tc (sched_cls) program: give --tc ingress or --tc egress`,
      );
    }
    return tc as TcHook;
  }
  if (type === ProgType.xdp) {
    if (tc !== undefined) {
      throw new UsageError(
        `attach: program ${progName} is an XDP program; --tc takes tc (sched_cls) programs`,
        {
          hint: "drop --tc to attach it as XDP",
        },
      );
    }
    return undefined;
  }
  throw new UsageError(
    `attach: program ${progName} is a ${typeName ?? "non-XDP"} program; attach takes XDP and tc (sched_cls) programs`,
  );
}

/** The tc attach mode of `--tc-mode`, which goes with --tc only. */
function tcModeOf(mode: string | undefined, hook: TcHook | undefined): TcMode {
  if (mode === undefined) return "auto";
  if (hook === undefined) usage("attach: --tc-mode goes with --tc HOOK (a tc program)");
  if (!(TC_MODES as readonly string[]).includes(mode)) {
    usage(`attach: --tc-mode must be one of ${TC_MODES.join(", ")}, not '${mode}'`);
  }
  return mode as TcMode;
}

/** The one-object pipeline of `attach OBJ --prog NAME --tail ...`, each mistake one usage line. */
async function objectPipeline(
  target: string | undefined,
  progName: string | undefined,
  tail: readonly string[],
  cwd: string,
): Promise<Pipeline> {
  if (progName === undefined) usage("attach: missing --prog NAME (the XDP program to attach)");
  const { spec, bytes } = await readObject(target, "attach");
  if (spec.programs[progName] === undefined) {
    throw new UsageError(`attach: no program named '${progName}'`, {
      hint: `programs in this object: ${Object.keys(spec.programs).join(", ")}`,
    });
  }
  const slots: TailSlot[] = tail.map(parseTailArg);
  checkWiring(spec, [...staticSlots(spec), ...slots]);
  return Pipeline.fromObject(spec, {
    tail: slots,
    entry: progName,
    source: { file: resolve(cwd, target as string), bytes },
  });
}
