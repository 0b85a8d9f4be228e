import type { BpfMap, LoadedCollection } from "../backend/types.js";
import { LoadError } from "../errors.js";
import type { CollectionSpec } from "../object/types.js";
import { KEY_BUCKETS, type StatsLayout, VERDICT_BUCKETS, verdictName } from "./layout.js";

/** One program's counts: how often it was entered, and what its main function returned. */
export interface ProgramStats {
  runs: number;
  /** Verdict name (`XDP_PASS`, or `other`) to count; only verdicts seen. */
  verdicts: Record<string, number>;
}

/** One tail-call site's counts, in total and per key it was passed. */
export interface SiteStats {
  program: string;
  map: string | null;
  site: { insn: number; file: string | null; line: number | null };
  calls: number;
  misses: number;
  /** Keys seen, ascending; `other` stands for every key past the ones counted one by one. */
  keys: { key: number | "other"; calls: number; misses: number }[];
}

/** The counts of an instrumented collection, summed over CPUs: the JSON `tsbpf stats` prints. */
export interface StatsReport {
  programs: Record<string, ProgramStats>;
  sites: SiteStats[];
}

/** Sums each u64 counter of the per-CPU values. */
function sumCounters(values: readonly Uint8Array[], size: number, little: boolean): bigint[] {
  const sums = new Array<bigint>(size / 8).fill(0n);
  for (const v of values) {
    const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
    for (let k = 0; k < sums.length && k * 8 + 8 <= v.byteLength; k++) {
      sums[k] = (sums[k] as bigint) + view.getBigUint64(k * 8, little);
    }
  }
  return sums;
}

/**
 * The counts in `map` (the stats map of a collection instrumented with `layout`), summed over
 * CPUs. Works on a map of either engine, and on a pinned map reopened later.
 */
export function readStatsMap(map: BpfMap, layout: StatsLayout): StatsReport {
  const values = map.lookupPerCpu(0) ?? [];
  const sums = sumCounters(values, layout.valueSize, map.byteOrder === "little");
  const at = (off: number): number => Number(sums[off / 8] ?? 0n);
  const programs: Record<string, ProgramStats> = {};
  for (const p of layout.programs) {
    const verdicts: Record<string, number> = {};
    for (let b = 0; b < VERDICT_BUCKETS; b++) {
      const n = at(p.offset + 8 + 8 * b);
      if (n > 0) verdicts[verdictName(p.type, b)] = n;
    }
    programs[p.name] = { runs: at(p.offset), verdicts };
  }
  const sites = layout.sites.map((s): SiteStats => {
    const keys: SiteStats["keys"] = [];
    let calls = 0;
    let misses = 0;
    for (let b = 0; b <= KEY_BUCKETS; b++) {
      const c = at(s.offset + 16 * b);
      const m = at(s.offset + 16 * b + 8);
      calls += c;
      misses += m;
      if (c > 0 || m > 0) keys.push({ key: b === KEY_BUCKETS ? "other" : b, calls: c, misses: m });
    }
    return {
      program: s.program,
      map: s.map ?? null,
      site: { insn: s.insn, file: s.file ?? null, line: s.line ?? null },
      calls,
      misses,
      keys,
    };
  });
  return { programs, sites };
}

const layouts = new WeakMap<CollectionSpec, StatsLayout>();

/** Records that `spec` was instrumented with `layout` (instrumentCollection does). */
export function rememberLayout(spec: CollectionSpec, layout: StatsLayout): void {
  layouts.set(spec, layout);
}

/** The layout `spec` was instrumented with, or `undefined` when it was loaded without stats. */
export function statsLayoutOf(spec: CollectionSpec): StatsLayout | undefined {
  return layouts.get(spec);
}

/**
 * The counts of a collection loaded with `stats: true`, summed over CPUs, on either engine.
 * Throws a LoadError (with a hint) for a collection loaded without stats.
 */
export function readStats(coll: LoadedCollection): StatsReport {
  const layout = statsLayoutOf(coll.spec);
  const map = layout === undefined ? undefined : coll.maps[layout.map];
  if (layout === undefined || map === undefined) {
    throw new LoadError("the collection was loaded without stats", {
      ...(coll.spec.file === undefined ? {} : { file: coll.spec.file }),
      hint: "load it with stats: true (--stats)",
    });
  }
  return readStatsMap(map, layout);
}

/**
 * One report for the collections of a pipeline, by alias: a lone collection's report as it is;
 * with several, program names become `alias:name` so two objects' programs never merge.
 */
export function mergeStats(reports: Record<string, StatsReport>): StatsReport {
  const entries = Object.entries(reports);
  if (entries.length === 1) return (entries[0] as [string, StatsReport])[1];
  const out: StatsReport = { programs: {}, sites: [] };
  for (const [alias, r] of entries) {
    for (const [name, p] of Object.entries(r.programs)) out.programs[`${alias}:${name}`] = p;
    for (const s of r.sites) out.sites.push({ ...s, program: `${alias}:${s.program}` });
  }
  return out;
}

/** The report as text: a line per program, then a line per site and key. */
export function formatStats(report: StatsReport): string {
  const lines: string[] = [];
  for (const [name, p] of Object.entries(report.programs)) {
    const v = Object.entries(p.verdicts)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    lines.push(`${name}: ${p.runs} runs${v === "" ? "" : ` (${v})`}`);
  }
  for (const s of report.sites) {
    const file = s.site.file?.replace(/^.*\//, "");
    const where = file === undefined || s.site.line === null ? "" : ` at ${file}:${s.site.line}`;
    lines.push(
      `${s.program}: tail call into ${s.map ?? "?"}${where} (insn ${s.site.insn}): ${s.calls} calls, ${s.misses} misses`,
    );
    for (const k of s.keys) lines.push(`  ${s.map ?? "?"}[${k.key}]: ${k.calls} calls, ${k.misses} misses`);
  }
  return lines.join("\n");
}
