/** One entry point for every picture format, for the CLI and for pipelines. */
import { UsageError } from "../errors.js";
import type { PipelineGraph } from "../tailcall/plan.js";
import { toDot } from "./dot.js";
import type { DrawOptions } from "./drawing.js";
import { toMermaid } from "./mermaid.js";
import { toSvg } from "./svg.js";

/** The formats a pipeline graph renders to. */
export const GRAPH_FORMATS = ["mermaid", "dot", "svg"] as const;

/** A format of {@link GRAPH_FORMATS}. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Whether `name` is a format tsbpf renders (for checking user input). */
export function isGraphFormat(name: string): name is GraphFormat {
  return (GRAPH_FORMATS as readonly string[]).includes(name);
}

/** The format of `name`, or a usage error naming the ones there are. */
export function parseGraphFormat(name: string, what = "--format"): GraphFormat {
  if (!isGraphFormat(name)) {
    throw new UsageError(
      `${what} is ${GRAPH_FORMATS.slice(0, -1).join(", ")} or ${GRAPH_FORMATS.at(-1)}, not '${name}'`,
    );
  }
  return name;
}

/** Renders a pipeline graph in `format`: text in every case (SVG is XML). */
export async function renderGraph(
  graph: PipelineGraph,
  format: GraphFormat,
  opts: DrawOptions = {},
): Promise<string> {
  switch (format) {
    case "mermaid":
      return toMermaid(graph, opts);
    case "dot":
      return toDot(graph, opts);
    case "svg":
      return toSvg(graph, opts);
  }
}
