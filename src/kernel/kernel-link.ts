/** An XDP attachment made through a kernel program, as a disposable object. */
import { NotSupportedError } from "../errors.js";
import { queryXdp, type XdpAttachment, type XdpMode } from "./netlink-xdp.js";
import { inNetns } from "./netns.js";
import { pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";
import type { XdpAttachHandle } from "./xdp-attach.js";
import { detachLink } from "./xdp-link.js";

/**
 * One program attached to one interface. `close()` (and `using`/`await using`) lets go of the
 * attachment: an unpinned link detaches, a pinned one stays attached through its pin.
 * `detach()` always detaches.
 */
export class KernelXdpLink {
  /** The program attached. */
  readonly program: string;
  readonly ifindex: number;
  /** The interface name, when attached by name. */
  readonly iface: string | undefined;
  /** The network namespace the interface is in, when it is not the caller's. */
  readonly netns: string | undefined;
  readonly method: "link" | "netlink";
  readonly mode: XdpMode;
  /** Where the link is pinned, when it is. */
  pinnedAt: string | undefined;
  readonly #sys: Sys;
  readonly #handle: XdpAttachHandle;
  #closed = false;
  #detached = false;

  constructor(sys: Sys, handle: XdpAttachHandle, program: string, iface: string | undefined, netns?: string) {
    this.#sys = sys;
    this.#handle = handle;
    this.program = program;
    this.iface = iface;
    this.netns = netns;
    this.ifindex = handle.ifindex;
    this.method = handle.method;
    this.mode = handle.mode;
  }

  /** Whether close() or detach() ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether the program was taken off the interface by this object. A pinned link that was only
   * closed is `closed` but not `detached`: its pin keeps the program attached.
   */
  get detached(): boolean {
    return this.#detached;
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

  /** Detaches the program from the interface, pinned or not, and releases the link. */
  detach(): void {
    if (this.#closed) return;
    const link = this.#handle.link;
    if (link !== undefined) {
      if (this.pinnedAt !== undefined) detachLink(this.#sys, link.value);
      link.close();
    } else {
      this.#handle.detach();
    }
    this.#detached = true;
    this.#closed = true;
  }

  /**
   * Lets go of the attachment: detaches unless the link is pinned, in which case only this
   * process's fd is closed and the pin keeps the program attached.
   */
  close(): void {
    if (this.#closed) return;
    if (this.pinnedAt !== undefined && this.#handle.link !== undefined) {
      this.#handle.link.close();
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
