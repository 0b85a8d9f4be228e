import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../differential/rng.js";
import { mutateObject } from "./mutate.js";

// The CLI answers bad input with exactly one `tsbpf: <what> (<where>)` line on stderr, a non-zero
// exit and no stack trace, whatever the command and backend.
const OBJ = "examples/tail-call/tail_call.bpf.o";
const dir = mkdtempSync(join(tmpdir(), "tsbpf-cli-corrupt-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const good = new Uint8Array(readFileSync(OBJ));
const packet = join(dir, "packet.bin");
writeFileSync(packet, Buffer.from("ffffffffffff0200000000010800450000280000000040060000", "hex"));

function file(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const flipped = good.slice();
flipped[0x2f] = (flipped[0x2f] as number) ^ 0x40; // e_shoff's top byte: section headers far past the end
const badShstr = good.slice();
badShstr[0x3e] = 0xff; // e_shstrndx past e_shnum

const corrupt: Record<string, string> = {
  "truncated in the ELF header": file("trunc40.o", good.slice(0, 40)),
  "truncated mid-file": file("trunchalf.o", good.slice(0, good.length >> 1)),
  "bit-flipped section header offset": file("flipped.o", flipped),
  "section-name table index out of range": file("shstrndx.o", badShstr),
  empty: file("empty.o", new Uint8Array(0)),
  "a directory": dir,
  "not ELF (text)": file("notes.txt", "this is not a BPF object\n"),
  missing: join(dir, "does-not-exist.o"),
};

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["bin/tsbpf.js", ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function assertOneLine(what: string, r: { status: number | null; stderr: string }): void {
  const lines = r.stderr.trimEnd().split("\n");
  assert.notEqual(r.status, 0, `${what}: exit status 0`);
  assert.equal(lines.length, 1, `${what}: ${lines.length} stderr lines:\n${r.stderr}`);
  assert.match(lines[0] as string, /^tsbpf: \S/, `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |RangeError|TypeError/, `${what}: ${r.stderr}`);
}

const commands: [string, (f: string) => string[]][] = [
  ["inspect", (f) => ["inspect", f]],
  ["inspect --json", (f) => ["inspect", f, "--json"]],
  ["disasm", (f) => ["disasm", f]],
  ["graph --format svg", (f) => ["graph", f, "--format", "svg"]],
  ["run --backend vm", (f) => ["run", f, "--prog", "main_prog", "--data-in", packet, "--backend", "vm"]],
  [
    "run --backend kernel",
    (f) => ["run", f, "--prog", "main_prog", "--data-in", packet, "--backend", "kernel"],
  ],
];

for (const [cmd, argv] of commands) {
  test(`tsbpf ${cmd} on corrupt objects: one tsbpf: line, non-zero exit, no stack trace`, () => {
    for (const [what, path] of Object.entries(corrupt)) assertOneLine(`${cmd} on ${what}`, cli(argv(path)));
  });
}

test("the good object passes the same commands (the corrupt cases fail for their corruption)", () => {
  for (const [cmd, argv] of commands.filter(([c]) => !c.includes("kernel"))) {
    const r = cli(argv(OBJ));
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
  }
});

test("seeded mutations of a real object: inspect, disasm and graph succeed or fail with one tsbpf: line", () => {
  const rng = new Rng(77);
  let failed = 0;
  for (let i = 0; i < 25; i++) {
    const m = mutateObject(rng, good);
    const p = file(`mut${i}.o`, m.bytes);
    for (const cmd of ["inspect", "disasm", "graph"]) {
      const r = cli([cmd, p]);
      const how = `${cmd} on mutation ${i} (${m.mutations.map((x) => `${x.kind} ${x.detail}`).join("; ")})`;
      if (r.status === 0) {
        assert.equal(r.stderr.includes("tsbpf:"), false, how);
        continue;
      }
      failed++;
      assertOneLine(how, r);
    }
  }
  assert.ok(
    failed > 5,
    `only ${failed} of 75 mutated runs failed: the mutations are too gentle to test anything`,
  );
});

test("tsbpf run --backend vm on a prog array of 2^32-16 slots fails with one tsbpf: line, as the kernel backend does (ENOMEM)", async () => {
  const { readRegressions } = await import("./fixtures.js");
  const c = readRegressions().find((x) => x.file === "object-fd-array-oom.hex");
  assert.ok(c !== undefined, "fixture object-fd-array-oom.hex is missing");
  const obj = file("oom.o", c.input);
  const r = spawnSync(
    process.execPath,
    [
      "--max-old-space-size=256",
      "bin/tsbpf.js",
      "run",
      obj,
      "--prog",
      "main_prog",
      "--data-in",
      packet,
      "--backend",
      "vm",
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  assertOneLine("run --backend vm on the huge prog array", { status: r.status, stderr: r.stderr ?? "" });
});
