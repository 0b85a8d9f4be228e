import type { ByteOrder, CollectionSpec, MapSpec, ProgramSpec } from "../object/types.js";
import type { EventReader, EventReaderOptions } from "./event-reader.js";

/**
 * The contract both engines implement. The VM and the kernel backend each provide maps and
 * programs with exactly these shapes, so wiring, tests and the CLI are written once.
 */

/** A key or value given to the friendly map API: raw bytes, or an integer encoded to the map's size. */
export type MapScalar = Uint8Array | number | bigint;

/**
 * A live map on either engine; {@link MapFront} is the one implementation of everything here
 * above the engines' raw operations. Raw operations take and return bytes of exactly the
 * user-space sizes: the key size, and {@link valueBufferSize} for values.
 */
export interface BpfMap {
  readonly name: string;
  readonly spec: MapSpec;
  /** Byte order integer keys and values are encoded in (the object's). */
  readonly byteOrder: ByteOrder;
  /**
   * CPUs a per-CPU map holds a value for. Both engines default to the host's possible CPUs
   * (`/sys/devices/system/cpu/possible`, as the kernel sizes per-CPU values); the VM can be told
   * otherwise (`vm: { possibleCpus }`).
   */
  readonly possibleCpus: number;
  /** Whether each key holds one value per possible CPU. */
  readonly perCpu: boolean;
  /** Bytes of a value in user space: `round_up(value_size, 8) * possibleCpus` for per-CPU maps. */
  readonly valueBufferSize: number;
  /** Raw lookup; `undefined` when the key is absent (ENOENT). Per-CPU maps return all CPUs' values concatenated. */
  lookup(key: Uint8Array): Uint8Array | undefined;
  /** Raw update with the kernel's flag semantics (`UpdateFlag`); throws MapError with the kernel's errno. */
  update(key: Uint8Array, value: Uint8Array, flags?: bigint): void;
  /** Raw delete; throws MapError(ENOENT) when absent, EINVAL for arrays. */
  delete(key: Uint8Array): void;
  /** BPF_MAP_GET_NEXT_KEY: the key after `key` (the first for `undefined`); `undefined` at the end. */
  nextKey(key: Uint8Array | undefined): Uint8Array | undefined;
  /** Iterates keys in the engine's order. */
  keys(): IterableIterator<Uint8Array>;
  /** Friendly lookup: integer keys are encoded to key size in the object's byte order. */
  get(key: MapScalar): Uint8Array | undefined;
  /** Per-CPU maps: each CPU's value, cut to value size; other maps: a one-element list. */
  lookupPerCpu(key: MapScalar): Uint8Array[] | undefined;
  /**
   * Friendly update. For a prog array the value may be a {@link BpfProgram} of the same engine:
   * this is how tail calls are wired (`progArray.set(0, coll.programs.port8080_prog)`); a map of
   * maps takes a {@link BpfMap}.
   */
  set(key: MapScalar, value: MapScalar | BpfProgram | BpfMap, flags?: bigint): void;
  /** Friendly delete. */
  remove(key: MapScalar): void;
  /** Iterates [key, value] pairs. */
  entries(): IterableIterator<[Uint8Array, Uint8Array]>;
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
  /** The context test_run gives back (`ctx_out`): tc runs given `ctxIn`, on both engines. */
  ctxOut?: Uint8Array;
  /** VM only: the redirect target recorded by the last redirect helper. */
  redirect?: RedirectTarget;
  /** VM only: the programs that ran, in order (tail calls followed). */
  chain?: string[];
  /** VM only: the fault that aborted the run. */
  fault?: Error;
  /**
   * VM only, with `repeat` > 1 and a fault: the runs made, the faulting one included (fewer than
   * `repeat`); `durationNs` is the mean over them.
   */
  runs?: number;
  /** VM only: the tier the run ran on ("wasm", "js" or "interpreter"; see VmProgram.tier). */
  tier?: "wasm" | "js" | "interpreter";
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
  /**
   * Reads the records programs send through ring buffer or perf event array `name`: bytes, or
   * with `type` the C struct it names (see docs/events.md). The engines' own classes type the
   * records by the options given.
   */
  events(name: string, opts?: Partial<EventReaderOptions>): EventReader<unknown>;
  /** Releases everything the collection holds (fds on the kernel; memory on the VM). */
  close(): void;
}
