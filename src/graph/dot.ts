/**
 * The pipeline as Graphviz DOT: deterministic text (the same graph gives the same bytes), every id
 * a quoted string so program names with `:` or `.` (`parse:on_tcp`, `prog.v2`) stay whole.
 */
import type { PipelineGraph } from "../tailcall/plan.js";
import { type DrawnEdge, type DrawnNode, type DrawOptions, drawGraph } from "./drawing.js";

/** Red for what falls through, as in the Mermaid picture. */
const EMPTY_COLOR = "#c62828";
const MISSING_COLOR = "#6d6d6d";

/** A DOT quoted string: `"` and `\` escaped, line breaks as DOT's centred `\n`. */
export function dotString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\r?\n/g, "\\n")}"`;
}

/** `[a=b, c=d]` with every value quoted. */
function attrs(list: [string, string][]): string {
  return `[${list.map(([k, v]) => `${k}=${dotString(v)}`).join(", ")}]`;
}

function label(lines: readonly string[]): string {
  return lines.join("\n");
}

function nodeAttrs(n: DrawnNode): [string, string][] {
  const out: [string, string][] = [["label", label(n.lines)]];
  switch (n.kind) {
    case "program":
      out.push(["class", n.entry ? "program entry" : "program"]);
      // The entry stands out: a double border, drawn heavier.
      if (n.entry) out.push(["peripheries", "2"], ["penwidth", "2"]);
      break;
    case "empty":
      out.push(
        ["class", "empty"],
        ["shape", "box"],
        ["style", "dashed,rounded"],
        ["color", EMPTY_COLOR],
        ["fontcolor", EMPTY_COLOR],
      );
      break;
    case "missing":
      out.push(
        ["class", "missing"],
        ["style", "dashed"],
        ["color", MISSING_COLOR],
        ["fontcolor", MISSING_COLOR],
      );
      break;
  }
  return out;
}

function edgeAttrs(e: DrawnEdge): [string, string][] {
  const out: [string, string][] = [["label", label(e.lines)]];
  if (e.empty) {
    out.push(["class", "empty"], ["style", "dashed"], ["color", EMPTY_COLOR], ["fontcolor", EMPTY_COLOR]);
  } else out.push(["class", "call"]);
  return out;
}

/**
 * Renders a pipeline graph as DOT, laid out left to right: programs as boxes (the entry with a
 * double border and `entry` in its label, each with its type), tail calls as arrows labelled
 * `map[key]` and the C source line, a call into an empty slot as a dashed red arrow into a box
 * of its own saying it falls through.
 */
export function toDot(graph: PipelineGraph, opts: DrawOptions = {}): string {
  const d = drawGraph(graph, opts);
  const out = [
    "digraph pipeline {",
    '  graph [rankdir="LR", fontname="Helvetica", nodesep="0.4", ranksep="0.9"];',
    '  node [shape="box", fontname="Helvetica", fontsize="12", margin="0.15,0.08"];',
    '  edge [fontname="Helvetica", fontsize="10"];',
  ];
  for (const n of d.nodes) out.push(`  ${dotString(n.key)} ${attrs(nodeAttrs(n))};`);
  for (const e of d.edges) out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} ${attrs(edgeAttrs(e))};`);
  out.push("}");
  return `${out.join("\n")}\n`;
}
