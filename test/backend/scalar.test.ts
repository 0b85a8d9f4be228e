import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeScalar } from "../../src/backend/scalar.js";
import { UsageError } from "../../src/errors.js";

// encodeScalar encodes numbers of up to 6 bytes in double arithmetic and everything else through
// BigInt; both ways must give the same bytes and refuse the same values.
test("encodeScalar: numbers and bigints give the same bytes, and the same refusals, at every width", () => {
  let compared = 0;
  for (let size = 1; size <= 8; size++) {
    const span = 2 ** (size * 8);
    const edges = [
      0,
      1,
      -1,
      255,
      256,
      -128,
      -129,
      span / 2 - 1,
      -span / 2,
      -span / 2 - 1,
      span - 1,
      span,
      0x1234_5678,
    ];
    for (const x of edges) {
      if (!Number.isSafeInteger(x)) continue;
      for (const le of [true, false]) {
        let fromNumber: Uint8Array | Error;
        let fromBigInt: Uint8Array | Error;
        try {
          fromNumber = encodeScalar(x, size, le);
        } catch (e) {
          fromNumber = e as Error;
        }
        try {
          fromBigInt = encodeScalar(BigInt(x), size, le);
        } catch (e) {
          fromBigInt = e as Error;
        }
        if (fromBigInt instanceof Error) {
          assert.ok(fromNumber instanceof UsageError, `${x} in ${size} bytes: refused as a bigint only`);
          assert.equal(fromNumber.message, fromBigInt.message);
        } else {
          assert.deepEqual(fromNumber, fromBigInt, `${x} in ${size} bytes, ${le ? "LE" : "BE"}`);
        }
        compared++;
      }
    }
  }
  assert.ok(compared > 150);
  assert.deepEqual(encodeScalar(-2, 2, true), Uint8Array.of(0xfe, 0xff));
  assert.deepEqual(encodeScalar(0x010203, 3, false), Uint8Array.of(1, 2, 3));
  assert.throws(() => encodeScalar(70000, 2, true), /value 70000 does not fit in 2 bytes/);
  assert.throws(() => encodeScalar(1.5, 4, true), /value 1.5 is not an integer/);
});
