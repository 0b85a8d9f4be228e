import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import {
  AluOp,
  CALL,
  Class,
  EXIT,
  JmpOp,
  LDDW,
  Mode,
  PseudoCall,
  Size,
  Source,
} from "../../src/asm/opcodes.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import { findTailCalls } from "../../src/object/tail-calls.js";
import type { FunctionSpan, LineInfo, MapReference } from "../../src/object/types.js";
import { insn as I } from "../support/insn.js";

// ---- A deliberately tiny ELF64 little-endian reader, enough to pull programs out of fixtures
// ---- without depending on src/elf (written in parallel).

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}
interface Sym {
  name: string;
  value: number;
  size: number;
  shndx: number;
  type: number;
}

function readElf(path: string): { bytes: Uint8Array; sections: Section[]; symbols: Sym[] } {
  const bytes = new Uint8Array(readFileSync(path));
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const raw = [...Array(shnum).keys()].map((i) => {
    const o = shoff + i * shentsize;
    return {
      nameOff: v.getUint32(o, true),
      type: v.getUint32(o + 4, true),
      offset: Number(v.getBigUint64(o + 0x18, true)),
      size: Number(v.getBigUint64(o + 0x20, true)),
      link: v.getUint32(o + 0x28, true),
      info: v.getUint32(o + 0x2c, true),
    };
  });
  const cstr = (base: number, off: number): string => {
    let end = base + off;
    while (bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(base + off, end));
  };
  const shstr = raw[shstrndx]?.offset ?? 0;
  const sections = raw.map((s) => ({ ...s, name: cstr(shstr, s.nameOff) }));
  const symtab = sections.find((s) => s.type === 2);
  assert.ok(symtab, "no symtab");
  const strBase = sections[symtab.link]?.offset ?? 0;
  const symbols: Sym[] = [];
  for (let o = symtab.offset; o < symtab.offset + symtab.size; o += 24) {
    symbols.push({
      name: cstr(strBase, v.getUint32(o, true)),
      type: (bytes[o + 4] ?? 0) & 0xf,
      shndx: v.getUint16(o + 6, true),
      value: Number(v.getBigUint64(o + 8, true)),
      size: Number(v.getBigUint64(o + 16, true)),
    });
  }
  return { bytes, sections, symbols };
}

/** Decodes a section and turns its relocations against `.maps` symbols into map references. */
function sectionCode(
  path: string,
  name: string,
): { insns: Instruction[]; refs: MapReference[]; funcs: Sym[]; textCalls: Map<number, number> } {
  const elf = readElf(path);
  const idx = elf.sections.findIndex((s) => s.name === name);
  const sec = elf.sections[idx];
  assert.ok(sec, `no section ${name}`);
  const insns = decodeInstructions(elf.bytes.subarray(sec.offset, sec.offset + sec.size));
  const mapsIdx = elf.sections.findIndex((s) => s.name === ".maps");
  const rel = elf.sections.find((s) => s.type === 9 && s.info === idx);
  const refs: MapReference[] = [];
  // Calls into .text: instruction index → target instruction index inside .text.
  const textCalls = new Map<number, number>();
  const textIdx = elf.sections.findIndex((s) => s.name === ".text");
  if (rel) {
    const v = new DataView(elf.bytes.buffer, elf.bytes.byteOffset);
    for (let o = rel.offset; o < rel.offset + rel.size; o += 16) {
      const at = Number(v.getBigUint64(o, true));
      const sym = elf.symbols[Number(v.getBigUint64(o + 8, true) >> 32n)];
      if (sym && sym.shndx === mapsIdx) refs.push({ insn: at / 8, kind: "map", map: sym.name, offset: 0 });
      const insn = insns[at / 8];
      if (sym && sym.shndx === textIdx && insn?.opcode === CALL && insn.src === PseudoCall.CALL) {
        textCalls.set(at / 8, sym.value / 8 + insn.imm + 1);
      }
    }
  }
  const funcs = elf.symbols.filter((s) => s.shndx === idx && s.type === 2).sort((a, b) => a.value - b.value);
  return { insns, refs, funcs, textCalls };
}

/**
 * One program cut out of its section, references rebased, as the object model will hand it over.
 * With `withText`, the whole of .text is appended and calls into it are pointed at their targets,
 * as the loader links subprograms.
 */
function programOf(path: string, section: string, name: string, withText = false) {
  const { insns, refs, funcs, textCalls } = sectionCode(path, section);
  const f = funcs.find((s) => s.name === name);
  assert.ok(f, `no function ${name}`);
  const start = f.value / 8;
  const end = (f.value + f.size) / 8;
  const prog = {
    insns: insns.slice(start, end),
    refs: refs.filter((r) => r.insn >= start && r.insn < end).map((r) => ({ ...r, insn: r.insn - start })),
    functions: [{ name, start: 0, end: end - start, section }] as FunctionSpan[],
  };
  if (!withText) return prog;
  const text = sectionCode(path, ".text");
  const base = prog.insns.length;
  const patch = (calls: Map<number, number>, from: number, to: number) => {
    for (const [at, target] of calls) {
      if (at < from) continue;
      const i = at - from + to;
      const insn = prog.insns[i];
      if (insn) prog.insns[i] = { ...insn, imm: base + target - (i + 1) };
    }
  };
  prog.insns.push(...text.insns);
  patch(textCalls, start, 0);
  patch(text.textCalls, 0, base);
  prog.refs.push(...text.refs.map((r) => ({ ...r, insn: r.insn + base })));
  for (const tf of text.funcs) {
    prog.functions.push({
      name: tf.name,
      start: base + tf.value / 8,
      end: base + (tf.value + tf.size) / 8,
      section: ".text",
    });
  }
  return prog;
}

/** Instruction indices llvm-objdump shows as `call 12`, per function of a section. */
function objdumpTailCalls(path: string, section: string): Map<string, number[]> {
  const out = execFileSync("llvm-objdump", ["-d", "--no-show-raw-insn", "-j", section, path], {
    encoding: "utf8",
  });
  const result = new Map<string, number[]>();
  let fn = "";
  let base = 0;
  for (const line of out.split("\n")) {
    const label = /^([0-9a-f]+) <(\w+)>:/.exec(line);
    if (label && !(label[2] as string).startsWith("LBB")) {
      fn = label[2] as string;
      base = Number.parseInt(label[1] as string, 16) / 8;
      result.set(fn, []);
      continue;
    }
    const m = /^\s+(\d+):\s+call 12$/.exec(line);
    if (m) result.get(fn)?.push(Number(m[1]) - base);
  }
  return result;
}

const hasObjdump = (() => {
  try {
    execFileSync("llvm-objdump", ["--version"], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
})();

// ---- A small assembler for hand-built sequences.

const mov = (dst: number, imm: number) => I(Class.ALU64 | AluOp.MOV | Source.K, dst, 0, 0, imm);
const mov32 = (dst: number, imm: number) => I(Class.ALU | AluOp.MOV | Source.K, dst, 0, 0, imm);
const movr = (dst: number, src: number) => I(Class.ALU64 | AluOp.MOV | Source.X, dst, src);
const alu = (op: number, dst: number, imm: number) => I(Class.ALU64 | op | Source.K, dst, 0, 0, imm);
const alu32 = (op: number, dst: number, imm: number) => I(Class.ALU | op | Source.K, dst, 0, 0, imm);
const alur = (op: number, dst: number, src: number) => I(Class.ALU64 | op | Source.X, dst, src);
const lddw = (dst: number, value = 0n): Instruction[] => [
  { opcode: LDDW, dst, src: 0, off: 0, imm: Number(BigInt.asIntN(32, value)), imm64: value },
  I(0, 0, 0, 0, Number(BigInt.asIntN(32, value >> 32n))),
];
const ldxb = (dst: number, src: number, off: number) => I(Class.LDX | Mode.MEM | Size.B, dst, src, off);
const ldxdw = (dst: number, src: number, off: number) => I(Class.LDX | Mode.MEM | Size.DW, dst, src, off);
const ldxw = (dst: number, src: number, off: number) => I(Class.LDX | Mode.MEM | Size.W, dst, src, off);
const stxdw = (dst: number, off: number, src: number) => I(Class.STX | Mode.MEM | Size.DW, dst, src, off);
const stw = (dst: number, off: number, imm: number) => I(Class.ST | Mode.MEM | Size.W, dst, 0, off, imm);
const jeq = (dst: number, imm: number, off: number) => I(Class.JMP | JmpOp.JEQ | Source.K, dst, 0, off, imm);
const jlt = (dst: number, imm: number, off: number) => I(Class.JMP | JmpOp.JLT | Source.K, dst, 0, off, imm);
const ja = (off: number) => I(Class.JMP | JmpOp.JA, 0, 0, off);
const call = (imm: number) => I(CALL, 0, PseudoCall.HELPER, 0, imm);
const callLocal = (off: number) => I(CALL, 0, PseudoCall.CALL, 0, off);
const exit = () => I(EXIT);

/** Flattens a program and records a map reference for each `{ map }` marker before a lddw. */
function asm(...parts: (Instruction | Instruction[] | { map: string; kind?: "map" | "map_value" })[]) {
  const insns: Instruction[] = [];
  const refs: MapReference[] = [];
  for (const p of parts) {
    if (Array.isArray(p)) insns.push(...p);
    else if ("opcode" in p) insns.push(p);
    else refs.push({ insn: insns.length, kind: p.kind ?? "map", map: p.map, offset: 0 });
  }
  return { insns, refs };
}

function analyse(prog: { insns: Instruction[]; refs: MapReference[] }, functions: FunctionSpan[] = []) {
  return findTailCalls(prog.insns, prog.refs, functions);
}

// ---- Hand-built sequences.

test("constant key", () => {
  const p = asm({ map: "jmp" }, lddw(2), mov(3, 4), call(12), mov(0, 0), exit());
  assert.deepEqual(analyse(p), [
    { insn: 3, map: "jmp", keys: [4], subprogram: undefined, source: undefined },
  ]);
});

test("key read from the packet is unknown", () => {
  const p = asm(ldxdw(2, 1, 0), ldxb(3, 2, 0), { map: "jmp" }, lddw(2), call(12), exit());
  assert.deepEqual(analyse(p), [
    { insn: 4, map: "jmp", keys: undefined, subprogram: undefined, source: undefined },
  ]);
});

test("key set on two branches becomes a set", () => {
  const p = asm(
    jeq(1, 0, 2), //  0
    mov(3, 1), //     1
    ja(1), //         2
    mov(3, 2), //     3
    { map: "jmp" },
    lddw(2), //       4
    call(12), //      6
    exit(),
  );
  assert.deepEqual(analyse(p), [
    { insn: 6, map: "jmp", keys: [1, 2], subprogram: undefined, source: undefined },
  ]);
});

test("map loaded in a different block than the call", () => {
  const p = asm(
    { map: "jmp" },
    lddw(2), //        0
    ldxb(4, 1, 0), //  2
    jeq(4, 7, 2), //   3
    mov(3, 10), //     4
    ja(1), //          5
    mov(3, 11), //     6
    call(12), //       7
    exit(),
  );
  assert.deepEqual(analyse(p), [
    { insn: 7, map: "jmp", keys: [10, 11], subprogram: undefined, source: undefined },
  ]);
});

test("different maps on different paths leave the map unknown but keep the keys", () => {
  const p = asm(
    jeq(1, 0, 4),
    { map: "a" },
    lddw(2),
    mov(3, 1),
    ja(3),
    { map: "b" },
    lddw(2),
    mov(3, 2),
    call(12),
    exit(),
  );
  assert.deepEqual(analyse(p), [
    { insn: 8, map: undefined, keys: [1, 2], subprogram: undefined, source: undefined },
  ]);
});

test("a call clobbers r0-r5", () => {
  const keyClobbered = asm(
    mov(3, 1),
    { map: "jmp" },
    lddw(2),
    call(5),
    { map: "jmp" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.deepEqual(analyse(keyClobbered), [
    { insn: 6, map: "jmp", keys: undefined, subprogram: undefined, source: undefined },
  ]);
  const mapClobbered = asm({ map: "jmp" }, lddw(2), call(5), mov(3, 1), call(12), exit());
  assert.deepEqual(analyse(mapClobbered), [
    { insn: 4, map: undefined, keys: [1], subprogram: undefined, source: undefined },
  ]);
  const local = asm(
    mov(3, 1),
    { map: "jmp" },
    lddw(2),
    callLocal(3),
    call(12),
    mov(0, 0),
    exit(),
    mov(0, 0),
    exit(),
  );
  assert.deepEqual(findTailCalls(local.insns, local.refs, []), [
    { insn: 4, map: undefined, keys: undefined, subprogram: undefined, source: undefined },
  ]);
});

test("callee-saved registers survive a call", () => {
  const p = asm(mov(6, 3), { map: "jmp" }, lddw(7), call(5), movr(3, 6), movr(2, 7), call(12), exit());
  assert.deepEqual(analyse(p), [
    { insn: 6, map: "jmp", keys: [3], subprogram: undefined, source: undefined },
  ]);
});

test("key and map in a subprogram", () => {
  const p = asm(
    callLocal(2), //   0 main
    mov(0, 0), //      1
    exit(), //         2
    movr(6, 1), //     3 sub
    { map: "jmp" },
    lddw(2), //        4
    mov(3, 9), //      6
    call(12), //       7
    exit(), //         8
  );
  const functions: FunctionSpan[] = [
    { name: "main", start: 0, end: 3, section: "xdp" },
    { name: "sub", start: 3, end: 9, section: ".text" },
  ];
  assert.deepEqual(analyse(p, functions), [
    { insn: 7, map: "jmp", keys: [9], subprogram: "sub", source: undefined },
  ]);
});

test("a subprogram sees the arguments its callers pass", () => {
  const functions = (mainEnd: number, total: number): FunctionSpan[] => [
    { name: "main", start: 0, end: mainEnd, section: "xdp" },
    { name: "sub", start: mainEnd, end: total, section: ".text" },
  ];
  const sub = [{ map: "jmp" }, lddw(2), call(12), exit()] as const;
  // One caller passing 1 in r3.
  const one = asm(mov(3, 1), callLocal(2), mov(0, 0), exit(), ...sub);
  assert.deepEqual(analyse(one, functions(4, 8)), [
    { insn: 6, map: "jmp", keys: [1], subprogram: "sub", source: undefined },
  ]);
  // Two call sites with different constants: the keys join.
  const two = asm(mov(3, 1), callLocal(4), mov(3, 2), callLocal(2), mov(0, 0), exit(), ...sub);
  assert.deepEqual(analyse(two, functions(6, 10)), [
    { insn: 8, map: "jmp", keys: [1, 2], subprogram: "sub", source: undefined },
  ]);
  // One caller passes a packet byte: unknown.
  const mixed = asm(mov(3, 1), callLocal(4), ldxb(3, 1, 0), callLocal(2), mov(0, 0), exit(), ...sub);
  assert.deepEqual(analyse(mixed, functions(6, 10))[0]?.keys, undefined);
  // A stack pointer of the caller means nothing in the callee's frame.
  const fp = asm(movr(3, 10), callLocal(2), mov(0, 0), exit(), ...sub);
  assert.deepEqual(analyse(fp, functions(4, 8))[0]?.keys, undefined);
  // A call in dead code passes nothing; with no live caller the subprogram is analysed with unknown arguments.
  const dead = asm(mov(0, 0), exit(), mov(3, 1), callLocal(0), ...sub);
  assert.deepEqual(analyse(dead, functions(4, 8)), [
    { insn: 6, map: "jmp", keys: undefined, subprogram: "sub", source: undefined },
  ]);
});

test("arguments flow through a chain of subprograms", () => {
  const p = asm(
    mov(3, 4), //              0 main
    callLocal(2), //           1 → mid
    mov(0, 0), //              2
    exit(), //                 3
    alu(AluOp.ADD, 3, 1), //   4 mid
    callLocal(1), //           5 → leaf
    exit(), //                 6
    { map: "jmp" },
    lddw(2), //                7 leaf
    call(12), //               9
    exit(), //                10
  );
  const functions: FunctionSpan[] = [
    { name: "main", start: 0, end: 4, section: "xdp" },
    { name: "mid", start: 4, end: 7, section: ".text" },
    { name: "leaf", start: 7, end: 11, section: ".text" },
  ];
  assert.deepEqual(analyse(p, functions), [
    { insn: 9, map: "jmp", keys: [5], subprogram: "leaf", source: undefined },
  ]);
});

test("constant folding through ALU operations", () => {
  const p = asm(
    mov(3, 1),
    alu(AluOp.LSH, 3, 3), // 8
    alu(AluOp.ADD, 3, 1), // 9
    alu(AluOp.OR, 3, 0x10), // 25
    alu(AluOp.AND, 3, 0x1b), // 25 & 27 = 25
    alu(AluOp.SUB, 3, 5), // 20
    alu(AluOp.RSH, 3, 2), // 5
    { map: "jmp" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.deepEqual(analyse(p)[0]?.keys, [5]);
});

test("32-bit ALU wraps and zero-extends; 64-bit keys are truncated to the helper's u32", () => {
  const wrap = asm(mov32(3, -1), alu32(AluOp.ADD, 3, 2), { map: "m" }, lddw(2), call(12), exit());
  assert.deepEqual(analyse(wrap)[0]?.keys, [1]);
  const big = asm(lddw(3, 0x1_0000_0002n), { map: "m" }, lddw(2), call(12), exit());
  assert.deepEqual(analyse(big)[0]?.keys, [2]);
});

test("operations it does not model make the key unknown", () => {
  const byReg = asm(mov(3, 1), ldxb(4, 1, 0), alur(AluOp.ADD, 3, 4), { map: "m" }, lddw(2), call(12), exit());
  assert.equal(analyse(byReg)[0]?.keys, undefined);
  const bswap = asm(
    mov(3, 1),
    I(Class.ALU | AluOp.END, 3, 0, 0, 16),
    { map: "m" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.equal(analyse(bswap)[0]?.keys, undefined);
});

test("spill and fill through the stack", () => {
  const p = asm(
    mov(3, 6),
    stxdw(10, -8, 3),
    { map: "jmp" },
    lddw(4),
    stxdw(10, -16, 4),
    call(5),
    ldxdw(3, 10, -8),
    ldxdw(2, 10, -16),
    call(12),
    exit(),
  );
  assert.deepEqual(analyse(p), [
    { insn: 8, map: "jmp", keys: [6], subprogram: undefined, source: undefined },
  ]);
});

test("a 32-bit immediate store filled back as 32 bits, via a copied frame pointer", () => {
  const p = asm(
    movr(6, 10),
    alu(AluOp.ADD, 6, -4),
    stw(6, 0, 3),
    ldxw(3, 10, -4),
    { map: "m" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.deepEqual(analyse(p)[0]?.keys, [3]);
});

test("a helper handed a stack pointer may overwrite the stack", () => {
  const p = asm(
    mov(3, 6),
    stxdw(10, -8, 3),
    movr(1, 10),
    alu(AluOp.ADD, 1, -8),
    call(1),
    ldxdw(3, 10, -8),
    { map: "jmp" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.equal(analyse(p)[0]?.keys, undefined);
});

test("a partial overwrite of a slot forgets it", () => {
  const p = asm(
    mov(3, 6),
    stxdw(10, -8, 3),
    stw(10, -4, 0),
    ldxdw(3, 10, -8),
    { map: "m" },
    lddw(2),
    call(12),
    exit(),
  );
  assert.equal(analyse(p)[0]?.keys, undefined);
});

test("a loop widens the key set to unknown and terminates", () => {
  const p = asm(
    mov(3, 0), //         0
    alu(AluOp.ADD, 3, 1), // 1
    jlt(3, 100, -2), //   2
    { map: "m" },
    lddw(2), //           3
    call(12), //          5
    exit(),
  );
  assert.deepEqual(analyse(p), [
    { insn: 5, map: "m", keys: undefined, subprogram: undefined, source: undefined },
  ]);
});

test("a map_value reference is not a prog array", () => {
  const p = asm({ map: ".rodata", kind: "map_value" }, lddw(2), mov(3, 0), call(12), exit());
  assert.deepEqual(analyse(p), [
    { insn: 3, map: undefined, keys: [0], subprogram: undefined, source: undefined },
  ]);
});

test("a site in dead code reports nothing known", () => {
  const p = asm(mov(0, 0), exit(), { map: "m" }, lddw(2), mov(3, 1), call(12), exit());
  assert.deepEqual(analyse(p), [
    { insn: 5, map: undefined, keys: undefined, subprogram: undefined, source: undefined },
  ]);
});

test("no tail calls, and malformed jumps outside the function, do not throw", () => {
  assert.deepEqual(analyse(asm(mov(0, 0), exit())), []);
  assert.deepEqual(analyse(asm(ja(100), mov(3, 1), call(12), exit())), [
    { insn: 2, map: undefined, keys: undefined, subprogram: undefined, source: undefined },
  ]);
  assert.deepEqual(findTailCalls([], [], []), []);
});

// ---- Real clang output.

test("seed example: merged call site in tail_call.bpf.o has keys 0 and 1", () => {
  const path = "examples/tail-call/tail_call.bpf.o";
  const { insns } = sectionCode(path, "xdp");
  const main = insns.slice(0, 40);
  // The relocation of the lddw at insn 35, written out by hand.
  const refs: MapReference[] = [{ insn: 35, kind: "map", map: "prog_array", offset: 0 }];
  const sites = findTailCalls(main, refs, [{ name: "main_prog", start: 0, end: 40, section: "xdp" }]);
  assert.deepEqual(sites, [
    { insn: 37, map: "prog_array", keys: [0, 1], subprogram: undefined, source: undefined },
  ]);
  // And the same through the relocation table.
  const prog = programOf(path, "xdp", "main_prog");
  assert.deepEqual(findTailCalls(prog.insns, prog.refs, prog.functions), sites);
});

test("tailcalls.bpf.o fixture", (t) => {
  const path = "test/bpf/fixtures/tailcalls.bpf.o";
  const got = (name: string) => {
    const p = programOf(path, "xdp", name);
    return findTailCalls(p.insns, p.refs, p.functions);
  };
  const cases = {
    chain: [{ map: "jmp_chain", keys: [0] }],
    // clang merges the 5 and 2 calls (different maps) into one site, then calls slot 7.
    const_keys: [
      { map: undefined, keys: [2, 5] },
      { map: "jmp_xdp", keys: [7] },
    ],
    packet_key: [{ map: "jmp_by_byte", keys: undefined }],
    // Its tail call is in .text, not in the program's own body.
    via_subprog: [],
    target: [],
  };
  const expectedCalls = hasObjdump ? objdumpTailCalls(path, "xdp") : undefined;
  if (!hasObjdump) t.diagnostic("llvm-objdump missing: call positions not cross-checked");
  for (const [name, want] of Object.entries(cases)) {
    const sites = got(name);
    assert.deepEqual(
      sites.map(({ map, keys, subprogram }) => ({ map, keys, subprogram })),
      want.map((w) => ({ ...w, subprogram: undefined })),
      name,
    );
    if (expectedCalls)
      assert.deepEqual(
        sites.map((s) => s.insn),
        expectedCalls.get(name),
        `${name}: call 12 positions`,
      );
  }
});

test("subprogs.bpf.o fixture: tail call from a .text subprogram", (t) => {
  const path = "test/bpf/fixtures/subprogs.bpf.o";
  const prog = programOf(path, "xdp", "subprog_a", true);
  const sites = findTailCalls(prog.insns, prog.refs, prog.functions);
  assert.deepEqual(
    sites.map(({ map, keys, subprogram }) => ({ map, keys, subprogram })),
    [{ map: "jump_table", keys: [3], subprogram: "dispatch" }],
  );
  if (!hasObjdump) return t.diagnostic("llvm-objdump missing: call position not cross-checked");
  const dispatch = prog.functions.find((f) => f.name === "dispatch");
  assert.ok(dispatch);
  const rel = objdumpTailCalls(path, ".text").get("dispatch");
  assert.deepEqual(
    sites.map((s) => s.insn),
    rel?.map((i) => dispatch.start + i),
  );
});

test("tailcalls.bpf.o fixture: slot passed as a constant argument to a subprogram", (t) => {
  const path = "test/bpf/fixtures/tailcalls.bpf.o";
  const prog = programOf(path, "xdp", "via_subprog", true);
  const sites = findTailCalls(prog.insns, prog.refs, prog.functions);
  assert.deepEqual(
    sites.map(({ map, keys, subprogram }) => ({ map, keys, subprogram })),
    [{ map: "jmp_xdp", keys: [1, 3], subprogram: "jump_to" }],
  );
  if (!hasObjdump) return t.diagnostic("llvm-objdump missing: call position not cross-checked");
  const fn = prog.functions.find((f) => f.name === "jump_to");
  assert.ok(fn);
  assert.deepEqual(
    sites.map((s) => s.insn),
    objdumpTailCalls(path, ".text")
      .get("jump_to")
      ?.map((i) => fn.start + i),
  );
});

test("maps.bpf.o fixture: constant slot after many helper calls", () => {
  const p = programOf("test/bpf/fixtures/maps.bpf.o", "xdp", "use_maps");
  const sites = findTailCalls(p.insns, p.refs, p.functions);
  assert.deepEqual(
    sites.map(({ map, keys }) => ({ map, keys })),
    [{ map: "prog_array_map", keys: [2] }],
  );
  if (hasObjdump) {
    assert.deepEqual(
      sites.map((s) => s.insn),
      objdumpTailCalls("test/bpf/fixtures/maps.bpf.o", "xdp").get("use_maps"),
    );
  }
});

// ---- Source lines.

test("a site's source is the line info record covering its call; a merged call (line 0) takes the line before it", () => {
  const line = (insn: number, lineNumber: number, text: string): LineInfo => ({
    insn,
    fileName: "./dir/x.bpf.c",
    line: text,
    lineNumber,
    column: 2,
    fileNameOff: 0,
    lineOff: 0,
  });
  const p = asm({ map: "jmp" }, lddw(2), mov(3, 1), call(12), { map: "jmp" }, lddw(2), call(12), exit());
  const lines = [line(0, 10, "\tbpf_tail_call(ctx, &jmp, 1);"), line(4, 0, ""), line(7, 12, "}")];
  assert.deepEqual(
    findTailCalls(p.insns, p.refs, [], lines).map((s) => [s.insn, s.source]),
    [
      [3, { file: "./dir/x.bpf.c", line: 10, column: 2, text: "bpf_tail_call(ctx, &jmp, 1);" }],
      [6, { file: "./dir/x.bpf.c", line: 10, column: 2, text: "bpf_tail_call(ctx, &jmp, 1);" }],
    ],
  );
});

test("every tail-call site of the fixtures names its bpf_tail_call line of the C source", () => {
  const objects = [
    "examples/tail-call/tail_call.bpf.o",
    "test/bpf/fixtures/tailcalls.bpf.o",
    "test/bpf/fixtures/subprogs.bpf.o",
    "test/bpf/fixtures/maps.bpf.o",
  ];
  const found = new Map<string, string>();
  for (const path of objects) {
    const spec = loadCollectionSpec(new Uint8Array(readFileSync(path)), { file: path });
    for (const p of Object.values(spec.programs)) {
      for (const site of p.tailCalls) {
        const where = site.source === undefined ? "none" : `${site.source.file}:${site.source.line}`;
        found.set(`${p.name}@${site.insn}`, where);
        if (site.source === undefined) continue;
        const c = readFileSync(site.source.file, "utf8").split("\n")[site.source.line - 1] ?? "";
        assert.equal(site.source.text, c.trim(), `${p.name} insn ${site.insn}`);
        // A merged call (its own record is line 0) names the statement it comes from instead.
        const merged = ["main_prog@37", "const_keys@19"].includes(`${p.name}@${site.insn}`);
        assert.match(c, merged ? /switch|bpf_tail_call\(/ : /bpf_tail_call\(/, `${p.name} insn ${site.insn}`);
      }
    }
  }
  assert.deepEqual(Object.fromEntries(found), {
    // clang merged the calls of lines 54 and 57 into one, at line 0: the switch they are in.
    "main_prog@37": "./examples/tail-call/tail_call.bpf.c:52",
    "chain@15": "./test/bpf/fixtures/tailcalls.bpf.c:84",
    "const_keys@19": "./test/bpf/fixtures/tailcalls.bpf.c:58",
    "const_keys@24": "./test/bpf/fixtures/tailcalls.bpf.c:59",
    "packet_key@9": "./test/bpf/fixtures/tailcalls.bpf.c:72",
    "via_subprog@16": "./test/bpf/fixtures/tailcalls.bpf.c:91",
    "subprog_a@39": "./test/bpf/fixtures/subprogs.bpf.c:48",
    "use_maps@73": "./test/bpf/fixtures/maps.bpf.c:154",
  });
});
