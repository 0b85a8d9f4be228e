/**
 * A minimal WebAssembly binary encoder: just what the wasm tier (translate.ts) emits — one module
 * importing a memory, a function table and a few functions and exporting its functions, with the opcodes of the
 * MVP plus sign extension and bulk `memory.fill`. Own code rather than a dependency: see
 * docs/dependencies.md (the npm encoders are large toolkits whose import alone costs more than
 * the whole translation of a program).
 */

/** Value types. */
export const I32 = 0x7f;
/** Value types. */
export const I64 = 0x7e;
/** Block type of a block that yields nothing. */
export const VOID = 0x40;

/** Opcodes the wasm tier uses (WebAssembly core spec, binary format). */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  i32Load8U: 0x2d,
  i32Load16U: 0x2f,
  i64Load8S: 0x30,
  i64Load8U: 0x31,
  i64Load16S: 0x32,
  i64Load16U: 0x33,
  i64Load32S: 0x34,
  i64Load32U: 0x35,
  i32Store: 0x36,
  i64Store: 0x37,
  i64Store8: 0x3c,
  i64Store16: 0x3d,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtS: 0x4a,
  i32GtU: 0x4b,
  i32LeS: 0x4c,
  i32LeU: 0x4d,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64Ne: 0x52,
  i64LtS: 0x53,
  i64LtU: 0x54,
  i64GtS: 0x55,
  i64GtU: 0x56,
  i64LeS: 0x57,
  i64LeU: 0x58,
  i64GeS: 0x59,
  i64GeU: 0x5a,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivS: 0x6d,
  i32DivU: 0x6e,
  i32RemS: 0x6f,
  i32RemU: 0x70,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32ShrU: 0x76,
  i32Rotl: 0x77,
  i32Rotr: 0x78,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64DivS: 0x7f,
  i64DivU: 0x80,
  i64RemS: 0x81,
  i64RemU: 0x82,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrS: 0x87,
  i64ShrU: 0x88,
  i64Rotl: 0x89,
  i64Rotr: 0x8a,
  i32WrapI64: 0xa7,
  i64ExtendI32S: 0xac,
  i64ExtendI32U: 0xad,
  i32Extend8S: 0xc0,
  i32Extend16S: 0xc1,
  i64Extend8S: 0xc2,
  i64Extend16S: 0xc3,
  i64Extend32S: 0xc4,
} as const;

/** A growing byte buffer with the binary format's integer encodings. */
export class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = b;
    return this;
  }

  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.byte(b[i] as number);
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(v: number): this {
    let x = v >>> 0;
    do {
      const b = x & 0x7f;
      x >>>= 7;
      this.byte(x === 0 ? b : b | 0x80);
    } while (x !== 0);
    return this;
  }

  /** Signed LEB128 of an int32. */
  s32(v: number): this {
    let x = v | 0;
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of an int64 given as a bigint. */
  s64(v: bigint): this {
    let x = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  /** A length-prefixed UTF-8 name. */
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }

  /** A length-prefixed copy of `other`. */
  sized(other: Bytes): this {
    this.u32(other.length);
    for (let i = 0; i < other.length; i++) this.byte(other.buf[i] as number);
    return this;
  }

  /** The bytes written so far (a copy). */
  toArray(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A function type: parameter and result value types. */
export interface FuncType {
  params: readonly number[];
  results: readonly number[];
}

/** What {@link encodeModule} builds. */
export interface ModuleSpec {
  /** Functions imported from module "env", in order (function indices 0..n-1). */
  imports: readonly { name: string; type: FuncType }[];
  /** The memory imported as env.memory, in 64 KiB pages. */
  memoryPages: number;
  /** The first defined function (index `imports.length`), exported as `name`. */
  func: FuncSpec;
  /** Further functions (indices after it, each with a type of its own), exported by name. */
  more?: readonly FuncSpec[];
}

/** A defined function of {@link ModuleSpec}. */
export interface FuncSpec {
  name: string;
  type: FuncType;
  locals: readonly number[];
  body: Bytes;
}

/** The module's binary. */
export function encodeModule(m: ModuleSpec): Uint8Array {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, body: Bytes) => out.byte(id).sized(body);
  const funcs = [m.func, ...(m.more ?? [])];
  const types = [...m.imports.map((i) => i.type), ...funcs.map((f) => f.type)];
  const ts = new Bytes().u32(types.length);
  for (const t of types) {
    ts.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
  }
  section(1, ts);
  const is = new Bytes().u32(m.imports.length + 2);
  m.imports.forEach((imp, i) => {
    is.name("env").name(imp.name).byte(0x00).u32(i);
  });
  // Limits: at least `memoryPages`, no maximum (the runtime's memory may be larger).
  is.name("env").name("memory").byte(0x02).byte(0x00).u32(m.memoryPages);
  // A funcref table of functions of the defined function's type (call_indirect's table 0).
  is.name("env").name("table").byte(0x01).byte(0x70).byte(0x00).u32(0);
  section(2, is);
  const fs = new Bytes().u32(funcs.length);
  const es = new Bytes().u32(funcs.length);
  const cs = new Bytes().u32(funcs.length);
  funcs.forEach((f, i) => {
    fs.u32(m.imports.length + i);
    es.name(f.name)
      .byte(0x00)
      .u32(m.imports.length + i);
    // Locals, run-length encoded by type.
    const groups: [number, number][] = [];
    for (const t of f.locals) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const func = new Bytes();
    func.u32(groups.length);
    for (const [n, t] of groups) func.u32(n).byte(t);
    func.bytes(f.body.toArray());
    cs.sized(func);
  });
  section(3, fs);
  section(7, es);
  section(10, cs);
  return out.toArray();
}
