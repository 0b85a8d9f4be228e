import type { Btf, BtfType } from "./types.js";

const INT_ENCODINGS: Record<number, string> = { 0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL" };
const FUNC_LINKAGE = ["static", "global", "extern"];
const VAR_LINKAGE = ["static", "global", "extern"];

const nameOf = (t: { name: string }) => (t.name === "" ? "(anon)" : t.name);

/** One type in bpftool's raw text form, without the trailing newline. */
export function formatBtfType(btf: Btf, id: number): string {
  const t = btf.types[id] as BtfType;
  let s = `[${id}] ${t.kind === "VOID" ? "UNKNOWN" : t.kind} '${nameOf(t)}'`;
  switch (t.kind) {
    case "INT":
      s += ` size=${t.size} bits_offset=${t.bitsOffset} nr_bits=${t.bits} encoding=${INT_ENCODINGS[t.encoding] ?? "UNKN"}`;
      break;
    case "PTR":
    case "CONST":
    case "VOLATILE":
    case "RESTRICT":
    case "TYPEDEF":
    case "TYPE_TAG":
      s += ` type_id=${t.type}`;
      break;
    case "ARRAY":
      s += ` type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case "STRUCT":
    case "UNION":
      s += ` size=${t.size} vlen=${t.members.length}`;
      for (const m of t.members) {
        s += `\n\t'${nameOf(m)}' type_id=${m.type} bits_offset=${m.bitOffset}`;
        if (m.bitfieldSize) s += ` bitfield_size=${m.bitfieldSize}`;
      }
      break;
    case "ENUM":
      s += ` encoding=${t.kindFlag ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) s += `\n\t'${nameOf(v)}' val=${t.kindFlag ? v.value | 0 : v.value >>> 0}`;
      break;
    case "ENUM64":
      s += ` encoding=${t.kindFlag ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) {
        s += t.kindFlag
          ? `\n\t'${nameOf(v)}' val=${BigInt.asIntN(64, v.value)}LL`
          : `\n\t'${nameOf(v)}' val=${BigInt.asUintN(64, v.value)}ULL`;
      }
      break;
    case "FWD":
      s += ` fwd_kind=${t.kindFlag ? "union" : "struct"}`;
      break;
    case "FUNC":
      s += ` type_id=${t.type} linkage=${FUNC_LINKAGE[t.linkage] ?? "(unknown)"}`;
      break;
    case "FUNC_PROTO":
      s += ` ret_type_id=${t.returnType} vlen=${t.params.length}`;
      for (const p of t.params) s += `\n\t'${nameOf(p)}' type_id=${p.type}`;
      break;
    case "VAR":
      s += ` type_id=${t.type}, linkage=${VAR_LINKAGE[t.linkage] ?? "(unknown)"}`;
      break;
    case "DATASEC":
      s += ` size=${t.size} vlen=${t.vars.length}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        const vt = btf.types[v.type];
        if (vt !== undefined) s += ` (${vt.kind === "VOID" ? "UNKNOWN" : vt.kind} '${nameOf(vt)}')`;
      }
      break;
    case "FLOAT":
      s += ` size=${t.size}`;
      break;
    case "DECL_TAG":
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
    case "VOID":
      break;
  }
  return s;
}

/** The text `bpftool btf dump file OBJ` prints (raw format), one type per line group. */
export function formatBtfRaw(btf: Btf): string {
  let out = "";
  for (let id = 1; id < btf.types.length; id++) out += formatBtfType(btf, id) + "\n";
  return out;
}
