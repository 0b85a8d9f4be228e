/**
 * bench/tsbpf-loader.ts's job with tsbpf imported as a user's program imports it: `import("tsbpf")`
 * resolves through package.json's "exports" to the package entry (dist/src/package-entry.js: the
 * library bundled and compiled through V8's code cache, docs/code-cache.md), as it does from an
 * installed or linked package. Same arguments, phases and JSON line as bench/tsbpf-loader.ts.
 *
 *   node dist/bench/package-entry-loader.js OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 */
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
    console.error("usage: package-entry-loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG");
    process.exit(2);
  }
  const { readFileSync } = await import("node:fs");
  const { Collection, kernel, loadCollectionSpec } = await import("tsbpf");
  // As bench/tsbpf-loader.ts does with the internal defaultSys(): koffi and libc count as import.
  const { loadNativeLayer } = await import("./native-layer.js");
  loadNativeLayer(kernel);
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
  console.error(`package-entry-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
