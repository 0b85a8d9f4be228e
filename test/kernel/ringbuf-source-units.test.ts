/**
 * The kernel ring-buffer reader against a fake EventSys (no root): the pages it maps are plain
 * ArrayBuffers laid out as the kernel lays out a ring buffer map, so the tests write headers with
 * the busy and discard bits and positions by hand and check what the reader hands over, where it
 * stops, the consumer position it publishes, and that closing wakes a pending wait and frees the
 * epoll fd and the mappings only after that wait has returned.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PAGE_SIZE, RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT } from "../../src/abi/index.js";
import { EventReader } from "../../src/backend/event-reader.js";
import { KernelRingbufSource } from "../../src/kernel/ringbuf-source.js";
import type { EventSys, MappedMemory } from "../../src/kernel/sys.js";

const SIZE = 4 * PAGE_SIZE;

/** A fake ring: consumer page, producer page and the data area mapped twice (one buffer, mirrored by hand). */
function fakeRing() {
  const consumer = new ArrayBuffer(PAGE_SIZE);
  const producer = new ArrayBuffer(PAGE_SIZE + 2 * SIZE);
  const calls: string[] = [];
  let release: (() => void) | undefined;
  const sys: EventSys = {
    mmap(_fd, length, _prot, offset): MappedMemory {
      const buffer = offset === 0 ? consumer : producer;
      assert.equal(length, buffer.byteLength);
      return { buffer, unmap: () => calls.push(`munmap ${offset}`) };
    },
    epollCreate: () => 100,
    epollAdd: (ep, fd) => {
      calls.push(`epoll_ctl ${ep} ${fd}`);
    },
    epollWait: () =>
      new Promise<number>((r) => {
        calls.push("epoll_wait");
        release = () => {
          calls.push("epoll_wait returned");
          r(1);
        };
      }),
    eventfd: () => 101,
    eventfdSignal: (fd) => {
      calls.push(`wake ${fd}`);
      release?.();
    },
    perfEventOpen: () => assert.fail("not a perf buffer"),
    ioctl: () => undefined,
    close: (fd) => {
      calls.push(`close ${fd}`);
    },
  };
  const data = new Uint8Array(producer, PAGE_SIZE);
  const view = new DataView(producer, PAGE_SIZE);
  const prod = new BigUint64Array(producer, 0, 1);
  const cons = new BigUint64Array(consumer, 0, 1);
  let pos = 0;
  /** Writes a record at the producer position (header bits as given) and mirrors what runs past the end. */
  const write = (bytes: Uint8Array, bits = 0): void => {
    const off = pos % SIZE;
    view.setUint32(off, (bytes.length | bits) >>> 0, true);
    view.setUint32(off + 4, 0, true);
    data.set(bytes, off + 8);
    // The kernel's second mapping of the data pages: bytes past the end are the ring's start.
    const end = off + 8 + bytes.length;
    if (end > SIZE) data.copyWithin(0, SIZE, end);
    data.copyWithin(SIZE, 0, SIZE);
    pos += (bytes.length + 8 + 7) & ~7;
    prod[0] = BigInt(pos);
  };
  const setBits = (at: number, bits: number): void => {
    const off = at % SIZE;
    view.setUint32(off, ((view.getUint32(off, true) & 0x3fffffff) | bits) >>> 0, true);
    data.copyWithin(SIZE, 0, SIZE);
  };
  return { sys, calls, write, setBits, cons, position: () => pos, release: () => release?.() };
}

const rec = (seq: number, len: number): Uint8Array => {
  const b = new Uint8Array(len).fill(seq & 0xff);
  new DataView(b.buffer).setUint32(0, seq, true);
  return b;
};

test("records are handed over in order, a busy one stops the reader, a discarded one is skipped", () => {
  const f = fakeRing();
  const src = new KernelRingbufSource(f.sys, 7, SIZE);
  f.write(rec(0, 10));
  const busyAt = f.position();
  f.write(rec(1, 20), RINGBUF_BUSY_BIT);
  f.write(rec(2, 30));
  const got: number[] = [];
  const take = (buf: Uint8Array, off: number, len: number) => {
    got.push(new DataView(buf.buffer, buf.byteOffset + off, len).getUint32(0, true));
  };
  assert.equal(src.consume(take, 100), 1);
  assert.deepEqual(got, [0]);
  // Released up to the busy record only: the producer may not reuse it yet.
  assert.equal(f.cons[0], BigInt(busyAt));
  // Submitted as discarded: skipped, and its space given back.
  f.setBits(busyAt, RINGBUF_DISCARD_BIT);
  assert.equal(src.consume(take, 100), 1);
  assert.deepEqual(got, [0, 2]);
  assert.equal(f.cons[0], BigInt(f.position()));
  src.close();
});

test("a record that runs past the ring's end is read whole through the second mapping", () => {
  const f = fakeRing();
  const src = new KernelRingbufSource(f.sys, 7, SIZE);
  const seen: Uint8Array[] = [];
  let seq = 0;
  // 3000-byte records: the sixth starts near the end of the 16 KiB ring and wraps.
  for (let round = 0; round < 12; round++) {
    f.write(rec(seq++, 3000));
    src.consume((buf, off, len) => seen.push(buf.slice(off, off + len)), 100);
  }
  assert.equal(seen.length, 12);
  seen.forEach((r, i) => {
    assert.equal(new DataView(r.buffer).getUint32(0, true), i);
    assert.ok(
      r.subarray(4).every((b) => b === (i & 0xff)),
      `record ${i} is whole`,
    );
  });
  assert.ok(f.position() > SIZE, "the ring wrapped");
  src.close();
});

test("max limits a batch, and the rest stays for the next call", () => {
  const f = fakeRing();
  const src = new KernelRingbufSource(f.sys, 7, SIZE);
  for (let i = 0; i < 5; i++) f.write(rec(i, 8));
  let n = 0;
  assert.equal(
    src.consume(() => n++, 2),
    2,
  );
  assert.equal(
    src.consume(() => n++, 100),
    3,
  );
  assert.equal(n, 5);
  src.close();
});

test("close wakes a pending wait and frees the epoll fd and mappings only after it returned", async () => {
  const f = fakeRing();
  const reader = new EventReader("rb", "ringbuf", new KernelRingbufSource(f.sys, 7, SIZE), (b) => b);
  assert.deepEqual(f.calls, ["epoll_ctl 100 101", "epoll_ctl 100 7"]);
  const waiting = reader.read();
  await new Promise((r) => setImmediate(r));
  assert.equal(f.calls.at(-1), "epoll_wait");
  const closing = reader.close();
  // The wake-up went out first; the wait had to return before anything was freed.
  const wake = f.calls.indexOf("wake 101");
  const returned = f.calls.indexOf("epoll_wait returned");
  assert.ok(wake >= 0 && returned > wake);
  await closing;
  assert.deepEqual(await waiting, []);
  const freed = f.calls.slice(returned + 1);
  assert.deepEqual(freed, ["close 101", "close 100", `munmap ${PAGE_SIZE}`, "munmap 0"]);
});
