/**
 * What a picture of a pipeline shows, whatever the format: the {@link PipelineGraph} turned into
 * boxes and arrows with their text. Each renderer (DOT, Mermaid) only spells this out in its own
 * syntax, so the pictures agree on what is drawn and how it is labelled.
 */
import type { SiteStats, StatsReport } from "../stats/read-stats.js";
import type { GraphEdge, GraphNode, PipelineGraph, SourceSite } from "../tailcall/plan.js";

/** What a picture shows besides the pipeline itself. */
export interface DrawOptions {
  /**
   * Counts of the pipeline as it runs (`graph --stats`): each box gets its runs and verdicts,
   * each arrow its calls and misses, and a key that missed with no arrow drawn gets one.
   */
  stats?: StatsReport | undefined;
}

/** The text of the box an empty slot's call falls into. */
export const EMPTY_SLOT_LABEL = "empty: falls through";

/** The second line of a box whose program the graph does not list (a slot names a missing program). */
export const MISSING_PROGRAM_LABEL = "not in the pipeline";

/**
 * A box: a program of the graph, the fall-through target of one call into an empty slot, or a
 * program an edge names that the graph does not list. `key` is unique in the drawing; renderers
 * derive their own ids from it (DOT quotes it, Mermaid numbers the boxes).
 */
export interface DrawnNode {
  key: string;
  kind: "program" | "empty" | "missing";
  /** Lines of text, the first one the program's name. */
  lines: string[];
  entry: boolean;
}

/** An arrow: a tail call through `map[key]`, into a program or (`empty`) into a fall-through box. */
export interface DrawnEdge {
  from: string;
  to: string;
  /** `map[key]` (`map[?]` for a key that is not a constant), then where the call is in the source. */
  lines: string[];
  /** The slot is empty: the call falls through. */
  empty: boolean;
}

/** A pipeline graph as boxes and arrows, in the graph's order. */
export interface Drawing {
  nodes: DrawnNode[];
  edges: DrawnEdge[];
}

/**
 * Where a call is, for a label: `file.c:52` (the file's base name) when BTF line info says, else
 * the instruction index.
 */
export function siteText(site: SourceSite): string {
  if (site.file !== undefined && site.line !== undefined && site.line > 0) {
    return `${site.file.slice(site.file.lastIndexOf("/") + 1)}:${site.line}`;
  }
  return `insn ${site.insn}`;
}

/** `map[key]`, or `map[?]` where the key is not a constant. */
export function slotText(edge: GraphEdge): string {
  return `${edge.map}[${edge.key ?? "?"}]`;
}

/** The second line of a program's box: its type, its object when the pipeline has several, `entry`. */
function programDetail(node: GraphNode, manyObjects: boolean): string {
  const parts = [manyObjects ? `${node.type} in ${node.object}` : node.type];
  if (node.entry) parts.push("entry");
  return parts.join(" · ");
}

/** `12 runs · XDP_PASS 10, XDP_DROP 2`. */
function runsText(runs: number, verdicts: Record<string, number>): string {
  const v = Object.entries(verdicts).map(([k, n]) => `${k} ${n}`);
  return [`${runs} runs`, ...(v.length > 0 ? [v.join(", ")] : [])].join(" · ");
}

/** `1 miss`, `3 misses`. */
function missesText(misses: number): string {
  return `${misses} ${misses === 1 ? "miss" : "misses"}`;
}

/** `3 calls, 1 miss`. */
function callsText(calls: number, misses: number): string {
  return `${calls} calls, ${missesText(misses)}`;
}

/** Lays out a pipeline graph as boxes and arrows: one fall-through box for each call into an empty slot. */
export function drawGraph(graph: PipelineGraph, opts: DrawOptions = {}): Drawing {
  const manyObjects = new Set(graph.nodes.map((n) => n.object)).size > 1;
  const stats = opts.stats;
  // Stats name programs `alias:name` when the pipeline has several objects; the graph only where
  // two objects share a name. Both agree on (object, program).
  const nodeOf = new Map(graph.nodes.map((n) => [n.name, n]));
  const statsName = (node: GraphNode): string => {
    const program = node.name.startsWith(`${node.object}:`)
      ? node.name.slice(node.object.length + 1)
      : node.name;
    return manyObjects ? `${node.object}:${program}` : program;
  };
  const siteOf = (e: GraphEdge): SiteStats | undefined => {
    const node = nodeOf.get(e.from);
    if (stats === undefined || node === undefined) return undefined;
    const name = statsName(node);
    return stats.sites.find((s) => s.program === name && s.site.insn === e.site.insn);
  };
  const nodes: DrawnNode[] = [];
  const byName = new Map<string, DrawnNode>();
  const taken = new Set<string>();
  const add = (n: DrawnNode): DrawnNode => {
    while (taken.has(n.key)) n.key += "'";
    taken.add(n.key);
    nodes.push(n);
    return n;
  };
  for (const n of graph.nodes) {
    if (byName.has(n.name)) continue;
    const lines = [n.name, programDetail(n, manyObjects)];
    const counts = stats?.programs[statsName(n)];
    if (counts !== undefined) lines.push(runsText(counts.runs, counts.verdicts));
    byName.set(n.name, add({ key: n.name, kind: "program", lines, entry: n.entry }));
  }
  /** A program an edge names: the graph's box, or a "missing" box made once. */
  const programBox = (name: string): DrawnNode => {
    let box = byName.get(name);
    if (box === undefined) {
      box = add({ key: name, kind: "missing", lines: [name, MISSING_PROGRAM_LABEL], entry: false });
      byName.set(name, box);
    }
    return box;
  };
  const edges: DrawnEdge[] = [];
  let empties = 0;
  for (const e of graph.edges) {
    const from = programBox(e.from).key;
    // Program names never hold a space, so these keys never meet a program's.
    const to =
      e.to === null
        ? add({ key: `(empty ${++empties})`, kind: "empty", lines: [EMPTY_SLOT_LABEL], entry: false }).key
        : programBox(e.to).key;
    const lines = [slotText(e), siteText(e.site)];
    const site = siteOf(e);
    if (site !== undefined) {
      // An arrow into a program carries the calls that got there; its misses get an arrow of
      // their own into a fall-through box (below), so every count is on exactly one arrow.
      const k = e.key === null ? site : site.keys.find((x) => x.key === e.key);
      const [calls, misses] = [k?.calls ?? 0, k?.misses ?? 0];
      lines.push(
        e.key === null
          ? callsText(calls, misses)
          : e.to === null
            ? missesText(misses)
            : `${calls - misses} calls`,
      );
    }
    edges.push({ from, to, lines, empty: e.to === null });
  }
  // Keys that missed where the graph draws no arrow (a slot emptied by hand, a key past the
  // map): the falls-through the counts saw, drawn as such.
  for (const n of graph.nodes) {
    const name = statsName(n);
    for (const site of stats?.sites.filter((s) => s.program === name) ?? []) {
      const drawn = graph.edges.filter((e) => e.from === n.name && e.site.insn === site.site.insn);
      if (drawn.some((e) => e.key === null)) continue;
      for (const k of site.keys) {
        if (k.misses === 0) continue;
        if (drawn.some((e) => e.key === k.key && e.to === null)) continue; // counted on that arrow
        const to = add({
          key: `(empty ${++empties})`,
          kind: "empty",
          lines: [EMPTY_SLOT_LABEL],
          entry: false,
        });
        const where = siteText({
          insn: site.site.insn,
          file: site.site.file ?? undefined,
          line: site.site.line ?? undefined,
        });
        edges.push({
          from: programBox(n.name).key,
          to: to.key,
          lines: [`${site.map ?? "?"}[${k.key}]`, where, missesText(k.misses)],
          empty: true,
        });
      }
    }
  }
  return { nodes, edges };
}
