/**
 * TEMPORARY — replaced at merge by the graph of `checkPlan(plan)` (src/tailcall/, being written
 * on another branch); delete this file then and take `checkPlan(plan).graph` where it is used.
 * Until then `tsbpf graph` and its tests draw what this builds: one node per program, one edge
 * per tail-call site and constant key (against the plan's slots), unknown keys as `key: null`.
 */
import type { LineInfo, ProgramSpec } from "../object/types.js";
import type { GraphEdge, GraphNode, PipelineGraph, PipelinePlan, SourceSite } from "./plan.js";

/** The C line of instruction `insn`: the last line_info record at or before it with a line number. */
function siteOf(p: ProgramSpec, insn: number): SourceSite {
  let best: LineInfo | undefined;
  for (const l of p.lineInfo) {
    if (l.insn <= insn && l.lineNumber > 0 && (best === undefined || l.insn >= best.insn)) best = l;
  }
  return { insn, file: best?.fileName, line: best?.lineNumber };
}

/**
 * The graph of a plan, before `check` exists: entries are the plan's, or every program no slot
 * holds. A site whose key is unknown gets an edge (key `null`) to each program its map holds and
 * one to `null`, since any other index falls through.
 */
export function graphOfPlan(plan: PipelinePlan): PipelineGraph {
  const aliases = Object.keys(plan.objects);
  const counts = new Map<string, number>();
  for (const spec of Object.values(plan.objects)) {
    for (const p of Object.keys(spec.programs)) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const nameOf = (object: string, program: string): string =>
    (counts.get(program) ?? 0) > 1 ? `${object}:${program}` : program;
  const held = new Set(plan.slots.map((s) => `${s.program.object}\0${s.program.program}`));
  const isEntry = (object: string, program: string): boolean =>
    plan.entries.length > 0
      ? plan.entries.some((e) => e.object === object && e.program === program)
      : !held.has(`${object}\0${program}`);

  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const object of aliases) {
    const spec = plan.objects[object];
    if (spec === undefined) continue;
    for (const p of Object.values(spec.programs)) {
      const from = nameOf(object, p.name);
      nodes.push({ name: from, object, type: p.typeName, entry: isEntry(object, p.name) });
      for (const site of p.tailCalls) {
        const map = site.map ?? "?";
        const slots = plan.slots.filter((s) => s.object === object && s.map === site.map);
        const target = (key: number): string | null => {
          const s = slots.find((x) => x.key === key);
          return s === undefined ? null : nameOf(s.program.object, s.program.program);
        };
        const where = siteOf(p, site.insn);
        if (site.keys !== undefined) {
          for (const key of site.keys) edges.push({ from, to: target(key), map, key, site: where });
        } else {
          for (const s of slots) {
            edges.push({
              from,
              to: nameOf(s.program.object, s.program.program),
              map,
              key: null,
              site: where,
            });
          }
          edges.push({ from, to: null, map, key: null, site: where });
        }
      }
    }
  }
  return { nodes, edges };
}
