/**
 * A tail-call pipeline as data, before anything is loaded: which objects, which programs are
 * entries, which slot holds which program. A pipeline file, an object with `--tail` arguments and
 * the library all become a {@link PipelinePlan}; `check`, `graph` and the loaders take nothing else.
 */
import type { CollectionSpec } from "../object/types.js";
import { staticSlots, type TailSlot } from "./wiring.js";

/** A program of a pipeline: the object (by its alias in the plan) and the program's name in it. */
export interface ProgramRef {
  object: string;
  program: string;
}

/** One filled slot: `object`'s prog array `map`, index `key`, holds `program` (possibly of another object). */
export interface PlanSlot {
  object: string;
  map: string;
  key: number;
  program: ProgramRef;
  /** Where the slot came from: the object's static `.values`, a pipeline file, or a `--tail` argument. */
  origin: "static" | "pipeline" | "user";
}

/** The whole wiring of a pipeline. */
export interface PipelinePlan {
  /** The pipeline's name (a file's `name:`, or the object's file name). */
  name: string;
  /** Parsed objects by alias; a single-object plan uses the alias {@link MAIN_OBJECT}. */
  objects: Record<string, CollectionSpec>;
  /** Entry programs. Empty: every program that no slot holds counts as an entry. */
  entries: ProgramRef[];
  /** Every slot filled, static ones included unless overridden. */
  slots: PlanSlot[];
}

/** The alias of the one object of a plan made from an object file. */
export const MAIN_OBJECT = "main";

/**
 * The plan of one object: its static `.values`, then `tail` (which may override a static slot),
 * and `entry` when given. Names are not checked here; `check` reports what is missing.
 */
export function planFromObject(
  spec: CollectionSpec,
  opts: { tail?: readonly TailSlot[]; entry?: string; name?: string } = {},
): PipelinePlan {
  const slots = new Map<string, PlanSlot>();
  for (const s of [...staticSlots(spec), ...(opts.tail ?? [])]) {
    slots.set(`${s.map}\0${s.key}`, {
      object: MAIN_OBJECT,
      map: s.map,
      key: s.key,
      program: { object: MAIN_OBJECT, program: s.program },
      origin: s.origin,
    });
  }
  return {
    name: opts.name ?? spec.file ?? "object",
    objects: { [MAIN_OBJECT]: spec },
    entries: opts.entry === undefined ? [] : [{ object: MAIN_OBJECT, program: opts.entry }],
    slots: [...slots.values()],
  };
}

/** Where in the C source an instruction comes from (BTF line info), when the object says. */
export interface SourceSite {
  /** Instruction index in the linked program. */
  insn: number;
  file: string | undefined;
  line: number | undefined;
}

/** What `check` can find. */
export type FindingCode =
  | "empty-slot"
  | "key-out-of-range"
  | "unreachable-program"
  | "tail-call-cycle"
  | "stack-with-tail-calls"
  | "prog-type-mismatch"
  | "missing-program";

/** One diagnostic of `check`, shaped like a compiler's. */
export interface Finding {
  severity: "error" | "warning";
  code: FindingCode;
  /** The program it is about (a graph node name). */
  program: string | undefined;
  map: string | undefined;
  key: number | undefined;
  site: SourceSite | undefined;
  message: string;
}

/** A program of the pipeline as drawn. */
export interface GraphNode {
  /** Unique in the graph: the program's name, or `object:program` where two objects share a name. */
  name: string;
  object: string;
  /** Program type name (`xdp`). */
  type: string;
  entry: boolean;
}

/**
 * A tail call as drawn: `from` calls through `map[key]` at `site`. `to` is `null` where the slot
 * is empty (the call falls through); `key` is `null` where the key is not a constant.
 */
export interface GraphEdge {
  from: string;
  to: string | null;
  map: string;
  key: number | null;
  site: SourceSite;
}

/** The pipeline as a graph of programs and tail calls. */
export interface PipelineGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** What `check` says of a plan. */
export interface CheckReport {
  findings: Finding[];
  graph: PipelineGraph;
}
