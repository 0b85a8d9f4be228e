import { ProgType } from "../abi/index.js";
import type { LoadedCollection } from "../backend/types.js";
import { globals, rewriteGlobals } from "../backend/typed-map.js";
import type { BtfValue } from "../btf/codec.js";
import { toHex } from "../internal/bytes.js";
import type { CollectionSpec, ProgramSpec } from "../object/types.js";
import { usage } from "./args.js";

/**
 * `run --global SECTION:NAME=VALUE`: sets one global variable in the spec before it is loaded, so
 * a test that needs `selector = 1234` needs no code. VALUE is an integer (decimal, hex, negative;
 * wider than 2^53 kept exact) or JSON (arrays, structs, strings, booleans).
 */
export function setGlobalArg(spec: CollectionSpec, arg: string): void {
  const m = /^([^:=]+):([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(arg);
  if (m === null) usage(`run: --global takes SECTION:NAME=VALUE (e.g. .bss:count=5), not '${arg}'`);
  const [, section, name, raw] = m as unknown as [string, string, string, string];
  rewriteGlobals(spec, section, { [name]: parseValue(raw, arg) });
}

function parseValue(raw: string, arg: string): BtfValue {
  const t = raw.trim();
  if (/^-?(0x[0-9a-f]+|0b[01]+|0o[0-7]+|\d+)$/i.test(t)) {
    const neg = t.startsWith("-");
    const n = BigInt(neg ? t.slice(1) : t) * (neg ? -1n : 1n);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  try {
    return JSON.parse(t) as BtfValue;
  } catch {
    return usage(
      `run: --global ${arg}: '${raw}' is neither an integer nor JSON`,
      "quote strings as JSON: .data:name='\"text\"'",
    );
  }
}

/** XDP-only run flags given for a program of another type: one clear line instead of a silent no-op. */
export function checkContextFlags(
  prog: ProgramSpec,
  ctx: { ingressIfindex?: number; rxQueueIndex?: number },
): void {
  if (prog.type === ProgType.xdp) return;
  const flag =
    ctx.ingressIfindex !== undefined
      ? "--ingress-ifindex"
      : ctx.rxQueueIndex !== undefined
        ? "--rx-queue"
        : undefined;
  if (flag === undefined) return;
  usage(
    `run: ${flag} sets struct xdp_md of XDP programs; ${prog.name} is a ${prog.typeName} program`,
    prog.type === ProgType.sched_cls ? "a tc program runs on test_run's skb of device lo" : undefined,
  );
}

/** Every global variable of a loaded collection, by section (`.bss`, `.data`, `.rodata`...). */
export function readAllGlobals(coll: LoadedCollection): Record<string, Record<string, BtfValue>> {
  const out: Record<string, Record<string, BtfValue>> = {};
  for (const m of Object.values(coll.maps)) {
    const s = m.spec;
    if (s.origin !== "global-data" || s.variables.length === 0) continue;
    const section = s.section ?? s.name;
    out[section] = globals(coll, section).read();
  }
  return out;
}

/** JSON.stringify replacer: bigints as decimal strings, bytes as hex. */
export function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return toHex(v);
  return v;
}

/** The `globals:` block of `tsbpf run --show-globals`. */
export function formatGlobals(all: Record<string, Record<string, BtfValue>>): string {
  const lines = ["globals:"];
  for (const [section, vars] of Object.entries(all)) {
    lines.push(`  ${section}:`);
    for (const [name, v] of Object.entries(vars)) lines.push(`    ${name} = ${JSON.stringify(v, jsonValue)}`);
  }
  if (lines.length === 1) lines.push("  (none)");
  return `${lines.join("\n")}\n`;
}
