import { cTypeName } from "../btf/c-type-name.js";
import { formatSourceLocation, type SourceLocation } from "../object/insn-location.js";
import type { ObjectBtf } from "../object/object-types.js";
import type { CollectionSpec, MapSpec, ProgramSpec, TailCallSite } from "../object/types.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import { readObject } from "./load-object.js";

const HELP = `usage: tsbpf inspect OBJ [--json]

Shows the programs (name, section, type, instruction count, tail-call sites with their C source
line), the maps (type, key and value size, max entries, static prog-array slots) and the global
variables of a BPF object.`;

/** `tsbpf inspect OBJ [--json]`. */
export const inspectCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("inspect", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length > 1) usage(`inspect: one object file expected, got ${positionals.length}`);
  const { spec } = await readObject(positionals[0], "inspect");
  const report = describeCollection(spec);
  io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return 0;
};

/** The JSON shape of `tsbpf inspect --json`. */
export interface InspectReport {
  file: string | undefined;
  byteOrder: string;
  license: string;
  programs: {
    name: string;
    section: string;
    type: string;
    /** False for a `?` section's program, which engines load only when asked. */
    autoload: boolean;
    instructions: number;
    functions: string[];
    tailCalls: {
      insn: number;
      map: string | null;
      keys: number[] | null;
      function: string | null;
      /** The call's C source line, from BTF line info; null without it. */
      source: SourceLocation | null;
    }[];
  }[];
  maps: {
    name: string;
    type: string;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags: number;
    pinning: string;
    origin: string;
    keyType: string | null;
    valueType: string | null;
    slots: { key: number; value: string }[];
    innerMap: string | null;
  }[];
  globals: {
    name: string;
    map: string;
    offset: number;
    size: number;
    type: string | null;
    linkage: string;
  }[];
  skippedSections: { name: string; reason: string }[];
}

function btfOf(spec: CollectionSpec): ObjectBtf | undefined {
  return spec.btf;
}

function typeName(spec: CollectionSpec, id: number | undefined): string | null {
  const b = btfOf(spec);
  return b === undefined || id === undefined ? null : cTypeName(b.btf, id);
}

/** Builds the inspect report: plain data, stable order (as declared in the object). */
export function describeCollection(spec: CollectionSpec): InspectReport {
  const tc = (p: ProgramSpec, t: TailCallSite) => ({
    insn: t.insn,
    map: t.map ?? null,
    keys: t.keys ?? null,
    function: t.subprogram ?? p.name,
    source: t.source ?? null,
  });
  return {
    file: spec.file,
    byteOrder: spec.byteOrder,
    license: spec.license,
    programs: Object.values(spec.programs).map((p) => ({
      name: p.name,
      section: p.section,
      type: p.typeName,
      autoload: p.autoload !== false,
      instructions: p.instructions.length,
      functions: p.functions.map((f) => f.name),
      tailCalls: p.tailCalls.map((t) => tc(p, t)),
    })),
    maps: Object.values(spec.maps).map((m: MapSpec) => ({
      name: m.name,
      type: m.typeName,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      pinning: m.pinning,
      origin: m.origin,
      keyType: typeName(spec, m.keyTypeId),
      valueType: typeName(spec, m.valueTypeId),
      slots: m.contents.map((s) => ({ key: s.key, value: s.value })),
      innerMap: m.innerMap?.name ?? null,
    })),
    globals: Object.values(spec.maps).flatMap((m) =>
      m.variables.map((v) => ({
        name: v.name,
        map: m.name,
        offset: v.offset,
        size: v.size,
        type: typeName(spec, v.typeId),
        linkage: v.linkage,
      })),
    ),
    skippedSections: spec.skippedSections.map((s) => ({ name: s.name, reason: s.reason })),
  };
}

function table(rows: string[][], indent = "  "): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows
    .map((r) =>
      (indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).trimEnd(),
    )
    .join("\n");
}

function keysText(keys: number[] | null): string {
  if (keys === null) return "?";
  return keys.length === 1 ? String(keys[0]) : `{${keys.join(",")}}`;
}

/** The human-readable form of the report. */
export function formatReport(r: InspectReport): string {
  const out: string[] = [];
  out.push(
    `${r.file ?? "object"}: ${r.byteOrder}-endian, license ${JSON.stringify(r.license)}, ` +
      `${r.programs.length} program${r.programs.length === 1 ? "" : "s"}, ${r.maps.length} map${r.maps.length === 1 ? "" : "s"}`,
  );
  out.push("", "programs:");
  if (r.programs.length === 0) out.push("  (none)");
  else {
    out.push(
      table([
        ["NAME", "SECTION", "TYPE", "INSNS", "TAIL CALLS"],
        ...r.programs.map((p) => [
          p.name,
          p.section,
          p.autoload ? p.type : `${p.type} (not loaded unless asked: ?)`,
          String(p.instructions),
          p.tailCalls.length === 0
            ? "-"
            : p.tailCalls
                .map(
                  (t) =>
                    `insn ${t.insn}: ${t.map ?? "?"}[${keysText(t.keys)}]` +
                    (t.function !== p.name ? ` in ${t.function}` : "") +
                    (t.source !== null ? ` at ${formatSourceLocation(t.source)}` : " (no source line)"),
                )
                .join("; "),
        ]),
      ]),
    );
    const withSubs = r.programs.filter((p) => p.functions.length > 1);
    for (const p of withSubs) out.push(`  ${p.name} calls: ${p.functions.slice(1).join(", ")}`);
  }
  out.push("", "maps:");
  if (r.maps.length === 0) out.push("  (none)");
  else {
    out.push(
      table([
        ["NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "CONTENTS"],
        ...r.maps.map((m) => [
          m.name,
          m.type,
          m.keyType === null ? String(m.keySize) : `${m.keySize} (${m.keyType})`,
          m.valueType === null ? String(m.valueSize) : `${m.valueSize} (${m.valueType})`,
          String(m.maxEntries),
          `0x${m.flags.toString(16)}${m.pinning !== "none" ? ` pin:${m.pinning}` : ""}`,
          m.slots.length
            ? m.slots.map((s) => `[${s.key}]=${s.value}`).join(" ")
            : m.innerMap
              ? `inner ${m.innerMap}`
              : "-",
        ]),
      ]),
    );
  }
  out.push("", "globals:");
  if (r.globals.length === 0) out.push("  (none)");
  else
    out.push(
      table([
        ["NAME", "MAP", "OFFSET", "SIZE", "TYPE"],
        ...r.globals.map((g) => [
          g.name,
          g.map,
          String(g.offset),
          String(g.size),
          `${g.type ?? "?"}${g.linkage === "static" ? " (static)" : ""}`,
        ]),
      ]),
    );
  if (r.skippedSections.length) {
    out.push("", "sections not used:");
    for (const s of r.skippedSections) out.push(`  ${s.name}: ${s.reason}`);
  }
  return `${out.join("\n")}\n`;
}
