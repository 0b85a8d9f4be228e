/**
 * Ownership of kernel file descriptors. Closing an fd is not just hygiene for BPF: the kernel
 * empties every slot of a prog array when its last user reference (fd or pin) goes away, so the
 * collection must hold its fds on purpose, and a leak must be loud rather than silent.
 */
import { UsageError } from "../errors.js";
import type { Sys } from "./sys.js";

interface Leaked {
  sys: Sys;
  fd: number;
  what: string;
}

/**
 * Safety net for fds whose owner became unreachable without `close()`: the number is still ours
 * (nobody else knows it), so closing it is safe; the warning says what was lost, because for a
 * prog array it means its slots were just erased.
 */
const registry = new FinalizationRegistry<Leaked>((l) => {
  try {
    l.sys.close(l.fd);
  } catch {
    // Nothing useful to do on a GC thread turn; the warning below still tells the user.
  }
  process.emitWarning(`tsbpf: ${l.what} (fd ${l.fd}) was garbage-collected without close(); closed it now`, {
    code: "TSBPF_FD_LEAK",
  });
});

/** Owns one file descriptor. `close()` is idempotent; `using` closes it too. */
export class Fd {
  #fd: number;
  readonly #sys: Sys;
  /** What this fd refers to, for messages ("map counters", "program xdp_main"). */
  readonly what: string;

  constructor(sys: Sys, fd: number, what: string) {
    if (!Number.isInteger(fd) || fd < 0) throw new UsageError(`${what}: invalid file descriptor ${fd}`);
    this.#sys = sys;
    this.#fd = fd;
    this.what = what;
    registry.register(this, { sys, fd, what }, this);
  }

  /** The raw number; throws after `close()` so a stale number is never sent to the kernel. */
  get value(): number {
    if (this.#fd < 0) throw new UsageError(`${this.what}: file descriptor used after close()`);
    return this.#fd;
  }

  /** Whether `close()` or `release()` was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd once; later calls do nothing. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    registry.unregister(this);
    this.#sys.close(fd);
  }

  /** Gives up ownership without closing: the caller now owns the returned number. */
  release(): number {
    const fd = this.value;
    this.#fd = -1;
    registry.unregister(this);
    return fd;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return this.#fd < 0 ? `Fd(${this.what}, closed)` : `Fd(${this.what}, ${this.#fd})`;
  }
}
