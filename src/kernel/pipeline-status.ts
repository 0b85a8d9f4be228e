/**
 * What a pinned pipeline is doing now (`tsbpf status`): its description from `DIR/meta`, then
 * the kernel's view through the pins: each program's id, what each prog array slot holds, the
 * link, and what the interface runs (XDP through netlink, a tc hook through BPF_PROG_QUERY), asked
 * in the interface's network namespace. Anything that
 * is not as the pipeline left it (a slot emptied, the interface gone, another program on it) is
 * a problem in the report, not an error: status only reads.
 */
import { join } from "node:path";
import { MapType } from "../abi/index.js";
import { encodeScalar } from "../backend/scalar.js";
import { isTsbpfError, UsageError } from "../errors.js";
import { lookupElem } from "./map-ops.js";
import { queryXdp, type XdpAttachment } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { getLinkInfo, getMapInfo, getPinned, getProgramInfo, progFdById } from "./object-ops.js";
import { type HookFilter, type PipelineFilterState, readPipelineFilter } from "./pipeline-filter.js";
import {
  attachmentKindOf,
  filterOf,
  type TcFilterAttachment,
  type DescribedProgram,
  hookOf,
  tcHookOf,
  type PinnedPipelineMeta,
  type PipelineHook,
  readMeta,
} from "./pipeline-meta.js";
import { queryTcx, tcLinkInfo } from "./tc-link.js";
import { LINK_PIN, META_PIN, readPinDir } from "./pipeline-pins.js";
import { defaultSys, type Sys } from "./sys.js";

/** A pinned program and its kernel id. */
export interface PinnedProgramStatus {
  object: string;
  name: string;
  id: number;
  /** The program's tag (hex), as bpftool shows it. */
  tag: string;
}

/** A program on a tcx hook: its ids, its kernel name, and whether it is the pipeline's link. */
export interface TcxProgram {
  progId: number;
  linkId: number;
  name: string | undefined;
  /** Whether this is the pipeline's own link. */
  ours: boolean;
}

/** One slot of a pinned prog array. */
export interface PinnedSlotStatus {
  key: number;
  /** The kernel id of the program in the slot. */
  programId: number;
  /** The pipeline's program with that id, when it is one of the pipeline's. */
  program: DescribedProgram | undefined;
  /** The kernel's name of the program, when it is not the pipeline's. */
  kernelName: string | undefined;
}

/** A pinned prog array and its filled slots. */
export interface PinnedProgArrayStatus {
  object: string;
  map: string;
  id: number;
  maxEntries: number;
  slots: PinnedSlotStatus[];
}

/** What {@link readPinnedPipeline} reports. */
export interface PinnedPipelineStatus {
  dir: string;
  /** The description pinned with the pipeline. */
  meta: PinnedPipelineMeta;
  /** The pinned link: its id, the program it attaches, its interface (0 once the interface is gone). */
  link: { id: number; progId: number; ifindex: number } | undefined;
  /** The interface's name now, in the pipeline's network namespace. */
  iface: string | undefined;
  /** Where the entry runs: XDP or a tc hook. */
  hook: PipelineHook;
  /** What the interface runs now (netlink), when it could be asked; XDP pipelines only. */
  xdp: XdpAttachment | undefined;
  /**
   * What the pipeline's tc hook runs now through tcx, in run order, the pipeline's link and other
   * tools' programs alike (BPF_PROG_QUERY); tc pipelines only, when it could be asked.
   */
  tcx: TcxProgram[] | undefined;
  /**
   * For a pipeline attached as a cls_bpf filter: the filter recorded, and every filter on the
   * hook now in priority order (other tools' too), when it could be asked.
   */
  filter: (TcFilterAttachment & { hookFilters: HookFilter[] }) | undefined;
  /** Whether the link's program (or the filter's) runs on the interface. */
  running: boolean;
  programs: PinnedProgramStatus[];
  progArrays: PinnedProgArrayStatus[];
  /** What is not as the pipeline left it, one sentence each. */
  problems: string[];
}

/**
 * A program's or map's name as a pipeline file writes it: `alias:name` when the pipeline has
 * several objects, the bare name when it has one.
 */
export function shownName(meta: Pick<PinnedPipelineMeta, "objects">, object: string, name: string): string {
  return Object.keys(meta.objects).length > 1 ? `${object}:${name}` : name;
}

const why = (e: unknown): string => (isTsbpfError(e) || e instanceof Error ? e.message : String(e));

/**
 * Reads the pipeline pinned under `dir`. `netns` is where to look its interface up (default: the
 * namespace it was attached in).
 */
export function readPinnedPipeline(
  dir: string,
  opts: { netns?: string } = {},
  sys: Sys = defaultSys(),
): PinnedPipelineStatus {
  const entries = readPinDir(dir);
  const problems: string[] = [];
  if (!entries.includes(META_PIN)) {
    throw new UsageError(
      `${dir} holds a pinned link but no description ('${META_PIN}'): nothing says what it runs`,
      {
        hint: `it was pinned by an older tsbpf; take it down with tsbpf down --pin ${dir}`,
      },
    );
  }
  const meta = readMeta(sys, join(dir, META_PIN));
  const withPin = <T>(path: string, fn: (fd: number) => T): T | undefined => {
    try {
      const fd = getPinned(sys, join(dir, path));
      try {
        return fn(fd.value);
      } finally {
        fd.close();
      }
    } catch (e) {
      problems.push(`cannot read the pin ${path}: ${why(e)}`);
      return undefined;
    }
  };

  const hook = hookOf(meta.attach);
  const kind = attachmentKindOf(meta.attach).kind;
  const tcFilter = filterOf(meta.attach);
  const known = tcFilter !== undefined ? hook !== "xdp" : kind === (hook === "xdp" ? "xdp-link" : "tcx");
  if (!known) {
    problems.push(`it is attached as '${kind}' at ${hook}, which this tsbpf cannot read`);
  }
  const netns = opts.netns ?? meta.attach.netns ?? undefined;
  if (tcFilter !== undefined && known) {
    // A namespace other than the pipeline's: what is missing there says where it is not, not that it is gone.
    const elsewhere = opts.netns !== undefined && opts.netns !== (meta.attach.netns ?? undefined);
    const r = readFilterStatus(sys, dir, meta, tcFilter, { netns, elsewhere }, problems);
    return { ...r, ...readPrograms(sys, meta, problems, withPin) };
  }
  let link: PinnedPipelineStatus["link"];
  if (entries.includes(LINK_PIN)) {
    link = withPin(LINK_PIN, (fd) => {
      if (hook === "xdp") {
        const i = getLinkInfo(sys, fd);
        return { id: i.id, progId: i.progId, ifindex: i.ifindex };
      }
      const i = tcLinkInfo(sys, fd);
      // A detached tcx link reports no hook; one on another hook is not this pipeline's link.
      if (i.hook !== undefined && `tc-${i.hook}` !== hook) {
        problems.push(`the pinned link is on tc-${i.hook}, not on ${hook} where the pipeline went up`);
      }
      return { id: i.linkId, progId: i.progId, ifindex: i.ifindex };
    });
  } else problems.push("no link is pinned: the pipeline is not attached (pinning was interrupted)");

  let iface: string | undefined;
  let xdp: XdpAttachment | undefined;
  let tcx: TcxProgram[] | undefined;
  if (link !== undefined && link.ifindex === 0) {
    problems.push(`the interface ${meta.attach.iface} is gone: the link no longer attaches anything`);
  } else if (link !== undefined && known) {
    const l = link;
    try {
      ({ iface, xdp, tcx } = inNetns(sys, netns, () => {
        const name = sys.ifIndexToName(l.ifindex);
        if (name === undefined) return { iface: name, xdp: undefined, tcx: undefined };
        if (hook === "xdp") return { iface: name, xdp: queryXdp(sys, l.ifindex), tcx: undefined };
        const on = queryTcx(sys, l.ifindex, tcHookOf(hook) ?? "ingress");
        return {
          iface: name,
          xdp: undefined,
          tcx: on.map((e) => ({
            progId: e.progId,
            linkId: e.linkId,
            name: kernelProgramName(sys, e.progId),
            ours: e.linkId === l.id,
          })),
        };
      }));
      const where = netns === undefined ? "" : ` in network namespace '${netns}'`;
      if (iface === undefined) problems.push(`no interface has ifindex ${l.ifindex}${where}`);
    } catch (e) {
      problems.push(`cannot ask what ${meta.attach.iface} runs: ${why(e)}`);
    }
  }
  const attachedIds =
    xdp === undefined ? [] : [xdp.progId, xdp.nativeProgId, xdp.genericProgId, xdp.offloadProgId];
  const running =
    link !== undefined &&
    link.ifindex !== 0 &&
    (hook === "xdp"
      ? attachedIds.includes(link.progId)
      : tcx?.some((e) => e.ours && e.progId === link.progId) === true);
  if (xdp !== undefined && link !== undefined && !running) {
    problems.push(
      `${iface ?? meta.attach.iface} runs another program (id ${xdp.progId}), not the pipeline's`,
    );
  }
  if (tcx !== undefined && link !== undefined && !running) {
    problems.push(
      `the ${hook} hook of ${iface ?? meta.attach.iface} does not run the pipeline's link (id ${link.id}${netns === undefined ? "" : `; looked in network namespace '${netns}'`})`,
    );
  }

  return {
    dir,
    meta,
    link,
    iface,
    hook,
    xdp,
    tcx,
    filter: undefined,
    running,
    ...readPrograms(sys, meta, problems, withPin),
    problems,
  };
}

/** Reads `fd` from pin `path` (relative to the pipeline's directory); a problem when it cannot. */
type WithPin = <T>(path: string, fn: (fd: number) => T) => T | undefined;

/** The pipeline's programs and prog arrays through their pins, each slot checked against the description. */
function readPrograms(
  sys: Sys,
  meta: PinnedPipelineMeta,
  problems: string[],
  withPin: WithPin,
): { programs: PinnedProgramStatus[]; progArrays: PinnedProgArrayStatus[] } {
  const programs: PinnedProgramStatus[] = [];
  for (const p of meta.pins.filter((x) => x.kind === "program")) {
    const info = withPin(p.path, (fd) => getProgramInfo(sys, fd));
    if (info !== undefined) programs.push({ object: p.object, name: p.name, id: info.id, tag: info.tag });
  }
  const byId = new Map(programs.map((p) => [p.id, { object: p.object, program: p.name }]));

  const progArrays: PinnedProgArrayStatus[] = [];
  for (const m of meta.pins.filter((x) => x.kind === "map")) {
    const arr = withPin(m.path, (fd) => {
      const info = getMapInfo(sys, fd);
      if (info.type !== MapType.prog_array) return undefined;
      const slots: PinnedSlotStatus[] = [];
      for (let key = 0; key < info.maxEntries; key++) {
        const v = lookupElem(sys, fd, encodeScalar(key, 4, true, "key"), 4);
        if (v === undefined) continue;
        const programId = new DataView(v.buffer, v.byteOffset).getUint32(0, true);
        const program = byId.get(programId);
        slots.push({
          key,
          programId,
          program,
          kernelName: program === undefined ? kernelProgramName(sys, programId) : undefined,
        });
      }
      return { object: m.object, map: m.name, id: info.id, maxEntries: info.maxEntries, slots };
    });
    if (arr !== undefined) progArrays.push(arr);
  }

  const q = (object: string, name: string): string => shownName(meta, object, name);
  for (const s of meta.slots) {
    const live = progArrays
      .find((a) => a.object === s.object && a.map === s.map)
      ?.slots.find((x) => x.key === s.key);
    const slot = `${q(s.object, s.map)}[${s.key}]`;
    const want = q(s.program.object, s.program.program);
    if (live === undefined) problems.push(`${slot} should hold ${want} but is empty`);
    else if (live.program === undefined || q(live.program.object, live.program.program) !== want) {
      problems.push(`${slot} should hold ${want} but holds program id ${live.programId}`);
    }
  }
  return { programs, progArrays };
}

function kernelProgramName(sys: Sys, id: number): string | undefined {
  try {
    const fd = progFdById(sys, id);
    try {
      return getProgramInfo(sys, fd.value).name;
    } finally {
      fd.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * The status of a pipeline attached as a cls_bpf filter: the filters on its hook (in priority
 * order, other tools' too) and whether the one at its priority and handle runs its entry.
 */
function readFilterStatus(
  sys: Sys,
  dir: string,
  meta: PinnedPipelineMeta,
  f: TcFilterAttachment,
  at: { netns: string | undefined; elsewhere: boolean },
  problems: string[],
): Omit<PinnedPipelineStatus, "programs" | "progArrays"> {
  const { netns, elsewhere } = at;
  const hook = hookOf(meta.attach);
  const base = { dir, meta, link: undefined, hook, xdp: undefined, tcx: undefined, problems };
  const where = netns === undefined ? "" : ` in network namespace '${netns}'`;
  const place = `priority ${f.prio} handle 0x${f.handle.toString(16)}`;
  let iface: string | undefined;
  try {
    iface = inNetns(sys, netns, () => sys.ifIndexToName(f.ifindex));
  } catch (e) {
    problems.push(`cannot ask what ${meta.attach.iface} runs: ${why(e)}`);
    return { ...base, iface, filter: undefined, running: false };
  }
  const wentUp = meta.attach.netns === null ? "the host's" : `'${meta.attach.netns}'`;
  if (iface === undefined) {
    problems.push(
      elsewhere
        ? `the pipeline is not attached in network namespace '${netns}': no interface has ifindex ${f.ifindex} there (it went up in ${wentUp})`
        : `the interface ${meta.attach.iface} is gone (no ifindex ${f.ifindex}${where}), and its filter with it`,
    );
    return { ...base, iface, filter: undefined, running: false };
  }
  let state: PipelineFilterState;
  try {
    state = readPipelineFilter(sys, f, f.progId, netns);
  } catch (e) {
    problems.push(`cannot list the filters of ${iface} tc ${f.hook}: ${why(e)}`);
    return { ...base, iface, filter: undefined, running: false };
  }
  // The entry's pin says which program the filter must run (the description too, checked alike).
  let entryId: number | undefined;
  const entryPin = meta.pins.find(
    (p) => p.object === meta.entry.object && p.kind === "program" && p.name === meta.entry.program,
  );
  if (entryPin !== undefined) {
    try {
      const fd = getPinned(sys, join(dir, entryPin.path));
      try {
        entryId = getProgramInfo(sys, fd.value).id;
      } finally {
        fd.close();
      }
    } catch {
      // Reported with the programs.
    }
  }
  const running = state.runs && (entryId === undefined || entryId === f.progId);
  if (state.at === undefined) {
    problems.push(
      elsewhere
        ? `the pipeline is not attached in network namespace '${netns}': ${iface} there has no filter at ${place} tc ${f.hook} (it went up in ${wentUp})`
        : `the pipeline's filter at ${place} of ${iface} tc ${f.hook} is gone${where}: nothing runs the entry`,
    );
  } else if (!state.runs) {
    problems.push(
      `the filter at ${place} of ${iface} tc ${f.hook} runs program id ${state.at.progId ?? "?"}, not the pipeline's entry (id ${f.progId}): it was replaced`,
    );
  } else if (!running) {
    problems.push(`the filter runs program id ${f.progId}, but the pinned entry is id ${entryId}`);
  }
  return { ...base, iface, filter: { ...f, hookFilters: state.filters }, running };
}
