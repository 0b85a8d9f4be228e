import type { ErrorContext } from "../errors.js";
import { NotSupportedError, ParseError } from "../errors.js";
import {
  type Btf,
  type BtfComposite,
  btfSizeof,
  btfTypeById,
  resolveBtfType,
  resolveBtfTypeId,
} from "../btf/index.js";
import { mapTypeName } from "../abi/map-type.js";
import type { MapSpec } from "./types.js";

/** A BTF-defined map and where its definition lies in `.maps`, for resolving `.values` slots. */
export interface BtfMapDef {
  spec: MapSpec;
  /** Byte offset of the variable inside `.maps`. */
  offset: number;
  size: number;
  /** Byte offset of the `values` member inside the definition, when there is one. */
  valuesOffset: number | undefined;
  /** Whether `values` holds programs (prog array) rather than maps. */
  valuesAreProgs: boolean;
}

/** A map spec with every field at libbpf's default. */
export function emptyMapSpec(name: string, origin: MapSpec["origin"]): MapSpec {
  return {
    name,
    type: 0,
    typeName: mapTypeName(0),
    keySize: 0,
    valueSize: 0,
    maxEntries: 0,
    flags: 0,
    mapExtra: 0n,
    numaNode: 0,
    pinning: "none",
    keyTypeId: undefined,
    valueTypeId: undefined,
    innerMap: undefined,
    contents: [],
    origin,
    section: undefined,
    initialData: undefined,
    readOnly: false,
    variables: [],
  };
}

/** The N of `__uint(name, N)`, encoded as `int (*name)[N]`. */
function uintMember(btf: Btf, typeId: number, what: string, ctx: ErrorContext): number {
  const p = resolveBtfType(btf, typeId);
  if (p.kind !== "PTR")
    throw new ParseError(`${what}: expected __uint() (a pointer to an array), got ${p.kind}`, ctx);
  const a = resolveBtfType(btf, p.type);
  if (a.kind !== "ARRAY")
    throw new ParseError(`${what}: expected __uint() (a pointer to an array), got ${a.kind}`, ctx);
  return a.nelems;
}

/** The T of `__type(name, T)`, encoded as `T *name`. */
function typeMember(btf: Btf, typeId: number, what: string, ctx: ErrorContext): number {
  const p = resolveBtfType(btf, typeId);
  if (p.kind !== "PTR") throw new ParseError(`${what}: expected __type() (a pointer), got ${p.kind}`, ctx);
  return p.type;
}

/**
 * Decodes one map definition struct (`struct { __uint(type, ...); ... }`), recursing into the
 * `__array(values, ...)` template of a map-in-map.
 */
export function parseMapDefStruct(
  btf: Btf,
  def: BtfComposite,
  name: string,
  ctx: ErrorContext,
  depth = 0,
): Omit<BtfMapDef, "offset" | "size"> {
  const spec = emptyMapSpec(name, "btf");
  let valuesOffset: number | undefined;
  let valuesAreProgs = false;
  let keySize: number | undefined;
  let valueSize: number | undefined;
  for (const m of def.members) {
    const what = `map ${name}: ${m.name}`;
    switch (m.name) {
      case "type":
        spec.type = uintMember(btf, m.type, what, ctx);
        spec.typeName = mapTypeName(spec.type);
        break;
      case "max_entries":
        spec.maxEntries = uintMember(btf, m.type, what, ctx);
        break;
      case "map_flags":
        spec.flags = uintMember(btf, m.type, what, ctx);
        break;
      case "numa_node":
        spec.numaNode = uintMember(btf, m.type, what, ctx);
        break;
      case "map_extra":
        spec.mapExtra = BigInt(uintMember(btf, m.type, what, ctx));
        break;
      case "key_size":
        keySize = uintMember(btf, m.type, what, ctx);
        break;
      case "value_size":
        valueSize = uintMember(btf, m.type, what, ctx);
        break;
      case "pinning": {
        const p = uintMember(btf, m.type, what, ctx);
        if (p !== 0 && p !== 1) {
          throw new NotSupportedError(`${what}: pinning ${p} is not supported`, {
            ...ctx,
            hint: "use LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1)",
          });
        }
        spec.pinning = p === 1 ? "by_name" : "none";
        break;
      }
      case "key":
        spec.keyTypeId = typeMember(btf, m.type, what, ctx);
        break;
      case "value":
        spec.valueTypeId = typeMember(btf, m.type, what, ctx);
        break;
      case "values": {
        const arr = resolveBtfType(btf, m.type);
        if (arr.kind !== "ARRAY") throw new ParseError(`${what}: expected __array(), got ${arr.kind}`, ctx);
        const elemPtr = resolveBtfType(btf, arr.type);
        if (elemPtr.kind !== "PTR") throw new ParseError(`${what}: __array() elements must be pointers`, ctx);
        const elem = resolveBtfType(btf, elemPtr.type);
        if (elem.kind === "STRUCT") {
          if (depth > 0)
            throw new NotSupportedError(`${what}: nested map-in-map templates are not supported`, ctx);
          const inner = parseMapDefStruct(btf, elem, `${name}.inner`, ctx, depth + 1);
          spec.innerMap = inner.spec;
        } else if (elem.kind === "FUNC_PROTO") {
          valuesAreProgs = true;
        } else {
          throw new ParseError(`${what}: __array() of ${elem.kind} is neither a map nor a program`, ctx);
        }
        if (m.bitOffset % 8 !== 0) throw new ParseError(`${what}: member is not byte-aligned`, ctx);
        valuesOffset = m.bitOffset / 8;
        if (spec.maxEntries === 0) spec.maxEntries = arr.nelems;
        break;
      }
      default:
        throw new NotSupportedError(`map ${name}: unknown attribute '${m.name}'`, {
          ...ctx,
          hint: "libbpf's BTF map definitions know type, key, value, key_size, value_size, max_entries, map_flags, numa_node, pinning, map_extra and values",
        });
    }
  }
  if (spec.keyTypeId !== undefined) {
    const sz = btfSizeof(btf, spec.keyTypeId);
    if (keySize !== undefined && keySize !== sz) {
      throw new ParseError(`map ${name}: key_size ${keySize} does not match the key type's size ${sz}`, ctx);
    }
    keySize = sz;
  }
  if (spec.valueTypeId !== undefined) {
    const sz = btfSizeof(btf, spec.valueTypeId);
    if (valueSize !== undefined && valueSize !== sz) {
      throw new ParseError(
        `map ${name}: value_size ${valueSize} does not match the value type's size ${sz}`,
        ctx,
      );
    }
    valueSize = sz;
  }
  if (valuesOffset !== undefined) {
    // Slots of prog arrays and maps of maps hold 4-byte ids/fds, whatever the declaration says.
    if (valueSize !== undefined && valueSize !== 4) {
      throw new ParseError(`map ${name}: value_size must be 4 for a map with __array(values)`, ctx);
    }
    valueSize = 4;
  }
  spec.keySize = keySize ?? 0;
  spec.valueSize = valueSize ?? 0;
  return { spec, valuesOffset, valuesAreProgs };
}

/** Reads every map of the `.maps` DATASEC. */
export function parseBtfMaps(btf: Btf, ctx: ErrorContext): BtfMapDef[] {
  const sec = btf.types.find((t) => t.kind === "DATASEC" && t.name === ".maps");
  if (sec === undefined || sec.kind !== "DATASEC") return [];
  const out: BtfMapDef[] = [];
  for (const v of sec.vars) {
    const vt = btfTypeById(btf, v.type);
    if (vt.kind !== "VAR") throw new ParseError(`.maps entry of type ${v.type} is ${vt.kind}, not VAR`, ctx);
    const mctx = { ...ctx, map: vt.name };
    const def = btfTypeById(btf, resolveBtfTypeId(btf, vt.type));
    if (def.kind !== "STRUCT") {
      throw new ParseError(`map ${vt.name}: definition is ${def.kind}, expected a struct`, mctx);
    }
    out.push({ ...parseMapDefStruct(btf, def, vt.name, mctx), offset: v.offset, size: v.size });
  }
  return out;
}
