/**
 * A live kernel map: the bpf() syscall's element operations under the one map front. Prog
 * arrays take programs and maps of maps take maps, both as their fds, which is what the kernel
 * wants from user space.
 */
import { MapType, OBJ_NAME_LEN } from "../abi/index.js";
import { MapFront } from "../backend/map-front.js";
import { encodeScalar } from "../backend/scalar.js";
import type { BpfMap, BpfProgram } from "../backend/types.js";
import { isTsbpfError } from "../errors.js";
import type { ByteOrder, MapSpec } from "../object/types.js";
import { objNameChars } from "./attr.js";
import type { Fd } from "./fd.js";
import { deleteElem, lookupElem, nextKey, updateElem } from "./map-ops.js";
import { pinObject } from "./object-ops.js";
import type { Sys } from "./sys.js";

/** Something that owns a kernel fd: a {@link KernelMap} or a loaded program. */
export interface HasFd {
  readonly fd: number;
}

/**
 * The kernel name of a map: at most 15 characters from `[A-Za-z0-9_.]`. Global data maps are
 * named as libbpf names them, so bpftool shows the same names as for a libbpf loader: the object
 * file's base name up to its first dot, cut to leave room for the section (`tail_cal.rodata`,
 * `globals.kconfig`), and no prefix for a section with a dot of its own (`.data.custom`,
 * `.rodata.str1.1`).
 */
export function kernelMapName(spec: MapSpec, objectName: string | undefined): string {
  const clean = (s: string): string => objNameChars(s, "_");
  const max = OBJ_NAME_LEN - 1;
  const name = spec.name;
  if (spec.origin === "global-data" && name.startsWith(".")) {
    const section = Math.min(Math.max(7, name.length), max);
    const custom = name.indexOf(".", 1) >= 0;
    const base = custom || objectName === undefined ? "" : objectStem(objectName);
    return clean(base.slice(0, OBJ_NAME_LEN - section - 1) + name.slice(0, section));
  }
  return clean(name).slice(0, max);
}

/** An object path's file name up to its first dot (`build/tail_call.bpf.o` → `tail_call`), as libbpf's object name. */
function objectStem(path: string): string {
  const file = path.slice(path.lastIndexOf("/") + 1);
  const dot = file.indexOf(".");
  return dot < 0 ? file : file.slice(0, dot);
}

/** Objects whose fd a kernel map slot may take: the kernel engine's own programs and maps. */
const kernelObjects = new WeakSet<object>();

/** Records a program or map as the kernel engine's, so its fd may go into a prog array or map of maps. */
export function markKernelObject(obj: HasFd): void {
  kernelObjects.add(obj);
}

/** A map created (or reopened from a pin) in the kernel; the owning collection closes it. */
export class KernelMap extends MapFront {
  /** The name the kernel knows the map by (15 characters at most). */
  readonly kernelName: string;
  /** Where the map is pinned, when it is. */
  pinnedAt: string | undefined;
  /** Whether it was reused from an existing pin rather than created by this collection. */
  readonly reused: boolean;
  readonly #sys: Sys;
  readonly #fd: Fd;

  constructor(
    sys: Sys,
    fd: Fd,
    spec: MapSpec,
    opts: {
      order: ByteOrder;
      possibleCpus: number | (() => number);
      kernelName: string;
      pinnedAt?: string;
      reused?: boolean;
    },
  ) {
    super(spec, { byteOrder: opts.order, possibleCpus: opts.possibleCpus });
    this.#sys = sys;
    this.#fd = fd;
    this.kernelName = opts.kernelName;
    this.pinnedAt = opts.pinnedAt;
    this.reused = opts.reused === true;
    markKernelObject(this);
  }

  /** The map's file descriptor (throws after close). */
  get fd(): number {
    return this.#fd.value;
  }

  /** Whether the collection closed it. */
  get closed(): boolean {
    return this.#fd.closed;
  }

  protected rawLookup(key: Uint8Array): Uint8Array | undefined {
    return lookupElem(this.#sys, this.fd, key, this.valueBufferSize);
  }

  protected rawUpdate(key: Uint8Array, value: Uint8Array, flags: bigint): void {
    updateElem(this.#sys, this.fd, key, value, flags);
  }

  protected rawDelete(key: Uint8Array): void {
    deleteElem(this.#sys, this.fd, key);
  }

  protected rawNextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    return nextKey(this.#sys, this.fd, key, this.spec.keySize);
  }

  /** The kernel takes a program or map into a slot by its fd (host byte order, like every attr field). */
  protected slotValue(obj: BpfProgram | BpfMap): Uint8Array | undefined {
    return kernelObjects.has(obj) ? encodeScalar((obj as unknown as HasFd).fd, 4, true, "fd") : undefined;
  }

  /** Pins the map at `path` in bpffs. */
  pin(path: string): void {
    try {
      pinObject(this.#sys, this.fd, path);
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map: this.name }) : e;
    }
    this.pinnedAt = path;
  }

  /** For prog arrays: the slots that hold a program now. */
  filledSlots(): number[] {
    if (this.spec.type !== MapType.prog_array || this.closed) return [];
    const out: number[] = [];
    for (let i = 0; i < this.spec.maxEntries; i++) if (this.get(i) !== undefined) out.push(i);
    return out;
  }

  /** Closes the fd (idempotent). The collection calls this. */
  close(): void {
    this.#fd.close();
  }
}
