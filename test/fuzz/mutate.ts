import type { Rng } from "../differential/rng.js";

/** One mutation applied to an object, kept so a finding can be described and replayed. */
export interface Mutation {
  kind: "truncate" | "flip" | "splice" | "shdr" | "ehdr" | "btf";
  detail: string;
}

const EDGES32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 8, 16, 24];

function readU16(b: Uint8Array, o: number): number {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16) | ((b[o + 3] ?? 0) << 24)) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  for (let i = 0; i < 4; i++) if (o + i < b.length) b[o + i] = (v >>> (8 * i)) & 0xff;
}

function writeU64(b: Uint8Array, o: number, v: number): void {
  writeU32(b, o, v);
  writeU32(b, o + 4, v === 0xffffffff ? 0xffffffff : 0);
}

/** Where the section headers of a little-endian ELF64 are, if the header is sane enough to say. */
function sectionHeaders(b: Uint8Array): { off: number; count: number; size: number } | undefined {
  if (b.length < 64) return undefined;
  const off = readU32(b, 0x28);
  const size = readU16(b, 0x3a);
  const count = readU16(b, 0x3c);
  if (size < 64 || off + size * count > b.length) return undefined;
  return { off, count, size };
}

/** Offsets of the `.BTF` / `.BTF.ext` section contents, found by their magic 0xeb9f. */
function btfOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 4) if (b[i] === 0x9f && b[i + 1] === 0xeb) out.push(i);
  return out;
}

/**
 * Returns a mutated copy of `input` (a BPF ELF object) and what was done: truncation, bit flips,
 * byte splices from elsewhere in the file, corrupted section-header or ELF-header fields with
 * edge values, or corrupted BTF header/type bytes.
 */
export function mutateObject(rng: Rng, input: Uint8Array): { bytes: Uint8Array; mutations: Mutation[] } {
  let b = input.slice();
  const mutations: Mutation[] = [];
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    const kind = rng.pick([
      "truncate",
      "flip",
      "flip",
      "splice",
      "shdr",
      "shdr",
      "ehdr",
      "btf",
      "btf",
    ] as const);
    if (kind === "truncate" && b.length > 1) {
      const n = rng.chance(0.5) ? rng.int(b.length) : rng.int(Math.min(b.length, 128));
      b = b.slice(0, n);
      mutations.push({ kind, detail: `to ${n} bytes` });
    } else if (kind === "flip" && b.length > 0) {
      const flips = rng.range(1, 8);
      const at: number[] = [];
      for (let i = 0; i < flips; i++) {
        const o = rng.int(b.length);
        b[o] = (b[o] as number) ^ (1 << rng.int(8));
        at.push(o);
      }
      mutations.push({ kind, detail: `bits at ${at.join(",")}` });
    } else if (kind === "splice" && b.length > 16) {
      const len = rng.range(1, 64);
      const from = rng.int(b.length);
      const to = rng.int(b.length);
      b.copyWithin(to, from, Math.min(b.length, from + len));
      mutations.push({ kind, detail: `${len} bytes ${from} -> ${to}` });
    } else if (kind === "shdr") {
      const sh = sectionHeaders(b);
      if (sh === undefined || sh.count === 0) continue;
      const idx = rng.int(sh.count);
      // sh_name 0, sh_type 4, sh_flags 8, sh_addr 16, sh_offset 24, sh_size 32, sh_link 40, sh_info 44, sh_addralign 48, sh_entsize 56
      const field = rng.pick([0, 4, 24, 32, 40, 44, 48, 56]);
      const v = rng.chance(0.7) ? rng.pick(EDGES32) : rng.u32();
      const o = sh.off + idx * sh.size + field;
      if (field >= 24 && field !== 40 && field !== 44) writeU64(b, o, v);
      else writeU32(b, o, v);
      mutations.push({ kind, detail: `section ${idx} field +${field} = 0x${v.toString(16)}` });
    } else if (kind === "ehdr" && b.length >= 64) {
      // e_shoff 0x28, e_shentsize 0x3a, e_shnum 0x3c, e_shstrndx 0x3e, e_ident class/data 4/5, e_machine 0x12
      const field = rng.pick([0x04, 0x05, 0x12, 0x28, 0x3a, 0x3c, 0x3e]);
      const v = rng.pick(EDGES32);
      if (field === 0x28) writeU64(b, field, v);
      else if (field <= 0x05) b[field] = v & 0xff;
      else {
        b[field] = v & 0xff;
        b[field + 1] = (v >>> 8) & 0xff;
      }
      mutations.push({ kind, detail: `header +0x${field.toString(16)} = 0x${v.toString(16)}` });
    } else if (kind === "btf") {
      const offs = btfOffsets(b);
      if (offs.length === 0) continue;
      const base = rng.pick(offs);
      // BTF header: magic 0, version 2, flags 3, hdr_len 4, type_off 8, type_len 12, str_off 16, str_len 20;
      // or a word somewhere in the type section after it.
      const o = rng.chance(0.5) ? base + rng.pick([4, 8, 12, 16, 20]) : base + 24 + 4 * rng.int(64);
      const v = rng.chance(0.7) ? rng.pick(EDGES32) : rng.u32();
      writeU32(b, o, v);
      mutations.push({ kind, detail: `BTF at ${base}: word +${o - base} = 0x${v.toString(16)}` });
    }
  }
  return { bytes: b, mutations };
}
