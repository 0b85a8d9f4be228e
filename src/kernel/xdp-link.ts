/** XDP attachment through a bpf_link (BPF_LINK_CREATE), the preferred way on kernels 5.9+. */
import { AttachType, BpfCmd, Errno, LinkUpdateFlag } from "../abi/index.js";
import { linkCreateAttr, linkDetachAttr, linkUpdateAttr } from "./attr.js";
import { Fd } from "./fd.js";
import type { Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";

/**
 * Attaches `progFd` to interface `ifindex` with a bpf_link and returns the link's fd. The program
 * stays attached while the link fd (or a pin of it) lives. `flags` takes XdpFlag.SKB_MODE,
 * DRV_MODE or HW_MODE; 0 lets the kernel pick native mode when the driver has it.
 */
export function attachXdpLink(sys: Sys, progFd: number, ifindex: number, flags = 0): Fd {
  const { attr, ptrs } = linkCreateAttr(progFd, ifindex, AttachType.xdp, flags);
  try {
    return new Fd(sys, sys.bpf(BpfCmd.LINK_CREATE, attr, ptrs), `XDP link on ifindex ${ifindex}`);
  } catch (e) {
    throw loadErrorFrom(
      e,
      `attach XDP link to ifindex ${ifindex}`,
      {},
      {
        [Errno.EBUSY]:
          "an XDP program is already attached to this interface (perhaps through netlink, e.g. `ip link set dev X xdp`); detach it first",
      },
    );
  }
}

/**
 * Detaches a link's program while keeping the link object (BPF_LINK_DETACH); closing the last fd
 * of an unpinned link detaches too.
 */
export function detachLink(sys: Sys, linkFd: number): void {
  const { attr, ptrs } = linkDetachAttr(linkFd);
  try {
    sys.bpf(BpfCmd.LINK_DETACH, attr, ptrs);
  } catch (e) {
    throw loadErrorFrom(e, "detach link");
  }
}

/**
 * Switches the program a link runs to `newProgFd` in one atomic step (BPF_LINK_UPDATE): a packet
 * runs the old program or the new one, never neither. With `oldProgFd` the switch happens only
 * if the link still runs that program (BPF_F_REPLACE), so a concurrent change is detected (EPERM)
 * rather than overwritten.
 */
export function updateLink(sys: Sys, linkFd: number, newProgFd: number, oldProgFd?: number): void {
  const { attr, ptrs } = linkUpdateAttr(
    linkFd,
    newProgFd,
    oldProgFd === undefined ? 0 : LinkUpdateFlag.REPLACE,
    oldProgFd ?? 0,
  );
  try {
    sys.bpf(BpfCmd.LINK_UPDATE, attr, ptrs);
  } catch (e) {
    throw loadErrorFrom(
      e,
      "update link",
      {},
      {
        [Errno.EPERM]:
          "the link no longer runs the program it ran when this started: someone else changed it; nothing was switched",
        [Errno.ENOLINK]: "the link was detached (its interface gone, or tsbpf down): nothing to upgrade",
        [Errno.EINVAL]: "the new program is not of the link's type and attach type",
      },
    );
  }
}
