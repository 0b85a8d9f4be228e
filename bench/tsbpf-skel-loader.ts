/**
 * tsbpf's side of the loader benchmark's skeleton path: the same job as bench/tsbpf-loader.ts,
 * through the seed's generated skeleton (examples/tail-call/tail_call.skel.ts, the object
 * embedded), as examples/tail-call/loader.ts does it; the counterpart of bench/c/loader_skel.c.
 * Prints its own timings as one JSON line, detaches and exits.
 *
 *   node dist/bench/tsbpf-skel-loader.js IFACE
 *
 * The skeleton (and with it the library, through the package's entry: its bundle with V8's code
 * cache, or the module graph with TSBPF_BUNDLE=0) is imported after the first clock reading, as
 * tsbpf-loader.ts imports the library, so the import is measured apart.
 */
import { LoaderPhases } from "./loader-job.js";

const t0 = process.hrtime.bigint();

async function main(): Promise<void> {
  const iface = process.argv[2];
  if (iface === undefined) {
    console.error("usage: tsbpf-skel-loader IFACE");
    process.exit(2);
  }
  const { TailCall } = await import("../examples/tail-call/tail_call.skel.js");
  // The skeleton imports "tsbpf", the package entry (or the module graph with TSBPF_BUNDLE=0):
  // the same instance here. As tsbpf-loader.ts: koffi and libc are loaded before the clock starts.
  const { kernel } = await import("tsbpf");
  kernel.loadNativeLayer();
  const phases = new LoaderPhases(t0);
  phases.imported();
  const open = TailCall.open();
  phases.done();
  const skel = await open.load({ backend: "kernel" });
  phases.done();
  skel.maps.prog_array.set(0, skel.progs.port8080_prog).set(1, skel.progs.port22_prog);
  phases.done();
  await skel.attach({ main_prog: { iface } });
  phases.done();
  await phases.print();
  skel.close();
}

main().catch((e: unknown) => {
  console.error(`tsbpf-skel-loader: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
