import { ParseError } from "../errors.js";
import type { Btf, BtfType } from "./types.js";

/** Chains longer than this are treated as cycles (the kernel's own limit is 32). */
const MAX_RESOLVE_DEPTH = 64;

/** The type with id `id`, or a {@link ParseError} when there is none. */
export function btfTypeById(btf: Btf, id: number): BtfType {
  const t = btf.types[id];
  if (t === undefined) throw new ParseError(`BTF type id ${id} does not exist (${btf.types.length} types)`);
  return t;
}

/** Follows typedefs, const/volatile/restrict and type tags to the underlying type's id. */
export function resolveBtfTypeId(btf: Btf, id: number): number {
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = btfTypeById(btf, id);
    switch (t.kind) {
      case "TYPEDEF":
      case "CONST":
      case "VOLATILE":
      case "RESTRICT":
      case "TYPE_TAG":
        id = t.type;
        break;
      default:
        return id;
    }
  }
  throw new ParseError(`BTF type ${id}: modifier chain is too long or cyclic`);
}

/** Like {@link resolveBtfTypeId} but returns the type. */
export function resolveBtfType(btf: Btf, id: number): BtfType {
  return btfTypeById(btf, resolveBtfTypeId(btf, id));
}

/** Size in bytes of a value of type `id`, as the C compiler laid it out. */
export function btfSizeof(btf: Btf, id: number): number {
  let mult = 1;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = btfTypeById(btf, id);
    switch (t.kind) {
      case "INT":
      case "STRUCT":
      case "UNION":
      case "ENUM":
      case "ENUM64":
      case "DATASEC":
      case "FLOAT":
        return mult * t.size;
      case "PTR":
        return mult * 8;
      case "TYPEDEF":
      case "CONST":
      case "VOLATILE":
      case "RESTRICT":
      case "TYPE_TAG":
      case "VAR":
        id = t.type;
        break;
      case "ARRAY":
        mult *= t.nelems;
        if (!Number.isSafeInteger(mult)) throw new ParseError(`BTF type ${id}: array size overflows`);
        id = t.type;
        break;
      default:
        throw new ParseError(`BTF type ${id} (${t.kind}) has no size`);
    }
  }
  throw new ParseError(`BTF type ${id}: type chain is too long or cyclic`);
}

/** Ids of every type called `name` (optionally of one kind). */
export function findBtfTypes(btf: Btf, name: string, kind?: BtfType["kind"]): number[] {
  const out: number[] = [];
  btf.types.forEach((t, id) => {
    if (t.name === name && (kind === undefined || t.kind === kind)) out.push(id);
  });
  return out;
}

/** The string at `off` in the BTF string section ("" when out of range). */
export function btfStringAt(btf: Btf, off: number): string {
  if (off <= 0 || off >= btf.strings.length) return "";
  const end = btf.strings.indexOf(0, off);
  return new TextDecoder().decode(btf.strings.subarray(off, end < 0 ? btf.strings.length : end));
}
