import type { BpfMap, BpfProgram, LoadedCollection } from "../backend/types.js";
import { LoadError, UsageError } from "../errors.js";
import type { CollectionSpec } from "../object/types.js";
import { MapType } from "../abi/index.js";

/** One slot to fill: `map[key] = program`. */
export interface TailSlot {
  map: string;
  key: number;
  program: string;
  /** Where the request came from, for messages: the object's static `.values`, or the user. */
  origin: "static" | "user";
}

/**
 * Parses `MAP:KEY=PROG` (the CLI's `--tail`). Errors name the argument and what is wrong with it.
 */
export function parseTailArg(arg: string): TailSlot {
  const m = /^([^:=\s]+):(\d+)=([^:=\s]+)$/.exec(arg);
  if (m === null) {
    throw new UsageError(`--tail '${arg}': expected MAP:KEY=PROG, e.g. prog_array:0=port8080_prog`);
  }
  return { map: m[1] as string, key: Number(m[2]), program: m[3] as string, origin: "user" };
}

/** The slots an object fills by itself, from `.values = { [i] = &prog }` of its prog arrays. */
export function staticSlots(spec: CollectionSpec): TailSlot[] {
  const out: TailSlot[] = [];
  for (const m of Object.values(spec.maps)) {
    if (m.type !== MapType.prog_array) continue;
    for (const s of m.contents) out.push({ map: m.name, key: s.key, program: s.value, origin: "static" });
  }
  return out;
}

/**
 * Checks a plan against the spec before anything is loaded, so a typo fails with the names
 * that exist rather than deep inside a backend.
 */
export function checkWiring(spec: CollectionSpec, slots: readonly TailSlot[]): void {
  for (const s of slots) {
    const map = spec.maps[s.map];
    const where =
      s.origin === "static" ? `static .values of map ${s.map}` : `--tail ${s.map}:${s.key}=${s.program}`;
    if (map === undefined) {
      const arrays = Object.values(spec.maps)
        .filter((m) => m.type === MapType.prog_array)
        .map((m) => m.name);
      throw new UsageError(`${where}: no map named '${s.map}'`, {
        hint: arrays.length
          ? `prog arrays in this object: ${arrays.join(", ")}`
          : "this object has no prog array",
      });
    }
    if (map.type !== MapType.prog_array) {
      throw new UsageError(`${where}: map '${s.map}' is a ${map.typeName}, not a prog_array`);
    }
    if (s.key >= map.maxEntries) {
      throw new UsageError(`${where}: slot ${s.key} is past max_entries ${map.maxEntries}`);
    }
    if (spec.programs[s.program] === undefined) {
      throw new UsageError(`${where}: no program named '${s.program}'`, {
        hint: `programs in this object: ${Object.keys(spec.programs).join(", ")}`,
      });
    }
  }
}

/** Fills the slots on a loaded collection, through the engine-neutral map API. */
export function applyWiring(coll: LoadedCollection, slots: readonly TailSlot[]): void {
  for (const s of slots) {
    const map: BpfMap | undefined = coll.maps[s.map];
    const prog: BpfProgram | undefined = coll.programs[s.program];
    if (map === undefined || prog === undefined) {
      throw new LoadError(`tail-call wiring ${s.map}:${s.key}=${s.program}: not loaded`, { map: s.map });
    }
    try {
      map.set(s.key, prog);
    } catch (e) {
      throw new LoadError(`tail-call wiring: cannot put program ${s.program} in ${s.map}[${s.key}]`, {
        map: s.map,
        cause: e,
        hint:
          "a prog array holds programs of one type only (the type of the first program that uses it), " +
          "and the kernel refuses programs whose type differs",
      });
    }
  }
}
