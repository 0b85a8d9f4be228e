import type { LoadedCollection, RunResult } from "../../src/backend/types.js";
import { isTsbpfError } from "../../src/errors.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { applyWiring, type TailSlot } from "../../src/tailcall/wiring.js";
import { compileProgram, uncompileProgram } from "../../src/vm/compiler.js";
import { faultCode } from "../../src/vm/fault.js";
import {
  loadVmCollection,
  type VmCollection,
  type VmCollectionOptions,
  type VmTierOption,
} from "../../src/vm/vm-collection.js";

/**
 * Runs the same collections on the interpreter and the compiled tier and reduces each step (load,
 * run, maps afterwards) to one comparable string, so a test can assert the two tiers agree.
 */

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** What an error is, as far as the contract goes: class, fault code, program, instruction, message. */
export function describeError(e: unknown): string {
  if (!isTsbpfError(e)) return `UNTYPED ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  const f = e as typeof e & { instruction?: string; sourceLine?: string };
  return JSON.stringify([
    e.name,
    faultCode(e) ?? null,
    e.context.program ?? null,
    e.context.insn ?? null,
    e.message,
    f.instruction ?? null,
    f.sourceLine ?? null,
  ]);
}

const FD_MAPS = new Set(["prog_array", "array_of_maps", "hash_of_maps"]);

/** Every map's entries in iteration order (both tiers make the same operations, so the same order). */
export function dumpMaps(c: LoadedCollection): string {
  const out: string[] = [];
  for (const [name, m] of Object.entries(c.maps)) {
    // Slots of fd maps hold object handles, numbered per collection: only which slots are full compares.
    const fd = FD_MAPS.has(m.spec.typeName);
    try {
      const rows: string[] = [];
      for (const [k, v] of m.entries()) rows.push(fd ? hex(k) : `${hex(k)}=${hex(v)}`);
      out.push(`${name}{${rows.join(",")}}`);
    } catch (e) {
      out.push(`${name}(${isTsbpfError(e) ? e.name : "unreadable"})`);
    }
  }
  return out.join(" ");
}

/** A run's result without its duration, plus the instruction count. */
export function describeRun(r: RunResult, executed: number): string {
  return JSON.stringify({
    retval: r.retval,
    dataOut: hex(r.dataOut),
    trace: r.trace,
    chain: r.chain ?? null,
    redirect:
      r.redirect === undefined
        ? null
        : JSON.stringify(r.redirect, (_, v) => (typeof v === "bigint" ? `${v}n` : v)),
    fault: r.fault === undefined ? null : describeError(r.fault),
    executed,
  });
}

/** Deterministic options: a fixed clock and seed, so both tiers see the same helper results. */
export function tierOptions(
  tier: VmTierOption,
  extra: Partial<VmCollectionOptions> = {},
): Partial<VmCollectionOptions> {
  let t = 1_000_000n;
  return {
    tier,
    possibleCpus: 2,
    seed: 7,
    now: () => {
      t += 1000n;
      return t;
    },
    ...extra,
  };
}

/**
 * Loads `spec` on one tier (with `wiring`); the load's error as a string when it fails.
 * `chunkChars` recompiles every program cut into chunks that small (1: a function per block), so
 * jumps, calls and returns between chunk functions are exercised too.
 */
export function loadTier(
  spec: CollectionSpec,
  tier: VmTierOption,
  wiring: readonly TailSlot[] = [],
  extra: Partial<VmCollectionOptions> = {},
  chunkChars?: number,
): VmCollection | string {
  try {
    const c = loadVmCollection(spec, tierOptions(tier, extra));
    if (chunkChars !== undefined && tier === "js") {
      for (const p of Object.values(c.programs)) {
        uncompileProgram(p.compiled);
        compileProgram(p.compiled, { chunkChars });
      }
    }
    try {
      applyWiring(c, wiring);
    } catch (e) {
      return `wiring: ${describeError(e)}`;
    }
    return c;
  } catch (e) {
    return describeError(e);
  }
}

/** Runs program `name` of `c` once on `data`: the result (or the refusal) as a string. */
export function runTier(c: VmCollection, name: string, data: Uint8Array): string {
  const p = c.programs[name];
  if (p === undefined) return "no such program";
  try {
    const r = c.runSync(p, data, {});
    return describeRun(r, c.interpreter.executed);
  } catch (e) {
    return `refused ${describeError(e)}`;
  }
}
