/**
 * What a picture of a pipeline shows, whatever the format: the {@link PipelineGraph} turned into
 * boxes and arrows with their text. Each renderer (DOT, Mermaid) only spells this out in its own
 * syntax, so the pictures agree on what is drawn and how it is labelled.
 */
import type { GraphEdge, GraphNode, PipelineGraph, SourceSite } from "../tailcall/plan.js";

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

/** Lays out a pipeline graph as boxes and arrows: one fall-through box for each call into an empty slot. */
export function drawGraph(graph: PipelineGraph): Drawing {
  const manyObjects = new Set(graph.nodes.map((n) => n.object)).size > 1;
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
    byName.set(
      n.name,
      add({ key: n.name, kind: "program", lines: [n.name, programDetail(n, manyObjects)], entry: n.entry }),
    );
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
    edges.push({ from, to, lines: [slotText(e), siteText(e.site)], empty: e.to === null });
  }
  return { nodes, edges };
}
