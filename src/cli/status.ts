import { type PinnedPipelineStatus, shownName } from "../kernel/pipeline-status.js";
import { type PipelineStatus, pipelineStatus } from "../pipeline/deploy.js";
import { loadPipeline } from "../pipeline/pipeline.js";
import { isTsbpfError } from "../errors.js";
import type { Command } from "./args.js";
import { pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf status (PIPELINE | --pin DIR) [--json] [--netns NAME]

Shows a pipeline that 'tsbpf up' (or 'tsbpf attach --pin DIR') left running: its name and file,
when it went up, the interface and XDP mode or tc hook it runs at (for a tc hook, every program
on it in run order, or with a cls_bpf filter every filter on it in priority order, other tools' too), each program with its kernel id, and what each prog array
slot holds now (read from the kernel through the pins), with anything that is not as the
pipeline left it. Given the pipeline file, it also says whether the file still describes
what runs.

  PIPELINE       the pipeline file: its pin: directory, or /sys/fs/bpf/tsbpf/<name>
  --pin DIR      the pipeline's bpffs directory
  --json         one JSON object
  --netns NAME   look the interface up in network namespace NAME (default: where it was attached)`;

/**
 * `main_prog on veth0 (netns blue, ifindex 7), mode native` for a pipeline that runs; for a tc
 * pipeline `..., hook tc-ingress (tcx link)`.
 */
export function describeAttachment(s: PinnedPipelineStatus): string {
  const a = s.meta.attach;
  const where = [
    ...(a.netns === null ? [] : [`netns ${a.netns}`]),
    `ifindex ${s.link?.ifindex ?? a.ifindex}`,
  ];
  const f = s.filter;
  const how =
    s.hook === "xdp"
      ? `mode ${liveMode(s)}`
      : f !== undefined
        ? `hook ${s.hook} (cls_bpf filter pref ${f.prio} handle 0x${f.handle.toString(16)})`
        : `hook ${s.hook} (${a.attachment?.kind ?? "tcx"} link)`;
  return `${programName(s, s.meta.entry)} on ${s.iface ?? a.iface} (${where.join(", ")}), ${how}`;
}

/** `[0] other (id 5), [1] tc_main (id 9, this pipeline's link 12)`: what a tc hook runs, in order. */
function describeTcx(s: PinnedPipelineStatus): string {
  const on = s.tcx ?? [];
  if (on.length === 0) return "nothing";
  return on
    .map(
      (e, i) =>
        `[${i}] ${e.name ?? "?"} (id ${e.progId}${e.ours ? `, this pipeline's link ${e.linkId}` : e.linkId === 0 ? ", no link" : `, link ${e.linkId}`})`,
    )
    .join(", ");
}

/**
 * `pref 1 handle 0x1 u32, pref 2 handle 0x1 bpf tsbpf:tc_main (id 9, this pipeline's)`: the
 * filters on a tc hook, in priority order.
 */
function describeFilters(s: PinnedPipelineStatus): string {
  const on = s.filter?.hookFilters ?? [];
  if (on.length === 0) return "nothing";
  return on
    .map((x) => {
      const bpf =
        x.kind === "bpf"
          ? ` ${x.name ?? "?"} (id ${x.progId ?? "?"}${x.ours ? ", this pipeline's" : ""})`
          : "";
      return `pref ${x.prio} handle 0x${x.handle.toString(16)} ${x.kind}${bpf}`;
    })
    .join(", ");
}

/** `prog_array[0]=port8080_prog, ...`: what the prog arrays hold now. */
export function describeSlots(s: PinnedPipelineStatus): string {
  const all = s.progArrays.flatMap((a) =>
    a.slots.map((x) => `${qualified(s, a.object, a.map)}[${x.key}]=${slotProgram(s, x)}`),
  );
  return all.length > 0 ? all.join(", ") : "none";
}

/** The mode the program runs in now, or the one it went up in when the kernel cannot say. */
function liveMode(s: PinnedPipelineStatus): string {
  const m = s.xdp?.attached;
  return s.running && m !== undefined && m !== "none" && m !== "multi" ? m : s.meta.attach.attachedMode;
}

/** A name qualified by its object when the pipeline has several. */
function qualified(s: PinnedPipelineStatus, object: string, name: string): string {
  return shownName(s.meta, object, name);
}

function programName(s: PinnedPipelineStatus, p: { object: string; program: string }): string {
  return qualified(s, p.object, p.program);
}

function slotProgram(
  s: PinnedPipelineStatus,
  x: PinnedPipelineStatus["progArrays"][number]["slots"][number],
): string {
  if (x.program !== undefined) return programName(s, x.program);
  return `${x.kernelName ?? "?"} (id ${x.programId}, not the pipeline's)`;
}

/** The `--json` form. */
export function statusJson(s: PipelineStatus): Record<string, unknown> {
  const m = s.meta;
  const entry = s.programs.find((p) => p.object === m.entry.object && p.name === m.entry.program);
  return {
    name: m.name,
    file: m.file ?? null,
    by: m.by,
    pinDir: s.dir,
    upAt: m.upAt,
    running: s.running,
    current: s.current ?? null,
    hash: m.hash,
    iface: s.iface ?? m.attach.iface,
    ifindex: s.link?.ifindex ?? m.attach.ifindex,
    netns: m.attach.netns,
    hook: s.hook,
    attachment: m.attach.attachment ?? { kind: "xdp-link" },
    mode: liveMode(s),
    requestedMode: m.attach.mode,
    tcx: s.tcx ?? null,
    filters: s.filter?.hookFilters ?? null,
    link: s.link === undefined ? null : { id: s.link.id, programId: s.link.progId },
    entry: { object: m.entry.object, program: m.entry.program, id: entry?.id ?? null },
    objects: m.objects,
    programs: s.programs.map((p) => ({ object: p.object, name: p.name, id: p.id, tag: p.tag })),
    progArrays: s.progArrays.map((a) => ({
      object: a.object,
      map: a.map,
      id: a.id,
      maxEntries: a.maxEntries,
      slots: a.slots.map((x) => ({
        key: x.key,
        programId: x.programId,
        object: x.program?.object ?? null,
        program: x.program?.program ?? x.kernelName ?? null,
      })),
    })),
    byName: m.byName,
    problems: s.problems,
  };
}

/** How long ago `iso` was, roughly (`3 min ago`). */
function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return "";
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** The text form. */
export function formatStatus(s: PipelineStatus): string {
  const m = s.meta;
  const out: string[] = [];
  out.push(
    `pipeline ${m.name}: ${s.running ? "running" : "NOT RUNNING"}, up since ${m.upAt} (${ago(m.upAt)})`,
  );
  out.push(`  file:      ${m.file ?? "(none)"} (put up by ${m.by})`);
  out.push(`  pinned:    ${s.dir}`);
  out.push(`  attached:  ${describeAttachment(s)}${s.link === undefined ? "" : `, link id ${s.link.id}`}`);
  if (s.tcx !== undefined) out.push(`  ${s.hook}: ${describeTcx(s)} (in run order)`);
  if (s.filter !== undefined) out.push(`  ${s.hook}: ${describeFilters(s)} (in priority order)`);
  const same =
    s.current === undefined ? "" : s.current ? " (the file is unchanged)" : " (the file has changed since)";
  out.push(`  content:   sha256 ${m.hash.slice(0, 16)}${same}`);
  out.push("  programs:");
  const width = Math.max(
    ...s.programs.map((p) => programName(s, { object: p.object, program: p.name }).length),
    0,
  );
  for (const p of s.programs) {
    const name = programName(s, { object: p.object, program: p.name });
    const entry = p.object === m.entry.object && p.name === m.entry.program ? "  (entry)" : "";
    out.push(`    ${name.padEnd(width)}  id ${p.id}${entry}`);
  }
  for (const a of s.progArrays) {
    out.push(`  ${qualified(s, a.object, a.map)} (id ${a.id}, ${a.maxEntries} slots):`);
    if (a.slots.length === 0) out.push("    (every slot is empty)");
    for (const x of a.slots)
      out.push(`    [${x.key}] ${slotProgram(s, x)}${x.program === undefined ? "" : ` (id ${x.programId})`}`);
  }
  for (const b of m.byName)
    out.push(`  by_name:   ${b.path}${b.created ? "" : " (shared: it was there before)"}`);
  if (s.problems.length > 0) {
    out.push("  problems:");
    for (const p of s.problems) out.push(`    ${p}`);
  }
  return `${out.join("\n")}\n`;
}

/** `tsbpf status (PIPELINE | --pin DIR) [--json] [--netns NAME]`. */
export const statusCommand: Command = async (args, io) => {
  const a = pipelineArgs("status", args, io, HELP, { json: { type: "boolean" } });
  if (a === undefined) return 0;
  const { values, netns } = a;
  if (netns !== undefined) (await import("../kernel/netns.js")).checkNetns(netns);
  const { dir, file } = await a.target();
  const opts = a.netnsOption;
  let s: PipelineStatus;
  if (file === undefined) s = await pipelineStatus(dir, opts);
  else {
    // The file's objects may be gone: then status shows what runs, without comparing.
    const pipeline = await loadPipeline(file).catch((e: unknown) => {
      if (!isTsbpfError(e)) throw e;
      io.stderr(`tsbpf: note: cannot compare with ${file}: ${e.message}\n`);
      return undefined;
    });
    s = await pipelineStatus(pipeline?.pinDir === dir ? pipeline : dir, opts);
  }
  io.stdout(values.json ? `${JSON.stringify(statusJson(s), null, 2)}\n` : formatStatus(s));
  return 0;
};
