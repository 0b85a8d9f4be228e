/**
 * Waiting for event data without blocking Node's event loop: an epoll set holding the fds that
 * become readable when records arrive (a ring buffer map, each CPU's perf event) and an eventfd
 * that {@link EventWaiter.wake} writes to. `epoll_wait` runs on one of koffi's worker threads
 * (an asynchronous FFI call), so the main thread keeps running while a reader waits; closing
 * wakes the wait first and frees the fds only once it has returned.
 */
import type { EventSys } from "./sys.js";

/** The epoll set and wake-up eventfd of one reader. */
export class EventWaiter {
  readonly #sys: EventSys;
  readonly #epfd: number;
  readonly #wakeFd: number;
  #pending: Promise<void> | undefined;
  #closed = false;

  constructor(sys: EventSys, fds: readonly number[]) {
    this.#sys = sys;
    this.#epfd = sys.epollCreate();
    try {
      this.#wakeFd = sys.eventfd();
    } catch (e) {
      sys.close(this.#epfd);
      throw e;
    }
    try {
      sys.epollAdd(this.#epfd, this.#wakeFd, 0xffffffff);
      for (const [i, fd] of fds.entries()) sys.epollAdd(this.#epfd, fd, i);
    } catch (e) {
      sys.close(this.#wakeFd);
      sys.close(this.#epfd);
      throw e;
    }
  }

  /** Resolves when a watched fd is readable, `timeoutMs` passed (-1: never), or {@link wake} was called. */
  wait(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#pending === undefined) {
      this.#pending = this.#sys.epollWait(this.#epfd, timeoutMs).then(
        () => {
          this.#pending = undefined;
        },
        () => {
          this.#pending = undefined;
        },
      );
    }
    return this.#pending;
  }

  /** Makes a pending wait return now. */
  wake(): void {
    if (!this.#closed) this.#sys.eventfdSignal(this.#wakeFd);
  }

  /** Frees the epoll set and the eventfd; a pending wait must have returned (the reader waits for it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sys.close(this.#wakeFd);
    this.#sys.close(this.#epfd);
  }
}
