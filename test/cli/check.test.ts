/**
 * `tsbpf check` as a user runs it: diagnostics text, the JSON shape, exit statuses with and
 * without --strict, typo'd names, and the empty-slot warning `attach` prints before attaching.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli, spawnCli } from "../support/cli.js";

const SEED = "examples/tail-call/tail_call.bpf.o";
const SLOT0 = ["--tail", "prog_array:0=port8080_prog"];
const SLOT1 = ["--tail", "prog_array:1=port22_prog"];
const EMPTY_1 =
  "tail_call.bpf.c:52: warning: prog_array[1] is empty: packets to this site fall through [empty-slot]";

test("check: the seed wired as the seed does is clean and exits 0, also with --strict", async () => {
  const r = await runCli(["check", SEED, ...SLOT0, ...SLOT1]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "tail_call.bpf.o: no findings (3 programs, 2 tail-call edges)\n");
  assert.equal(r.stderr, "");
  assert.equal((await runCli(["check", SEED, ...SLOT0, ...SLOT1, "--strict"])).code, 0);
});

test("check: slot 0 only is one compiler-style warning; exit 0, or 1 with --strict", async () => {
  const r = await runCli(["check", SEED, ...SLOT0]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\n"), [EMPTY_1, "tail_call.bpf.o: 0 errors, 1 warning", ""]);
  const strict = spawnCli(["check", SEED, ...SLOT0, "--strict"]);
  assert.equal(strict.code, 1, "a real process exits 1 on a warning under --strict");
  assert.ok(strict.stdout.startsWith(`${EMPTY_1}\n`));
});

test("check: an error exits 1 without --strict", async () => {
  const r = spawnCli(["check", "test/bpf/check/stack_tail.bpf.o"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    /^stack_tail\.bpf\.c:25: error: call path entry \(128 bytes\) → relay \(160 bytes\) → do_tail: .*previous frames is 288 bytes" \[stack-with-tail-calls\]\n/,
  );
});

test("check --json prints exactly the documented shape", async () => {
  const r = await runCli(["check", SEED, ...SLOT0, "--entry", "main_prog", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const site = { insn: 37, file: "tail_call.bpf.c", line: 52 };
  assert.deepEqual(JSON.parse(r.stdout), {
    findings: [
      {
        severity: "warning",
        code: "empty-slot",
        program: "main_prog",
        map: "prog_array",
        key: 1,
        site,
        message: "prog_array[1] is empty: packets to this site fall through",
      },
      {
        severity: "warning",
        code: "unreachable-program",
        program: "port22_prog",
        map: null,
        key: null,
        site: { insn: 0, file: "tail_call.bpf.c", line: 74 },
        message: "port22_prog never runs: it is not an entry and no slot holds it",
      },
    ],
    graph: {
      nodes: [
        { name: "main_prog", object: "main", type: "xdp", entry: true },
        { name: "port8080_prog", object: "main", type: "xdp", entry: false },
        { name: "port22_prog", object: "main", type: "xdp", entry: false },
      ],
      edges: [
        { from: "main_prog", to: "port8080_prog", map: "prog_array", key: 0, site },
        { from: "main_prog", to: null, map: "prog_array", key: 1, site },
      ],
    },
  });
  // A finding with no site or map still has every key, as null.
  const typo = JSON.parse((await runCli(["check", SEED, "--entry", "mian_prog", "--json"])).stdout) as {
    findings: Record<string, unknown>[];
  };
  assert.deepEqual(Object.keys(typo.findings[0] ?? {}), [
    "severity",
    "code",
    "program",
    "map",
    "key",
    "site",
    "message",
  ]);
  assert.equal(typo.findings[0]?.site, null);
});

test("check: a typo'd --entry or --tail program is one clear missing-program line, exit 1", async () => {
  const entry = await runCli(["check", SEED, ...SLOT0, ...SLOT1, "--entry", "mian_prog"]);
  assert.equal(entry.code, 1);
  assert.deepEqual(entry.stdout.split("\n"), [
    "tail_call.bpf.o: error: entry 'mian_prog': no program 'mian_prog' in tail_call.bpf.o (it has main_prog, port8080_prog, port22_prog) [missing-program]",
    "tail_call.bpf.o: 1 error, 0 warnings",
    "",
  ]);
  const tail = await runCli(["check", SEED, ...SLOT0, "--tail", "prog_array:1=port22_prgo"]);
  assert.equal(tail.code, 1);
  assert.deepEqual(tail.stdout.split("\n"), [
    "tail_call.bpf.o: error: --tail prog_array:1=port22_prgo: no program 'port22_prgo' in tail_call.bpf.o (it has main_prog, port8080_prog, port22_prog) [missing-program]",
    "tail_call.bpf.o: 1 error, 0 warnings",
    "",
  ]);
});

test("check: bad arguments are one tsbpf: line with exit 2", async () => {
  for (const args of [
    ["check"],
    ["check", "no/such.bpf.o"],
    ["check", SEED, "--tail", "prog_array=1"],
    ["check", SEED, "--bogus"],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, /^tsbpf: [^\n]+\n$/, args.join(" "));
  }
  const help = await runCli(["check", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: tsbpf check \(OBJ .* \| PIPELINE\.yaml\)/);
});

test("attach warns about empty slots once, before it loads or attaches anything", async () => {
  // The interface does not exist, so attach fails after the warning (and, without root, at load).
  const r = await runCli(["attach", SEED, "--prog", "main_prog", "--iface", "tsbpfnosuch0", ...SLOT0]);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.split("\n");
  assert.equal(lines[0], EMPTY_1, r.stderr);
  assert.equal(lines.filter((l) => l.includes("[empty-slot]")).length, 1);
  assert.equal(r.stdout, "", "nothing was attached");
  // Fully wired: no warning.
  const wired = await runCli([
    "attach",
    SEED,
    "--prog",
    "main_prog",
    "--iface",
    "tsbpfnosuch0",
    ...SLOT0,
    ...SLOT1,
  ]);
  assert.doesNotMatch(wired.stderr, /empty-slot/);
});
