/**
 * parseBtf reads a record's fields straight from the view once the record's bounds are checked,
 * and builds the text naming a record only when it raises an error. These check that every
 * truncated or mis-named record still fails with the ParseError that names it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseBtf } from "../../src/btf/index.js";
import { findSection, parseElf } from "../../src/elf/index.js";
import { isParseError } from "../../src/errors.js";

const obj = "examples/tail-call/tail_call.bpf.o";
const sec = findSection(parseElf(readFileSync(obj)), ".BTF");
const le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The object's BTF with its type area cut to `typeLen` bytes (strings kept whole). */
function cut(typeLen: number): Uint8Array {
  assert.ok(sec);
  const v = le(sec.data);
  const hdr = v.getUint32(4, true);
  const types = sec.data.subarray(hdr + v.getUint32(8, true), hdr + v.getUint32(8, true) + typeLen);
  const strs = sec.data.subarray(
    hdr + v.getUint32(16, true),
    hdr + v.getUint32(16, true) + v.getUint32(20, true),
  );
  const out = new Uint8Array(24 + typeLen + strs.length);
  out.set(sec.data.subarray(0, 24));
  const o = le(out);
  o.setUint32(4, 24, true);
  o.setUint32(8, 0, true);
  o.setUint32(12, typeLen, true);
  o.setUint32(16, typeLen, true);
  o.setUint32(20, strs.length, true);
  out.set(types, 24);
  out.set(strs, 24 + typeLen);
  return out;
}

test("a type area cut anywhere inside a record fails naming that record; cut between records it parses", () => {
  assert.ok(sec);
  const v = le(sec.data);
  const whole = v.getUint32(12, true);
  const full = parseBtf(cut(whole), { littleEndian: true });
  // Record boundaries, from the full parse: each record's size follows from its kind.
  const bounds = new Set<number>();
  let failures = 0;
  for (let len = 0; len <= whole; len++) {
    let err: unknown;
    try {
      const b = parseBtf(cut(len), { littleEndian: true, file: "t.o" });
      bounds.add(len);
      assert.ok(b.types.length <= full.types.length);
      assert.deepEqual(b.types, full.types.slice(0, b.types.length), `cut at ${len}`);
    } catch (e) {
      err = e;
    }
    if (err === undefined) continue;
    failures++;
    assert.ok(isParseError(err), `cut at ${len}: ${String(err)}`);
    assert.match(
      err.message,
      /^type \d+ (name|info|size\/type|\((INT|ARRAY|STRUCT|UNION|ENUM|ENUM64|FUNC_PROTO|VAR|DATASEC|DECL_TAG)\)): \d+ bytes at offset \d+ run past the end \(\d+ bytes\)/,
      `cut at ${len}`,
    );
    assert.equal(err.context.section, ".BTF");
    assert.equal(err.context.file, "t.o");
    assert.ok(
      (err.context.offset ?? -1) >= 24 && (err.context.offset ?? 0) <= 24 + len,
      `offset of cut ${len}`,
    );
  }
  assert.ok(failures > whole / 2, "most cuts fall inside a record");
  assert.equal(bounds.size + failures, whole + 1);
  assert.equal(bounds.size, full.types.length, "one clean cut per record boundary");
});

test("a member, value or parameter name outside the strings is an error naming it", () => {
  assert.ok(sec);
  const bytes = cut(le(sec.data).getUint32(12, true));
  const btf = parseBtf(bytes, { littleEndian: true });
  // The first STRUCT with members: its first member's name offset is the word after the header.
  let o = 24;
  let id = 1;
  for (; id < btf.types.length; id++) {
    const t = btf.types[id];
    if (t?.kind === "STRUCT" && t.members.length > 0) break;
    const info = le(bytes).getUint32(o + 4, true);
    const vlen = info & 0xffff;
    const extra: Record<string, number> = {
      INT: 4,
      ARRAY: 12,
      VAR: 4,
      DECL_TAG: 4,
      ENUM: 8 * vlen,
      FUNC_PROTO: 8 * vlen,
    };
    o +=
      12 +
      (extra[t?.kind ?? ""] ??
        (t?.kind === "UNION" || t?.kind === "DATASEC" || t?.kind === "ENUM64" ? 12 * vlen : 0));
  }
  assert.ok(id < btf.types.length, "tail_call.bpf.o has a struct");
  const bad = new Uint8Array(bytes);
  le(bad).setUint32(o + 12, 0x7fffff00, true);
  assert.throws(
    () => parseBtf(bad, { littleEndian: true }),
    (e: unknown) =>
      isParseError(e) &&
      new RegExp(`^type ${id} \\(STRUCT\\) member 0: string offset \\d+ is outside`).test(e.message),
  );
});
