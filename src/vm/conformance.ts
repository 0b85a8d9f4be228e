import { compileProgram } from "./compiler.js";
import { compileWasm } from "./wasm/wasm-tier.js";
import { Interpreter, loadProgram, type HelperFn } from "./interpreter.js";

/**
 * The bpf_conformance execution model (github.com/Alan-Jowett/bpf_conformance, as its uBPF plugin
 * defines it): r1 points at a writable copy of the test memory (0 when there is none), r2 holds
 * its length, and the helpers are uBPF's test helpers 0-5. Helper 5 "unwinds": when it returns 0
 * the program ends at once with r0 = 0.
 */

/** Budget for one conformance program; the suite's programs are small and loop-free or short. */
const CONFORMANCE_BUDGET = 1_000_000;

const conformanceHelpers = new Map<number, HelperFn>([
  [
    0,
    // gather_bytes: the low bytes of r1..r5, r1 most significant.
    (vm) => {
      let v = 0n;
      for (let i = 1; i <= 5; i++) v = (v << 8n) | BigInt((vm.lo[i] as number) & 0xff);
      return v;
    },
  ],
  [
    1,
    // memfrob: XOR r2 bytes at r1 with 42.
    (vm) => {
      const len = Number(vm.arg(2));
      if (len === 0) return 0;
      const b = vm.memory.view(vm.arg(1), len, true);
      for (let i = 0; i < b.length; i++) b[i] = (b[i] as number) ^ 42;
      return 0;
    },
  ],
  [2, () => 0],
  [
    3,
    // sqrti: integer square root of r1 (as uBPF's plugin computes it, through a double).
    (vm) => {
      const a = vm.arg(1);
      let r = BigInt(Math.floor(Math.sqrt(Number(a))));
      while (r * r > a) r--;
      while ((r + 1n) * (r + 1n) <= a) r++;
      return r;
    },
  ],
  [
    4,
    // strcmp_ext: compare the C strings at r1 and r2.
    (vm) => {
      const a = vm.memory.readCString(vm.arg(1));
      const b = vm.memory.readCString(vm.arg(2));
      return a === b ? 0 : a < b ? -1 : 1;
    },
  ],
  [
    5,
    // unwind: returns r1; a zero result ends the program.
    (vm) => {
      const v = vm.arg(1);
      if (v === 0n) vm.exit(0n);
      return v;
    },
  ],
]);

/** Looks up a bpf_conformance test helper by id. */
export function conformanceHelper(id: number): HelperFn | undefined {
  return conformanceHelpers.get(id);
}

/**
 * Runs one conformance program (raw little-endian instructions) on a copy of `mem` and returns r0
 * as a u64. Throws a VerifierError when the program is refused, a VmFault when it faults.
 * `tier: "js"` runs it on the JS tier (src/vm/compiler.ts), `"wasm"` (or `"compiled"`, the default compiled
 * engine) on the wasm tier (src/vm/wasm/), instead of the interpreter.
 */
export function runConformance(
  programBytes: Uint8Array,
  mem: Uint8Array,
  opts: { tier?: "interpreter" | "js" | "compiled" | "wasm" } = {},
): bigint {
  const prog = loadProgram(programBytes, {
    name: "conformance",
    helpers: conformanceHelper,
    allowCallx: true,
  });
  if (opts.tier === "js") compileProgram(prog);
  if (opts.tier === "wasm" || opts.tier === "compiled") compileWasm(prog);
  const vm = new Interpreter({ budget: CONFORMANCE_BUDGET });
  let r1 = 0n;
  if (mem.length > 0) {
    const region = vm.memory.map(mem.slice(), { writable: true, name: "test memory" });
    r1 = region.address();
  }
  return vm.run(prog, r1, BigInt(mem.length));
}
