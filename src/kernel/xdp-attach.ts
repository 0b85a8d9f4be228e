/**
 * One entry point for attaching XDP: a bpf_link when the kernel has it, netlink otherwise (as
 * aya does). The fallback happens only when the kernel does not know XDP links, never on EBUSY,
 * so an existing program is not replaced by a second attempt through another door.
 */
import { Errno } from "../abi/index.js";
import { isLoadError } from "../errors.js";
import type { Fd } from "./fd.js";
import { attachXdpNetlink, detachXdpNetlink, type XdpMode, xdpModeFlags } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import type { Sys } from "./sys.js";
import { attachXdpLink } from "./xdp-link.js";

/** A live XDP attachment; `detach()` is idempotent and only removes this program. */
export interface XdpAttachHandle {
  readonly method: "link" | "netlink";
  readonly ifindex: number;
  readonly mode: XdpMode;
  /** The link's fd when attached through a bpf_link (pin it to outlive the process). */
  readonly link: Fd | undefined;
  detach(): void;
  [Symbol.dispose](): void;
}

/** Options of {@link attachXdp}. */
export interface AttachXdpOptions {
  mode?: XdpMode;
  /** "auto" (default) tries a link, then netlink when links are unsupported. */
  method?: "auto" | "link" | "netlink";
  /**
   * The network namespace `ifindex` belongs to (a name from `ip netns add`, or a path such as
   * /proc/PID/ns/net); the caller's when omitted. The attachment and a netlink detach happen there.
   */
  netns?: string;
}

const LINK_UNSUPPORTED: ReadonlySet<number> = new Set([Errno.EINVAL, Errno.EOPNOTSUPP, Errno.ENOTSUPP]);

/**
 * Attaches `progFd` to `ifindex`. With netlink the program fd must stay open until `detach()`,
 * which removes the program only if it is still the attached one.
 */
export function attachXdp(
  sys: Sys,
  progFd: number,
  ifindex: number,
  opts: AttachXdpOptions = {},
): XdpAttachHandle {
  const mode = opts.mode ?? "auto";
  const method = opts.method ?? "auto";
  const { netns } = opts;
  if (method !== "netlink") {
    try {
      // The kernel looks ifindex up in the calling thread's namespace. A link, once made, needs
      // no namespace to be closed or detached.
      const link = inNetns(sys, netns, () => attachXdpLink(sys, progFd, ifindex, xdpModeFlags(mode)));
      return handle("link", ifindex, mode, link, () => link.close());
    } catch (e) {
      if (method === "link" || !isLoadError(e) || e.errno === undefined || !LINK_UNSUPPORTED.has(e.errno))
        throw e;
    }
  }
  inNetns(sys, netns, () => attachXdpNetlink(sys, ifindex, progFd, { mode }));
  return handle("netlink", ifindex, mode, undefined, () =>
    inNetns(sys, netns, () => detachXdpNetlink(sys, ifindex, { mode, expectedProgFd: progFd })),
  );
}

function handle(
  method: "link" | "netlink",
  ifindex: number,
  mode: XdpMode,
  link: Fd | undefined,
  undo: () => void,
): XdpAttachHandle {
  let done = false;
  const detach = (): void => {
    if (done) return;
    undo();
    done = true;
  };
  return { method, ifindex, mode, link, detach, [Symbol.dispose]: detach };
}
