import type { CollectionSpec, MapSpec, ProgramSpec } from "../object/types.js";

/**
 * The contract both engines implement. The VM and the kernel backend each provide maps and
 * programs with exactly these shapes, so wiring, tests and the CLI are written once.
 */

/** `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` (and `BPF_F_LOCK`). */
export const UpdateFlags = { ANY: 0n, NOEXIST: 1n, EXIST: 2n, LOCK: 4n } as const;

/** A key or value given to the friendly map API: raw bytes, or an integer encoded to the map's size. */
export type MapScalar = Uint8Array | number | bigint;

/** A live map on either engine. Raw operations take and return bytes of exactly key/value size. */
export interface BpfMap {
  readonly name: string;
  readonly spec: MapSpec;
  /** Raw lookup; `undefined` when the key is absent (ENOENT). Per-CPU maps return all CPUs' values concatenated. */
  lookup(key: Uint8Array): Uint8Array | undefined;
  /** Raw update with the kernel's flag semantics; throws MapError with the kernel's errno. */
  update(key: Uint8Array, value: Uint8Array, flags?: bigint): void;
  /** Raw delete; throws MapError(ENOENT) when absent, EINVAL for arrays. */
  delete(key: Uint8Array): void;
  /** Iterates keys in the engine's order (BPF_MAP_GET_NEXT_KEY). */
  keys(): Iterable<Uint8Array>;
  /** Friendly lookup: integer keys are encoded to key size in the object's byte order. */
  get(key: MapScalar): Uint8Array | undefined;
  /**
   * Friendly update. For a prog array the value may be a {@link BpfProgram} of the same engine:
   * this is how tail calls are wired (`progArray.set(0, coll.programs.port8080_prog)`).
   */
  set(key: MapScalar, value: MapScalar | BpfProgram, flags?: bigint): void;
  /** Friendly delete. */
  remove(key: MapScalar): void;
  /** Iterates [key, value] pairs. */
  entries(): Iterable<[Uint8Array, Uint8Array]>;
}

/** Options of a single test run. */
export interface RunOptions {
  /** Times to run the program; the duration reported is the mean. */
  repeat: number;
  /** XDP: `ingress_ifindex` seen in `struct xdp_md`. */
  ingressIfindex: number;
  /** XDP: `rx_queue_index` seen in `struct xdp_md`. */
  rxQueueIndex: number;
  /** Initial context bytes (`ctx_in`), for program types that take one. */
  ctxIn: Uint8Array | undefined;
}

/** Where `bpf_redirect` / `bpf_redirect_map` said the packet should go. */
export interface RedirectTarget {
  kind: "ifindex" | "map";
  ifindex?: number;
  map?: string;
  key?: number;
  flags: bigint;
}

/** What one program run produced. Same shape on both engines. */
export interface RunResult {
  /** The program's return value (low 32 bits of r0), e.g. an XDP action. */
  retval: number;
  /** The packet afterwards: for XDP, the bytes from `data_meta` to `data_end`. */
  dataOut: Uint8Array;
  /**
   * Mean duration of one run in nanoseconds: the program's execution only. On the VM, preparing
   * for the first run (the JS engine compiling the VM and the programs' translated code) is not
   * in it but in {@link prepareNs}.
   */
  durationNs: number;
  /** VM only: nanoseconds this run first spent preparing the collection, apart from `durationNs`. */
  prepareNs?: number;
  /** Trace messages printed by `bpf_trace_printk`/`bpf_trace_vprintk`, in order. */
  trace: string[];
  /** VM only: the redirect target recorded by the last redirect helper. */
  redirect?: RedirectTarget;
  /** VM only: the programs that ran, in order (tail calls followed). */
  chain?: string[];
  /** VM only: the fault that aborted the run. */
  fault?: Error;
}

/** A live program on either engine. */
export interface BpfProgram {
  readonly name: string;
  readonly spec: ProgramSpec;
  /** Runs the program on `data` (BPF_PROG_TEST_RUN semantics). */
  run(data: Uint8Array, opts?: Partial<RunOptions>): Promise<RunResult>;
}

/** Which engine a collection runs on. */
export type BackendName = "vm" | "kernel";

/** A loaded collection: the live maps and programs of one object. */
export interface LoadedCollection {
  readonly backend: BackendName;
  readonly spec: CollectionSpec;
  readonly maps: Record<string, BpfMap>;
  readonly programs: Record<string, BpfProgram>;
  /** Releases everything the collection holds (fds on the kernel; memory on the VM). */
  close(): void;
}
