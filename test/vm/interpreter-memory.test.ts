import { test } from "node:test";
import assert from "node:assert/strict";
import { isVmFault, type VmFault } from "../../src/errors.js";
import { faultCode } from "../../src/vm/fault.js";
import { Interpreter, loadProgram } from "../../src/vm/interpreter.js";
import { Memory, REGION_HI_BASE, REGION_LO_BASE } from "../../src/vm/memory.js";
import { insn as I } from "../support/insn.js";

// Memory regions, run-time bounds checks and faults.

const EXIT = I(0x95);

const faultOf = (f: () => unknown): VmFault => {
  try {
    f();
  } catch (e) {
    assert.ok(isVmFault(e), `expected a VmFault, got ${String(e)}`);
    return e as VmFault;
  }
  assert.fail("no fault");
};

test("regions get distinct kernel-like addresses; pointer arithmetic and compares work", () => {
  const mem = new Memory();
  const a = mem.map(new Uint8Array(64), { writable: true, name: "packet" });
  const b = mem.map(new Uint8Array(16), { name: "ctx" });
  assert.notEqual(a.hi, b.hi);
  assert.equal(a.address() >> 32n, BigInt(REGION_HI_BASE + a.id));
  assert.equal(a.address() & 0xffffffffn, BigInt(REGION_LO_BASE));
  // data + 14 > data_end on plain integers: with a 64-byte packet, 14 bytes fit.
  const vm = new Interpreter({ memory: mem });
  const prog = loadProgram([
    I(0xbf, 3, 1), // r3 = data
    I(0x07, 3, 0, 0, 14), // r3 += 14
    I(0x2d, 3, 2, 2), // if r3 > data_end goto drop
    I(0xb7, 0, 0, 0, 2), // PASS
    EXIT,
    I(0xb7, 0, 0, 0, 1), // DROP
    EXIT,
  ]);
  assert.equal(vm.run(prog, a.address(), a.address(64)), 2n);
  assert.equal(vm.run(prog, a.address(), a.address(10)), 1n);
});

test("loads and stores are bounds-checked per region at run time", () => {
  const mem = new Memory();
  const pkt = mem.map(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), { writable: true, name: "packet" });
  const vm = new Interpreter({ memory: mem });
  const ldw = (off: number) => loadProgram([I(0x61, 0, 1, off), EXIT], { name: "ld" });
  assert.equal(vm.run(ldw(4), pkt.address()), 0x08070605n);
  // One byte past the end faults, naming the region, program and instruction.
  const f = faultOf(() => vm.run(ldw(5), pkt.address()));
  assert.equal(faultCode(f), "out-of-bounds");
  assert.equal(f.context.program, "ld");
  assert.equal(f.context.insn, 0);
  assert.match(f.message, /packet offset 5/);
  // Just before the start faults too (no wrap into another region).
  assert.equal(faultCode(faultOf(() => vm.run(ldw(-1), pkt.address()))), "out-of-bounds");
  // A null pointer has no region.
  assert.match(faultOf(() => vm.run(ldw(0), 0n)).message, /no memory there/);
  // Runtime stack bounds: r1 = r10; store 8 bytes at r1+0 is past the frame's top.
  const stack = loadProgram([I(0xbf, 1, 10), I(0x7a, 1, 0, 0, 1), EXIT]);
  assert.equal(faultCode(faultOf(() => vm.run(stack))), "out-of-bounds");
});

test("read-only regions refuse stores; writable ones are shared with the caller", () => {
  const mem = new Memory();
  const ro = mem.map(new Uint8Array(8), { name: ".rodata" });
  const rw = new Uint8Array(8);
  const rwr = mem.map(rw, { writable: true, name: "map value" });
  const vm = new Interpreter({ memory: mem });
  const st = loadProgram([I(0x72, 1, 0, 3, 0x5a), EXIT]);
  const f = faultOf(() => vm.run(st, ro.address()));
  assert.equal(faultCode(f), "read-only");
  assert.match(f.message, /\.rodata is read-only/);
  vm.run(st, rwr.address());
  assert.equal(rw[3], 0x5a);
});

test("moving packet bounds keeps addresses; unmapped regions fault", () => {
  const mem = new Memory();
  const frame = new Uint8Array(32);
  frame[20] = 0xab;
  const pkt = mem.map(frame, { writable: true, name: "packet", start: 8, end: 16 });
  const vm = new Interpreter({ memory: mem });
  const ldb = loadProgram([I(0x71, 0, 1, 20), EXIT]);
  assert.equal(faultCode(faultOf(() => vm.run(ldb, pkt.address()))), "out-of-bounds");
  mem.setBounds(pkt, 8, 24); // as after bpf_xdp_adjust_tail(+8)
  assert.equal(vm.run(ldb, pkt.address()), 0xabn);
  assert.throws(
    () => mem.setBounds(pkt, 0, 33),
    (e: unknown) => isVmFault(e),
  );
  mem.unmap(pkt);
  assert.match(faultOf(() => vm.run(ldb, pkt.address())).message, /no memory there/);
});

test("helper-side memory API: read/write bytes and integers, C strings", () => {
  const mem = new Memory();
  const addr = mem.mapRegion(new Uint8Array(16), { writable: true });
  mem.writeBytes(addr + 2n, Uint8Array.from([0x68, 0x69, 0]));
  assert.equal(mem.readCString(addr + 2n), "hi");
  mem.writeUint(addr + 8n, 8, 0x0102030405060708n);
  assert.equal(mem.readUint(addr + 8n, 4), 0x05060708n);
  assert.deepEqual([...mem.readBytes(addr + 8n, 2)], [8, 7]);
  assert.throws(
    () => mem.readBytes(addr + 10n, 7),
    (e: unknown) => faultCode(e) === "out-of-bounds",
  );
  assert.throws(
    () => mem.readCString(addr + 9n, 4),
    (e: unknown) => faultCode(e) === "out-of-bounds",
  );
});

test("the instruction budget stops endless loops with a typed fault", () => {
  const vm = new Interpreter({ budget: 1000 });
  const f = faultOf(() => vm.run(loadProgram([I(0x05, 0, 0, -1), EXIT], { name: "spin" })));
  assert.equal(faultCode(f), "budget");
  assert.equal(f.context.program, "spin");
  assert.equal(vm.executed, 1000);
  // A program within budget reports how many instructions it ran.
  vm.run(loadProgram([I(0xb7, 0), I(0xb7, 0), EXIT]));
  assert.equal(vm.executed, 3);
});

test("the describe hook attaches disassembly and the source line to a fault", () => {
  const prog = loadProgram([I(0xb7, 0), I(0x61, 0, 1, 0), EXIT], {
    name: "xdp_prog",
    describe: (insn) => ({ text: `insn ${insn} text`, sourceLine: "return *(int *)p;" }),
  });
  const f = faultOf(() => new Interpreter().run(prog, 0n));
  assert.equal(f.context.insn, 1);
  assert.equal(f.instruction, "insn 1 text");
  assert.equal(f.sourceLine, "return *(int *)p;");
});

test("a load hook turns 32-bit context fields into full pointers (as for xdp_md)", () => {
  const mem = new Memory();
  const frame = new Uint8Array(64);
  const pkt = mem.map(frame, { writable: true, name: "packet", start: 16, end: 40 });
  // xdp_md: data @0, data_end @4; everything else reads the bytes.
  const ctxBytes = new Uint8Array(24);
  ctxBytes[12] = 7; // ingress_ifindex
  const ctx = mem.map(ctxBytes, {
    name: "xdp_md",
    owner: "ctx",
    onLoad: (index, size) => {
      if (size !== 4) return undefined;
      if (index === 0) return pkt.address(pkt.start);
      if (index === 4) return pkt.address(pkt.end);
      return undefined;
    },
  });
  const vm = new Interpreter({ memory: mem });
  // r2 = ctx->data; r3 = ctx->data_end; r0 = r3 - r2 (the packet length) + ctx->ingress_ifindex * 1000
  const prog = loadProgram([
    I(0x61, 2, 1, 0),
    I(0x61, 3, 1, 4),
    I(0xbf, 0, 3),
    I(0x1f, 0, 2),
    I(0x61, 4, 1, 12),
    I(0x27, 4, 0, 0, 1000),
    I(0x0f, 0, 4),
    EXIT,
  ]);
  assert.equal(vm.run(prog, ctx.address()), 24n + 7000n);
  // The data pointer is a real 64-bit address into the packet region.
  vm.run(loadProgram([I(0x61, 0, 1, 0), EXIT]), ctx.address());
  assert.equal(mem.regionOf(vm.arg(0)), pkt);
  assert.equal(mem.indexOf(vm.arg(0)), 16);
  assert.equal(mem.regionOf(ctx.address(4))?.owner, "ctx");
  // Bounds moved by xdp_adjust_head(-8): the same program now sees 32 bytes.
  mem.setBounds(pkt, 8, 40);
  assert.equal(vm.run(prog, ctx.address()), 32n + 7000n);
});
