/**
 * Part 4 of `npm run bench`: reading a kernel ring buffer. The producer is
 * test/bpf/events/events.bpf.o's rb_emit (records of a fixed size, each starting with a sequence
 * number) run with BPF_PROG_TEST_RUN; its ring is enlarged to 64 MiB and pinned with the program,
 * so a C consumer on libbpf's `ring_buffer__consume` (bench/c/ringbuf_consumer.c, built here)
 * reads the very same ring in the same run. Each trial fills the ring, then times one drain of
 * every record: tsbpf's `consumeRaw()` (zero-copy batch), `read()` (a copy of each record) and the
 * async iterator, and libbpf's `ring_buffer__consume`. Every reader checks the sequence numbers.
 *
 * A last part runs the C producer in another process while tsbpf reads concurrently with
 * `read()`: records missing from the sequence must be exactly the producer's own drop counter.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { globals } from "../src/backend/typed-map.js";
import type { KernelCollection } from "../src/kernel/kernel-collection.js";
import { readSpec } from "./engines.js";
import { median, nowNs } from "./stats.js";

/** One record size's figures: ns per record (median of the trials) for each reader. */
export interface EventsRow {
  size: number;
  records: number;
  consumeNsPerRecord: number;
  readNsPerRecord: number;
  iteratorNsPerRecord: number;
  libbpfNsPerRecord?: number;
  /** Records out of sequence (lost or duplicated) over every trial of every reader. */
  seqErrors: number;
  /** The producer's own count of records it could not write (0: the ring always had room). */
  drops: number;
}

/** The concurrent run: producer in another process, tsbpf reading as records come. */
export interface EventsConcurrent {
  size: number;
  produced: number;
  received: number;
  /** Sequence numbers never received. */
  missing: number;
  /** Sequence numbers received twice or going backwards. */
  duplicated: number;
  /** The producer's drop counter: must equal `missing`. */
  drops: number;
  seconds: number;
}

/** Part 4's results, or why it was skipped. */
export type EventsResult =
  | { skipped: string }
  | { rows: EventsRow[]; concurrent?: EventsConcurrent; libbpfSkipped?: string };

const OBJECT = "test/bpf/events/events.bpf.o";
const RING = 64 << 20;
const PER_RUN = 256;
/** Records per read() call in the copying batch figure. */
const READ_BATCH = 4096;

function cfg(size: number, count: number): Uint8Array {
  const p = new Uint8Array(64);
  const v = new DataView(p.buffer);
  v.setUint32(0, size, true);
  v.setUint32(4, count, true);
  return p;
}

function buildC(dir: string): string {
  const out = join(dir, "ringbuf_consumer");
  execFileSync("cc", ["-O2", "bench/c/ringbuf_consumer.c", "-lbpf", "-lelf", "-lz", "-o", out], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return out;
}

/** Sequence checking shared by the readers. */
class SeqCheck {
  next = -1;
  errors = 0;
  #buf: Uint8Array | undefined;
  #view = new DataView(new ArrayBuffer(8));
  see(rec: Uint8Array): void {
    this.seeAt(rec, 0);
  }
  /** The record at `buf[off..]`; one DataView per buffer, not per record. */
  seeAt(buf: Uint8Array, off: number): void {
    if (buf !== this.#buf) {
      this.#buf = buf;
      this.#view = new DataView(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
    }
    // Two 32-bit halves: a BigInt per record would cost more than the rest of the read.
    const seq = this.#view.getUint32(off, true) + this.#view.getUint32(off + 4, true) * 2 ** 32;
    if (this.next >= 0 && seq !== this.next) this.errors++;
    this.next = seq + 1;
  }
}

/** Runs part 4 with `trials` fills per reader and size. */
export async function benchEvents(opts: { trials: number; sizes?: number[] }): Promise<EventsResult> {
  const sizes = opts.sizes ?? [16, 128, 2048];
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-events-"));
  const pinDir = `/sys/fs/bpf/tsbpf-bench-events-${process.pid}`;
  let c: string | undefined;
  let libbpfSkipped: string | undefined;
  try {
    c = buildC(dir);
  } catch (e) {
    libbpfSkipped = `C consumer not built: ${e instanceof Error ? e.message.split("\n")[0] : String(e)} (needs cc and libbpf-dev)`;
  }
  const { loadKernelCollection } = await import("../src/kernel/kernel-collection.js");
  const rows: EventsRow[] = [];
  let concurrent: EventsConcurrent | undefined;
  try {
    mkdirSync(pinDir, { recursive: true });
    for (const size of sizes) {
      const spec = readSpec(OBJECT);
      (spec.maps.rb as { maxEntries: number }).maxEntries = RING;
      const coll: KernelCollection = await loadKernelCollection(spec, { onWarning: () => {} });
      try {
        rows.push(await benchSize(coll, size, opts.trials, c, pinDir));
      } finally {
        coll.close();
        rmSync(`${pinDir}/rb`, { force: true });
        rmSync(`${pinDir}/rb_emit`, { force: true });
      }
    }
    if (c !== undefined) concurrent = await benchConcurrent(c, pinDir);
  } finally {
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    rows,
    ...(concurrent === undefined ? {} : { concurrent }),
    ...(libbpfSkipped === undefined ? {} : { libbpfSkipped }),
  };
}

async function benchSize(
  coll: KernelCollection,
  size: number,
  trials: number,
  c: string | undefined,
  pinDir: string,
): Promise<EventsRow> {
  const prog = coll.programs.rb_emit;
  if (prog === undefined) throw new Error("rb_emit missing");
  const rec = (size + 8 + 7) & ~7;
  const runs = Math.floor((RING - 1) / rec / PER_RUN) - 1;
  const records = runs * PER_RUN;
  const fill = async (): Promise<void> => {
    await prog.run(cfg(size, PER_RUN), { repeat: runs });
  };
  const check = new SeqCheck();
  const consume: number[] = [];
  const read: number[] = [];
  const iter: number[] = [];
  const reader = coll.events("rb");
  try {
    for (let t = 0; t < trials; t++) {
      await fill();
      let n = 0;
      const t0 = nowNs();
      n += reader.consumeRaw((buf, off) => check.seeAt(buf, off));
      consume.push((nowNs() - t0) / n);
      if (n !== records) check.errors += Math.abs(records - n);

      await fill();
      const t1 = nowNs();
      let got = 0;
      while (got < records) {
        const batch = await reader.read({ max: READ_BATCH });
        for (const r of batch) check.see(r);
        got += batch.length;
      }
      read.push((nowNs() - t1) / got);

      await fill();
      const it = reader[Symbol.asyncIterator]();
      const t2 = nowNs();
      for (let i = 0; i < records; i++) {
        const x = await it.next();
        if (x.done === true) break;
        check.see(x.value);
      }
      iter.push((nowNs() - t2) / records);
    }
  } finally {
    await reader.close();
  }
  let libbpf: number | undefined;
  if (c !== undefined) {
    coll.maps.rb?.pin(`${pinDir}/rb`);
    prog.pin(`${pinDir}/rb_emit`);
    const out = execFileSync(
      c,
      [`${pinDir}/rb`, `${pinDir}/rb_emit`, String(size), String(records), String(trials)],
      {
        encoding: "utf8",
      },
    );
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { records: number; ns: number; seqErrors: number });
    libbpf = median(lines.map((l) => l.ns / l.records));
    check.errors += lines.reduce((a, l) => a + l.seqErrors + Math.abs(l.records - records), 0);
  }
  return {
    size,
    records,
    consumeNsPerRecord: median(consume),
    readNsPerRecord: median(read),
    iteratorNsPerRecord: median(iter),
    ...(libbpf === undefined ? {} : { libbpfNsPerRecord: libbpf }),
    seqErrors: check.errors,
    drops: Number(globals(coll, ".bss").get("drops")),
  };
}

/** The producer in another process (the C binary's produce mode), tsbpf reading as records come. */
async function benchConcurrent(c: string, pinDir: string): Promise<EventsConcurrent> {
  const size = 128;
  const produced = 4_000_000;
  const spec = readSpec(OBJECT);
  (spec.maps.rb as { maxEntries: number }).maxEntries = 1 << 20;
  const { loadKernelCollection } = await import("../src/kernel/kernel-collection.js");
  const coll = await loadKernelCollection(spec, { onWarning: () => {} });
  try {
    const prog = coll.programs.rb_emit;
    if (prog === undefined) throw new Error("rb_emit missing");
    prog.pin(`${pinDir}/rb_emit_c`);
    const reader = coll.events("rb");
    const seen = new Uint8Array(produced + 64 * PER_RUN);
    let received = 0;
    let duplicated = 0;
    let last = -1;
    const t0 = nowNs();
    const child = spawn(c, ["produce", `${pinDir}/rb_emit_c`, String(size), String(produced)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let exited = false;
    const done = new Promise<void>((res, rej) => {
      child.on("exit", (code) => {
        exited = true;
        if (code === 0) res();
        else rej(new Error(`producer exited ${code}`));
      });
    });
    try {
      const take = (r: Uint8Array): void => {
        const seq = Number(new DataView(r.buffer, r.byteOffset, 8).getBigUint64(0, true));
        if (seq <= last || seen[seq] === 1) duplicated++;
        seen[seq] = 1;
        last = seq;
        received++;
      };
      while (!exited) {
        reader.consume(take);
        await reader.wait(20);
      }
      await done;
      reader.consume(take);
    } finally {
      child.kill("SIGKILL");
      await reader.close();
      rmSync(`${pinDir}/rb_emit_c`, { force: true });
    }
    const seconds = (nowNs() - t0) / 1e9;
    const total = Number(globals(coll, ".bss").get("next_seq"));
    let missing = 0;
    for (let i = 0; i < total; i++) if (seen[i] !== 1) missing++;
    return {
      size,
      produced: total,
      received,
      missing,
      duplicated,
      drops: Number(globals(coll, ".bss").get("drops")),
      seconds,
    };
  } finally {
    coll.close();
  }
}
