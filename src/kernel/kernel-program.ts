/** A program loaded into the kernel, behind the engine-neutral {@link BpfProgram} API. */
import { ProgType, SK_BUFF_SIZE, SKB_MAX_ALLOC } from "../abi/index.js";
import type { BpfProgram, RunOptions, RunResult } from "../backend/types.js";
import { isTsbpfError, UsageError } from "../errors.js";
import type { ProgramSpec } from "../object/types.js";
import type { Fd } from "./fd.js";
import { KernelXdpLink } from "./kernel-link.js";
import { probeTcx } from "./features.js";
import { attachTcxIn, KernelTcLink, type TcHook, type TcMode } from "./tc-link.js";
import { attachTcFilterIn, type KernelTcAttachment, type KernelTcFilter } from "./tc-netlink.js";
import { markKernelObject } from "./kernel-map.js";
import { interfaceIndex, type XdpMode } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { pinObject } from "./object-ops.js";
import { getProgramInfo, type ProgramInfo } from "./object-ops.js";
import { testRun, xdpContext } from "./program-ops.js";
import type { Sys } from "./sys.js";
import { sharedTraceCapture } from "./trace-capture.js";
import { attachXdp } from "./xdp-attach.js";

/** Options of {@link KernelProgram.attachXdp}. */
export interface KernelAttachXdpOptions {
  /** Interface name (or give `ifindex`). */
  iface?: string;
  ifindex?: number;
  /** Default "auto": the driver's native mode when it has one, generic otherwise. */
  mode?: XdpMode;
  /** Default "auto": a bpf_link, or netlink where links are unsupported. */
  method?: "auto" | "link" | "netlink";
  /**
   * The network namespace of the interface: a name from `ip netns add` or a path such as
   * /proc/PID/ns/net. Default: the collection's `netns`, else the caller's namespace.
   */
  netns?: string;
}

/** Options of {@link KernelProgram.attachTc}. */
export interface KernelAttachTcOptions {
  /** Interface name (or give `ifindex`). */
  iface?: string;
  ifindex?: number;
  /** The tc hook: packets received (ingress) or sent (egress) by the interface. */
  hook: TcHook;
  /** The network namespace of the interface, as for attachXdp. */
  netns?: string;
  /**
   * "auto" (default): a tcx link where the kernel has tcx (probed once), a netlink cls_bpf
   * filter otherwise; "tcx" or "filter" to choose.
   */
  mode?: TcMode;
  /** Filter mode: the filter's priority, 1..65535 (default: after every filter on the hook). */
  prio?: number;
  /** Filter mode: the filter's handle (default 1). */
  handle?: number;
  /** Filter mode: the filter is for a pinned pipeline (named `tsbpf-pin:`, left by `detach --tc`). */
  pinned?: boolean;
}

/** What a program needs from its collection. */
export interface ProgramOwner {
  /** Whether any program of the collection may print (so runs collect trace lines). */
  readonly prints: boolean;
  /** Records a link so the collection can warn before closing what the link depends on. */
  adoptLink(link: KernelXdpLink | KernelTcAttachment): void;
  /** The network namespace attachments and test runs happen in (undefined: the caller's). */
  readonly netns: string | undefined;
}

/** A loaded program; the owning collection closes its fd. */
export class KernelProgram implements BpfProgram {
  readonly name: string;
  readonly spec: ProgramSpec;
  /** The verifier's log of the successful load, when a log level was asked for. */
  readonly verifierLog: string;
  /** Where the program is pinned, when it is. */
  pinnedAt: string | undefined;
  readonly #sys: Sys;
  readonly #fd: Fd;
  readonly #owner: ProgramOwner;

  constructor(sys: Sys, fd: Fd, spec: ProgramSpec, owner: ProgramOwner, verifierLog = "") {
    this.#sys = sys;
    this.#fd = fd;
    this.spec = spec;
    this.name = spec.name;
    this.#owner = owner;
    this.verifierLog = verifierLog;
    markKernelObject(this);
  }

  /** The program's file descriptor (throws after close). */
  get fd(): number {
    return this.#fd.value;
  }

  /** Whether the collection closed it. */
  get closed(): boolean {
    return this.#fd.closed;
  }

  /** The kernel's view of the program: id, tag, sizes. */
  info(): ProgramInfo {
    return getProgramInfo(this.#sys, this.fd);
  }

  /**
   * Runs the program once (or `repeat` times) with BPF_PROG_TEST_RUN. `trace` holds the
   * bpf_printk messages this thread's run printed, collected through a private tracefs instance
   * (see trace-capture.ts for how, and for its one caveat); it needs root, like the run itself.
   * The run happens in the collection's network namespace, where `ingressIfindex` is looked up.
   */
  async run(data: Uint8Array, opts: Partial<RunOptions> = {}): Promise<RunResult> {
    let ctxIn = opts.ctxIn;
    if (
      ctxIn === undefined &&
      this.spec.type === ProgType.xdp &&
      (opts.ingressIfindex !== undefined || opts.rxQueueIndex !== undefined)
    ) {
      ctxIn = xdpContext({
        dataLen: data.byteLength,
        ...(opts.ingressIfindex === undefined ? {} : { ingressIfindex: opts.ingressIfindex }),
        ...(opts.rxQueueIndex === undefined ? {} : { rxQueueIndex: opts.rxQueueIndex }),
      });
    }
    const isTc = this.spec.type === ProgType.sched_cls || this.spec.type === ProgType.sched_act;
    const capture = this.#owner.prints ? sharedTraceCapture() : undefined;
    capture?.discard();
    try {
      const r = inNetns(this.#sys, this.#owner.netns, () =>
        testRun(this.#sys, this.fd, {
          dataIn: data,
          ...(opts.repeat === undefined ? {} : { repeat: opts.repeat }),
          ...(ctxIn === undefined ? {} : { ctxIn }),
          // A tc program may grow the packet to SKB_MAX_ALLOC (bpf_skb_change_tail/head/adjust_room).
          ...(isTc ? { dataOutSize: Math.max(data.byteLength + 4096, SKB_MAX_ALLOC) } : {}),
          // tc runs give the context back, as the VM does (XDP's would change no caller's view).
          ...(ctxIn === undefined || this.spec.type === ProgType.xdp ? {} : { ctxOutSize: SK_BUFF_SIZE }),
        }),
      );
      const out: RunResult = {
        retval: r.retval,
        dataOut: r.dataOut,
        durationNs: r.durationNs,
        trace: capture?.drain() ?? [],
      };
      if (r.ctxOut !== undefined) out.ctxOut = r.ctxOut;
      return out;
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ program: this.name }) : e;
    }
  }

  /** Pins the program at `path` in bpffs. */
  pin(path: string): void {
    pinObject(this.#sys, this.fd, path);
    this.pinnedAt = path;
  }

  /**
   * Attaches this XDP program to an interface and returns the attachment; `await using` (or
   * `close()`) detaches it again unless it was pinned.
   */
  async attachXdp(opts: KernelAttachXdpOptions): Promise<KernelXdpLink> {
    if (this.spec.type !== ProgType.xdp) {
      throw new UsageError(`program ${this.name} is a ${this.spec.typeName} program, not XDP`);
    }
    const netns = opts.netns ?? this.#owner.netns;
    const { iface } = opts;
    const ifindex =
      opts.ifindex ??
      (iface === undefined
        ? (() => {
            throw new UsageError("attachXdp: give iface or ifindex");
          })()
        : inNetns(this.#sys, netns, () => interfaceIndex(this.#sys, iface, netns)));
    let handle: ReturnType<typeof attachXdp>;
    try {
      handle = attachXdp(this.#sys, this.fd, ifindex, {
        ...(opts.mode === undefined ? {} : { mode: opts.mode }),
        ...(opts.method === undefined ? {} : { method: opts.method }),
        ...(netns === undefined ? {} : { netns }),
      });
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ program: this.name }) : e;
    }
    const link = new KernelXdpLink(this.#sys, handle, this.name, iface, netns);
    this.#owner.adoptLink(link);
    return link;
  }

  /**
   * Attaches this sched_cls program to the tc `hook` of an interface through a tcx link (Linux
   * 6.6+), after any program other tools attached there (tcx keeps them all; nothing is replaced),
   * or as a direct-action cls_bpf filter on the clsact qdisc where the kernel has no tcx (or
   * `mode: "filter"`), never replacing another tool's filter. Both kinds of attachment detach and
   * close alike; `method` says which it is.
   */
  async attachTc(opts: KernelAttachTcOptions): Promise<KernelTcLink | KernelTcFilter> {
    if (this.spec.type !== ProgType.sched_cls) {
      throw new UsageError(`program ${this.name} is a ${this.spec.typeName} program, not tc (sched_cls)`);
    }
    if (opts.hook !== "ingress" && opts.hook !== "egress") {
      throw new UsageError(`attachTc: hook must be ingress or egress, not '${String(opts.hook)}'`);
    }
    const netns = opts.netns ?? this.#owner.netns;
    const { iface, hook } = opts;
    const ifindex =
      opts.ifindex ??
      (iface === undefined
        ? (() => {
            throw new UsageError("attachTc: give iface or ifindex");
          })()
        : inNetns(this.#sys, netns, () => interfaceIndex(this.#sys, iface, netns)));
    const mode = opts.mode ?? "auto";
    if (mode !== "auto" && mode !== "tcx" && mode !== "filter") {
      throw new UsageError(`attachTc: mode must be auto, tcx or filter, not '${String(mode)}'`);
    }
    let link: KernelTcLink | KernelTcFilter;
    try {
      if (mode === "tcx" || (mode === "auto" && probeTcx(this.#sys))) {
        const fd = attachTcxIn(this.#sys, netns, this.fd, ifindex, hook);
        link = new KernelTcLink(this.#sys, fd, { program: this.name, ifindex, hook, iface, netns });
      } else {
        link = attachTcFilterIn(this.#sys, netns, this.fd, ifindex, hook, {
          program: this.name,
          ...(iface === undefined ? {} : { iface }),
          ...(opts.prio === undefined ? {} : { prio: opts.prio }),
          ...(opts.handle === undefined ? {} : { handle: opts.handle }),
          ...(opts.pinned === true ? { pinned: true } : {}),
        });
      }
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ program: this.name }) : e;
    }
    this.#owner.adoptLink(link);
    return link;
  }

  /** Closes the fd (idempotent). The collection calls this. */
  close(): void {
    this.#fd.close();
  }
}
