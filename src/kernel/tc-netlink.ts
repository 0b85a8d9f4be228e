/**
 * tc attachment through netlink, the fallback for kernels without tcx: a cls_bpf filter in
 * direct-action mode on the ingress or egress list of the interface's clsact qdisc. Unlike a tcx
 * link, a filter outlives the process that added it, so this module also lists the filters of a
 * hook and deletes exactly ours. Nothing another tool put there is replaced or removed: the
 * qdisc is created only when absent (NLM_F_EXCL) and removed only by whoever created it, once
 * empty; our filter goes in with NLM_F_EXCL at a priority and handle of our own, and is deleted
 * by priority and handle only while it still runs our program.
 */
import {
  ETH_P_ALL,
  Errno,
  Nlmsg,
  NlmFlag,
  Rtm,
  TCA_BPF_FLAG_ACT_DIRECT,
  Tca,
  TcaBpf,
  TcHandle,
} from "../abi/index.js";
import { isLoadError, LoadError, UsageError } from "../errors.js";
import {
  checkReply,
  concat,
  forEachAttr,
  netlinkMessage,
  netlinkRequest,
  payloadString,
  payloadU32,
  rtattr,
  stringPayload,
  u32Payload,
} from "./netlink.js";
import { KernelAttachment } from "./kernel-link.js";
import { inNetns } from "./netns.js";
import { getProgramInfo } from "./object-ops.js";
import { defaultSys, type Sys } from "./sys.js";
import type { KernelTcLink, TcHook } from "./tc-link.js";

/** The prefix of the cls_bpf name of every filter tsbpf adds (`tsbpf:PROGRAM`), so `detach --tc` finds them. */
export const TC_FILTER_NAME_PREFIX = "tsbpf:";

/**
 * The prefix of the name of a filter a pinned pipeline keeps on purpose (`tsbpf-pin:PROGRAM`):
 * not a leftover, so `detach --tc` (which removes `tsbpf:` ones) leaves it to `down`.
 */
export const TC_PINNED_FILTER_NAME_PREFIX = "tsbpf-pin:";

/**
 * The end of the name of an unpinned filter whose attach created the clsact qdisc
 * (`tsbpf:PROGRAM+clsact`): the one record of who made the qdisc that outlives an attach killed
 * with SIGKILL, so `detach --tc` removes the qdisc with the filter once nothing else is on it. A
 * pinned pipeline records it in its description instead (and an upgrade renames its filter).
 */
export const TC_MADE_CLSACT_SUFFIX = "+clsact";

/** The name prefix of a filter named `name`: pinned or not. */
export function filterNamePrefix(name: string): string {
  return name.startsWith(TC_PINNED_FILTER_NAME_PREFIX) ? TC_PINNED_FILTER_NAME_PREFIX : TC_FILTER_NAME_PREFIX;
}

/** `tcm_parent` of a clsact filter list. */
function hookParent(hook: TcHook): number {
  return hook === "ingress" ? TcHandle.INGRESS_PARENT : TcHandle.EGRESS_PARENT;
}

/** `struct tcmsg`'s fields after the family byte. */
interface TcmsgFields {
  ifindex: number;
  handle: number;
  parent: number;
  /** For filters: priority << 16 | protocol in network order. */
  info: number;
}

/** Builds an rtnetlink tc message: nlmsghdr, tcmsg (20 bytes, AF_UNSPEC), then attributes. */
export function tcMessage(
  type: number,
  flags: number,
  seq: number,
  t: TcmsgFields,
  attrs: readonly Uint8Array[],
): Uint8Array {
  const tcm = new Uint8Array(20);
  const v = new DataView(tcm.buffer);
  v.setInt32(4, t.ifindex, true);
  v.setUint32(8, t.handle >>> 0, true);
  v.setUint32(12, t.parent >>> 0, true);
  v.setUint32(16, t.info >>> 0, true);
  return netlinkMessage(type, flags, seq, tcm, attrs);
}

/** `tcm_info` of a filter: its priority in the upper 16 bits, ETH_P_ALL in network order below. */
function filterInfo(prio: number): number {
  return ((prio << 16) | (((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8))) >>> 0;
}

/** The RTM_NEWQDISC (create only: NLM_F_EXCL) or RTM_DELQDISC request of the clsact qdisc of `ifindex`. */
export function clsactMessage(type: number, seq: number, ifindex: number): Uint8Array {
  const create = type === Rtm.NEWQDISC ? NlmFlag.CREATE | NlmFlag.EXCL : 0;
  return tcMessage(
    type,
    NlmFlag.REQUEST | NlmFlag.ACK | create,
    seq,
    { ifindex, handle: TcHandle.CLSACT_HANDLE, parent: TcHandle.CLSACT_PARENT, info: 0 },
    [rtattr(Tca.KIND, stringPayload("clsact"))],
  );
}

/** Where a cls_bpf filter goes: a hook of an interface, at a priority (1..65535) and handle (non-zero). */
export interface TcFilterPlace {
  ifindex: number;
  hook: TcHook;
  prio: number;
  handle: number;
}

/**
 * The RTM_NEWTFILTER request adding `progFd` as a direct-action cls_bpf filter named `name` at
 * `at`, for every protocol, in chain 0. NLM_F_EXCL: a filter already there is never replaced.
 * With `replace`, the opposite: NLM_F_REPLACE and no NLM_F_CREATE, so only the filter already at
 * `at` is changed (to run `progFd`), and none is created when it is gone (ENOENT).
 */
export function bpfFilterMessage(
  seq: number,
  at: TcFilterPlace,
  progFd: number,
  name: string,
  replace = false,
): Uint8Array {
  const options = [
    rtattr(TcaBpf.FD, u32Payload(progFd, true)),
    rtattr(TcaBpf.NAME, stringPayload(name)),
    rtattr(TcaBpf.FLAGS, u32Payload(TCA_BPF_FLAG_ACT_DIRECT)),
  ];
  return tcMessage(
    Rtm.NEWTFILTER,
    NlmFlag.REQUEST | NlmFlag.ACK | (replace ? NlmFlag.REPLACE : NlmFlag.CREATE | NlmFlag.EXCL),
    seq,
    { ifindex: at.ifindex, handle: at.handle, parent: hookParent(at.hook), info: filterInfo(at.prio) },
    [rtattr(Tca.KIND, stringPayload("bpf")), rtattr(Tca.OPTIONS | Nlmsg.NLA_F_NESTED, concat(options))],
  );
}

/** The RTM_DELTFILTER request deleting the one cls_bpf filter at `at` (never a whole priority: handle is set). */
export function deleteFilterMessage(seq: number, at: TcFilterPlace): Uint8Array {
  return tcMessage(
    Rtm.DELTFILTER,
    NlmFlag.REQUEST | NlmFlag.ACK,
    seq,
    { ifindex: at.ifindex, handle: at.handle, parent: hookParent(at.hook), info: filterInfo(at.prio) },
    [rtattr(Tca.KIND, stringPayload("bpf"))],
  );
}

/** The RTM_GETTFILTER dump request of every filter (every chain) on a hook. */
export function dumpFiltersMessage(seq: number, ifindex: number, hook: TcHook): Uint8Array {
  return tcMessage(
    Rtm.GETTFILTER,
    NlmFlag.REQUEST | NlmFlag.DUMP,
    seq,
    { ifindex, handle: 0, parent: hookParent(hook), info: 0 },
    [],
  );
}

/** One filter on a tc hook, as the kernel lists it; the bpf fields are set for cls_bpf filters. */
export interface TcFilter {
  /** The classifier: "bpf" for cls_bpf, "u32", "flower", "matchall"... */
  kind: string;
  prio: number;
  /** The filter's handle; 0 for the entry that stands for a whole priority. */
  handle: number;
  /** The protocol matched (ETH_P_ALL = 3 for every one). */
  protocol: number;
  chain: number;
  /** cls_bpf: the id of the program the filter runs. */
  progId?: number;
  /** cls_bpf: the filter's name (`tsbpf:PROG` for ours; iproute2 writes `FILE:[SECTION]`). */
  name?: string;
  /** cls_bpf: whether the program's return value is the action (direct-action). */
  directAction?: boolean;
}

/** Parses one RTM_NEWTFILTER message of a dump. */
export function parseFilterMessage(msg: Uint8Array): TcFilter {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const info = v.getUint32(32, true);
  const f: TcFilter = {
    kind: "",
    prio: info >>> 16,
    handle: v.getUint32(24, true),
    protocol: ((info & 0xff) << 8) | ((info >> 8) & 0xff),
    chain: 0,
  };
  const options: Uint8Array[] = [];
  forEachAttr(msg.subarray(36), (type, p) => {
    if (type === Tca.KIND) f.kind = payloadString(p);
    else if (type === Tca.CHAIN) f.chain = payloadU32(p) ?? 0;
    else if (type === Tca.OPTIONS) options.push(p);
  });
  if (f.kind === "bpf") {
    for (const p of options) {
      forEachAttr(p, (type, q) => {
        if (type === TcaBpf.ID) f.progId = payloadU32(q) ?? 0;
        else if (type === TcaBpf.NAME) f.name = payloadString(q);
        else if (type === TcaBpf.FLAGS)
          f.directAction = ((payloadU32(q) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0;
      });
    }
  }
  return f;
}

/** "eth0 (ifindex 5) tc ingress", for messages. */
function where(ifindex: number, hook: TcHook | undefined, iface: string | undefined): string {
  const dev = iface === undefined ? `ifindex ${ifindex}` : `${iface} (ifindex ${ifindex})`;
  return hook === undefined ? dev : `${dev} tc ${hook}`;
}

/** Every filter entry on `hook` of `ifindex`, priority entries included (empty when there is no clsact qdisc). */
function dumpFilters(sys: Sys, ifindex: number, hook: TcHook, iface?: string): TcFilter[] {
  const op = `list the tc filters of ${where(ifindex, hook, iface)}`;
  const reply = netlinkRequest(sys, (seq) => dumpFiltersMessage(seq, ifindex, hook), op);
  checkReply(reply, op);
  return reply.messages
    .filter(
      (m) => m.byteLength >= 36 && new DataView(m.buffer, m.byteOffset).getUint16(4, true) === Rtm.NEWTFILTER,
    )
    .map(parseFilterMessage);
}

/**
 * The filters on the tc `hook` of `ifindex` (in the calling thread's network namespace), in the
 * kernel's order: cls_bpf ones only unless `all` (then u32, flower... too). Empty when the
 * interface has no clsact (or ingress) qdisc.
 */
export function listTcFilters(
  sys: Sys,
  ifindex: number,
  hook: TcHook,
  opts: { all?: boolean; iface?: string } = {},
): TcFilter[] {
  return dumpFilters(sys, ifindex, hook, opts.iface).filter(
    (f) => f.handle !== 0 && (opts.all === true || f.kind === "bpf"),
  );
}

/**
 * Creates the clsact qdisc of `ifindex` when it has none; true when this call created it, false
 * when one was there (EEXIST: never replaced, whoever made it).
 */
export function ensureClsact(sys: Sys, ifindex: number, iface?: string): boolean {
  const op = `create the clsact qdisc of ${where(ifindex, undefined, iface)}`;
  const reply = netlinkRequest(sys, (seq) => clsactMessage(Rtm.NEWQDISC, seq, ifindex), op);
  if (reply.error === Errno.EEXIST) return false;
  checkReply(reply, op, {}, { [Errno.ENODEV]: "the interface is gone" });
  return true;
}

/**
 * Removes the clsact qdisc of `ifindex` if no filter is left on either hook, whatever its kind
 * or chain; true when removed. Call it only for a qdisc this program created ({@link ensureClsact}
 * returned true). tcx programs do not hold it: they do not run through the qdisc, and since 6.6
 * the kernel keeps the hook's tcx entry, and its programs running, when the clsact that shares it
 * goes (net/sched/sch_ingress.c, clsact_destroy: the entry is freed only once inactive).
 */
export function removeClsactIfEmpty(sys: Sys, ifindex: number, iface?: string): boolean {
  for (const hook of ["ingress", "egress"] as const) {
    if (dumpFilters(sys, ifindex, hook, iface).length > 0) return false;
  }
  const op = `remove the clsact qdisc of ${where(ifindex, undefined, iface)}`;
  const reply = netlinkRequest(sys, (seq) => clsactMessage(Rtm.DELQDISC, seq, ifindex), op);
  // Gone already (with its interface, or removed by someone): nothing left to do.
  if (reply.error === Errno.ENOENT || reply.error === Errno.ENODEV) return false;
  if (reply.error === Errno.EINVAL) return false; // another qdisc kind now sits at ffff:
  checkReply(reply, op);
  return true;
}

/** Options of {@link attachTcFilter}. */
export interface TcFilterOptions {
  /**
   * The filter's priority, 1..65535 (lower runs first). Default: one more than the highest in use
   * on the hook (1 on an empty one), so it runs after what other tools attached, as tcx would.
   */
  prio?: number;
  /** The filter's handle (non-zero u32). Default 1. */
  handle?: number;
  /** The program's name, for the filter's name `tsbpf:NAME`. */
  program: string;
  /** The interface's name, for messages. */
  iface?: string;
  /** For a pinned pipeline: named `tsbpf-pin:NAME`, which `detach --tc` leaves alone. */
  pinned?: boolean;
}

/** What identifies a cls_bpf filter tsbpf added, JSON-safe, so a later process can remove it. */
export interface TcFilterDescription {
  method: "netlink";
  ifindex: number;
  hook: TcHook;
  prio: number;
  handle: number;
  /** The id of the program the filter runs: deletion checks it is still this one. */
  progId: number;
  /** The filter's name (`tsbpf:PROG`). */
  name: string;
  /** Whether the clsact qdisc was created for this filter, and so is removed with it once empty. */
  createdQdisc: boolean;
  /** The interface's name when known (for messages). */
  iface?: string;
  /** The network namespace of the interface, when not the caller's. */
  netns?: string;
}

function checkPlace(prio: number | undefined, handle: number | undefined): void {
  if (prio !== undefined && (!Number.isInteger(prio) || prio < 1 || prio > 0xffff)) {
    throw new UsageError(`tc filter priority must be an integer from 1 to 65535, not ${prio}`);
  }
  if (handle !== undefined && (!Number.isInteger(handle) || handle < 1 || handle > 0xffffffff)) {
    throw new UsageError(`tc filter handle must be an integer from 1 to 4294967295, not ${handle}`);
  }
}

/** The priority our filter takes on a hook: after every filter there, else the lowest free one. */
function freePrio(filters: readonly TcFilter[]): number {
  const used = new Set(filters.map((f) => f.prio));
  const top = Math.max(0, ...used);
  if (top < 0xffff) return top + 1;
  for (let p = 1; p <= 0xffff; p++) if (!used.has(p)) return p;
  throw new LoadError("no free tc filter priority: all 65535 are in use");
}

/**
 * Attaches `progFd` to the tc `hook` of `ifindex` (in the calling thread's network namespace)
 * as a direct-action cls_bpf filter: the clsact qdisc is created if absent, the filter added at a
 * free priority (or `opts.prio`) with NLM_F_EXCL. The filter stays until deleted, process exit
 * or not: keep the returned description to remove it ({@link removeTcFilter}).
 */
export function attachTcFilter(
  sys: Sys,
  progFd: number,
  ifindex: number,
  hook: TcHook,
  opts: TcFilterOptions,
): TcFilterDescription {
  checkPlace(opts.prio, opts.handle);
  const { iface } = opts;
  const handle = opts.handle ?? 1;
  const progId = getProgramInfo(sys, progFd).id;
  const createdQdisc = ensureClsact(sys, ifindex, iface);
  const name =
    opts.pinned === true
      ? `${TC_PINNED_FILTER_NAME_PREFIX}${opts.program}`
      : `${TC_FILTER_NAME_PREFIX}${opts.program}${createdQdisc ? TC_MADE_CLSACT_SUFFIX : ""}`;
  const op = `attach a tc ${hook} filter to ${where(ifindex, undefined, iface)}`;
  try {
    // A priority of our choosing can be taken between the listing and the add (another tsbpf at
    // the same moment): EEXIST then, and the next free one is tried.
    for (let attempt = 0; ; attempt++) {
      const prio = opts.prio ?? freePrio(dumpFilters(sys, ifindex, hook, iface));
      const at: TcFilterPlace = { ifindex, hook, prio, handle };
      const reply = netlinkRequest(sys, (seq) => bpfFilterMessage(seq, at, progFd, name), op);
      if (reply.error === Errno.EEXIST && opts.prio === undefined && attempt < 8) continue;
      checkReply(
        reply,
        `${op} at priority ${prio} handle ${handle}`,
        {},
        {
          [Errno.EEXIST]: `a filter is already at priority ${prio} handle ${handle} of this hook; it was left in place (choose another priority)`,
          [Errno.EINVAL]: `the kernel refused the filter (another classifier kind or protocol at priority ${prio}, or a qdisc other than clsact at ffff:; \`tc filter show dev ${iface ?? "IF"} ${hook}\` and \`tc qdisc show\` show what is there)`,
          [Errno.ENODEV]: "the interface is gone",
        },
      );
      return {
        method: "netlink",
        ifindex,
        hook,
        prio,
        handle,
        progId,
        name,
        createdQdisc,
        ...(iface === undefined ? {} : { iface }),
      };
    }
  } catch (e) {
    if (createdQdisc) {
      try {
        removeClsactIfEmpty(sys, ifindex, iface);
      } catch {
        // The attach error is the one to report.
      }
    }
    throw e;
  }
}

/** What {@link removeTcFilter} did. */
export interface TcFilterRemoval {
  /** Whether the filter was deleted now (false: it was gone already). */
  removed: boolean;
  /** Whether the clsact qdisc was removed too (it was ours and had nothing else on it). */
  qdiscRemoved: boolean;
}

/**
 * Deletes the filter `d` describes, in its namespace, only while it still runs program `d.progId`
 * (a LoadError otherwise, leaving it in place); then the clsact qdisc if `d.createdQdisc` and
 * nothing else is on it. A filter that is gone already (with its interface, or deleted by hand)
 * is not an error. Another process can remove what an earlier one attached, from its description.
 */
export function removeTcFilter(d: TcFilterDescription, sys: Sys = defaultSys()): TcFilterRemoval {
  checkPlace(d.prio, d.handle);
  return inNetns(sys, d.netns, () => {
    const removed = deleteOwnFilter(sys, d);
    const qdiscRemoved = d.createdQdisc ? removeClsactIfEmpty(sys, d.ifindex, d.iface) : false;
    return { removed, qdiscRemoved };
  });
}

function deleteOwnFilter(sys: Sys, d: TcFilterDescription): boolean {
  const { ifindex, hook, prio, handle, iface } = d;
  const there = dumpFilters(sys, ifindex, hook, iface).find(
    (f) => f.kind === "bpf" && f.chain === 0 && f.prio === prio && f.handle === handle,
  );
  if (there === undefined) return false;
  const op = `remove the tc filter at priority ${prio} handle ${handle} of ${where(ifindex, hook, iface)}`;
  if (there.progId !== d.progId) {
    throw new LoadError(
      `${op}: it runs program id ${there.progId ?? "?"}, not ours (${d.progId}); left in place`,
      { hint: "another tool replaced or re-added it; `tc filter show` shows it" },
    );
  }
  const reply = netlinkRequest(sys, (seq) => deleteFilterMessage(seq, { ifindex, hook, prio, handle }), op);
  if (reply.error === Errno.ENOENT || reply.error === Errno.ENODEV) return false;
  checkReply(reply, op);
  return true;
}

/**
 * Switches the filter `d` describes to run `progFd` (program `name`; the filter keeps its name's
 * prefix), in its namespace, in one
 * step: RTM_NEWTFILTER with NLM_F_REPLACE for the same priority and handle. cls_bpf builds the
 * new filter entry beside the old one and swaps them with list_replace_rcu, freeing the old one
 * only after an RCU grace period (net/sched/cls_bpf.c, cls_bpf_change), so every packet runs the
 * old program or the new one, and none finds the hook empty. Refused (a LoadError, nothing
 * changed) when the filter is gone or no longer runs `d.progId`; netlink has no compare-and-swap,
 * so a change by another tool between this check and the replace is not detected. Returns the
 * new description (the new program's id and name).
 */
export function replaceTcFilterProgram(
  d: TcFilterDescription,
  progFd: number,
  name: string,
  sys: Sys = defaultSys(),
): TcFilterDescription {
  checkPlace(d.prio, d.handle);
  const { ifindex, hook, prio, handle, iface } = d;
  const progId = getProgramInfo(sys, progFd).id;
  const filterName = `${filterNamePrefix(d.name)}${name}`;
  inNetns(sys, d.netns, () => {
    const op = `switch the tc filter at priority ${prio} handle ${handle} of ${where(ifindex, hook, iface)} to program id ${progId}`;
    const there = dumpFilters(sys, ifindex, hook, iface).find(
      (f) => f.kind === "bpf" && f.chain === 0 && f.prio === prio && f.handle === handle,
    );
    if (there === undefined) {
      throw new LoadError(`${op}: the filter is gone; nothing was switched`, {
        hint: "someone deleted it (or its clsact qdisc); `tc filter show` shows what is there",
      });
    }
    if (there.progId !== d.progId) {
      throw new LoadError(
        `${op}: it runs program id ${there.progId ?? "?"}, not ours (${d.progId}); nothing was switched`,
        { hint: "another tool replaced it; `tc filter show` shows it" },
      );
    }
    const at: TcFilterPlace = { ifindex, hook, prio, handle };
    const reply = netlinkRequest(sys, (seq) => bpfFilterMessage(seq, at, progFd, filterName, true), op);
    checkReply(reply, op, {}, { [Errno.ENOENT]: "the filter was deleted meanwhile; nothing was switched" });
  });
  return { ...d, progId, name: filterName };
}

/**
 * One program attached to one tc hook of one interface as a netlink cls_bpf filter, with the
 * same surface as a tcx {@link KernelTcLink}: `close()` (and `using`) and `detach()` delete the
 * filter (and the clsact qdisc when it was created for it and is empty) unless {@link keep} was
 * called. A filter does not go with the process: a foreground attach must close it on exit.
 */
export class KernelTcFilter extends KernelAttachment {
  readonly hook: TcHook;
  /** Always "netlink": a cls_bpf filter added through rtnetlink. */
  readonly method = "netlink" as const;
  /** Never set: a filter has no link to pin ({@link keep} leaves it attached instead). */
  readonly pinnedAt: string | undefined = undefined;
  readonly #sys: Sys;
  readonly #desc: TcFilterDescription;
  #kept = false;

  constructor(sys: Sys, desc: TcFilterDescription, program: string) {
    super({ program, ifindex: desc.ifindex, iface: desc.iface, netns: desc.netns });
    this.#sys = sys;
    this.#desc = desc;
    this.hook = desc.hook;
  }

  /** The filter's priority on the hook. */
  get prio(): number {
    return this.#desc.prio;
  }

  /** The filter's handle. */
  get handle(): number {
    return this.#desc.handle;
  }

  /** Whether the clsact qdisc was removed when the filter was (it was created for it and left empty). */
  qdiscRemoved = false;

  /** What identifies the filter (ifindex, hook, prio, handle, prog id...), for status and later removal. */
  describe(): TcFilterDescription {
    return { ...this.#desc };
  }

  /** Leaves the filter attached when this object is closed (remove it later from {@link describe}). */
  keep(): void {
    this.#kept = true;
  }

  /** Deletes the filter (only while it runs our program), and the clsact qdisc if ours and empty. */
  protected detachNow(): void {
    try {
      this.qdiscRemoved = removeTcFilter(this.#desc, this.#sys).qdiscRemoved;
    } catch (e) {
      throw isLoadError(e) ? e.withContext({ program: this.program }) : e;
    }
  }

  /** A kept filter stays attached: closing lets go of nothing else. */
  protected releaseIfOutliving(): boolean {
    return this.#kept;
  }
}

/** A program on a tc hook, through a tcx link or a netlink cls_bpf filter; callers need not care which. */
export type KernelTcAttachment = KernelTcLink | KernelTcFilter;

/** Attaches in namespace `netns` (the caller's when undefined) and wraps the filter; see {@link attachTcFilter}. */
export function attachTcFilterIn(
  sys: Sys,
  netns: string | undefined,
  progFd: number,
  ifindex: number,
  hook: TcHook,
  opts: TcFilterOptions,
): KernelTcFilter {
  const desc = inNetns(sys, netns, () => attachTcFilter(sys, progFd, ifindex, hook, opts));
  return new KernelTcFilter(sys, netns === undefined ? desc : { ...desc, netns }, opts.program);
}

/** What {@link removeTsbpfFilters} did. */
export interface TsbpfFiltersRemoval {
  /** The filters deleted. */
  removed: TcFilter[];
  /** Whether the clsact qdisc went too: one of them had made it, and nothing else is on it now. */
  qdiscRemoved: boolean;
}

/**
 * Deletes every cls_bpf filter tsbpf added (named `tsbpf:...`, chain 0) on the tc `hook` of
 * `ifindex`, in the calling thread's network namespace: what `tsbpf detach --tc` removes, such as
 * the filter of an attach that was killed with SIGKILL. Other filters are left alone. The clsact
 * qdisc goes too when one of the filters deleted had made it (its name ends in
 * {@link TC_MADE_CLSACT_SUFFIX}) and nothing else is left on either hook; a qdisc that was there
 * before stays.
 */
export function removeTsbpfFilters(
  sys: Sys,
  ifindex: number,
  hook: TcHook,
  iface?: string,
): TsbpfFiltersRemoval {
  const ours = listTcFilters(sys, ifindex, hook, iface === undefined ? {} : { iface }).filter(
    (f) => f.chain === 0 && f.name?.startsWith(TC_FILTER_NAME_PREFIX) === true,
  );
  const removed = ours.filter((f) =>
    deleteOwnFilter(sys, {
      method: "netlink",
      ifindex,
      hook,
      prio: f.prio,
      handle: f.handle,
      progId: f.progId ?? 0,
      name: f.name ?? "",
      createdQdisc: false,
      ...(iface === undefined ? {} : { iface }),
    }),
  );
  const madeQdisc = removed.some((f) => f.name?.endsWith(TC_MADE_CLSACT_SUFFIX) === true);
  return { removed, qdiscRemoved: madeQdisc && removeClsactIfEmpty(sys, ifindex, iface) };
}
