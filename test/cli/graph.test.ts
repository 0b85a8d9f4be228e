/**
 * `tsbpf graph` on the seed: the SVG a user gets is read back with an XML parser for every node
 * and edge (wired fully, and with slot 1 empty), the DOT and Mermaid texts likewise, and every
 * mistake is one `tsbpf:` line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "../support/cli.js";
import { readSvgGraph } from "../support/svg-graph.js";

const OBJ = "examples/tail-call/tail_call.bpf.o";
const BOTH = ["--tail", "prog_array:0=port8080_prog", "--tail", "prog_array:1=port22_prog"];
const SLOT0 = ["--tail", "prog_array:0=port8080_prog"];
const RED = "#c62828";

function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-graph-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test("graph -o seed.svg: the three programs, main_prog the entry, both tail calls with map[key] and the C line", () =>
  withTmp(async (dir) => {
    const out = join(dir, "seed.svg");
    const r = await runCli(["graph", OBJ, ...BOTH, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "", "the picture goes to the file");
    const { nodes, edges } = readSvgGraph(readFileSync(out, "utf8"));
    assert.deepEqual(
      nodes.map((n) => [n.title, n.texts]),
      [
        ["main_prog", ["main_prog", "xdp · entry"]],
        ["port8080_prog", ["port8080_prog", "xdp"]],
        ["port22_prog", ["port22_prog", "xdp"]],
      ],
    );
    const main = nodes.find((n) => n.title === "main_prog");
    assert.ok(main?.classes.includes("entry"));
    assert.equal(main?.outlines, 2, "the entry has a double border");
    for (const n of nodes.filter((n) => n.title !== "main_prog")) {
      assert.ok(!n.classes.includes("entry"), `${n.title} is no entry`);
      assert.equal(n.outlines, 1);
    }
    assert.deepEqual(edges.map((e) => [e.from, e.to, e.texts, e.stroke, e.dashed]).sort(), [
      ["main_prog", "port22_prog", ["prog_array[1]", "tail_call.bpf.c:52"], "black", false],
      ["main_prog", "port8080_prog", ["prog_array[0]", "tail_call.bpf.c:52"], "black", false],
    ]);
  }));

test("graph with slot 1 empty: the call into it is a red dashed arrow into an 'empty: falls through' box", () =>
  withTmp(async (dir) => {
    const out = join(dir, "slot0.svg");
    const r = await runCli(["graph", OBJ, ...SLOT0, "--entry", "main_prog", "--format", "svg", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const { nodes, edges } = readSvgGraph(readFileSync(out, "utf8"));
    const empty = nodes.filter((n) => n.classes.includes("empty"));
    assert.equal(empty.length, 1);
    assert.deepEqual(empty[0]?.texts, ["empty: falls through"]);
    assert.equal(empty[0]?.stroke, RED);
    assert.ok(empty[0]?.dashed);
    const port22 = nodes.find((n) => n.title === "port22_prog");
    assert.deepEqual(port22?.texts, ["port22_prog", "xdp"], "--entry: port22_prog is drawn, not an entry");
    assert.deepEqual(edges.map((e) => [e.from, e.to, e.texts, e.stroke, e.dashed]).sort(), [
      ["main_prog", empty[0]?.title, ["prog_array[1]", "tail_call.bpf.c:52"], RED, true],
      ["main_prog", "port8080_prog", ["prog_array[0]", "tail_call.bpf.c:52"], "black", false],
    ]);
  }));

test("graph without --entry: every program no slot holds is an entry", async () => {
  const r = await runCli(["graph", OBJ, ...SLOT0, "--format", "svg"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^<\?xml/, "SVG goes to standard output without -o");
  const { nodes } = readSvgGraph(r.stdout);
  assert.deepEqual(
    nodes.filter((n) => n.classes.includes("entry")).map((n) => [n.title, n.texts[1], n.outlines]),
    [
      ["main_prog", "xdp · entry", 2],
      ["port22_prog", "xdp · entry", 2],
    ],
  );
});

test("graph prints Mermaid by default, DOT with --format dot, and takes the format from -o's extension", () =>
  withTmp(async (dir) => {
    const mermaid = await runCli(["graph", OBJ, ...SLOT0]);
    assert.equal(mermaid.code, 0, mermaid.stderr);
    assert.deepEqual(mermaid.stdout.split("\n").slice(0, 7), [
      "flowchart LR",
      '  n0("main_prog<br/>xdp · entry")',
      '  n1("port8080_prog<br/>xdp")',
      '  n2("port22_prog<br/>xdp · entry")',
      '  n3(["empty: falls through"])',
      '  n0 -->|"prog_array[0]<br/>tail_call.bpf.c:52"| n1',
      '  n0 -.->|"prog_array[1]<br/>tail_call.bpf.c:52"| n3',
    ]);
    assert.match(mermaid.stdout, /^ {2}class n0,n2 entry$/m);
    assert.match(mermaid.stdout, /^ {2}linkStyle 1 stroke:#c62828/m);

    const dot = await runCli(["graph", OBJ, ...BOTH, "--format", "dot"]);
    assert.equal(dot.code, 0, dot.stderr);
    assert.match(dot.stdout, /^digraph pipeline \{\n/);
    assert.match(
      dot.stdout,
      /^ {2}"main_prog" -> "port22_prog" \[label="prog_array\[1\]\\ntail_call\.bpf\.c:52"/m,
    );
    assert.doesNotMatch(dot.stdout, /empty/, "every slot filled: nothing falls through");

    for (const [file, start] of [
      ["p.dot", "digraph pipeline {"],
      ["p.gv", "digraph pipeline {"],
      ["p.mmd", "flowchart LR"],
      ["p.SVG", "<?xml"],
    ] as const) {
      const r = await runCli(["graph", OBJ, ...BOTH, "-o", join(dir, file)]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(join(dir, file), "utf8").startsWith(start), `${file} holds ${start}`);
    }
    const forced = await runCli(["graph", OBJ, "--format", "dot", "-o", join(dir, "p.txt")]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(
      readFileSync(join(dir, "p.txt"), "utf8").startsWith("digraph"),
      "--format wins over the extension",
    );
  }));

test("graph mistakes are one tsbpf: line each", () =>
  withTmp(async (dir) => {
    const cases: [string[], string][] = [
      [["graph", OBJ, "--format", "png"], "tsbpf: graph: --format is mermaid, dot or svg, not 'png'"],
      [
        ["graph", OBJ, "-o", join(dir, "p.png")],
        `tsbpf: graph: cannot tell the format from '${join(dir, "p.png")}' — hint: give --format mermaid, dot or svg, or name the file .mmd, .dot or .svg`,
      ],
      [
        ["graph", OBJ, "--entry", "nope"],
        "tsbpf: graph: --entry: no program named 'nope' — hint: programs: main_prog, port8080_prog, port22_prog",
      ],
      [
        ["graph", OBJ, "--tail", "prog_array:1=nope"],
        "tsbpf: --tail prog_array:1=nope: no program named 'nope' — hint: programs in this object: main_prog, port8080_prog, port22_prog",
      ],
      [["graph"], "tsbpf: graph: missing the object file (tsbpf graph OBJ ...)"],
      [
        ["graph", OBJ, "-o", join(dir, "no/such/dir/p.svg")],
        `tsbpf: -o ${join(dir, "no/such/dir/p.svg")}: cannot write: no such directory`,
      ],
    ];
    for (const [args, line] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, `${line}\n`);
      assert.equal(r.stdout, "");
    }
  }));
