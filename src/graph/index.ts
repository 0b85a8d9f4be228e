export { toDot } from "./dot.js";
export { toMermaid } from "./mermaid.js";
export { GRAPH_FORMATS, type GraphFormat, renderGraph } from "./render.js";
export { toSvg } from "./svg.js";
