/**
 * `checkPlan` on objects built for it (test/bpf/check/, one per finding code plus clean ones) and
 * on the seed: each finding with its severity, program, map, key and C source line, and nothing
 * else. The expected line is the one carrying a `check:` marker comment in the C source.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { checkPlan } from "../../src/tailcall/check-plan.js";
import { formatFinding } from "../../src/tailcall/finding-text.js";
import { type Finding, type PipelinePlan, planFromObject } from "../../src/tailcall/plan.js";
import { parseTailArg } from "../../src/tailcall/wiring.js";

const SEED = "examples/tail-call/tail_call.bpf.o";
const seedTail = (...args: string[]) => args.map(parseTailArg);

function load(path: string): CollectionSpec {
  return loadCollectionSpec(readFileSync(path), { file: path.replace(/^.*\//, "") });
}

/** The line of `check/NAME.bpf.c` whose marker comment contains `marker`. */
function markedLine(name: string, marker: string): number {
  const lines = readFileSync(`test/bpf/check/${name}.bpf.c`, "utf8").split("\n");
  const at = lines.findIndex((l) => l.includes(`/* check: ${marker}`));
  assert.ok(at >= 0, `no marker '${marker}' in ${name}.bpf.c`);
  return at + 1;
}

/** The parts of a finding a test pins down (the message is checked separately). */
function brief(f: Finding) {
  return {
    severity: f.severity,
    code: f.code,
    program: f.program,
    map: f.map,
    key: f.key,
    file: f.site?.file,
    line: f.site?.line,
  };
}

function checkObject(name: string): Finding[] {
  return checkPlan(planFromObject(load(`test/bpf/check/${name}.bpf.o`))).findings;
}

test("the clean objects have no findings", () => {
  for (const name of ["clean", "stack_ok", "unknown_key"]) assert.deepEqual(checkObject(name), [], name);
});

test("each test object reports its one finding at the marked C line", () => {
  const cases: [string, string, Omit<ReturnType<typeof brief>, "file" | "line">][] = [
    [
      "empty_slot",
      "empty-slot",
      { severity: "warning", code: "empty-slot", program: "entry", map: "jmp", key: 2 },
    ],
    [
      "key_range",
      "key-out-of-range",
      { severity: "warning", code: "key-out-of-range", program: "entry", map: "jmp", key: 5 },
    ],
    [
      "unreachable",
      "unreachable-program",
      { severity: "warning", code: "unreachable-program", program: "orphan", map: undefined, key: undefined },
    ],
    [
      "cycle",
      "tail-call-cycle",
      { severity: "warning", code: "tail-call-cycle", program: "pong", map: "jmp", key: 0 },
    ],
    [
      "stack_tail",
      "stack-with-tail-calls",
      { severity: "error", code: "stack-with-tail-calls", program: "entry", map: "jmp", key: 0 },
    ],
    [
      "type_mismatch",
      "prog-type-mismatch",
      { severity: "error", code: "prog-type-mismatch", program: "classifier", map: "jmp", key: 0 },
    ],
  ];
  for (const [name, marker, expected] of cases) {
    const findings = checkObject(name);
    assert.deepEqual(
      findings.map(brief),
      [{ ...expected, file: `${name}.bpf.c`, line: markedLine(name, marker) }],
      name,
    );
  }
});

test("messages say what happens: the slot, the loop, the call path and the verifier's words", () => {
  const [empty] = checkObject("empty_slot");
  assert.equal(empty?.message, "jmp[2] is empty: packets to this site fall through");
  const [range] = checkObject("key_range");
  assert.equal(range?.message, "jmp[5] is past max_entries 2: packets to this site always fall through");
  const [orphan] = checkObject("unreachable");
  assert.equal(
    orphan?.message,
    "orphan never runs: it sits in jmp[3], and nothing that runs calls that slot",
  );
  const [cycle] = checkObject("cycle");
  assert.match(cycle?.message ?? "", /can come back to ping \(ping → pong → ping\).*33 tail calls/);
  const [stack] = checkObject("stack_tail");
  assert.equal(
    stack?.message,
    "call path entry (128 bytes) → relay (160 bytes) → do_tail: a tail call under 288 bytes of caller stack, " +
      '256 or more: the verifier refuses it with "tail_calls are not allowed when call stack of previous frames is 288 bytes"',
  );
  const [types] = checkObject("type_mismatch");
  assert.match(
    types?.message ?? "",
    /jmp\[0\] holds classifier, a sched_cls program, but jmp belongs to xdp programs/,
  );
});

test("the seed wired as the seed does (slots 0 and 1) has no findings, and its graph is the pipeline", () => {
  const r = checkPlan(
    planFromObject(load(SEED), { tail: seedTail("prog_array:0=port8080_prog", "prog_array:1=port22_prog") }),
  );
  assert.deepEqual(r.findings, []);
  assert.deepEqual(r.graph.nodes, [
    { name: "main_prog", object: "main", type: "xdp", entry: true },
    { name: "port8080_prog", object: "main", type: "xdp", entry: false },
    { name: "port22_prog", object: "main", type: "xdp", entry: false },
  ]);
  const site = { insn: 37, file: "tail_call.bpf.c", line: 52 };
  assert.deepEqual(r.graph.edges, [
    { from: "main_prog", to: "port8080_prog", map: "prog_array", key: 0, site },
    { from: "main_prog", to: "port22_prog", map: "prog_array", key: 1, site },
  ]);
});

test("the seed with slot 0 only: one warning, prog_array[1] at line 52, as a compiler prints it", () => {
  const plan = planFromObject(load(SEED), { tail: seedTail("prog_array:0=port8080_prog") });
  const r = checkPlan(plan);
  assert.deepEqual(
    r.findings.map((f) => formatFinding(f, plan.name)),
    ["tail_call.bpf.c:52: warning: prog_array[1] is empty: packets to this site fall through [empty-slot]"],
  );
  assert.deepEqual(r.graph.edges[1], {
    from: "main_prog",
    to: null,
    map: "prog_array",
    key: 1,
    site: { insn: 37, file: "tail_call.bpf.c", line: 52 },
  });
  // With the entry named, port22_prog (in no slot) can never run.
  const named = checkPlan(
    planFromObject(load(SEED), { tail: seedTail("prog_array:0=port8080_prog"), entry: "main_prog" }),
  );
  assert.deepEqual(
    named.findings.map((f) => [f.code, f.program]),
    [
      ["empty-slot", "main_prog"],
      ["unreachable-program", "port22_prog"],
    ],
  );
  assert.match(
    named.findings[1]?.message ?? "",
    /port22_prog never runs: it is not an entry and no slot holds it/,
  );
});

test("a key that is not a constant reaches every filled slot; with none filled it is an empty-slot", () => {
  const spec = load("test/bpf/check/unknown_key.bpf.o");
  const r = checkPlan(planFromObject(spec));
  const site = r.graph.edges[0]?.site;
  assert.equal(site?.line, markedLine("unknown_key", "unknown key"));
  assert.deepEqual(
    r.graph.edges.map((e) => [e.from, e.to, e.key]),
    [
      ["entry", "by_byte", 7],
      ["entry", null, null],
    ],
  );
  const bare = checkPlan({ ...planFromObject(spec), slots: [] });
  assert.deepEqual(
    bare.findings.map((f) => [f.code, f.key, f.message]),
    [["empty-slot", undefined, "jmp is empty: packets to this site fall through"]],
  );
});

test("names that are not there are missing-program errors, one each, and the slot is not also 'empty'", () => {
  const spec = load(SEED);
  const typo = checkPlan(
    planFromObject(spec, {
      tail: seedTail("prog_array:0=port8080_prog", "prog_array:1=port22_prgo"),
      entry: "mian_prog",
    }),
  );
  assert.deepEqual(
    typo.findings.map((f) => formatFinding(f, "tail_call.bpf.o")),
    [
      "tail_call.bpf.o: error: --tail prog_array:1=port22_prgo: no program 'port22_prgo' in tail_call.bpf.o " +
        "(it has main_prog, port8080_prog, port22_prog) [missing-program]",
      "tail_call.bpf.o: error: entry 'mian_prog': no program 'mian_prog' in tail_call.bpf.o " +
        "(it has main_prog, port8080_prog, port22_prog) [missing-program]",
    ],
  );
  const maps = checkPlan(
    planFromObject(spec, {
      tail: seedTail(
        "prog_array:0=port8080_prog",
        "prog_array:1=port22_prog",
        "jmp:0=port22_prog",
        "prog_array:9=port22_prog",
      ),
    }),
  );
  assert.deepEqual(
    maps.findings.map((f) => [f.severity, f.code, f.message]),
    [
      [
        "error",
        "missing-program",
        "--tail jmp:0=port22_prog: no map 'jmp' in tail_call.bpf.o (prog arrays there: prog_array)",
      ],
      [
        "error",
        "key-out-of-range",
        "--tail prog_array:9=port22_prog: slot 9 is past the end of prog_array (max_entries 2): it cannot be filled",
      ],
    ],
  );
  const globals = checkPlan(
    planFromObject(load("test/bpf/typed/typed.bpf.o"), { tail: seedTail("counters:0=typed_prog") }),
  );
  assert.match(globals.findings[0]?.message ?? "", /map 'counters' is a \w+, not a prog_array/);
});

test("two objects: a pinned-by-name prog array is one map, others stay their object's; shared names are qualified", () => {
  const plan: PipelinePlan = {
    name: "multi.yaml",
    objects: {
      disp: load("test/bpf/check/multi_dispatch.bpf.o"),
      hand: load("test/bpf/check/multi_handlers.bpf.o"),
    },
    entries: [{ object: "disp", program: "dispatch" }],
    slots: [
      {
        object: "hand",
        map: "shared",
        key: 0,
        program: { object: "hand", program: "handler" },
        origin: "pipeline",
      },
      {
        object: "hand",
        map: "local",
        key: 0,
        program: { object: "hand", program: "other" },
        origin: "pipeline",
      },
    ],
  };
  const r = checkPlan(plan);
  assert.deepEqual(
    r.graph.nodes.map((n) => [n.name, n.object, n.entry]),
    [
      ["dispatch", "disp", true],
      ["disp:handler", "disp", false],
      ["hand:handler", "hand", false],
      ["other", "hand", false],
    ],
  );
  assert.deepEqual(
    r.graph.edges.map((e) => [e.from, e.to, e.map, e.key, e.site.line]),
    [
      ["dispatch", "hand:handler", "shared", 0, markedLine("multi_dispatch", "multi shared[0]")],
      ["dispatch", null, "local", 0, markedLine("multi_dispatch", "multi local[0]")],
    ],
  );
  assert.deepEqual(
    r.findings.map((f) => [f.code, f.program, f.map ?? null, f.key ?? null]),
    [
      ["empty-slot", "dispatch", "local", 0],
      ["unreachable-program", "disp:handler", null, null],
      ["unreachable-program", "other", null, null],
    ],
  );
  assert.match(r.findings[2]?.message ?? "", /other never runs: it sits in local\[0\]/);

  const wrongObject = checkPlan({
    ...plan,
    slots: [
      {
        object: "hand",
        map: "shared",
        key: 1,
        program: { object: "parse", program: "x" },
        origin: "pipeline",
      },
    ],
  });
  assert.equal(wrongObject.findings[0]?.code, "missing-program");
  assert.equal(
    wrongObject.findings[0]?.message,
    "slot hand:shared[1]: no object 'parse' in the pipeline (objects: disp, hand)",
  );
});

test("a program that tail-calls itself through a slot is a cycle of one", () => {
  const r = checkPlan(planFromObject(load("test/bpf/fixtures/tailcalls.bpf.o"), { entry: "chain" }));
  const cycles = r.findings.filter((f) => f.code === "tail-call-cycle");
  assert.deepEqual(
    cycles.map((f) => [f.program, f.map, f.key]),
    [["chain", "jmp_chain", 0]],
  );
  assert.match(cycles[0]?.message ?? "", /\(chain → chain\)/);
});

test("stack-with-tail-calls counts the frames as the verifier does: 256 is refused, 240 is not", () => {
  const at = (f: string) =>
    checkPlan(planFromObject(load(`test/bpf/edge/${f}.bpf.o`)))
      .findings.filter((x) => x.code === "stack-with-tail-calls")
      .map((x) => /previous frames is (\d+) bytes/.exec(x.message)?.[1]);
  assert.deepEqual(at("tail_stack_256"), ["256"]);
  assert.deepEqual(at("tail_stack_big"), ["304"]);
  assert.deepEqual(at("tail_stack_ok"), []);
});
