/**
 * tsbpf's side of the loader benchmark: the same job as bench/c/loader.c on libbpf. It loads an
 * object into the kernel, fills two prog-array slots, attaches the dispatcher as XDP through a
 * bpf_link, prints its own timings as one JSON line, detaches and exits.
 *
 *   node dist/bench/tsbpf-loader.js OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 *
 * tsbpf is imported dynamically after the first clock reading, so the import cost (the library's
 * modules, and koffi's native binary with libc) is measured rather than hidden before `main`. Times are from
 * process.hrtime (CLOCK_MONOTONIC), comparable with the C loader's and the parent's.
 */
// node:fs is part of Node itself (loaded before any script runs, as libc is for the C loader). A
// dynamic import() of it from the code-cached bundle went through Node's ES module loader, which
// the CLI never starts: about 140 KB of young-generation allocation that moved V8's first
// scavenge into the timed open.
import { readFileSync } from "node:fs";

const t0 = process.hrtime.bigint();

async function main(): Promise<void> {
  const [objectPath, iface, dispatcher, mapName, slot0, slot1] = process.argv.slice(2);
  if (
    objectPath === undefined ||
    iface === undefined ||
    dispatcher === undefined ||
    mapName === undefined ||
    slot0 === undefined ||
    slot1 === undefined
  ) {
    console.error("usage: tsbpf-loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG");
    process.exit(2);
  }
  const { Collection } = await import("../src/collection.js");
  const { loadCollectionSpec } = await import("../src/object/load-collection-spec.js");
  // The kernel engine is imported on first use by Collection.load, and it loads koffi's native
  // binary and libc on its first syscall; do both here so that their cost shows up as "import"
  // and not as "load". They are the counterpart of what the dynamic linker does for the C loader
  // (mapping libbpf, libelf and libc) before its main() and first clock reading.
  const { defaultSys } = await import("../src/kernel/sys.js");
  await import("../src/kernel/kernel-collection.js");
  defaultSys();
  // V8's garbage collections from here to attached: a scavenge costs milliseconds on a cold
  // process, and where it lands (open, load...) depends on everything allocated since start-up.
  const gcs = new PerformanceObserver(() => undefined);
  gcs.observe({ entryTypes: ["gc"] });
  const pImport = performance.now();
  const tImport = process.hrtime.bigint();

  const spec = loadCollectionSpec(new Uint8Array(readFileSync(objectPath)), { file: objectPath });
  const tOpen = process.hrtime.bigint();
  const coll = await Collection.load(spec, { backend: "kernel" });
  const tLoad = process.hrtime.bigint();

  const map = coll.maps[mapName];
  const main = coll.programs[dispatcher];
  const p0 = coll.programs[slot0];
  const p1 = coll.programs[slot1];
  if (map === undefined || main === undefined || p0 === undefined || p1 === undefined) {
    throw new Error(`${objectPath} lacks ${mapName}, ${dispatcher}, ${slot0} or ${slot1}`);
  }
  map.set(0, p0);
  map.set(1, p1);
  const tSlots = process.hrtime.bigint();

  const link = await main.attachXdp({ iface });
  const tAttached = process.hrtime.bigint();
  const pAttached = performance.now();
  // Node makes a 'gc' entry on the turn after the collection: let the last one in.
  await new Promise((resolve) => setImmediate(resolve));
  let gcMs = 0;
  for (const e of gcs.takeRecords())
    if (e.startTime >= pImport && e.startTime < pAttached) gcMs += e.duration;
  gcs.disconnect();

  const ns = (a: bigint, b: bigint): number => Number(b - a);
  console.log(
    JSON.stringify({
      import_ns: ns(t0, tImport),
      open_ns: ns(tImport, tOpen),
      load_ns: ns(tOpen, tLoad),
      slots_ns: ns(tLoad, tSlots),
      attach_ns: ns(tSlots, tAttached),
      gc_ns: Math.round(gcMs * 1e6),
      main_to_attached_ns: ns(t0, tAttached),
      attached_at_ns: Number(tAttached),
    }),
  );
  link.close();
  coll.close();
}

main().catch((e: unknown) => {
  console.error(`tsbpf-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
