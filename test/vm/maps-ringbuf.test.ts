import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Errno,
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RINGBUF_HDR_SZ,
  RingbufQuery,
  MapType,
} from "../../src/abi/index.js";
import { createVmMap, type RingbufMap } from "../../src/vm/maps/index.js";
import { mapSpec } from "../support/specs.js";

function ringbuf(size: number): RingbufMap {
  const s = mapSpec("events", MapType.ringbuf, 0, 0, size);
  return createVmMap(s, { possibleCpus: 1, littleEndian: true }) as RingbufMap;
}

const header = (rb: RingbufMap, off: number) => {
  const v = new DataView(rb.data.buffer);
  return { len: v.getUint32(off, true), pgOff: v.getUint32(off + 4, true) };
};

test("records carry the kernel's 8-byte header with busy and discard bits", () => {
  const rb = ringbuf(4096);
  const r = rb.reserve(5);
  assert.ok(r);
  assert.equal(r.offset, RINGBUF_HDR_SZ);
  assert.equal(header(rb, 0).len, (5 | RINGBUF_BUSY_BIT) >>> 0);
  r.view.set([1, 2, 3, 4, 5]);
  assert.deepEqual(rb.drain(), [], "a busy record stops the consumer");
  assert.equal(rb.submit(r.offset), 0);
  assert.equal(header(rb, 0).len, 5);
  const d = rb.reserve(3);
  assert.ok(d);
  assert.equal(d.offset, 16 + RINGBUF_HDR_SZ, "records are rounded up to 8 bytes");
  assert.equal(rb.discard(d.offset), 0);
  assert.equal(header(rb, 16).len, (3 | RINGBUF_DISCARD_BIT) >>> 0);
  assert.equal(rb.submit(d.offset), -Errno.EINVAL, "a record is committed once");
  assert.equal(rb.output(Uint8Array.of(9, 9)), 0);
  assert.equal(rb.query(RingbufQuery.AVAIL_DATA), 48n, "three records of 16 bytes");
  assert.deepEqual(rb.drain(), [Uint8Array.of(1, 2, 3, 4, 5), Uint8Array.of(9, 9)]);
  assert.equal(rb.query(RingbufQuery.AVAIL_DATA), 0n);
  assert.equal(rb.query(RingbufQuery.CONS_POS), 48n);
  assert.equal(rb.query(RingbufQuery.PROD_POS), 48n);
  assert.equal(rb.query(RingbufQuery.RING_SIZE), 4096n);
  assert.equal(rb.query(99n), 0n);
});

test("space: the producer may not get a whole ring ahead of the consumer or an open record", () => {
  const rb = ringbuf(4096);
  assert.equal(rb.reserve(4096), undefined, "header included, it cannot fit");
  const big = rb.reserve(4080); // 4088 bytes with its header: the most that fits
  assert.ok(big);
  assert.equal(rb.reserve(0), undefined);
  assert.equal(rb.output(new Uint8Array(1)), -Errno.EAGAIN);
  assert.equal(rb.output(new Uint8Array(1), 4n), -Errno.EINVAL);
  assert.equal(rb.reserve(1, 1n), undefined, "reserve takes no flags");
  rb.submit(big.offset);
  assert.equal(rb.drain().length, 1);
  assert.ok(rb.reserve(100));
});

test("a record that wraps is contiguous for the program and intact for the consumer", () => {
  const rb = ringbuf(4096);
  const first = rb.reserve(4000);
  assert.ok(first);
  rb.submit(first.offset);
  rb.drain();
  // Producer is at 4008: the next 200-byte sample runs past the end of the ring.
  const w = rb.reserve(200);
  assert.ok(w);
  assert.equal(w.offset, 4016);
  assert.ok(w.offset + w.size > rb.ringSize);
  for (let i = 0; i < 200; i++) w.view[i] = i;
  // An open record blocks later ones from being read, even if they are committed.
  assert.equal(rb.output(Uint8Array.of(7)), 0);
  assert.deepEqual(rb.drain(), []);
  rb.submit(w.offset);
  const got = rb.drain();
  assert.equal(got.length, 2);
  assert.deepEqual(
    got[0],
    Uint8Array.from({ length: 200 }, (_, i) => i),
  );
  assert.deepEqual(got[1], Uint8Array.of(7));
  // The wrapped part was moved to the start of the ring, where the kernel's double mapping puts it.
  // 80 bytes fit before the end (4016..4096), so sample byte 80 is now the ring's first byte.
  assert.equal(rb.data[0], 80);
});

test("an open record holds back the consumer and its space", () => {
  const rb = ringbuf(4096);
  const open = rb.reserve(8);
  assert.ok(open);
  for (let i = 0; i < 2; i++) assert.equal(rb.output(new Uint8Array(2000)), 0);
  assert.deepEqual(rb.drain(), []);
  assert.equal(rb.output(new Uint8Array(100)), -Errno.EAGAIN);
  assert.equal(rb.output(new Uint8Array(40)), 0, "4032 + 48 bytes still fit");
  rb.discard(open.offset);
  assert.equal(rb.drain().length, 3, "the discarded record is skipped");
});

test("user space cannot use element operations on a ring buffer", () => {
  const rb = ringbuf(8192);
  assert.throws(
    () => rb.lookup(new Uint8Array(0)),
    (e: unknown) => (e as { errno?: number }).errno === Errno.ENOTSUPP,
  );
  assert.throws(
    () => [...rb.keys()],
    (e: unknown) => (e as { errno?: number }).errno === Errno.ENOTSUPP,
  );
  assert.equal(rb.lookupForProgram(), undefined);
  assert.equal(header(rb, 0).pgOff, 0, "nothing written yet");
  const r = rb.reserve(1);
  assert.ok(r);
  assert.equal(header(rb, 0).pgOff, 3, "page offset of the record inside struct bpf_ringbuf");
});
