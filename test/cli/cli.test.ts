import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildPacket, eth, ipv4, tcp, udp } from "../../src/net/index.js";
import { readCapture } from "../../src/net/pcapng.js";
import { writePcap } from "../../src/net/pcap.js";
import { runCli, spawnCli } from "../support/cli.js";

const OBJ = "examples/tail-call/tail_call.bpf.o";

function tcpTo(dport: number): Uint8Array {
  return buildPacket([
    eth({}),
    ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }),
    tcp({ sport: 40000, dport, flags: "S" }),
  ]);
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "tsbpf-cli-"));
}

test("demo shows the seed's lines, each packet's verdict and a summary", async () => {
  const r = await runCli(["demo"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /bpf_trace_printk: Packet to port 8080 processed/);
  assert.match(r.stdout, /bpf_trace_printk: Packet to port 22 processed/);
  assert.equal(r.stdout.match(/Packet to port 8080 processed/g)?.length, 2, "SYN and data to 8080");
  assert.equal(r.stdout.match(/Packet to port 22 processed/g)?.length, 1);
  assert.match(r.stdout, /#3 +TCP 10\.0\.0\.1:40443 > 10\.0\.0\.2:443 \[S\] +XDP_PASS +main_prog\n/);
  assert.match(r.stdout, /ARP who-has .* XDP_PASS/);
  assert.match(
    r.stdout,
    /summary: 6 packets: 6 XDP_PASS; tail calls: port8080_prog 2, port22_prog 1; 3 trace lines/,
  );
});

test("inspect lists programs, tail-call sites, maps and globals; --json has named entries", async () => {
  const r = await runCli(["inspect", OBJ]);
  assert.equal(r.code, 0, r.stderr);
  // clang merged the two bpf_tail_call lines into this one call (BTF line 0): the switch they are in.
  assert.match(r.stdout, /main_prog +xdp +xdp +40 +insn 37: prog_array\[\{0,1\}\] at tail_call\.bpf\.c:52\n/);
  assert.match(r.stdout, /prog_array +prog_array +4 +4 +2/);
  assert.match(r.stdout, /port8080_prog\.____fmt +\.rodata +0 +30 +const char\[30\]/);
  const j = await runCli(["inspect", OBJ, "--json"]);
  const report = JSON.parse(j.stdout) as {
    programs: { name: string; tailCalls: { insn: number; map: string; keys: number[] }[] }[];
    maps: { name: string; type: string; maxEntries: number }[];
  };
  assert.deepEqual(
    report.programs.map((p) => p.name),
    ["main_prog", "port8080_prog", "port22_prog"],
  );
  assert.deepEqual(report.programs[0]?.tailCalls, [
    {
      insn: 37,
      map: "prog_array",
      keys: [0, 1],
      function: "main_prog",
      source: {
        file: "./examples/tail-call/tail_call.bpf.c",
        line: 52,
        column: 2,
        text: "switch (bpf_ntohs(tcp->dest)) {",
      },
    },
  ]);
  assert.equal(report.maps.find((m) => m.name === "prog_array")?.type, "prog_array");
});

test("inspect gives each tail-call site its C source line from BTF (text and --json)", async () => {
  const obj = "test/bpf/fixtures/tailcalls.bpf.o";
  const r = await runCli(["inspect", obj]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n +chain +xdp +xdp +18 +insn 15: jmp_chain\[0\] at tailcalls\.bpf\.c:84\n/);
  assert.match(r.stdout, /insn 16: jmp_xdp\[\{1,3\}\] in jump_to at tailcalls\.bpf\.c:91\n/);
  assert.match(
    r.stdout,
    /insn 19: \?\[\{2,5\}\] at tailcalls\.bpf\.c:58; insn 24: jmp_xdp\[7\] at tailcalls\.bpf\.c:59\n/,
  );
  const j = await runCli(["inspect", obj, "--json"]);
  const report = JSON.parse(j.stdout) as { programs: { name: string; tailCalls: { source: unknown }[] }[] };
  const sources = Object.fromEntries(report.programs.map((p) => [p.name, p.tailCalls.map((t) => t.source)]));
  assert.deepEqual(sources.chain, [
    {
      file: "./test/bpf/fixtures/tailcalls.bpf.c",
      line: 84,
      column: 2,
      text: "bpf_tail_call(ctx, &jmp_chain, 0);",
    },
  ]);
  assert.deepEqual(sources.via_subprog, [
    {
      file: "./test/bpf/fixtures/tailcalls.bpf.c",
      line: 91,
      column: 2,
      text: "bpf_tail_call(ctx, &jmp_xdp, slot);",
    },
  ]);
  // The merged site (its call has BTF line 0) names the line before it in the function.
  assert.deepEqual(
    (sources.const_keys as { line: number }[]).map((x) => x.line),
    [58, 59],
  );
});

test("inspect shows static prog-array slots by program name", async () => {
  const j = await runCli(["inspect", "test/bpf/fixtures/maps.bpf.o", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout) as {
    maps: { name: string; slots: { key: number; value: string }[] }[];
  };
  const pa = report.maps.find((m) => m.name === "prog_array_map");
  assert.deepEqual(pa?.slots, [
    { key: 0, value: "prog_a" },
    { key: 2, value: "prog_b" },
  ]);
});

test("disasm prints index: text with source lines, names map references", async () => {
  const r = await runCli(["disasm", OBJ, "--prog", "main_prog"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.ok(lines.includes("5: if r4 > r3 goto +33 <LBB0_9>"), r.stdout);
  assert.ok(lines.includes("35: r2 = 0 ll # prog_array"));
  assert.ok(lines.includes("37: call 12"));
  assert.ok(lines.includes("; if (eth->h_proto != bpf_htons(ETH_P_IP))"));
  // The source line stands right above the instructions it produced.
  const at = lines.indexOf("; if (eth->h_proto != bpf_htons(ETH_P_IP))");
  assert.equal(lines[at + 1], "6: r4 = *(u8 *)(r2 + 12)");
});

test("disasm names the function a bpf-to-bpf call enters; helper calls stay numbers", async () => {
  const r = await runCli(["disasm", "test/bpf/fixtures/subprogs.bpf.o", "--prog", "subprog_a"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  for (const want of [
    "1: call 6 <global_len>",
    "3: call 10 <bump>",
    "5: call 30 <dispatch>",
    "26: call 4 <add_len>",
  ])
    assert.ok(lines.includes(want), `${want} in:\n${r.stdout}`);
  // The callee's own listing starts where the call lands: 3 + 1 + 10 = 14.
  assert.equal(lines[lines.indexOf("bump:") + 2], "14: r6 = r1");
  assert.ok(lines.includes("21: call 1"), "bpf_map_lookup_elem is a helper");
  assert.ok(lines.includes("39: call 12"), "bpf_tail_call is a helper");
});

test("run on the VM: verdict, trace, chain; --json shape", async () => {
  const dir = tmp();
  try {
    const f = join(dir, "p.bin");
    writeFileSync(f, tcpTo(22));
    const r = await runCli([
      "run",
      OBJ,
      "--prog",
      "main_prog",
      "--data-in",
      f,
      "--tail",
      "prog_array:1=port22_prog",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verdict: +XDP_PASS \(2\)/);
    assert.match(r.stdout, /chain: +main_prog -> port22_prog/);
    assert.match(r.stdout, /trace: +Packet to port 22 processed/);
    const j = await runCli(["run", OBJ, "--prog", "main_prog", "--data-in", f, "--json", "--repeat", "3"]);
    const o = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.equal(o.retval, 2);
    assert.equal(o.dataOut, Buffer.from(tcpTo(22)).toString("hex"));
    assert.deepEqual(o.trace, [], "slot 1 is empty without --tail: the call falls through");
    assert.equal(typeof o.durationNs, "number");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run reports the first run's preparation apart from its duration, and which engine timed it", () => {
  const dir = tmp();
  try {
    const pcap = join(dir, "in.pcap");
    writeFileSync(pcap, writePcap([tcpTo(22), tcpTo(22)]));
    // A process of its own: the preparation happens once per collection, in the first run.
    const j = spawnCli(["run", OBJ, "--prog", "main_prog", "--pcap", pcap, "--json"]);
    assert.equal(j.code, 0, j.stderr);
    const rows = j.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { durationNs: number; prepareNs?: number });
    assert.equal(rows.length, 2);
    assert.ok(Number.isInteger(rows[0]?.prepareNs) && (rows[0]?.prepareNs ?? 0) > 0, j.stdout);
    assert.equal(rows[1]?.prepareNs, undefined, "prepared once");
    assert.ok(rows.every((r) => Number.isInteger(r.durationNs)));
    const r = spawnCli([
      "run",
      OBJ,
      "--prog",
      "main_prog",
      "--pcap",
      pcap,
      "--tier",
      "interpreter",
      "--repeat",
      "3",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.match(/\n +prepared: \d+ ns before the first run \(not in its duration\)\n/g)?.length,
      1,
    );
    assert.equal(
      r.stdout.match(/\n +duration: \d+ ns per run \(VM, interpreter tier; mean of 3\)\n/g)?.length,
      2,
    );
    const c = spawnCli(["run", OBJ, "--prog", "main_prog", "--pcap", pcap]);
    // The default compiled engine is the wasm tier; --tier js asks for the JS tier.
    assert.match(c.stdout, /\n +duration: \d+ ns per run \(VM, wasm tier\)\n/);
    const js = spawnCli(["run", OBJ, "--prog", "main_prog", "--pcap", pcap, "--tier", "js"]);
    assert.match(js.stdout, /\n +duration: \d+ ns per run \(VM, js tier\)\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("run --pcap runs every packet and --data-out writes a pcap of the outputs", async () => {
  const dir = tmp();
  try {
    const pcap = join(dir, "in.pcap");
    const out = join(dir, "out.pcap");
    writeFileSync(
      pcap,
      writePcap([
        tcpTo(8080),
        tcpTo(22),
        buildPacket([eth({}), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), udp({ sport: 1, dport: 53 })]),
      ]),
    );
    const r = await runCli([
      "run",
      OBJ,
      "--prog",
      "main_prog",
      "--pcap",
      pcap,
      "--json",
      "--data-out",
      out,
      "--tail",
      "prog_array:0=port8080_prog",
      "--tail",
      "prog_array:1=port22_prog",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { packet: number; trace: string[] });
    assert.deepEqual(
      rows.map((x) => x.trace),
      [["Packet to port 8080 processed"], ["Packet to port 22 processed"], []],
    );
    const back = readCapture(new Uint8Array(readFileSync(out)));
    assert.equal(back.packets.length, 3);
    assert.deepEqual(back.packets[0]?.data, tcpTo(8080));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad input: one tsbpf: line on stderr, non-zero exit, no stack trace", () => {
  const dir = tmp();
  try {
    const trunc = join(dir, "trunc.o");
    writeFileSync(trunc, readFileSync(OBJ).subarray(0, 200));
    const pkt = join(dir, "syn.bin");
    writeFileSync(pkt, tcpTo(8080));
    const text = join(dir, "notes.txt");
    writeFileSync(text, "not an object\n");
    // The seed object made for x86-64 (e_machine 62): an ELF, but not BPF.
    const x86 = join(dir, "x86.o");
    const elf = readFileSync(OBJ);
    elf.writeUInt16LE(62, 18);
    writeFileSync(x86, elf);
    const cases: [string[], RegExp][] = [
      [["inspect", "/nonexistent.o"], /^tsbpf: cannot read \/nonexistent\.o: no such file$/],
      // A mistyped name, a text file and an ELF that is not BPF, for each command that reads one.
      ...(["inspect", "disasm", "run"] as const).flatMap((cmd): [string[], RegExp][] => {
        const extra = cmd === "run" ? ["--prog", "main_prog", "--data-in", pkt] : [];
        return [
          [
            [cmd, "examples/tail-call/tail_cal.bpf.o", ...extra],
            /^tsbpf: cannot read \S*tail_cal\.bpf\.o: no such file$/,
          ],
          [[cmd, text, ...extra], /^tsbpf: not an ELF file \(bad magic\) \(file notes\.txt, offset 0\)/],
          [
            [cmd, x86, ...extra],
            /^tsbpf: not a BPF object: e_machine is 62, expected 247 \(EM_BPF\) \(file x86\.o/,
          ],
        ];
      }),
      [["inspect", "/etc/hostname"], /^tsbpf: not an ELF file/],
      [["inspect", dir], /^tsbpf: cannot read .*: is a directory$/],
      [["disasm", trunc], /^tsbpf: .*\(file trunc\.o.*\)/],
      [["run", OBJ, "--prog", "nope", "--data-in", trunc], /^tsbpf: run: no program named 'nope'/],
      [["run", OBJ, "--prog", "main_prog"], /^tsbpf: run: give exactly one of --data-in FILE or --pcap FILE/],
      [
        ["run", OBJ, "--prog", "main_prog", "--data-in", trunc, "--tail", "prog_array:9=port22_prog"],
        /past max_entries 2/,
      ],
      [
        ["run", OBJ, "--prog", "main_prog", "--data-in", trunc, "--tail", "nonsense"],
        /expected MAP:KEY=PROG/,
      ],
      [["bogus"], /^tsbpf: unknown command 'bogus'/],
      [["inspect", OBJ, "--frobnicate"], /^tsbpf: inspect: Unknown option '--frobnicate'/],
      [["inspect", OBJ, OBJ], /^tsbpf: inspect: one object file expected, got 2$/],
      [["disasm", OBJ, "extra"], /^tsbpf: disasm: one object file expected, got 2$/],
      [
        ["run", OBJ, "extra", "--prog", "main_prog", "--data-in", trunc],
        /^tsbpf: run: one object or pipeline file expected, got 2$/,
      ],
      [
        ["run", OBJ, "--prog", "main_prog", "--data-in", pkt, "--data-out", join(dir, "no", "out.bin")],
        /^tsbpf: --data-out .*\/no\/out\.bin: cannot write: no such directory$/,
      ],
    ];
    for (const [args, want] of cases) {
      const r = spawnCli(args);
      assert.notEqual(r.code, 0, `${args.join(" ")} should fail`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${args.join(" ")}: one line, got:\n${r.stderr}`);
      assert.match(lines[0] ?? "", want, args.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a packet shorter than 14 bytes is refused as the kernel refuses it", () => {
  const dir = tmp();
  try {
    const f = join(dir, "short.bin");
    writeFileSync(f, new Uint8Array(13));
    const r = spawnCli(["run", OBJ, "--prog", "main_prog", "--data-in", f]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^tsbpf: packet of 13 bytes is shorter than the 14 bytes XDP test runs need/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("conformance-plugin speaks the bpf_conformance protocol", () => {
  // mov32 r0, 0x2a; exit
  const ok = spawnCli(["conformance-plugin", ""], {
    input: "b4 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00\n",
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), "2a");
  const bad = spawnCli(["conformance-plugin", ""], { input: "ff 00 00 00 00 00 00 00\n" });
  assert.notEqual(bad.code, 0);
});

test("a VM fault names the program, the instruction, its disassembly and C line; the verdict is XDP_ABORTED", async () => {
  const dir = tmp();
  try {
    const f = join(dir, "short.bin");
    writeFileSync(f, new Uint8Array(14));
    const args = ["run", "test/bpf/kernel/broken.bpf.o", "--prog", "unchecked_read", "--data-in", f];
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verdict: +XDP_ABORTED \(0\)/);
    assert.match(
      r.stdout,
      /fault: +load of 1 bytes .* is outside \[0, 14\) \(program unchecked_read, insn 1\)/,
    );
    assert.match(r.stdout, /\n +1: r1 = \*\(u8 \*\)\(r1 \+ 23\)\n/);
    assert.match(r.stdout, /if \(iph->protocol == 6\).*broken\.bpf\.c:20\)/);
    const j = JSON.parse((await runCli([...args, "--json"])).stdout) as { fault: Record<string, unknown> };
    assert.equal(j.fault.program, "unchecked_read");
    assert.equal(j.fault.insn, 1);
    assert.equal(j.fault.instruction, "r1 = *(u8 *)(r1 + 23)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
