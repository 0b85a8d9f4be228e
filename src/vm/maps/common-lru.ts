import { Errno } from "../../abi/index.js";
import { MapFailure } from "./errno.js";

/**
 * The kernel's common LRU (kernel/bpf/bpf_lru_list.c) for one CPU, tracking element nodes by key.
 *
 * A node is free (on the global list or this CPU's local list), pending (taken by this CPU since
 * its last refill), active or inactive. Taking a node pops the local free list; when it is empty
 * the CPU refills it: pending nodes are flushed to the active (referenced) or inactive list, the
 * lists are rotated, up to `target_free` nodes come from the global free list, and if there are
 * not enough, the inactive list is shrunk: its oldest unreferenced elements are evicted (a
 * referenced one moves to active instead), or, when none could be, exactly one element is evicted
 * ignoring reference bits. So eviction happens in batches, and a full 8-entry map on a 2-CPU
 * machine holds 7, 8, 7, 8... elements as new keys arrive.
 *
 * Not modelled: other CPUs' local lists (nodes freed on one CPU and taken on another) and the
 * persistent rotation cursor of lists longer than `nr_scans` (128).
 */
export class CommonLru {
  #globalFree: number;
  #localFree = 0;
  readonly #target: number;
  readonly #pending = new Set<string>();
  /** Oldest first (the kernel scans its lists from the tail). Values are reference bits. */
  readonly #active = new Map<string, boolean>();
  readonly #inactive = new Map<string, boolean>();
  /** Reference bits of pending nodes. */
  readonly #pendingRef = new Map<string, boolean>();

  constructor(
    capacity: number,
    possibleCpus: number,
    /** Removes an element from the hash table (the kernel's `del_from_htab`). */
    private readonly evict: (key: string) => void,
  ) {
    this.#globalFree = capacity;
    this.#target = Math.min(NR_SCANS, Math.max(1, Math.floor(Math.floor(capacity / possibleCpus) / 2)));
  }

  /** Takes a free node (bpf_common_lru_pop_free); throws ENOMEM when there is none. */
  acquire(): void {
    if (this.#localFree === 0) this.refill();
    if (this.#localFree === 0) throw new MapFailure(Errno.ENOMEM, "no free LRU node");
    this.#localFree--;
  }

  /** The node just acquired now holds element `key`. */
  use(key: string): void {
    this.#pending.add(key);
    this.#pendingRef.set(key, false);
  }

  /** A node acquired but not used goes back to the local free list. */
  unuse(): void {
    this.#localFree++;
  }

  /** Sets the element's reference bit (a lookup from a program). */
  reference(key: string): void {
    if (this.#pending.has(key)) this.#pendingRef.set(key, true);
    else if (this.#active.has(key)) this.#active.set(key, true);
    else if (this.#inactive.has(key)) this.#inactive.set(key, true);
  }

  /** The element's node is freed (delete, replacement): pending nodes go to the local list. */
  release(key: string): void {
    if (this.#pending.delete(key)) {
      this.#pendingRef.delete(key);
      this.#localFree++;
      return;
    }
    if (this.#active.delete(key) || this.#inactive.delete(key)) this.#globalFree++;
  }

  private refill(): void {
    // __local_list_flush: pending nodes join the global lists, referenced ones as active.
    for (const key of this.#pending) {
      const list = this.#pendingRef.get(key) ? this.#active : this.#inactive;
      list.set(key, false);
    }
    this.#pending.clear();
    this.#pendingRef.clear();
    this.rotate();
    const take = Math.min(this.#target, this.#globalFree);
    this.#globalFree -= take;
    this.#localFree += take;
    if (take < this.#target) this.#localFree += this.shrink(this.#target - take);
  }

  /** __bpf_lru_list_rotate. */
  private rotate(): void {
    if (this.#inactive.size < this.#active.size) {
      let i = 0;
      for (const [key, ref] of [...this.#active]) {
        this.#active.delete(key);
        if (ref) this.#active.set(key, false);
        else this.#inactive.set(key, false);
        if (++i === NR_SCANS) break;
      }
    }
    let i = 0;
    for (const [key, ref] of [...this.#inactive]) {
      if (ref) {
        this.#inactive.delete(key);
        this.#active.set(key, false);
      }
      if (++i === NR_SCANS) break;
    }
  }

  /** __bpf_lru_list_shrink: evicts up to `n` elements into the local free list; returns how many. */
  private shrink(n: number): number {
    let done = 0;
    let i = 0;
    for (const [key, ref] of [...this.#inactive]) {
      this.#inactive.delete(key);
      if (ref) this.#active.set(key, false);
      else {
        this.evict(key);
        if (++done === n) break;
      }
      if (++i === NR_SCANS) break;
    }
    if (done > 0) return done;
    // Nothing unreferenced: evict the oldest element regardless of its bit.
    const list = this.#inactive.size > 0 ? this.#inactive : this.#active;
    const oldest = list.keys().next();
    if (oldest.done) return 0;
    list.delete(oldest.value);
    this.evict(oldest.value);
    return 1;
  }
}

/** `LOCAL_NR_SCANS` / `LOCAL_FREE_TARGET`. */
const NR_SCANS = 128;
