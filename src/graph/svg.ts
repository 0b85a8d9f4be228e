/**
 * The pipeline as SVG, laid out by Graphviz compiled to WebAssembly (`@hpcc-js/wasm-graphviz`):
 * no `dot` binary, no network, the same picture on any machine. The WebAssembly module is
 * imported on first use, so nothing else in tsbpf pays for it.
 */
import { NotSupportedError, TsbpfError } from "../errors.js";
import type { PipelineGraph } from "../tailcall/plan.js";
import { toDot } from "./dot.js";
import type { DrawOptions } from "./drawing.js";

/** What tsbpf uses of the Graphviz module. */
interface Layout {
  layout(dot: string, format: "svg", engine: "dot"): string;
}

let graphviz: Promise<Layout> | undefined;

/** Graphviz, loaded once per process. */
function loadGraphviz(): Promise<Layout> {
  graphviz ??= import("@hpcc-js/wasm-graphviz").then(
    (m) => m.Graphviz.load(),
    (e: unknown) => {
      graphviz = undefined;
      throw new NotSupportedError("SVG output needs the package @hpcc-js/wasm-graphviz, which did not load", {
        cause: e,
        hint: "reinstall tsbpf's dependencies (npm install), or ask for --format dot or mermaid",
      });
    },
  );
  return graphviz;
}

/**
 * Renders a pipeline graph as a standalone SVG document: {@link toDot}'s picture laid out by
 * Graphviz's `dot`. Each program is a `<g class="node program">` (`program entry` for entries)
 * whose `<title>` is its name; each tail call a `<g class="edge call">` (`edge empty` into a
 * fall-through box) whose `<title>` is `from->to`.
 */
export async function toSvg(graph: PipelineGraph, opts: DrawOptions = {}): Promise<string> {
  const gv = await loadGraphviz();
  const dot = toDot(graph, opts);
  try {
    return gv.layout(dot, "svg", "dot");
  } catch (e) {
    throw new TsbpfError(
      `Graphviz could not lay out the pipeline graph: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
        hint: "this is a bug in tsbpf's DOT output; --format dot shows the text Graphviz was given",
      },
    );
  }
}
