/**
 * The renderers on hand-made graphs with every kind of box and arrow: names that DOT and Mermaid
 * read as syntax (`:` `.` `"` `\` `<` `#` `->`), calls into empty slots (each its own box), keys
 * that are not constants, an edge to a program the graph does not list, and two objects. DOT is
 * read back by Graphviz itself, SVG by an XML parser, Mermaid statement by statement.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Graphviz } from "@hpcc-js/wasm-graphviz";
import { GRAPH_FORMATS, renderGraph, toDot, toMermaid, toSvg } from "../../src/graph/index.js";
import { drawGraph } from "../../src/graph/drawing.js";
import { parseGraphFormat } from "../../src/graph/render.js";
import type { StatsReport } from "../../src/stats/read-stats.js";
import type { PipelineGraph } from "../../src/tailcall/plan.js";
import { readSvgGraph } from "../support/svg-graph.js";

const WEIRD = 'say "hi" <b>#1';
const ARROW = "a->b";

const AWKWARD: PipelineGraph = {
  nodes: [
    { name: "parse:on_tcp", object: "parse", type: "xdp", entry: true },
    { name: "prog.v2", object: "main", type: "xdp", entry: false },
    { name: WEIRD, object: "main", type: "sched_cls", entry: false },
    { name: ARROW, object: "main", type: "xdp", entry: false },
  ],
  edges: [
    {
      from: "parse:on_tcp",
      to: "prog.v2",
      map: "jmp",
      key: 0,
      site: { insn: 3, file: "/src/parse.bpf.c", line: 12 },
    },
    {
      from: "parse:on_tcp",
      to: null,
      map: "jmp",
      key: 1,
      site: { insn: 3, file: "/src/parse.bpf.c", line: 12 },
    },
    { from: "parse:on_tcp", to: ARROW, map: "jmp", key: 4, site: { insn: 9, file: "parse.bpf.c", line: 20 } },
    {
      from: "prog.v2",
      to: WEIRD,
      map: "jmp",
      key: null,
      site: { insn: 7, file: undefined, line: undefined },
    },
    { from: "prog.v2", to: null, map: "jmp", key: null, site: { insn: 7, file: undefined, line: undefined } },
    { from: WEIRD, to: "ghost", map: "jmp", key: 3, site: { insn: 1, file: "x.c", line: 0 } },
    { from: ARROW, to: null, map: "jmp", key: 2, site: { insn: 5, file: "a.c", line: 8 } },
  ],
};

/** The labels every edge of AWKWARD must carry, in order: `map[key]`, then where. */
const EDGE_LABELS = [
  ["jmp[0]", "parse.bpf.c:12"],
  ["jmp[1]", "parse.bpf.c:12"],
  ["jmp[4]", "parse.bpf.c:20"],
  ["jmp[?]", "insn 7"],
  ["jmp[?]", "insn 7"],
  ["jmp[3]", "insn 1"],
  ["jmp[2]", "a.c:8"],
];

const SEED: PipelineGraph = {
  nodes: [
    { name: "main_prog", object: "main", type: "xdp", entry: true },
    { name: "port8080_prog", object: "main", type: "xdp", entry: false },
  ],
  edges: [
    {
      from: "main_prog",
      to: "port8080_prog",
      map: "prog_array",
      key: 0,
      site: { insn: 37, file: "./examples/tail-call/tail_call.bpf.c", line: 52 },
    },
    {
      from: "main_prog",
      to: null,
      map: "prog_array",
      key: 1,
      site: { insn: 37, file: "./examples/tail-call/tail_call.bpf.c", line: 52 },
    },
  ],
};

test("DOT is exactly this for the seed with slot 1 empty: quoted ids, labels, the entry and the empty slot marked", () => {
  assert.equal(
    toDot(SEED),
    `digraph pipeline {
  graph [rankdir="LR", fontname="Helvetica", nodesep="0.4", ranksep="0.9"];
  node [shape="box", fontname="Helvetica", fontsize="12", margin="0.15,0.08"];
  edge [fontname="Helvetica", fontsize="10"];
  "main_prog" [label="main_prog\\nxdp · entry", class="program entry", peripheries="2", penwidth="2"];
  "port8080_prog" [label="port8080_prog\\nxdp", class="program"];
  "(empty 1)" [label="empty: falls through", class="empty", shape="box", style="dashed,rounded", color="#c62828", fontcolor="#c62828"];
  "main_prog" -> "port8080_prog" [label="prog_array[0]\\ntail_call.bpf.c:52", class="call"];
  "main_prog" -> "(empty 1)" [label="prog_array[1]\\ntail_call.bpf.c:52", class="empty", style="dashed", color="#c62828", fontcolor="#c62828"];
}
`,
  );
});

/** An arrow as a picture shows it: its ends, whether it ends in an empty box, its text, its colour. */
interface Arrow {
  from: string | undefined;
  to: string | undefined;
  empty: boolean;
  texts: string[];
  red: boolean;
}

/**
 * Each edge of AWKWARD is drawn once, whatever order the picture lists them in: from the right
 * program (`nameOf` maps the picture's id to it), into the right program or (red and dashed) into
 * an empty box of its own, with `map[key]` and the site as its text.
 */
function matchEdges(
  drawn: Arrow[],
  nameOf: (a: Arrow) => string | undefined,
  toName = (a: Arrow) => a.to,
): void {
  const left = [...drawn];
  const emptyBoxes = new Set<string | undefined>();
  AWKWARD.edges.forEach((want, i) => {
    const k = left.findIndex(
      (a) =>
        nameOf(a) === want.from &&
        (want.to === null ? a.empty : !a.empty && toName(a) === want.to) &&
        a.texts.join("|") === EDGE_LABELS[i]?.join("|"),
    );
    assert.ok(k >= 0, `edge ${i} (${want.from} -> ${want.to ?? "empty"}) drawn: ${JSON.stringify(left)}`);
    const [a] = left.splice(k, 1);
    assert.equal(a?.red, want.to === null, `edge ${i} is red and dashed exactly when it falls through`);
    if (want.to === null) {
      assert.ok(!emptyBoxes.has(a?.to), "each empty box takes one call");
      emptyBoxes.add(a?.to);
    }
  });
  assert.deepEqual(left, [], "no other edge");
}

interface DotJson {
  objects: {
    name: string;
    label: string;
    class?: string;
    peripheries?: string;
    style?: string;
    color?: string;
  }[];
  edges: { tail: number; head: number; label: string; style?: string; color?: string }[];
}

test("Graphviz reads the DOT of awkward names back: every node under its own name, every edge between the right ones", async () => {
  const gv = await Graphviz.load();
  const dot = toDot(AWKWARD);
  assert.equal(toDot(AWKWARD), dot, "deterministic");
  const g = JSON.parse(gv.layout(dot, "dot_json", "dot")) as DotJson;
  const programs = ["parse:on_tcp", "prog.v2", WEIRD, ARROW];
  const names = g.objects.map((o) => o.name);
  assert.deepEqual(names.slice(0, 4), programs, "each program one node, under its name");
  assert.ok(names.includes("ghost"), "a slot's program the graph lacks still gets a box");
  const empties = g.objects.filter((o) => o.class === "empty");
  assert.equal(empties.length, 3, "one fall-through box per call into an empty slot");
  for (const e of empties) {
    assert.equal(e.label, "empty: falls through");
    assert.equal(e.color, "#c62828");
    assert.match(e.style ?? "", /dashed/);
  }
  const byName = (n: string) => g.objects.find((o) => o.name === n);
  // Labels come back with DOT's quote escape undone and its \n between lines kept.
  assert.equal(byName("parse:on_tcp")?.label, "parse:on_tcp\\nxdp in parse · entry");
  assert.equal(byName("parse:on_tcp")?.peripheries, "2");
  assert.equal(byName("parse:on_tcp")?.class, "program entry");
  assert.equal(byName("prog.v2")?.label, "prog.v2\\nxdp in main");
  assert.equal(byName(WEIRD)?.label, 'say "hi" <b>#1\\nsched_cls in main');
  assert.equal(byName("ghost")?.label, "ghost\\nnot in the pipeline");
  assert.equal(byName("ghost")?.class, "missing");

  assert.equal(g.edges.length, AWKWARD.edges.length);
  const drawn = g.edges.map((e) => ({
    from: g.objects[e.tail]?.name,
    to: g.objects[e.head]?.name,
    empty: g.objects[e.head]?.class === "empty",
    texts: e.label.split("\\n"),
    red: e.color === "#c62828" && e.style === "dashed",
  }));
  matchEdges(drawn, (e) => e.from);
});

test("an empty-box key never takes a program's name", () => {
  const g: PipelineGraph = {
    nodes: [{ name: "(empty 1)", object: "main", type: "xdp", entry: true }],
    edges: [
      { from: "(empty 1)", to: null, map: "m", key: 0, site: { insn: 0, file: undefined, line: undefined } },
    ],
  };
  assert.match(toDot(g), /^ {2}"\(empty 1\)" -> "\(empty 1\)'" \[/m);
});

/** Mermaid's entity codes back to text, `<br/>` to line breaks. */
function unmermaid(quoted: string): string[] {
  assert.match(quoted, /^"[^"]*"$/, "labels are quoted and hold no raw quote");
  return quoted
    .slice(1, -1)
    .split("<br/>")
    .map((s) => s.replace(/#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n))));
}

test("Mermaid: numbered ids, each name whole in its label, arrows and classes as drawn", () => {
  const text = toMermaid(AWKWARD);
  assert.equal(toMermaid(AWKWARD), text, "deterministic");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "flowchart LR");
  const nodes = new Map<string, { shape: string; lines: string[] }>();
  const edges: { from: string; to: string; arrow: string; lines: string[] }[] = [];
  const classes = new Map<string, string[]>();
  let linkStyle: number[] = [];
  for (const line of lines.slice(1)) {
    const s = line.trim();
    let m = /^(n\d+)(\(\[|\(|\[)("[^"]*")(\]\)|\)|\])$/.exec(s);
    if (m !== null) {
      nodes.set(m[1] as string, { shape: `${m[2]}${m[4]}`, lines: unmermaid(m[3] as string) });
      continue;
    }
    m = /^(n\d+) (-->|-\.->)\|("[^"]*")\| (n\d+)$/.exec(s);
    if (m !== null) {
      edges.push({
        from: m[1] as string,
        arrow: m[2] as string,
        lines: unmermaid(m[3] as string),
        to: m[4] as string,
      });
      continue;
    }
    m = /^class ([n\d,]+) (\w+)$/.exec(s);
    if (m !== null) {
      classes.set(m[2] as string, (m[1] as string).split(","));
      continue;
    }
    m = /^linkStyle ([\d,]+) /.exec(s);
    if (m !== null) {
      linkStyle = (m[1] as string).split(",").map(Number);
      continue;
    }
    assert.match(s, /^classDef \w+ /, `every statement is understood: ${s}`);
  }
  const idOf = (name: string): string => {
    const hit = [...nodes].find(([, n]) => n.lines[0] === name);
    assert.ok(hit, `a box for ${name}`);
    return hit[0];
  };
  assert.deepEqual(nodes.get(idOf("parse:on_tcp"))?.lines, ["parse:on_tcp", "xdp in parse · entry"]);
  assert.deepEqual(nodes.get(idOf(WEIRD))?.lines, [WEIRD, "sched_cls in main"]);
  assert.deepEqual(nodes.get(idOf("ghost"))?.lines, ["ghost", "not in the pipeline"]);
  assert.deepEqual(classes.get("entry"), [idOf("parse:on_tcp")]);
  assert.deepEqual(classes.get("missing"), [idOf("ghost")]);
  const empties = [...nodes].filter(([, n]) => n.lines[0] === "empty: falls through").map(([id]) => id);
  assert.equal(empties.length, 3);
  assert.deepEqual(classes.get("empty"), empties);
  for (const id of empties) assert.equal(nodes.get(id)?.shape, "([])");

  assert.equal(edges.length, AWKWARD.edges.length);
  AWKWARD.edges.forEach((want, i) => {
    const got = edges[i];
    assert.equal(got?.from, idOf(want.from));
    if (want.to === null) {
      assert.ok(empties.includes(got?.to ?? ""), `edge ${i} into an empty box`);
      assert.equal(got?.arrow, "-.->");
    } else {
      assert.equal(got?.to, idOf(want.to));
      assert.equal(got?.arrow, "-->");
    }
    assert.deepEqual(got?.lines, EDGE_LABELS[i]);
  });
  assert.deepEqual(
    linkStyle,
    AWKWARD.edges.flatMap((e, i) => (e.to === null ? [i] : [])),
    "the empty-slot arrows are drawn red",
  );
});

test("SVG of awkward names: every node and edge there, the entry double-bordered, empty slots red and dashed", async () => {
  const svg = await toSvg(AWKWARD);
  assert.equal(await toSvg(AWKWARD), svg, "deterministic");
  const { nodes, edges } = readSvgGraph(svg);
  const node = (name: string) => nodes.find((n) => n.texts[0] === name);
  for (const name of ["parse:on_tcp", "prog.v2", WEIRD, ARROW, "ghost"])
    assert.ok(node(name), `node ${name}`);
  assert.deepEqual(node("parse:on_tcp")?.texts, ["parse:on_tcp", "xdp in parse · entry"]);
  assert.deepEqual(node("parse:on_tcp")?.classes, ["node", "program", "entry"]);
  assert.equal(node("parse:on_tcp")?.outlines, 2, "a double border");
  assert.equal(node("prog.v2")?.outlines, 1);
  assert.deepEqual(node(WEIRD)?.texts, [WEIRD, "sched_cls in main"], "quotes and markup drawn as text");
  const empties = nodes.filter((n) => n.classes.includes("empty"));
  assert.equal(empties.length, 3);
  for (const e of empties) {
    assert.deepEqual(e.texts, ["empty: falls through"]);
    assert.equal(e.stroke, "#c62828");
    assert.ok(e.dashed);
  }
  const titleOf = new Map(nodes.map((n) => [n.title, n]));
  const nameOf = (title: string | undefined) => titleOf.get(title ?? "")?.texts[0];
  matchEdges(
    edges.map((e) => ({
      from: e.from,
      to: e.to,
      empty: titleOf.get(e.to)?.classes.includes("empty") === true && e.classes.includes("empty"),
      texts: e.texts,
      red: e.stroke === "#c62828" && e.dashed,
    })),
    (a) => nameOf(a.from),
    (a) => nameOf(a.to),
  );
  for (const e of edges.filter((e) => !e.classes.includes("empty"))) {
    assert.equal(e.stroke, "black");
    assert.equal(e.dashed, false);
  }
});

test("a backslash in a name is drawn once, and DOT's label escapes in names stay text", async () => {
  const name = "odd\\name\\N";
  const g: PipelineGraph = { nodes: [{ name, object: "main", type: "xdp", entry: true }], edges: [] };
  const { nodes } = readSvgGraph(await toSvg(g));
  assert.deepEqual(nodes[0]?.texts, [name, "xdp · entry"]);
});

test("renderGraph takes each format; a bad format names the ones there are", async () => {
  assert.deepEqual([...GRAPH_FORMATS], ["mermaid", "dot", "svg"]);
  assert.equal(await renderGraph(SEED, "dot"), toDot(SEED));
  assert.equal(await renderGraph(SEED, "mermaid"), toMermaid(SEED));
  assert.match(await renderGraph(SEED, "svg"), /^<\?xml[\s\S]*<svg[\s\S]*<\/svg>\s*$/);
  assert.throws(() => parseGraphFormat("png"), {
    name: "UsageError",
    message: "--format is mermaid, dot or svg, not 'png'",
  });
});

test("graph with stats: runs in each box, calls on each arrow, misses on fall-through arrows, several objects by alias", () => {
  const stats: StatsReport = {
    programs: {
      "parse:on_tcp": { runs: 10, verdicts: { XDP_PASS: 7, XDP_DROP: 3 } },
      "main:prog.v2": { runs: 4, verdicts: {} },
    },
    sites: [
      {
        program: "parse:on_tcp",
        map: "jmp",
        site: { insn: 3, file: "/src/parse.bpf.c", line: 12 },
        calls: 9,
        misses: 3,
        keys: [
          { key: 0, calls: 5, misses: 1 },
          { key: 1, calls: 2, misses: 2 },
          { key: 7, calls: 2, misses: 0 },
        ],
      },
      {
        program: "main:prog.v2",
        map: "jmp",
        site: { insn: 7, file: null, line: null },
        calls: 4,
        misses: 1,
        keys: [{ key: "other", calls: 4, misses: 1 }],
      },
    ],
  };
  const d = drawGraph(AWKWARD, { stats });
  const box = (name: string) => d.nodes.find((n) => n.lines[0] === name);
  assert.deepEqual(box("parse:on_tcp")?.lines, [
    "parse:on_tcp",
    "xdp in parse · entry",
    "10 runs · XDP_PASS 7, XDP_DROP 3",
  ]);
  assert.deepEqual(box("prog.v2")?.lines, ["prog.v2", "xdp in main", "4 runs"]);
  assert.deepEqual(box(ARROW)?.lines, [ARROW, "xdp in main"], "no counts, no line");
  const labels = d.edges.map((e) => `${e.from} -> ${e.to}: ${e.lines.join(" | ")}`);
  assert.deepEqual(labels, [
    "parse:on_tcp -> prog.v2: jmp[0] | parse.bpf.c:12 | 4 calls",
    "parse:on_tcp -> (empty 1): jmp[1] | parse.bpf.c:12 | 2 misses",
    "parse:on_tcp -> a->b: jmp[4] | parse.bpf.c:20",
    'prog.v2 -> say "hi" <b>#1: jmp[?] | insn 7 | 4 calls, 1 miss',
    "prog.v2 -> (empty 2): jmp[?] | insn 7 | 4 calls, 1 miss",
    'say "hi" <b>#1 -> ghost: jmp[3] | insn 1',
    "a->b -> (empty 3): jmp[2] | a.c:8",
    // Key 0's miss has no arrow of its own in the plan: the counts add one.
    "parse:on_tcp -> (empty 4): jmp[0] | parse.bpf.c:12 | 1 miss",
  ]);
  // Without stats the drawing is exactly the plain one.
  assert.deepEqual(drawGraph(AWKWARD, {}), drawGraph(AWKWARD));
  assert.ok(toDot(AWKWARD, { stats }).includes("10 runs · XDP_PASS 7, XDP_DROP 3"));
});
