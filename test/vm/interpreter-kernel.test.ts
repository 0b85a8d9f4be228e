import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Interpreter, loadProgram } from "../../src/vm/interpreter.js";

// Differential test against the running kernel: every program in test/bpf/vm/isa-kernel.bpf.o
// (raw encodings of tricky ALU, division, byte-swap, sign-extension, atomic and jump cases) is
// loaded with bpftool and run with BPF_PROG_TEST_RUN; the VM must return the same value.

const OBJ = join(process.cwd(), "test", "bpf", "vm", "isa-kernel.bpf.o");

function why(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root: loads XDP programs with bpftool";
  if (!existsSync(OBJ)) return `fixture ${OBJ} is missing (run scripts/build-bpf.sh)`;
  for (const tool of ["bpftool", "llvm-readelf", "llvm-objcopy"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `needs ${tool}`;
    }
  }
  return undefined;
}

/** Function symbols of the `xdp` section: name, byte offset and size. */
function functions(obj: string): { name: string; off: number; size: number }[] {
  const sections = execFileSync("llvm-readelf", ["-S", "--wide", obj], { encoding: "utf8" });
  const m = /\[\s*(\d+)\]\s+xdp\s/.exec(sections);
  assert.ok(m, "no xdp section");
  const ndx = m[1];
  const syms = execFileSync("llvm-readelf", ["-s", "--wide", obj], { encoding: "utf8" });
  const out: { name: string; off: number; size: number }[] = [];
  for (const line of syms.split("\n")) {
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (f.length === 8 && f[3] === "FUNC" && f[6] === ndx) {
      out.push({ name: f[7] as string, off: Number.parseInt(f[1] as string, 16), size: Number(f[2]) });
    }
  }
  return out;
}

test("the VM matches the kernel on tricky instruction semantics", (t) => {
  const reason = why();
  if (reason !== undefined) return t.skip(reason);
  const tmp = mkdtempSync(join(tmpdir(), "tsbpf-isa-"));
  const pin = `/sys/fs/bpf/tsbpf-vm-isa-${process.pid}`;
  try {
    execFileSync("llvm-objcopy", ["-O", "binary", "--only-section=xdp", OBJ, join(tmp, "xdp.bin")]);
    const text = new Uint8Array(readFileSync(join(tmp, "xdp.bin")));
    const pkt = join(tmp, "pkt");
    writeFileSync(pkt, new Uint8Array(64));
    execFileSync("bpftool", ["prog", "loadall", OBJ, pin], { stdio: "ignore" });
    const fns = functions(OBJ);
    assert.ok(fns.length >= 100, `only ${fns.length} programs`);
    const vm = new Interpreter();
    const ctx = vm.memory.mapRegion(new Uint8Array(24), { name: "xdp_md" });
    const mismatches: string[] = [];
    for (const fn of fns) {
      const out = execFileSync(
        "bpftool",
        ["-j", "prog", "run", "pinned", join(pin, fn.name), "data_in", pkt, "repeat", "1"],
        {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      const kernel = BigInt((JSON.parse(out) as { retval: number }).retval);
      const prog = loadProgram(text.subarray(fn.off, fn.off + fn.size), { name: fn.name });
      // XDP's return value is the low 32 bits of r0.
      const mine = vm.run(prog, ctx) & 0xffffffffn;
      if (mine !== kernel)
        mismatches.push(`${fn.name}: kernel 0x${kernel.toString(16)}, vm 0x${mine.toString(16)}`);
    }
    console.log(`kernel differential: ${fns.length} programs compared`);
    assert.deepEqual(mismatches, []);
  } finally {
    rmSync(pin, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});
