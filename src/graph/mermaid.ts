/**
 * The pipeline as a Mermaid flowchart, which GitHub, GitLab and most Markdown viewers draw in a
 * ```mermaid block. Mermaid ids are plain words, so boxes are numbered (`n0`, `n1`...) and the
 * names live in quoted labels.
 */
import type { PipelineGraph } from "../tailcall/plan.js";
import { type DrawnNode, type DrawOptions, drawGraph } from "./drawing.js";

/**
 * Label text safe inside Mermaid's `"..."`: quotes and the characters Mermaid reads as markup
 * become entity codes, line breaks become `<br/>`.
 */
export function mermaidText(lines: readonly string[]): string {
  const esc = (s: string): string =>
    s.replace(/[#"<>&]/g, (c) => `#${c.codePointAt(0)};`).replace(/\r?\n/g, "<br/>");
  return `"${lines.map(esc).join("<br/>")}"`;
}

/** The box of a node: rounded for programs, a stadium for fall-through, a plain box for missing ones. */
function box(id: string, n: DrawnNode): string {
  const text = mermaidText(n.lines);
  switch (n.kind) {
    case "program":
      return `${id}(${text})`;
    case "empty":
      return `${id}([${text}])`;
    case "missing":
      return `${id}[${text}]`;
  }
}

/**
 * Renders a pipeline graph as a Mermaid flowchart (left to right): the same boxes, labels and
 * arrows as {@link toDot}, the entry with a heavy border (class `entry`), empty slots as dashed
 * red arrows into red `empty: falls through` boxes. Deterministic text.
 */
export function toMermaid(graph: PipelineGraph, opts: DrawOptions = {}): string {
  const d = drawGraph(graph, opts);
  const ids = new Map(d.nodes.map((n, i) => [n.key, `n${i}`]));
  const id = (key: string): string => ids.get(key) ?? key;
  const out = ["flowchart LR"];
  for (const n of d.nodes) out.push(`  ${box(id(n.key), n)}`);
  for (const e of d.edges) {
    out.push(`  ${id(e.from)} ${e.empty ? "-.->" : "-->"}|${mermaidText(e.lines)}| ${id(e.to)}`);
  }
  out.push(
    "  classDef program fill:#fff,stroke:#333",
    "  classDef entry fill:#fff,stroke:#000,stroke-width:3px",
    "  classDef empty fill:#fff,stroke:#c62828,color:#c62828,stroke-dasharray:5 5",
    "  classDef missing fill:#fff,stroke:#6d6d6d,color:#6d6d6d,stroke-dasharray:5 5",
  );
  for (const cls of ["program", "entry", "empty", "missing"] as const) {
    const members = d.nodes
      .filter((n) =>
        cls === "entry" ? n.entry : cls === "program" ? n.kind === "program" && !n.entry : n.kind === cls,
      )
      .map((n) => id(n.key));
    if (members.length > 0) out.push(`  class ${members.join(",")} ${cls}`);
  }
  const red = d.edges.flatMap((e, i) => (e.empty ? [i] : []));
  if (red.length > 0) out.push(`  linkStyle ${red.join(",")} stroke:#c62828,color:#c62828`);
  return `${out.join("\n")}\n`;
}
