/**
 * libbpf's side of the loader benchmark run inside a Node process: bench/c/loader.c built as a
 * shared library (its `main` renamed `loader_main`) and called through koffi, so that it makes
 * the same libbpf calls as the C loader, timed by the same C code, with Node around it.
 *
 *   node dist/bench/libbpf-in-node.cjs LIBRARY OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 *
 * It tells what of tsbpf's in-process time over libbpf's is the host process: on this kind of
 * machine the kernel takes longer over the same calls made from a Node process than from a
 * small C one (docs/benchmarks.md). Informative; the aims divide by the C loader.
 */
import koffi = require("koffi");

const [library, ...args] = process.argv.slice(2);
if (library === undefined || args.length !== 6) {
  console.error("usage: libbpf-in-node LIBRARY OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG");
  process.exit(2);
}
const loaderMain = koffi.load(library).func("int loader_main(int argc, const char **argv)");
const argv = ["loader", ...args];
process.exitCode = loaderMain(argv.length, argv) as number;
