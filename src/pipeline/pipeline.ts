/**
 * A pipeline as one thing: its objects, entry, slots and attach point, from a pipeline file or
 * from one object with `--tail` slots. It resolves every name the file gives against the
 * objects, and loads the whole pipeline on either engine with every slot filled.
 */
import { mergeStats, readStats, type StatsReport } from "../stats/read-stats.js";
import { basename, dirname, resolve } from "node:path";
import { MapType } from "../abi/index.js";
import type { BackendName, BpfProgram, RunOptions, RunResult } from "../backend/types.js";
import { rewriteGlobals } from "../backend/typed-map.js";
import type { BtfValue } from "../btf/codec.js";
import { Collection, type CollectionFor, type CollectionOptions } from "../collection.js";
import { isTsbpfError, LoadError, PipelineError, UsageError } from "../errors.js";
import { loadCollectionSpec } from "../object/load-collection-spec.js";
import type { CollectionSpec } from "../object/types.js";
import { eventRecordDecoder } from "../gen/event-records.js";
import { checkPlan } from "../tailcall/check-plan.js";
import {
  type CheckReport,
  MAIN_OBJECT,
  type PipelineGraph,
  type PipelinePlan,
  type PlanSlot,
  planFromObject,
  type ProgramRef,
} from "../tailcall/plan.js";
import type { TailSlot } from "../tailcall/wiring.js";
import type { PipelineAttach, PipelineDefinition, QualifiedName } from "./definition.js";
import { readFailure, readFileAsync, sha256Hex } from "./files.js";

/** Where `up` pins a pipeline when the file names no `pin:` directory. */
export const PIPELINE_PIN_ROOT = "/sys/fs/bpf/tsbpf";

/** Where an object of a pipeline came from: its file and the SHA-256 of its bytes (what `up` compares). */
export interface ObjectSource {
  /** The object file, absolute. */
  file: string;
  /** SHA-256 of the file's bytes, hex. */
  sha256: string;
}

/**
 * The {@link ObjectSource} of `bytes` read from `file`, hashed when first asked: only `up` and
 * `attach --pin` compare contents, and hashing (with loading node:crypto) would cost every
 * other command's start-up.
 */
function lazySource(file: string, bytes: Uint8Array): ObjectSource {
  let sha256: string | undefined;
  return {
    file,
    get sha256(): string {
      sha256 ??= sha256Hex(bytes);
      return sha256;
    },
  };
}

/** The bpffs directory a pipeline file pins under: its `pin:`, or one named after the pipeline. */
export function pinDirOf(def: Pick<PipelineDefinition, "name" | "pin">): string {
  return def.pin ?? `${PIPELINE_PIN_ROOT}/${def.name}`;
}

/** Options of {@link loadPipeline}. */
export interface LoadPipelineOptions {
  /**
   * `true`: a program name that resolves to nothing stays in the plan (as `object:name`) for
   * `check` to report as `missing-program`; `false` (the default): it is a {@link PipelineError}.
   */
  keepMissing: boolean;
}

/** A pipeline ready to check, draw and load. */
export class Pipeline {
  /** The pipeline file it was read from; `undefined` for one made from an object. */
  readonly file: string | undefined;
  /** The validated file; `undefined` for one made from an object. */
  readonly definition: PipelineDefinition | undefined;
  /** Objects, entries and slots, names resolved. */
  readonly plan: PipelinePlan;
  /** Where each object (by alias) was read from, when known. */
  readonly sources: Readonly<Record<string, ObjectSource>>;

  constructor(
    plan: PipelinePlan,
    file?: string,
    definition?: PipelineDefinition,
    sources: Record<string, ObjectSource> = {},
  ) {
    this.plan = plan;
    this.file = file;
    this.definition = definition;
    this.sources = sources;
  }

  /**
   * A one-object pipeline: its static `.values`, then `tail`, and `entry` when given. `source`
   * (the object's file and bytes) lets `up` and `attach --pin` tell its content apart.
   */
  static fromObject(
    spec: CollectionSpec,
    opts: {
      tail?: readonly TailSlot[];
      entry?: string;
      name?: string;
      source?: { file: string; bytes: Uint8Array };
    } = {},
  ): Pipeline {
    const { source } = opts;
    return new Pipeline(
      planFromObject(spec, opts),
      undefined,
      undefined,
      source === undefined ? {} : { [MAIN_OBJECT]: lazySource(source.file, source.bytes) },
    );
  }

  /** The pipeline's name. */
  get name(): string {
    return this.plan.name;
  }

  /** Where it attaches (a pipeline file's `attach:`). */
  get attach(): PipelineAttach | undefined {
    return this.definition?.attach;
  }

  /** The bpffs directory `up` pins it under. */
  get pinDir(): string {
    return pinDirOf({ name: this.name, pin: this.definition?.pin });
  }

  /** What `tsbpf check` says of it: findings at their C lines, and the graph of tail calls. */
  check(): CheckReport {
    return checkPlan(this.plan);
  }

  /** The pipeline as programs and tail calls, for `graph` and its renderers. */
  graph(): PipelineGraph {
    return this.check().graph;
  }

  /** The entry program: the one the file names, or the only program no slot holds. */
  entry(): ProgramRef {
    const [first, ...rest] = this.plan.entries;
    if (first !== undefined && rest.length === 0) return first;
    const held = new Set(this.plan.slots.map((s) => `${s.program.object}:${s.program.program}`));
    const candidates = Object.entries(this.plan.objects).flatMap(([object, spec]) =>
      Object.keys(spec.programs)
        .filter((p) => !held.has(`${object}:${p}`))
        .map((program) => ({ object, program })),
    );
    if (first === undefined && candidates.length === 1) return candidates[0] as ProgramRef;
    throw new UsageError(`pipeline ${this.name}: which program is the entry?`, {
      hint: `name it (--prog NAME, or entry: in a pipeline file); candidates: ${candidates.map((c) => c.program).join(", ") || "(none)"}`,
    });
  }

  /**
   * Loads every object into `backend` (on the VM, into one address space, so their programs
   * tail-call each other as on the kernel), fills every slot, and returns the live pipeline.
   * If anything fails, what was loaded is closed again.
   */
  async load<B extends BackendName = "vm">(
    opts: Partial<CollectionOptions> & {
      backend?: B;
      /** Kernel: per object alias, maps taken over from pins (an upgrade's `state:`). */
      reuseMapsOf?: Readonly<Record<string, Readonly<Record<string, string>>>>;
    } = {},
  ): Promise<LoadedPipeline<B>> {
    const backend = (opts.backend ?? "vm") as BackendName;
    // The VM (and the YAML parser, in loadPipeline) are imported when used: not on the kernel's path.
    const space =
      backend === "vm" ? new (await import("../vm/vm-collection.js")).VmSpace(opts.vm) : undefined;
    const collections: Record<string, CollectionFor<BackendName>> = {};
    try {
      for (const [alias, spec] of Object.entries(this.plan.objects)) {
        collections[alias] = await Collection.load(spec, {
          ...opts,
          backend,
          vm: { ...opts.vm, space },
          stats: opts.stats ?? this.definition?.stats ?? false,
          reuseMaps: opts.reuseMapsOf?.[alias] ?? opts.reuseMaps,
        });
      }
      const loaded = new LoadedPipeline(this, collections as Record<string, CollectionFor<B>>);
      for (const s of this.plan.slots) loaded.fill(s);
      return loaded;
    } catch (e) {
      for (const c of Object.values(collections)) c.close();
      throw e;
    }
  }
}

/** A pipeline loaded into an engine. */
export class LoadedPipeline<B extends BackendName = BackendName> {
  constructor(
    readonly pipeline: Pipeline,
    /** The live collection of each object, by alias. */
    readonly collections: Record<string, CollectionFor<B>>,
  ) {}

  /** The live program `ref` names. */
  program(ref: ProgramRef): BpfProgram {
    const p = this.collections[ref.object]?.programs[ref.program];
    if (p === undefined)
      throw new LoadError(`pipeline ${this.pipeline.name}: no program ${ref.object}:${ref.program}`);
    return p;
  }

  /** The entry program, live. */
  get entry(): BpfProgram {
    return this.program(this.pipeline.entry());
  }

  /** Runs one packet through the pipeline from its entry (BPF_PROG_TEST_RUN semantics). */
  run(data: Uint8Array, opts?: Partial<RunOptions>): Promise<RunResult> {
    return this.entry.run(data, opts);
  }

  /** @internal Puts a slot's program into its prog array. */
  fill(s: PlanSlot): void {
    const map = this.collections[s.object]?.maps[s.map];
    if (map === undefined) throw new LoadError(`pipeline ${this.pipeline.name}: no map ${s.object}:${s.map}`);
    try {
      map.set(s.key, this.program(s.program));
    } catch (e) {
      throw new LoadError(
        `pipeline ${this.pipeline.name}: cannot put ${s.program.program} in ${s.map}[${s.key}]`,
        {
          map: s.map,
          cause: e,
          hint: isTsbpfError(e) ? e.message : "a prog array holds programs of one type only",
        },
      );
    }
  }

  /**
   * The counts of a pipeline loaded with stats, summed over CPUs; with several objects, program
   * names are `alias:name`.
   */
  readStats(): StatsReport {
    return mergeStats(
      Object.fromEntries(Object.entries(this.collections).map(([a, c]) => [a, readStats(c)])),
    );
  }

  /** Closes every collection. */
  close(): void {
    for (const c of Object.values(this.collections)) c.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads a pipeline file: its YAML, its objects (paths relative to the file), every name resolved. */
export async function loadPipeline(file: string, opts: Partial<LoadPipelineOptions> = {}): Promise<Pipeline> {
  const shown = basename(file);
  let text: string;
  try {
    text = await readFileAsync(file, "utf8");
  } catch (e) {
    throw new PipelineError(`${file}: cannot read: ${readFailure(e)}`);
  }
  const { parsePipelineDefinition } = await import("./definition.js");
  const def = parsePipelineDefinition(text, shown);
  const objects: Record<string, CollectionSpec> = {};
  const sources: Record<string, ObjectSource> = {};
  for (const [alias, path] of Object.entries(def.objects)) {
    const field =
      def.objects.main !== undefined && Object.keys(def.objects).length === 1 ? "object" : `objects.${alias}`;
    const full = resolve(dirname(file), path);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFileAsync(full));
    } catch (e) {
      throw fieldError(
        shown,
        field,
        `cannot read ${path}: ${readFailure(e)}`,
        `paths are relative to the pipeline file (${full})`,
      );
    }
    sources[alias] = lazySource(full, bytes);
    try {
      objects[alias] = loadCollectionSpec(bytes, { file: basename(path) });
    } catch (e) {
      throw fieldError(shown, field, `${path}: ${isTsbpfError(e) ? e.message : String(e)}`);
    }
  }
  return new Pipeline(resolvePlan(def, objects, shown, opts.keepMissing === true), file, def, sources);
}

/** Turns the file's names into references to the objects' programs and maps. */
function resolvePlan(
  def: PipelineDefinition,
  objects: Record<string, CollectionSpec>,
  file: string,
  keepMissing: boolean,
): PipelinePlan {
  const aliases = Object.keys(objects);
  const objectOf = (q: QualifiedName, what: string): string[] => {
    if (q.object === undefined) return aliases;
    if (objects[q.object] === undefined) {
      throw fieldError(
        file,
        q.field,
        `no object '${q.object}' for ${what} ${q.object}:${q.name}`,
        `objects: ${aliases.join(", ")}`,
      );
    }
    return [q.object];
  };
  const fileOf = (alias: string): string => objects[alias]?.file ?? alias;

  const program = (q: QualifiedName): ProgramRef => {
    const within = objectOf(q, "program");
    const found = within.filter((a) => objects[a]?.programs[q.name] !== undefined);
    if (found.length === 1) return { object: found[0] as string, program: q.name };
    if (found.length > 1) {
      throw fieldError(
        file,
        q.field,
        `program '${q.name}' is in ${found.map(fileOf).join(" and ")}`,
        `write OBJECT:${q.name} (${found.join(", ")})`,
      );
    }
    if (keepMissing) return { object: within[0] ?? MAIN_OBJECT, program: q.name };
    const names = within.flatMap((a) => Object.keys(objects[a]?.programs ?? {}));
    throw fieldError(
      file,
      q.field,
      `no program '${q.name}' in ${within.map(fileOf).join(", ")}`,
      `programs: ${names.join(", ") || "(none)"}`,
    );
  };

  const map = (q: QualifiedName): { object: string; map: string; maxEntries: number } => {
    const within = objectOf(q, "prog array");
    const found = within.filter((a) => objects[a]?.maps[q.name]?.type === MapType.prog_array);
    if (found.length === 1) {
      const object = found[0] as string;
      return { object, map: q.name, maxEntries: objects[object]?.maps[q.name]?.maxEntries ?? 0 };
    }
    if (found.length > 1) {
      throw fieldError(
        file,
        q.field,
        `prog array '${q.name}' is in ${found.map(fileOf).join(" and ")}`,
        `write OBJECT:${q.name}`,
      );
    }
    const arrays = within.flatMap((a) =>
      Object.values(objects[a]?.maps ?? {})
        .filter((m) => m.type === MapType.prog_array)
        .map((m) => m.name),
    );
    throw fieldError(
      file,
      q.field,
      `no prog array '${q.name}' in ${within.map(fileOf).join(", ")}`,
      `prog arrays: ${arrays.join(", ") || "(none)"}`,
    );
  };

  // Each object's static `.values` first; the file's slots override them.
  const slots = new Map<string, PlanSlot>();
  for (const [alias, spec] of Object.entries(objects)) {
    for (const s of planFromObject(spec).slots)
      slots.set(`${alias}\0${s.map}\0${s.key}`, {
        ...s,
        object: alias,
        program: { object: alias, program: s.program.program },
      });
  }
  for (const s of def.slots) {
    const m = map(s.map);
    const field = `${s.map.field}.${s.key}`;
    const ref = program(s.program);
    if (s.key >= m.maxEntries)
      throw fieldError(file, field, `slot ${s.key} is past ${m.map}'s max_entries ${m.maxEntries}`);
    slots.set(`${m.object}\0${m.map}\0${s.key}`, {
      object: m.object,
      map: m.map,
      key: s.key,
      program: ref,
      origin: "pipeline",
    });
  }

  for (const g of def.globals) {
    const [alias] = objectOf(g.variable, "variable");
    const targets = g.variable.object === undefined ? aliases : [alias as string];
    const owners = targets.filter((a) =>
      objects[a]?.maps[".rodata"]?.variables.some((v) => v.name === g.variable.name),
    );
    if (owners.length !== 1) {
      throw fieldError(
        file,
        g.variable.field,
        owners.length === 0
          ? `no const volatile variable '${g.variable.name}' in ${targets.map(fileOf).join(", ")}`
          : `'${g.variable.name}' is in ${owners.join(" and ")}: write OBJECT:${g.variable.name}`,
      );
    }
    try {
      rewriteGlobals(objects[owners[0] as string] as CollectionSpec, ".rodata", {
        [g.variable.name]: g.value as BtfValue,
      });
    } catch (e) {
      throw fieldError(file, g.variable.field, isTsbpfError(e) ? e.detail : String(e));
    }
  }

  // events: each map a ring buffer or perf event array of one object, its struct in that object's BTF.
  for (const ev of def.events) {
    const within = objectOf(ev.map, "event map");
    const isEvents = (t: number | undefined) => t === MapType.ringbuf || t === MapType.perf_event_array;
    const found = within.filter((a) => isEvents(objects[a]?.maps[ev.map.name]?.type));
    if (found.length !== 1) {
      const all = within.flatMap((a) =>
        Object.values(objects[a]?.maps ?? {})
          .filter((m) => isEvents(m.type))
          .map((m) => m.name),
      );
      throw fieldError(
        file,
        ev.map.field,
        found.length === 0
          ? `no ring buffer or perf event array '${ev.map.name}' in ${within.map(fileOf).join(", ")}`
          : `'${ev.map.name}' is in ${found.join(" and ")}: write OBJECT:${ev.map.name}`,
        found.length === 0 ? `event maps: ${all.join(", ") || "(none)"}` : undefined,
      );
    }
    try {
      eventRecordDecoder(objects[found[0] as string] as CollectionSpec, ev.map.name, ev.type);
    } catch (e) {
      throw fieldError(file, ev.map.field, isTsbpfError(e) ? e.detail : String(e));
    }
  }

  return { name: def.name, objects, entries: [program(def.entry)], slots: [...slots.values()] };
}

function fieldError(file: string, field: string, message: string, hint?: string): PipelineError {
  const e = new PipelineError(`${file}: ${field}: ${message}`, hint === undefined ? {} : { hint });
  e.field = field;
  return e;
}
