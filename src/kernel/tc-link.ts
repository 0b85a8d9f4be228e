/**
 * tc (sched_cls) attachment through a tcx bpf_link (BPF_LINK_CREATE with BPF_TCX_INGRESS or
 * BPF_TCX_EGRESS, kernels 6.6+). tcx is multi-attach: the program is appended after whatever
 * other tools attached to the hook, never replacing them.
 */
import { AttachType, Errno } from "../abi/index.js";
import { BpfCmd } from "../abi/index.js";
import { isLoadError, NotSupportedError } from "../errors.js";
import { linkCreateAttr, progQueryAttr } from "./attr.js";
import { Fd } from "./fd.js";
import { KernelAttachment } from "./kernel-link.js";
import { inNetns } from "./netns.js";
import { getLinkInfo, pinObject } from "./object-ops.js";
import { isSysError, type Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";
import { detachLink } from "./xdp-link.js";

/** The tc hook of an interface a program runs at. */
export type TcHook = "ingress" | "egress";

/** The tc hooks, for checking user input. */
export const TC_HOOKS: readonly TcHook[] = ["ingress", "egress"];

/**
 * How a tc program is attached: a tcx link ("tcx", Linux 6.6+), a netlink cls_bpf filter on the
 * clsact qdisc ("filter", any kernel), or tcx where the kernel has it and a filter otherwise
 * ("auto", the default).
 */
export type TcMode = "auto" | "tcx" | "filter";

/** The tc attach modes, for checking user input. */
export const TC_MODES: readonly TcMode[] = ["auto", "tcx", "filter"];

/** The kernel's attach type of tc hook `hook`. */
export function tcxAttachType(hook: TcHook): number {
  return hook === "ingress" ? AttachType.tcx_ingress : AttachType.tcx_egress;
}

const TCX_UNSUPPORTED: ReadonlySet<number> = new Set([Errno.EINVAL, Errno.EOPNOTSUPP, Errno.ENOTSUPP]);

/**
 * Appends `progFd` to the tc `hook` of interface `ifindex` (looked up in the calling thread's
 * network namespace) through a tcx link, and returns the link's fd. The program stays attached
 * while the link fd (or a pin of it) lives.
 */
export function attachTcxLink(sys: Sys, progFd: number, ifindex: number, hook: TcHook): Fd {
  // Flags 0 and no relative fd/id: the program goes last, after what is attached already.
  const { attr, ptrs } = linkCreateAttr(progFd, ifindex, tcxAttachType(hook), 0);
  try {
    return new Fd(sys, sys.bpf(BpfCmd.LINK_CREATE, attr, ptrs), `tcx ${hook} link on ifindex ${ifindex}`);
  } catch (e) {
    // sys.bpf throws a SysError; a LoadError is accepted too, as from a wrapped Sys.
    const errno = isSysError(e) || isLoadError(e) ? e.errno : undefined;
    if (errno !== undefined && TCX_UNSUPPORTED.has(errno)) {
      throw new NotSupportedError(`attach tc ${hook} to ifindex ${ifindex}: this kernel has no tcx links`, {
        hint: "tcx needs Linux 6.6 or later; attach in mode 'filter' (--tc-mode filter) for a netlink cls_bpf filter",
      });
    }
    throw loadErrorFrom(e, `attach tcx ${hook} link to ifindex ${ifindex}`);
  }
}

/** A program on a tcx hook, as BPF_PROG_QUERY lists it. */
export interface TcxEntry {
  progId: number;
  /** The id of the tcx link holding it (0 for one attached without a link). */
  linkId: number;
}

/**
 * What runs on the tc `hook` of interface `ifindex` through tcx (in the calling thread's network
 * namespace), in run order: ours and other tools'. Classic cls_bpf filters are not listed.
 */
export function queryTcx(sys: Sys, ifindex: number, hook: TcHook): TcxEntry[] {
  const progIds = new Uint32Array(64);
  const linkIds = new Uint32Array(64);
  const { attr, ptrs } = progQueryAttr(ifindex, tcxAttachType(hook), progIds, linkIds);
  try {
    sys.bpf(BpfCmd.PROG_QUERY, attr, ptrs);
  } catch (e) {
    throw loadErrorFrom(e, `query tcx ${hook} of ifindex ${ifindex}`);
  }
  const out: TcxEntry[] = [];
  for (let i = 0; i < progIds.length && progIds[i] !== 0; i++) {
    out.push({ progId: progIds[i] as number, linkId: linkIds[i] as number });
  }
  return out;
}

/** What the kernel reports about a tcx link (its `bpf_link_info`). */
export interface TcAttachment {
  /** The link's id (bpftool link show). */
  linkId: number;
  /** The id of the program it runs. */
  progId: number;
  /** The interface it is attached to; 0 once detached. */
  ifindex: number;
  /** The hook, as the kernel reports it; undefined once detached. */
  hook: TcHook | undefined;
}

/** Reads a tcx link's info: its ids, interface and hook. */
export function tcLinkInfo(sys: Sys, linkFd: number): TcAttachment {
  const info = getLinkInfo(sys, linkFd);
  return {
    linkId: info.id,
    progId: info.progId,
    ifindex: info.ifindex,
    hook:
      info.attachType === AttachType.tcx_ingress
        ? "ingress"
        : info.attachType === AttachType.tcx_egress
          ? "egress"
          : undefined,
  };
}

/** What identifies a tcx attachment, JSON-safe, for status. */
export interface TcLinkDescription {
  method: "link";
  ifindex: number;
  hook: TcHook;
  linkId: number;
  progId: number;
  /** The interface's name when known. */
  iface?: string;
  /** The network namespace of the interface, when not the caller's. */
  netns?: string;
}

/**
 * One program attached to one tc hook of one interface through a tcx link. `close()` (and
 * `using`) lets go: an unpinned link detaches, a pinned one stays attached through its pin.
 * `detach()` always detaches.
 */
export class KernelTcLink extends KernelAttachment {
  readonly hook: TcHook;
  /** Always "link": tc attachments are tcx links. */
  readonly method = "link" as const;
  /** Where the link is pinned, when it is. */
  pinnedAt: string | undefined;
  readonly #sys: Sys;
  readonly #link: Fd;

  constructor(
    sys: Sys,
    link: Fd,
    at: {
      program: string;
      ifindex: number;
      hook: TcHook;
      iface: string | undefined;
      netns: string | undefined;
    },
  ) {
    super(at);
    this.#sys = sys;
    this.#link = link;
    this.hook = at.hook;
  }

  /** The link's fd. */
  get fd(): number {
    return this.#link.value;
  }

  /** What the kernel reports about the link now (ids, interface, hook). */
  attachment(): TcAttachment {
    return tcLinkInfo(this.#sys, this.#link.value);
  }

  /** What identifies the attachment (ifindex, hook, link and prog ids), for status. */
  describe(): TcLinkDescription {
    const a = this.attachment();
    return {
      method: "link",
      ifindex: this.ifindex,
      hook: this.hook,
      linkId: a.linkId,
      progId: a.progId,
      ...(this.iface === undefined ? {} : { iface: this.iface }),
      ...(this.netns === undefined ? {} : { netns: this.netns }),
    };
  }

  /** Pins the link at `path` so the program stays attached after this process exits. */
  pin(path: string): void {
    pinObject(this.#sys, this.#link.value, path);
    this.pinnedAt = path;
  }

  /** Detaches the program from the hook (BPF_LINK_DETACH first when pinned) and closes the link. */
  protected detachNow(): void {
    if (this.pinnedAt !== undefined) detachLink(this.#sys, this.#link.value);
    this.#link.close();
  }

  /** A pinned link: only this process's fd is closed, the pin keeps the program attached. */
  protected releaseIfOutliving(): boolean {
    if (this.pinnedAt === undefined) return false;
    this.#link.close();
    return true;
  }
}

/** Attaches in namespace `netns` (the caller's when undefined); see {@link attachTcxLink}. */
export function attachTcxIn(
  sys: Sys,
  netns: string | undefined,
  progFd: number,
  ifindex: number,
  hook: TcHook,
): Fd {
  return inNetns(sys, netns, () => attachTcxLink(sys, progFd, ifindex, hook));
}
