/**
 * Reads a Graphviz SVG back into boxes and arrows with a real XML parser (@xmldom/xmldom), so
 * tests check the picture a user gets: every node by its `<title>` and text, every edge by its
 * ends, text, colour and dash pattern.
 */
import { DOMParser, type Element } from "@xmldom/xmldom";

/** A `<g class="node ...">` of the SVG. */
export interface SvgNode {
  title: string;
  classes: string[];
  /** The `<text>` lines, in order. */
  texts: string[];
  /** How many outlines the box has (2: the double border of an entry). */
  outlines: number;
  stroke: string | undefined;
  dashed: boolean;
}

/** A `<g class="edge ...">` of the SVG, its ends resolved to node titles. */
export interface SvgEdge {
  from: string;
  to: string;
  classes: string[];
  texts: string[];
  stroke: string | undefined;
  dashed: boolean;
}

function elements(parent: Element, tag: string): Element[] {
  return Array.from(parent.getElementsByTagName(tag));
}

function shapeOf(g: Element): Element | undefined {
  return [...elements(g, "polygon"), ...elements(g, "path"), ...elements(g, "ellipse")][0];
}

/** Parses an SVG document made by Graphviz; fails on anything that is not well-formed XML. */
export function readSvgGraph(svg: string): { nodes: SvgNode[]; edges: SvgEdge[] } {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== "warning") errors.push(msg);
    },
  }).parseFromString(svg, "image/svg+xml");
  if (errors.length > 0) throw new Error(`not well-formed SVG: ${errors.join("; ")}`);
  const root = doc.documentElement;
  if (root === null || root.tagName !== "svg") throw new Error("no <svg> root");
  const groups = elements(root, "g");
  const classes = (g: Element): string[] =>
    (g.getAttribute("class") ?? "").split(/\s+/).filter((c) => c !== "");
  const title = (g: Element): string => elements(g, "title")[0]?.textContent ?? "";
  const texts = (g: Element): string[] => elements(g, "text").map((t) => t.textContent ?? "");
  const nodes: SvgNode[] = groups
    .filter((g) => classes(g).includes("node"))
    .map((g) => {
      const shapes = [...elements(g, "polygon"), ...elements(g, "path"), ...elements(g, "ellipse")];
      return {
        title: title(g),
        classes: classes(g),
        texts: texts(g),
        outlines: shapes.length,
        stroke: shapeOf(g)?.getAttribute("stroke") ?? undefined,
        dashed: shapes.some((s) => s.hasAttribute("stroke-dasharray")),
      };
    });
  const titles = new Set(nodes.map((n) => n.title));
  const edges: SvgEdge[] = groups
    .filter((g) => classes(g).includes("edge"))
    .map((g) => {
      const t = title(g);
      // Names may hold "->" themselves: take the split whose two sides are both nodes.
      let ends: [string, string] | undefined;
      for (let i = t.indexOf("->"); i >= 0 && ends === undefined; i = t.indexOf("->", i + 1)) {
        const [a, b] = [t.slice(0, i), t.slice(i + 2)];
        if (titles.has(a) && titles.has(b)) ends = [a, b];
      }
      if (ends === undefined) throw new Error(`edge '${t}' does not join two nodes`);
      const path = elements(g, "path")[0];
      return {
        from: ends[0],
        to: ends[1],
        classes: classes(g),
        texts: texts(g),
        stroke: path?.getAttribute("stroke") ?? undefined,
        dashed: path?.hasAttribute("stroke-dasharray") ?? false,
      };
    });
  return { nodes, edges };
}
