/** Attachments made through a kernel program, as disposable objects: the common base and the XDP link. */
import { NotSupportedError } from "../errors.js";
import { queryXdp, type XdpAttachment, type XdpMode } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";
import type { XdpAttachHandle } from "./xdp-attach.js";
import { detachLink } from "./xdp-link.js";

/**
 * What every attachment of a program to an interface has in common (an XDP link, a tcx link, a tc
 * filter): where it is, whether it was closed or detached, and `close()`/`using` letting go of it.
 * Subclasses say how to detach and whether closing leaves the program attached (pinned or kept).
 */
export abstract class KernelAttachment {
  /** The program attached. */
  readonly program: string;
  readonly ifindex: number;
  /** The interface name, when attached by name. */
  readonly iface: string | undefined;
  /** The network namespace the interface is in, when it is not the caller's. */
  readonly netns: string | undefined;
  #closed = false;
  #detached = false;

  constructor(at: {
    program: string;
    ifindex: number;
    iface: string | undefined;
    netns: string | undefined;
  }) {
    this.program = at.program;
    this.ifindex = at.ifindex;
    this.iface = at.iface;
    this.netns = at.netns;
  }

  /** Whether close() or detach() ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether the program was taken off the interface by this object. An attachment that outlives
   * the object (a pinned link, a kept filter) and was only closed is `closed` but not `detached`.
   */
  get detached(): boolean {
    return this.#detached;
  }

  /** Takes the program off the interface, pinned or not, and releases what holds it. */
  protected abstract detachNow(): void;

  /**
   * Lets go of this object's hold without detaching when the attachment outlives it (pinned or
   * kept), and says whether it did; false means close() detaches.
   */
  protected abstract releaseIfOutliving(): boolean;

  /** Detaches the program, pinned or not, and releases the attachment. */
  detach(): void {
    if (this.#closed) return;
    this.detachNow();
    this.#detached = true;
    this.#closed = true;
  }

  /** Lets go of the attachment: detaches unless it outlives this object (pinned or kept). */
  close(): void {
    if (this.#closed) return;
    if (this.releaseIfOutliving()) {
      this.#closed = true;
      return;
    }
    this.detach();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * One program attached to one interface. `close()` (and `using`/`await using`) lets go of the
 * attachment: an unpinned link detaches, a pinned one stays attached through its pin.
 * `detach()` always detaches.
 */
export class KernelXdpLink extends KernelAttachment {
  readonly method: "link" | "netlink";
  readonly mode: XdpMode;
  /** Where the link is pinned, when it is. */
  pinnedAt: string | undefined;
  readonly #sys: Sys;
  readonly #handle: XdpAttachHandle;

  constructor(sys: Sys, handle: XdpAttachHandle, program: string, iface: string | undefined, netns?: string) {
    super({ program, ifindex: handle.ifindex, iface, netns });
    this.#sys = sys;
    this.#handle = handle;
    this.method = handle.method;
    this.mode = handle.mode;
  }

  /** The link's fd (bpf_link attachments only). */
  get fd(): number | undefined {
    return this.#handle.link?.value;
  }

  /**
   * What the kernel reports attached to the interface now (RTM_GETLINK, asked in the link's
   * network namespace): the mode the program actually runs in, and its id.
   */
  attachment(): XdpAttachment {
    return inNetns(this.#sys, this.netns, () => queryXdp(this.#sys, this.ifindex));
  }

  /**
   * Pins the link at `path` so the program stays attached after this process exits. Netlink
   * attachments have no link to pin (they stay attached until detached anyway).
   */
  pin(path: string): void {
    const link = this.#handle.link;
    if (link === undefined) {
      throw new NotSupportedError(
        `program ${this.program}: attached through netlink, which has no link to pin`,
        {
          hint: "netlink attachments already outlive the process; pin the program and remove it with `ip link set dev IF xdp off`",
        },
      );
    }
    pinObject(this.#sys, link.value, path);
    this.pinnedAt = path;
  }

  /** Detaches the program (BPF_LINK_DETACH first when pinned) and closes the link, or detaches through netlink. */
  protected detachNow(): void {
    const link = this.#handle.link;
    if (link !== undefined) {
      if (this.pinnedAt !== undefined) detachLink(this.#sys, link.value);
      link.close();
    } else {
      this.#handle.detach();
    }
  }

  /** A pinned link: only this process's fd is closed, the pin keeps the program attached. */
  protected releaseIfOutliving(): boolean {
    if (this.pinnedAt === undefined || this.#handle.link === undefined) return false;
    this.#handle.link.close();
    return true;
  }
}
