/**
 * The kernel engine: turns a {@link CollectionSpec} into live maps and programs, the way
 * libbpf's `bpf_object__load` does, on the raw bpf() syscall. BTF first (sanitised), then every
 * map (global data filled and frozen, `by_name` maps pinned or reused), then every program with
 * its map references patched and its func_info/line_info, then the object's static prog-array
 * slots. The collection owns every fd; closing it is what erases prog arrays, so it warns when
 * that would silently break a pipeline that stays attached.
 */
import { Errno, MapType, OBJ_NAME_LEN, PRINTK_HELPERS, ProgFlag, ProgType } from "../abi/index.js";
import type { LoadedCollection } from "../backend/types.js";
import type { EventReader, EventReaderOptions } from "../backend/event-reader.js";
import type { BtfValue } from "../btf/codec.js";
import { openEventReader } from "../gen/event-records.js";
import { KernelPerfSource } from "./perf-source.js";
import { KernelRingbufSource } from "./ringbuf-source.js";
import { helperCalled } from "../asm/instruction.js";
import { marshalBtf } from "../btf/marshal-btf.js";
import { FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE } from "../btf/marshal-ext.js";
import {
  isLoadError,
  isTsbpfError,
  isVerifierError,
  LoadError,
  NotSupportedError,
  type TsbpfError,
} from "../errors.js";
import { HOST_LITTLE_ENDIAN } from "../internal/bytes.js";
import type { ObjectBtf } from "../object/object-types.js";
import type { CollectionSpec, MapSpec } from "../object/types.js";
import { carriedBtfBlob, hasBtf, prepareBtf, preparedProgram, withMapFds } from "../object/prepared.js";
import { sizePerfEventArrays } from "../object/size-perf-event-arrays.js";
import { applyWiring, staticSlots } from "../tailcall/wiring.js";
import type { TraceLine } from "../trace/trace-line.js";
import { objNameChars } from "./attr.js";
import { sanitizeBtf, type SanitizeLevel } from "../btf/btf-sanitize.js";
import type { Fd } from "./fd.js";
import { hostPossibleCpus } from "../backend/possible-cpus.js";
import { encodeScalar } from "../backend/scalar.js";
import { KernelMap, kernelMapName } from "./kernel-map.js";
import type { KernelXdpLink } from "./kernel-link.js";
import type { KernelTcAttachment } from "./tc-netlink.js";
import { KernelProgram, type ProgramOwner } from "./kernel-program.js";
import { createMap, freezeMap, updateElem } from "./map-ops.js";
import { checkNetns } from "./netns.js";
import { DEFAULT_PIN_ROOT, openOrCreatePinnedMap, pinName, removePin } from "./pinning.js";
import { bindMapToProgram, loadBtf, loadProgram } from "./program-ops.js";
import { defaultEventSys, defaultSys, type EventSys, type Sys } from "./sys.js";
import { explainVerifierError } from "./verifier-message.js";
import { ownMessageFilter } from "./printk-formats.js";
import { TraceStream } from "./trace-stream.js";

/** Options of {@link loadKernelCollection}. */
export interface LoadKernelCollectionOptions {
  /** The syscall layer; the real one by default. */
  sys?: Sys;
  /** Directory for `pinning: by_name` maps (default /sys/fs/bpf). */
  pinDir?: string;
  /** Verifier log level for successful loads, kept in `program.verifierLog` (0: none). */
  logLevel?: number;
  /** Where warnings go (BTF dropped, prog arrays emptied); default `process.emitWarning`. */
  onWarning?: (message: string) => void;
  /**
   * The network namespace the collection's programs attach and run in: a name from
   * `ip netns add` (under /var/run/netns) or a path such as /proc/PID/ns/net. Interface lookup,
   * the XDP link, netlink and test runs happen there; pins stay in this process's bpffs.
   * Default: the caller's namespace. A name that does not exist fails the load (UsageError).
   */
  netns?: string;
  /** Maps taken over from these pins instead of created, by map name (type and sizes checked). */
  reuseMaps?: Readonly<Record<string, string>>;
}

/** libbpf's program name rule: 15 characters from `[A-Za-z0-9_.]`. */
export function kernelProgramName(name: string): string {
  return objNameChars(name, "_").slice(0, OBJ_NAME_LEN - 1);
}

function printsTrace(spec: CollectionSpec): boolean {
  return Object.values(spec.programs).some((p) =>
    p.instructions.some((i) => PRINTK_HELPERS.has(helperCalled(i) ?? -1)),
  );
}

/** A collection loaded into the kernel. */
export class KernelCollection implements LoadedCollection, ProgramOwner {
  readonly backend = "kernel" as const;
  readonly spec: CollectionSpec;
  readonly maps: Record<string, KernelMap> = {};
  readonly programs: Record<string, KernelProgram> = {};
  /** Warnings raised while loading (BTF dropped...), also sent to `onWarning`. */
  readonly warnings: string[] = [];
  /** What happened to the object's BTF: loaded as is, loaded after rewriting kinds, or dropped. */
  btfStatus: "none" | "loaded" | "sanitised" | "dropped" = "none";
  #prints: boolean | undefined;
  /** The network namespace programs attach and run in (undefined: the caller's). */
  readonly netns: string | undefined;
  readonly #sys: Sys;
  readonly #warn: (m: string) => void;
  readonly #links: (KernelXdpLink | KernelTcAttachment)[] = [];
  #btf: Fd | undefined;
  #closed = false;
  readonly #readers = new Set<EventReader<unknown>>();

  /** @internal Use {@link loadKernelCollection}. */
  constructor(spec: CollectionSpec, sys: Sys, warn: (m: string) => void, netns?: string) {
    this.spec = spec;
    this.#sys = sys;
    this.#warn = warn;
    this.netns = netns;
  }

  /**
   * Whether any program may print (calls bpf_printk or bpf_trace_vprintk), so that runs collect
   * trace lines. Worked out on first use: loading and attaching never need it.
   */
  get prints(): boolean {
    this.#prints ??= printsTrace(this.spec);
    return this.#prints;
  }

  /** @internal */
  setBtf(fd: Fd | undefined): void {
    this.#btf = fd;
  }

  /** @internal Records a warning and passes it on. */
  warn(message: string): void {
    this.warnings.push(message);
    this.#warn(message);
  }

  /** @internal Links made by this collection's programs, so close() can check what stays attached. */
  adoptLink(link: KernelXdpLink | KernelTcAttachment): void {
    this.#links.push(link);
  }

  /** The syscall layer this collection uses. */
  get sys(): Sys {
    return this.#sys;
  }

  /**
   * Starts recording bpf_printk lines now (see trace-stream.ts): only lines whose message matches
   * one of this collection's format strings, unless `all` is set or some format is not a
   * constant. Nothing printed before this call shows up, and other readers of trace_pipe lose
   * nothing. Open it before attaching to see every line the attached program prints. Mounts
   * tracefs when it is missing; throws a TsbpfError saying why when trace lines cannot be had.
   */
  openTrace(
    opts: { signal?: AbortSignal; all?: boolean; also?: readonly CollectionSpec[] } = {},
  ): TraceStream {
    // Lines of these objects' printk formats are ours too (the stages of a pipeline of objects).
    const filters = opts.all === true ? [] : [this.spec, ...(opts.also ?? [])].map(ownMessageFilter);
    const own = filters.length === 0 || filters.some((f) => f === undefined) ? undefined : filters;
    return TraceStream.open({
      sys: this.#sys,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(own === undefined ? {} : { accept: (l: TraceLine) => own.some((f) => f?.(l.message) === true) }),
    });
  }

  /**
   * Streams this collection's bpf_printk lines, printed from the first iteration on, until
   * `signal` aborts ({@link openTrace} on first use).
   */
  async *trace(opts: { signal?: AbortSignal; all?: boolean } = {}): AsyncIterable<TraceLine> {
    yield* this.openTrace(opts);
  }

  /**
   * Closes every fd the collection holds: unpinned links first (detaching their programs), then
   * programs, maps and BTF. Pinned objects live on through their pins. Closing a prog array's
   * last reference makes the kernel empty it; when one of our links stays attached through a pin
   * and an unpinned prog array still has filled slots, that would silently stop the tail calls,
   * so a warning says so first.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A pinned link closed earlier (e.g. `await using link` ending first) still holds the
    // program on the interface through its pin, so it counts until it is detached.
    const pinnedLinks = this.#links.filter((l) => l.pinnedAt !== undefined && !l.detached);
    if (pinnedLinks.length > 0) {
      for (const m of Object.values(this.maps)) {
        if (m.spec.type !== MapType.prog_array || m.pinnedAt !== undefined || m.closed) continue;
        let slots: number[] = [];
        try {
          slots = m.filledSlots();
        } catch {
          // Unreadable: say nothing rather than guess.
        }
        if (slots.length === 0) continue;
        const at = pinnedLinks.map((l) => `${l.program} at ${l.pinnedAt}`).join(", ");
        this.warn(
          `closing prog array ${m.name} with filled slots [${slots.join(", ")}] while pinned XDP link(s) stay attached (${at}): ` +
            `the kernel empties the array now and those tail calls silently stop. Pin the prog array too (map.pin(path)) to keep the pipeline working`,
        );
      }
    }
    const errors: unknown[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(e);
      }
    };
    // Readers first: a waiting read returns [] and each frees its mappings once its wait has returned.
    for (const r of this.#readers) void r.close();
    for (const l of this.#links) attempt(() => l.close());
    for (const p of Object.values(this.programs)) attempt(() => p.close());
    for (const m of Object.values(this.maps)) attempt(() => m.close());
    attempt(() => this.#btf?.close());
    this.#btf = undefined;
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Reads the records programs send through ring buffer or perf event array `name` (see
   * docs/events.md): raw bytes, or with `type` each record decoded as that C struct from BTF.
   * A ring buffer is read from its mmap()ed pages; a perf event array gets one perf buffer per
   * CPU (`pages` data pages each), its fds put into the map's slots. Closing the collection
   * closes its readers (a waiting read returns `[]`).
   */
  events(name: string, opts?: Partial<EventReaderOptions> & { type?: undefined }): EventReader<Uint8Array>;
  /** With `type`: records decoded as that struct (`T` annotates what it decodes to). */
  events<T = BtfValue>(name: string, opts: Partial<EventReaderOptions> & { type: string }): EventReader<T>;
  events<T>(name: string, opts: Partial<EventReaderOptions> = {}, eventSys?: EventSys): EventReader<T> {
    if (this.#closed) throw new LoadError("the collection is closed", { map: name });
    const es = eventSys ?? defaultEventSys();
    const reader = openEventReader<T>(
      this.spec,
      name,
      opts,
      (kind) => {
        const m = this.maps[name] as KernelMap;
        if (kind === "ringbuf") return new KernelRingbufSource(es, m.fd, m.spec.maxEntries);
        const cpus = Math.min(m.possibleCpus, m.spec.maxEntries);
        return new KernelPerfSource(
          es,
          { set: (cpu, fd) => m.set(cpu, fd), clear: (cpu) => m.closed || m.remove(cpu) },
          cpus,
          opts.pages ?? 64,
          name,
        );
      },
      (r) => this.#readers.delete(r as EventReader<unknown>),
      this.#readers,
    );
    this.#readers.add(reader as EventReader<unknown>);
    return reader;
  }
}

function defaultWarn(message: string): void {
  process.emitWarning(message, { code: "TSBPF_KERNEL" });
}

/** Loads the object's BTF, sanitised; warns and returns undefined when the kernel refuses it. */
function loadObjectBtf(
  sys: Sys,
  coll: KernelCollection,
  spec: CollectionSpec,
): { fd: Fd; level: SanitizeLevel } | undefined {
  let lastError: unknown;
  for (const level of ["load", "legacy"] as const) {
    try {
      // The load level is the prepared form's (carried by a skeleton, or worked out now); the
      // legacy level, for kernels that refused it, rewrites the decoded BTF further.
      const blob =
        level === "load"
          ? (carriedBtfBlob(spec) ?? (prepareBtf(spec) as Uint8Array))
          : marshalBtf(sanitizeBtf((spec.btf as ObjectBtf).btf, level).btf);
      const { fd } = loadBtf(sys, blob);
      return { fd, level };
    } catch (e) {
      // Without the privilege to load BTF nothing else will load either: say that, not "BTF".
      if (isLoadError(e) && (e.errno === Errno.EPERM || e.errno === Errno.EACCES) && !isVerifierError(e))
        throw e;
      if (!isTsbpfError(e)) throw e;
      lastError = e;
    }
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  coll.warn(
    `the kernel refused this object's BTF (${why}); loading without BTF: no source lines in verifier messages, no typed maps`,
  );
  return undefined;
}

const BTF_RETRY_ERRNOS: ReadonlySet<number> = new Set([Errno.EINVAL, Errno.ENOTSUPP, Errno.EOPNOTSUPP]);

function createOneMap(
  sys: Sys,
  spec: MapSpec,
  name: string,
  btf: { fd: Fd; level: SanitizeLevel } | undefined,
  innerMapFd: number | undefined,
): Fd {
  const base = {
    type: spec.type,
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries: spec.maxEntries,
    flags: spec.flags,
    name,
    ...(innerMapFd === undefined ? {} : { innerMapFd }),
    ...(spec.numaNode === 0 ? {} : { numaNode: spec.numaNode }),
    ...(spec.mapExtra === 0n ? {} : { mapExtra: spec.mapExtra }),
  };
  const globalData = spec.origin === "global-data";
  const typed =
    btf !== undefined &&
    spec.valueTypeId !== undefined &&
    (!globalData || btf.level === "load") &&
    (globalData || spec.keyTypeId !== undefined);
  if (typed && btf !== undefined) {
    try {
      return createMap(sys, {
        ...base,
        btfFd: btf.fd.value,
        btfKeyTypeId: globalData ? 0 : (spec.keyTypeId ?? 0),
        btfValueTypeId: spec.valueTypeId ?? 0,
      });
    } catch (e) {
      // Some map types take no BTF (libbpf retries the same way).
      if (!isLoadError(e) || e.errno === undefined || !BTF_RETRY_ERRNOS.has(e.errno)) throw e;
    }
  }
  return createMap(sys, base);
}

function createMaps(
  sys: Sys,
  spec: CollectionSpec,
  coll: KernelCollection,
  btf: { fd: Fd; level: SanitizeLevel } | undefined,
  pinDir: string,
  reuseMaps: Readonly<Record<string, string>>,
): void {
  const order = spec.byteOrder;
  for (const m of Object.values(spec.maps)) {
    const name = kernelMapName(m, spec.file);
    const makeBare = (): Fd => {
      if (m.innerMap === undefined) {
        if (m.type === MapType.array_of_maps || m.type === MapType.hash_of_maps) {
          throw new LoadError(`map ${m.name} is a map of maps without an inner map template`, {
            map: m.name,
            hint: "declare the inner map with __array(values, struct { ... })",
          });
        }
        return createOneMap(sys, m, name, btf, undefined);
      }
      const inner = createOneMap(sys, m.innerMap, kernelMapName(m.innerMap, undefined), btf, undefined);
      try {
        return createOneMap(sys, m, name, btf, inner.value);
      } finally {
        inner.close();
      }
    };
    // Global data is filled (and frozen) before the map is pinned: a pin of an empty map would
    // be reused as is by the next load, which never fills a reused map.
    const make = (): Fd => {
      const fd = makeBare();
      if (m.initialData === undefined) return fd;
      try {
        updateElem(sys, fd.value, encodeScalar(0, 4, true, "key"), m.initialData);
        if (m.readOnly) freezeMap(sys, fd.value);
      } catch (e) {
        fd.close();
        throw e;
      }
      return fd;
    };
    let fd: Fd;
    let reused = false;
    let pinnedAt: string | undefined;
    try {
      const from = reuseMaps[m.name];
      if (from !== undefined) {
        ({ fd } = openOrCreatePinnedMap(sys, m, from, () => {
          throw new LoadError(`map ${m.name}: nothing is pinned at ${from} to take over`, { map: m.name });
        }));
        reused = true;
      } else if (m.pinning === "by_name") {
        pinnedAt = `${pinDir.replace(/\/+$/, "")}/${pinName(m.name)}`;
        ({ fd, reused } = openOrCreatePinnedMap(sys, m, pinnedAt, make));
      } else fd = make();
    } catch (e) {
      throw isTsbpfError(e) ? e.withContext({ map: m.name }) : e;
    }
    const km = new KernelMap(sys, fd, m, {
      order,
      possibleCpus: hostPossibleCpus,
      kernelName: name,
      reused,
      ...(pinnedAt === undefined ? {} : { pinnedAt }),
    });
    coll.maps[m.name] = km;
  }
  // Static slots of maps of maps (`.values = { [0] = &inner }`).
  for (const m of Object.values(spec.maps)) {
    if (m.type !== MapType.array_of_maps && m.type !== MapType.hash_of_maps) continue;
    const outer = coll.maps[m.name] as KernelMap;
    if (outer.reused) continue;
    for (const s of m.contents) {
      const inner = coll.maps[s.value];
      if (inner === undefined)
        throw new LoadError(`map ${m.name}[${s.key}]: no map named ${s.value}`, { map: m.name });
      outer.set(s.key, inner);
    }
  }
}

function loadPrograms(
  sys: Sys,
  spec: CollectionSpec,
  coll: KernelCollection,
  btf: { fd: Fd; level: SanitizeLevel } | undefined,
  logLevel: number,
): void {
  const hostLittle = HOST_LITTLE_ENDIAN;
  if ((spec.byteOrder === "little") !== hostLittle) {
    throw new NotSupportedError(`the object is ${spec.byteOrder}-endian; this machine is not`, {
      ...(spec.file === undefined ? {} : { file: spec.file }),
    });
  }
  const fdOf = (map: string): number => {
    const m = coll.maps[map];
    if (m === undefined) throw new LoadError(`reference to unknown map ${map}`, { map });
    return m.fd;
  };
  // libbpf binds .rodata to every program so tools can read metadata variables through it.
  const rodata = Object.values(coll.maps).find(
    (m) => m.spec.origin === "global-data" && m.name === ".rodata",
  );
  for (const p of Object.values(spec.programs)) {
    const file = spec.file;
    if (p.autoload === false) continue;
    if (p.type === ProgType.unspec) {
      // libbpf refuses these too ("missing BPF prog type, check ELF section name").
      throw new LoadError(`program ${p.name}: section '${p.section}' names no program type`, {
        ...(file === undefined ? {} : { file }),
        section: p.section,
        program: p.name,
        hint: 'use a libbpf section name such as SEC("xdp"), SEC("tc") or SEC("tracepoint/<category>/<name>")',
      });
    }
    const prepared = preparedProgram(p, hostLittle, file);
    const insns = withMapFds(prepared, fdOf, hostLittle);
    const withBtf = btf !== undefined && btf.level === "load";
    try {
      const loaded = loadProgram(sys, {
        type: p.type,
        insns,
        license: p.license || spec.license,
        name: kernelProgramName(p.name),
        ...(p.expectedAttachType === undefined ? {} : { expectedAttachType: p.expectedAttachType }),
        ...(spec.kernelVersion === undefined ? {} : { kernVersion: spec.kernelVersion }),
        ...(p.sleepable ? { flags: ProgFlag.SLEEPABLE } : {}),
        ...(withBtf && btf !== undefined
          ? {
              btfFd: btf.fd.value,
              ...(prepared.funcInfo.byteLength > 0
                ? { funcInfo: prepared.funcInfo, funcInfoRecSize: FUNC_INFO_REC_SIZE }
                : {}),
              ...(prepared.lineInfo.byteLength > 0
                ? { lineInfo: prepared.lineInfo, lineInfoRecSize: LINE_INFO_REC_SIZE }
                : {}),
            }
          : {}),
        ...(logLevel > 0 ? { logLevel } : {}),
      });
      coll.programs[p.name] = new KernelProgram(sys, loaded.fd, p, coll, loaded.log);
      if (rodata !== undefined) bindMapToProgram(sys, loaded.fd.value, rodata.fd);
    } catch (e) {
      if (isVerifierError(e)) throw explainVerifierError(e, p, file);
      throw isTsbpfError(e)
        ? (e as TsbpfError).withContext({
            program: p.name,
            section: p.section,
            ...(file === undefined ? {} : { file }),
          })
        : e;
    }
  }
}

/**
 * Loads `spec` into the kernel and returns the live collection, with the object's static
 * prog-array slots (`.values`) filled. On any failure everything created so far is closed and
 * the typed error is thrown: {@link VerifierError} with the program, instruction and C line;
 * LoadError (with a capabilities hint for EPERM) otherwise.
 */
export async function loadKernelCollection(
  spec: CollectionSpec,
  opts: LoadKernelCollectionOptions = {},
): Promise<KernelCollection> {
  const sys = opts.sys ?? defaultSys();
  if (opts.netns !== undefined) checkNetns(opts.netns);
  // A perf event array without max_entries gets a slot per possible CPU, as libbpf sizes it.
  spec = sizePerfEventArrays(spec, hostPossibleCpus);
  const coll = new KernelCollection(spec, sys, opts.onWarning ?? defaultWarn, opts.netns);
  try {
    let btf: { fd: Fd; level: SanitizeLevel } | undefined;
    if (hasBtf(spec)) {
      btf = loadObjectBtf(sys, coll, spec);
      coll.setBtf(btf?.fd);
      coll.btfStatus = btf === undefined ? "dropped" : btf.level === "load" ? "loaded" : "sanitised";
    }
    createMaps(sys, spec, coll, btf, opts.pinDir ?? DEFAULT_PIN_ROOT, opts.reuseMaps ?? {});
    loadPrograms(sys, spec, coll, btf, opts.logLevel ?? 0);
    applyWiring(coll, staticSlots(spec));
    return coll;
  } catch (e) {
    try {
      coll.close();
    } catch {
      // The load error is the one that matters.
    }
    // As libbpf does: pins this load made go too, or the next load would reuse maps of a
    // collection that never existed. Pins that were there before stay.
    for (const m of Object.values(coll.maps)) {
      if (m.pinnedAt !== undefined && !m.reused) removePin(m.pinnedAt);
    }
    throw e;
  }
}
