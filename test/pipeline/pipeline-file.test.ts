/**
 * Pipeline files: the seed's file runs as its loader does, several objects tail-call each other
 * on the VM, and every kind of bad file is one clear error naming the file and the field.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { isPipelineError } from "../../src/errors.js";
import * as net from "../../src/net/index.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import { spawnCli } from "../support/cli.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const PORT_EVENTS = resolve("examples/port-events/port_events.bpf.o");
const dir = mkdtempSync(join(tmpdir(), "tsbpf-pipeline-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const syn = (dport: number) =>
  net.buildPacket([
    net.eth({}),
    net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    net.tcp({ sport: 40000, dport, flags: "S" }),
  ]);

test("the seed's pipeline file runs as the seed's loader wires it", async () => {
  const p = await loadPipeline("examples/tail-call/seed.yaml");
  assert.equal(p.name, "seed");
  assert.deepEqual(p.entry(), { object: "main", program: "main_prog" });
  assert.deepEqual(p.attach, { iface: "veth0", mode: "auto", netns: undefined });
  assert.equal(p.pinDir, "/sys/fs/bpf/tsbpf/seed");
  using live = await p.load();
  assert.deepEqual((await live.run(syn(8080))).trace, ["Packet to port 8080 processed"]);
  assert.deepEqual((await live.run(syn(22))).trace, ["Packet to port 22 processed"]);
  const other = await live.run(syn(9999));
  assert.deepEqual([other.retval, other.trace], [2, []]);
});

test("programs of another object fill the slots, and run on the VM from one address space", async () => {
  const p = await loadPipeline(
    file(
      "two.yaml",
      `name: two
objects:
  dispatch: ${SEED}
  stages: ${SEED}
entry: dispatch:main_prog
slots:
  dispatch:prog_array:
    0: stages:port8080_prog
    1: stages:port22_prog
`,
    ),
  );
  assert.deepEqual(
    p.plan.slots.map((s) => `${s.object}:${s.map}[${s.key}]=${s.program.object}:${s.program.program}`),
    ["dispatch:prog_array[0]=stages:port8080_prog", "dispatch:prog_array[1]=stages:port22_prog"],
  );
  using live = await p.load();
  const r = await live.run(syn(22));
  assert.equal(r.fault, undefined);
  assert.deepEqual(r.trace, ["Packet to port 22 processed"]);
  assert.deepEqual(r.chain, ["main_prog", "port22_prog"]);
  // The stages' own prog array stays empty: each object's maps are its own.
  assert.equal(live.collections.stages?.maps.prog_array?.get(0), undefined);
});

test("globals set const volatile values before load", async () => {
  const p = await loadPipeline(
    file(
      "typed.yaml",
      `name: typed
object: ${resolve("test/bpf/typed/typed.bpf.o")}
entry: typed_prog
globals:
  drop_port: 53
  banner: hi
`,
    ),
  );
  using live = await p.load();
  const rodata = live.collections.main?.maps[".rodata"]?.get(0);
  assert.ok(rodata);
  assert.equal(new DataView(rodata.buffer, rodata.byteOffset).getUint16(0, true), 53);
});

/** Each bad file, and the one error it must give. */
const BAD: [string, string, RegExp][] = [
  ["yaml", "name: seed\nobject: [unclosed\n", /^yaml\.yaml:\d+:\d+: not valid YAML: /],
  [
    "top",
    "- just\n- a list\n",
    /^top\.yaml: expected a mapping of name, object, entry, slots\.\.\., found a list/,
  ],
  [
    "name-type",
    `name: [1, 2]\nobject: ${SEED}\nentry: main_prog\n`,
    /^name-type\.yaml: name: expected the pipeline's name, found a list/,
  ],
  [
    "typo-key",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslot:\n  prog_array: {0: port8080_prog}\n`,
    /^typo-key\.yaml: slot: unknown key 'slot' \(did you mean 'slots'\?\)/,
  ],
  [
    "dotted-name",
    `name: seed.v2\nobject: ${SEED}\nentry: main_prog\n`,
    /^dotted-name\.yaml: name: 'seed\.v2' is not a name: use letters, digits, '_' and '-'/,
  ],
  [
    "dotted-pin",
    `name: s\nobject: ${SEED}\nentry: main_prog\npin: /sys/fs/bpf/tsbpf/seed.v2\n`,
    /^dotted-pin\.yaml: pin: '\/sys\/fs\/bpf\/tsbpf\/seed\.v2' has a '\.' in a name/,
  ],
  [
    "no-object",
    "name: s\nentry: main_prog\n",
    /^no-object\.yaml: missing object: \(the path of a \.bpf\.o\) or objects:/,
  ],
  [
    "missing-file",
    "name: s\nobject: nope.bpf.o\nentry: main_prog\n",
    /^missing-file\.yaml: object: cannot read nope\.bpf\.o: no such file/,
  ],
  ["not-elf", "name: s\nobject: not-elf.yaml\nentry: main_prog\n", /^not-elf\.yaml: object: not-elf\.yaml: /],
  [
    "unknown-program",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    1: port443_prog\n`,
    /^unknown-program\.yaml: slots\.prog_array\.1: no program 'port443_prog' in tail_call\.bpf\.o/,
  ],
  [
    "the issue's example",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    2: port443_prog\n`,
    /^the issue's example\.yaml: slots\.prog_array\.2: no program 'port443_prog' in tail_call\.bpf\.o/,
  ],
  [
    "past-max",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    2: port22_prog\n`,
    /slots\.prog_array\.2: slot 2 is past prog_array's max_entries 2/,
  ],
  [
    "key-not-number",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    one: port22_prog\n`,
    /slots\.prog_array\.one: slot key 'one' is not a number/,
  ],
  [
    "unknown-map",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  jmp_table:\n    0: port22_prog\n`,
    /slots\.jmp_table: no prog array 'jmp_table' in tail_call\.bpf\.o/,
  ],
  [
    "unknown-entry",
    `name: s\nobject: ${SEED}\nentry: main\n`,
    /^unknown-entry\.yaml: entry: no program 'main' in tail_call\.bpf\.o/,
  ],
  ["no-entry", `name: s\nobject: ${SEED}\n`, /^no-entry\.yaml: entry: missing: expected the entry program/],
  [
    "bad-mode",
    `name: s\nobject: ${SEED}\nentry: main_prog\nattach:\n  iface: veth0\n  mode: fast\n`,
    /attach\.mode: 'fast' is not a mode: expected auto, native, generic, offload/,
  ],
  [
    "bad-tc-mode",
    `name: s\nobject: ${SEED}\nentry: main_prog\nattach:\n  iface: veth0\n  hook: tc-ingress\n  tc-mode: fiter\n`,
    /^bad-tc-mode\.yaml: attach\.tc-mode: 'fiter' is not a tc mode \(did you mean 'filter'\?\): expected auto, tcx, filter/,
  ],
  [
    "tc-mode-on-xdp",
    `name: s\nobject: ${SEED}\nentry: main_prog\nattach:\n  iface: veth0\n  tc-mode: filter\n`,
    /^tc-mode-on-xdp\.yaml: attach\.tc-mode: goes with a tc hook \(hook: tc-ingress or tc-egress\)/,
  ],
  [
    "bad-version",
    `version: 2\nname: s\nobject: ${SEED}\nentry: main_prog\n`,
    /version: version 2 is not one this tsbpf reads \(1\)/,
  ],
  [
    "unknown-alias",
    `name: s\nobjects:\n  a: ${SEED}\nentry: b:main_prog\n`,
    /entry: no object 'b' for program b:main_prog/,
  ],
  [
    "unknown-global",
    `name: s\nobject: ${SEED}\nentry: main_prog\nglobals:\n  drop_port: 1\n`,
    /globals\.drop_port: no const volatile variable 'drop_port' in tail_call\.bpf\.o/,
  ],
  [
    "events-not-mapping",
    `name: s\nobject: ${SEED}\nentry: main_prog\nevents: [rb]\n`,
    /^events-not-mapping\.yaml: events: expected a mapping of event map: record struct \(~ for bytes\), found a list/,
  ],
  [
    "events-not-event-map",
    `name: s\nobject: ${SEED}\nentry: main_prog\nevents:\n  prog_array: ~\n`,
    /events\.prog_array: no ring buffer or perf event array 'prog_array' in tail_call\.bpf\.o/,
  ],
  [
    "events-unknown-struct",
    `name: s\nobject: ${PORT_EVENTS}\nentry: main_prog\nevents:\n  events: port_evnt\n`,
    /events\.events: no struct or union 'port_evnt' in the object's BTF/,
  ],
  [
    "duplicate-key",
    `name: s\nname: t\nobject: ${SEED}\nentry: main_prog\n`,
    /^duplicate-key\.yaml:\d+:\d+: not valid YAML: /,
  ],
];

test("every bad pipeline file is one PipelineError naming the file and the field", async () => {
  for (const [name, text, want] of BAD) {
    const path = file(`${name}.yaml`, text);
    await assert.rejects(loadPipeline(path), (e: unknown) => {
      assert.ok(isPipelineError(e), `${name}: ${String(e)}`);
      assert.match(e.message, want, name);
      return true;
    });
  }
});

test("the CLI prints a bad pipeline file as one tsbpf: line, and runs a good one", () => {
  const bad = file(
    "cli-bad.yaml",
    `name: s\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    0: port443_prog\n`,
  );
  const r = spawnCli(["run", bad, "--data-in", file("pkt.bin", "")]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^tsbpf: cli-bad\.yaml: slots\.prog_array\.0: no program 'port443_prog' in tail_call\.bpf\.o/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");

  const pkt = join(dir, "syn22.bin");
  writeFileSync(pkt, syn(22));
  const ok = spawnCli(["run", "examples/tail-call/seed.yaml", "--data-in", pkt, "--json"]);
  assert.equal(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout) as { verdict: string; trace: string[]; chain: string[] };
  assert.deepEqual(
    [j.verdict, j.trace, j.chain],
    ["XDP_PASS", ["Packet to port 22 processed"], ["main_prog", "port22_prog"]],
  );
  const mixed = spawnCli([
    "run",
    "examples/tail-call/seed.yaml",
    "--tail",
    "prog_array:0=port22_prog",
    "--data-in",
    pkt,
  ]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--tail goes with an object/);
});

test("a pipeline checks and draws as the objects do, and check reports a missing program as a finding", async () => {
  const seed = await loadPipeline("examples/tail-call/seed.yaml");
  assert.deepEqual(seed.check().findings, []);
  assert.deepEqual(
    seed.graph().edges.map((e) => `${e.from} -${e.map}[${e.key}]@${e.site.file}:${e.site.line}-> ${e.to}`),
    [
      "main_prog -prog_array[0]@tail_call.bpf.c:52-> port8080_prog",
      "main_prog -prog_array[1]@tail_call.bpf.c:52-> port22_prog",
    ],
  );
  const half = file(
    "half.yaml",
    `name: half\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    0: port8080_prog\n`,
  );
  const r = spawnCli(["check", half]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^tail_call\.bpf\.c:52: warning: prog_array\[1\] is empty: packets to this site fall through \[empty-slot\]$/m,
  );
  const typo = file(
    "typo.yaml",
    `name: typo\nobject: ${SEED}\nentry: main_prog\nslots:\n  prog_array:\n    0: port443_prog\n`,
  );
  const t = spawnCli(["check", typo, "--json"]);
  assert.equal(t.code, 1);
  const j = JSON.parse(t.stdout) as { findings: { code: string; severity: string }[] };
  assert.ok(
    j.findings.some((f) => f.code === "missing-program" && f.severity === "error"),
    t.stdout,
  );
  const g = spawnCli(["graph", half, "--format", "dot"]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /empty: falls through/);
});
