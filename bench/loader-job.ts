/**
 * What the loader benchmark's tsbpf sides share (bench/tsbpf-loader.ts, package-entry-loader.ts,
 * tsbpf-skel-loader.ts): the ELF job of bench/c/loader.c (open, load, two slots, XDP attach) and
 * the phases each prints as one JSON line for bench/loader-bench.ts.
 */
// A static import: node:fs is part of Node (loaded before any script runs, as libc is for the C
// loader). A dynamic import() of it from a code-cached bundle started Node's ES module loader, which
// the CLI never does: about 140 KB of young-generation allocation that moved V8's first scavenge
// into the timed open.
import { readFileSync } from "node:fs";
import type { Collection, loadCollectionSpec } from "tsbpf";

/** The ELF job's arguments: OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG. */
export interface ElfJobArgs {
  objectPath: string;
  iface: string;
  dispatcher: string;
  mapName: string;
  slot0: string;
  slot1: string;
}

/** The ELF job's arguments from the command line; prints the usage of `program` and exits when short. */
export function elfJobArgs(program: string): ElfJobArgs {
  const [objectPath, iface, dispatcher, mapName, slot0, slot1] = process.argv.slice(2);
  if (
    objectPath === undefined ||
    iface === undefined ||
    dispatcher === undefined ||
    mapName === undefined ||
    slot0 === undefined ||
    slot1 === undefined
  ) {
    console.error(`usage: ${program} OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG`);
    process.exit(2);
  }
  return { objectPath, iface, dispatcher, mapName, slot0, slot1 };
}

/**
 * Times open, load, slots and attach after the import, with V8's garbage collections in between:
 * a scavenge costs milliseconds on a cold process, and where it lands depends on everything
 * allocated since start-up.
 */
export class LoaderPhases {
  readonly #t0: bigint;
  readonly #marks: bigint[] = [];
  #gcs: InstanceType<typeof PerformanceObserver> | undefined;
  #pImport = 0;
  #pAttached = 0;
  #warming = false;

  /** `t0`: the loader's first clock reading, before it imported tsbpf. */
  constructor(t0: bigint) {
    this.#t0 = t0;
  }

  /** The import is over (koffi and libc loaded too): the timed phases start. */
  imported(): void {
    this.#gcs = new PerformanceObserver(() => undefined);
    this.#gcs.observe({ entryTypes: ["gc"] });
    // done() runs once before the clock, marking nothing: V8 compiles a function on its first
    // call (this file has no code cache), and done()'s first call, after the open, put some
    // 30 µs of the harness's own compiling into the timed load. The C loader's mark is one
    // clock_gettime().
    this.#warming = true;
    this.done();
    this.#warming = false;
    this.#pImport = performance.now();
    this.#marks.push(process.hrtime.bigint());
  }

  /** The next phase (open, load, slots, attach, in that order) is over. */
  done(): void {
    const now = process.hrtime.bigint();
    if (this.#warming) return;
    this.#marks.push(now);
    if (this.#marks.length === 5) this.#pAttached = performance.now();
  }

  /** Prints the phases as the JSON line loader-bench.ts reads. */
  async print(): Promise<void> {
    // Node makes a 'gc' entry on the turn after the collection: let the last one in.
    await new Promise((resolve) => setImmediate(resolve));
    let gcMs = 0;
    for (const e of this.#gcs?.takeRecords() ?? [])
      if (e.startTime >= this.#pImport && e.startTime < this.#pAttached) gcMs += e.duration;
    this.#gcs?.disconnect();
    const [tImport, tOpen, tLoad, tSlots, tAttached] = this.#marks;
    if (
      tAttached === undefined ||
      tImport === undefined ||
      tOpen === undefined ||
      tLoad === undefined ||
      tSlots === undefined
    )
      throw new Error(`LoaderPhases: ${this.#marks.length} of 5 marks`);
    const ns = (a: bigint, b: bigint): number => Number(b - a);
    console.log(
      JSON.stringify({
        import_ns: ns(this.#t0, tImport),
        open_ns: ns(tImport, tOpen),
        load_ns: ns(tOpen, tLoad),
        slots_ns: ns(tLoad, tSlots),
        attach_ns: ns(tSlots, tAttached),
        gc_ns: Math.round(gcMs * 1e6),
        main_to_attached_ns: ns(this.#t0, tAttached),
        attached_at_ns: Number(tAttached),
      }),
    );
  }
}

/** The library's parts the ELF job uses: from dist/src's modules or from the package entry. */
export interface ElfJobLibrary {
  Collection: typeof Collection;
  loadCollectionSpec: typeof loadCollectionSpec;
}

/** Opens, loads, fills the two slots and attaches, marking each phase; then prints and cleans up. */
export async function runElfJob(lib: ElfJobLibrary, args: ElfJobArgs, phases: LoaderPhases): Promise<void> {
  const { objectPath } = args;
  phases.imported();
  const spec = lib.loadCollectionSpec(new Uint8Array(readFileSync(objectPath)), { file: objectPath });
  phases.done();
  const coll = await lib.Collection.load(spec, { backend: "kernel" });
  phases.done();
  const map = coll.maps[args.mapName];
  const main = coll.programs[args.dispatcher];
  const p0 = coll.programs[args.slot0];
  const p1 = coll.programs[args.slot1];
  if (map === undefined || main === undefined || p0 === undefined || p1 === undefined) {
    throw new Error(
      `${objectPath} lacks ${args.mapName}, ${args.dispatcher}, ${args.slot0} or ${args.slot1}`,
    );
  }
  map.set(0, p0);
  map.set(1, p1);
  phases.done();
  const link = await main.attachXdp({ iface: args.iface });
  phases.done();
  await phases.print();
  link.close();
  coll.close();
}
