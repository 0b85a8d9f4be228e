/**
 * A pinned tc pipeline whose entry is a netlink cls_bpf filter rather than a tcx link (the
 * fallback for kernels without tcx, or `attach: {tc-mode: filter}`). A filter has no link to pin:
 * it stays on its hook by itself, and the description (`DIR/meta`, attachment kind `tc-filter`)
 * records where it is (ifindex, hook, priority, handle), the entry program's id it must run and
 * whether `up` created the clsact qdisc. Status reads the hook back, `down` removes exactly that
 * filter (program id checked) and the qdisc only if ours and empty, and an upgrade switches the
 * filter's program in place (tc-netlink.ts, replaceTcFilterProgram). The programs and maps are
 * pinned as for a link, so the prog arrays stay full.
 */
import { inNetns } from "./netns.js";
import type { PinnedPipelineMeta, TcFilterAttachment } from "./pipeline-meta.js";
import type { Sys } from "./sys.js";
import {
  listTcFilters,
  removeTcFilter,
  type TcFilter,
  type TcFilterDescription,
  type TcFilterRemoval,
} from "./tc-netlink.js";

/** The description {@link removeTcFilter} and replaceTcFilterProgram take, from a pipeline's. */
export function filterDescriptionOf(
  meta: Pick<PinnedPipelineMeta, "attach">,
  f: TcFilterAttachment,
  netns: string | undefined = meta.attach.netns ?? undefined,
): TcFilterDescription {
  return {
    method: "netlink",
    ifindex: f.ifindex,
    hook: f.hook,
    prio: f.prio,
    handle: f.handle,
    progId: f.progId,
    name: f.name,
    createdQdisc: f.createdQdisc,
    iface: meta.attach.iface,
    ...(netns === undefined ? {} : { netns }),
  };
}

/** The {@link TcFilterAttachment} recorded for a filter tsbpf attached. */
export function filterAttachmentOf(d: TcFilterDescription): TcFilterAttachment {
  return {
    kind: "tc-filter",
    ifindex: d.ifindex,
    hook: d.hook,
    prio: d.prio,
    handle: d.handle,
    progId: d.progId,
    name: d.name,
    createdQdisc: d.createdQdisc,
  };
}

/** One filter on a pipeline's tc hook, as status shows it. */
export interface HookFilter {
  prio: number;
  handle: number;
  /** The classifier (`bpf`, `u32`, `flower`...). */
  kind: string;
  /** cls_bpf: the program id and the filter's name. */
  progId: number | undefined;
  name: string | undefined;
  /** Whether this is the pipeline's place (its priority and handle). */
  ours: boolean;
}

/** What the pipeline's tc hook holds now, in priority order, and whether its filter runs its entry. */
export interface PipelineFilterState {
  filters: HookFilter[];
  /** The filter at the pipeline's priority and handle, when there is one. */
  at: TcFilter | undefined;
  /** Whether the filter there runs `progId`. */
  runs: boolean;
}

/**
 * Lists the filters on the hook of `f` (in `netns`, the caller's when undefined) and finds the
 * pipeline's: its priority and handle, cls_bpf in chain 0, running `progId`.
 */
export function readPipelineFilter(
  sys: Sys,
  f: TcFilterAttachment,
  progId: number,
  netns: string | undefined,
): PipelineFilterState {
  const all = inNetns(sys, netns, () => listTcFilters(sys, f.ifindex, f.hook, { all: true }));
  const isOurs = (x: TcFilter): boolean => x.chain === 0 && x.prio === f.prio && x.handle === f.handle;
  const at = all.find((x) => isOurs(x) && x.kind === "bpf");
  const filters = [...all]
    .sort((a, b) => a.prio - b.prio || a.handle - b.handle)
    .map((x) => ({
      prio: x.prio,
      handle: x.handle,
      kind: x.kind,
      progId: x.progId,
      name: x.name,
      ours: isOurs(x),
    }));
  return { filters, at, runs: at?.progId === progId };
}

/** What {@link removePipelineFilter} did. */
export interface PipelineFilterRemoval extends TcFilterRemoval {
  /** Why the filter at the pipeline's place was left there (it runs another program), if it was. */
  left?: string;
}

/**
 * Removes the pipeline's filter (only while it still runs its entry, `f.progId`) and the clsact
 * qdisc when `up` created it and nothing else is on it. A filter that runs another program now
 * (another tool replaced it) is left in place and said so: it is not the pipeline's any more, and
 * the pipeline's pins can still go.
 */
export function removePipelineFilter(
  sys: Sys,
  meta: Pick<PinnedPipelineMeta, "attach">,
  f: TcFilterAttachment,
  netns: string | undefined,
): PipelineFilterRemoval {
  const now = readPipelineFilter(sys, f, f.progId, netns);
  if (now.at !== undefined && !now.runs) {
    const where = `priority ${f.prio} handle 0x${f.handle.toString(16)} of ${meta.attach.iface} tc ${f.hook}`;
    return {
      removed: false,
      qdiscRemoved: false,
      left: `the filter at ${where} runs program id ${now.at.progId ?? "?"}, not the pipeline's (${f.progId}): another tool replaced it; left in place`,
    };
  }
  return removeTcFilter(filterDescriptionOf(meta, f, netns), sys);
}
