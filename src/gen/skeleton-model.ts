/**
 * What a skeleton exposes of an object, decided once for the generator and the runtime that
 * loads generated skeletons (`skeleton/`): which maps, what kind of view each gets, which global
 * variables, under which names, and how a record type named on the command line is found.
 */
import { isPerCpuMapType, MapType } from "../abi/index.js";
import { btfTypeById, resolveBtfTypeId } from "../btf/type-helpers.js";
import type { Btf } from "../btf/types.js";
import type { CollectionSpec, MapSpec, VariableSpec } from "../object/types.js";
import { isIdentifier } from "./ts-syntax.js";

/**
 * The view a skeleton gives a map: a prog array takes programs, a map of maps takes maps, a ring
 * buffer or perf event array has records (typed by `--type`), and every other map reads and
 * writes keys and values typed from BTF (one value per CPU for per-CPU maps).
 */
export type SkeletonMapKind = "prog-array" | "map-of-maps" | "records" | "per-cpu" | "typed";

/** The view a map of type `type` (`MapType`) gets. */
export function skeletonMapKind(type: number): SkeletonMapKind {
  switch (type) {
    case MapType.prog_array:
      return "prog-array";
    case MapType.array_of_maps:
    case MapType.hash_of_maps:
      return "map-of-maps";
    case MapType.ringbuf:
    case MapType.user_ringbuf:
    case MapType.perf_event_array:
      return "records";
    default:
      return isPerCpuMapType(type) ? "per-cpu" : "typed";
  }
}

/** The maps a skeleton lists under `maps`: the object's declared maps (global data has views). */
export function skeletonMaps(spec: CollectionSpec): MapSpec[] {
  return Object.values(spec.maps).filter((m) => m.origin === "btf" || m.origin === "legacy");
}

/**
 * The program type of the programs a prog array holds, when the object settles it: the type of
 * every program that uses the array and of every program in its static slots, when they agree.
 * The kernel refuses a program of another type in the array once one has used it.
 */
export function progArrayProgramType(spec: CollectionSpec, map: string): string | undefined {
  const types = new Set<string>();
  for (const p of Object.values(spec.programs)) {
    if (p.references.some((r) => r.map === map && r.kind === "map")) types.add(p.typeName);
  }
  for (const slot of spec.maps[map]?.contents ?? []) {
    const p = spec.programs[slot.value];
    if (p !== undefined) types.add(p.typeName);
  }
  return types.size === 1 ? [...types][0] : undefined;
}

/** A global-data section as a skeleton shows it: a view named `key` of its global variables. */
export interface SkeletonSection {
  /** The view's name: the section without its dot, `.` and `-` as `_` (`.data.cfg` → `data_cfg`). */
  key: string;
  /** The section (`.rodata`). */
  section: string;
  map: MapSpec;
  /** Its variables a skeleton shows: global ones (static variables stay private, as in C). */
  variables: VariableSpec[];
}

/** The global-data sections with at least one variable to show, in the object's order. */
export function skeletonSections(spec: CollectionSpec): SkeletonSection[] {
  const out: SkeletonSection[] = [];
  const keys = new Set<string>();
  for (const m of Object.values(spec.maps)) {
    if (m.origin !== "global-data") continue;
    const variables = m.variables.filter((v) => v.linkage === "global" && isIdentifier(v.name));
    if (variables.length === 0) continue;
    const section = m.section ?? m.name;
    let key = section.replace(/^\./, "").replace(/[^A-Za-z0-9_$]/g, "_");
    if (!isIdentifier(key)) key = `_${key}`;
    const base = key;
    for (let n = 2; keys.has(key); n++) key = `${base}_${n}`;
    keys.add(key);
    out.push({ key, section, map: m, variables });
  }
  return out;
}

/**
 * The struct or union a record type name means: `event`, `struct event`, `union event`, or a
 * typedef of one (`event_t`). The first in BTF order; `undefined` when there is none.
 */
export function findRecordType(btf: Btf, name: string): number | undefined {
  const m = /^(?:(struct|union)\s+)?(\S+)$/.exec(name.trim());
  if (m === null) return undefined;
  const kind = m[1]?.toUpperCase();
  const bare = m[2] as string;
  const composite = (id: number): boolean => {
    const t = btfTypeById(btf, id);
    return (t.kind === "STRUCT" || t.kind === "UNION") && (kind === undefined || t.kind === kind);
  };
  const direct = btf.types.findIndex((t, id) => id > 0 && t.name === bare && composite(id));
  if (direct > 0) return direct;
  if (kind !== undefined) return undefined;
  const viaTypedef = btf.types.findIndex(
    (t, id) => id > 0 && t.kind === "TYPEDEF" && t.name === bare && composite(resolveBtfTypeId(btf, id)),
  );
  return viaTypedef > 0 ? viaTypedef : undefined;
}

/** The skeleton name an object file suggests: `tail_call.bpf.o` → `TailCall`. */
export function defaultSkeletonName(file: string): string {
  const base = (file.split(/[\\/]/).pop() ?? file).replace(/(\.bpf)?\.o$/, "");
  const name = base
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== "")
    .map((w) => (w[0] as string).toUpperCase() + w.slice(1))
    .join("");
  if (name === "") return "Skeleton";
  return /^[0-9]/.test(name) ? `Bpf${name}` : name;
}
