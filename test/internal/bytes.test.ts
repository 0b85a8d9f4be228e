import assert from "node:assert/strict";
import { test } from "node:test";
import { getU32, HOST_LITTLE_ENDIAN, putU32 } from "../../src/internal/bytes.js";

// putU32 and getU32 stand in for DataView on the load path: they must store and read what a
// DataView does, in both byte orders, for signed values (fds, immediates) and unsigned ones.
test("putU32 and getU32 agree with DataView in both byte orders", () => {
  const values = [0, 1, 255, 256, 0x1234_5678, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, -1, -2, -0x8000_0000];
  for (const le of [true, false]) {
    for (const v of values) {
      const ours = new Uint8Array(10).fill(0xaa);
      putU32(ours, 3, v, le);
      const theirs = new Uint8Array(10).fill(0xaa);
      new DataView(theirs.buffer).setUint32(3, v >>> 0, le);
      assert.deepEqual(ours, theirs, `${v} ${le ? "LE" : "BE"}`);
      assert.equal(getU32(ours, 3, le), new DataView(ours.buffer).getUint32(3, le));
    }
  }
  assert.equal(HOST_LITTLE_ENDIAN, new DataView(Uint16Array.of(1).buffer).getUint16(0, true) === 1);
});
