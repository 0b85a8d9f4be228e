/**
 * `tsbpf run` with tc programs: verdicts named TC_ACT_* in text, JSON and --stats on both engines (the
 * seed's dispatcher ported to tc), `--global SECTION:NAME=VALUE` and `--show-globals` (a global
 * as the tail-call selector, counters read back), and one clear line for bad input: an XDP-only
 * flag on a tc program, a malformed or unknown --global.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildPacket, eth, ipv4, tcp } from "../../src/net/index.js";
import { runCli } from "../support/cli.js";
import { kernelSkipReason } from "../kernel/support.js";

const DISPATCH = "test/bpf/tc/tc_dispatch.bpf.o";
const TAILS = "test/bpf/tc/tc_tailcalls.bpf.o";
const XDP = "examples/tail-call/tail_call.bpf.o";

function withPacket<T>(dport: number, body: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-run-tc-"));
  const f = join(dir, "p.bin");
  writeFileSync(
    f,
    buildPacket([
      eth({}),
      ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
      tcp({ sport: 40000, dport, flags: "S" }),
    ]),
  );
  return body(f).finally(() => rmSync(dir, { recursive: true, force: true }));
}

for (const backend of ["vm", "kernel"] as const) {
  test(
    `run names tc verdicts TC_ACT_* in text and JSON (${backend})`,
    { skip: backend === "kernel" ? kernelSkipReason() : false },
    () =>
      withPacket(22, async (f) => {
        const args = ["run", DISPATCH, "--prog", "tc_main", "--data-in", f, "--backend", backend];
        const wired = [...args, "--tail", "prog_array:1=tc_port22"];
        const r = await runCli(wired);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /verdict: +TC_ACT_SHOT \(2\)/);
        assert.doesNotMatch(r.stdout, /XDP_/);
        assert.match(r.stdout, /tc: packet to port 22 processed, mark 0/);
        const j = JSON.parse((await runCli([...wired, "--json"])).stdout) as Record<string, unknown>;
        assert.equal(j.verdict, "TC_ACT_SHOT");
        assert.equal(j.retval, 2);
        // Slot 1 empty: the dispatcher falls through to TC_ACT_OK (0), which XDP would call ABORTED.
        const k = JSON.parse((await runCli([...args, "--json"])).stdout) as Record<string, unknown>;
        assert.equal(k.verdict, "TC_ACT_OK");
        // Per-stage stats name tc verdicts too.
        const st = await runCli([...wired, "--stats"]);
        assert.match(st.stdout, /tc_port22: 1 runs \(TC_ACT_SHOT 1\)/);
      }),
  );

  test(
    `run --global sets a selector and --show-globals reads counters back (${backend})`,
    { skip: backend === "kernel" ? kernelSkipReason() : false },
    () =>
      withPacket(80, async (f) => {
        const base = ["run", TAILS, "--data-in", f, "--backend", backend, "--tail", "jmp:2=slot2"];
        const r = await runCli([...base, "--prog", "entry", "--global", ".bss:selector=2", "--show-globals"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /verdict: +66\n/, "slot2 returns 12 + len (54): no TC_ACT name");
        assert.match(
          r.stdout,
          /globals:\n {2}\.bss:\n {4}selector = 2\n {4}stages = \[0,0,0,0\]\n {4}count = 0\n/,
        );
        const loop = await runCli([
          "run",
          TAILS,
          "--data-in",
          f,
          "--backend",
          backend,
          "--prog",
          "self_loop",
          "--tail",
          "loop:0=self_loop",
          "--global",
          ".bss:count=100",
          "--global",
          ".bss:stages=[1,2,3,4]",
          "--show-globals",
          "--json",
        ]);
        assert.equal(loop.code, 0, loop.stderr);
        const lines = loop.stdout.trim().split("\n");
        const last = JSON.parse(lines[lines.length - 1] as string) as {
          globals: Record<string, Record<string, unknown>>;
        };
        assert.equal(last.globals[".bss"]?.count, 134, "34 runs counted from 100");
        assert.deepEqual(last.globals[".bss"]?.stages, [1, 2, 3, 4]);
        // Without --global the object's own initial value.
        const plain = await runCli([...base, "--prog", "entry", "--show-globals"]);
        assert.match(plain.stdout, /verdict: +99\n/, "selector 0, slot 0 empty: falls through");
        assert.match(plain.stdout, / {4}selector = 0\n/);
      }),
  );
}

test("bad input to run with tc programs gets one clear line", () =>
  withPacket(22, async (f) => {
    const one = async (args: string[], re: RegExp) => {
      const r = await runCli(args);
      assert.equal(r.code === 0, false, args.join(" "));
      const lines = r.stderr.trim().split("\n");
      assert.match(lines[0] as string, re);
      assert.ok(lines.length <= 2, `one error line (and a hint): ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack");
    };
    await one(
      ["run", DISPATCH, "--prog", "tc_main", "--data-in", f, "--ingress-ifindex", "3"],
      /^tsbpf: run: --ingress-ifindex sets struct xdp_md of XDP programs; tc_main is a sched_cls program/,
    );
    await one(
      ["run", DISPATCH, "--prog", "tc_main", "--data-in", f, "--rx-queue", "1"],
      /^tsbpf: run: --rx-queue sets struct xdp_md/,
    );
    await one(
      ["run", TAILS, "--prog", "entry", "--data-in", f, "--global", "selector=1"],
      /--global takes SECTION:NAME=VALUE/,
    );
    await one(
      ["run", TAILS, "--prog", "entry", "--data-in", f, "--global", ".bss:nope=1"],
      /has no variable 'nope'/,
    );
    await one(
      ["run", TAILS, "--prog", "entry", "--data-in", f, "--global", ".bsss:selector=1"],
      /no global-data section '\.bsss'/,
    );
    await one(
      ["run", TAILS, "--prog", "entry", "--data-in", f, "--global", ".bss:selector=x1"],
      /neither an integer nor JSON/,
    );
    // XDP programs keep their flags.
    const x = await runCli(["run", XDP, "--prog", "main_prog", "--data-in", f, "--ingress-ifindex", "1"]);
    assert.equal(x.code, 0, x.stderr);
    assert.match(x.stdout, /verdict: +XDP_PASS \(2\)/);
  }));
