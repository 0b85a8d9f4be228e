/**
 * Makes an object's BTF acceptable to BPF_BTF_LOAD. clang writes some records for the linker
 * (extern variables and functions, sections that only exist at load time) that the kernel's BTF
 * checker refuses; libbpf rewrites them before loading, and so does tsbpf. A second, harsher
 * level replaces kinds that older kernels do not know, for when the first attempt is refused.
 */
import type { Btf, BtfType } from "./types.js";

/** How much to rewrite: `"load"` is always needed; `"legacy"` also replaces newer kinds. */
export type SanitizeLevel = "load" | "legacy";

/** What {@link sanitizeBtf} changed, for messages and tests. */
export interface SanitizeReport {
  btf: Btf;
  changes: string[];
}

const ID_CHARS = /[^A-Za-z0-9_]/g;

/**
 * An anonymous one-byte INT: what libbpf puts in place of VAR and DECL_TAG for kernels that do not
 * know them, because nothing refers to such a record by size and the slot keeps later ids stable.
 */
function byteInt(): BtfType {
  return { kind: "INT", name: "", kindFlag: false, size: 1, encoding: 0, bitsOffset: 0, bits: 8 };
}

/**
 * Returns a rewritten copy of `btf` (the input is not modified: a changed record is replaced by
 * a new one, the others are shared). Type ids stay the same, so the ids in map specs and
 * func_info remain valid.
 */
export function sanitizeBtf(btf: Btf, level: SanitizeLevel = "load"): SanitizeReport {
  const changes: string[] = [];
  // Copied on write: deep-copying every record (structuredClone) was most of this function's
  // cost on a loader's path, and nearly all records pass unchanged.
  const types: BtfType[] = btf.types.slice();
  for (let id = 1; id < types.length; id++) {
    const t = types[id] as BtfType;
    switch (t.kind) {
      case "VAR":
        // The kernel accepts only static and allocated global variables.
        if (t.linkage !== 0 && t.linkage !== 1) {
          changes.push(`VAR ${t.name} (#${id}): extern linkage -> global`);
          types[id] = { ...t, linkage: 1 };
        }
        if (level === "legacy") {
          types[id] = byteInt();
          changes.push(`VAR ${t.name} (#${id}) -> INT`);
        }
        break;
      case "FUNC":
        if (t.linkage > 1 || (level === "legacy" && t.linkage !== 0)) {
          changes.push(`FUNC ${t.name} (#${id}): linkage ${t.linkage} -> ${level === "legacy" ? 0 : 1}`);
          types[id] = { ...t, linkage: level === "legacy" ? 0 : 1 };
        }
        break;
      case "DATASEC": {
        // A section that exists only at load time (.kconfig, .ksyms) has no size; the kernel
        // refuses empty DATASECs, so it becomes an anonymous empty struct.
        const empty = t.size === 0;
        const outside = t.vars.filter((v) => v.offset + v.size > t.size);
        if (empty || level === "legacy") {
          types[id] = { kind: "STRUCT", name: "", kindFlag: false, size: t.size, members: [] };
          changes.push(`DATASEC ${t.name} (#${id}) -> empty STRUCT`);
        } else if (outside.length > 0) {
          types[id] = { ...t, vars: t.vars.filter((v) => v.offset + v.size <= t.size) };
          changes.push(`DATASEC ${t.name} (#${id}): dropped ${outside.length} variables outside its size`);
        }
        break;
      }
      case "DECL_TAG":
        if (level === "legacy") {
          types[id] = byteInt();
          changes.push(`DECL_TAG ${t.name} (#${id}) -> INT`);
        }
        break;
      case "TYPE_TAG":
        if (level === "legacy") {
          types[id] = { kind: "CONST", name: "", kindFlag: false, type: t.type };
          changes.push(`TYPE_TAG ${t.name} (#${id}) -> CONST`);
        }
        break;
      case "FLOAT":
        if (level === "legacy") {
          types[id] = {
            kind: "STRUCT",
            name: t.name.replace(ID_CHARS, "_"),
            kindFlag: false,
            size: t.size,
            members: [],
          };
          changes.push(`FLOAT ${t.name} (#${id}) -> STRUCT`);
        }
        break;
      case "ENUM64":
        if (level === "legacy") {
          types[id] = { kind: "UNION", name: t.name, kindFlag: false, size: t.size, members: [] };
          changes.push(`ENUM64 ${t.name} (#${id}) -> UNION`);
        }
        break;
      default:
        break;
    }
  }
  return { btf: { littleEndian: btf.littleEndian, types, strings: btf.strings }, changes };
}
